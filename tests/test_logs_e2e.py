"""End to end: a running agent tails a syslog file through rotation and its own restart."""

from __future__ import annotations

import re
import signal
import subprocess
import time
from pathlib import Path

from tests.conftest import agent_command, write_config

CONFIG = """
[agent]
data_dir = "data"
[collector]
disabled = ["cpu", "memory", "numa", "edac", "disk", "network", "process", "fd", "pressure", "gpu", "self"]
[log_analyzer]
sources = ["syslog"]
syslog_path = "{log}"
poll_interval_secs = 0.2
[[log_analyzer.custom_patterns]]
name = "marker"
pattern = "marker (?P<n>\\\\d+)"
severity = "warn"
[[log_analyzer.custom_patterns]]
name = "probe"
pattern = "probe"
severity = "info"
[alerting.console]
enabled = true
"""


def start(config: Path, cwd: Path, run: int) -> subprocess.Popen[bytes]:
    out = (cwd / f"out{run}").open("w")
    err = (cwd / f"err{run}").open("w")
    return subprocess.Popen(
        agent_command("--config", str(config), "--log-level", "debug"),
        stdout=out,
        stderr=err,
        cwd=cwd,
    )


def wait_for(path: Path, text: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text():
            return
        time.sleep(0.1)
    raise AssertionError(f"{text!r} not in {path}:\n{path.read_text() if path.exists() else ''}")


def wait_until_tailing(log: Path, out: Path) -> None:
    """Append probe lines until one is alerted: from then on the tail is open at the end.

    A first start reads from the end of the file as found when the tail opens it,
    so lines written before that are (rightly) not alerted; the test must know when.
    """

    deadline = time.monotonic() + 15
    while not (out.exists() and "probe" in out.read_text()):
        assert time.monotonic() < deadline, f"the agent never tailed {log}"
        with log.open("a") as f:
            f.write("Nov 21 10:00:00 host app[7]: probe\n")
        time.sleep(0.1)


def append(log: Path, first: int, last: int) -> None:
    with log.open("a") as f:
        for i in range(first, last):
            f.write(f"Nov 21 10:00:00 host app[7]: marker {i}\n")


def test_every_line_alerted_once_across_rotation_and_restart(tmp_path: Path) -> None:
    log = tmp_path / "syslog"
    append(log, 0, 3)  # history before the first start: not replayed
    config = write_config(tmp_path, CONFIG.format(log=log))
    agent = start(config, tmp_path, 1)
    wait_until_tailing(log, tmp_path / "out1")
    append(log, 3, 6)
    wait_for(tmp_path / "out1", "marker 5")
    log.rename(tmp_path / "syslog.1")  # rotation by rename
    append(tmp_path / "syslog.1", 6, 7)  # the writer still had the old file open
    append(log, 7, 9)
    wait_for(tmp_path / "out1", "marker 8")
    agent.send_signal(signal.SIGTERM)
    assert agent.wait(timeout=10) == 0
    append(log, 9, 11)  # written while the agent was down
    agent = start(config, tmp_path, 2)
    wait_for(tmp_path / "out2", "marker 10")
    with log.open("r+") as f:  # copy-truncate rotation
        f.truncate(0)
    # Shorter than the offset before: seen as a truncation whenever the tail next polls.
    append(log, 11, 12)
    wait_for(tmp_path / "out2", "marker 11")
    agent.send_signal(signal.SIGTERM)
    assert agent.wait(timeout=10) == 0
    output = (tmp_path / "out1").read_text() + (tmp_path / "out2").read_text()
    markers = [int(n) for n in re.findall(r"marker (\d+)$", output, re.M)]
    assert sorted(markers) == list(range(3, 12)), output
