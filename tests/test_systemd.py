"""systemd integration: sd_notify messages on a socket the test creates, and the hardened unit."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from agent.config import parse_config_text
from agent.runtime import Agent
from common.notify import Notifier
from tests.conftest import REPO, agent_command, hermetic_agent_keys, only_collectors, write_config


def receiver(path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(0.2)
    return sock


def drain(sock: socket.socket, seconds: float) -> list[tuple[float, str]]:
    got = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            text = sock.recv(4096).decode()
            got.append((time.monotonic(), text))  # stamped on arrival, not when recv() began
        except TimeoutError:
            continue
    return got


def receive_until(
    sock: socket.socket,
    done: Callable[[list[tuple[float, str]]], bool],
    timeout: float,
    what: str,
    got: list[tuple[float, str]] | None = None,
) -> list[tuple[float, str]]:
    """Collect datagrams until `done(all so far)` holds; fail after `timeout` seconds."""
    got = [] if got is None else got
    deadline = time.monotonic() + timeout
    while not done(got):
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}; got {got}")
        got += drain(sock, 0.2)
    return got


def _watchdogs(messages: list[tuple[float, str]]) -> int:
    return sum(text == "WATCHDOG=1" for _, text in messages)


@pytest.mark.e2e
def test_ready_status_watchdog_and_stopping_from_a_running_agent(tmp_path: Path) -> None:
    sock = receiver(tmp_path / "notify.sock")
    config = write_config(
        tmp_path,
        f'[agent]\ndata_dir = "data"\n{hermetic_agent_keys(tmp_path)}[collector]\n'
        f"cpu_interval_secs = 0.5\nmemory_interval_secs = 0.5\n{only_collectors('cpu', 'memory')}",
    )
    env = {**os.environ, "NOTIFY_SOCKET": str(tmp_path / "notify.sock"), "WATCHDOG_USEC": "400000"}
    agent = subprocess.Popen(
        agent_command("--config", str(config)),
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        # Pings every WATCHDOG_USEC / 2 (0.2 s) and a STATUS update after READY.
        messages = receive_until(
            sock,
            lambda got: _watchdogs(got) >= 4 and any(t.startswith("STATUS=") for _, t in got[1:]),
            20,
            "four watchdog pings and a status update",
        )
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(timeout=10) == 0
        sock.setblocking(False)  # the agent is gone: whatever it sent is queued on the socket
        while True:
            try:
                messages.append((time.monotonic(), sock.recv(4096).decode()))
            except BlockingIOError:
                break
    finally:
        sock.close()
    texts = [text for _, text in messages]
    assert texts[0].startswith("READY=1\nSTATUS=") and "collectors" in texts[0]
    watchdogs = [t for t, text in messages if text == "WATCHDOG=1"]
    assert len(watchdogs) >= 4
    assert any(text.startswith("STATUS=") for text in texts[1:])
    assert texts[-1] == "STOPPING=1"


@pytest.mark.e2e
def test_a_blocked_event_loop_stops_the_watchdog_pings(tmp_path: Path) -> None:
    import threading

    sock = receiver(tmp_path / "notify.sock")
    agent = Agent(parse_config_text(f'[agent]\ndata_dir = "{tmp_path / "data"}"\n', "t.toml"))
    agent.notifier = Notifier(
        {"NOTIFY_SOCKET": str(tmp_path / "notify.sock"), "WATCHDOG_USEC": "400000"}
    )
    received: list[tuple[float, str]] = []
    done = threading.Event()

    def read() -> None:  # timestamps arrivals while the event loop runs (or is stuck)
        while not done.is_set():
            received.extend(drain(sock, 0.2))

    reader = threading.Thread(target=read)
    reader.start()
    blocked: list[float] = []

    def pinged_since(moment: float) -> bool:
        return any(t > moment and text == "WATCHDOG=1" for t, text in list(received))

    async def until_pinged_since(moment: float) -> None:
        deadline = time.monotonic() + 10
        while not pinged_since(moment):
            assert time.monotonic() < deadline, f"no watchdog ping after {moment}: {received}"
            await asyncio.sleep(0.02)

    async def scenario() -> None:
        task = asyncio.create_task(agent._systemd())
        await until_pinged_since(0.0)
        blocked.append(time.monotonic())
        time.sleep(0.8)  # the loop is stuck for four ping periods: nothing can ping
        blocked.append(time.monotonic())
        await until_pinged_since(blocked[1] + 0.05)
        task.cancel()

    try:
        asyncio.run(scenario())
    finally:
        done.set()
        reader.join(timeout=5)
        sock.close()
    pings = [t for t, text in received if text == "WATCHDOG=1"]
    assert any(t < blocked[0] for t in pings) and any(t > blocked[1] + 0.05 for t in pings)
    assert not any(blocked[0] + 0.05 < t < blocked[1] - 0.05 for t in pings)


def test_a_status_quoting_a_hostile_name_stays_one_assignment(tmp_path: Path) -> None:
    """A tailed file replaced by a symlink to a FIFO named "x\nWATCHDOG=trigger": its refusal
    is a degraded reason, and the reason is in STATUS=.  A newline there would end the
    assignment; systemd would read WATCHDOG=trigger and abort the agent, every 15 s."""
    address = str(tmp_path / "notify")
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind(address)
    receiver.settimeout(5)
    try:
        notifier = Notifier({"NOTIFY_SOCKET": address})
        notifier.status("degraded: app.log -> x\nWATCHDOG=trigger\nSTOPPING=1\r\x1b[2J")
        status = receiver.recv(65536).decode()
        notifier.ready("x" * 5000)
        ready = receiver.recv(65536).decode()
        notifier.status("degraded: app.log -> x\udcff is a FIFO")  # a name that is not UTF-8
        odd = receiver.recv(65536).decode()
    finally:
        receiver.close()
    assert status.splitlines() == [
        "STATUS=degraded: app.log -> x\\x0aWATCHDOG=trigger\\x0aSTOPPING=1\\x0d\\x1b[2J"
    ]
    assert ready.splitlines()[0] == "READY=1" and len(ready.splitlines()) == 2
    assert len(ready.splitlines()[1]) <= len("STATUS=") + 1024
    assert odd == "STATUS=degraded: app.log -> x\\udcff is a FIFO"  # sent, not an exception


def test_notifier_is_a_no_op_without_systemd() -> None:
    notifier = Notifier({})
    assert not notifier.enabled and notifier.watchdog_secs is None
    notifier.ready("x")  # nothing to send to, nothing raised
    abstract = Notifier(
        {
            "NOTIFY_SOCKET": "@/org/freedesktop/systemd1/notify",
            "WATCHDOG_USEC": "30000000",
            "WATCHDOG_PID": "1",
        }
    )
    assert (
        abstract.address.startswith("\0") and abstract.watchdog_secs is None
    )  # the watchdog is for another pid


@pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed"
)
def test_unit_is_hardened_and_valid() -> None:
    result = subprocess.run(
        [str(REPO / "tools/check_systemd_unit.sh")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "exposure within 2.0, verify clean" in result.stdout


@pytest.mark.e2e
def test_the_agent_runs_under_memory_deny_write_execute(tmp_path: Path) -> None:
    """The unit sets MemoryDenyWriteExecute; the kernel's PR_SET_MDWE is the same policy."""
    # The real /proc and every collector: all of the agent's code paths run under MDWE.
    config = write_config(
        tmp_path, '[agent]\ndata_dir = "data"\n[collector]\ncpu_interval_secs = 0.5\n'
    )
    wrapper = (
        "import ctypes, runpy, sys\n"
        "if ctypes.CDLL(None, use_errno=True).prctl(65, 1, 0, 0, 0) != 0:\n"  # PR_SET_MDWE
        "    sys.exit(77)\n"
        "sys.argv = ['sysops-agent', '--config', sys.argv[1]]\n"
        "runpy.run_module('agent', run_name='__main__')\n"
    )
    sock = receiver(tmp_path / "notify.sock")
    env = {**os.environ, "NOTIFY_SOCKET": str(tmp_path / "notify.sock"), "PYTHONPATH": str(REPO)}
    agent = subprocess.Popen(
        [sys.executable, "-c", wrapper, str(config)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        got: list[tuple[float, str]] = []
        receive_until(sock, lambda got: bool(got) or agent.poll() is not None, 20,
                      "READY=1 or an exit", got)  # fmt: skip
        messages = [text for _, text in got]
        if agent.poll() == 77:
            pytest.skip("this kernel has no PR_SET_MDWE (Linux < 6.3)")
        agent.send_signal(signal.SIGTERM)
        _, stderr = agent.communicate(timeout=10)
    finally:
        if agent.poll() is None:
            agent.kill()
        sock.close()
    assert agent.returncode == 0, stderr
    assert messages and messages[0].startswith("READY=1"), stderr
