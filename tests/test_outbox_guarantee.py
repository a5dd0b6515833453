"""The delivery guarantee of docs/ALERTING.md: what waits is delivered, folded, or counted.

Real parts: webhooks against a real local HTTP server, SQLite outboxes in files,
a real tmpfs that is really full.  Hours are simulated by the worker's budget
window (honest configuration: the same code with a shorter hour), never slept.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import errno
import logging
import os
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from alerting.alert import Alert, Severity, Status
from alerting.channels.base import DeliveryError, OneMessage
from alerting.channels.webhook import WebhookChannel
from alerting.delivery import ChannelWorker, Undelivered
from alerting.outbox import MemoryOutbox, SqliteOutbox
from tests.conftest import HttpReceiver, until, wait_until

SEVERITIES = (Severity.WARN, Severity.CRITICAL, Severity.WARN, Severity.INFO, Severity.EMERGENCY)


def event(i: int, severity: Severity = Severity.WARN, metric: str = "") -> Alert:
    return Alert(analyzer="log", metric=metric or f"log_pattern_{i % 7}", labels=(("n", str(i)),),
                 status=Status.FIRING, severity=severity, value=1.0, threshold=None,
                 message=f"event {i}", timestamp=time.time(), hostname="web-01")  # fmt: skip


def closed_port() -> int:
    """A port nothing listens on: connection refused, like an endpoint that is down."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- 1. an outage longer than the budget loses nothing ------------------------------------------


def test_two_hours_down_with_a_budget_of_10_loses_nothing(http_receiver: HttpReceiver) -> None:
    hour = 1.0  # one simulated hour of budget window
    down = [(503, {})] * 100_000  # the endpoint answers 503 until it "returns"
    http_receiver.script = down

    async def scenario() -> tuple[ChannelWorker, int, int]:
        worker = ChannelWorker(
            WebhookChannel(http_receiver.url + "/hook", retry_count=1),
            max_per_hour=10, window=hour, park_secs=0.05, backoff_base=0.001,
            max_age=float("inf"), group_wait=0,
        )  # fmt: skip
        worker.start()
        submitted = 0
        for _hour in range(2):  # two simulated hours of outage, alerts arriving in each
            for _ in range(30):
                worker.submit(event(submitted, SEVERITIES[submitted % len(SEVERITIES)]))
                submitted += 1
            await asyncio.sleep(hour * 1.1)  # the simulated hour passes: a new budget
        assert http_receiver.requests and not worker.stats.sent  # it was tried, and down
        with http_receiver.arrived:
            http_receiver.script = []  # the endpoint is back
            back = len(http_receiver.requests)
        assert await worker.drain(30.0)
        await worker.stop()
        return worker, submitted, back

    worker, submitted, back = asyncio.run(scenario())
    got = [r.json() for r in http_receiver.requests[back:]]
    singles = [b for b in got if b["metric"] != "alerts_folded"]
    digests = [b for b in got if b["metric"] == "alerts_folded"]
    assert len(digests) == 1  # ONE digest for the channel, however many passes folded
    digest = digests[0]
    assert digest["analyzer"] == "agent" and "while the channel was down" in str(digest["message"])
    folded = digest["context"]
    assert isinstance(folded, dict)
    # Everything arrived, itself or inside the digest, and nothing else left the outbox.
    assert len(singles) + folded["folded"] == submitted == 60
    by_severity = {k[len("folded_") :]: v for k, v in folded.items() if k.startswith("folded_")}
    del by_severity["worst"]
    assert sum(by_severity.values()) == folded["folded"]
    assert worker.stats.expired == 0 and worker.pending == 0
    # Oldest first: the singles in the order they were raised, the digest after them.
    numbers = [int(str(b["message"]).split()[1]) for b in singles]
    assert numbers == sorted(numbers) and got[-1] is digest
    # Counted per severity, and the most severe of what was folded named.
    order = ["info", "warn", "critical", "emergency"]
    worst = max(by_severity, key=order.index)
    assert f"({worst})" in str(digest["message"]) and f"{folded['folded']} alerts" in str(
        digest["message"]
    )


# -- 1. expiry: counted, logged, said on another channel ---------------------------------------


def test_an_expiry_is_logged_and_said_by_the_next_message_on_another_channel(
    http_receiver: HttpReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    lost = Undelivered()  # shared by the agent's workers (agent.assembly.build_workers)
    outbox = MemoryOutbox()

    async def scenario() -> tuple[ChannelWorker, ChannelWorker]:
        dead_end = WebhookChannel(f"http://127.0.0.1:{closed_port()}/hook", retry_count=0)
        down = ChannelWorker(dead_end, outbox=outbox, undelivered=lost, max_age=0.3,
                             park_secs=0.05, group_wait=0)  # fmt: skip
        up_channel = WebhookChannel(http_receiver.url + "/other")
        up_channel.name = "webhook-b"  # a second webhook: its own rows and counts
        up = ChannelWorker(up_channel, outbox=outbox, undelivered=lost, group_wait=0)
        down.start()
        up.start()
        for i in range(3):
            down.submit(event(i))
        assert await down.drain(10.0)  # tried, parked, then too old: out of the outbox
        up.submit(event(99, Severity.CRITICAL))
        assert await up.drain(10.0)
        await down.stop()
        await up.stop()
        return down, up

    with caplog.at_level(logging.WARNING, "alerting.delivery"):
        down, _ = asyncio.run(scenario())
    assert down.stats.expired == 3 and lost.total["webhook", "expired"] == 3
    assert "channel webhook: 3 alert(s) expired undelivered" in caplog.text
    said = http_receiver.requests[-1].json()["context"]["undelivered"]
    assert said == "3 alert(s) expired undelivered (older than max_age_secs) on channel webhook"
    assert not lost.counts  # said once, not again


def test_a_message_rejected_for_good_leaves_the_undelivered_note_to_the_next(
    http_receiver: HttpReceiver,
) -> None:
    """The note rode on a message the far side rejected (HTTP 400): it went with it, and
    the channel was said to deliver again."""
    lost = Undelivered()
    lost.add("email", "expired", 3)  # another channel lost three
    http_receiver.script = [(400, {})]  # the next message is refused for good

    async def scenario() -> ChannelWorker:
        worker = ChannelWorker(WebhookChannel(http_receiver.url + "/hook", retry_count=0),
                               undelivered=lost, group_wait=0)  # fmt: skip
        worker.failing = True  # it had been failing before
        worker.submit(event(1))  # rejected
        worker.submit(event(2))  # gets through
        worker.start()
        assert await worker.drain(10.0)
        await worker.stop()
        return worker

    worker = asyncio.run(scenario())
    bodies = [r.json() for r in http_receiver.requests]
    assert [b["message"] for b in bodies] == [event(1).message, event(2).message]
    note = "3 alert(s) expired undelivered (older than max_age_secs) on channel email"
    assert bodies[1]["context"].get("undelivered") == note and not lost.counts
    assert worker.stats.failed == 1 and not worker.failing  # the second one went through


# -- 2. max_rows per channel; MemoryOutbox bounded ---------------------------------------------


def test_max_rows_trims_each_channel(tmp_path: Path) -> None:
    outbox = SqliteOutbox(tmp_path / "outbox.db", max_rows=10)
    for i in range(3000):  # every alert goes to both channels
        outbox.add("webhook", event(i))
        outbox.add("slack", event(i))
    assert outbox.count("webhook") <= 10 and outbox.count("slack") <= 10
    assert outbox.take_dropped() == {"webhook": 2990, "slack": 2990}
    assert [a.message for _, a in outbox.pending("slack", 1)] == ["event 2990"]  # the newest stay
    outbox.close()


def test_memory_outbox_is_bounded_and_says_so_once_per_episode(
    caplog: pytest.LogCaptureFixture,
) -> None:
    outbox = MemoryOutbox(max_rows=10)
    with caplog.at_level(logging.WARNING, "alerting.outbox"):
        for i in range(500):
            outbox.add("webhook", event(i))
    assert outbox.count("webhook") == 10 and outbox.take_dropped() == {"webhook": 490}
    assert caplog.text.count("channel webhook has over 10 alerts waiting") == 1


def test_what_max_rows_dropped_is_said_in_the_next_message(http_receiver: HttpReceiver) -> None:
    async def scenario() -> None:
        worker = ChannelWorker(WebhookChannel(http_receiver.url + "/hook"),
                               outbox=MemoryOutbox(max_rows=5), group_wait=0)  # fmt: skip
        for i in range(8):  # three more than the outbox keeps, before the worker runs
            worker.submit(event(i, metric=f"log_distinct_{i}"))
        worker.start()
        assert await worker.drain(10.0)
        await worker.stop()

    asyncio.run(scenario())
    first = http_receiver.requests[0].json()
    assert first["message"] == "event 3"  # the oldest three were dropped
    assert first["context"]["undelivered"] == (
        "3 alert(s) dropped undelivered (outbox over max_rows) on channel webhook"
    )


# -- 3. a full data_dir: alerting goes on from memory, degraded -------------------------------


@contextlib.contextmanager
def small_tmpfs(where: Path) -> Iterator[Path]:
    where.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k,mode=0700", "tmpfs", str(where)],
                          capture_output=True, text=True, check=False)  # fmt: skip
    if done.returncode != 0:
        pytest.skip(
            f"cannot mount a tmpfs here (needs root and mount rights): {done.stderr.strip()}"
        )
    try:
        yield where
    finally:
        # Lazy: a descriptor a failed test left open must not keep the mount for good.
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(directory: Path) -> None:
    fd = os.open(directory / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        with contextlib.suppress(OSError):
            while True:
                os.write(fd, b"\0" * 4096)
    finally:
        os.close(fd)
    # Proof that it is full: one more byte does not fit.
    with pytest.raises(OSError) as full, open(directory / "one-more", "wb") as f:
        f.write(b"x" * 8192)
        f.flush()
        os.fsync(f.fileno())
    assert full.value.errno == errno.ENOSPC


def test_a_full_data_dir_keeps_alerting_from_memory_and_says_degraded(
    tmp_path: Path, http_receiver: HttpReceiver
) -> None:
    with small_tmpfs(tmp_path / "data") as data_dir:
        outbox = SqliteOutbox(data_dir / "outbox.db")
        outbox.add("webhook", event(0))  # a working outbox first, then the disk fills
        fill(data_dir)

        async def scenario() -> ChannelWorker:
            worker = ChannelWorker(WebhookChannel(http_receiver.url + "/hook"), outbox=outbox,
                                   group_wait=0)  # fmt: skip
            worker.start()
            for i in range(1, 200):  # big enough rows that SQLite must grow the file
                worker.submit(
                    Alert(
                        analyzer="log",
                        metric=f"log_p{i}",
                        labels=(("n", str(i)),),
                        status=Status.FIRING,
                        severity=Severity.CRITICAL,
                        value=1.0,
                        threshold=None,
                        message=f"event {i} " + "x" * 2000,
                        timestamp=time.time(),
                        hostname="web-01",
                    )
                )
            assert await worker.drain(30.0)
            await worker.stop()
            return worker

        worker = asyncio.run(scenario())
        degraded = outbox.degraded
        outbox.close()
    assert degraded is not None and "alerts are kept in memory only" in degraded
    assert "full" in degraded  # the reason names the cause
    wait_until(lambda: len(http_receiver.requests) >= 60, 10.0, "the alerts")
    assert worker.stats.sent >= 60 and worker.stats.restarts == 0


class StandIn(OneMessage):
    """A webhook-like channel: fails (503) while `down`, waits while its gate is closed, and
    records what it took."""

    name = "hook"
    min_severity = Severity.INFO
    retry_count = 0
    groups = False
    pace_secs = 0.0
    send_resolved = True

    def __init__(self, down: bool = False, gated: bool = False) -> None:
        self.down = down
        self.gate = asyncio.Event()
        if not gated:
            self.gate.set()
        self.got: list[Alert] = []
        self.at_gate = 0  # sends waiting for the gate

    async def send(self, alerts: Sequence[Alert]) -> None:
        self.at_gate += 1
        await self.gate.wait()
        self.at_gate -= 1
        if self.down:
            raise DeliveryError("HTTP 503", retryable=True)
        self.got.extend(alerts)

    async def close(self) -> None:
        pass


@pytest.mark.parametrize("freed_before_stop", [False, True])
def test_what_waited_in_the_file_when_it_filled_goes_out_before_what_came_after(
    tmp_path: Path, http_receiver: HttpReceiver, freed_before_stop: bool
) -> None:
    """A FIRING waits in the file (the endpoint is down); the disk fills, the outbox goes on
    in memory, and the alert's RESOLVED is queued there.  The file's row was left unseen:
    the RESOLVED went out first, and the FIRING at the next start, after it (a receiver's
    alert open for good); with the disk still full at the stop, the stale episode also
    came back as "still firing".  Now the file's rows are taken into memory and sent
    first, and cleared from the file once it has room (at the latest at the stop)."""
    from alerting.router import Router

    def disk(status: Status, at: float, mount: str = "/", message: str = "") -> Alert:
        return Alert(analyzer="threshold", metric="disk_used_percent", labels=(("mount", mount),),
                     status=status, severity=Severity.CRITICAL, value=97.0, threshold=90.0,
                     message=message or f"{mount} full", timestamp=at, hostname="web-01")  # fmt: skip

    def hook() -> WebhookChannel:
        return WebhookChannel(http_receiver.url + "/hook", retry_count=0)

    http_receiver.status = 503  # the endpoint is down
    with small_tmpfs(tmp_path / "data") as data_dir:
        path = data_dir / "outbox.db"
        outbox = SqliteOutbox(path)

        async def first_life() -> None:
            worker = ChannelWorker(hook(), outbox=outbox, group_wait=0, park_secs=0.05,
                                   backoff_base=0.001)  # fmt: skip
            router = Router("web-01", [worker], episodes=outbox)
            worker.start()
            now = time.time()
            router.route(disk(Status.FIRING, now))  # in the file: the endpoint is down
            await until(lambda: worker.stats.parked >= 1, 10, "a failed try")
            fill(data_dir)
            for i in range(1000):  # other alerts while the disk is full, until it tells
                router.route(disk(Status.FIRING, now, f"/m{i}", "x" * 3000))
                if outbox.degraded is not None:
                    break
            assert outbox.degraded is not None and "full" in outbox.degraded
            router.route(disk(Status.RESOLVED, now + 60))  # in memory
            http_receiver.status = 204  # the endpoint is back
            assert await worker.drain(30)
            if freed_before_stop:
                os.unlink(data_dir / "filler")
            await worker.stop()

        asyncio.run(first_life())
        outbox.close()
        first = len(http_receiver.requests)
        if not freed_before_stop:
            os.unlink(data_dir / "filler")  # freed, and the agent started again

        async def second_life() -> None:
            outbox = SqliteOutbox(path)
            worker = ChannelWorker(hook(), outbox=outbox, group_wait=0)
            router = Router("web-01", [worker], episodes=outbox, min_interval_secs=300)
            worker.start()
            now = time.time()
            router.resume(outbox.open_episodes(), now, lambda alert: 120.0)
            router.route(disk(Status.FIRING, now + 10))  # filling again: a new episode
            router.repeat_due(now + 400)
            assert await worker.drain(30)
            await worker.stop()
            outbox.close()

        asyncio.run(second_life())
    got = [(r.json(), i < first) for i, r in enumerate(http_receiver.requests) if r.status == 204]
    root = [(b["status"], b["alert_id"], in_first) for b, in_first in got
            if b["labels"] == {"mount": "/"}]  # fmt: skip
    old = root[0][1]
    assert [(status, in_first) for status, alert_id, in_first in root if alert_id == old] == [
        ("firing", True),
        ("resolved", True),
    ]
    assert {status for status, alert_id, in_first in root if alert_id != old} == {"firing"}


def test_a_large_backlog_is_taken_into_memory_only_in_part_and_the_rest_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Taking a storm's whole backlog into memory at once (100,000 rows: 290 MB) would be an
    OOM kill at the fall back: the oldest `BACKLOG_TAKEN_MAX` are, the rest stay in the file
    (which is then never removed) for the next start."""
    import alerting.outbox

    monkeypatch.setattr(alerting.outbox, "BACKLOG_TAKEN_MAX", 2)
    with small_tmpfs(tmp_path / "data") as data_dir:
        path = data_dir / "outbox.db"
        outbox = SqliteOutbox(path)
        waiting = [outbox.add("hook", event(i)) for i in range(5)]
        fill(data_dir)
        wide = dataclasses.replace(event(99), message="x" * 3000)
        while outbox.degraded is None:
            outbox.add("other", wide)
        taken = [row for row, _ in outbox.pending("hook", 10)]
        assert taken == waiting[:2]  # the oldest, under their ids
        assert path.exists()  # not removed: three rows wait in it for the next start
        outbox.remove(taken)  # sent from memory
        (data_dir / "filler").unlink()
        outbox.close()  # room again: the rows taken are deleted from the file
        again = SqliteOutbox(path)
        assert [row for row, _ in again.pending("hook", 10)] == waiting[2:]
        again.close()


def _degraded_by_a_full_disk(data_dir: Path, outbox: SqliteOutbox) -> list[int]:
    """Fill `data_dir` and add wide rows until the outbox goes on in memory; their ids."""
    fill(data_dir)
    wide = dataclasses.replace(event(99), message="x" * 3000)
    rows = []
    while outbox.degraded is None:
        assert len(rows) < 1000, "the outbox never noticed the full disk"
        rows.append(outbox.add("other", wide))
    return rows


def test_once_the_disk_has_room_again_the_outbox_is_durable_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full disk sends the outbox to memory; once there is room, what memory holds is
    written back to the file and the file is the outbox again, so a kill -9 after that
    (the file opened again without a close, as the next start does) loses nothing: the
    rows and the open episode of the memory time, under their ids, and what came after."""
    import alerting.outbox

    monkeypatch.setattr(alerting.outbox, "RETURN_RETRY_SECS", 0.0)
    with small_tmpfs(tmp_path / "data") as data_dir:
        path = data_dir / "outbox.db"
        outbox = SqliteOutbox(path)
        first = outbox.add("hook", event(0))
        wide = _degraded_by_a_full_disk(data_dir, outbox)
        in_memory = [outbox.add("hook", event(i)) for i in range(1, 4)]
        outbox.keep_episode(event(2))
        outbox.remove([first, *wide])  # sent from memory meanwhile
        assert outbox.degraded is not None and "full" in outbox.degraded
        (data_dir / "filler").unlink()  # the operator makes room
        after = outbox.add("hook", event(4))  # the next write takes the file back
        assert outbox.degraded is None
        assert after > in_memory[-1]  # ids go on
        outbox.remove([in_memory[0]])  # sent: gone from the file too
        killed = SqliteOutbox(path)  # no close: the process died
        assert [row for row, _ in killed.pending("hook", 10)] == [*in_memory[1:], after]
        assert [a.labels for a in killed.open_episodes()] == [(("n", "2"),)]
        assert killed.pending("other", 10) == []
        assert killed.add("hook", event(5)) > after  # a next life's ids go on too
        killed.close()
        outbox.close()


def test_no_try_at_the_file_on_a_disk_still_full_or_with_too_many_rows_in_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The try runs on the event loop: not on a file system with less than
    `RETURN_ROOM_BYTES` free (it would serialise every row for nothing), nor with more than
    `RETURN_ROWS_MAX` rows waiting in memory (one transaction too long for the loop);
    either gone, the file is taken back at the next try."""
    import alerting.outbox

    monkeypatch.setattr(alerting.outbox, "RETURN_RETRY_SECS", 0.0)
    with small_tmpfs(tmp_path / "data") as data_dir:
        path = data_dir / "outbox.db"
        outbox = SqliteOutbox(path)
        outbox.remove(_degraded_by_a_full_disk(data_dir, outbox))  # sent from memory
        (data_dir / "filler").unlink()  # room again, but the outbox is told otherwise
        monkeypatch.setattr(alerting.outbox, "RETURN_ROOM_BYTES", 1 << 40)
        rows = [outbox.add("hook", event(i)) for i in range(3)]
        assert outbox.degraded is not None
        monkeypatch.setattr(alerting.outbox, "RETURN_ROOM_BYTES", 64 << 10)
        monkeypatch.setattr(alerting.outbox, "RETURN_ROWS_MAX", 2)
        rows.append(outbox.add("hook", event(3)))
        assert outbox.degraded is not None  # more rows waiting than that
        outbox.remove(rows[:2])  # sent
        rows.append(outbox.add("hook", event(4)))
        assert outbox.degraded is None
        killed = SqliteOutbox(path)
        assert [row for row, _ in killed.pending("hook", 10)] == rows[2:]
        killed.close()
        outbox.close()


def test_a_file_locked_by_another_process_is_taken_back_without_waiting_on_the_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The try at taking the file back runs on the event loop: a write lock another process
    holds on the outbox file (WAL, its schema: the try gets as far as its transaction)
    makes it a try for later, at once, not a 5-second wait (SQLite's busy timeout); the
    outbox is durable again once the lock is released."""
    import alerting.outbox

    monkeypatch.setattr(alerting.outbox, "RETURN_RETRY_SECS", 0.0)
    with small_tmpfs(tmp_path / "data") as data_dir:
        path = data_dir / "outbox.db"
        outbox = SqliteOutbox(path)
        _degraded_by_a_full_disk(data_dir, outbox)
        (data_dir / "filler").unlink()
        holder = SqliteOutbox(path)  # another process with the file (a fresh one: removed)
        holder._db.execute("BEGIN IMMEDIATE")  # its write lock, held
        began = time.monotonic()
        row = outbox.add("hook", event(1))
        assert time.monotonic() - began < 1.0
        assert outbox.degraded is not None  # still in memory
        holder._db.execute("ROLLBACK")
        holder.close()
        outbox.add("hook", event(2))
        assert outbox.degraded is None
        killed = SqliteOutbox(path)
        assert [r for r, _ in killed.pending("hook", 10)] == [row, row + 1]
        killed.close()
        outbox.close()


def test_a_file_kept_in_its_stale_state_is_taken_back_as_memory_has_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full disk that also refuses the file's removal (a file system gone read-only
    after an error: faked at that one call, `os.unlink`; a read-only remount is refused
    while the file is open) keeps the rows memory took from it and the episodes of that
    moment.  With room again the file is taken back as memory has it, so a kill -9 then
    sends nothing twice (the row sent from memory) and loses nothing, and takes back the
    episodes as they are (one ended meanwhile)."""
    import alerting.outbox

    with small_tmpfs(tmp_path / "data") as data_dir:
        path = data_dir / "outbox.db"
        outbox = SqliteOutbox(path)
        rows = [outbox.add("hook", event(i)) for i in range(3)]
        outbox.keep_episode(event(0))
        outbox.keep_episode(event(1))

        def refused(*_: object) -> None:
            raise OSError(errno.EROFS, "Read-only file system")

        with monkeypatch.context() as patched:
            patched.setattr(alerting.outbox.os, "unlink", refused)
            wide = _degraded_by_a_full_disk(data_dir, outbox)
        assert path.exists()  # neither cleared (no room) nor removed
        outbox.remove([rows[0], *wide])  # sent from memory
        outbox.end_episode(event(0).fingerprint)
        (data_dir / "filler").unlink()
        monkeypatch.setattr(alerting.outbox, "RETURN_RETRY_SECS", 0.0)
        rows.append(outbox.add("hook", event(4)))
        assert outbox.degraded is None
        killed = SqliteOutbox(path)  # no close: the process died
        assert [row for row, _ in killed.pending("hook", 10)] == rows[1:]
        assert [a.labels for a in killed.open_episodes()] == [(("n", "1"),)]
        assert killed.pending("other", 10) == []
        killed.close()
        outbox.close()


def test_a_stop_takes_the_file_back_if_it_can(tmp_path: Path) -> None:
    """The stop is the last chance to keep what memory holds, within the minute between
    tries or not: the next start sends it."""
    with small_tmpfs(tmp_path / "data") as data_dir:
        path = data_dir / "outbox.db"
        outbox = SqliteOutbox(path)
        _degraded_by_a_full_disk(data_dir, outbox)
        row = outbox.add("hook", event(1))
        (data_dir / "filler").unlink()
        outbox.close()
        again = SqliteOutbox(path)
        assert [r for r, _ in again.pending("hook", 10)] == [row]
        again.close()


def _a_life_before_left_episodes(path: Path, *ids: int) -> None:
    earlier = SqliteOutbox(path)
    earlier.remove([earlier.add("hook", event(i)) for i in ids])  # delivered
    for i in ids:
        earlier.keep_episode(dataclasses.replace(event(i), message="a life before"))
    earlier.close()


@pytest.mark.parametrize("before", ["a file a life before left", "no file yet"])
def test_an_outbox_that_could_not_be_opened_at_the_start_is_durable_once_it_can(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, before: str
) -> None:
    """A host that boots with its disk full: the outbox cannot be opened, and alerts go on
    from memory, said degraded.  Once there is room, the file is taken as the outbox, with
    what memory holds, so a kill -9 after that loses nothing."""
    import alerting.outbox

    with small_tmpfs(tmp_path / "data") as data_dir:
        path = data_dir / "outbox.db"
        if before == "a file a life before left":
            _a_life_before_left_episodes(path, 2, 7)
        fill(data_dir)
        outbox = SqliteOutbox(path)
        assert outbox.degraded is not None and "cannot be opened" in outbox.degraded
        rows = [outbox.add("hook", event(i)) for i in range(3)]
        outbox.keep_episode(event(2))
        outbox.remove([rows[0]])  # sent from memory
        (data_dir / "filler").unlink()  # the operator makes room
        monkeypatch.setattr(alerting.outbox, "RETURN_RETRY_SECS", 0.0)
        rows.append(outbox.add("hook", event(3)))  # the next write takes the file
        assert outbox.degraded is None
        killed = SqliteOutbox(path)  # no close: the process died
        assert [row for row, _ in killed.pending("hook", 10)] == rows[1:]
        # This life's only: the life before's, never read, were told anew by this life
        # where they still held (taken back, the next start would resume one this life told
        # ended, and keep quiet when it came back).
        assert [(a.labels, a.message) for a in killed.open_episodes()] == [
            ((("n", "2"),), "event 2")
        ]
        assert killed.add("hook", event(5)) > rows[-1]  # a next life's ids go on
        killed.close()
        outbox.close()


def test_a_condition_back_in_a_third_life_is_announced_after_a_second_that_booted_full(
    tmp_path: Path,
) -> None:
    """Three lives of the router: the first announces a disk alert (its episode kept in
    the file); the second boots with its disk full, announces it again and its end from
    memory, room is made and the stop takes the file; in the third the condition is back.
    The channels were last told it ended: they hear a FIRING (the first life's episode,
    taken back, made it a silent continuation)."""
    from tests.test_restart_episodes import disk, life

    with small_tmpfs(tmp_path / "data") as data_dir:
        path = data_dir / "outbox.db"
        first = SqliteOutbox(path)
        life(first, [("route", disk(100.0))])
        first.close()
        fill(data_dir)
        second = SqliteOutbox(path)
        assert second.degraded is not None
        told = life(second, [("route", disk(1000.0)), ("route", disk(1100.0, Status.RESOLVED))])
        assert [a.status for a in told] == [Status.FIRING, Status.RESOLVED]
        (data_dir / "filler").unlink()
        second.close()
        assert second.degraded is None
        third = SqliteOutbox(path)
        restored = third.open_episodes()
        told = life(third, [("route", disk(2000.0)), ("sweep", 2100.0)], restored, now=2000.0)
        third.close()
    assert [a.status for a in told] == [Status.FIRING]


def _corrupted_and_full(data_dir: Path, page: str) -> Path:
    """An outbox a life before left, a page of it garbage, on a disk then full."""
    import sqlite3

    path = data_dir / "outbox.db"
    earlier = SqliteOutbox(path)
    earlier.remove([earlier.add("hook", event(i)) for i in range(2)])
    earlier.close()
    with contextlib.closing(sqlite3.connect(path)) as db:
        (root,) = db.execute("SELECT rootpage FROM sqlite_master WHERE name = 'outbox'").fetchone()
        size = db.execute("PRAGMA page_size").fetchone()[0]
    with open(path, "r+b") as f:
        if page == "the outbox table's first":  # read only by the taking's transaction
            f.seek((root - 1) * size)
            f.write(b"\xff" * size)
        else:  # the schema, past the header: read by the opening
            f.seek(100)
            f.write(b"\xff" * (size - 100))
    fill(data_dir)
    return path


@pytest.mark.parametrize("page", ["the outbox table's first", "the schema's"])
def test_a_file_found_corrupted_only_when_it_could_be_opened_is_moved_aside(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, page: str
) -> None:
    """A full disk hid the corruption at the start ("disk I/O error" before any page was
    read); found when the file can be opened, it is moved aside, as a start would have,
    and a fresh file is the outbox, not a silent try every minute for the life."""
    import alerting.outbox

    with small_tmpfs(tmp_path / "data") as data_dir:
        path = _corrupted_and_full(data_dir, page)
        outbox = SqliteOutbox(path)
        assert outbox.degraded is not None and "cannot be opened" in outbox.degraded
        row = outbox.add("hook", event(5))
        (data_dir / "filler").unlink()
        monkeypatch.setattr(alerting.outbox, "RETURN_RETRY_SECS", 0.0)
        outbox.add("hook", event(6))
        assert outbox.degraded is None
        assert [p.name for p in outbox.moved_aside] and "corrupted" in caplog.text
        killed = SqliteOutbox(path)
        assert [r for r, _ in killed.pending("hook", 10)] == [row, row + 1]
        killed.close()
        outbox.close()


@pytest.mark.parametrize("page", ["the outbox table's first", "the schema's"])
def test_a_corrupted_file_that_cannot_be_moved_aside_is_said_once_and_not_tried_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, page: str
) -> None:
    """The same file, but its move aside fails (faked at that one call: a rename the file
    system refuses): said once, with why, in the degraded reason, and memory is the
    outbox for the life (its rows never read: not a file to write into)."""
    import alerting.outbox

    def refused(_: SqliteOutbox) -> Path:
        raise PermissionError(errno.EPERM, "Operation not permitted")

    with small_tmpfs(tmp_path / "data") as data_dir:
        path = _corrupted_and_full(data_dir, page)
        outbox = SqliteOutbox(path)
        (data_dir / "filler").unlink()
        monkeypatch.setattr(SqliteOutbox, "_move_aside", refused)
        monkeypatch.setattr(alerting.outbox, "RETURN_RETRY_SECS", 0.0)
        with caplog.at_level(logging.ERROR, logger="alerting.outbox"):
            rows = [outbox.add("hook", event(i)) for i in range(3)]
        assert outbox.degraded is not None and "could not be moved aside" in outbox.degraded
        assert caplog.text.count("could not be moved aside") == 1
        assert [r for r, _ in outbox.pending("hook", 10)] == rows
        outbox.close()


def test_a_symlink_planted_before_the_file_could_be_opened_is_refused_and_said_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Started in memory on a full disk; before the file can be made, a local user plants a
    symlink where it goes: never followed (root would create a file of their choosing),
    refused for the life and said once, as at a start."""
    import alerting.outbox

    with small_tmpfs(tmp_path / "data") as data_dir:
        path = data_dir / "outbox.db"
        fill(data_dir)
        outbox = SqliteOutbox(path)
        (data_dir / "filler").unlink()
        for leftover in data_dir.glob("outbox.db*"):
            leftover.unlink()
        target = tmp_path / "target.db"
        path.symlink_to(target)
        monkeypatch.setattr(alerting.outbox, "RETURN_RETRY_SECS", 0.0)
        with caplog.at_level(logging.ERROR, logger="alerting.outbox"):
            outbox.add("hook", event(1))
            outbox.add("hook", event(2))
            outbox.close()
        assert not target.exists()
        assert outbox.degraded is not None and "refused" in outbox.degraded
        assert caplog.text.count("refused") == 1


def test_the_agents_outbox_on_a_data_dir_full_at_the_start_is_the_file_once_there_is_room(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the agent opens at its start (`open_outbox`, a webhook on): on a data_dir full
    then, an outbox in memory that says so, not a `MemoryOutbox` for the life; with room
    again, the file."""
    import alerting.outbox
    from agent.assembly import build_channels, open_outbox
    from agent.config import parse_config_text

    with small_tmpfs(tmp_path / "data") as data_dir:
        fill(data_dir)
        loaded = parse_config_text(
            f'[agent]\ndata_dir = "{data_dir}"\n[alerting.webhook]\nenabled = true\n'
            'url = "http://127.0.0.1:9/hook"\n',
            "t.toml",
        )
        outbox = open_outbox(loaded.settings, build_channels(loaded.settings))
        assert outbox.degraded is not None and "cannot be opened" in outbox.degraded
        row = outbox.add("webhook", event(1))
        (data_dir / "filler").unlink()
        monkeypatch.setattr(alerting.outbox, "RETURN_RETRY_SECS", 0.0)
        assert [r for r, _ in outbox.pending("webhook", 10)] == [row]
        assert outbox.degraded is None
        killed = SqliteOutbox(data_dir / "outbox.db")
        assert [r for r, _ in killed.pending("webhook", 10)] == [row]
        killed.close()
        outbox.close()


def test_a_stop_on_a_disk_still_full_leaves_the_file_as_the_life_before_left_it(
    tmp_path: Path,
) -> None:
    """Started in memory and stopped before the file could be taken: nothing of this life
    can be written there, and nothing of the life before is lost from it (its waiting
    notification and its open episode, for the next start)."""
    with small_tmpfs(tmp_path / "data") as data_dir:
        path = data_dir / "outbox.db"
        earlier = SqliteOutbox(path)
        waiting = earlier.add("hook", event(7))
        earlier.keep_episode(event(7))
        earlier.close()
        fill(data_dir)
        outbox = SqliteOutbox(path)
        outbox.add("hook", event(1))
        outbox.keep_episode(event(1))
        outbox.end_episode(event(7).fingerprint)
        outbox.close()
        assert outbox.degraded is not None
        (data_dir / "filler").unlink()
        again = SqliteOutbox(path)  # the next start
        assert [r for r, _ in again.pending("hook", 10)] == [waiting]
        assert [a.labels for a in again.open_episodes()] == [(("n", "7"),)]
        again.close()


def test_a_file_not_opened_at_the_start_that_holds_alerts_is_left_to_the_next_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """What a life before queued and could not send, in a file this life could not open at
    its start: sent after what memory sent since, it would end alerts out of order (a
    FIRING after its RESOLVED).  So the file is not taken with them in it: they are kept as
    they are for the next start, which sends them (still after what this life sent); this
    life goes on in memory and says why, once.  The life before's open episodes go from it
    as in a taking: this one ended one of them from memory."""
    import alerting.outbox

    with small_tmpfs(tmp_path / "data") as data_dir:
        path = data_dir / "outbox.db"
        earlier = SqliteOutbox(path)
        waiting = [earlier.add("hook", event(i)) for i in (7, 8)]
        earlier.keep_episode(event(7))
        earlier.close()
        fill(data_dir)
        outbox = SqliteOutbox(path)
        outbox.keep_episode(event(7))  # told anew from memory, and its end
        outbox.end_episode(event(7).fingerprint)
        first = outbox.add("hook", event(1))
        (data_dir / "filler").unlink()
        monkeypatch.setattr(alerting.outbox, "RETURN_RETRY_SECS", 0.0)
        with caplog.at_level(logging.ERROR, logger="alerting.outbox"):
            second = outbox.add("hook", event(2))
            outbox.add("hook", event(3))  # no other try, nothing said again
        assert outbox.degraded is not None and "holds 2 alerts from before" in outbox.degraded
        assert caplog.text.count("from before it") == 1
        assert [row for row, _ in outbox.pending("hook", 10)][:2] == [first, second]
        outbox.close()
        again = SqliteOutbox(path)  # the next start
        assert [a.labels for _, a in again.pending("hook", 10)] == [(("n", "7"),), (("n", "8"),)]
        assert [row for row, _ in again.pending("hook", 10)] == waiting
        assert again.open_episodes() == []
        again.close()


def test_alerts_held_back_behind_a_waiting_digest_are_said_by_the_next_one() -> None:
    """A digest waits (the channel is down) and 60 more alerts come, over the budget.  The
    digest is not rewritten while rows wait to be admitted; delivering it cleared the whole
    fold, so what was held back after it was written was said nowhere (48 of 65 here)."""
    channel = StandIn(down=True)

    def said() -> int:
        singles = [a for a in channel.got if a.metric != "alerts_folded"]
        digests = [a for a in channel.got if a.metric == "alerts_folded"]
        return len(singles) + sum(int(d.context["folded"]) for d in digests)

    async def scenario() -> None:
        worker = ChannelWorker(channel, outbox=MemoryOutbox(), max_per_hour=2, window=6.0,
                               park_secs=0.2, group_wait=0, max_age=float("inf"))  # fmt: skip
        worker.start()
        for i in range(5):  # one admitted, four held back: a digest waits
            worker.submit(event(i, metric="log_oom"))
        await until(lambda: worker._digest_row is not None, 10, "the digest")
        for i in range(5, 65):
            worker.submit(event(i, metric="log_oom"))
        channel.down = False
        await until(lambda: said() >= 65, 30, "every alert sent or counted in a digest")
        await worker.stop()

    asyncio.run(scenario())
    assert said() == 65


def test_a_kill_before_the_digest_goes_out_loses_none_of_what_it_folds(tmp_path: Path) -> None:
    """The budget holds back alerts after a digest went out (the next one is minutes away);
    the agent dies without a clean stop; the next run still says what was held back."""
    import io

    from alerting.channels.console import ConsoleChannel

    path = tmp_path / "outbox.db"

    async def first_run() -> str:
        out = io.StringIO()
        worker = ChannelWorker(ConsoleChannel(stream=out), outbox=SqliteOutbox(path),
                               max_per_hour=2, group_wait=0.0)  # fmt: skip
        worker.start()
        for i in range(6):  # one group: one alert passes, the rest fold into a digest
            worker.submit(event(i, metric="log_link_down"))
        assert await worker.drain(30)
        said = out.getvalue()
        for i in range(6, 16):  # held back too; the next digest waits for its turn
            worker.submit(event(i, metric="log_link_down"))
        deadline = time.monotonic() + 30
        while worker.pending:
            assert time.monotonic() < deadline, "the held-back alerts were never looked at"
            await asyncio.sleep(0.01)
        assert "10 alerts" not in out.getvalue()  # not said yet: the digest is minutes away
        assert worker._task is not None
        worker._task.cancel()  # killed: no drain, no stop
        return said

    async def second_run() -> str:
        out = io.StringIO()
        worker = ChannelWorker(ConsoleChannel(stream=out), outbox=SqliteOutbox(path),
                               max_per_hour=2, group_wait=0.0)  # fmt: skip
        worker.start()
        assert await worker.drain(30)
        await worker.stop()
        return out.getvalue()

    first = asyncio.run(first_run())
    assert "5 alerts held back by the hourly budget" in first  # the first digest went out at once
    second = asyncio.run(second_run())
    assert "10 alerts held back by the hourly budget" in second, second
    assert "(2 per hour, at most 1 of one kind, an emergency of one kind once an hour)" in second


def test_a_digest_names_the_emergency_rule_only_where_it_applies() -> None:
    """A second reader's finding: the digest named the emergency's once-an-hour bypass with
    the bypass switched off (`emergency_bypass_rate_limit = false`)."""
    import io

    from alerting.channels.console import ConsoleChannel

    worker = ChannelWorker(ConsoleChannel(stream=io.StringIO()), max_per_hour=60,
                           emergency_bypass=False)  # fmt: skip
    worker._fold(Alert(analyzer="t", metric="m", labels=(), status=Status.FIRING,
                       severity=Severity.EMERGENCY, value=1.0, threshold=None, message="x",
                       timestamp=0.0))  # fmt: skip
    assert "(60 per hour, at most 30 of one kind): 1 emergency" in worker._digest().message


def test_a_digest_of_a_killed_run_that_expires_is_counted_as_what_it_folds(tmp_path: Path) -> None:
    """A run folds ten alerts into its parked digest and is killed; the next starts after
    `max_age_secs`.  The digest expired as "1 alert(s) expired": ten were one."""
    path = tmp_path / "outbox.db"

    async def first_run() -> None:
        worker = ChannelWorker(StandIn(down=True), outbox=SqliteOutbox(path), max_per_hour=2,
                               group_wait=0.0, park_secs=60)  # fmt: skip
        worker.start()
        for i in range(12):  # one group: the first is admitted (and waits), the rest folded
            worker.submit(event(i, metric="log_link_down"))
        await until(lambda: worker.stats.suppressed == 11, 30, "the alerts held back")
        assert worker._task is not None
        worker._task.cancel()  # killed: no drain, no stop

    async def second_run() -> ChannelWorker:
        worker = ChannelWorker(StandIn(), outbox=SqliteOutbox(path), max_per_hour=2,
                               group_wait=0.0, max_age=0.0)  # fmt: skip
        worker.start()
        assert await worker.drain(30)
        await worker.stop()
        return worker

    asyncio.run(first_run())
    worker = asyncio.run(second_run())
    assert worker.stats.expired == 1 + 11  # the waiting alert, and the digest's eleven
    assert worker.undelivered.take() == {("hook", "expired"): 12}


def test_one_line_channels_say_what_went_undelivered_too() -> None:
    """Console and syslog print one line: the undelivered count rides on it."""
    import dataclasses
    import io

    from alerting.channels.console import ConsoleChannel
    from alerting.channels.syslog import rfc5424

    note = "2 alert(s) expired undelivered (older than max_age_secs) on channel webhook"
    alert = dataclasses.replace(event(1), context={"undelivered": note})
    out = io.StringIO()
    asyncio.run(ConsoleChannel(stream=out).send([alert]))
    assert note in out.getvalue() and out.getvalue().count("\n") == 1
    assert note in rfc5424(alert, 3, "sysops-agent", "web-01").decode()
    assert "undelivered" not in rfc5424(event(2), 3, "sysops-agent", "web-01").decode()


def test_notifications_kept_in_memory_after_a_restart_do_not_take_the_backlogs_ids(
    tmp_path: Path,
) -> None:
    """A life before left five rows (ids 1-5); this one sends them, and the disk fills before
    it added a row of its own.  The memory fallback numbered from 1 again: the sent
    backlog's removal deleted the new notifications unsent."""
    with small_tmpfs(tmp_path / "data") as data_dir:
        before = SqliteOutbox(data_dir / "outbox.db")
        for i in range(5):
            before.add("hook", event(i))
        before.close()
        channel = StandIn(gated=True)
        outbox = SqliteOutbox(data_dir / "outbox.db")

        async def scenario() -> None:
            worker = ChannelWorker(channel, outbox=outbox, group_wait=0, max_per_hour=100,
                                   max_age=float("inf"))  # fmt: skip
            worker.start()
            await until(lambda: worker._busy, 10, "the backlog in flight")
            fill(data_dir)
            wide = [dataclasses.replace(event(10 + i), message=f"new {i} " + "x" * 3000)
                    for i in range(3)]  # fmt: skip
            for alert in wide:
                worker.submit(alert)
            assert outbox.degraded is not None, "the file never filled up"
            channel.gate.set()
            await until(lambda: len(channel.got) == 8, 10, "eight delivered")
            await worker.stop()

        asyncio.run(scenario())
        outbox.close()
    assert [a.message.split(" x")[0] for a in channel.got] == [
        *(event(i).message for i in range(5)), "new 0", "new 1", "new 2",
    ]  # fmt: skip


# -- 4. the end of what a channel announced ----------------------------------------------------


def test_the_end_of_every_episode_a_channel_announced_gets_through_a_spent_budget(
    http_receiver: HttpReceiver,
) -> None:
    """Six links go down and come back within the hour; the budget (4 an hour, 2 a group)
    announces two and folds four.  Held back like any alert, the two RESOLVEDs were folded
    too, and a receiver that groups by `alert_id` (as ALERTING.md tells it to) kept those
    two links down for good.  One-off events (log lines) have no end to wait for."""
    from alerting.router import Router

    def link(i: int, status: Status, at: float) -> Alert:
        return Alert(analyzer="threshold", metric="network_link_up", labels=(("interface", f"eth{i}"),),
                     status=status, severity=Severity.CRITICAL, value=0.0, threshold=1.0,
                     message=f"eth{i} down", timestamp=at, hostname="web-01")  # fmt: skip

    async def scenario() -> ChannelWorker:
        worker = ChannelWorker(WebhookChannel(http_receiver.url + "/hook", retry_count=1),
                               max_per_hour=4, group_wait=0, max_age=float("inf"))  # fmt: skip
        worker.start()
        router = Router("web-01", [worker], min_interval_secs=3600, dedup_window_secs=600)
        now = time.time()
        for i in range(6):
            router.route(link(i, Status.FIRING, now))
        for i in range(40):  # events of their own group: admitted or folded, never "open"
            router.route(
                dataclasses.replace(event(i, metric="log_segfault"), context={"event": True})
            )
        assert await worker.drain(30.0)
        for i in range(6):
            router.route(link(i, Status.RESOLVED, now + 60))
        assert await worker.drain(30.0)
        await worker.stop()
        return worker

    worker = asyncio.run(scenario())
    got = [r.json() for r in http_receiver.requests]
    links = [b for b in got if b["metric"] == "network_link_up"]
    fired = {b["alert_id"] for b in links if b["status"] == "firing"}
    ended = {b["alert_id"] for b in links if b["status"] == "resolved"}
    assert len(fired) == 2  # the first of its group, and its share of the budget
    assert ended == fired  # each announced link is seen back up, none left open
    assert not worker._announced  # ended, and no event was ever waited for
    digest = next(b for b in got if b["metric"] == "alerts_folded")
    assert "eth2 down" in str(digest["message"])  # the rest was folded, said, not lost


def test_a_stop_whose_cancellation_a_channel_swallows_still_stops_the_worker() -> None:
    """The stop's cancellation arrives as the channel's send completes inside its own
    `asyncio.wait_for` (libraries use it): Python 3.11 returns the send's result instead,
    the worker went on, and the stop (a shutdown, a reload) waited for good."""
    sent_once = asyncio.Event()

    class WaitsForItsSend(StandIn):
        async def send(self, alerts: Sequence[Alert]) -> None:
            async def inner() -> None:
                sent_once.set()
                await self.gate.wait()
                self.got.extend(alerts)

            await asyncio.wait_for(inner(), 60)

    async def scenario() -> None:
        channel = WaitsForItsSend(gated=True)
        worker = ChannelWorker(channel, outbox=MemoryOutbox(), group_wait=0)
        worker.start()
        worker.submit(event(1))
        await asyncio.wait_for(sent_once.wait(), 10)
        task = worker._task
        stopping = asyncio.ensure_future(worker.stop())  # its cancel comes first in the turn
        channel.gate.set()  # ... in which the send completes
        done, _ = await asyncio.wait({stopping}, timeout=10)
        assert done and task is not None and task.done(), "the stop waits for a worker that goes on"

    asyncio.run(scenario())


def test_a_stop_that_meets_a_completing_send_stops_the_worker() -> None:
    """The same race one level up: the worker's own send (it used `asyncio.wait_for`)."""

    async def scenario() -> None:
        channel = StandIn(gated=True)
        worker = ChannelWorker(channel, outbox=MemoryOutbox(), group_wait=0)
        worker.start()
        worker.submit(event(1))
        await until(lambda: channel.at_gate, 10, "the send waiting for its gate")
        task = worker._task
        stopping = asyncio.ensure_future(worker.stop())
        channel.gate.set()
        done, _ = await asyncio.wait({stopping}, timeout=10)
        assert done and task is not None and task.done(), "the stop waits for a worker that goes on"

    asyncio.run(scenario())
