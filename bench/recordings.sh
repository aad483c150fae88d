#!/usr/bin/env bash
# Issue 8's benchmarks in one run, with one summary table against the targets:
#   transcription speed vs faster-whisper (bench/transcribe.sh; FEATURES=dnnl for the oneDNN
#   build the target is about), MP3 encoding vs the lame CLI (same script), and search p99
#   over LINES synthetic transcript lines with the index size (bench/search.sh).
#
#   FEATURES=dnnl bash bench/recordings.sh          # LINES=1000000
#   LINES=200000 bash bench/recordings.sh           # quicker
#
# Every variable of transcribe.sh (MODELS, MODEL, THREADS, BEAM, RUNS, …) passes through.
# The full outputs of both scripts are printed first, then the summary.
set -euo pipefail
cd "$(dirname "$0")/.."
LINES="${LINES:-1000000}"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

bash bench/transcribe.sh | tee "$out/transcribe.md"
echo
bash bench/search.sh "$LINES" | tee "$out/search.md"
echo

python3 - "$out/transcribe.md" "$out/search.md" "$LINES" "${FEATURES:-ruy}" <<'PY'
import re, sys

transcribe = open(sys.argv[1], encoding="utf-8").read()
search = open(sys.argv[2], encoding="utf-8").read()
lines, features = sys.argv[3], sys.argv[4]


def cells(text, prefix):
    for line in text.splitlines():
        if line.startswith(prefix):
            return [c.strip() for c in line.strip().strip("|").split("|")]
    sys.exit(f"no row starting with {prefix!r} in the output")


def number(s):
    m = re.search(r"[-+]?\d+(?:\.\d+)?", s.replace(",", ""))
    if not m:
        sys.exit(f"no number in {s!r}")
    return float(m.group())


whisper = cells(transcribe, "| denwa (ct2rs")
speed = number(whisper[3])
agreement = re.search(r"Word agreement denwa vs faster-whisper: ([\d.]+)%", transcribe)
mp3 = number(cells(transcribe, "| denwa (mp3lame-encoder)")[3])
latency = cells(search, "| search latency")[1]
p99 = number(latency.split("p99")[1])
size = cells(search, "| index size on disk")[1]

rows = [
    (f"transcription speed vs faster-whisper ({features} build)", f"{speed:.2f}×"
     + (f", {agreement.group(1)} % same words" if agreement else ""), "≥ 1.0×", speed >= 1.0),
    ("MP3 encoding speed vs the lame CLI", f"{mp3:.2f}×", "≥ 0.95×", mp3 >= 0.95),
    (f"search p99 over {int(lines):,} transcript lines (index {size})", f"{p99:.2f} ms", "≤ 10 ms",
     p99 <= 10.0),
]
print("| benchmark (issue 8) | measured | target | met |")
print("|---|---:|---:|---|")
for name, value, target, ok in rows:
    print(f"| {name} | {value} | {target} | {'yes' if ok else '**no**'} |")
PY
