#!/usr/bin/env bash
# Inbound calls under load (issue 6 benchmark), one table:
#  (a) ring latency: CONSOLES staff consoles hold the events WebSocket open; calls to the demo
#      number arrive at RATE/s for RING_S seconds, each from its own number and CANCELled after
#      1 s; latency = INVITE sent -> that call's `call_ringing` event received, at every console
#      (crates/server/examples/ring_bench.rs). Target: p99 <= 20 ms at 50 calls/s, 200 consoles.
#  (b) soak: SIPp calls the demo number at SOAK_RATE/s for SOAK_S seconds with calls nobody
#      answers (the caller hangs up after 3 s); afterwards every INVITE must have exactly one
#      call row and one phone chat (counted in the database), and RSS is sampled every 30 s
#      (flat = the last samples within a few MB of each other).
#
#   bash bench/inbound_load.sh                      # full: 200 consoles, 50/s; 10 min soak at 20/s
#   CONSOLES=50 RING_S=10 SOAK_S=60 bash bench/inbound_load.sh   # shorter
# Env: DENWA_BIN / RING_BENCH (release builds; built if missing), BENCH_BASE_PORT=47000.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CONSOLES="${CONSOLES:-200}"
RATE="${RATE:-50}"
RING_S="${RING_S:-20}"
SOAK_RATE="${SOAK_RATE:-20}"
SOAK_S="${SOAK_S:-600}"
BASE="${BENCH_BASE_PORT:-47000}"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
DENWA_BIN="${DENWA_BIN:-$TARGET/release/denwa}"
RING_BENCH="${RING_BENCH:-$TARGET/release/examples/ring_bench}"
OUT="$ROOT/bench/out/inbound-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$OUT"
log() { echo "[inbound $(date +%H:%M:%S)] $*" >&2; }

if [[ ! -x "$DENWA_BIN" || ! -x "$RING_BENCH" ]]; then
  log "building release binaries"
  (cd "$ROOT" && cargo build --release -p denwa-server --bin denwa --example ring_bench) >&2
fi
command -v sipp >/dev/null || { echo "needs sipp (apt install sip-tester)" >&2; exit 1; }

HTTP=$BASE; SIP=$((BASE + 2)); RTP="$((BASE + 10))-$((BASE + 999))"
DATA="$OUT/data"; PW="bench-password-1"
SERVER_PID=""
cleanup() { [[ -n "$SERVER_PID" ]] && kill "$SERVER_PID" 2>/dev/null || true; }
trap cleanup EXIT

start_server() {
  RUST_LOG=warn "$DENWA_BIN" serve --demo --demo-password "$PW" --data-dir "$DATA" \
    --http "127.0.0.1:$HTTP" --sip "127.0.0.1:$SIP" --rtp-ports "$RTP" \
    --sip-invite-rate 1000 >"$OUT/server.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$HTTP/healthz" >/dev/null && return; sleep 0.2; done
  echo "server did not start; see $OUT/server.log" >&2; exit 1
}

# The demo channel, then CONSOLES operators (created before the server runs: argon2 per account).
start_server; kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=""
log "creating $CONSOLES staff"
for i in $(seq 0 $((CONSOLES - 1))); do
  "$DENWA_BIN" admin --data-dir "$DATA" create-staff --email "b$i@bench.example" --name "Bench $i" --password "$PW" >/dev/null
  "$DENWA_BIN" admin --data-dir "$DATA" add-staff --channel 1 --email "b$i@bench.example" >/dev/null
done
start_server
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$SERVER_PID/status"; }

log "(a) ring latency: $CONSOLES consoles, $RATE calls/s for $RING_S s"
"$RING_BENCH" "$HTTP" "$SIP" b "$PW" "$CONSOLES" "$RATE" "$RING_S" 1000 | tee "$OUT/ring.json"

log "(b) soak: $SOAK_RATE calls/s for $SOAK_S s, unanswered (caller hangs up after 3 s)"
sleep 5
before_calls=$(python3 - "$DATA/denwa.sqlite3" <<'EOF'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
print(db.execute("SELECT COUNT(*) FROM calls").fetchone()[0])
EOF
)
calls=$((SOAK_RATE * SOAK_S))
: >"$OUT/rss.txt"
( while kill -0 "$SERVER_PID" 2>/dev/null; do echo "$(date +%s) $(rss_kb)" >>"$OUT/rss.txt"; sleep 30; done ) &
SAMPLER=$!
RUN_DIR="$OUT/sipp" SUT_PORT=$SIP CALLER_SIP_PORT=$((BASE + 5)) CALLER_RTP_PORT=$((BASE + 1100)) \
  SERVICE=05012345678 SCENARIO=cancel CANCEL_MS=3000 CALLS=$calls RATE=$SOAK_RATE \
  TIMEOUT_S=$((SOAK_S + 60)) bash "$ROOT/tests/peers/sipp/sipp_caller.sh" >/dev/null 2>"$OUT/sipp.err" || true
sleep 8
echo "$(date +%s) $(rss_kb)" >>"$OUT/rss.txt"
kill "$SAMPLER" 2>/dev/null || true
python3 - "$DATA/denwa.sqlite3" "$before_calls" "$OUT/sipp" "$OUT/rss.txt" "$OUT/ring.json" "$calls" <<'EOF' | tee "$OUT/table.md"
import csv, glob, json, sqlite3, sys
db_path, before, sipp_dir, rss_path, ring_path, planned = sys.argv[1:7]
db = sqlite3.connect(db_path)
calls = db.execute("SELECT COUNT(*) FROM calls").fetchone()[0] - int(before)
chats = db.execute("SELECT COUNT(*) FROM chats c WHERE medium='phone' AND EXISTS (SELECT 1 FROM calls k WHERE k.chat_id=c.id)").fetchone()[0]
dup = db.execute("SELECT COUNT(*) FROM (SELECT chat_id FROM calls GROUP BY chat_id HAVING COUNT(*) > 1)").fetchone()[0]
live = db.execute("SELECT COUNT(*) FROM calls WHERE ended_at IS NULL").fetchone()[0]
missed = dict(db.execute("SELECT missed_reason, COUNT(*) FROM calls GROUP BY missed_reason").fetchall())
sent = None
for f in glob.glob(sipp_dir + "/stat.csv"):
    rows = list(csv.DictReader(open(f), delimiter=";"))
    if rows:
        sent = int(rows[-1].get("OutgoingCall(C)", 0) or 0)
rss = [int(l.split()[1]) for l in open(rss_path) if len(l.split()) == 2 and l.split()[1].isdigit()]
ring = json.loads(open(ring_path).read().strip().splitlines()[-1])
print("| part | figure | value |")
print("|---|---|---|")
print(f"| (a) ring | consoles × calls | {ring['consoles']} × {ring['calls']} at {ring['rate']}/s |")
print(f"| (a) ring | ring events received / expected | {ring['ring_events_received']} / {ring['ring_events_expected']} |")
print(f"| (a) ring | INVITE → ring event p50 / p99 / max | {ring['p50_ms']:.1f} / {ring['p99_ms']:.1f} / {ring['max_ms']:.1f} ms |")
print(f"| (b) soak | INVITEs sent by SIPp (planned) | {sent} ({planned}) |")
print(f"| (b) soak | call rows / phone chats with a call (whole run) | {calls + int(before)} / {chats} (soak: {calls} rows) |")
print(f"| (b) soak | chats with more than one call / calls still live | {dup} / {live} |")
print(f"| (b) soak | missed by reason (whole run) | {missed} |")
if rss:
    print(f"| (b) soak | RSS first / max / last (MiB) | {rss[0]/1024:.1f} / {max(rss)/1024:.1f} / {rss[-1]/1024:.1f} |")
    tail = rss[-4:]
    print(f"| (b) soak | RSS spread of the last {len(tail)} samples | {(max(tail)-min(tail))/1024:.1f} MiB |")
EOF
log "results in $OUT"
