#!/usr/bin/env bash
# `promtool check metrics` on a live endpoint of the agent, as CI runs it.
#   tools/check_prometheus.sh [PROMTOOL]
# Without a promtool on PATH, it is taken from Debian's `prometheus` package
# (downloaded and unpacked into .cache/, not installed: no server is started).
set -euo pipefail
cd "$(dirname "$0")/.."
promtool=${1:-$(command -v promtool || true)}
if [ -z "$promtool" ]; then
    promtool=.cache/prometheus/usr/bin/promtool
    if [ ! -x "$promtool" ]; then
        mkdir -p .cache/prometheus
        download() { (cd .cache && apt-get download prometheus >/dev/null 2>&1); }
        # A fresh machine may have no package lists yet: update them once and retry.
        download || { . scripts/bootstrap.sh && as_root apt-get update -qq && download; } ||
            { echo "cannot download Debian's prometheus package for promtool" >&2; exit 1; }
        dpkg-deb -x .cache/prometheus_*.deb .cache/prometheus
        rm -f .cache/prometheus_*.deb
    fi
fi
work=$(mktemp -d)
port=$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat > "$work/config.toml" <<TOML
[agent]
data_dir = "$work/data"
[collector]
cpu_interval_secs = 1
memory_interval_secs = 1
disk_interval_secs = 1
network_interval_secs = 1
process_interval_secs = 1
fd_interval_secs = 1
[prometheus]
enabled = true
bind = "127.0.0.1:$port"
TOML
chmod 600 "$work/config.toml"
.venv/bin/sysops-agent --config "$work/config.toml" 2>"$work/agent.log" &
agent=$!
trap 'kill $agent 2>/dev/null || true; wait $agent 2>/dev/null || true; rm -rf "$work"' EXIT
sleep 4  # every collector has run at least twice (rates need two samples)
.venv/bin/python - "$port" > "$work/metrics.txt" <<'PY'
import sys, httpx
print(httpx.get(f"http://127.0.0.1:{sys.argv[1]}/metrics", timeout=5).raise_for_status().text, end="")
PY
families=$(grep -c '^# TYPE ' "$work/metrics.txt" || true)
[ "$families" -gt 20 ] || { echo "only $families metric families served" >&2; cat "$work/agent.log" >&2; exit 1; }
"$promtool" check metrics < "$work/metrics.txt"
echo "promtool check metrics: clean ($families families)"
