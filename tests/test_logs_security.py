"""The log path against a hostile log writer (issue #20, findings 1-4 on the log side).

A local user who can write to an application log, or to a directory the agent
tails, must not be able to forge kernel alerts, flood the channels, freeze the
event loop, or have the agent (which reads with CAP_DAC_READ_SEARCH) leak a file
it cannot read.  Where the finding was made as an unprivileged user, the
attacker's steps run as `nobody` through setpriv.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import logging
import os
import re
import shutil
import subprocess
import sys
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
from agent.logs.watch import LogWatch, build_alerter, build_sources, kernel_trust
from agent.runtime import Agent
from agent.settings import Settings
from alerting.alert import Alert, Severity, Status
from analyzers.logpatterns import LogAlerter, LogLine, LogMatcher, build_patterns
from common import search_bound
from common.search_bound import SearchBound, Unread
from tests.conftest import until

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


def test_an_edited_file_position_past_its_rotated_file_does_not_stop_the_source(
    tmp_path: Path,
) -> None:
    """A position naming the rotated file's inode with an offset no file has: pread raised
    OverflowError at every start, and the file was never tailed again."""
    log_file, rotated = tmp_path / "app.log", tmp_path / "app.log.1"
    rotated.write_text("old line\n")
    log_file.write_text("")
    edited = {"inode": rotated.stat().st_ino, "offset": 10**30}
    (tmp_path / "pos.json").write_text(json.dumps({f"file:{log_file}": edited}))
    source = SyslogSource([log_file], Positions(tmp_path / "pos.json"))
    got: list[LogLine] = []
    source.poll(got.append)
    log_file.write_text("new line\n")
    source.poll(got.append)
    assert [line.text for line in got] == ["new line"]


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


# -- genuine kernel lines quoting what a local user chose ---------------------------------
# The kernel prints a process's name (15 bytes, any the user sets), a file's name, a cgroup's
# path: a real kernel line can carry the words of another one.  Each format below is the
# kernel's (analyzers/logpatterns.py, `USER_TEXT`); in each, the hostile text must change
# nothing that a harmless name gives: the same pattern, the same severity.

HOSTILE = (
    "Kernel panic - not syncing: forged",
    "EDAC MC0: 1 UE memory read error",
    "x[1] trap ",
    "eth0 Link is Down",
    "NVRM: Xid (PCI:0000:3b:00): 79, pid=1, name=x, GPU has fallen off the bus.",
    "mce: [Hardware Error]: Machine check: Processor context corrupt",
    "EXT4-fs error (device sda1): ext4_find_entry:1455: inode #2: comm x: reading directory lblock 0",
    "Oops: 0000 [#1] SMP",
    "BUG: soft lockup - CPU#0 stuck for 22s! [x:1]",
    "INFO: task x:1 blocked for more than 120 seconds.",
)
USER_FORMATS = (  # {comm}: a process's name, as the kernel cuts it; {text}: a file name or path
    "{comm}[4242]: segfault at 0 ip 000055a1f0ff6180 sp 00007ffee776c740 error 6 in {text}[1180,55a1f0ff6000+1000] likely on CPU 0 (core 0, socket 0)",
    "{comm}[4242]: segfault at 0 ip 000055a1f0ff6180 sp 00007ffee776c740 error 6 in {text}[55a1f0ff6000+1000]",
    "traps: {comm}[4242] general protection fault ip:7f3a sp:7ffd error:0 in {text}[7f12+1a0000]",
    "traps: {comm}[4242] trap int3 ip:7f3a sp:7ffd error:0 in {text}[7f12+1a0000]",
    "{comm}[4242] general protection ip:7f3a sp:7ffd error:0 in {text}[7f12+1a0000]",
    "Out of memory: Killed process 4242 ({comm}) total-vm:1234kB, anon-rss:1kB, file-rss:0kB, shmem-rss:0kB, UID:1000 pgtables:40kB oom_score_adj:0",
    "Out of memory: Kill process 4242 ({comm}) score 912 or sacrifice child",
    "Memory cgroup out of memory: Killed process 4242 ({comm}) total-vm:1234kB, anon-rss:1kB",
    "oom_reaper: reaped process 4242 ({comm}), now anon-rss:0kB, file-rss:0kB, shmem-rss:0kB",
    "{comm} invoked oom-killer: gfp_mask=0x100cca(GFP_HIGHUSER_MOVABLE), order=0, oom_score_adj=0",
    "oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/user.slice/{text},task_memcg=/user.slice/{text},task={comm},pid=4242,uid=1000",
    "Task in /user.slice/{text} killed as a result of limit of /user.slice/{text}",
    "Memory cgroup stats for /user.slice/{text}:",
    "[   4242]  1000  4242    12345     6789   102400        0             0 {comm}",
    "{comm}: page allocation failure: order:4, mode:0x40cc0(GFP_KERNEL|__GFP_COMP), nodemask=(null)",
    "BUG: Bad page state in process {comm}  pfn:2f3b71",
    "BUG: Bad page map in process {comm}  pte:8000000b3e6a4067 pmd:0b3e6a5067",
    "XFS: {comm}(4242) possible memory allocation deadlock size 65552 in kmem_alloc (mode:0x250)",
    "BUG: scheduling while atomic: {comm}/4242/0x00000002",
    "in_atomic(): 1, irqs_disabled(): 0, non_block: 0, pid: 4242, name: {comm}",
    "BUG: soft lockup - CPU#3 stuck for 22s! [{comm}:4242]",
    "INFO: task {comm}:4242 blocked for more than 120 seconds.",
    "task:{comm:<15.15} state:D stack:0     pid:4242  ppid:1      flags:0x00004000",
    "{comm:<15.15} D    0  4242      1 0x00000000",
    "CPU: 3 PID: 4242 Comm: {comm} Not tainted 6.1.0-18-amd64 #1 Debian 6.1.76-1",
    "CPU: 3 UID: 1000 PID: 4242 Comm: {comm} Tainted: G        W          6.12.0 #1",
    "Pid: 4242, comm: {comm} Not tainted 3.10.0-1160.el7.x86_64 #1",
    "NVRM: Xid (PCI:0000:3b:00): 13, pid=4242, name={comm}, Graphics SM Warp Exception on (GPC 0, TPC 0, SM 0): Out Of Range Address",
    "Memory failure: 0x12345: Sending SIGBUS to {comm}:4242 due to hardware memory corruption",
    "MCE: Killing {comm}:4242 due to hardware memory corruption fault at 7f3a12345000",
    "x86/split lock detection: #AC: {comm}/4242 took a split_lock trap at address: 0x4011d6",
    "process '/tmp/{text}' started with executable stack",
    'ptrace attach of "{text}"[4242] was attempted by "{text}"[4243]',
    'audit: type=1400 audit(1700000000.123:42): apparmor="DENIED" operation="open" profile="x" name="/tmp/{text}" pid=4242 comm="{comm}"',
    "{comm} (4242) used greatest stack depth: 10664 bytes left",
    "{comm}: Corrupted page table at address 7f3a12345000",
    "cgroup: fork rejected by pids controller in /user.slice/{text}",
    "printk: {comm}: 12 output lines suppressed due to ratelimiting",
    "tmpfs: Unknown parameter '{text}'",
    "tmpfs: Bad value for '{text}'",
    "tmpfs: {text}: Non-blockdev passed as '{text}'",
    "tmpfs: Bad mount option {text}",
    'proc: unrecognized mount option "{text}" or missing value',
    'cgroup2: unknown option "{text}"',
    "overlayfs: failed to resolve '{text}': -2",
    "process '{comm}' launched '/tmp/{text}' with NULL argv: empty string added",
    "capability: warning: `{comm}' uses deprecated v2 capabilities in a way that may be insecure",
    "mmap: {comm} (4242) uses deprecated remap_file_pages() syscall. See Documentation/mm/remap_file_pages.rst.",
)  # fmt: skip


def verdict(matcher: LogMatcher, text: str) -> tuple[str, Severity] | None:
    found = matcher.match(LogLine(text, kernel=True, level=6))
    return None if found is None else (found.pattern.name, found.severity)


def as_kmsg_shows(name: str) -> str:
    """A name as /dev/kmsg prints it: a byte below 0x20, one from 0x7f and a backslash as
    \\xNN (the kernel's msg_add_ext_text); 15 bytes may be 60 characters."""
    return "".join(
        f"\\x{b:02x}" if b < 0x20 or b >= 0x7F or b == 0x5C else chr(b) for b in name.encode()
    )


@pytest.mark.parametrize("form", USER_FORMATS)
def test_a_name_a_user_chose_in_a_real_kernel_line_forges_no_alert(form: str) -> None:
    matcher = LogMatcher(build_patterns(segfaults=True))
    harmless = verdict(matcher, form.format(comm="java", text="libjvm.so"))
    for words in HOSTILE:
        for comm in (
            words[:15],
            as_kmsg_shows("\\" + words[:14]),
            as_kmsg_shows("\x01é" + words[:12]),
        ):
            line = form.format(comm=comm, text=words)
            assert verdict(matcher, line) == harmless, line


def test_a_hostile_line_is_matched_in_bounded_time() -> None:
    """A carrier that backtracked took 15.7 s for one 8 KB line on the event loop (a
    syslog file's kernel: lines are trusted when no kernel source is readable).  The
    bound is three orders of magnitude above what a line takes."""
    matcher = LogMatcher(build_patterns(segfaults=True))
    unit = "]: unhandled exception: , ESR 0x1,  in ["
    for line in (unit * 200 + " I/O error", "x[1]: segfault at 0 ip 0 sp 0 error 4 in " + "[" * 8000,
                 "traps: x[1] trap " + "a " * 4000, "ptrace attach of \"" + "\"[1]" * 2000,
                 "b" * 8000 + " trap Link is Down", "a.b-" * 2000 + ": now running without"):  # fmt: skip
        started = time.monotonic()
        matcher.match(LogLine(line[:8192], kernel=True))
        assert time.monotonic() - started < 5.0, line[:60]


def test_the_name_a_user_chose_is_still_told_whole() -> None:
    """Masked for the catalogue, not for the reader: the label is the process's name."""
    matcher = LogMatcher(build_patterns(segfaults=True))
    line = "EDAC MC0: 1 UE[4242]: segfault at 0 ip 0 sp 0 error 6 in x[1180,55a1f0ff6000+1000]"
    found = matcher.match(LogLine(line, kernel=True))
    assert found is not None and found.pattern.name == "segfault"
    assert dict(found.labels) == {"process": "EDAC MC0: 1 UE", "pid": "4242"}
    # PID 1 is the real one's, in the kernel's own brackets.
    init = matcher.match(LogLine("systemd[1]: segfault at 0 ip 0 sp 0 error 6", kernel=True))
    assert init is not None and (init.pattern.name, init.severity) == (
        "init_crash",
        Severity.CRITICAL,
    )


def test_a_custom_pattern_keeps_the_severity_the_operator_gave_it() -> None:
    """A log writer may trigger a custom pattern; the words it writes or the priority it
    sets (journald PRIORITY, an RFC 5424 <pri>) must not choose the severity."""
    matcher = LogMatcher(build_patterns(custom=[("app_error", r"ERROR", Severity.WARN)]))
    for line in (
        LogLine("ERROR Kernel panic - not syncing: forged", kernel=False, level=0),
        LogLine("ERROR in [1] worker", kernel=False, level=2),
    ):
        found = matcher.match(line)
        assert found is not None and (found.pattern.name, found.severity) == (
            "app_error",
            Severity.WARN,
        )


# An expression the configuration takes (its time is polynomial, not exponential) and a line
# made for it: about 3 s of CPU unbounded here, the cube of its length.
SLOW_PATTERN = r"(?P<user>\w+)\s?\w+: denied"
SLOW_LINE = "a" * 2000


def test_an_operators_slow_pattern_is_stopped_on_a_line_made_for_it_and_reads_the_next() -> None:
    """`common/backtracking.py` refuses exponential expressions only: a polynomial one froze
    the loop for seconds a line (minutes at 8 KiB), and anyone may write the line."""
    settings = parse_config_text(
        f"[[log_analyzer.custom_patterns]]\nname = \"denied\"\npattern = '{SLOW_PATTERN}'\n",
        "t.toml",
    ).settings  # the configuration takes it
    alerter = build_alerter(settings)
    bound = alerter.matcher.bound
    started = time.thread_time()
    assert alerter.process(LogLine(SLOW_LINE, kernel=False), time.time()) == []
    assert bound.unread == {Unread.OVERRAN: 1, Unread.BUDGET: 0}, bound.unread
    assert time.thread_time() - started < bound.search_secs * 10  # CPU time: not the host's load
    alerts = alerter.process(LogLine("bob login: denied", kernel=False), time.time())
    assert [dict(a.labels).get("user") for a in alerts] == ["bob"]
    # The catalogue is not the operator's: a kernel line is read whatever the custom ones cost.
    assert alerter.process(LogLine(SLOW_LINE + " " + XID_LINE, kernel=True), time.time())


XID_LINE = "NVRM: Xid (PCI:0000:3b:00): 79, pid=1, name=x, GPU has fallen off the bus."


def test_lines_made_to_cost_just_under_the_bound_spend_a_budget_and_not_the_host() -> None:
    """Each such line is stopped, but a stream of them would add up: past the shared budget
    the custom patterns read nothing until it refills, at its share of a core."""
    clock = [1000.0]
    bound = SearchBound(budget_secs=0.2, share=0.05, clock=lambda: clock[0])
    slow = re.compile(SLOW_PATTERN)
    results = [bound.search(slow, SLOW_LINE) for _ in range(20)]
    spent = results.index(Unread.BUDGET)
    assert 2 <= spent <= 5 and set(results[:spent]) == {Unread.OVERRAN}, results
    assert set(results[spent:]) == {Unread.BUDGET}, results  # not searched: no time taken
    assert bound.unread == {Unread.OVERRAN: spent, Unread.BUDGET: 20 - spent}
    assert bound.search(slow, "x: denied") is Unread.BUDGET
    clock[0] += 10  # 10 s at 5 % of a core: half a second, capped at the budget's 0.2 s
    found = bound.search(slow, "x y: denied")
    assert isinstance(found, re.Match) and found.group("user") == "x"


def test_ordinary_lines_never_spend_the_budget_however_many_a_busy_host_logs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Only what a search takes beyond an ordinary search's time is charged: a log server's
    tens of thousands of lines a second, or a backlog read at full speed, are read, each."""
    steps = itertools.count()
    monkeypatch.setattr(search_bound, "_cpu_time", lambda: next(steps) * 20e-6)  # 20 us each
    bound = SearchBound(budget_secs=0.01, clock=lambda: 1000.0)
    ordinary = re.compile(r"(?P<user>\w+) login: denied")
    assert all(bound.search(ordinary, "a line like most") is None for _ in range(10_000))
    assert bound.unread == {Unread.OVERRAN: 0, Unread.BUDGET: 0}


def test_a_search_is_stopped_by_its_own_cpu_time_not_the_other_threads() -> None:
    """The alarm counts the whole process's CPU: a collector's thread working beside a
    search (here key derivation, which leaves the GIL) stopped an ordinary one early, and the line
    went unread with the operator's expression blamed.  (Without a free core the thread
    beside does not run alongside, and this passes either way.)"""
    slow, line = re.compile(SLOW_PATTERN), "a" * 400
    done = threading.Event()

    def beside() -> None:
        while not done.is_set():  # calls of a few tenths of a second without the GIL
            hashlib.pbkdf2_hmac("sha256", b"key", b"salt", 2_000_000)

    def cpu_of_one_search() -> float:
        started = time.thread_time()
        assert slow.search(line) is None
        return time.thread_time() - started  # tens of milliseconds here

    worker = threading.Thread(target=beside)
    worker.start()
    try:
        # What a search costs its thread with the other one beside it (a busy sibling core
        # can slow it), with room: the process's CPU grows about twice as fast meanwhile.
        cost = max(cpu_of_one_search() for _ in range(3))
        bound = SearchBound(search_secs=cost * 1.7, budget_secs=60.0)
        outcomes = [bound.search(slow, line) for _ in range(10)]
    finally:
        done.set()
        worker.join()
    assert outcomes == [None] * 10, (cost, bound.unread)


def test_a_search_off_the_main_thread_is_charged_to_the_budget() -> None:
    """Only the main thread can take the alarm: elsewhere a search runs to its end, and
    what it cost is spent all the same."""
    bound = SearchBound(budget_secs=0.1, clock=lambda: 1000.0)
    outcome: list[object] = []
    worker = threading.Thread(
        target=lambda: outcome.append(bound.search(re.compile(SLOW_PATTERN), "a" * 900))
    )
    worker.start()
    worker.join()
    assert outcome == [None]
    assert bound.search(re.compile("x"), "x") is Unread.BUDGET


FOREIGN_ALARM = f"""
import re, signal, sys
from common.search_bound import SearchBound, Unread
fired = []
signal.signal(signal.SIGVTALRM, lambda *_: fired.append(1))  # a profiler's, say
bound = SearchBound(budget_secs=0.01, clock=lambda: 1000.0)  # no refill, however slow the host
print(bound.search(re.compile({SLOW_PATTERN!r}), "a" * 900))
print(bound.search(re.compile("x"), "x"))
print(signal.getsignal(signal.SIGVTALRM).__name__, signal.getitimer(signal.ITIMER_VIRTUAL), fired)
"""


@pytest.mark.e2e
def test_someone_elses_cpu_alarm_is_left_alone_and_the_search_is_charged() -> None:
    """A SIGVTALRM handler the agent did not install (a profiler's) is kept: searches are not
    stopped then (the alarm is not ours to take), and what each cost is still charged."""
    ran = subprocess.run(
        [sys.executable, "-c", FOREIGN_ALARM], capture_output=True, text=True, timeout=60,
        cwd=Path(__file__).resolve().parents[1], check=True,
    )  # fmt: skip
    assert ran.stdout.splitlines() == ["None", "Unread.BUDGET", "<lambda> (0.0, 0.0) []"]


def test_lines_a_custom_pattern_did_not_read_are_said_and_logged_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """In the heartbeat's degraded reasons and the agent's own metric while it matters, and in
    the log once an hour: a storm of such lines is one warning."""
    loaded = parse_config_text(
        f'[agent]\ndata_dir = "{tmp_path}"\n[log_analyzer]\nsources = ["syslog"]\n'
        f'syslog_path = "{tmp_path / "syslog"}"\n'
        f"[[log_analyzer.custom_patterns]]\nname = \"denied\"\npattern = '{SLOW_PATTERN}'\n",
        "t.toml",
    )
    agent = Agent(loaded)
    watch = agent.logs = LogWatch(loaded.settings, lambda _alert: None)
    assert watch.unread() == "" and agent.log_lines_unread() == {"overran": 0, "budget": 0}
    with caplog.at_level(logging.WARNING, logger="agent.logs.watch"):
        for _ in range(3):
            watch.emit(LogLine(SLOW_LINE, kernel=False))
            watch.tick(time.time())
    said = watch.unread()
    assert said.startswith(
        "custom log patterns did not read every line: 3 search(es) stopped at 50 ms"
    )
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings  # once, not at each tick
    assert warnings[0].startswith("custom log patterns did not read every line: 1 search(es)")
    assert said in agent.health()[0]
    assert agent.log_lines_unread() == {"overran": 3, "budget": 0}


CRASH = """
import ctypes, sys
libc = ctypes.CDLL(None)
libc.prctl(15, sys.argv[1].encode(), 0, 0, 0)  # PR_SET_NAME: the process's name, as chosen
ctypes.CDLL(sys.argv[2]).strlen(ctypes.c_void_p(0))  # a fault in a library the user named
"""


@as_nobody
def test_a_local_user_cannot_forge_kernel_alerts_through_a_real_segfault(
    shared_dir: Path, tmp_path: Path
) -> None:
    """The finding as it was made: an unprivileged user names a process "EDAC MC0: 1 UE" and
    a copy of libc "x Kernel panic - not syncing: forged", and crashes in it.  The kernel
    prints one genuine line with both; read from /dev/kmsg by the agent's own source, it
    gives no alert by default, and with segfaults on, the segfault it is."""
    import ctypes.util

    if (
        not os.access("/dev/kmsg", os.R_OK)
        or Path("/proc/sys/debug/exception-trace").read_text().strip() == "0"
    ):
        pytest.skip("needs /dev/kmsg and the kernel's report of unhandled signals")
    from agent.logs.kmsg import KmsgSource

    libc = Path("/lib/x86_64-linux-gnu/libc.so.6")
    found = ctypes.util.find_library("c")
    if not libc.exists() and found:
        libc = Path(found)
    lib = shared_dir / "x Kernel panic - not syncing: forged"
    shutil.copy(libc, lib)
    script = shared_dir / "crash.py"
    script.write_text(CRASH)
    for path in (lib, script):
        path.chmod(0o755)
    lines: list[LogLine] = []
    source = KmsgSource(Positions(tmp_path / "positions.json"), Path("/proc"))

    async def scenario() -> int:
        task = asyncio.create_task(source.run(lines.append))
        # Past its first read (it saves where the log ends): from here on it follows new records.
        await until(lambda: source.positions.get("kmsg") is not None, 10, "the source's start")
        child = await asyncio.create_subprocess_exec(
            "setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--",
            sys.executable, str(script), "EDAC MC0: 1 UE", str(lib),
        )  # fmt: skip
        pid = child.pid
        assert await asyncio.wait_for(child.wait(), 30) == -11  # SIGSEGV
        await until(lambda: any(f"[{pid}]: segfault at" in line.text for line in lines), 20,
                    "the kernel's segfault line")  # fmt: skip
        task.cancel()
        return pid

    pid = asyncio.run(scenario())
    crash = next(line for line in lines if f"[{pid}]: segfault at" in line.text)
    assert crash.kernel and "Kernel panic - not syncing" in crash.text and "EDAC MC0" in crash.text
    assert build_alerter(Settings()).process(crash, now=time.time()) == []
    alert = build_alerter(settings_for("[log_analyzer]\nsegfaults = true\n")).process(
        crash, now=time.time()
    )
    assert [(a.metric, a.severity, dict(a.labels)["process"]) for a in alert] == [
        ("log_segfault", Severity.INFO, "EDAC MC0: 1 UE")
    ]


@as_nobody
def test_a_local_user_cannot_forge_kernel_alerts_through_a_mount_option(tmp_path: Path) -> None:
    """A second reader's finding: in a user and mount namespace of their own, any user may
    mount tmpfs, and the kernel quotes a refused option back in a line of its own
    ("tmpfs: Unknown parameter '...'"), at err.  An option "Kernel panic - not syncing: x"
    was an emergency, "EDAC MC0: 1 UE" critical; read from /dev/kmsg, nothing now."""
    if not os.access("/dev/kmsg", os.R_OK) or shutil.which("unshare") is None:
        pytest.skip("needs /dev/kmsg and unshare(1)")
    as_user = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--",
               "unshare", "--user", "--map-root-user", "--mount", "--"]  # fmt: skip
    probe = subprocess.run([*as_user, "true"], capture_output=True, text=True, timeout=60)
    if probe.returncode != 0:  # the attack needs them: without, there is nothing to forge with
        pytest.skip(f"no user namespaces for unprivileged users here: {probe.stderr.strip()}")
    from agent.logs.kmsg import KmsgSource

    forged = ("Kernel panic - not syncing: forged", "EDAC MC0: 1 UE memory read error on DIMM_A1")
    lines: list[LogLine] = []
    source = KmsgSource(Positions(tmp_path / "positions.json"), Path("/proc"))

    async def scenario() -> None:
        task = asyncio.create_task(source.run(lines.append))
        await until(lambda: source.positions.get("kmsg") is not None, 10, "the source's start")
        for words in forged:
            mount = await asyncio.create_subprocess_exec(
                *as_user, "mount", "-t", "tmpfs", "-o", words, "none", "/tmp",
                stderr=asyncio.subprocess.DEVNULL,
            )  # fmt: skip
            if await asyncio.wait_for(mount.wait(), 30) == 0:
                pytest.fail(f"tmpfs took the option {words!r}")
        try:  # user namespaces work here (probed): the kernel's lines must come
            await until(lambda: sum("Unknown parameter" in x.text for x in lines) >= 2, 20,
                        "the kernel's two lines")  # fmt: skip
        finally:
            task.cancel()

    asyncio.run(scenario())
    quoted = [line for line in lines if "Unknown parameter" in line.text]
    assert [line.kernel for line in quoted] == [True, True]
    assert all(words in "".join(x.text for x in quoted) for words in forged)
    alerter = build_alerter(Settings())
    now = time.time()
    assert [alerter.process(line, now=now) for line in quoted] == [[], []]
    assert alerter.flush(now + 3600) == []  # nor a report held for its other lines
