"""End to end: the daemon as a real process, a real HTTP endpoint, real signals.

The agent reads a captured host (fixture /proc and /sys) with only the memory
collector and the threshold analyzer running, so the alert that fires is the
one the test set up, however busy the machine running the tests is.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import (
    REPO,
    HttpReceiver,
    agent_command,
    hermetic_agent_keys,
    only_collectors,
    wait_until,
    write_config,
)

pytestmark = pytest.mark.e2e

INTERVAL = 2.0
# A deadline, not a wait: time for the interpreter to start and import everything on a
# slow or busy machine (a passing test never waits this long).
STARTUP_ALLOWANCE = 15.0


class RunningAgent:
    def __init__(self, config: Path, cwd: Path, env: dict[str, str] | None = None) -> None:
        self.stdout_path = cwd / "agent.stdout"
        self.stderr_path = cwd / "agent.stderr"
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            agent_command("--config", str(config), "--log-level", "debug"),
            stdout=self.stdout_path.open("w"),
            stderr=self.stderr_path.open("w"),
            cwd=cwd,
            env={**os.environ, **(env or {})},
        )

    @property
    def stdout(self) -> str:
        return self.stdout_path.read_text()

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text()

    def wait_for_log(self, text: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.stderr:
                return True
            time.sleep(0.05)
        return False

    def wait_for_output(self, text: str, timeout: float) -> None:
        wait_until(lambda: text in self.stdout, timeout, f"{text!r} on stdout:\n{self.stderr}")

    def stop(self, timeout: float = 5.0) -> tuple[int, float]:
        began = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=timeout)
        return code, time.monotonic() - began

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=5)


@pytest.fixture
def start_agent(tmp_path: Path) -> Iterator[object]:
    agents: list[RunningAgent] = []

    def start(config_text: str, env: dict[str, str] | None = None) -> RunningAgent:
        config = write_config(tmp_path, config_text)
        agent = RunningAgent(config, tmp_path, env)
        agents.append(agent)
        return agent

    yield start
    for agent in agents:
        agent.kill()


@pytest.fixture
def host(tmp_path: Path) -> str:
    return hermetic_agent_keys(tmp_path)


def webhook_config(
    url: str, host: str, memory_percent: float = 0.5, extra: str = "", interval: float = INTERVAL
) -> str:
    """Only memory on the captured host (68.5 % used) is collected and checked."""
    return f"""
[agent]
hostname = "e2e-host"
data_dir = "data"
{host}
[collector]
memory_interval_secs = {interval}
{only_collectors("memory")}
[analyzer]
enabled = ["threshold"]

[thresholds]
memory_percent = {memory_percent}

[alerting]
min_interval_secs = 3600

[alerting.webhook]
enabled = true
url = "{url}"
headers = {{ Authorization = "Bearer ${{E2E_TOKEN}}" }}
retry_count = 1
{extra}
"""


def test_webhook_alert_arrives_within_two_intervals_and_sigterm_stops(
    start_agent: object, http_receiver: HttpReceiver, host: str
) -> None:
    agent = start_agent(
        webhook_config(http_receiver.url + "/alerts", host), {"E2E_TOKEN": "tok-SECRET-e2e"}
    )  # type: ignore[operator]
    assert agent.wait_for_log("sysops-agent started", STARTUP_ALLOWANCE), agent.stderr
    started = time.monotonic()
    requests = http_receiver.wait_for(1, timeout=2 * INTERVAL)
    arrived_after = time.monotonic() - started
    assert requests, f"no POST within two intervals; stderr:\n{agent.stderr}"
    assert arrived_after <= 2 * INTERVAL
    body = requests[0].json()
    assert isinstance(body, dict)
    for field in (
        "hostname",
        "timestamp",
        "severity",
        "metric",
        "value",
        "threshold",
        "message",
        "labels",
    ):
        assert field in body
    assert body["hostname"] == "e2e-host" and body["metric"] == "memory_used_percent"
    assert body["threshold"] == 0.5 and body["value"] > 0.5 and body["severity"] == "warn"
    assert requests[0].headers["Authorization"] == "Bearer tok-SECRET-e2e"

    # It keeps firing, but min_interval_secs holds back the repeats: the absence of a
    # second POST over a further collection is the thing under test, so time passes here.
    time.sleep(INTERVAL + 0.5)
    assert len(http_receiver.requests) == 1

    code, took = agent.stop()
    assert code == 0 and took < 5.0
    assert "stopped" in agent.stderr
    assert "tok-SECRET-e2e" not in agent.stderr + agent.stdout
    assert "Traceback" not in agent.stderr


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def _listening_inodes() -> set[str]:
    """Inodes of TCP sockets in LISTEN and of bound UDP/raw sockets, system-wide."""
    found = set()
    for table in ("tcp", "tcp6", "udp", "udp6", "raw", "raw6"):
        path = Path("/proc/net") / table
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            cols = line.split()
            state, inode = cols[3], cols[9]
            if table.startswith("tcp") and state != "0A":
                continue
            found.add(inode)
    return found


def test_no_listening_socket_by_default(
    start_agent: object, http_receiver: HttpReceiver, host: str
) -> None:
    agent = start_agent(webhook_config(http_receiver.url + "/alerts", host), {"E2E_TOKEN": "x"})  # type: ignore[operator]
    assert http_receiver.wait_for(1, timeout=STARTUP_ALLOWANCE + 2 * INTERVAL)
    mine = _socket_inodes(agent.process.pid)
    assert mine, "expected at least the outgoing webhook connection"
    assert mine & _listening_inodes() == set()
    assert agent.stop()[0] == 0


def test_console_alert_with_the_demo_config(start_agent: object, host: str) -> None:
    # The demo as shipped, on the captured host: its other default thresholds (load,
    # CPU) cannot fire there, so the one alert is the demo's memory alert.
    demo = (
        (REPO / "config" / "demo-alert.toml")
        .read_text()
        .replace("[agent]\n", "[agent]\n" + host, 1)
    )
    assert host in demo
    agent = start_agent(demo)  # type: ignore[operator]
    agent.wait_for_output("FIRING", STARTUP_ALLOWANCE + 5)
    assert "memory_used_percent is " in agent.stdout and "above the warn level 0.5%" in agent.stdout
    assert agent.stop()[0] == 0


def test_sighup_applies_a_valid_config_and_keeps_running_on_a_bad_one(
    start_agent: object, http_receiver: HttpReceiver, tmp_path: Path, host: str
) -> None:
    agent = start_agent(
        webhook_config(http_receiver.url + "/first", host, memory_percent=99.9),
        {"E2E_TOKEN": "x"},
    )  # type: ignore[operator]
    assert agent.wait_for_log("sysops-agent started", STARTUP_ALLOWANCE), agent.stderr
    config = tmp_path / "config.toml"

    config.write_text("[thresholds]\nmemory_percent = 'high'\n")
    agent.process.send_signal(signal.SIGHUP)
    assert agent.wait_for_log("reload failed", 30), agent.stderr
    assert "thresholds.memory_percent: expected a number" in agent.stderr
    assert agent.process.poll() is None

    config.write_text(webhook_config(http_receiver.url + "/second", host, memory_percent=0.5))
    agent.process.send_signal(signal.SIGHUP)
    assert agent.wait_for_log("configuration reloaded", 30), agent.stderr
    requests = http_receiver.wait_for(1, timeout=2 * INTERVAL + 1)
    assert [r.path for r in requests] == ["/second"]
    assert agent.stop()[0] == 0


def test_a_reload_that_adds_a_remote_channel_opens_the_durable_outbox(
    start_agent: object, http_receiver: HttpReceiver, tmp_path: Path, host: str
) -> None:
    console_only = (
        f'[agent]\ndata_dir = "data"\n{host}[collector]\nmemory_interval_secs = {INTERVAL}\n'
        f'{only_collectors("memory")}[analyzer]\nenabled = ["threshold"]\n'
        "[thresholds]\nmemory_percent = 99.9\n[alerting.console]\nenabled = true\n"
    )
    agent = start_agent(console_only, {"E2E_TOKEN": "x"})  # type: ignore[operator]
    assert agent.wait_for_log("sysops-agent started", STARTUP_ALLOWANCE), agent.stderr
    outbox = tmp_path / "data" / "outbox.db"
    assert not outbox.exists()  # console only: nothing waits for a remote end

    (tmp_path / "config.toml").write_text(webhook_config(http_receiver.url + "/after", host))
    agent.process.send_signal(signal.SIGHUP)
    assert agent.wait_for_log("configuration reloaded", 30), agent.stderr
    requests = http_receiver.wait_for(1, timeout=2 * INTERVAL + 1)
    assert [r.path for r in requests] == ["/after"]
    assert outbox.exists()
    assert agent.stop()[0] == 0


def test_dead_endpoint_does_not_stop_the_agent_and_shutdown_is_bounded(
    start_agent: object, host: str
) -> None:
    # Nothing listens on port 9: every attempt fails; retries back off; SIGTERM still exits promptly.
    agent = start_agent(
        webhook_config("http://127.0.0.1:9/hook", host, interval=0.5).replace(
            "retry_count = 1", "retry_count = 10"
        ),
        {"E2E_TOKEN": "x"},
    )  # type: ignore[operator]
    assert agent.wait_for_log("retrying in", STARTUP_ALLOWANCE + 2 * INTERVAL), agent.stderr
    code, took = agent.stop()
    assert code == 0 and took < 5.0
    assert "not delivered before the" in agent.stderr


def test_broken_proc_file_is_counted_and_the_agent_goes_on(
    start_agent: object, tmp_path: Path
) -> None:
    # A hand-made /proc: the test moves the CPU counters itself.
    proc = tmp_path / "proc"
    proc.mkdir()
    (proc / "stat").write_text("cpu  100 0 100 700 100 0 0 0 0 0\n")
    (proc / "loadavg").write_text("0.5 0.4 0.3 1/100 200\n")
    (proc / "meminfo").write_text("MemTotal: garbage kB\n")
    agent = start_agent(  # type: ignore[operator]
        f'[agent]\nprocfs = "{proc}"\ndata_dir = "data"\n'
        f"[collector]\ncpu_interval_secs = 0.5\nmemory_interval_secs = 0.5\n"
        f'{only_collectors("cpu", "memory")}[analyzer]\nenabled = ["threshold"]\n'
        f"[thresholds]\ncpu_percent = 1\n[alerting.console]\nenabled = true\n"
    )
    assert agent.wait_for_log(
        "collector memory failed (1 so far): ParseError", STARTUP_ALLOWANCE
    ), agent.stderr
    # The file is repaired and the CPU counters move: both domains deliver again.
    (proc / "meminfo").write_text("MemTotal: 1000 kB\nMemFree: 500 kB\nMemAvailable: 400 kB\n")
    (proc / "stat").write_text("cpu  200 0 200 700 100 0 0 0 0 0\n")
    agent.wait_for_output("cpu_usage_percent is 100", 5)
    assert "cpu_usage_percent is 100%, above the critical level" in agent.stdout
    # The same error is logged once, not once per tick.
    assert agent.stderr.count("collector memory failed") == 1
    assert agent.stop()[0] == 0


def test_json_logs_are_one_object_per_line_and_scrubbed(tmp_path: Path, host: str) -> None:
    config = write_config(
        tmp_path, webhook_config("http://127.0.0.1:9/token-SECRET-in-url", host, interval=0.5)
    )
    err_path = tmp_path / "stderr"
    with err_path.open("w") as err:
        process = subprocess.Popen(
            agent_command("--config", str(config), "--log-format", "json", "--log-level", "debug"),
            cwd=tmp_path, env={**os.environ, "E2E_TOKEN": "x"},
            stdout=subprocess.DEVNULL, stderr=err,
        )  # fmt: skip
    try:
        # A failed delivery to the URL is the log line that could leak its secret.
        wait_until(lambda: "retrying in" in err_path.read_text(), STARTUP_ALLOWANCE + 2 * INTERVAL,
                   "a failed delivery in the log")  # fmt: skip
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=5)
    stderr = err_path.read_text()
    import json

    entries = [json.loads(line) for line in stderr.splitlines() if line.strip()]
    assert entries and all({"ts", "level", "logger", "message"} <= set(e) for e in entries)
    assert any("sysops-agent started" in e["message"] for e in entries)
    assert "token-SECRET-in-url" not in stderr


def test_unusable_data_dir_exits_1_with_a_message(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    config = write_config(tmp_path, f'[agent]\ndata_dir = "{blocker}/sub"\n')
    result = subprocess.run(
        agent_command("--config", str(config)), capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 1
    assert "cannot run" in result.stderr and "Traceback" not in result.stderr
