"""A full data_dir under a running agent: alerts still go out, and systemd hears why it is degraded.

A real 512 KiB tmpfs as data_dir, filled to ENOSPC after the agent started;
alerts come from a custom log pattern and go to a real local HTTP receiver;
the sd_notify STATUS line is read from a real datagram socket.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from tests.conftest import HttpReceiver, agent_command, only_collectors, wait_until, write_config
from tests.test_outbox_guarantee import fill, small_tmpfs
from tests.test_systemd import receive_until, receiver

pytestmark = pytest.mark.e2e

CONFIG = """
[agent]
data_dir = "{data}"
[collector]
{collectors}
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


def test_a_full_data_dir_under_a_running_agent(tmp_path: Path, http_receiver: HttpReceiver) -> None:
    log = tmp_path / "syslog"
    log.write_text("")
    with small_tmpfs(tmp_path / "data") as data:
        # The tail reads from the file's start, however late it opens it.
        position = {"inode": log.stat().st_ino, "offset": 0}
        (data / "log-positions.json").write_text(json.dumps({f"file:{log}": position}))
        config = write_config(tmp_path, CONFIG.format(data=data, log=log, url=http_receiver.url + "/hook",
                                                      collectors=only_collectors()))  # fmt: skip
        sock = receiver(tmp_path / "notify.sock")
        env = {
            **os.environ,
            "NOTIFY_SOCKET": str(tmp_path / "notify.sock"),
            "WATCHDOG_USEC": "400000",
        }
        err = (tmp_path / "err").open("w")
        agent = subprocess.Popen(agent_command("--config", str(config)), cwd=tmp_path, env=env,
                                 stdout=subprocess.DEVNULL, stderr=err)  # fmt: skip
        try:
            wait_until(
                lambda: "sysops-agent started" in (tmp_path / "err").read_text(), 15, "start"
            )
            assert (data / "outbox.db").exists()  # durable at first
            fill(data)
            with log.open("a") as f:
                for i in range(5):
                    f.write(f"Nov 21 10:00:00 host app[7]: incident {i}\n")
            wait_until(lambda: len(http_receiver.requests) >= 5, 30, "the alerts, from memory")
            receive_until(
                sock,
                lambda got: any(
                    "kept in memory only" in t for _, t in got if t.startswith("STATUS=")
                ),
                20,
                "a STATUS line naming the degraded outbox",
            )
            assert agent.poll() is None  # still running
            agent.send_signal(signal.SIGTERM)
            assert agent.wait(timeout=10) == 0
        finally:
            if agent.poll() is None:
                agent.kill()
                agent.wait()
            sock.close()
            err.close()
    got = sorted(json.loads(r.body)["labels"]["n"] for r in http_receiver.requests)
    assert got == [str(i) for i in range(5)]
    assert "alerts are kept in memory only" in (tmp_path / "err").read_text()
