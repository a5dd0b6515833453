"""The durable queue between the router and the channels.

A notification is written here before the first attempt to send it and
deleted only when the far side accepted it, or when it was given up for a
reason that is counted (expired, dead endpoint, permanent error, budget).  A
crash (even kill -9) loses nothing: at the next start every channel resumes
its backlog, oldest first.  SQLite in WAL mode: a committed row survives the
process dying; an insert costs well under a millisecond.

`MemoryOutbox` has the same interface without the file, for when there is no
writable data directory, and for tests.

Beside the queue it keeps the **open episodes**: per fingerprint, the last
notification of each alert the channels were told fires and not yet that it
ended (the router writes it, `Router.resume` reads it back at the next start),
so that a restart neither announces a condition again nor leaves its episode
open for good.  A row per alert, replaced at each of its notifications.

Both are bounded per channel by `max_rows`: past it the oldest rows of that
channel go, counted per channel (`take_dropped`, which the delivery workers
report in the next message that gets through) and logged once per episode.

The file lives in data_dir, which a local user may be able to write to: it is
opened only if it is a regular file of ours (never through a symlink, which
would let root create or overwrite a file of the attacker's choosing), and
the same holds for its -wal/-shm/-journal siblings.  A corrupted file (or one
SQLite cannot use any more) is moved aside and a fresh one opened; if that
fails too, the outbox carries on in memory and says so (`degraded`), so an
alert is never lost to a broken file and no task dies of it; what waited in
the file is taken into memory and sent first, and the file cleared (or, on a
full disk, removed) so that no later start sends it again.  Once the file
can be written again (the disk has room, a lock is released), what memory
holds is written back to it and the outbox is durable again: a kill -9 after
that loses nothing either (`RETURN_RETRY_SECS`; not where rows the file held
were never read, nor into a corrupted file still in place).  A file that
cannot be opened at the start (a host booting with its disk full) is taken
the same way once it can be (the open episodes a life before left in it go:
this life told those alerts anew), unless that life's notifications still
wait in it.  After a storm
the freed pages are given back (auto_vacuum=INCREMENTAL), so the file
shrinks again.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import math
import os
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from alerting.alert import Alert
from common.datafile import SIBLINGS, UnsafeFileError, check_same_file, check_sqlite_file

if TYPE_CHECKING:
    import sqlite3

log = logging.getLogger(__name__)

T = TypeVar("T")

# Give freed pages back once this many are free (4 KiB each: 4 MiB), a chunk at a time so
# that the event loop is never held for long.
COMPACT_FREE_PAGES = 1024
COMPACT_CHUNK_PAGES = 4096
# After a fall back to memory, clearing the file's stale episodes is tried again at the
# next episode written this long after the last try (and at stop).
STALE_EPISODES_RETRY_SECS = 60.0
# At a fall back to memory, at most this many of the rows waiting in the file (the oldest)
# are taken into memory, some 10 MB; the rest stay in the file for the next start.
BACKLOG_TAKEN_MAX = 5000
# After a fall back to memory, the file is tried again this long after the last try (the
# disk has room again, the lock is released): what memory holds is written back to it and
# the outbox is durable again.  Not with more rows than this waiting (one transaction on
# the event loop), nor while rows the file held then were left in it or unread.
RETURN_RETRY_SECS = 60.0
RETURN_ROWS_MAX = BACKLOG_TAKEN_MAX
RETURN_ROOM_BYTES = 64 << 10  # free for us at least: a disk still full is not tried


def alert_record(alert: Alert) -> str:
    """The row's text: the same record webhooks and NATS publish (`Alert.to_record`)."""
    return json.dumps(alert.to_record(), separators=(",", ":"), allow_nan=False)


def alert_from_record(text: str) -> Alert:
    record: dict[str, Any] = json.loads(text)
    if "epoch" not in record:  # a row an older version wrote: epoch timestamp, labels as pairs
        record = {**record, "epoch": record["timestamp"], "labels": dict(record["labels"])}
    return Alert.from_record(record)


class Outbox(Protocol):
    # Why the outbox is not the durable one it should be (for the heartbeat), or None.
    degraded: str | None

    def add(self, channel: str, alert: Alert) -> int: ...

    def pending(self, channel: str, limit: int) -> list[tuple[int, Alert]]: ...

    def remove(self, ids: Sequence[int]) -> None: ...

    def count(self, channel: str) -> int: ...

    def channels(self) -> set[str]: ...  # the channels with rows waiting

    def take_dropped(self) -> dict[str, int]: ...

    def keep_episode(self, alert: Alert) -> None: ...

    def end_episode(self, fingerprint: str) -> None: ...

    def clear_episodes(self) -> None: ...

    def open_episodes(self) -> list[Alert]: ...

    def together(self) -> contextlib.AbstractContextManager[None]: ...

    def close(self) -> None:
        """At the stop (and for an outbox a reload replaced): the file's last chance to
        clear episodes a failure left stale, before the next start reads them."""
        ...


MAX_ROWS = 100_000  # per channel


class _Dropped:
    """Rows dropped by `max_rows`, per channel, until taken; logged once per episode."""

    def __init__(self) -> None:
        self.pending: dict[str, int] = {}
        self.total = 0
        self._saying: set[str] = set()  # channels in an episode of dropping, already logged

    def drop(self, channel: str, n: int, max_rows: int) -> None:
        self.pending[channel] = self.pending.get(channel, 0) + n
        self.total += n
        if channel not in self._saying:
            self._saying.add(channel)
            log.warning(
                "outbox: channel %s has over %d alerts waiting; dropping the oldest (counted, "
                "said in the next message that gets through)",
                channel, max_rows,
            )  # fmt: skip

    def below(self, channel: str) -> None:
        self._saying.discard(channel)  # the episode is over: a next one is logged again

    def take(self) -> dict[str, int]:
        taken, self.pending = self.pending, {}
        return taken


class MemoryOutbox:
    def __init__(
        self, *, first_id: int = 1, degraded: str | None = None, max_rows: int = MAX_ROWS
    ) -> None:
        # Per channel, in id order: the oldest is found at once however many were removed.
        self._rows: dict[str, OrderedDict[int, Alert]] = {}
        self._next = first_id
        self.degraded = degraded
        self.max_rows = max_rows
        self.dropped = _Dropped()
        self._episodes: dict[str, Alert] = {}

    def keep_episode(self, alert: Alert) -> None:
        self._episodes[alert.fingerprint] = alert

    def end_episode(self, fingerprint: str) -> None:
        self._episodes.pop(fingerprint, None)

    def clear_episodes(self) -> None:
        self._episodes.clear()

    def open_episodes(self) -> list[Alert]:
        return list(self._episodes.values())

    def close(self) -> None:
        pass  # nothing kept beyond this life

    def together(self) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()

    @property
    def size(self) -> int:
        """Rows waiting, all channels."""
        return sum(len(rows) for rows in self._rows.values())

    def rows(self) -> list[tuple[int, str, Alert]]:
        """Every row waiting, (id, channel, alert), in id order."""
        every = [(row, ch, a) for ch, rows in self._rows.items() for row, a in rows.items()]
        return sorted(every, key=lambda r: r[0])

    @property
    def last_id(self) -> int:
        return self._next - 1

    def put(self, channel: str, row: int, alert: Alert) -> None:
        """Keep `alert` under a row id it already has (below every id `add` gives)."""
        self._rows.setdefault(channel, OrderedDict())[row] = alert

    def add(self, channel: str, alert: Alert) -> int:
        row = self._next
        self._next += 1
        rows = self._rows.setdefault(channel, OrderedDict())
        rows[row] = alert
        if len(rows) > self.max_rows:
            rows.popitem(last=False)
            self.dropped.drop(channel, 1, self.max_rows)
        elif len(rows) < self.max_rows:
            self.dropped.below(channel)
        return row

    def take_dropped(self) -> dict[str, int]:
        return self.dropped.take()

    def pending(self, channel: str, limit: int) -> list[tuple[int, Alert]]:
        return list(itertools.islice(self._rows.get(channel, {}).items(), limit))

    def remove(self, ids: Sequence[int]) -> None:
        for rows in self._rows.values():
            for row in ids:
                rows.pop(row, None)

    def count(self, channel: str) -> int:
        return len(self._rows.get(channel, ()))

    def channels(self) -> set[str]:
        return {channel for channel, rows in self._rows.items() if rows}


def move_rows(source: Outbox, target: Outbox, channels: Iterable[str]) -> dict[int, int]:
    """The rows of `channels` taken from one outbox into another, oldest first (a reload that
    replaced the outbox: what waited in the old one is sent from the new); returns the old
    row ids mapped to the new ones."""
    moved: dict[int, int] = {}
    for channel in channels:
        while rows := source.pending(channel, 1000):
            with target.together():
                for row, alert in rows:
                    moved[row] = target.add(channel, alert)
            source.remove([row for row, _ in rows])
    return moved


def _has_room(directory: Path) -> bool:
    """Whether `directory`'s file system has `RETURN_ROOM_BYTES` free for us: a try at
    taking the file back on a disk still full serialises every row for nothing."""
    try:
        st = os.statvfs(directory)
    except OSError:
        return True  # the try itself says
    return st.f_bavail * st.f_frsize >= RETURN_ROOM_BYTES


def is_corruption(exc: Exception) -> bool:
    """SQLITE_CORRUPT or SQLITE_NOTADB: the file is beyond use and must be replaced."""
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF in (11, 26)
    return "malformed" in str(exc) or "not a database" in str(exc)


class SqliteOutbox:
    def __init__(self, path: Path, max_rows: int = MAX_ROWS) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.max_rows = max_rows
        self.dropped = _Dropped()
        # Rows added per channel since its last trim: each channel is looked at every
        # `trim_every` of its own rows (a COUNT per insert would cost a scan in a storm).
        self._added: dict[str, int] = {}
        self.trim_every = max(1, min(1000, max_rows // 10))
        self.degraded: str | None = None
        self.moved_aside: list[Path] = []
        self._memory: MemoryOutbox | None = None  # the fallback once the file failed for good
        self._last_id = 0
        self._removed = 0  # rows deleted since the last look at the free pages
        # Inside `together`: the writes made so far, to make again if the commit fails.
        self._uncommitted: list[Callable[[], object]] | None = None
        # The open episodes as the file should hold them: written into a fresh file that
        # replaced a corrupted one, handed to the memory fallback.
        self._episodes: dict[str, Alert] = {}
        self._stale_since: float | None = None  # the file's episodes are stale since (memory)
        # After a fall back to memory: the rows the file held then, taken into memory and
        # sent from there, to be deleted from the file (with its episodes) once it lets us.
        self._taken_up_to = 0
        self._backlog_left = False  # rows past those taken stay in the file: never remove it
        # Whether the file may take over again from memory (not while rows it held were left
        # in it or could not be read: sent after what memory sent since, out of order).
        self._may_return = False
        self._return_tried = 0.0  # monotonic
        self._within = 0  # inside `together`: the file is not taken back mid-transaction
        # Not opened at the start: what a life before left in the file was never read.
        self._unread = False
        import sqlite3

        try:
            self._db = self._open()
        except UnsafeFileError:
            raise  # planted there (a symlink, a fifo): the caller refuses it, for this life
        except (OSError, sqlite3.Error) as exc:
            # A host that boots with its disk full: this life alerts from memory, and takes
            # the file as its outbox once it can (`_return_to_file`), not never.
            self._start_in_memory(exc)
            return
        # Ids go on from the file's: a memory fallback before this life's first row must not
        # number from 1 again, over the backlog a worker is sending (its removal would
        # delete the new rows).
        found = self._db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").fetchone()
        self._last_id = int(found[0]) if found else 0

    def _open(self) -> sqlite3.Connection:
        import sqlite3

        try:
            return self._connect()
        except sqlite3.DatabaseError as exc:
            if not is_corruption(exc):
                raise
            self._set_corrupted_aside(exc)  # corrupted while the agent was down: start afresh
            return self._connect()

    def _set_corrupted_aside(self, exc: Exception) -> None:
        aside = self._move_aside()
        log.error(
            "outbox %s is corrupted (%s): moved aside to %s (the alerts that were waiting "
            "in it are lost); a fresh file takes its place",
            self.path, exc, aside.name,
        )  # fmt: skip

    def _start_in_memory(self, exc: Exception) -> None:
        import sqlite3

        # A closed stand-in: nothing reads it while memory is the outbox, and taking the
        # file back replaces it.
        self._db = sqlite3.connect(":memory:")
        self._db.close()
        self._memory = MemoryOutbox(max_rows=self.max_rows)
        self._unread = self._may_return = True
        self._return_tried = time.monotonic()
        self.degraded = (
            f"outbox {self.path} cannot be opened ({exc}); alerts are kept in memory only"
        )
        log.error(
            "cannot open the outbox %s (%s): alerts are kept in memory until it can be, tried "
            "again every %d s; what waits in memory meanwhile does not survive a restart",
            self.path, exc, RETURN_RETRY_SECS,
        )  # fmt: skip

    def _connect(self, busy_timeout: float = 5.0) -> sqlite3.Connection:
        import sqlite3  # loaded only when some channel needs a durable outbox

        opened = check_sqlite_file(self.path)
        db = sqlite3.connect(
            str(self.path), timeout=busy_timeout, isolation_level=None, check_same_thread=False
        )
        try:
            check_same_file(self.path, opened)  # swapped between our check and SQLite's open
            if db.execute("PRAGMA auto_vacuum").fetchone()[0] != 2:
                # Set before the first table, or converted once by VACUUM (an older file).
                db.execute("PRAGMA auto_vacuum=INCREMENTAL")
                db.execute("VACUUM")
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            # A handful of rows: SQLite's default page cache (up to 2 MB) would be idle memory.
            db.execute("PRAGMA cache_size=-128")
            db.execute(
                "CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, channel TEXT NOT NULL, "
                "created REAL NOT NULL, alert TEXT NOT NULL)"
            )
            db.execute("CREATE INDEX IF NOT EXISTS outbox_channel ON outbox (channel, id)")
            db.execute(
                "CREATE TABLE IF NOT EXISTS episodes (fingerprint TEXT PRIMARY KEY, alert TEXT NOT NULL)"
            )
            db.execute("SELECT COUNT(*) FROM outbox").fetchone()  # reads every page of the table
        except BaseException:
            db.close()
            raise
        return db

    # -- failure handling ----------------------------------------------------------------------

    def _guarded(
        self, action: str, op: Callable[[], T], fallback: Callable[[MemoryOutbox], T]
    ) -> T:
        """Run `op` on the file; a corrupted file is replaced, any other failure of it is survived."""
        if self._memory is not None and not self._return_to_file():
            return fallback(self._memory)
        import sqlite3

        try:
            return op()
        except sqlite3.Error as exc:
            # Inside `together`, the transaction's earlier writes die with the connection:
            # made again (after this recovery), before this one.
            earlier = self._uncommitted or []
            self._uncommitted = None
            memory = self._recover(action, exc)
            for again in earlier:
                again()
        if memory is not None:
            return fallback(memory)
        return op()  # on the fresh file; it failing too is a new problem for the caller

    def _recover(self, action: str, exc: Exception) -> MemoryOutbox | None:
        """Replace a corrupted file, or fall back to memory; returns the fallback if it came to that."""
        import sqlite3

        # What waits in the file is read before the connection goes (a read needs no room):
        # left there unseen, it was sent at the next start, after what this life sent from
        # memory (a FIRING after its RESOLVED: the receiver's alert open for good).
        backlog = None if is_corruption(exc) else self._read_backlog()
        with contextlib.suppress(sqlite3.Error):
            self._db.close()
        if is_corruption(exc):
            aside = None
            try:
                aside = self._move_aside()
                self._db = self._connect()
                # Ids go on from where they were: a worker remembers which rows it charged.
                self._db.execute(
                    "INSERT INTO sqlite_sequence (name, seq) VALUES ('outbox', ?)",
                    (self._last_id,),
                )
                for alert in self._episodes.values():  # still open: a restart takes them back
                    self._keep_episode(alert)
            except (OSError, sqlite3.Error) as again:
                memory = self._fall_back(
                    f"outbox {self.path} corrupted ({exc}) and not replaced: {again}"
                )
                # Moved aside, its rows are gone with it and a fresh file may come; still in
                # place, it holds rows never read (sent again, or after what memory sent).
                self._may_return = aside is not None
                return memory
            log.error(
                "outbox %s is corrupted (%s while %s): moved aside to %s (the alerts that were "
                "waiting in it are lost); a fresh outbox is in use",
                self.path, exc, action, aside.name,
            )  # fmt: skip
            return None
        return self._fall_back(f"outbox {self.path} failed ({exc} while {action})", backlog)

    def _move_aside(self) -> Path:
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        aside = Path(f"{self.path}.corrupt-{stamp}")
        os.replace(self.path, aside)
        for suffix in SIBLINGS:
            with contextlib.suppress(FileNotFoundError):
                os.replace(f"{self.path}{suffix}", f"{aside}{suffix}")
        self.moved_aside.append(aside)
        return aside

    def _read_backlog(self) -> list[tuple[int, str, Alert]] | None:
        """The oldest rows waiting in the file, at most `BACKLOG_TAKEN_MAX` (a storm's 100,000
        rows of a channel that is down would take hundreds of MB at once); None if it
        cannot be read."""
        import sqlite3

        try:
            if self._db.in_transaction:  # the failed one: its rows are made again, not read
                self._db.execute("ROLLBACK")
            rows = self._db.execute(
                "SELECT id, channel, alert FROM outbox ORDER BY id LIMIT ?", (BACKLOG_TAKEN_MAX,)
            ).fetchall()
            more = (
                bool(rows)
                and self._db.execute(
                    "SELECT 1 FROM outbox WHERE id > ? LIMIT 1", (rows[-1][0],)
                ).fetchone()
                is not None
            )
        except sqlite3.Error as exc:
            log.error(
                "outbox %s: the alerts waiting in it could not be read (%s); they are sent "
                "at the next start", self.path, exc,
            )  # fmt: skip
            return None
        backlog = []
        for row, channel, text in rows:
            with contextlib.suppress(ValueError, KeyError, TypeError):  # unreadable: helps nobody
                backlog.append((int(row), str(channel), alert_from_record(text)))
        if more:
            self._backlog_left = True
            log.error(
                "outbox %s: the oldest %d alerts waiting in it are sent from memory; the "
                "rest stay in it for the next start",
                self.path, len(rows),
            )  # fmt: skip
        return backlog

    def _fall_back(
        self, reason: str, backlog: Sequence[tuple[int, str, Alert]] | None = None
    ) -> MemoryOutbox:
        """Go on in memory, with `backlog` (None: the file's rows could not be read)."""
        self.degraded = f"{reason}; alerts are kept in memory only"
        self._memory = MemoryOutbox(first_id=self._last_id + 1, max_rows=self.max_rows)
        for row, channel, alert in backlog or ():  # under their ids: the workers know those
            self._memory.put(channel, row, alert)
        self._taken_up_to = max((row for row, _, _ in backlog or ()), default=0)
        for alert in self._episodes.values():
            self._memory.keep_episode(alert)
        log.error("%s", self.degraded)
        # The file's rows and episodes stop following what is sent: a restart must not send
        # the rows again (taken into memory, sent from there) nor take the episodes back
        # (an alert resolved since would be resolved twice, one fired since would continue
        # a finished episode).  The file just failed: if they cannot be cleared now, again
        # at each episode written (at most once a minute) and at stop.
        self._stale_since = self._return_tried = time.monotonic()
        removable = self._may_return = backlog is not None and not self._backlog_left
        if not self._clear_stale_episodes() and (not removable or not self._remove_stale_file()):
            log.error(
                "outbox %s: the alerts and open episodes it held could not be cleared from it "
                "yet; until they are, a restart may send %d of them again and resolve or "
                "continue alerts by their state at %s",
                self.path, len(backlog or ()), time.strftime("%H:%M:%S UTC", time.gmtime()),
            )  # fmt: skip
        return self._memory

    def _remove_stale_file(self) -> bool:
        """Not clearable (a full disk: a DELETE needs room): unlink the file, which needs
        none and gives its room back; True if done.  Only once everything in it is in
        memory (its rows read, its episodes kept here): what is in memory is what a
        degraded outbox keeps, in this life."""
        try:
            os.unlink(self.path)
        except OSError:
            return False
        for suffix in SIBLINGS:
            with contextlib.suppress(OSError):
                os.unlink(f"{self.path}{suffix}")
        self._stale_since = None
        log.error(
            "outbox %s: removed, as it could not be cleared; what waited in it is sent from "
            "memory, and a fresh file is made at the next start",
            self.path,
        )  # fmt: skip
        return True

    def _clear_stale_episodes(self) -> bool:
        """Empty the file's episodes table, and delete the rows taken into memory (after a
        fall back to memory); True once done."""
        import sqlite3

        if self._stale_since is None:
            return True
        self._stale_since = time.monotonic()
        try:
            db = self._connect()
            try:
                db.execute("BEGIN IMMEDIATE")  # both or neither
                db.execute("DELETE FROM episodes")
                db.execute("DELETE FROM outbox WHERE id <= ?", (self._taken_up_to,))
                db.execute("COMMIT")
            finally:
                db.close()  # (an uncommitted transaction is rolled back)
        except (OSError, sqlite3.Error):
            return False
        self._stale_since = None
        log.info("outbox %s: the stale alerts and episodes in it are cleared", self.path)
        return True

    def _retry_clearing(self) -> None:
        if (
            self._stale_since is not None
            and time.monotonic() - self._stale_since >= STALE_EPISODES_RETRY_SECS
        ):
            self._clear_stale_episodes()

    def _return_to_file(self, on_a_fresh_file: bool = False) -> bool:
        """After a fall back to memory (or a start in it), at most once every
        `RETURN_RETRY_SECS`: if the file can be written again, everything memory holds (its
        rows under their ids, the open episodes) is written to it in one transaction, the
        rows taken from it and its stale episodes deleted in the same, and the file is the
        outbox again; True if so.  Without waiting on a lock: another process holding one is
        a try for later."""
        import sqlite3

        memory = self._memory
        if (
            memory is None
            or not self._may_return
            or self._within
            or time.monotonic() - self._return_tried < RETURN_RETRY_SECS
        ):
            return memory is None
        self._return_tried = time.monotonic()
        if memory.size > RETURN_ROWS_MAX or not _has_room(self.path.parent):
            return False
        rows = memory.rows()
        episodes = memory.open_episodes()
        try:
            db = self._connect(busy_timeout=0.0)
        except UnsafeFileError as exc:
            self._refuse_for_good(f"outbox {self.path} refused ({exc})")
            return False
        except (OSError, sqlite3.Error) as exc:
            return self._set_aside_and_take(exc, on_a_fresh_file)
        try:
            db.execute("BEGIN IMMEDIATE")
            if self._unread and self._left_from_before(db):
                db.close()
                return False
            # Stale: the moment memory took over, or (never read) a life before's, whose
            # alerts this life told anew; taken back, the next start would resume one it
            # told ended and keep quiet when it comes back.
            db.execute("DELETE FROM episodes")
            db.execute("DELETE FROM outbox WHERE id <= ?", (self._taken_up_to,))
            db.executemany(
                "INSERT OR REPLACE INTO outbox (id, channel, created, alert) VALUES (?, ?, ?, ?)",
                [(row, ch, alert.timestamp, alert_record(alert)) for row, ch, alert in rows],
            )
            db.executemany(
                "INSERT INTO episodes (fingerprint, alert) VALUES (?, ?)",
                [(alert.fingerprint, alert_record(alert)) for alert in episodes],
            )
            # Ids go on from memory's: a worker remembers which rows it charged.
            last = max(self._last_id, memory.last_id)
            if not db.execute(
                "UPDATE sqlite_sequence SET seq = MAX(seq, ?) WHERE name = 'outbox'", (last,)
            ).rowcount:
                db.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('outbox', ?)", (last,))
            last = int(
                db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").fetchone()[0]
            )
            db.execute("COMMIT")
            db.execute("PRAGMA busy_timeout = 5000")
        except (OSError, sqlite3.Error) as exc:
            db.close()  # (the transaction is rolled back)
            return self._set_aside_and_take(exc, on_a_fresh_file)
        self._db, self._memory, self._unread = db, None, False
        self._episodes = {alert.fingerprint: alert for alert in episodes}
        for channel, n in memory.take_dropped().items():  # still to be said
            self.dropped.pending[channel] = self.dropped.pending.get(channel, 0) + n
            self.dropped.total += n
        self._last_id, self._stale_since, self._taken_up_to = last, None, 0
        log.warning(
            "outbox %s: writable again; the %d alerts waiting in memory are in it, and it is "
            "durable again (was: %s)",
            self.path, len(rows), self.degraded,
        )  # fmt: skip
        self.degraded = None
        return True

    def _set_aside_and_take(self, exc: Exception, already: bool) -> bool:
        """A file never read, found corrupted while taking it (a full disk hid it at the
        start, or a page the opening's count did not read: SQLite counts through the
        index): moved aside as a start would have, and the taking tried again at once on
        a fresh file; True if it is the outbox now.  Any other failure: a try for later."""
        if not self._unread or already or not is_corruption(exc):
            return False
        try:
            self._set_corrupted_aside(exc)
        except OSError as failed:
            self._refuse_for_good(
                f"outbox {self.path} is corrupted ({exc}) and could not be moved aside ({failed})"
            )
            return False
        self.degraded = (
            f"outbox {self.path} was corrupted and moved aside; alerts are kept in memory only"
        )
        self._return_tried = -math.inf
        return self._return_to_file(on_a_fresh_file=True)

    def _refuse_for_good(self, reason: str) -> None:
        """Never tried again in this life (said once): a planted file, or a corrupted one
        that stays in place."""
        self._may_return = False
        self.degraded = f"{reason}; alerts are kept in memory only"
        log.error("%s", self.degraded)

    def _left_from_before(self, db: sqlite3.Connection) -> bool:
        """Whether the file, not opened at the start, holds notifications a life before
        queued and could not send.  Then it is not taken: memory numbered its rows from 1,
        the file's ids unknown, so the two may share ids, and a worker remembers which
        rows it charged by id.  They stay for the next start, which sends them (after
        what this life sent: durability for this life is what is given up, not order);
        this life stays in memory.  The life before's open episodes go, as in a taking."""
        import sqlite3

        waiting = int(db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])
        if not waiting:
            return False
        with contextlib.suppress(sqlite3.Error):
            db.execute("DELETE FROM episodes")
            db.execute("COMMIT")
        self._refuse_for_good(
            f"outbox {self.path} could not be opened at the start and holds {waiting} alerts "
            "from before it, sent at the next start"
        )
        return True

    # -- the queue ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def together(self) -> Iterator[None]:
        """The writes inside (a notification's row for each channel, its episode) as one
        transaction: a crash keeps all of them or none, never an episode whose notification
        was not queued.  If the commit fails, they are made again one by one, on the fresh
        file or in memory as any failed write is (nothing lost)."""
        self._within += 1
        try:
            with self._transaction():
                yield
        finally:
            self._within -= 1

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        import sqlite3

        if self._memory is not None or self._uncommitted is not None:
            yield
            return
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error:  # the writes go one by one, each guarded
            yield
            return
        self._uncommitted = []
        try:
            yield
        finally:
            made, self._uncommitted = self._uncommitted, None
            try:
                if made is not None and self._db.in_transaction:  # None: a write failed, redone
                    self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                with contextlib.suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK")
                self._recover("committing", exc)
                for again in made or []:
                    again()

    def _write(self, again: Callable[[], object]) -> None:
        """Note a write just made inside `together`, to make it again if the transaction
        dies (a later write or the commit fails)."""
        if self._uncommitted is not None:
            self._uncommitted.append(again)

    def add(self, channel: str, alert: Alert) -> int:
        row = self._guarded(
            "adding", lambda: self._add(channel, alert), lambda m: m.add(channel, alert)
        )
        self._last_id = max(self._last_id, row)
        self._write(lambda: self.add(channel, alert))
        return row

    def _add(self, channel: str, alert: Alert) -> int:
        cursor = self._db.execute(
            "INSERT INTO outbox (channel, created, alert) VALUES (?, ?, ?)",
            (channel, alert.timestamp, alert_record(alert)),
        )
        row = int(cursor.lastrowid or 0)
        added = self._added.get(channel, 0) + 1
        self._added[channel] = added
        if added >= self.trim_every:
            self._added[channel] = 0
            self._trim(channel)
        return row

    @property
    def trimmed(self) -> int:
        return self.dropped.total

    def take_dropped(self) -> dict[str, int]:
        taken = self.dropped.take()
        if self._memory is not None:
            for channel, n in self._memory.take_dropped().items():
                taken[channel] = taken.get(channel, 0) + n
        return taken

    def _trim(self, channel: str) -> None:
        """Bounded: past max_rows per channel the oldest go (counted), as a full queue would."""
        excess = self._count(channel) - self.max_rows
        if excess > 0:
            self._db.execute(
                "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE channel = ? ORDER BY id LIMIT ?)",
                (channel, excess),
            )
            self._removed += excess
            self.dropped.drop(channel, excess, self.max_rows)
        elif excess < 0:
            self.dropped.below(channel)

    # -- open episodes ------------------------------------------------------------------------

    def keep_episode(self, alert: Alert) -> None:
        self._retry_clearing()
        self._guarded(
            "keeping an episode", lambda: self._keep_episode(alert), lambda m: m.keep_episode(alert)
        )
        self._write(lambda: self.keep_episode(alert))

    def _keep_episode(self, alert: Alert) -> None:
        self._episodes[alert.fingerprint] = alert
        self._db.execute(
            "INSERT OR REPLACE INTO episodes (fingerprint, alert) VALUES (?, ?)",
            (alert.fingerprint, alert_record(alert)),
        )

    def end_episode(self, fingerprint: str) -> None:
        self._retry_clearing()
        self._guarded(
            "ending an episode",
            lambda: self._end_episode(fingerprint),
            lambda m: m.end_episode(fingerprint),
        )
        self._write(lambda: self.end_episode(fingerprint))

    def clear_episodes(self) -> None:
        self._guarded("clearing the episodes", self._clear_episodes, lambda m: m.clear_episodes())

    def _clear_episodes(self) -> None:
        self._episodes.clear()
        self._db.execute("DELETE FROM episodes")

    def _end_episode(self, fingerprint: str) -> None:
        self._episodes.pop(fingerprint, None)
        self._db.execute("DELETE FROM episodes WHERE fingerprint = ?", (fingerprint,))

    def open_episodes(self) -> list[Alert]:
        return self._guarded(
            "reading the episodes", self._open_episodes, lambda m: m.open_episodes()
        )

    def _open_episodes(self) -> list[Alert]:
        out = []
        for fingerprint, text in self._db.execute(
            "SELECT fingerprint, alert FROM episodes"
        ).fetchall():
            try:
                alert = alert_from_record(text)
            except (ValueError, KeyError, TypeError):  # unreadable: nothing to resume from
                self._end_episode(fingerprint)
                continue
            self._episodes[alert.fingerprint] = alert
            out.append(alert)
        return out

    def pending(self, channel: str, limit: int) -> list[tuple[int, Alert]]:
        return self._guarded(
            "reading",
            lambda: self._pending(channel, limit),
            lambda m: m.pending(channel, limit),
        )

    def _pending(self, channel: str, limit: int) -> list[tuple[int, Alert]]:
        rows = self._db.execute(
            "SELECT id, alert FROM outbox WHERE channel = ? ORDER BY id LIMIT ?", (channel, limit)
        ).fetchall()
        out = []
        for row_id, text in rows:
            try:
                out.append((int(row_id), alert_from_record(text)))
            except (ValueError, KeyError, TypeError):  # a row we cannot read helps nobody: drop it
                self._remove([int(row_id)])
        return out

    def remove(self, ids: Sequence[int]) -> None:
        if not ids:
            return
        self._guarded("removing", lambda: self._remove(ids), lambda m: m.remove(ids))

    def _remove(self, ids: Sequence[int]) -> None:
        self._db.executemany("DELETE FROM outbox WHERE id = ?", [(i,) for i in ids])
        self._removed += len(ids)
        empty = self._db.execute("SELECT 1 FROM outbox LIMIT 1").fetchone() is None
        if self._removed >= 1000 or (empty and self._removed):
            self._removed = 0
            self.compact(everything=empty)

    def compact(self, everything: bool = False) -> None:
        """Give free pages back to the file system once there are many (after a storm), and
        all of them once the outbox is empty (the storm's tail is smaller than the threshold)."""
        free = int(self._db.execute("PRAGMA freelist_count").fetchone()[0])
        if free < (1 if everything else COMPACT_FREE_PAGES):
            return
        # executescript steps the pragma to its end; execute() would free a single page.
        chunk = free if everything else COMPACT_CHUNK_PAGES
        self._db.executescript(f"PRAGMA incremental_vacuum({chunk});")
        # In WAL mode the file shrinks when the log is written back; TRUNCATE empties the log too.
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()

    def count(self, channel: str) -> int:
        return self._guarded("counting", lambda: self._count(channel), lambda m: m.count(channel))

    def channels(self) -> set[str]:
        return self._guarded("listing channels", self._channels, lambda m: m.channels())

    def _channels(self) -> set[str]:
        return {str(c) for (c,) in self._db.execute("SELECT DISTINCT channel FROM outbox")}

    def _count(self, channel: str) -> int:
        return int(
            self._db.execute(
                "SELECT COUNT(*) FROM outbox WHERE channel = ?", (channel,)
            ).fetchone()[0]
        )

    def close(self) -> None:
        import sqlite3

        if self._memory is not None:  # the last chance to keep what memory holds
            self._return_tried = -math.inf
            self._return_to_file()
        self._clear_stale_episodes()  # the last chance before a restart reads them
        with contextlib.suppress(sqlite3.Error):
            self._db.close()
