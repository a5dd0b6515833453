"""The log path against a hostile log writer (issue #20, findings 1-4 on the log side).

A local user who can write to an application log, or to a directory the agent
tails, must not be able to forge kernel alerts, flood the channels, freeze the
event loop, or have the agent (which reads with CAP_DAC_READ_SEARCH) leak a file
it cannot read.  Where the finding was made as an unprivileged user, the
attacker's steps run as `nobody` through setpriv.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import shutil
import subprocess
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from agent.config import parse_config_text
from agent.logs.positions import MAX_BYTES, Positions
from agent.logs.syslogfile import POLL_BUDGET, FileTail, SyslogSource
from agent.logs.watch import build_alerter, build_sources, kernel_trust
from agent.settings import Settings
from alerting.alert import Alert, Severity, Status
from analyzers.logpatterns import LogAlerter, LogLine, LogMatcher, build_patterns

NOBODY = 65534
as_nobody = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None,
    reason="needs root and setpriv to act as an unprivileged user",
)


def attacker(*argv: str) -> None:
    """Run one command as the unprivileged local user."""
    subprocess.run(
        ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--", *argv],
        check=True,
        env={"PATH": "/usr/bin:/bin"},
        timeout=60,
    )


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory the unprivileged user can traverse (pytest's tmp_path is 0700 root)."""
    path = Path(tempfile.mkdtemp(prefix="sysops-logsec-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def in_thread(call: Callable[[], object], timeout: float = 10.0) -> object:
    """Run `call`; fail (instead of hanging the suite) if it blocks."""
    result: list[object] = []
    thread = threading.Thread(target=lambda: result.append(call()), daemon=True)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), f"{call} blocked for more than {timeout} s"
    return result[0] if result else None


def settings_for(text: str) -> Settings:
    return parse_config_text(text, "test.toml").settings


XID = "Nov 21 10:00:00 gpu-01 kernel: [ 99.1] NVRM: Xid (PCI:0000:3b:00): 79, pid=1, name=x, GPU has fallen off the bus."


# -- finding 2: forged kernel messages ---------------------------------------------------------


@as_nobody
def test_forged_kernel_lines_in_a_world_writable_app_log_alert_nothing(
    shared_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app_log = shared_dir / "app.log"
    app_log.write_text("")
    app_log.chmod(0o666)  # as many application logs are
    syslog = shared_dir / "syslog"
    syslog.write_text("")
    settings = parse_config_text(
        f'[agent]\ndata_dir = "{shared_dir / "data"}"\n'
        f'[log_analyzer]\nsources = ["syslog"]\nsyslog_path = "{syslog}"\nfiles = ["{app_log}"]\n'
        '[[log_analyzer.custom_patterns]]\nname = "deploy"\npattern = "deploy (?P<app>\\\\w+) failed"\n'
        'severity = "warn"\n',
        "t.toml",
    ).settings
    positions = Positions(shared_dir / "data" / "log-positions.json")
    with caplog.at_level(logging.INFO, logger="agent.logs"):
        (source,) = build_sources(settings, positions)
    # No kmsg or journald configured: the system syslog file vouches for kernel lines, and says why.
    assert any(
        "kernel patterns apply" in r.message and str(syslog) in r.message for r in caplog.records
    )
    assert isinstance(source, SyslogSource)
    alerter = build_alerter(settings)
    alerts: list[Alert] = []

    def emit(line: LogLine) -> None:
        alerts.extend(alerter.process(line, time.time()))

    source.poll(emit)  # first start: positions at the end
    script = f"for i in $(seq 300); do echo '{XID}' >> {app_log}; done; " + (
        f"echo 'Nov 21 10:00:00 h ci[2]: deploy billing failed' >> {app_log}"
    )
    attacker("sh", "-c", script)
    while source.poll(emit):
        pass
    assert [a.metric for a in alerts] == ["log_deploy"]  # custom patterns still apply
    assert "writable by every user" in source.reason  # degraded, in the heartbeat
    # The same line in the system syslog file, with no kernel source: it is the kernel's.
    with syslog.open("a") as f:
        f.write(XID + "\n")
    source.poll(emit)
    assert alerts[-1].metric == "log_gpu_xid" and alerts[-1].severity is Severity.EMERGENCY


def test_syslog_kernel_lines_are_trusted_only_without_a_kernel_source(tmp_path: Path) -> None:
    fake_kmsg = tmp_path / "kmsg"
    fake_kmsg.write_text("")
    both = settings_for('[log_analyzer]\nsources = ["dmesg", "syslog"]\n')
    assert kernel_trust(both, fake_kmsg) == (False, f"the kernel log is read from {fake_kmsg}")
    trusted, why = kernel_trust(both, tmp_path / "missing")
    assert trusted and f"{tmp_path / 'missing'} is not readable" in why
    journald = settings_for(
        '[log_analyzer]\nsources = ["journald", "syslog"]\njournalctl_path = "sh"\n'
    )
    assert kernel_trust(journald) == (False, "the kernel log is read from journald")
    only_syslog = settings_for('[log_analyzer]\nsources = ["syslog"]\n')
    assert kernel_trust(only_syslog)[0]


# -- finding 1 (log side): storms bounded and fair ---------------------------------------------

MATCHER = LogMatcher(build_patterns())


def link_down(i: int) -> LogLine:
    return LogLine(f"e1000e 0000:00:19.0 e{i:06d}: NIC Link is Down", kernel=True)


def test_flood_control_one_summary_instead_of_n_alerts() -> None:
    alerter = LogAlerter(MATCHER, aggregate_secs=60, flood_limit=20)
    sent = [a for i in range(1000) for a in alerter.process(link_down(i), now=i * 0.01)]
    assert len(sent) == 20 and alerter.suppressed == 980
    assert alerter.flush(now=59) == []  # the window is still open
    (summary,) = alerter.flush(now=61)
    assert summary.status is Status.FIRING and summary.value == 980
    assert summary.message.startswith("980 more link down alerts in 1 min")
    assert "e000999" in summary.message  # the last line, as an example
    assert alerter.flush(now=200) == []  # said once
    assert len(alerter.process(link_down(5000), now=200)) == 1  # a new window


def test_a_different_pattern_or_a_higher_severity_always_gets_through() -> None:
    alerter = LogAlerter(MATCHER, aggregate_secs=60, flood_limit=5)
    for i in range(100):
        alerter.process(link_down(i), now=1)
        alerter.process(
            LogLine(f"NVRM: Xid (PCI:0000:{i:02x}:00): 13, Graphics Exception", True), now=1
        )
    ext4 = alerter.process(LogLine("EXT4-fs error (device sda1): ext4_find_entry: x", True), now=2)
    assert [a.metric for a in ext4] == ["log_fs_error"]
    xid79 = alerter.process(
        LogLine("NVRM: Xid (PCI:0000:3b:00): 79, GPU has fallen off the bus.", True), now=2
    )
    assert [(a.metric, a.severity) for a in xid79] == [("log_gpu_xid", Severity.EMERGENCY)]
    # A window that ends inside process() (no flush in between) still gives its summary.
    later = alerter.process(link_down(10_000), now=100)
    assert [a.labels for a in later] == [(("flood", "link down"),), (("interface", "e010000"),)]


def test_per_identity_tables_are_bounded_and_link_up_still_resolves() -> None:
    alerter = LogAlerter(MATCHER, aggregate_secs=60, flood_limit=10_000, max_open=100)
    for i in range(5000):
        alerter.process(link_down(i), now=0)
    assert len(alerter._open) == 100 and alerter.evicted == 4900
    (up,) = alerter.process(
        LogLine("e1000e 0000:00:19.0 e004999: NIC Link is Up 1000 Mbps", True), now=1
    )
    assert up.status is Status.RESOLVED
    assert (
        alerter.process(LogLine("e1000e 0000:00:19.0 e000001: NIC Link is Up", True), now=1) == []
    )


def test_a_100k_line_storm_in_bounded_time_and_memory_with_the_loop_responsive(
    tmp_path: Path,
) -> None:
    log_file = tmp_path / "syslog"
    log_file.write_text("")
    source = SyslogSource([log_file], Positions(tmp_path / "pos.json"), poll_secs=0.05,
                          kernel_paths=[log_file])  # fmt: skip
    alerter = LogAlerter(MATCHER, aggregate_secs=60)
    alerts: list[Alert] = []
    storm = "".join(
        f"Nov 21 10:00:00 h kernel: e1000e: e{i:06d} NIC Link is Down\n" for i in range(100_000)
    ).encode()

    async def scenario() -> tuple[float, float]:
        loop = asyncio.get_running_loop()
        task = asyncio.create_task(source.run(lambda line: alerts.extend(alerter.process(line, 0))))
        while not source.tails[0]._fd:  # started, at the end of the empty file
            await asyncio.sleep(0.01)
        beats: list[float] = []
        walls: list[float] = []

        async def heartbeat() -> None:
            # In the loop thread's CPU time: how long work on the loop held it (in wall time
            # a busy machine also counts the time other processes had the CPU); the wall
            # time too, for a generous bound (a synchronous wait shows only there).
            while True:
                beats.append(time.thread_time())
                walls.append(loop.time())
                await asyncio.sleep(0.005)

        beating = asyncio.create_task(heartbeat())
        started = loop.time()
        log_file.write_bytes(storm)
        deadline = started + 60
        while alerter.lines < 100_000 and loop.time() < deadline:
            await asyncio.sleep(0.01)
        elapsed = loop.time() - started
        beating.cancel()
        task.cancel()
        cancelled_at, cancelled_cpu = loop.time(), time.thread_time()
        with pytest.raises(asyncio.CancelledError):
            await task
        # SIGTERM is a cancel: it goes through at once, neither working through what is left
        # (CPU time on the loop) nor waiting for anything (wall time, generous for a busy CI).
        assert time.thread_time() - cancelled_cpu < 1.0
        assert loop.time() - cancelled_at < 5.0
        gaps = [b - a for a, b in itertools.pairwise(beats)]
        wall_gap = max(b - a for a, b in itertools.pairwise(walls))
        assert wall_gap < 3.0, f"the event loop waited {wall_gap:.2f} s"
        return elapsed, max(gaps)

    elapsed, worst_gap = asyncio.run(scenario())
    assert alerter.lines == 100_000, "the storm was not read in time"
    assert len(alerts) == 20 and alerter.suppressed == 99_980
    assert len(alerter._open) == 20 and len(alerter._seen) == 0
    assert elapsed < 30, elapsed
    assert worst_gap < 1.0, f"the event loop was blocked for {worst_gap:.2f} s"


def test_a_storm_is_read_in_bounded_memory(tmp_path: Path) -> None:
    log_file = tmp_path / "syslog"
    log_file.write_text("")
    source = SyslogSource([log_file], Positions(tmp_path / "pos.json"), kernel_paths=[log_file])
    alerter = LogAlerter(MATCHER, aggregate_secs=60)
    source.poll(lambda line: None)
    with log_file.open("w") as f:
        for i in range(100_000):
            f.write(f"Nov 21 10:00:00 h kernel: e1000e: e{i:06d} NIC Link is Down\n")
    size = log_file.stat().st_size
    alerts: list[Alert] = []
    tracemalloc.start()
    try:
        while source.poll(lambda line: alerts.extend(alerter.process(line, 0))):
            pass
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert alerter.lines == 100_000 and len(alerts) == 20
    # The 5.3 MB storm is never held whole (reads are bounded), nor are its alerts or names.
    assert peak < size / 4, f"peak {peak / 1e6:.1f} MB for a {size / 1e6:.1f} MB storm"


# -- finding 3: replaced files ------------------------------------------------------------------


def test_a_fifo_in_place_of_a_tailed_file_neither_blocks_nor_is_read(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    log_file = tmp_path / "app.log"
    log_file.write_text("")
    tail = FileTail(log_file, Positions(tmp_path / "pos.json"))
    tail.poll()
    log_file.unlink()
    os.mkfifo(log_file)  # no writer: a blocking open would wait forever
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            assert in_thread(tail.poll) == []
    assert "is a FIFO" in tail.problem
    assert sum("is a FIFO" in r.message for r in caplog.records) == 1  # said once


def test_a_symlink_to_dev_zero_is_refused(tmp_path: Path) -> None:
    log_file = tmp_path / "app.log"
    log_file.symlink_to("/dev/zero")
    tail = FileTail(log_file, Positions(tmp_path / "pos.json"))
    assert in_thread(tail.poll) == [] and tail.bytes_read == 0
    assert "character device" in tail.problem


def test_a_huge_line_without_newline_is_cut_once_and_never_read_again(tmp_path: Path) -> None:
    log_file = tmp_path / "app.log"
    log_file.write_text("")
    tail = FileTail(log_file, Positions(tmp_path / "pos.json"), max_line=1000)
    tail.poll()
    size = 64 * 1024 * 1024
    with log_file.open("ab") as f:
        f.write(b"A" * 10)
        f.truncate(size)  # 64 MiB on one line: sparse zeros, no newline
    got: list[str] = []
    polls = 0
    while True:  # bounded slices, as the source runs them
        got += tail.poll()
        polls += 1
        if not tail.more:
            break
    assert polls >= size // POLL_BUDGET
    assert len(got) == 1 and len(got[0]) == 1000 and got[0].startswith("A" * 10)
    read = tail.bytes_read
    assert read <= size + POLL_BUDGET  # read once, not once per poll
    for _ in range(5):
        assert tail.poll() == []
    assert tail.bytes_read == read  # nothing new: nothing read
    with log_file.open("ab") as f:
        f.write(b"end of the long line\nnext line\n")
    assert tail.poll() == ["next line"]
    assert tail.bytes_read - read < 100


@as_nobody
def test_a_symlink_to_a_root_only_file_does_not_leak_it(shared_dir: Path) -> None:
    secret = shared_dir / "shadow"
    secret.write_text("root:SECRET-HASH:19000:0:99999:7:::\n")
    secret.chmod(0o600)
    app_dir = shared_dir / "app"  # the application's own log directory
    app_dir.mkdir()
    os.chown(app_dir, NOBODY, NOBODY)
    app_log = app_dir / "app.log"
    attacker("sh", "-c", f"echo started > {app_log}")
    tail = FileTail(app_log, Positions(shared_dir / "pos.json"))
    tail.poll()
    # The log "rotates" into a symlink to a file only root can read: read from 0 it would leak.
    attacker("sh", "-c", f"rm {app_log} && ln -s {secret} {app_log}")
    got = tail.poll() + tail.poll()
    assert not any("SECRET" in line for line in got), got
    assert "owned by uid 65534, neither root nor the file's owner" in tail.problem
    # A symlink to the attacker's own file is fine (nothing to leak); one owned by root is trusted.
    own = app_dir / "real.log"
    attacker("sh", "-c", f"echo mine > {own} && rm {app_log} && ln -s {own} {app_log}")
    attacker("sh", "-c", f"echo 'new line' >> {own}")
    assert tail.poll() == ["mine", "new line"] and tail.problem == ""
    trusted_link = shared_dir / "syslog"
    trusted_link.symlink_to(secret)
    root_tail = FileTail(trusted_link, Positions(shared_dir / "pos2.json"))
    root_tail.poll()
    with secret.open("a") as f:
        f.write("root's own line\n")
    assert root_tail.poll() == ["root's own line"]


def test_a_group_writable_log_is_flagged(tmp_path: Path) -> None:
    log_file = tmp_path / "app.log"
    log_file.write_text("")
    log_file.chmod(0o664)
    os.chown(log_file, -1, 4)  # a non-root group (adm on Debian)
    tail = FileTail(log_file, Positions(tmp_path / "pos.json"))
    tail.poll()
    assert tail.problem == "writable by group 4: its lines may be forged"
    log_file.chmod(0o644)
    tail.poll()
    assert tail.problem == ""
    log_file.chmod(0o646)  # made writable while tailed
    tail.poll()
    assert tail.problem == "writable by every user: its lines may be forged"


# -- finding 4: log-positions.json in data_dir ---------------------------------------------------


@as_nobody
def test_a_fifo_planted_as_the_positions_file_is_ignored(shared_dir: Path) -> None:
    data = shared_dir / "data"
    data.mkdir()
    data.chmod(0o777)  # the finding: a world-writable data_dir
    path = data / "log-positions.json"
    attacker("mkfifo", str(path))
    positions = in_thread(lambda: Positions(path))
    assert isinstance(positions, Positions) and positions.get("kmsg") is None
    positions.set("kmsg", {"seq": 1})
    in_thread(positions.save)
    assert Positions(path).get("kmsg") == {"seq": 1}  # replaced by a regular file


def test_positions_file_symlinks_and_oversize_are_not_followed(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_text('{"kmsg": {"seq": 42}}')
    path = tmp_path / "log-positions.json"
    path.symlink_to(elsewhere)
    positions = Positions(path)
    assert positions.get("kmsg") is None  # not read through the link
    positions.set("kmsg", {"seq": 7})
    positions.save()
    assert elsewhere.read_text() == '{"kmsg": {"seq": 42}}'  # not written through it either
    assert not path.is_symlink() and Positions(path).get("kmsg") == {"seq": 7}
    path.unlink()
    path.symlink_to("/dev/zero")
    assert in_thread(lambda: Positions(path).get("kmsg")) is None
    path.unlink()
    path.write_text('{"kmsg": 1, "pad": "' + "x" * MAX_BYTES + '"}')
    assert Positions(path).get("kmsg") is None  # over the bound: ignored, not loaded


def test_a_planted_temp_file_is_neither_reused_nor_written_through(tmp_path: Path) -> None:
    path = tmp_path / "log-positions.json"
    victim = tmp_path / "victim"
    victim.write_text("untouched")
    # The temp name of earlier versions was predictable: .NAME.PID.tmp.
    (tmp_path / f".log-positions.json.{os.getpid()}.tmp").symlink_to(victim)
    os.mkfifo(tmp_path / ".log-positions.json.tmp")
    positions = Positions(path)
    positions.set("a", 1)
    in_thread(positions.save)
    assert victim.read_text() == "untouched" and Positions(path).get("a") == 1
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")) == [
        f".log-positions.json.{os.getpid()}.tmp",
        ".log-positions.json.tmp",
    ]  # nothing of ours left behind
