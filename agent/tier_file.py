"""The store's tiers kept across a restart: the history tier (`data_dir/history-tier.bin`)
and the raw tier's last samples of what z-score and EMA watch, with their clocks
(`data_dir/raw-tier.bin`).

Without it every restart (an upgrade, a configuration change that needs one, a
reboot) forgets the day of history the analyzers judge by: the next night's
backup is news again to z-score and season (they look for the same time of day
on an earlier day), a disk filling slowly needs a new hour before its trend
speaks, a leak its hour and more.  A fleet upgraded in the afternoon paged that
night for every host's nightly job.

Written at a clean stop and every `SAVE_EVERY_SECS` while running (so a kill -9,
an OOM kill or a power cut loses at most that much of it), read once at start-up
before any collector runs (`Store.restore_history`).  After a reboot the
series of processes (a `pid` label) are left out: their pids now name others.

The raw tier is what z-score and EMA learn from (their baselines, EW means,
learning time): without it they learnt for an hour after every restart, blind
to the anomalies they exist for.  It changes every tick, so it is copied whole
(`keep_recent`, a ring's copy a few milliseconds at most) after the history
tier, at a clean stop and every `SAVE_EVERY_SECS`, and taken back by the next
start if it is of the same boot and at most `RECENT_MAX_GAP_SECS` old
(`take_recent`): those analyzers go through it an instant at a time, as they
did in that life (`analyzers.base.Warmable`), and judge at once.  The file is
removed when it is read: it speaks for the moment it was written only.

While running, the tier is copied `CHUNK_SERIES` series at a time on the event
loop and written on a thread in between (`keep`), so a host keeping history for
thousands of series neither stalls the loop nor holds a second tier in memory;
a ring that gained a bucket or changed its series while it was copied makes the
save start again (at most `ATTEMPTS` times, then the next round).

The format is ours and small, so that reading it is safe and costs no import
(numpy's .npz would bring zipfile, bz2 and lzma into the resident daemon).
Records are a little-endian uint64 length and that many bytes of UTF-8 JSON:

    MAGIC, a record {"version", "saved_at", "resolution", "boot_id"}, then per
    ring: a record {"group", "series": n, "buckets": m}, m float64 bucket
    times, n records of one series key each, and n x m float32 values
    (little-endian, series by series).  The raw tier's file is the same with
    RECENT_MAGIC, its "buckets" the raw instants and their times the samples',
    and (version 2) "clocks": c in its header record, then c records
    [analyzer, place, quiet until, first seen, low, high] (each a number or
    null), in the order of their places, before the rings: for the series at
    that place in the file's order of series (0 the first ring's first), what
    an analyzer's samples alone do not give back (`analyzers.base.Clocks`):
    until when it keeps the series quiet (the cooldown after an alert ended),
    since when it has seen it (its learning time counts from then, in a life
    longer than the ring), and the range it has held.

A reader reads no more than the store's caps hold (a file kept under larger
caps, before `history_hours` or `max_series` was lowered, is cut to them: the
newest buckets, the first series; the rest is skipped unread; the raw tier's to
`ring_buffer_capacity` instants), and each record
against a bound of its own, so a file cannot make it build more than the store
could hold; it reads with `pread` (an I/O error or a
file cut short under it is an error, not a crash), checks the whole file, then
takes it back a ring at a time.
The file is handled as hostile (common/datafile.py); anything wrong with it is
logged and the agent starts without it, as before.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import json
import logging
import math
import os
import queue
import struct
import threading
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from agent.settings import StorageSettings
from agent.store import Store, TierCopy, TierLayout
from analyzers.base import Batch, Clocks, SeriesKey
from common import datafile

log = logging.getLogger(__name__)
_T = TypeVar("_T")

FILE_NAME = "history-tier.bin"
MAGIC = b"sysops-agent history tier\n"
VERSION = 1
RECENT_VERSION = 2  # 1 (0.3.0): no clocks; still read
SAVE_EVERY_SECS = 900.0
RECENT_MAX_GAP_SECS = SAVE_EVERY_SECS + 900.0
CHUNK_SERIES = 500  # a day of one-minute buckets: 2.9 MB a copy
ATTEMPTS = 3
HEADER_BYTES = 4096  # the file's and each ring's header: a few names and counts
KEY_BYTES = 4096  # one series key as JSON (a long mountpoint or cgroup name fits)
MAX_LABELS = 64
MAX_CLOCKS_PER_SERIES = 2  # the analyzers that go through the samples: z-score and EMA
CLOCKS_BYTES = 256  # a clocks record: an analyzer's name, a place, four numbers or nulls
# The raw tier of the series the statistical analyzers learn from, kept with the history
# tier, and used only by the next start of the same boot within RECENT_MAX_GAP_SECS: a
# restart, an upgrade, a crash that systemd restarted (the file then up to SAVE_EVERY_SECS
# old), not an outage (a baseline of an hour before is no longer "recent").
RECENT_FILE_NAME = "raw-tier.bin"
RECENT_MAGIC = b"sysops-agent raw tier\n"
_LENGTH = struct.Struct("<Q")
_FLOAT32, _FLOAT64 = np.dtype("<f4"), np.dtype("<f8")
_CAPLESS_SERIES = 100_000  # the bound for a store without a cap (tests, benchmarks)
# The most series any store can have held (`storage.max_series`' ceiling): a file that
# says more was not written by the agent, and is refused before its keys are skipped.
SERIES_CEILING = int(
    next(f for f in fields(StorageSettings) if f.name == "max_series").metadata["le"]
)


def path_in(data_dir: str | Path) -> Path:
    return Path(data_dir) / FILE_NAME


def recent_path_in(data_dir: str | Path) -> Path:
    return Path(data_dir) / RECENT_FILE_NAME


@dataclass(frozen=True)
class SeriesClocks:
    """An analyzer's `Clocks` of a series, kept with the samples (which do not give them
    back)."""

    analyzer: str
    key: SeriesKey
    clocks: Clocks


@dataclass(frozen=True)
class _ClocksMark:
    """A clocks record as read: its series by place (`SeriesClocks` once the keys are read)."""

    analyzer: str
    place: int
    clocks: Clocks


@dataclass(frozen=True)
class Kept:
    resolution: float
    saved_at: float
    boot_id: str
    copies: list[TierCopy]
    clocks: list[SeriesClocks] = field(default_factory=list)


def _record(body: bytes) -> bytes:
    return _LENGTH.pack(len(body)) + body


def _json(document: object) -> bytes:
    return _record(json.dumps(document, separators=(",", ":")).encode())


def _head(
    resolution: float, saved_at: float, boot_id: str, magic: bytes = MAGIC, clocks: int = 0
) -> bytes:
    meta: dict[str, Any] = {"version": VERSION, "saved_at": saved_at, "resolution": resolution,
                            "boot_id": boot_id}  # fmt: skip
    if magic == RECENT_MAGIC:
        meta.update(version=RECENT_VERSION, clocks=clocks)
    return magic + _json(meta)


def _clocks_records(copies: list[TierCopy], clocks: Sequence[SeriesClocks]) -> list[bytes]:
    """The records of those of `clocks` whose series the file holds, each naming its series
    by place (a key can be 4 KB: a place keeps the records small, and what a reader
    builds of them)."""
    place = {key: i for i, key in enumerate(k for c in copies for k in c.keys)}
    # In the order of places: a file cut to a lower `max_series` keeps its first series,
    # and so the records a reader reads first are theirs, of every analyzer.
    named = sorted(((place[c.key], c) for c in clocks if c.key in place), key=lambda p: p[0])
    return [_json([c.analyzer, at, c.clocks.quiet_until, c.clocks.first_seen, c.clocks.low,
                   c.clocks.high]) for at, c in named]  # fmt: skip


def _ring_head(group: str, times: np.ndarray[Any, Any], keys: list[SeriesKey]) -> bytes:
    """A ring's header, its times (float64) and its keys, one record each: what a reader
    must check before it builds anything is in the first, small one."""
    head = _json({"group": group, "series": len(keys), "buckets": int(times.size)})
    parts = [head, np.ascontiguousarray(times, dtype=_FLOAT64).tobytes()]
    parts += [_json([k.metric, [list(pair) for pair in k.labels]]) for k in keys]
    return b"".join(parts)


def encode(
    copies: list[TierCopy],
    resolution: float,
    saved_at: float,
    boot_id: str = "",
    magic: bytes = MAGIC,
    clocks: Sequence[SeriesClocks] = (),
) -> list[bytes | memoryview]:
    """The whole file's parts, from whole copies (the raw tier's with its clocks,
    `keep_recent`; tests and benchmarks: `keep` writes the history tier's a part at a
    time)."""
    records = _clocks_records(copies, clocks)
    parts: list[bytes | memoryview] = [_head(resolution, saved_at, boot_id, magic, len(records))]
    parts += records
    for c in copies:
        parts.append(_ring_head(c.group, c.times, c.keys))
        parts.append(np.ascontiguousarray(c.values, dtype=_FLOAT32).data)
    return parts


class _FileThread:
    """The one thread the file's I/O runs on, in order.  Its own: a disk that stalls (an
    fsync can take minutes on a saturated device) holds it alone, not the loop's shared
    executor (name lookups, the inventory); a daemon: it never holds the process at exit;
    and one save at a time: a round that finds it still busy is skipped."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[tuple[concurrent.futures.Future[Any], Callable[[], Any]]]
        self._jobs = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._last: concurrent.futures.Future[Any] | None = None  # jobs run in order

    @property
    def busy(self) -> bool:
        return self._last is not None and not self._last.done()

    def run(self, job: Callable[[], _T]) -> asyncio.Future[_T]:
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="sysops-tier", daemon=True)
            self._thread.start()
        done: concurrent.futures.Future[_T] = concurrent.futures.Future()
        self._last = done
        self._jobs.put((done, job))
        return asyncio.wrap_future(done)

    def _work(self) -> None:
        while True:
            done, job = self._jobs.get()
            if not done.set_running_or_notify_cancel():
                continue
            try:
                done.set_result(job())
            except BaseException as exc:
                done.set_exception(exc)


_FILE_THREAD = _FileThread()


async def keep(
    store: Store, path: Path, saved_at: float, boot_id: str, *, wait: bool = False
) -> bool:
    """Write the store's history tier to `path`, a part at a time (see the module's
    docstring); False if the store kept changing under the copy (try again later).
    OSError if the file cannot be written, or if the last save is still being written
    (with `wait`, the stop's: after it, within the caller's bound)."""
    if _FILE_THREAD.busy:
        if not wait:
            raise OSError("the last save is still being written (a disk that stalls?)")
        await _FILE_THREAD.run(lambda: None)  # the jobs run in order: after the earlier ones
    for _ in range(ATTEMPTS):
        made: list[datafile.AtomicWriter] = []  # filled on the file thread
        try:
            await _FILE_THREAD.run(functools.partial(_create, made, path))
            out = made[0]
            whole = await _write_parts(store, out, saved_at, boot_id)
            if whole:
                await _FILE_THREAD.run(out.commit)
                return True
        except Exception:
            # The failure came back from the file thread, so it is free: awaited, the temp
            # file is gone when this returns, and the next save does not find the thread
            # still busy with it (and refuse itself as "still being written").
            await _FILE_THREAD.run(functools.partial(_abort, made))
            raise
        except BaseException:
            # Not awaited: given up (a stop's bound ran out), it must not wait for a write
            # that hangs; the abort runs on the file thread once that write (or the file's
            # creation) returns, whatever became of it.
            abort = _FILE_THREAD.run(functools.partial(_abort, made))
            abort.add_done_callback(lambda f: f.cancelled() or f.exception())  # retrieved
            raise
        await _FILE_THREAD.run(out.abort)
    return False


def _create(made: list[datafile.AtomicWriter], path: Path) -> None:
    made.append(datafile.AtomicWriter(path, durable=True))


def _abort(made: list[datafile.AtomicWriter]) -> None:
    if made:  # (its creation may have failed, or not run: cancelled before)
        made[0].abort()


async def _write_parts(
    store: Store, out: datafile.AtomicWriter, saved_at: float, boot_id: str
) -> bool:
    head = _head(store.resolution, saved_at, boot_id)
    await _FILE_THREAD.run(lambda: out.write(head))
    for layout in store.history_layout():
        ring = _ring_head(layout.group, layout.times, layout.keys)
        await _FILE_THREAD.run(lambda: out.write(ring))  # noqa: B023 (awaited here)
        for start in range(0, layout.cols.size, CHUNK_SERIES):
            if not _unchanged(store, layout):
                return False
            cols = layout.cols[start : start + CHUNK_SERIES]
            part = store.history_values(layout.group, cols).astype(_FLOAT32, copy=False)
            await _FILE_THREAD.run(lambda: out.write(part.data))  # noqa: B023 (awaited here)
    return True


def _unchanged(store: Store, layout: TierLayout) -> bool:
    try:
        return store.history_stamp(layout.group) == layout.stamp
    except KeyError:
        return False


class _Reader:
    """The file read in order, by position: from bytes (tests) or a descriptor (`pread`:
    one ring's values at a time in memory; an I/O error is an OSError, not a crash)."""

    def __init__(self, source: bytes | int, size: int) -> None:
        self.source, self.size, self.at = source, size, 0

    def left(self) -> int:
        return self.size - self.at

    def take(self, count: int, what: str) -> bytes:
        if count > self.left():
            raise ValueError(f"truncated {what}")
        if isinstance(self.source, bytes):
            data = self.source[self.at : self.at + count]
        else:
            data = os.pread(self.source, count, self.at)
            if len(data) != count:
                raise OSError("the file changed while it was read")
        self.at += count
        return data

    def skip(self, count: int, what: str) -> None:
        if count > self.left():
            raise ValueError(f"truncated {what}")
        self.at += count

    def skip_record(self, limit: int, what: str) -> None:
        (length,) = _LENGTH.unpack(self.take(_LENGTH.size, what))
        if length > limit:
            raise ValueError(f"{what} larger than {limit} bytes")
        self.skip(length, what)

    def array(self, count: int, dtype: np.dtype[Any], what: str) -> np.ndarray[Any, Any]:
        return np.frombuffer(self.take(count * dtype.itemsize, what), dtype).copy()

    def record(self, limit: int, what: str) -> Any:
        (length,) = _LENGTH.unpack(self.take(_LENGTH.size, what))
        if length > limit:
            raise ValueError(f"{what} larger than {limit} bytes")
        return json.loads(self.take(length, what))


def _meta(
    reader: _Reader, magic: bytes, max_keys: int
) -> tuple[float, float, str, list[_ClocksMark]]:
    """The header, and the raw tier's clocks records: at most MAX_CLOCKS_PER_SERIES per series
    the store holds are read, the rest skipped (a file kept under larger caps is cut, as
    its rings are; one cannot make the reader build more)."""
    if reader.take(min(len(magic), reader.left()), "magic") != magic:
        raise ValueError(f"not a {magic.decode().removeprefix('sysops-agent ').strip()} file")
    meta = reader.record(HEADER_BYTES, "header")
    versions = (VERSION, RECENT_VERSION) if magic == RECENT_MAGIC else (VERSION,)
    if not isinstance(meta, dict) or meta.get("version") not in versions:
        raise ValueError("unknown version")
    boot_id = meta.get("boot_id")
    if not isinstance(boot_id, str):
        raise ValueError("bad boot_id")
    count = meta.get("clocks", 0) if meta["version"] == RECENT_VERSION else 0
    most = MAX_CLOCKS_PER_SERIES * max(max_keys, SERIES_CEILING)  # any store could have kept
    if not isinstance(count, int) or isinstance(count, bool) or not 0 <= count <= most:
        raise ValueError("bad count of clocks")
    if count * _LENGTH.size > reader.left():
        raise ValueError("truncated clocks")
    room = min(count, MAX_CLOCKS_PER_SERIES * max_keys)
    marks = [_clocks_mark(reader.record(CLOCKS_BYTES, "clocks")) for _ in range(room)]
    for _ in range(count - room):
        reader.skip_record(CLOCKS_BYTES, "clocks")
    return _number(meta, "resolution"), _number(meta, "saved_at"), boot_id, marks


def _clocks_mark(raw: object) -> _ClocksMark:
    item = _list(raw)
    if len(item) != 6 or not isinstance(item[0], str):
        raise ValueError("bad clocks")
    analyzer, place, *numbers = item
    if isinstance(place, bool) or not isinstance(place, int) or place < 0:
        raise ValueError("bad clocks")
    return _ClocksMark(analyzer, place, Clocks(*(_number_or_none(n) for n in numbers)))


def _number_or_none(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError("bad clocks")
    return float(value)


class _MarkedKeys:
    """The keys the clocks records name, picked from the file's series as they are read, in
    order (only those: a file's keys are read a ring at a time and dropped)."""

    def __init__(self, marks: list[_ClocksMark]) -> None:
        self.marks = marks
        self.wanted = {mark.place for mark in marks}
        self.named: dict[int, SeriesKey] = {}
        self.place = 0

    def see(self, keys: list[SeriesKey]) -> None:
        for key in keys:
            if self.place in self.wanted:
                self.named[self.place] = key
            self.place += 1

    def clocks(self) -> list[SeriesClocks]:
        """The marks whose series was read (those cut to the store's caps were not, and are
        dropped with them; a place past the file's series names nothing)."""
        named = self.named
        return [SeriesClocks(m.analyzer, named[m.place], m.clocks)
                for m in self.marks if m.place in named]  # fmt: skip


def _rings(
    reader: _Reader,
    max_keys: int,
    max_times: int,
    values: Callable[[str], bool],
    cuts: list[str] | None = None,
) -> Iterator[TierCopy]:
    """Each ring in turn, checked; the values of a ring whose group `values` does not want
    are skipped (an empty array).

    A file kept under larger caps (`history_hours` or `max_series` lowered since) is cut
    to these, not refused: the newest `max_times` buckets of a ring, the first `max_keys`
    series of the file; what is left out is skipped, never read into memory, so the
    caps still bound what a file can make the reader build.  `cuts` gets one line per
    ring cut."""
    groups: set[str] = set()
    seen: set[SeriesKey] = set()
    while reader.left():
        head = reader.record(HEADER_BYTES, "ring header")
        if not isinstance(head, dict):
            raise ValueError("a ring header that is not an object")
        group, series, buckets = head.get("group"), head.get("series"), head.get("buckets")
        if not isinstance(group, str) or group in groups:
            raise ValueError("a ring without a group, or twice")
        if not (isinstance(series, int) and isinstance(buckets, int)) or series < 1 or buckets < 0:
            raise ValueError("bad ring counts")  # (a ring of no series is never written)
        groups.add(group)
        older = max(0, buckets - max_times)  # leading buckets beyond the tier's reach now
        reader.skip(older * _FLOAT64.itemsize, "times")
        times = reader.array(buckets - older, _FLOAT64, "times")
        if not np.isfinite(times).all():
            raise ValueError("bad times")
        room = max(0, min(series, max_keys - len(seen)))
        keys = [_key(reader.record(KEY_BYTES, "series key")) for _ in range(room)]
        before = len(seen)
        seen.update(keys)
        if len(seen) != before + room:  # in this ring or another: one row per series
            raise ValueError("a series twice")
        beyond = series - room  # skipped one record at a time: bounded before the loop
        if beyond * _LENGTH.size > reader.left():
            raise ValueError("truncated series key")
        if len(seen) + beyond > max(max_keys, SERIES_CEILING):
            raise ValueError("more series than any store holds")
        for _ in range(beyond):
            reader.skip_record(KEY_BYTES, "series key")
        if cuts is not None and (older or room < series):
            cuts.append(f"{group}: {room} of {series} series, the newest {buckets - older} of "
                        f"{buckets} buckets")  # fmt: skip
        row = buckets * _FLOAT32.itemsize
        if values(group) and not older:
            matrix = reader.array(room * buckets, _FLOAT32, "values").reshape(room, buckets)
        elif values(group):
            matrix = np.empty((room, buckets - older), dtype=_FLOAT32)
            for index in range(room):
                reader.skip(older * _FLOAT32.itemsize, "values")
                matrix[index] = reader.array(buckets - older, _FLOAT32, "values")
        else:
            reader.skip(room * row, "values")
            matrix = np.zeros((0, buckets - older), dtype=_FLOAT32)
        reader.skip((series - room) * row, "values")
        yield TierCopy(group, times, keys, matrix)


def decode(data: bytes, max_keys: int, max_times: int, magic: bytes = MAGIC) -> Kept:
    """A whole file's content (tests and benchmarks); ValueError for anything off or past
    the bounds (keys in all, times per ring)."""
    reader = _Reader(data, len(data))

    def read() -> Kept:
        resolution, saved_at, boot_id, marks = _meta(reader, magic, max_keys)
        rings = list(_rings(reader, max_keys, max_times, lambda _g: True))
        named = _MarkedKeys(marks)
        for ring in rings:
            named.see(ring.keys)
        return Kept(resolution, saved_at, boot_id, rings, named.clocks())

    return _checked(read)


def _checked(read: Callable[[], _T]) -> _T:
    """What a malformed file makes the parsing raise, as the ValueError that says so."""
    try:
        return read()
    except (TypeError, OverflowError, RecursionError, KeyError, UnicodeDecodeError,
            struct.error) as exc:  # fmt: skip
        raise ValueError(f"malformed: {exc.__class__.__name__}") from None


def _number(header: dict[str, Any], name: str) -> float:
    value = header.get(name)
    if not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"bad {name}")
    return float(value)


def _list(value: object) -> list[Any]:
    if not isinstance(value, list):
        raise ValueError("a list expected")
    return value


def _key(raw: object) -> SeriesKey:
    item = _list(raw)
    if len(item) != 2 or not isinstance(item[0], str):
        raise ValueError("bad series key")
    raw_labels = _list(item[1])
    if len(raw_labels) > MAX_LABELS:
        raise ValueError("bad series key")
    labels = []
    for raw_pair in raw_labels:
        pair = _list(raw_pair)
        if len(pair) != 2 or not all(isinstance(p, str) for p in pair):
            raise ValueError("bad label")
        labels.append((pair[0], pair[1]))
    return SeriesKey(item[0], tuple(labels))


Taker = Callable[[TierCopy], int]


def _take_back(
    path: Path,
    what: str,
    magic: bytes,
    max_times: int,
    store: Store,
    groups: Collection[str] | None,
    use: Callable[[Kept, list[str]], Taker | None],
) -> int:
    """A kept file checked whole, then its rings of `groups` (all: None) handed one at a
    time to what `use` returns, given the file as checked (its header and clocks,
    and its rings' times and keys, without their values) and the lines saying what was
    cut to the store's caps (None: the file is not used).  The sum of what the taker
    returns; 0 without a file, or with one that is wrong (logged, as `what` "kept at the
    last stop not used")."""
    for leftover in path.parent.glob(f".{path.name}.*.tmp"):  # a save cut short (kill -9)
        with contextlib.suppress(OSError):
            leftover.unlink()

    def wanted(group: str) -> bool:
        return groups is None or group in groups

    max_keys = store.max_series or _CAPLESS_SERIES
    try:
        with datafile.opened(path) as (fd, size):

            def rings(
                values: Callable[[str], bool], cuts: list[str] | None = None
            ) -> tuple[Any, Iterator[TierCopy]]:
                reader = _Reader(fd, size)
                meta = _meta(reader, magic, max_keys)
                return meta, _rings(reader, max_keys, max_times, values, cuts)

            cuts: list[str] = []
            meta, checking = _checked(lambda: rings(lambda _group: False, cuts))
            resolution, saved_at, boot_id, marks = meta
            # All of it checked before any is used; of each ring only its times are kept
            # until then (the keys are read again with the values), and the keys the clocks
            # records name.
            named = _MarkedKeys(marks)

            def times_only() -> list[TierCopy]:
                copies = []
                for copy in checking:
                    named.see(copy.keys)
                    copies.append(TierCopy(copy.group, copy.times, [], copy.values))
                return copies

            times = _checked(times_only)
            take = use(Kept(resolution, saved_at, boot_id, times, named.clocks()), cuts)
            if take is None:
                return 0
            taken = 0
            _, reading = _checked(lambda: rings(wanted))
            while (copy := _checked(lambda: next(reading, None))) is not None:
                if wanted(copy.group):
                    taken += take(copy)
            return taken
    except FileNotFoundError:
        return 0
    except (OSError, ValueError) as exc:
        log.warning("%s kept at the last stop not used (%s): %s", what, path, exc)
        return 0


def restore(
    store: Store,
    path: Path,
    now: float,
    *,
    groups: Collection[str] | None = None,
    boot_id: str = "",
) -> int:
    """Take the kept history tiers back into a store nothing was written to yet: only the
    rings of `groups` (the collectors that run now), and after a reboot (another
    `boot_id`) not the series of processes.  The whole file is checked first, then taken
    back a ring at a time.  The series taken back (0 without a usable file, logged)."""
    kept: dict[str, Any] = {}

    def use(file: Kept, cuts: list[str]) -> Taker | None:
        if file.resolution != store.resolution:
            log.info("history kept at the last stop not used: its buckets are %g s, now "
                     "%g s", file.resolution, store.resolution)  # fmt: skip
            return None
        if cuts:
            log.info("history kept at the last stop is more than the store holds now "
                     "(history_hours or max_series lowered): cut to %s", "; ".join(cuts))  # fmt: skip
        rebooted = bool(boot_id and file.boot_id and boot_id != file.boot_id)
        kept.update(saved_at=file.saved_at, rebooted=rebooted)
        return lambda copy: store.restore_history(
            _without_processes(copy) if rebooted else copy, now
        )

    taken = _take_back(path, "history", MAGIC, store.history_capacity, store, groups, use)
    if kept:
        log.info("history of %d series taken back from %s (kept %.0f min ago%s)", taken, path,
                 max(0.0, now - kept["saved_at"]) / 60,
                 ", before a reboot" if kept["rebooted"] else "")  # fmt: skip
    return taken


async def keep_recent(
    store: Store,
    path: Path,
    saved_at: float,
    boot_id: str,
    wanted: Callable[[SeriesKey], bool],
    clocks: Sequence[SeriesClocks] = (),
) -> int:
    """The raw tier of the `wanted` series, whole, for the next start to go through
    (`take_recent`), with those analyzers' `clocks` of them: copied a
    ring at a time on the loop (a ring's instants as they stand; the rings, collected
    apart, are apart anyway), written on the file thread.  The series kept; OSError if it
    cannot be written."""
    copies = []
    for group in store.groups():
        copies += store.raw_tiers(wanted, group)
        await asyncio.sleep(0)  # the loop's turn between rings
    if not copies:
        await _FILE_THREAD.run(functools.partial(_remove, path))
        return 0
    parts = encode(copies, store.resolution, saved_at, boot_id, RECENT_MAGIC, clocks)
    await _FILE_THREAD.run(functools.partial(_write_whole, path, parts))
    return sum(len(copy.keys) for copy in copies)


def _write_whole(path: Path, parts: list[bytes | memoryview]) -> None:
    out = datafile.AtomicWriter(path, durable=True)
    try:
        for part in parts:
            out.write(part)
        out.commit()
    except BaseException:
        out.abort()
        raise


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def take_recent(
    store: Store,
    path: Path,
    now: float,
    replay: Callable[[Batch], None],
    *,
    groups: Collection[str] | None = None,
    boot_id: str = "",
    keep_clocks: Callable[[SeriesClocks], None] | None = None,
) -> int:
    """Take back the raw samples kept at the last stop or save (`keep_recent`), an instant at
    a time through `replay` (`Store.restore_raw`), then its clocks, each through
    `keep_clocks`: after `restore`, before any collector writes.  Only in the same boot
    (after a reboot the host starts afresh: its memory, its connections) and within
    `RECENT_MAX_GAP_SECS` of the stop.  The file is removed whatever became of it: it
    speaks for the moment it was written only, and a later start must not take it for
    recent.  The series taken back (0: logged why)."""

    def use(file: Kept, _cuts: list[str]) -> Taker | None:
        saved_at = file.saved_at
        if any(c.times.size and not float(c.times.max()) <= saved_at for c in file.copies):
            raise ValueError("samples later than the stop that kept them")
        if not boot_id or file.boot_id != boot_id:  # unknown (no boot_id to read): not the same
            log.info("samples kept at the last stop not used: kept before a reboot, or the "
                     "boot is not known")  # fmt: skip
            return None
        if not 0.0 <= now - saved_at <= RECENT_MAX_GAP_SECS:
            log.info("samples kept at the last stop not used: kept %.0f min ago, not recent",
                     (now - saved_at) / 60)  # fmt: skip
            return None
        clocks.extend(file.clocks)

        def take(copy: TierCopy) -> int:
            series: set[int] = set()
            for batch in store.restore_raw(copy, now):
                series.update(batch.ids.tolist())
                replay(batch)
            return len(series)

        return take

    clocks: list[SeriesClocks] = []
    try:
        taken = _take_back(path, "samples", RECENT_MAGIC, store.capacity, store, groups, use)
    finally:
        with contextlib.suppress(OSError):
            path.unlink()
    if taken:
        log.info("the last samples of %d series taken back from %s: the statistical "
                 "analyzers go on from them", taken, path)  # fmt: skip
        # Only with the samples: a series that was not gone through learns again anyway.
        if keep_clocks is not None:
            for entry in clocks:
                keep_clocks(entry)
    return taken


def _without_processes(copy: TierCopy) -> TierCopy:
    """After a reboot a pid names another process: its history is not this one's."""
    keep = [i for i, key in enumerate(copy.keys) if not any(k == "pid" for k, _ in key.labels)]
    return TierCopy(copy.group, copy.times, [copy.keys[i] for i in keep], copy.values[keep])
