"""Outage: the endpoint is down, the agent is killed with SIGKILL mid-outage and restarted.

After recovery every notification arrives once, in the order it was created,
and the outbox is empty.  Alerts come from the log analyzer (a custom pattern
on a syslog file), as a production incident's would.
"""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import pytest

from tests.conftest import HttpReceiver, agent_command, wait_until, write_config

pytestmark = pytest.mark.e2e

CONFIG = """
[agent]
data_dir = "data"
[collector]
disabled = ["cpu", "memory", "numa", "edac", "disk", "network", "process", "fd", "pressure", "gpu", "self"]
[log_analyzer]
sources = ["syslog"]
syslog_path = "{log}"
poll_interval_secs = 0.2
aggregate_secs = 1
[[log_analyzer.custom_patterns]]
name = "incident"
pattern = "incident (?P<n>\\\\d+)"
severity = "critical"
[alerting]
backlog_retry_secs = 0.5
[alerting.webhook]
enabled = true
url = "{url}"
retry_count = 1
"""


def start(config: Path, cwd: Path, run: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(agent_command("--config", str(config)), stdout=(cwd / f"out{run}").open("w"),
                            stderr=(cwd / f"err{run}").open("w"), cwd=cwd)  # fmt: skip


def test_kill_9_mid_outage_then_every_alert_once_in_order(
    tmp_path: Path, http_receiver: HttpReceiver
) -> None:
    log = tmp_path / "syslog"
    log.write_text("")
    # A saved position at the file's start: the tail reads every line written from
    # now on, however late it opens the file (a first start would begin at the end).
    (tmp_path / "data").mkdir()
    position = {"inode": log.stat().st_ino, "offset": 0}
    (tmp_path / "data/log-positions.json").write_text(json.dumps({f"file:{log}": position}))
    config = write_config(tmp_path, CONFIG.format(log=log, url=http_receiver.url + "/hook"))
    http_receiver.script = [(503, {})] * 10_000  # down
    agent = start(config, tmp_path, 1)
    wait_until(lambda: "sysops-agent started" in (tmp_path / "err1").read_text(), 60, "start")
    with log.open("a") as f:
        for i in range(8):
            f.write(f"Nov 21 10:00:00 host app[7]: incident {i}\n")
    wait_until(lambda: len(http_receiver.requests) >= 4, 60, "delivery attempts during the outage")
    agent.send_signal(signal.SIGKILL)
    agent.wait(timeout=10)
    assert (tmp_path / "data/outbox.db").exists()
    with http_receiver.arrived:
        # Back, but rate limiting at first (a short Retry-After: the pause is not under test).
        http_receiver.script[:] = [(429, {"Retry-After": "0.2"})] * 2
        failed_attempts = len(http_receiver.requests)
        http_receiver.requests.clear()
    agent = start(config, tmp_path, 2)
    wait_until(lambda: len(http_receiver.requests) >= 10, 30, "the backlog after the restart")
    # No wait for duplicates: SIGTERM drains what is pending, so a duplicate would show
    # in the final counts below (sent 9, or pending > 0) or as an eleventh request.
    agent.send_signal(signal.SIGTERM)
    assert agent.wait(timeout=10) == 0
    delivered = [json.loads(r.body) for r in http_receiver.requests[2:]]  # after the two 429s
    order = [d["labels"]["n"] for d in delivered]
    assert order == [str(i) for i in range(8)], (order, failed_attempts)
    assert all(
        d["severity"] == "critical"
        and d["context"]["line"].endswith(f"incident {d['labels']['n']}")
        for d in delivered
    )
    # The counts say so: all sent, nothing failed, expired or held back, nothing left.
    log_text = (tmp_path / "err2").read_text()
    assert "channel webhook: sent 8, failed 0, expired 0, suppressed 0, retries " in log_text
    assert log_text.rstrip().splitlines()[-2].endswith("pending 0")
