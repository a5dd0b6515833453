#!/usr/bin/env bash
# The units' hardening scores and syntax, as CI checks them: the agent's and the
# fleet watcher's, each with exposure <= 2.0 and a clean `verify`.
#   tools/check_systemd_unit.sh [BIN_DIR]
# `verify` insists that ExecStart exists, so it checks a copy whose ExecStart is
# the program just installed (default: .venv/bin/sysops-agent and
# .venv/bin/sysops-fleet); everything else is the shipped unit, byte for byte.
set -euo pipefail
cd "$(dirname "$0")/.."
bin_dir=$(readlink -f "${1:-.venv/bin}")
[ -d "$bin_dir" ] || bin_dir=$(dirname "$bin_dir")  # an older call named the agent binary
command -v systemd-analyze >/dev/null || { echo "systemd-analyze not found (Debian package systemd)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for program in sysops-agent sysops-fleet; do
    unit=deploy/systemd/$program.service
    echo "$unit: $(systemd-analyze security --offline=true --threshold=20 "$unit" | tail -n 1)"
    sed "s|^ExecStart=/opt/sysops-agent/bin/$program|ExecStart=$bin_dir/$program|" "$unit" > "$work/$program.service"
    systemd-analyze verify "$work/$program.service"
done
echo "systemd units (sysops-agent, sysops-fleet): exposure within 2.0, verify clean"
