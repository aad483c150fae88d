#!/usr/bin/env bash
# Search latency (SPEC RC-3, issue 8: p99 <= 10 ms) over 1M synthetic transcript lines,
# mixed Japanese and English, with the index build time and size on disk.
#
#   bash bench/search.sh [LINES]        # default 1000000; needs mecab-ipadic
#
# Builds crates/search's `search_bench` example in release and prints Markdown tables.
set -euo pipefail
cd "$(dirname "$0")/.."
lines="${1:-1000000}"
if [ ! -f /usr/share/mecab/dic/ipadic/matrix.def ]; then
    echo "needs Debian's mecab-ipadic: apt-get install -y mecab-ipadic" >&2
    exit 1
fi
target="${CARGO_TARGET_DIR:-target}"
cargo build --release -p denwa-search --example search_bench >&2
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
# The load average goes in the header: on a shared machine, p99 is mostly other
# processes preempting the search, not the search itself.
echo "## search: $lines lines, $(nproc) cores, $(date -u +%Y-%m-%d), commit $(git rev-parse --short HEAD), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo
"$target/release/examples/search_bench" "$lines" "$dir"
