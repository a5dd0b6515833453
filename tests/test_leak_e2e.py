"""End to end: a running agent reports real processes that leak memory or file descriptors.

Time is compressed by configuration: 1-second history buckets, a leak verdict
after 9 s of history instead of an hour.  Three real children: one grows its
RSS steadily, one opens files and never closes them, one is stable.  Only the
leak analyzer runs, so the host's load cannot raise some other alert; it only
changes how soon the verdict comes.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import agent_command, wait_until, write_config

pytestmark = pytest.mark.e2e

CHILD = """
import os, sys, time
kind = sys.argv[1]
with open("/proc/self/comm", "w") as comm:
    comm.write(kind)
hoard, files = [], []
hoard.append(bytearray(8 * 1024 * 1024))  # some memory, touched
while True:
    if kind == "leaky-rss":
        hoard.append(b"x" * (2 * 1024 * 1024))  # 2 MiB every 0.25 s, kept
    elif kind == "leaky-fds":
        files.append(open(os.devnull))
    time.sleep(0.25)
"""

CONFIG = """
[agent]
hostname = "leak-host"
data_dir = "data"
[collector]
process_interval_secs = 0.5
process_top_n = 0
process_track_patterns = ["^leaky-", "^steady-"]
disabled = ["disk", "network", "numa", "edac", "pressure", "gpu", "fd", "cpu"]
[storage]
history_resolution_secs = 1
[analyzer]
enabled = ["leak"]
trend_window_hours = 0.02
leak_min_observation_hours = 0.0025
[alerting]
min_interval_secs = 3600
[alerting.console]
enabled = true
"""


@pytest.fixture
def children() -> Iterator[dict[str, subprocess.Popen[bytes]]]:
    procs = {
        kind: subprocess.Popen([sys.executable, "-c", CHILD, kind])
        for kind in ("leaky-rss", "leaky-fds", "steady-mem")
    }
    yield procs
    for proc in procs.values():
        proc.kill()
        proc.wait(timeout=5)


def test_agent_reports_leaking_processes_and_not_the_steady_one(
    tmp_path: Path, children: dict[str, subprocess.Popen[bytes]]
) -> None:
    config = write_config(tmp_path, CONFIG)
    out_path, err_path = tmp_path / "stdout", tmp_path / "stderr"
    with out_path.open("w") as out, err_path.open("w") as err:
        agent = subprocess.Popen(
            agent_command("--config", str(config)), stdout=out, stderr=err, cwd=tmp_path
        )
    try:
        wait_until(
            lambda: all(
                f"pid {children[k].pid}," in out_path.read_text()
                for k in ("leaky-rss", "leaky-fds")
            ),
            90,
            "both leaks reported",
        )
    finally:
        agent.terminate()
        agent.wait(timeout=10)
    output, stderr = out_path.read_text(), err_path.read_text()
    assert f"process leaky-rss (pid {children['leaky-rss'].pid}," in output, stderr[-3000:]
    assert "memory has grown" in output
    assert (
        f"process leaky-fds (pid {children['leaky-fds'].pid}," in output
        and "open files has grown" in output
    )
    assert "steady-mem" not in output
    assert agent.returncode == 0
