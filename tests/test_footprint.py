"""What keeps the idle agent small (issue 9): nothing a configuration does not use is loaded.

benchmarks/overhead.py measures the memory; these tests keep the causes from
coming back: a console-only agent that has run its collectors and analyzers
has not imported the web-channel stack, SQLite, tomlkit, NVML or numpy.ma, and
keeps its undelivered alerts in memory (a durable outbox is for channels with a
remote end).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent.assembly import build_channels, needs_durable_outbox, open_outbox
from agent.config import parse_config_text
from alerting.outbox import MemoryOutbox, SqliteOutbox
from tests.conftest import REPO, wait_until, write_config

HEAVY = (
    "httpx",  # the web channels' HTTP stack, with what it loads at the first request
    "httpcore",
    "h11",
    "anyio",
    "sqlite3",
    "aiosqlite",
    "tomlkit",
    "pynvml",
    "numpy.ma",
    "nats",
    "agent.inventory",
)

# Runs the real daemon in-process; at exit, prints which heavy modules it loaded.
RUN = """
import atexit, json, sys
atexit.register(lambda: print(json.dumps(sorted(m for m in {heavy!r} if m in sys.modules))))
from agent.cli import main
sys.argv = ["sysops-agent", "--config", {config!r}]
sys.exit(main())
"""


@pytest.mark.e2e
def test_a_console_only_agent_loads_none_of_the_optional_stacks(tmp_path: Path) -> None:
    config = write_config(
        tmp_path,
        f'[agent]\ndata_dir = "{tmp_path / "data"}"\n'
        "[collector]\ncpu_interval_secs = 0.2\nmemory_interval_secs = 0.2\n"
        "disk_interval_secs = 0.2\nprocess_interval_secs = 0.2\n"
        "[thresholds]\nmemory_percent = 0.1\n"  # an alert goes out through the console
        "[alerting.console]\nenabled = true\n",
    )
    code = RUN.format(heavy=HEAVY, config=str(config))
    out_path = tmp_path / "stdout"
    with out_path.open("w") as out_file:
        agent = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stdout=out_file,
                                 stderr=subprocess.PIPE, text=True)  # fmt: skip
    # Real /proc on purpose: every collector runs as it would on a host (the values do
    # not matter; 0.1 % memory used is exceeded anywhere, so an alert goes out).
    wait_until(lambda: "FIRING" in out_path.read_text(), 20, "the console alert")
    time.sleep(0.5)  # a few more ticks at 0.2 s: what a running agent loads is under test
    agent.send_signal(signal.SIGTERM)
    _, err = agent.communicate(timeout=20)
    out = out_path.read_text()
    assert agent.returncode == 0, err
    assert "FIRING" in out, "the alert should have gone out through the console"
    assert json.loads(out.strip().splitlines()[-1]) == []


def test_the_outbox_is_durable_only_for_channels_with_a_remote_end(tmp_path: Path) -> None:
    local = parse_config_text(
        f'[agent]\ndata_dir = "{tmp_path}"\n[alerting.console]\nenabled = true\n'
        '[alerting.syslog]\nenabled = true\naddress = "/dev/log"\n'
    ).settings
    assert not needs_durable_outbox(local, build_channels(local))
    assert isinstance(open_outbox(local, build_channels(local)), MemoryOutbox)

    remote = parse_config_text(
        f'[agent]\ndata_dir = "{tmp_path}"\n[alerting.console]\nenabled = true\n'
        '[alerting.webhook]\nenabled = true\nurl = "http://127.0.0.1:9/hook"\n'
    ).settings
    assert isinstance(open_outbox(remote, build_channels(remote)), SqliteOutbox)
    assert (tmp_path / "outbox.db").exists()

    # Syslog to a remote collector can be down: its alerts wait in the durable outbox.
    udp = parse_config_text(
        f'[agent]\ndata_dir = "{tmp_path}"\n[alerting.syslog]\nenabled = true\naddress = "udp://127.0.0.1:514"\n'
    ).settings
    assert needs_durable_outbox(udp, build_channels(udp))
