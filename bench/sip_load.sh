#!/usr/bin/env bash
# SIP signalling load: SIPp INVITE -> 100 -> 180 -> 200 -> ACK -> BYE against denwa's echo
# number, and the same load against Kamailio 5.6 (stateful proxy + rtpengine, tests/peers recipe
# 6 as in ../shared/peers/kamailio) in front of a SIPp UAS that rings (180) and answers at once.
# Steps the rate up until more than 0.1 % of calls fail or the achieved rate falls under 95 % of
# the target, then runs one more step at half the highest clean rate (unless the ladder already
# had it) for the latency there; prints a table.
#
#   bash bench/sip_load.sh                        # RATES="200 400 800 ... 3200 4000 4800"
#   RATES="100 200" STEP_S=10 bash bench/sip_load.sh
#   SKIP_KAMAILIO=1 bash bench/sip_load.sh       # denwa only
#
# Env: RATES, STEP_S=10 (seconds per step), DENWA_BIN (default target/release/denwa, built if
#   missing), MEM_CALLS=1000 (concurrent established calls for the memory figure).
# Needs: sip-tester (sipp), kamailio + rtpengine-daemon (Debian) unless SKIP_KAMAILIO=1.
# Everything runs on 127.0.0.1; every process is stopped by PID at exit.
# Latency: SIPp RTDs "invite_180" (INVITE -> 180, post-dial delay) and "invite" (INVITE -> 200),
# both started when the INVITE is sent; 1 ms resolution. denwa's echo number sends 180 then 200
# together. Each denwa call opens an RTP socket pair and a media task though no RTP is sent.
# denwa runs with its overload limits lifted (--sip-invite-rate, --sip-max-transactions: the
# default 100000 lingering transactions would cap it near 1560 calls/s by design).
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
export PEERS_DIR="$ROOT/tests/peers"
export RUN_DIR="${RUN_DIR:-$ROOT/bench/out/sip_load-$(date +%Y%m%d-%H%M%S)}"
. "$PEERS_DIR/lib/common.sh"
RATES="${RATES:-200 400 800 1200 1600 2000 2400 2800 3200 4000 4800}"
STEP_S="${STEP_S:-10}"
MEM_CALLS="${MEM_CALLS:-1000}"
DENWA_BIN="${DENWA_BIN:-$ROOT/target/release/denwa}"
B="${BENCH_BASE_PORT:-45000}"
DENWA_SIP=$((B)) UAC_PORT=$((B + 10)) UAC_MP=$((B + 20)) KAM_PORT=$((B + 30)) UAS_PORT=$((B + 40))
UAS_MP=$((B + 50)) NG_PORT=$((B + 60)) HTTP_PORT=$((B + 70))
command -v sipp >/dev/null || die "sipp missing: apt-get install sip-tester"
if [[ ! -x "$DENWA_BIN" ]]; then
  log "building $DENWA_BIN"; (cd "$ROOT" && cargo build --release -p denwa-server) >&2
fi
HZ=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
rss_kib() { awk '/VmRSS/{print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

# load TARGET_PORT RATE DIR [HOLD_MS] -> runs one SIPp step, writes DIR/summary.json
load() {
  local port="$1" rate="$2" d="$3" hold="${4:-0}" calls
  mkdir -p "$d"; calls=$((rate * STEP_S))
  ( cd "$d" && exec sipp "$PEER_IP:$port" -sf "$PEERS_DIR/sipp/uac_load.xml" -key caller 5551234 -s 9196 \
      -i "$PEER_IP" -p "$UAC_PORT" -bind_local -ci "$PEER_IP" -mi "$PEER_IP" -mp "$UAC_MP" \
      -r "$rate" -m "$calls" -l $((rate * (hold + 3000) / 1000 + 100)) -d "$hold" -buff_size 4194304 \
      -nostdin -timeout "$((STEP_S + hold / 1000 + 40))s" -max_recv_loops 10000 -max_sched_loops 10000 \
      -trace_err -error_file "$d/errors.log" -trace_screen -screen_file "$d/screen.log" \
      -trace_stat -stf "$d/stat.csv" -fd 1 -trace_rtt -rtt_freq 50 ) >"$d/uac.log" 2>&1 </dev/null || true
  python3 "$PEERS_DIR/tools/sipp_summary.py" "$d" >"$d/summary.json" 2>/dev/null || echo '{}' >"$d/summary.json"
}

# row NAME STEP RATE DIR CPU% -> one CSV row; returns 1 when > 0.1 % failed
row() {
  python3 - "$@" <<'PY'
import json, sys
name, step, rate, d, cpu = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], float(sys.argv[5])
s = json.load(open(d + "/summary.json"))
created = s.get("calls_created") or 0
failed = s.get("failed") or 0
rtds = s.get("rtd_ms") or {}
r180, r200 = rtds.get("invite_180") or {}, rtds.get("invite") or {}
fail_pct = 100.0 * failed / created if created else 100.0
print("%s,%s,%d,%.1f,%d,%d,%.3f,%s,%s,%s,%s,%.0f" % (name, step, rate, s.get("call_rate_cps", 0), created,
      failed, fail_pct, r180.get("p50", "-"), r180.get("p99", "-"), r200.get("p50", "-"), r200.get("p99", "-"), cpu))
achieved = s.get("call_rate_cps", 0) or 0
sys.exit(0 if created and fail_pct < 0.1 and achieved >= 0.95 * rate else 1)
PY
}

# measure NAME STEP RATE PORT PID... -> one load step at RATE with the server CPU of PIDs; returns
# row's status
measure() {
  local name="$1" step="$2" R="$3" port="$4"; shift 4
  local d="$RUN_DIR/$name-r$R" c0=0 c1=0 t0 t1 p cpu rc=0
  for p in "$@"; do c0=$((c0 + $(cpu_ticks "$p"))); done; t0=$(date +%s.%N)
  load "$port" "$R" "$d"
  for p in "$@"; do c1=$((c1 + $(cpu_ticks "$p"))); done; t1=$(date +%s.%N)
  cpu=$(python3 -c "print(($c1-$c0)*100/$HZ/($t1-$t0))")
  row "$name" "$step" "$R" "$d" "$cpu" >>"$RUN_DIR/results.csv" || rc=1
  tail -1 "$RUN_DIR/results.csv" >&2
  return "$rc"
}

# step_rates NAME PORT START STOP -> rows for each rate until failure, then a step at half the
# highest clean rate on a restarted system (an overloaded step leaves retransmissions and
# half-finished calls behind); skipped when the ladder already ran that rate. START sets PIDS
# (the server processes whose CPU is measured).
step_rates() {
  local name="$1" port="$2" start="$3" stop="$4"
  local R best=0 half
  for R in $RATES; do
    # shellcheck disable=SC2086
    if measure "$name" ladder "$R" "$port" $PIDS; then best=$R; else
      log "$name: more than 0.1 % failed or under 95 % of the rate at $R calls/s"; break; fi
  done
  half=$((best / 2))
  if ((half > 0)) && [[ " $RATES " != *" $half "* ]]; then
    "$stop"; sleep 2; "$start"
    # shellcheck disable=SC2086
    measure "$name" half "$half" "$port" $PIDS || true
  fi
}

echo "system,step,target_cps,achieved_cps,calls,failed,failed_pct,invite_180_p50_ms,invite_180_p99_ms,invite_200_p50_ms,invite_200_p99_ms,server_cpu_pct" >"$RUN_DIR/results.csv"

# ---- denwa
N=0
start_denwa() {
  N=$((N + 1))
  bg_start "denwa$N" env RUST_LOG=warn "$DENWA_BIN" serve --demo --data-dir "$RUN_DIR/denwa-data$N" \
    --web-dir "$RUN_DIR/none" --http "$PEER_IP:$HTTP_PORT" --sip "$PEER_IP:$DENWA_SIP" --rtp-ports 20000-39999 \
    --sip-invite-rate 1000000 --sip-max-transactions 1000000 --echo-max-duration 3600
  DENWA_PID=$BG_PID PIDS=$BG_PID
  wait_listen udp "$DENWA_SIP" 30
}
stop_denwa() { stop_pid "$DENWA_PID"; }
start_denwa
# memory per established dialog, on the fresh server: MEM_CALLS calls held 20 s, RSS sampled
# at the plateau
idle=$(rss_kib "$DENWA_PID")
mem_rate=$((MEM_CALLS / 5))
( STEP_S=5 load "$DENWA_SIP" "$mem_rate" "$RUN_DIR/denwa-mem" 20000 ) &
MEMLOAD=$!
sleep 12; peak=$(rss_kib "$DENWA_PID")
wait "$MEMLOAD" || true
per_call=$(python3 -c "print(round(($peak-$idle)*1024/$MEM_CALLS))")
step_rates denwa "$DENWA_SIP" start_denwa stop_denwa
stop_denwa

# ---- kamailio + rtpengine in front of a SIPp UAS
start_kamailio() {
  local k
  N=$((N + 1)); k="$RUN_DIR/kamailio$N"
  # rtpengine always opens its CLI on 127.0.0.1:2224: wait while another run's rtpengine has it
  for _ in $(seq 600); do ss -ltn | awk '{print $4}' | grep -qx '127.0.0.1:2224' || break; sleep 1; done
  ss -ltn | awk '{print $4}' | grep -qx '127.0.0.1:2224' && die "tcp/2224 (rtpengine CLI) still busy after 10 min"
  ( cd "$RUN_DIR" && exec sipp -sf "$RUN_DIR/uas_answer.xml" -i "$PEER_IP" -p "$UAS_PORT" -bind_local -ci "$PEER_IP" -mi "$PEER_IP" \
      -mp "$UAS_MP" -buff_size 4194304 -nostdin -max_recv_loops 10000 -max_sched_loops 10000 ) \
      >"$k-uas.log" 2>&1 </dev/null &
  UAS=$!; _BG_PIDS+=("$UAS")
  bg_start "kamailio$N" env RUN_DIR="$k" KAM_PORT="$KAM_PORT" NEXT_HOP="$PEER_IP:$UAS_PORT" \
    NG_PORT="$NG_PORT" RECORD=no TIMEOUT_S=3600 bash "$PEERS_DIR/kamailio/kamailio_rtpengine.sh"
  KAM=$BG_PID
  for _ in $(seq 300); do [[ -e "$k/ready" ]] && break; sleep 0.1; done
  [[ -e "$k/ready" ]] || die "kamailio did not start (see $k)"
  PIDS=$(pgrep -d ' ' -P "$(cat "$k/kamailio.pid" 2>/dev/null || echo 1)" 2>/dev/null || true)
  PIDS="$(cat "$k/kamailio.pid" 2>/dev/null) $PIDS $(cat "$k/rtpengine.pid" 2>/dev/null)"
}
stop_kamailio() { stop_pid "$KAM"; stop_pid "$UAS"; }
if [[ "${SKIP_KAMAILIO:-0}" != 1 ]]; then
  command -v kamailio >/dev/null || die "kamailio missing: apt-get install kamailio rtpengine-daemon"
  # the far end: tests/peers' UAS (it copies Record-Route, unlike sipp -sn uas), answering at once
  export RING_MS=1 HANGUP_MS=600000 SDP_IP="$PEER_IP" SDP_PORT="$UAS_MP"
  render "$PEERS_DIR/sipp/uas_answer.xml.in" "$RUN_DIR/uas_answer.xml"
  start_kamailio
  step_rates kamailio "$KAM_PORT" start_kamailio stop_kamailio
  stop_kamailio
fi

echo
echo "SIP load (INVITE -> 180 -> 200 -> ACK -> BYE, UDP, 127.0.0.1, $(nproc) cores, ${STEP_S} s per step)"
column -s, -t "$RUN_DIR/results.csv"
python3 - "$RUN_DIR/results.csv" <<'PY'
import csv, sys
best, rows = {}, list(csv.DictReader(open(sys.argv[1])))
for r in rows:
    clean = float(r["failed_pct"]) < 0.1 and float(r["achieved_cps"]) >= 0.95 * int(r["target_cps"])
    if r["step"] == "ladder":
        best[r["system"]] = max(best.get(r["system"], 0), int(r["target_cps"]) if clean else 0)
for k, v in best.items():
    print("max clean rate (< 0.1 %% failed) %-9s %d calls/s" % (k, v))
for k, v in best.items():
    at = [r for r in rows if r["system"] == k and int(r["target_cps"]) == v // 2]
    if v and at:
        r = at[-1]
        print("half max rate %-9s %d calls/s: INVITE->180 p50 %s / p99 %s ms, INVITE->200 p50 %s / p99 %s ms, %.3f %% failed"
              % (k, v // 2, r["invite_180_p50_ms"], r["invite_180_p99_ms"], r["invite_200_p50_ms"],
                 r["invite_200_p99_ms"], float(r["failed_pct"])))
PY
echo "denwa memory per established dialog (with its idle RTP socket pair and media task): ${per_call} bytes ($MEM_CALLS calls)"
echo "results: $RUN_DIR"
