"""Soak: two days of an agent's work in 20 minutes, watching for anything that grows.

    .venv/bin/python benchmarks/soak.py [--minutes 20] [--interval 0.1]

Time is compressed 100x: every collector runs every 0.1 s instead of 10 s, the
history tier's buckets are 0.6 s instead of 60 s and it keeps 0.24 h instead of
24 h (the trend window 0.06 h instead of 6 h, the anomaly record window 0.24 h), so both ring tiers are full after ~15 minutes and 20 minutes hold about
12,000 ticks, the collections of 33 hours. Meanwhile, on the side:
  * short-lived tracked processes (`soak-churn`) come and go, so series are
    created and retired;
  * a log file the agent tails gets kernel-style lines, some of them matching
    (out-of-memory kills), so log alerts fire, repeat and resolve;
  * alerts go to a webhook (a loopback HTTP server) and NATS (a nats-server on
    loopback); SQLite history is on; the Prometheus endpoint on loopback is how
    this script reads the agent's own metrics (agent_tasks, agent_series,
    agent_store_bytes).
Every 30 s it records RSS and open fds (from /proc), threads, asyncio tasks,
series and store bytes, prints a line, and at the end checks: RSS flat once the
rings are full (growth over the last quarter of the run under 1 MB), open fds
and threads back at their level of the first quarter, tasks not growing.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import subprocess
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from overhead import REPO, free_port, stand_ins  # this directory is on sys.path

MB = 1024 * 1024


def churn(work: Path, stop: threading.Event) -> None:
    """A tracked process every 2 s, each living 5 s: new series, and vanished ones."""
    link = work / "soak-churn"
    link.symlink_to("/bin/sleep")
    children: list[subprocess.Popen[bytes]] = []
    while not stop.wait(2.0):
        children.append(subprocess.Popen([str(link), "5"]))
        children = [c for c in children if c.poll() is None]
    for child in children:
        child.kill()
        child.wait()


def log_writer(path: Path, stop: threading.Event) -> None:
    """Ten kernel-style lines a second; one in fifty is an out-of-memory kill."""
    number = 0
    with path.open("a") as log:
        while not stop.wait(0.1):
            number += 1
            if number % 50 == 0:
                victim = 4000 + number % 7
                line = f"Out of memory: Killed process {victim} (soak-{victim % 3}) total-vm:1024kB"
            else:
                line = f"usb 1-1: new high-speed USB device number {number % 100} using xhci_hcd"
            stamp = time.strftime("%b %d %H:%M:%S")
            log.write(f"{stamp} soakhost kernel: [{number / 10:12.6f}] {line}\n")
            log.flush()


def scrape(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    wanted = ("agent_tasks", "agent_series", "agent_store_bytes", "agent_open_fds")
    out = {}
    for line in text.splitlines():
        match = re.match(r"^(\w+)(?:\{[^}]*\})? (\S+)", line)
        if match and match.group(1) in wanted:
            out[match.group(1)] = float(match.group(2))
    return out


def process_figures(pid: int) -> tuple[float, int, int]:
    rss = int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    return rss / MB, len(os.listdir(f"/proc/{pid}/fd")), len(os.listdir(f"/proc/{pid}/task"))


def config(work: Path, interval: float, ports: dict[str, int]) -> Path:
    intervals = "\n".join(
        f"{d}_interval_secs = {interval}"
        for d in ("cpu", "memory", "disk", "network", "process", "fd", "gpu")
    )
    text = f"""
[agent]
data_dir = "{work / "data"}"
collect_interval_secs = {interval}

[collector]
{intervals}
process_track_patterns = ["^soak-churn$"]

[storage]
history_resolution_secs = {max(1.0, interval * 6)}
history_hours = 0.24
sqlite_enabled = true

[analyzer]
anomaly_min_samples = 30
trend_window_hours = 0.06
trend_min_span_hours = 0.01
leak_min_observation_hours = 0.02
anomaly_record_hours = 0.24  # 24 h, compressed like the rest (the store keeps this long)

[log_analyzer]
sources = ["syslog"]  # as the system syslog file with no kernel source: its kernel: lines count
syslog_path = "{work / "kern.log"}"
aggregate_secs = 2

[alerting]
min_interval_secs = 3
dedup_window_secs = 6
group_wait_secs = 1

[alerting.webhook]
enabled = true
url = "http://127.0.0.1:{ports["http"]}/ingest"

[nats]
enabled = true
url = "nats://127.0.0.1:{ports["nats"]}"
metrics_interval_secs = 0.3
heartbeat_interval_secs = 0.6
inventory_interval_secs = 3

[prometheus]
enabled = true
bind = "127.0.0.1:{ports["prometheus"]}"
"""
    path = work / "soak.toml"
    path.write_text(text)
    path.chmod(0o600)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--interval", type=float, default=0.1, help="collector interval, s")
    parser.add_argument("--every", type=float, default=30.0, help="seconds between records")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="soak-") as tmp, stand_ins(Path(tmp)) as ports:
        work = Path(tmp)
        (work / "kern.log").touch()
        ports["prometheus"] = free_port()
        path = config(work, args.interval, ports)
        err = (work / "agent.err").open("wb")
        agent = subprocess.Popen(
            [str(REPO / ".venv/bin/sysops-agent"), "--config", str(path)],
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,
        )
        stop = threading.Event()
        helpers = [
            threading.Thread(target=churn, args=(work, stop)),
            threading.Thread(target=log_writer, args=(work / "kern.log", stop)),
        ]
        for helper in helpers:
            helper.start()
        records: list[tuple[float, float, int, int, dict[str, float]]] = []
        started = time.monotonic()
        try:
            print(
                f"{'min':>5} {'rss_mb':>7} {'fds':>4} {'threads':>7} {'tasks':>5} {'series':>6} {'store_mb':>8}"
            )
            while time.monotonic() - started < args.minutes * 60:
                time.sleep(args.every - (time.monotonic() - started) % args.every)
                if agent.poll() is not None:
                    raise SystemExit(
                        "the agent exited:\n" + (work / "agent.err").read_text()[-3000:]
                    )
                rss, fds, threads = process_figures(agent.pid)
                own: dict[str, float] = {}
                with contextlib.suppress(OSError):
                    own = scrape(ports["prometheus"])
                minute = (time.monotonic() - started) / 60
                records.append((minute, rss, fds, threads, own))
                print(f"{minute:5.1f} {rss:7.1f} {fds:4d} {threads:7d} {own.get('agent_tasks', -1):5.0f} "
                      f"{own.get('agent_series', -1):6.0f} {own.get('agent_store_bytes', 0) / MB:8.2f}", flush=True)  # fmt: skip
        finally:
            stop.set()
            for helper in helpers:
                helper.join()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(agent.pid, signal.SIGTERM)
            code = agent.wait(30)
        verdict(records, code, work)


def verdict(
    records: list[tuple[float, float, int, int, dict[str, float]]], code: int, work: Path
) -> None:
    """Compare the first and the last quarter of the run by their medians: a leak
    shows as a level that moves, a file open at the instant of a sample does not."""
    quarter = max(1, len(records) // 4)
    first, last = records[:quarter], records[-quarter:]

    def median(rows: list[tuple[float, float, int, int, dict[str, float]]], field: str) -> float:
        index = {"rss": 1, "fds": 2, "threads": 3}
        values = sorted(r[index[field]] if field in index else r[4].get(field, 0.0) for r in rows)
        return float(values[len(values) // 2])

    rss_growth = last[-1][1] - last[0][1]
    checks = [(f"RSS over the last quarter grew {rss_growth:+.1f} MB (< 1 MB)", rss_growth < 1.0)]
    for field, slack in (("fds", 1), ("threads", 0), ("agent_tasks", 1)):
        a, b = median(first, field), median(last, field)
        checks.append(
            (f"{field}: median {a:.0f} in the first quarter, {b:.0f} in the last", b <= a + slack)
        )
    checks.append((f"the agent stopped cleanly on SIGTERM (exit {code})", code == 0))
    errors = [line for line in (work / "agent.err").read_text().splitlines() if " ERROR " in line]
    checks.append((f"{len(errors)} ERROR lines in the agent's log", not errors))
    for text, ok in checks:
        print(("ok   " if ok else "FAIL ") + text)
    for line in errors[:5]:
        print("     " + line)
    if not all(ok for _, ok in checks):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
