#!/usr/bin/env bash
# Builds the staff console and the denwa binary, then runs Denwa with the demo channel.
# Prints the console's address and the demo logins. Extra arguments go to `denwa serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

apt_install ca-certificates pkg-config build-essential
ensure_rust
ensure_node

echo "==> building the staff console (web/)"
(cd web && npm ci --no-audit --no-fund --loglevel=error && npm run build)

echo "==> building denwa (release)"
cargo build --release -p denwa-server

exec ./target/release/denwa serve --demo --web-dir web/dist "$@"
