"""Hostile input on the delivery side (#20): storms, floods, planted files, a broken outbox.

Each test reproduces a finding of the red-team pass on the router, the channel
workers, the outbox or the files in data_dir, with real parts: the console
channel writing to a buffer, SQLite files in a temporary data_dir, real FIFOs
and symlinks.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import errno
import io
import json
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Coroutine, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pytest

from alerting.alert import Alert, Severity, Status
from alerting.channels.base import DeliveryError, OneMessage
from alerting.channels.console import ConsoleChannel
from alerting.delivery import ChannelWorker
from alerting.outbox import MemoryOutbox, SqliteOutbox
from alerting.router import MAX_TRACKED, Router
from alerting.silences import MAX_SILENCE_BYTES, SilenceFile, parse_matcher
from common.datafile import UnsafeFileError
from tests.conftest import wait_until

T = TypeVar("T")

MAX_LAG = 0.5  # seconds the event loop may be held at most, storm or not
MAX_WALL_LAG = 3.0  # wall time, generous for a busy CI machine: a synchronous wait


def link_down(i: int, t: float, severity: Severity = Severity.WARN) -> Alert:
    """One of a storm of `NIC Link is Down` lines, each with another interface name."""
    return Alert(analyzer="log", metric="log_link_down", labels=(("device", f"e{i:06d}"),), status=Status.FIRING, severity=severity,
                 value=1.0, threshold=None, message=f"e{i:06d}: NIC Link is Down", timestamp=t)  # fmt: skip


def event(metric: str, i: int, t: float, severity: Severity = Severity.WARN) -> Alert:
    """A one-off log event (an OOM kill with its pid, an EXT4 error)."""
    return Alert(analyzer="log", metric=metric, labels=(("pid", str(i)),), status=Status.FIRING, severity=severity, value=1.0, threshold=None,
                 message=f"{metric} {i}", timestamp=t, context={"event": True})  # fmt: skip


class LagProbe:
    """Ticks every few milliseconds and keeps the longest gap, in the loop thread's CPU
    time: how long work on the loop held it.  (In wall time a busy machine also counts the
    time the other processes had the CPU: 0.6 s once in CI with nothing held.)  The wall
    time's longest gap is kept too, for a generous bound: a loop blocked without using
    the CPU (a synchronous wait) shows only there."""

    def __init__(self) -> None:
        self.max_gap = 0.0
        self.max_wall_gap = 0.0
        self.ticks = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        last, last_wall = time.thread_time(), time.monotonic()
        while True:
            await asyncio.sleep(0.005)
            now, wall = time.thread_time(), time.monotonic()
            self.max_gap = max(self.max_gap, now - last)
            self.max_wall_gap = max(self.max_wall_gap, wall - last_wall)
            last_wall = wall
            self.ticks += 1
            last = now

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


def bounded(action: Callable[[], T], timeout: float) -> T:
    """Run `action` in a thread: code that hangs or never yields (the bugs these tests are
    about) fails the test after `timeout` instead of hanging the suite."""
    result: list[T] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            result.append(action())
        except BaseException as exc:  # handed to the test's thread
            errors.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        pytest.fail(f"did not finish in {timeout:g} s: held or hung")
    if errors:
        raise errors[0]
    return result[0]


def run_bounded(scenario: Callable[[], Coroutine[Any, Any, T]], timeout: float) -> T:
    """The scenario on its own event loop, bounded in time."""
    return bounded(lambda: asyncio.run(scenario()), timeout)


# -- finding 1: a storm freezes the agent ----------------------------------------------------


def test_a_storm_of_100000_distinct_alerts_keeps_the_event_loop_responsive() -> None:
    async def scenario() -> tuple[float, float, int, Router, ChannelWorker, str]:
        stream = io.StringIO()
        worker = ChannelWorker(ConsoleChannel(stream=stream), max_age=float("inf"))
        worker.start()
        router = Router("h", [worker], min_interval_secs=300, dedup_window_secs=600)
        probe = LagProbe()
        probe.start()
        loop = asyncio.get_running_loop()
        started = loop.time()
        base = time.time()
        for i in range(100_000):
            router.route(link_down(i, base + i * 0.001))
            if i % 200 == 199:  # the log watcher yields between chunks of lines
                await asyncio.sleep(0)
                if probe.max_gap > MAX_LAG:
                    break  # the old bookkeeping: no need to wait minutes to know
        assert await worker.drain(60.0)
        elapsed = loop.time() - started
        await probe.stop()
        await worker.stop()
        assert probe.max_wall_gap < MAX_WALL_LAG, f"the loop waited {probe.max_wall_gap:.2f} s"
        return probe.max_gap, elapsed, probe.ticks, router, worker, stream.getvalue()

    max_gap, elapsed, ticks, router, worker, output = run_bounded(scenario, 120.0)
    assert max_gap < MAX_LAG, f"the event loop was held for {max_gap:.2f} s"
    assert elapsed < 60.0 and ticks > 0
    assert router.stats.received == 100_000  # every event routed, none dropped on the way
    assert len(router._tracks) <= MAX_TRACKED  # the table stays bounded
    # One group of alerts: half the hourly budget (30 of 60) goes out, the rest is counted
    # and folded into one digest that says how many.
    assert worker.stats.sent == 31 and worker.stats.sent - 1 + worker.stats.suppressed == 100_000
    assert output.count("\n") == 31
    assert "99970 alerts held back by the hourly budget" in output.splitlines()[-1]


def test_a_worker_working_through_a_backlog_of_100000_rows_yields_to_the_loop() -> None:
    async def scenario() -> tuple[float, ChannelWorker]:
        worker = ChannelWorker(ConsoleChannel(stream=io.StringIO()), max_age=float("inf"))
        base = time.time()
        for i in range(100_000):  # what a storm left in the outbox before the worker's turn
            worker.submit(link_down(i, base))
        probe = LagProbe()
        probe.start()
        while probe.ticks < 1:  # the probe measures from its first tick; then the worker starts
            await asyncio.sleep(0)
        worker.start()
        assert await worker.drain(60.0)
        await probe.stop()
        await worker.stop()
        assert probe.max_wall_gap < MAX_WALL_LAG, f"the loop waited {probe.max_wall_gap:.2f} s"
        return probe.max_gap, worker

    max_gap, worker = run_bounded(scenario, 120.0)
    assert max_gap < MAX_LAG, f"the event loop was held for {max_gap:.2f} s"
    assert worker.stats.sent - 1 + worker.stats.suppressed == 100_000  # one is the digest


def test_a_storm_with_inhibit_rules_configured_costs_no_scan_of_the_table() -> None:
    from alerting.silences import InhibitRule

    rule = InhibitRule(source=(("metric", "=", "gpu_up"),), target=(("metric", "=~", "gpu_.*"),),
                       equal=("gpu",))  # fmt: skip
    router = Router("h", [], inhibit_rules=[rule])
    gpu_down = Alert(analyzer="threshold", metric="gpu_up", labels=(("gpu", "0"),), status=Status.FIRING, severity=Severity.CRITICAL,
                     value=0.0, threshold=1.0, message="GPU 0 fell off the bus", timestamp=0.0)  # fmt: skip
    muted = Alert(analyzer="threshold", metric="gpu_temp", labels=(("gpu", "0"),), status=Status.FIRING, severity=Severity.WARN,
                  value=90.0, threshold=85.0, message="hot", timestamp=0.0)  # fmt: skip
    assert router.route(gpu_down) is not None and router.route(muted) is None

    def storm() -> float:
        started = time.monotonic()
        for i in range(100_000):
            router.route(link_down(i, float(i)))
        return time.monotonic() - started

    assert bounded(storm, 120.0) < 30.0
    assert router.stats.inhibited == 1  # the rule still holds for what it is about
    assert len(router._tracks) <= MAX_TRACKED


# -- finding 2: one noisy pattern starves the others; emergencies bypass without end -------------


class Recorder(OneMessage):
    name = "recorder"
    retry_count = 0
    groups = False
    pace_secs = 0.0
    send_resolved = True
    min_severity = Severity.INFO

    def __init__(self, fail_first: int = 0) -> None:
        self.sent: list[Alert] = []
        self.fail_first = fail_first

    async def send(self, alerts: Sequence[Alert]) -> None:
        if self.fail_first > 0:
            self.fail_first -= 1
            raise DeliveryError("the far side is away", retryable=True)
        self.sent.extend(alerts)

    async def close(self) -> None:
        pass


def deliver(alerts: Sequence[Alert], recorder: Recorder, **options: Any) -> ChannelWorker:
    async def scenario() -> ChannelWorker:
        worker = ChannelWorker(recorder, max_age=float("inf"), **options)
        for alert in alerts:
            worker.submit(alert)
        worker.start()
        assert await worker.drain(30.0)
        await worker.stop()
        return worker

    return run_bounded(scenario, 120.0)


def test_a_flood_of_one_pattern_leaves_room_for_others_and_for_a_worse_one() -> None:
    now = time.time()
    flood = [event("log_oom_kill", i, now) for i in range(100_000)]
    worse = event("log_oom_kill", 0, now, Severity.CRITICAL)
    ext4 = event("log_ext4_error", 1, now, Severity.CRITICAL)
    later = [event("log_segfault", i, now) for i in range(40)]
    recorder = Recorder()
    # More than the outbox's default max_rows (100,000): this test is about the budget.
    roomy = MemoryOutbox(max_rows=200_000)
    worker = deliver([*flood, worse, ext4, *later], recorder, max_per_hour=60, outbox=roomy)
    got = [(a.metric, a.severity) for a in recorder.sent]
    assert got.count(("log_oom_kill", Severity.WARN)) == 30  # half the budget, not all of it
    assert ("log_oom_kill", Severity.CRITICAL) in got  # more severe than anything of its group
    assert ("log_ext4_error", Severity.CRITICAL) in got  # another pattern gets through
    assert got.count(("log_segfault", Severity.WARN)) == 28  # what the budget had left
    assert worker.stats.suppressed == 100_000 - 30 + 40 - 28
    assert recorder.sent[30].context["suppressed"] == 100_000 - 30  # and it is said


def test_the_first_of_each_group_gets_through_a_spent_budget_but_not_without_end() -> None:
    now = time.time()
    alerts = [event(f"log_custom_{i}", i, now) for i in range(500)]
    recorder = Recorder()
    deliver(alerts, recorder, max_per_hour=60)
    # Twice the budget at most, however many groups; the rest is one digest.
    assert len(recorder.sent) == 121 and recorder.sent[-1].metric == "alerts_folded"
    assert recorder.sent[-1].context["folded"] == 380


def test_forged_emergencies_are_one_page_per_group_and_an_hour() -> None:
    now = time.time()
    xid = [event("log_gpu_xid", i, now, Severity.EMERGENCY) for i in range(300)]
    other = event("log_gpu_fallen_off_bus", 0, now, Severity.EMERGENCY)
    recorder = Recorder()
    worker = deliver([*xid, other], recorder, max_per_hour=60)
    assert [(a.metric, a.severity) for a in recorder.sent] == [
        ("log_gpu_xid", Severity.EMERGENCY),
        ("log_gpu_fallen_off_bus", Severity.EMERGENCY),
        ("alerts_folded", Severity.EMERGENCY),  # the digest of the 299 held back
    ]
    assert recorder.sent[2].context["folded"] == 299
    assert worker.stats.suppressed == 299
    assert recorder.sent[1].context["suppressed"] == 299


def test_what_the_budget_held_back_is_said_by_the_retry_of_a_message_that_failed() -> None:
    """The count rides on the alert admitted after them; that send failing (the far side
    away) must not lose it: the retry says it."""

    class FailsItsFirstSendOf(Recorder):
        def __init__(self, metric: str) -> None:
            super().__init__()
            self.metric = metric

        async def send(self, alerts: Sequence[Alert]) -> None:
            if any(a.metric == self.metric for a in alerts) and self.metric:
                self.metric = ""
                raise DeliveryError("the far side is away", retryable=True)
            await super().send(alerts)

    now = time.time()
    xid = [event("log_gpu_xid", i, now, Severity.EMERGENCY) for i in range(300)]
    other = event("log_gpu_fallen_off_bus", 0, now, Severity.EMERGENCY)
    recorder = FailsItsFirstSendOf("log_gpu_fallen_off_bus")
    deliver([*xid, other], recorder, max_per_hour=60, park_secs=0.01)
    assert [a.metric for a in recorder.sent] == ["log_gpu_xid", "log_gpu_fallen_off_bus",
                                                 "alerts_folded"]  # fmt: skip
    assert recorder.sent[1].context["suppressed"] == 299


def test_what_the_budget_held_back_is_said_when_the_message_after_a_failed_one_goes() -> None:
    """One alert per message: a send kept for later leaves the rest of its batch untried,
    and the count one of them carried was lost with it (a second reader's case)."""
    now = time.time()
    alerts = [event("log_a", 0, now), event("log_a", 1, now), event("log_b", 0, now)]
    recorder = Recorder(fail_first=1)  # the first send fails once: the batch waits
    worker = deliver(alerts, recorder, max_per_hour=2, park_secs=0.01)
    assert worker.stats.suppressed == 1
    assert [a.metric for a in recorder.sent] == ["log_a", "log_b", "alerts_folded"]
    # Said once, by the retry (the first message that went after it was given back).
    assert [a.context.get("suppressed") for a in recorder.sent[:2]] == [1, None]


def test_a_channel_that_fails_to_render_a_group_loses_that_group_not_the_worker() -> None:
    """`split` renders the alerts: a bug there is a failed send of that group, counted and
    logged, as a failing `send` is; the worker goes on, and what the group was to say
    (alerts that left an outbox undelivered) is said by the next message."""

    class BreaksOn(Recorder):
        groups = True

        def split(self, alerts: Sequence[Alert]) -> list[Sequence[Alert]]:
            if any(a.metric == "log_bad" for a in alerts):
                raise ValueError("a rendering bug")
            return [alerts]

    async def scenario() -> tuple[ChannelWorker, Recorder]:
        recorder = BreaksOn()
        worker = ChannelWorker(recorder, max_age=float("inf"), group_wait=0.0)
        worker.undelivered.add("recorder", "expired", 7)
        worker.submit(event("log_bad", 0, time.time()))
        worker.start()
        assert await worker.drain(30.0)
        worker.submit(event("log_good", 0, time.time()))
        assert await worker.drain(30.0)
        await worker.stop()
        return worker, recorder

    worker, recorder = run_bounded(scenario, 60.0)
    assert worker.stats.failed == 1 and worker.stats.restarts == 0
    (good,) = recorder.sent
    assert good.metric == "log_good" and "7" in str(good.context.get("undelivered"))


def test_a_backlog_retried_after_an_outage_is_not_charged_twice() -> None:
    now = time.time()
    alerts = [event("log_a", 0, now), event("log_b", 0, now)]
    recorder = Recorder(fail_first=3)
    worker = deliver(alerts, recorder, max_per_hour=2, park_secs=0.01, backoff_base=0.001)
    assert [a.metric for a in recorder.sent] == ["log_a", "log_b"]
    assert worker.stats.suppressed == 0


# -- finding 2: the outbox never shrank after a storm ------------------------------------------


def outbox_bytes(path: Path) -> int:
    return sum(
        os.path.getsize(f"{path}{suffix}")
        for suffix in ("", "-wal", "-shm")
        if os.path.exists(f"{path}{suffix}")
    )


def test_the_outbox_file_shrinks_back_after_a_storm(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    outbox = SqliteOutbox(path)
    baseline = outbox_bytes(path)
    now = time.time()
    big = [
        Alert(analyzer="log", metric="log_oom_kill", labels=(("pid", str(i)),), status=Status.FIRING, severity=Severity.WARN, value=1.0, threshold=None,
              message="x" * 1000, timestamp=now)
        for i in range(20_000)
    ]  # fmt: skip
    for alert in big:
        outbox.add("webhook", alert)
    peak = outbox_bytes(path)
    assert peak > 20_000_000  # 20,000 rows of 1 kB
    while rows := outbox.pending("webhook", 500):
        outbox.remove([row for row, _ in rows])
    after = outbox_bytes(path)
    assert after < baseline + 2_000_000, f"{after:,} bytes after, {peak:,} at the peak"
    outbox.add("webhook", big[0])  # still usable
    assert outbox.count("webhook") == 1
    outbox.close()


def test_an_older_outbox_without_incremental_vacuum_is_converted(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "outbox.db"
    old = sqlite3.connect(path)
    old.execute(
        "CREATE TABLE outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, channel TEXT NOT NULL, "
        "created REAL NOT NULL, alert TEXT NOT NULL)"
    )
    old.commit()
    old.close()
    outbox = SqliteOutbox(path)
    assert outbox._db.execute("PRAGMA auto_vacuum").fetchone()[0] == 2
    outbox.close()


# -- finding 4: files planted in data_dir ------------------------------------------------------


def test_the_outbox_is_never_opened_through_a_symlink(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    elsewhere = tmp_path / "etc-shadow-like"
    (data_dir / "outbox.db").symlink_to(elsewhere)  # not there yet: root would create it
    with pytest.raises(UnsafeFileError, match="symbolic link"):
        SqliteOutbox(data_dir / "outbox.db")
    assert not elsewhere.exists()
    elsewhere.write_bytes(b"")  # an empty file of someone else's: SQLite would write into it
    with pytest.raises(UnsafeFileError):
        SqliteOutbox(data_dir / "outbox.db")
    assert elsewhere.read_bytes() == b""


@pytest.mark.parametrize("suffix", ["-wal", "-shm", "-journal"])
def test_the_outbox_siblings_are_never_symlinks(tmp_path: Path, suffix: str) -> None:
    target = tmp_path / "target"
    (tmp_path / f"outbox.db{suffix}").symlink_to(target)
    with pytest.raises(UnsafeFileError, match="not a regular file"):
        SqliteOutbox(tmp_path / "outbox.db")
    assert not target.exists()


def test_a_fifo_as_outbox_is_refused_without_hanging(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "outbox.db")
    with pytest.raises(UnsafeFileError, match="not a regular file"):
        SqliteOutbox(tmp_path / "outbox.db")


def test_open_outbox_falls_back_to_memory_and_says_so(tmp_path: Path) -> None:
    from agent.assembly import build_channels, open_outbox
    from agent.config import parse_config_text

    (tmp_path / "outbox.db").symlink_to(tmp_path / "target")
    loaded = parse_config_text(
        f'[agent]\ndata_dir = "{tmp_path}"\n[alerting.webhook]\nenabled = true\n'
        'url = "http://127.0.0.1:9/hook"\n',
        "t.toml",
    )
    outbox = open_outbox(loaded.settings, build_channels(loaded.settings))
    assert isinstance(outbox, MemoryOutbox)
    assert outbox.degraded is not None and "symbolic link" in outbox.degraded


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "too-big", "directory", "symlink"])
def test_a_planted_silences_file_is_refused_with_a_warning(
    tmp_path: Path, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "silences.json"
    real = tmp_path / "real.json"
    real.write_text("[]")
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "dev-zero":
        path.symlink_to("/dev/zero")
    elif kind == "too-big":
        path.write_text(" " * (MAX_SILENCE_BYTES + 1))
    elif kind == "directory":
        path.mkdir()
    else:
        path.symlink_to(real)
    silences = SilenceFile(path)
    router = Router("h", [], silences=silences)

    def route_twice() -> None:
        assert router.route(link_down(1, time.time())) is not None  # routed, not lost
        silences._checked = 0.0  # the next look at the file, at once
        assert router.route(link_down(2, time.time())) is not None

    with caplog.at_level(logging.WARNING, logger="alerting.silences"):
        bounded(route_twice, 30.0)  # a FIFO used to block here for good
    assert silences.problem is not None
    warnings = [r for r in caplog.records if "cannot read the silences" in r.getMessage()]
    assert len(warnings) == 1  # once per episode, not every two seconds


def test_silences_read_before_stay_in_force_while_the_file_is_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "silences.json"
    silences = SilenceFile(path)
    silences.add([("metric", "=", "log_link_down")], 3600, "maintenance")
    assert len(silences.current()) == 1
    path.unlink()
    os.mkfifo(path)
    silences._checked = 0.0
    assert len(bounded(silences.current, 30.0)) == 1 and silences.problem is not None
    path.unlink()
    silences.add([("metric", "=", "log_link_down")], 3600, "again")
    silences._checked = 0.0
    assert len(silences.current()) == 1 and silences.problem is None


@pytest.mark.parametrize("damage", ["{broken", '{"silences": []}'])
def test_a_damaged_silence_file_keeps_the_silences_read_before_and_is_not_written_over(
    tmp_path: Path, damage: str
) -> None:
    """A hand edit gone wrong read as "no silences": the daemon dropped every silence in
    force without a word, and `silence add` wrote over the others."""
    path = tmp_path / "silences.json"
    silences = SilenceFile(path)
    silences.add([("metric", "=", "log_link_down")], 3600, "maintenance")
    assert len(silences.current()) == 1
    path.write_text(path.read_text() + damage if damage.startswith("{b") else damage)
    os.utime(path, (time.time() + 5, time.time() + 5))  # a change the daemon sees
    silences._checked = 0.0
    assert len(silences.current()) == 1 and "mend or remove it" in (silences.problem or "")
    damaged = path.read_text()
    with pytest.raises(OSError, match="mend or remove it"):
        SilenceFile(path).add([("metric", "=", "x")], 60, "another")
    assert path.read_text() == damaged


def test_a_bad_regex_in_a_hand_edited_silence_does_not_break_routing(tmp_path: Path) -> None:
    path = tmp_path / "silences.json"
    now = time.time()
    path.write_text(
        f'[{{"id": "x", "matchers": [["device", "=~", "e[0"]], "starts": {now - 1}, '
        f'"ends": {now + 3600}, "comment": ""}}]'
    )
    router = Router("h", [], silences=SilenceFile(path))
    assert router.route(link_down(1, now)) is not None


@pytest.mark.parametrize("regex", [r"(.|.)*!", r"(\w+\s?)+$", r".*.*.*.*.*!",
                                   r".{0,9999}.{0,9999}.{0,9999}!"])  # fmt: skip
def test_a_regex_that_would_freeze_routing_is_refused(tmp_path: Path, regex: str) -> None:
    """A hand-edited silence whose =~ expression backtracks exponentially: fullmatch ran on
    the event loop for every alert (hours for a 39-character host name), the watchdog
    restarted the agent, and it read the same file again.  It is dropped, as a broken one
    is; `silence add` and the configuration refuse it, saying why."""
    now = time.time()
    path = tmp_path / "silences.json"
    path.write_text(json.dumps([{"id": "x", "matchers": [["host", "=~", regex]],
                                 "starts": now - 1, "ends": now + 3600, "comment": ""}]))  # fmt: skip
    assert SilenceFile(path).load() == []  # never matched against an alert
    with pytest.raises(ValueError, match=r"repeated group|unbounded or long repeats"):
        parse_matcher(f"host=~{regex}")


NOBODY = 65534


def as_nobody(action: Callable[[], object]) -> str:
    """What `action` gives when run as an unprivileged user (the daemon's), in a forked child."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: drop root, act, report, and leave without running pytest's exit
        try:
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            out = repr(action())
        except BaseException as exc:
            out = f"raised {exc!r}"
        os.write(write_end, out.encode())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as handle:
        text = handle.read().decode()
    os.waitpid(pid, 0)
    return text


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A directory the unprivileged user can reach (pytest's tmp_path is root's only)."""
    path = Path(tempfile.mkdtemp(prefix="sysops-delivsec-", dir="/tmp"))
    os.chmod(path, 0o755)  # noqa: S103 - readable by the test's unprivileged child on purpose
    yield path
    shutil.rmtree(path)


@pytest.mark.skipif(os.geteuid() != 0, reason="writing for another user needs root")
def test_silence_add_as_root_writes_a_file_the_daemon_user_can_read(open_dir: Path) -> None:
    data_dir = open_dir / "data"
    data_dir.mkdir(mode=0o750)
    os.chown(data_dir, NOBODY, NOBODY)  # the daemon's user owns data_dir
    path = data_dir / "silences.json"
    SilenceFile(path).add([("metric", "=", "m")], 600, "as root")
    info = path.stat()
    assert (info.st_uid, info.st_gid) == (NOBODY, NOBODY)
    assert info.st_mode & 0o777 == 0o640
    assert as_nobody(lambda: len(SilenceFile(path).load())) == "1"  # the daemon's view


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to make a file another user cannot read")
def test_an_unreadable_silence_file_never_crashes_routing(open_dir: Path) -> None:
    """As the daemon user facing a root 0600 file: the alert is routed, the problem said."""
    path = open_dir / "silences.json"
    path.write_text("[]")
    os.chmod(path, 0o600)  # what the old `silence add` under sudo left behind
    silences = SilenceFile(path)
    router = Router("h", [], silences=silences)

    def route() -> str:
        routed = router.route(link_down(1, time.time())) is not None
        return f"routed={routed} problem={silences.problem}"

    out = as_nobody(route)
    assert out.startswith('"routed=True problem=silences not read:') and "Permission denied" in out


def test_a_world_writable_data_dir_is_warned_about_and_degrades(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from agent.config import parse_config_text
    from agent.runtime import Agent

    data_dir = tmp_path / "data"
    data_dir.mkdir()
    os.chmod(data_dir, 0o777)  # noqa: S103 - the exposure under test
    agent = Agent(parse_config_text(f'[agent]\ndata_dir = "{data_dir}"\n', "t.toml"))
    with caplog.at_level(logging.WARNING, logger="agent.runtime"):
        agent._prepare_dirs()
    assert any("world-writable" in r.getMessage() for r in caplog.records)
    reasons, _ = agent.health()
    assert f"data_dir {data_dir} is world-writable" in reasons
    os.chmod(data_dir, 0o750)  # noqa: S103 - the recommended mode
    agent._prepare_dirs()
    assert not [r for r in agent.health()[0] if "data_dir" in r]


# -- finding 6: a corrupted outbox killed a channel silently -----------------------------------


def corrupt(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        name = f"{path}{suffix}"
        if os.path.exists(name):
            size = os.path.getsize(name)
            with open(name, "r+b") as handle:
                handle.write(b"garbage!" * (size // 8 + 1))


def test_a_corrupted_outbox_is_moved_aside_and_the_next_alert_delivered(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "outbox.db"

    async def scenario() -> tuple[list[Alert], SqliteOutbox]:
        outbox = SqliteOutbox(path)
        recorder = Recorder()
        worker = ChannelWorker(recorder, outbox=outbox, max_age=float("inf"))
        worker.start()
        router = Router("h", [worker], min_interval_secs=300, dedup_window_secs=600)
        router.route(event("log_ext4_error", 1, time.time()))
        await asyncio.to_thread(wait_until, lambda: len(recorder.sent) == 1, 10.0, "the first")
        corrupt(path)  # while the agent runs
        router.route(event("log_ext4_error", 2, time.time()))
        assert await worker.drain(10.0)
        await worker.stop()
        return recorder.sent, outbox

    with caplog.at_level(logging.ERROR):
        sent, outbox = asyncio.run(scenario())
    assert [a.labels for a in sent] == [(("pid", "1"),), (("pid", "2"),)]
    assert len(outbox.moved_aside) == 1 and outbox.moved_aside[0].exists()
    assert outbox.moved_aside[0].name.startswith("outbox.db.corrupt-")
    assert outbox.degraded is None  # a fresh file, durable again
    messages = [r.getMessage() for r in caplog.records]
    assert sum("is corrupted" in m for m in messages) == 1, messages
    outbox.close()


def test_an_outbox_corrupted_while_the_agent_was_down_is_replaced_at_start(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    SqliteOutbox(path).close()
    path.write_bytes(b"garbage!" * 512)
    outbox = SqliteOutbox(path)
    assert len(outbox.moved_aside) == 1
    outbox.add("webhook", event("log_a", 1, time.time()))
    assert outbox.count("webhook") == 1
    outbox.close()


def test_an_outbox_that_cannot_be_replaced_carries_on_in_memory(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    path = data_dir / "outbox.db"
    outbox = SqliteOutbox(path)
    outbox.add("webhook", event("log_a", 1, time.time()))
    corrupt(path)
    # The fresh file cannot be made: a directory is where it would go.
    real_connect = outbox._connect

    def refuse() -> Any:
        (data_dir / "outbox.db").mkdir()
        return real_connect()

    outbox._connect = refuse  # type: ignore[method-assign]
    row = outbox.add("webhook", event("log_b", 2, time.time()))
    assert row > 1 and outbox.degraded is not None and "memory" in outbox.degraded
    assert [a.metric for _, a in outbox.pending("webhook", 10)] == ["log_b"]


def test_a_corrupted_outbox_that_could_not_be_moved_aside_is_never_taken_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Still in place, a corrupted file holds rows never read into memory, and its bad page
    is not on the way of a connect or an insert: taken back, what memory then held went
    into it, and was lost with it at the next read of that page (moved aside then).
    Memory keeps the outbox for the rest of the life."""
    import sqlite3

    import alerting.outbox

    path = tmp_path / "data" / "outbox.db"
    outbox = SqliteOutbox(path)
    for i in range(200):
        wide = dataclasses.replace(event("log_old", i, time.time()), message="y" * 900)
        outbox.add("old", wide)
    outbox._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    raw = sqlite3.connect(str(path))
    try:
        leaves = [n for (n,) in raw.execute(
            "SELECT pageno FROM dbstat WHERE name = 'outbox' AND pagetype = 'leaf' ORDER BY pageno"
        )]  # fmt: skip
    except sqlite3.OperationalError:
        pytest.skip("this SQLite has no dbstat table to find a leaf page by")
    page_size = raw.execute("PRAGMA page_size").fetchone()[0]
    raw.close()
    with open(path, "r+b") as handle:  # one bad leaf page in the middle of the table
        handle.seek((leaves[len(leaves) // 2] - 1) * page_size)
        handle.write(b"\xff" * page_size)

    def read_only(*_: Any) -> None:
        raise OSError(errno.EROFS, "Read-only file system")

    with monkeypatch.context() as patched:
        patched.setattr(os, "replace", read_only)  # the move aside fails
        outbox.pending("old", 1000)  # a worker reads: the bad page
    assert outbox.degraded is not None and "corrupted" in outbox.degraded and path.exists()
    monkeypatch.setattr(alerting.outbox, "RETURN_RETRY_SECS", 0.0)
    rows = [outbox.add("webhook", event("log_new", i, time.time())) for i in range(3)]
    outbox.pending("old", 1000)  # the bad page's channel read again
    assert outbox.degraded is not None  # never taken back
    assert [row for row, _ in outbox.pending("webhook", 10)] == rows
    outbox.close()


class Exploding:
    """An outbox whose reads fail unexpectedly once (a bug, a full disk): the narrowest boundary."""

    def __init__(self) -> None:
        self.inner = MemoryOutbox()
        self.degraded: str | None = None
        self.explode = 1

    def add(self, channel: str, alert: Alert) -> int:
        return self.inner.add(channel, alert)

    def pending(self, channel: str, limit: int) -> list[tuple[int, Alert]]:
        if self.explode:
            self.explode -= 1
            raise RuntimeError("unexpected")
        return self.inner.pending(channel, limit)

    def remove(self, ids: Sequence[int]) -> None:
        self.inner.remove(ids)

    def count(self, channel: str) -> int:
        return self.inner.count(channel)

    def take_dropped(self) -> dict[str, int]:
        return self.inner.take_dropped()


def test_a_worker_that_fails_unexpectedly_says_so_and_starts_again(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import alerting.delivery

    monkeypatch.setattr(alerting.delivery, "RESTART_BASE_SECS", 0.01)

    async def scenario() -> tuple[list[Alert], ChannelWorker]:
        recorder = Recorder()
        worker = ChannelWorker(recorder, outbox=Exploding(), max_age=float("inf"))
        worker.submit(event("log_a", 1, time.time()))
        worker.start()
        assert await worker.drain(10.0)
        await worker.stop()
        return recorder.sent, worker

    with caplog.at_level(logging.ERROR, logger="alerting.delivery"):
        sent, worker = asyncio.run(scenario())
    assert [a.metric for a in sent] == ["log_a"] and worker.stats.restarts == 1
    failed = [r for r in caplog.records if "worker failed" in r.getMessage()]
    assert len(failed) == 1 and "channel recorder" in failed[0].getMessage()
    assert failed[0].exc_info is not None  # with the traceback
