#!/usr/bin/env bash
# The unit's hardening score and syntax, as CI checks them.
#   tools/check_systemd_unit.sh [AGENT_BINARY]
# `verify` insists that ExecStart exists, so it checks a copy whose ExecStart is
# the agent just installed (default: .venv/bin/sysops-agent); everything else
# is the shipped unit, byte for byte.
set -euo pipefail
cd "$(dirname "$0")/.."
unit=deploy/systemd/sysops-agent.service
binary=$(readlink -f "${1:-.venv/bin/sysops-agent}")
command -v systemd-analyze >/dev/null || { echo "systemd-analyze not found (Debian package systemd)" >&2; exit 1; }
systemd-analyze security --offline=true --threshold=20 "$unit" | tail -n 1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
sed "s|^ExecStart=/opt/sysops-agent/bin/sysops-agent|ExecStart=$binary|" "$unit" > "$work/sysops-agent.service"
systemd-analyze verify "$work/sysops-agent.service"
echo "systemd unit: exposure within 2.0, verify clean"
