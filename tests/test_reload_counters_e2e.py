"""A SIGHUP keeps the channel counters shown at stop (#15, item 8).

Before, the new workers of a reload started from zero, so "channel console:
sent N" at stop counted only what was sent since the last SIGHUP.
"""

from __future__ import annotations

import re
import signal
import subprocess
from pathlib import Path

from tests.conftest import (
    agent_command,
    hermetic_agent_keys,
    only_collectors,
    wait_until,
    write_config,
)


def config(host: str, memory_percent: float) -> str:
    # The captured host's memory is 25 % used: 0.5 fires a warning, 99.9 resolves it.
    return (
        f'[agent]\ndata_dir = "data"\n{host}'
        f"[collector]\nmemory_interval_secs = 0.2\n{only_collectors('memory')}"
        f'[analyzer]\nenabled = ["threshold"]\n[thresholds]\nmemory_percent = {memory_percent}\n'
        "[log_analyzer]\nenabled = false\n[alerting.console]\nenabled = true\n"
    )


def test_a_reload_keeps_the_channel_counters(tmp_path: Path) -> None:
    host = hermetic_agent_keys(tmp_path)
    path = write_config(tmp_path, config(host, 0.5))
    out, err = tmp_path / "out", tmp_path / "err"
    with out.open("w") as stdout, err.open("w") as stderr:
        agent = subprocess.Popen(
            agent_command("--config", str(path)), stdout=stdout, stderr=stderr, cwd=tmp_path
        )
    try:
        wait_until(lambda: "FIRING" in out.read_text(), 30, "the memory alert")
        path.write_text(config(host, 99.9))
        agent.send_signal(signal.SIGHUP)
        wait_until(lambda: "configuration reloaded" in err.read_text(), 10, "the reload")
        wait_until(lambda: "RESOLVED" in out.read_text(), 15, "the resolution, after the reload")
    finally:
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(timeout=15) == 0
    log = err.read_text()
    at_stop = log[log.index("stopping") :]
    sent = re.findall(r"channel console: sent (\d+),", at_stop)
    assert sent and sent[-1] == "2", log  # the warning before the SIGHUP, its resolution after
