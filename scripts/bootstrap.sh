# Shared by scripts/run-embedded and scripts/test: make sure Python >= 3.11 and
# venv are there (installing Debian's python3-venv if needed), then create .venv.
# Sourced, not executed.

die() { echo "error: $*" >&2; exit 1; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"
    elif command -v sudo >/dev/null 2>&1; then sudo "$@"
    else die "need root to run: $* (install sudo or run as root)"
    fi
}

apt_install() {
    command -v apt-get >/dev/null 2>&1 || die "please install: $* (no apt-get on this system)"
    echo "installing Debian packages: $*" >&2
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

command -v python3 >/dev/null 2>&1 || apt_install python3
python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
    die "sysops-agent needs Python 3.11 or newer; this is $(python3 --version 2>&1)"
if [ ! -x .venv/bin/python ]; then
    python3 -c 'import ensurepip, venv' 2>/dev/null || apt_install python3-venv
    python3 -m venv .venv || die "could not create .venv"
fi
