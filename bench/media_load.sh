#!/usr/bin/env bash
# Media load (issue 5): (a) concurrent two-leg G.711 calls with RTP both ways and recording on,
# denwa on ONE media thread, stepped up, against the same load relayed by rtpengine
# (userspace, one worker thread, pcap recording; Kamailio in front, tests/peers recipe 6 as in
# ../shared/peers/kamailio); (b) CPU per room (crates/media/examples/room_cpu.rs); (c) the
# server-added latency on the wire (tests/peers/tools/latency_probe.py). Prints tables.
#
#   bash bench/media_load.sh                           # STEPS="25 50 100 200 300 400 600"
#   STEPS="100 200" MEASURE_S=10 bash bench/media_load.sh
#   SKIP_RTPENGINE=1 SKIP_LATENCY=1 SKIP_ROOM=1 bash bench/media_load.sh
#
# Env: STEPS (concurrent calls per step), RAMP_S=5 (calls are set up over this), MEASURE_S=20
#   (window in which counters are read once all calls are up), LEGS=auto|1|2, RECORD=1 (0: no
#   --record-calls), SUT_SCHED=fifo|nice, GEN_NICE=-5, LAT_AT="200" (steps during which the
#   latency probe also runs), SKIP_DENWA/SKIP_RTPENGINE/SKIP_LATENCY/SKIP_ROOM=1,
#   DENWA_BIN (default target/release/denwa, built if missing), BENCH_BASE_PORT=46000,
#   DENWA_RTP=50000-55999, RTPE_MIN/RTPE_MAX=56000/59999.
# LEGS=2 (auto: when `denwa serve` knows --record-calls): each call is a two-leg room. A staff
#   member takes one call at a time (SPEC AS-5), so for NMAX = the largest step the data dir is
#   seeded once, with `denwa admin` only (after the `serve --demo` seed: the demo channel keeps
#   the echo number 9196 for the latency probe): per i in 1..NMAX a channel "Bench i" with DID
#   0509000iiii, a trunk on it allowing 127.0.0.1, a staff member benchNNN@example.com
#   (operator there) with SIP account benchNNN. Every step starts denwa on a fresh copy of that
#   seeded data dir (the previous step's answered calls left each softphone's staff member the
#   assignee of an open phone chat, which blocks new rings, SPEC AS-2), registers softphones
#   bench001..benchN from one SIPp (tests/peers/sipp/uac_register_inf.xml, injection file), all
#   with their Contact at UAS_PORT, then one SIPp UAS there answers every call at once with
#   -rtp_echo (tests/peers/sipp/uas_answer.xml.in). The caller (uac_media_load.xml with the
#   Request-URI and To from an injection file) dials DID i for call i, so channel i rings only
#   benchNNN = i. LEGS=1: calls to the echo number 9196, one-leg echo rooms, never recorded.
# Needs: sip-tester (sipp), curl, python3; kamailio + rtpengine-daemon unless SKIP_RTPENGINE=1;
#   libopus-dev + pkg-config for (b). Root (or CAP_SYS_NICE) for SUT_SCHED=fifo.
# A denwa step passes when < 1 % of its media ticks finish more than 2 ms late (p99 lateness
# < 2 ms), < 0.1 % of the RTP it should have received is lost, and every SIPp call succeeded.
# The rtpengine half offers the same load: the same caller (same DIDs in LEGS=2; Kamailio
# relays every INVITE to one SIPp UAS echoing with -rtp_echo, no registration needed).
# Everything runs on 127.0.0.1; every process is stopped by PID at exit.
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
export PEERS_DIR="$ROOT/tests/peers"
export RUN_DIR="${RUN_DIR:-$ROOT/bench/out/media_load-$(date +%Y%m%d-%H%M%S)}"
. "$PEERS_DIR/lib/common.sh"
STEPS="${STEPS:-25 50 100 200 300 400 600}"
RAMP_S="${RAMP_S:-5}"
MEASURE_S="${MEASURE_S:-20}"
LEGS="${LEGS:-auto}"
DENWA_BIN="${DENWA_BIN:-$ROOT/target/release/denwa}"
B="${BENCH_BASE_PORT:-46000}"
DENWA_SIP=$((B)) UAC_PORT=$((B + 10)) UAC_MP=$((B + 20)) KAM_PORT=$((B + 30)) UAS_PORT=$((B + 40))
UAS_MP=$((B + 50)) NG_PORT=$((B + 60)) HTTP_PORT=$((B + 70))
DENWA_RTP="${DENWA_RTP:-50000-55999}" RTPE_MIN="${RTPE_MIN:-56000}" RTPE_MAX="${RTPE_MAX:-59999}"
SPEECH="$MEDIA_DIR/speech.ulaw"
HZ=$(getconf CLK_TCK)
# The machine may be shared (builds, tests): the system under test runs at SUT_NICE and the
# SIPp load at GEN_NICE, the same for denwa and rtpengine, so other work weighs less on ticks.
# SUT_SCHED=fifo (default) puts every thread of the system under test in SCHED_FIFO priority
# 10 (as media servers are often run; the kernel still leaves 5 % to others), SUT_SCHED=nice
# renices them to -10 instead; the SIPp load runs at nice GEN_NICE. Same for denwa and rtpengine.
SUT_SCHED="${SUT_SCHED:-fifo}" SUT_NICE="${SUT_NICE:--10}" GEN_NICE="${GEN_NICE:--5}"
renice_all() {
  local t
  for t in /proc/"$1"/task/*; do
    if [[ "$SUT_SCHED" == fifo ]]; then chrt -f -p 10 "${t##*/}" >/dev/null 2>&1 || true
    else renice -n "$2" -p "${t##*/}" >/dev/null 2>&1 || true; fi
  done
}
command -v sipp >/dev/null || die "sipp missing: apt-get install sip-tester"
command -v curl >/dev/null || die "curl missing"
if [[ ! -x "$DENWA_BIN" ]]; then
  log "building $DENWA_BIN"; (cd "$ROOT" && cargo build --release -p denwa-server) >&2
fi

# CPU ticks (utime+stime) of a process's threads named denwa-media-*, or of all its threads
media_ticks() { cat /proc/"$1"/task/*/stat 2>/dev/null | awk '$2 ~ /^\(denwa-media-/ {t += $14 + $15} END {print t + 0}'; }
proc_ticks() { awk '{print $14+$15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
rss_kib() { awk '/VmRSS/{print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
metrics() { curl -s --max-time 5 "http://$PEER_IP:$HTTP_PORT/metrics" || true; }
# datagrams the kernel dropped (receive buffer full) on the UDP sockets bound to ports LO..HI
udp_drops() {
  python3 -c 'import sys; lo, hi = int(sys.argv[1]), int(sys.argv[2]); print(sum(int(f[-1]) for f in (l.split() for l in list(open("/proc/net/udp"))[1:]) if lo <= int(f[1].split(":")[1], 16) <= hi))' "$1" "$2"
}
# rtpengine's own counters over its ng control socket (bencode "statistics")
rtpe_stats() {
  python3 - "$PEER_IP" "$NG_PORT" <<'PY'
import os, re, socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(3)
# a fresh cookie each time: rtpengine answers a repeated cookie from its reply cache
s.sendto(os.urandom(6).hex().encode() + b" d7:command10:statisticse", (sys.argv[1], int(sys.argv[2])))
d = s.recv(1 << 20).decode(errors="replace")
m = re.search(r"19:relayedpackets_useri(\d+)e", d)
print(m.group(1) if m else 0)
PY
}

# uac TARGET_PORT CALLS HOLD_MS DIR -> SIPp with RTP (background, pid in UAC_PID); whom it
# dials: DIALS (SIPp arguments: the scenario and -s NUMBER, or -inf FILE of one number a call)
uac() {
  local port="$1" calls="$2" hold="$3" d="$4" rate
  rate=$(( (calls + RAMP_S - 1) / RAMP_S ))
  mkdir -p "$d"
  ( cd "$d" && exec nice -n "$GEN_NICE" sipp "$PEER_IP:$port" "${DIALS[@]}" -key caller 5551234 \
      -key speech "$SPEECH,-1,0" -i "$PEER_IP" -p "$UAC_PORT" -bind_local -ci "$PEER_IP" \
      -mi "$PEER_IP" -mp "$UAC_MP" -r "$rate" -m "$calls" -l "$calls" -d "$hold" -buff_size 4194304 \
      -rtp_buffsize 4194304 -nostdin -timeout "$((hold / 1000 + RAMP_S + 60))s" -max_recv_loops 10000 \
      -trace_err -error_file "$d/errors.log" -trace_screen -screen_file "$d/screen.log" \
      -trace_stat -stf "$d/stat.csv" -fd 1 ) >"$d/uac.log" 2>&1 </dev/null &
  UAC_PID=$!; _BG_PIDS+=("$UAC_PID")
}

# snap DIR NAME PID TICKS_FN -> DIR/NAME.{metrics,env}: counters, CPU ticks, time, RSS
snap() {
  local d="$1" name="$2" pid="$3" fn="$4"
  local relayed=0 drops
  if [[ "$fn" == media_ticks ]]; then metrics >"$d/$name.metrics"; drops=$(udp_drops "${DENWA_RTP%-*}" "${DENWA_RTP#*-}")
  else : >"$d/$name.metrics"; relayed=$(rtpe_stats); drops=$(udp_drops "$RTPE_MIN" "$RTPE_MAX"); fi
  { echo "ticks=$($fn "$pid")"; echo "t=$(date +%s.%N)"; echo "rss=$(rss_kib "$pid")"; echo "relayed=$relayed"
    echo "drops=$drops"; echo "gen_drops=$(udp_drops "$UAS_MP" "$UAS_MP")"; } >"$d/$name.env"
}

# measure DIR PID TICKS_FN -> waits for the calls to be up, snapshots before/after the window
measure() {
  local d="$1" pid="$2" fn="$3"
  sleep $((RAMP_S + 3))
  snap "$d" a "$pid" "$fn"
  sleep $((MEASURE_S / 2)); echo "rss_mid=$(rss_kib "$pid")" >"$d/mid.env"
  sleep $((MEASURE_S - MEASURE_S / 2))
  snap "$d" b "$pid" "$fn"
}
HOLD_MS=$(( (RAMP_S + 3 + MEASURE_S + 4) * 1000 ))

# row SYSTEM CALLS DIR LEGS -> one CSV row from the snapshots (exit 1 when the step fails)
row() {
  python3 - "$@" "$HZ" <<'PY'
import json, re, sys
system, calls, d, legs, hz = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
def env(n):
    return dict(l.strip().split("=", 1) for l in open(f"{d}/{n}.env") if "=" in l)
def prom(n):
    v = {}
    for l in open(f"{d}/{n}.metrics"):
        if l.startswith("#") or not l.strip():
            continue
        k, _, x = l.rpartition(" ")
        try:
            v[k.strip()] = float(x)
        except ValueError:
            pass
    return v
a, b, mid = env("a"), env("b"), env("mid")
idle = float(open(f"{d}/idle_rss").read()) if system == "denwa" else 0
cpu_s = (float(b["ticks"]) - float(a["ticks"])) / hz
wall = float(b["t"]) - float(a["t"])
try:
    s = json.load(open(f"{d}/summary.json"))
except Exception:
    s = {}
created, failed = s.get("calls_created") or 0, s.get("failed") or 0
late = lost = rx = tx = p99 = None
if system == "denwa":
    pa, pb = prom("a"), prom("b")
    def delta(name, label=None):
        keys = [k for k in pb if (k == name or k.startswith(name + "{")) and (label is None or label in k)]
        if not keys:
            return None
        return sum(pb[k] - pa.get(k, 0) for k in keys)
    ticks = delta("denwa_media_ticks_total")
    l2 = delta("denwa_media_ticks_late_total", 'over="2ms"')
    rx, tx = delta("denwa_media_rtp_received_total"), delta("denwa_media_rtp_sent_total")
    lo = delta("denwa_media_rtp_lost_total")
    late = 100.0 * l2 / ticks if ticks and l2 is not None else None
    # the p99 lateness class: the smallest threshold that fewer than 1 % of ticks exceed
    p99 = None
    if ticks:
        p99 = "> 20 ms"
        for over in ("1ms", "2ms", "5ms", "20ms"):
            n = delta("denwa_media_ticks_late_total", 'over="%s"' % over)
            if n is not None and n < 0.01 * ticks:
                p99 = "< " + over.replace("ms", " ms")
                break
    lost = 100.0 * lo / (rx + lo) if rx and lo is not None else None
    mem = (float(mid["rss_mid"]) - idle) * 1024 / calls
else:
    rel = float(b["relayed"]) - float(a["relayed"])
    rx = tx = rel  # every relayed packet is one received and one sent
    # rtpengine counts no loss: the shortfall against the nominal load (SIPp sends 50
    # packets/s per call, the far SIPp echoes them: 2 streams per call) shows whether it kept
    # up; it also holds SIPp's own pacing drift and the window's timing skew.
    offered = calls * 50 * 2 * wall
    short = 100.0 * (offered - rel) / offered
    mem = None
# kernel drops on the system's own RTP sockets in the window (its receive buffers overflowed)
drops = int(float(b.get("drops", 0)) - float(a.get("drops", 0)))
# ... and on the far SIPp's echo socket (the load generator falling behind)
gen_drops = int(float(b.get("gen_drops", 0)) - float(a.get("gen_drops", 0)))
pps = ((rx or 0) + (tx or 0)) / wall
per_core_s = ((rx or 0) + (tx or 0)) / cpu_s if cpu_s > 0 else 0
ok_calls = created >= calls and failed == 0
gen_limited = False
if system == "denwa":
    ok = ok_calls and late is not None and late < 1.0 and lost is not None and lost < 0.1
    verdict = "pass" if ok else "FAIL"
    # packets lost before they reached denwa: its sockets dropped nothing, SIPp's echo did
    gen_limited = lost is not None and lost >= 0.1 and drops == 0 and gen_drops > 0
    if gen_limited:
        verdict = "SIPp-limited"
else:
    ok = ok_calls and short < 2.0
    verdict = ("kept up (%.1f %% short)" if ok else "BEHIND (%.1f %% short)") % short
    gen_limited = not ok and drops == 0 and gen_drops > 0
    if gen_limited:
        verdict = "SIPp-limited (%.1f %% short)" % short
f = lambda x, p=2: "-" if x is None else ("%.*f" % (p, x))
print(",".join([system, str(legs) if system == "denwa" else "relay", str(calls), f(100 * cpu_s / wall, 1), f(pps, 0), f(per_core_s, 0),
                p99 or "-", f(late, 3), f(lost, 3), str(drops), str(gen_drops), f(mem / 1024 if mem else None, 1), "%d/%d" % (failed, created), verdict]))
# exit 2 when overloaded (stop stepping): SIPp calls failed, or >= 1 % lost / 5 % short
over = not ok_calls or gen_limited or (lost is not None and lost >= 1.0) or (system != "denwa" and short >= 20.0)
sys.exit(0 if ok else (2 if over else 1))
PY
}

echo "system,legs,calls,cpu_pct_of_core,packets_per_s,packets_per_core_s,p99_tick_late,late_over_2ms_pct,lost_pct,socket_drops,sipp_echo_drops,rss_kib_per_call,sipp_failed,result" >"$RUN_DIR/results.csv"

# ---- denwa: one media thread, recording on
DATA="$RUN_DIR/denwa-data"
serve_help="$("$DENWA_BIN" serve --help 2>&1 || true)"
denwa_flags=(serve --demo --data-dir "$DATA" --web-dir "$RUN_DIR/none" --http "$PEER_IP:$HTTP_PORT"
  --sip "$PEER_IP:$DENWA_SIP" --rtp-ports "$DENWA_RTP" --sip-invite-rate 1000000 --sip-digest md5
  --echo-max-duration 3600 --media-timeout 30)
threads_note="1 media thread"
if grep -q -- --media-threads <<<"$serve_help"; then denwa_flags+=(--media-threads 1)
else threads_note="no --media-threads in this build: all denwa-media-* threads ($(nproc))"; fi
RECORD="${RECORD:-1}"
if [[ "$RECORD" == 1 ]] && grep -q -- --record-calls <<<"$serve_help"; then denwa_flags+=(--record-calls); fi
if [[ "$LEGS" == auto ]]; then grep -q -- --record-calls <<<"$serve_help" && LEGS=2 || LEGS=1; fi
NMAX=$(printf '%s\n' $STEPS | sort -n | tail -1)
if [[ "$LEGS" == 2 ]]; then
  # call i dials DID i (channel "Bench i"), whose one member's softphone is benchNNN = i
  did() { printf '0509000%04d' "$1"; }
  [[ "$NMAX" -le 9999 ]] || die "LEGS=2 seeds one channel per call: at most 9999 (STEPS up to $NMAX)"
  { echo SEQUENTIAL; for i in $(seq "$NMAX"); do did "$i"; echo; done; } >"$RUN_DIR/dids.csv"
  sed 's/\[service\]/[field0]/g' "$PEERS_DIR/sipp/uac_media_load.xml" >"$RUN_DIR/uac_media_load_dids.xml"
  DIALS=(-sf "$RUN_DIR/uac_media_load_dids.xml" -inf "$RUN_DIR/dids.csv")
  SIP_PASS=bench-softphone-pw
  # softphones.csv: USERNAME;[authentication ...] (see tests/peers/sipp/uac_register_inf.xml)
  { echo SEQUENTIAL; for i in $(seq "$NMAX"); do
      printf 'bench%03d;[authentication username=bench%03d password=%s]\n' "$i" "$i" "$SIP_PASS"; done
  } >"$RUN_DIR/softphones.csv"
  if [[ "${SKIP_DENWA:-0}" != 1 ]]; then
    # the demo data first (its channel keeps the echo number 9196), then NMAX channels, each
    # with its trunk, one staff member and their softphone account (read at start). Seeded
    # once into SEED; every step starts from a fresh copy of it.
    SEED="$RUN_DIR/denwa-seed-data"
    bg_start denwa-seed env RUST_LOG=warn "$DENWA_BIN" "${denwa_flags[@]}"
    wait_listen udp "$DENWA_SIP" 30; stop_pid "$BG_PID"
    mv "$DATA" "$SEED"
    seed_t0=$(date +%s.%N)
    adm() { "$DENWA_BIN" admin --data-dir "$SEED" "$@" >>"$RUN_DIR/seed.log" 2>&1 || die "denwa admin $1 failed ($RUN_DIR/seed.log)"; }
    for i in $(seq "$NMAX"); do
      u=$(printf 'bench%03d' "$i")
      out=$("$DENWA_BIN" admin --data-dir "$SEED" create-channel --name "Bench $i" --number "$(did "$i")" 2>&1) \
        || die "create-channel failed: $out"
      echo "$out" >>"$RUN_DIR/seed.log"
      ch=$(sed -n 's/^created channel \([0-9][0-9]*\) .*/\1/p' <<<"$out")
      [[ -n "$ch" ]] || die "create-channel printed no id: $out"
      adm create-trunk --channel "$ch" --name bench --allow "$PEER_IP"
      adm create-staff --email "$u@example.com" --name "Bench $i" --password bench-staff-pw
      adm add-staff --channel "$ch" --email "$u@example.com"
      adm set-sip-account --email "$u@example.com" --username "$u" --password "$SIP_PASS"
    done
    log "seeded $NMAX channels, trunks, staff and softphone accounts in $(python3 -c "import sys; print('%.1f' % (float(sys.argv[2]) - float(sys.argv[1])))" "$seed_t0" "$(date +%s.%N)") s"
  fi
  # the staff softphone: answers at once and echoes every RTP packet back (sipp -rtp_echo)
  export RING_MS=1 HANGUP_MS=600000 SDP_IP="$PEER_IP" SDP_PORT="$UAS_MP"
  render "$PEERS_DIR/sipp/uas_answer.xml.in" "$RUN_DIR/uas_answer.xml"
else
  DIALS=(-sf "$PEERS_DIR/sipp/uac_media_load.xml" -s 9196)  # the echo number: a one-leg echo room per call (never recorded)
fi

# softphones N DIR -> registers bench001..benchN from UAS_PORT, then one SIPp answers every
# call there (pid in UAS_PID)
softphones() {
  local n="$1" d="$2"
  head -n $((n + 1)) "$RUN_DIR/softphones.csv" >"$d/softphones.csv"
  ( cd "$d" && exec sipp "$PEER_IP:$DENWA_SIP" -sf "$PEERS_DIR/sipp/uac_register_inf.xml" -inf "$d/softphones.csv" \
      -i "$PEER_IP" -p "$UAS_PORT" -ci "$PEER_IP" -m "$n" -r 200 -key expires 3600 -nostdin -timeout 60s \
      -timeout_error -trace_err -error_file "$d/register-errors.log" ) >"$d/register.log" 2>&1 </dev/null \
    || die "softphone registration failed ($d/register.log, $d/register-errors.log)"
  ( cd "$d" && exec nice -n "$GEN_NICE" sipp -sf "$RUN_DIR/uas_answer.xml" -i "$PEER_IP" -p "$UAS_PORT" -bind_local \
      -ci "$PEER_IP" -mi "$PEER_IP" -mp "$UAS_MP" -rtp_echo -buff_size 4194304 -rtp_buffsize 4194304 \
      -nostdin -max_recv_loops 10000 ) >"$d/uas.log" 2>&1 </dev/null &
  UAS_PID=$!; _BG_PIDS+=("$UAS_PID")
  wait_listen udp "$UAS_PORT" 10
}

for N in $STEPS; do
  [[ "${SKIP_DENWA:-0}" == 1 ]] && break
  d="$RUN_DIR/denwa-$N"; mkdir -p "$d"
  rm -rf "$DATA/recordings"
  if [[ "$LEGS" == 2 ]]; then rm -rf "$DATA"; cp -a "$SEED" "$DATA"; fi
  bg_start "denwa-$N" env RUST_LOG=info "$DENWA_BIN" "${denwa_flags[@]}"
  DENWA_PID=$BG_PID
  wait_listen udp "$DENWA_SIP" 30
  renice_all "$DENWA_PID" "$SUT_NICE"
  for _ in $(seq 100); do metrics | grep -q . && break; sleep 0.1; done
  UAS_PID=""
  [[ "$LEGS" == 2 ]] && softphones "$N" "$d"
  rss_kib "$DENWA_PID" >"$d/idle_rss"
  uac "$DENWA_SIP" "$N" "$HOLD_MS" "$d"
  PROBE_PID=""
  if [[ "${SKIP_LATENCY:-0}" != 1 && " ${LAT_AT:-200} " == *" $N "* ]]; then
    # one more call, to the echo number, timing clicks while this step's load runs
    python3 "$PEERS_DIR/tools/latency_probe.py" --sip "$PEER_IP:$DENWA_SIP" --number 9196 \
      --seconds $((RAMP_S + 3 + MEASURE_S)) --jitter-ms 30 --json "$RUN_DIR/latency-load$N.json" \
      >"$d/probe.log" 2>&1 &
    PROBE_PID=$!; _BG_PIDS+=("$PROBE_PID")
  fi
  measure "$d" "$DENWA_PID" media_ticks
  [[ -n "$PROBE_PID" ]] && { wait_pid "$PROBE_PID" 30 || stop_pid "$PROBE_PID"; }
  wait_pid "$UAC_PID" 120 || stop_pid "$UAC_PID"
  python3 "$PEERS_DIR/tools/sipp_summary.py" "$d" >"$d/summary.json" 2>/dev/null || echo '{}' >"$d/summary.json"
  du -sk "$DATA/recordings" 2>/dev/null | awk '{print $1}' >"$d/recordings_kib" || true
  [[ -n "$UAS_PID" ]] && stop_pid "$UAS_PID"
  stop_pid "$DENWA_PID"
  cp "$RUN_DIR/denwa-$N.log" "$d/denwa.log" 2>/dev/null || true
  rc=0; row denwa "$N" "$d" "$LEGS" >>"$RUN_DIR/results.csv" || rc=$?
  tail -1 "$RUN_DIR/results.csv" >&2
  if [[ $rc == 2 ]]; then log "denwa overloaded at $N calls"; break; fi
done
rm -rf "$DATA/recordings" "${SEED:-}"

# ---- the same load relayed by rtpengine (Kamailio in front), SIPp UAS echoing
if [[ "${SKIP_RTPENGINE:-0}" != 1 ]]; then
  command -v kamailio >/dev/null || die "kamailio missing: apt-get install kamailio rtpengine-daemon"
  export RING_MS=1 HANGUP_MS=600000 SDP_IP="$PEER_IP" SDP_PORT="$UAS_MP"
  render "$PEERS_DIR/sipp/uas_answer.xml.in" "$RUN_DIR/uas_answer_kam.xml"
  ( cd "$RUN_DIR" && exec nice -n "$GEN_NICE" sipp -sf "$RUN_DIR/uas_answer_kam.xml" -i "$PEER_IP" -p "$UAS_PORT" -bind_local \
      -ci "$PEER_IP" -mi "$PEER_IP" -mp "$UAS_MP" -rtp_echo -buff_size 4194304 -rtp_buffsize 4194304 \
      -nostdin -max_recv_loops 10000 ) >"$RUN_DIR/uas-kam.log" 2>&1 </dev/null &
  UAS=$!; _BG_PIDS+=("$UAS")
  bg_start kamailio env RUN_DIR="$RUN_DIR/kamailio" KAM_PORT="$KAM_PORT" NEXT_HOP="$PEER_IP:$UAS_PORT" \
    NG_PORT="$NG_PORT" RTP_MIN="$RTPE_MIN" RTP_MAX="$RTPE_MAX" RECORD=yes RTPE_THREADS=1 TIMEOUT_S=3600 \
    bash "$PEERS_DIR/kamailio/kamailio_rtpengine.sh"
  for _ in $(seq 300); do [[ -e "$RUN_DIR/kamailio/ready" ]] && break; sleep 0.1; done
  [[ -e "$RUN_DIR/kamailio/ready" ]] || die "kamailio did not start (see $RUN_DIR/kamailio)"
  RTPE_PID=$(cat "$RUN_DIR/kamailio/rtpengine.pid")
  renice_all "$RTPE_PID" "$SUT_NICE"
  for N in $STEPS; do
    d="$RUN_DIR/rtpengine-$N"; mkdir -p "$d"
    uac "$KAM_PORT" "$N" "$HOLD_MS" "$d"
    measure "$d" "$RTPE_PID" proc_ticks
    wait_pid "$UAC_PID" 120 || stop_pid "$UAC_PID"
    python3 "$PEERS_DIR/tools/sipp_summary.py" "$d" >"$d/summary.json" 2>/dev/null || echo '{}' >"$d/summary.json"
    rm -rf "$RUN_DIR/kamailio/rec"/* 2>/dev/null || true
    rc=0; row rtpengine "$N" "$d" 2 >>"$RUN_DIR/results.csv" || rc=$?
    tail -1 "$RUN_DIR/results.csv" >&2
    if [[ $rc == 2 ]]; then log "rtpengine overloaded at $N calls"; break; fi
    sleep 2
  done
fi

# ---- (c) server-added latency on the wire: echo number, one call, idle server
if [[ "${SKIP_LATENCY:-0}" != 1 ]]; then
  LAT_S="${LAT_S:-30}"
  bg_start denwa-latency env RUST_LOG=info "$DENWA_BIN" "${denwa_flags[@]}"
  DENWA_PID=$BG_PID
  wait_listen udp "$DENWA_SIP" 30
  for J in 0 30; do
    python3 "$PEERS_DIR/tools/latency_probe.py" --sip "$PEER_IP:$DENWA_SIP" --number 9196 --seconds "$LAT_S" \
      --jitter-ms "$J" --json "$RUN_DIR/latency-j$J.json" >&2 || echo '{}' >"$RUN_DIR/latency-j$J.json"
  done
  stop_pid "$DENWA_PID"
fi

# ---- (b) CPU per room (in-process, no sockets)
if [[ "${SKIP_ROOM:-0}" != 1 ]]; then
  (cd "$ROOT" && cargo run -q --release -p denwa-media --features opus --example room_cpu) >"$RUN_DIR/room_cpu.md" 2>&1 \
    || log "room_cpu failed (libopus-dev missing?), see $RUN_DIR/room_cpu.md"
fi

echo
echo "Media load (G.711 20 ms, UDP on 127.0.0.1, $(nproc) cores shared with SIPp and everything else;"
echo "denwa: $threads_note, legs per call: $LEGS, ${MEASURE_S} s window once all calls are up)"
column -s, -t "$RUN_DIR/results.csv"
python3 - "$RUN_DIR/results.csv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
best, pcs = {}, {}
for r in rows:
    if r["result"] == "pass" or r["result"].startswith("kept up"):
        n = int(r["calls"])
        if n >= best.get(r["system"], (0,))[0]:
            best[r["system"]] = (n, r)
    pcs.setdefault(r["system"], {})[int(r["calls"])] = float(r["packets_per_core_s"] or 0)
soft = [r for r in rows if r["system"] == "denwa" and r["p99_tick_late"] in ("< 1 ms", "< 2 ms", "< 5 ms")
        and r["lost_pct"] != "-" and float(r["lost_pct"]) < 0.1 and r["sipp_failed"].startswith("0/")]
if "denwa" not in best and "denwa" in pcs:
    print("denwa     no step passes (p99 tick lateness < 2 ms and < 0.1 % lost)")
if soft:
    r = max(soft, key=lambda r: int(r["calls"]))
    print("denwa     largest step with p99 tick lateness < 5 ms and < 0.1 %% lost: %s calls, %s %% of a core, "
          "%s packets per core-second, %s KiB RSS per call" % (r["calls"], r["cpu_pct_of_core"],
          r["packets_per_core_s"], r["rss_kib_per_call"]))
for k, (n, r) in best.items():
    print("%-9s largest passing (denwa) / kept-up (rtpengine) step: %d calls, %s %% of a core, %s packets/s, %s packets per core-second, %s KiB RSS per call"
          % (k, n, r["cpu_pct_of_core"], r["packets_per_s"], r["packets_per_core_s"], r["rss_kib_per_call"]))
# memory per call as the slope of the RSS growth over the steps (least squares): the growth
# at one step also holds what load alone makes the process keep (SQLite's page cache, the
# allocator's arenas, buffers sized for the peak), which the average per call spreads over
# the calls
pts = [(int(r["calls"]), float(r["rss_kib_per_call"]) * int(r["calls"])) for r in rows
       if r["system"] == "denwa" and r["rss_kib_per_call"] not in ("", "-") and r["sipp_failed"].startswith("0/")]
if len(pts) >= 2:
    n = len(pts); mx = sum(x for x, _ in pts) / n; my = sum(y for _, y in pts) / n
    sxx = sum((x - mx) ** 2 for x, _ in pts)
    if sxx > 0:
        slope = sum((x - mx) * (y - my) for x, y in pts) / sxx
        print("denwa     RSS growth per call, slope over the steps %s: %.1f KiB (intercept %.0f KiB: kept whatever the number of calls)"
              % ("/".join(str(x) for x, _ in pts), slope, my - slope * mx))
d, e = pcs.get("denwa", {}), pcs.get("rtpengine", {})
common = sorted(set(d) & set(e))
for n in common:
    if e[n]:
        print("at %d calls: denwa / rtpengine packets per core-second = %.2f" % (n, d[n] / e[n]))
PY
for f in "$RUN_DIR"/latency-*.json; do
  [[ -s "$f" ]] || continue
  python3 -c 'import json,os,sys; j=json.load(open(sys.argv[1])); a=j.get("added_ms",{}); v=j.get("vs_schedule_ms",{})
n=os.path.basename(sys.argv[1])[8:-5]; where="idle server" if n.startswith("j") else "during the %s-call step" % n[4:]
print("server-added latency, echo call, %s, %s ms uniform send jitter: p50 %s ms, p99 %s ms, max %s ms (%s/%s clicks back; from the un-jittered schedule: p50 %s, p99 %s ms)" % (where, j.get("jitter_ms"), a.get("p50"), a.get("p99"), a.get("max"), j.get("clicks_back"), j.get("clicks_sent"), v.get("p50"), v.get("p99")))' "$f"
done
[[ -s "$RUN_DIR/room_cpu.md" ]] && { echo; cat "$RUN_DIR/room_cpu.md"; }
echo "results: $RUN_DIR"
