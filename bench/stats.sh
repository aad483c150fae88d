#!/usr/bin/env bash
# Statistics benchmark (issue 9): the 90-day dashboard and the CSV export over N synthetic
# calls (`denwa admin generate-calls`, all within the 90 days), p50/p99, next to DuckDB
# (PyPI `duckdb`) computing the same aggregates on the same rows (the CSV export).
#
#   bash bench/stats.sh                      # 1M calls
#   STATS_BENCH_CALLS="1000000 10000000" bash bench/stats.sh
#
# Env: STATS_BENCH_CALLS (sizes), STATS_BENCH_REQS (dashboard requests, default 50),
# STATS_BENCH_EXPORTS (export runs, default 3), STATS_BENCH_DIR (work dir, default a temp
# dir; needs ~0.7 GB per million calls), DENWA_BIN (a prebuilt release binary).
set -euo pipefail
cd "$(dirname "$0")/.."

sizes="${STATS_BENCH_CALLS:-1000000}"
reqs="${STATS_BENCH_REQS:-50}"
exports="${STATS_BENCH_EXPORTS:-3}"
work="${STATS_BENCH_DIR:-$(mktemp -d /tmp/denwa-stats-bench.XXXXXX)}"
target="${CARGO_TARGET_DIR:-target}"

if [ -z "${DENWA_BIN:-}" ]; then
    cargo build --release -q -p denwa-server
    DENWA_BIN="$(cd "$target" && pwd)/release/denwa"
fi
venv="$target/stats-bench-venv"
if ! "$venv/bin/python" -c "import duckdb, requests" 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q duckdb==2.0.0 requests==2.32.3
fi
py="$venv/bin/python"

results="$work/results.tsv"
: > "$results"
for n in $sizes; do
    data="$work/data-$n"
    rm -rf "$data"
    "$DENWA_BIN" admin --data-dir "$data" create-channel --name Bench --time-zone Asia/Tokyo >/dev/null
    t0=$(date +%s.%N)
    "$DENWA_BIN" admin --data-dir "$data" generate-calls --channel 1 --calls "$n" --days 90 --quiet
    gen_s=$(python3 -c "import sys; print(float(sys.argv[2]) - float(sys.argv[1]))" "$t0" "$(date +%s.%N)")
    keys=$("$DENWA_BIN" admin --data-dir "$data" create-api-key --channel 1)
    key=$(echo "$keys" | sed -n 's/^access key: *//p')
    secret=$(echo "$keys" | sed -n 's/^secret: *//p')
    "$DENWA_BIN" admin --data-dir "$data" create-staff --email bench@example.invalid --name Bench \
        --password bench-password-1 >/dev/null
    "$DENWA_BIN" admin --data-dir "$data" add-staff --channel 1 --email bench@example.invalid \
        --role manager >/dev/null
    db_mb=$(du -sm "$data" | cut -f1)
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    "$DENWA_BIN" serve --no-sip --http "127.0.0.1:$port" --data-dir "$data" --web-dir "$data/none" \
        2>"$work/serve-$n.log" &
    pid=$!
    trap 'kill $pid 2>/dev/null || true' EXIT
    for _ in $(seq 1 300); do
        curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
        sleep 0.2
    done
    N="$n" PORT="$port" KEY="$key" SECRET="$secret" REQS="$reqs" EXPORTS="$exports" \
        WORK="$work" GEN_S="$gen_s" DB_MB="$db_mb" "$py" bench/stats_client.py >>"$results"
    kill $pid 2>/dev/null || true
    wait $pid 2>/dev/null || true
done
echo
echo "calls      what                                         p50 ms    p99 ms    note"
column -t -s $'\t' "$results"
