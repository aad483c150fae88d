# Shared by scripts/run.sh and scripts/test.sh: install what a fresh Debian machine lacks.

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# apt_install PKG...: apt-get update, then install the packages (idempotent).
apt_install() {
    export DEBIAN_FRONTEND=noninteractive
    echo "==> apt-get update && apt-get install $*"
    as_root apt-get update -qq
    as_root apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# The Rust toolchain: the one on PATH (rustup) or Debian's.
ensure_rust() {
    if ! command -v cargo >/dev/null 2>&1; then
        apt_install cargo rustc
    fi
    local have
    have=$(rustc --version | awk '{print $2}')
    if [ "$(printf '%s\n1.85.0\n' "$have" | sort -V | head -n1)" != "1.85.0" ]; then
        echo "Denwa needs Rust 1.85 or newer (edition 2024); this machine has $have." >&2
        echo "Install a newer toolchain (e.g. with rustup) and run this again." >&2
        exit 1
    fi
}

ensure_node() {
    if ! command -v npm >/dev/null 2>&1; then
        apt_install nodejs npm
    fi
    local have
    have=$(node --version | sed 's/^v//')
    if [ "$(printf '%s\n20.19.0\n' "$have" | sort -V | head -n1)" != "20.19.0" ]; then
        echo "The console's build (Vite 7) needs Node.js 20.19 or newer; this machine has $have." >&2
        echo "Install Node.js 20.19 or newer (Debian 13 trixie ships it as nodejs) and run this again." >&2
        exit 1
    fi
}
