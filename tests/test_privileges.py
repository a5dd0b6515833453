"""Least privilege: what the agent can read with exactly its two capabilities, and says it cannot without."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.config import parse_config_text
from agent.privileges import capability_names, check_privileges, config_writable_by_us
from tests.conftest import REPO

NOBODY = 65534


def test_capability_mask_decodes_to_names() -> None:
    assert capability_names(0x0000000400000004) == ["CAP_DAC_READ_SEARCH", "CAP_SYSLOG"]
    assert capability_names(0) == []
    assert capability_names(1 << 45) == ["cap_45"]  # newer than this table: still shown


def test_a_config_in_a_directory_the_agent_may_write_is_flagged(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("")
    config.chmod(0o400)
    assert config_writable_by_us(str(config))  # the directory is ours: the file can be replaced


@pytest.mark.skipif(os.geteuid() != 0, reason="checks the root warning")
def test_running_as_root_is_warned_about(tmp_path: Path) -> None:
    settings = parse_config_text(f'[agent]\ndata_dir = "{tmp_path}"\n', "t.toml").settings
    report = check_privileges(settings, None)
    assert report.uid == 0 and any("running as root" in w for w in report.warnings)


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory the unprivileged user can traverse (pytest's tmp_path is 0700 root)."""
    path = Path(tempfile.mkdtemp(prefix="sysops-priv-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def files_owned_by(uid: int, roots: list[str], newer_than: float) -> set[str]:
    found = set()
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            for name in dirnames + filenames:
                path = os.path.join(dirpath, name)
                try:
                    st = os.lstat(path)
                except OSError:
                    continue
                if st.st_uid == uid and st.st_mtime >= newer_than:
                    found.add(path)
    return found


def run_unprivileged(shared: Path, capabilities: str) -> tuple[list[str], str]:
    """Run the agent as nobody until it has said READY and sent a status update after it.

    The real /proc on purpose: what an unprivileged agent cannot read there is the
    subject.  No channel is configured, so whatever the host's load fires goes nowhere.
    """
    data = shared / "data"
    data.mkdir()
    os.chown(data, NOBODY, NOBODY)
    config = shared / "config.toml"  # root-owned, read-only for the agent: as deployed
    config.write_text(
        f'[agent]\ndata_dir = "{data}"\n'
        "[collector]\ncpu_interval_secs = 0.5\nmemory_interval_secs = 0.5\n"
        "fd_interval_secs = 0.5\nprocess_interval_secs = 0.5\n"
    )
    config.chmod(0o644)
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(shared / "notify.sock"))
    (shared / "notify.sock").chmod(0o777)
    notify.settimeout(0.2)
    argv = [
        "setpriv",
        f"--reuid={NOBODY}",
        f"--regid={NOBODY}",
        "--clear-groups",
        f"--inh-caps=-all{capabilities}",
        f"--ambient-caps=-all{capabilities}",
        f"--bounding-set=-all{capabilities}",
        "--",
        sys.executable,
        "-m",
        "agent",
        "--config",
        str(config),
    ]
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": "/nonexistent",
        "PYTHONPATH": str(REPO),
        "NOTIFY_SOCKET": str(shared / "notify.sock"),
        "WATCHDOG_USEC": "1000000",
    }
    agent = subprocess.Popen(
        argv, cwd="/", env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    messages: list[str] = []
    deadline = time.monotonic() + 60  # start-up on a busy 2-core host takes seconds
    try:
        # A status after READY comes from the running loop, after collections.
        while not any(m.startswith("STATUS=") for m in messages[1:]):
            assert time.monotonic() < deadline, f"no READY and status update: {messages}"
            assert agent.poll() is None, agent.communicate()[1]
            try:
                messages.append(notify.recv(4096).decode())
            except TimeoutError:
                continue
        agent.send_signal(signal.SIGTERM)
        _, stderr = agent.communicate(timeout=30)
    finally:
        if agent.poll() is None:
            agent.kill()
        notify.close()
    assert agent.returncode == 0, stderr
    return messages, stderr


needs_root = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None,
    reason="needs root and setpriv to drop to an unprivileged user",
)


@pytest.mark.e2e
@needs_root
def test_with_its_two_capabilities_it_starts_collects_and_writes_only_its_data_dir(
    shared_dir: Path,
) -> None:
    started = time.time() - 1
    messages, stderr = run_unprivileged(shared_dir, ",+dac_read_search,+syslog")
    assert "capabilities: CAP_DAC_READ_SEARCH, CAP_SYSLOG" in stderr
    assert messages[0].startswith("READY=1")  # something was collected
    assert "other users'" not in stderr and "cannot read /dev/kmsg" not in stderr
    assert not any("writable by the agent" in line for line in stderr.splitlines())
    written = files_owned_by(NOBODY, [str(shared_dir), "/tmp", "/var/tmp", "/dev/shm"], started)
    # Other runs of this test on the host (parallel checkouts) have their own agent as nobody
    # writing in their own sysops-priv-* directory: those files are not this agent's.
    others = str(shared_dir.parent / "sysops-priv-")
    outside = {
        p
        for p in written
        if not p.startswith(str(shared_dir / "data"))
        and not (p.startswith(others) and not p.startswith(str(shared_dir)))
    }
    assert outside == set(), outside
    assert any(p.startswith(str(shared_dir / "data")) for p in written)


@pytest.mark.e2e
@needs_root
def test_without_capabilities_it_runs_and_reports_what_it_cannot_read(shared_dir: Path) -> None:
    messages, stderr = run_unprivileged(shared_dir, "")
    assert "capabilities: none" in stderr
    assert "cannot read other users' /proc/[pid]/fd" in stderr
    if os.path.exists("/dev/kmsg"):
        assert "cannot read /dev/kmsg" in stderr
    assert messages[0].startswith("READY=1")
    statuses = [m for m in messages if m.startswith("STATUS=")]
    assert statuses and "degraded:" in statuses[-1], statuses
