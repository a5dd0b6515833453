"""Long-term history in SQLite: one row per series per minute (mean, min, max, count).

The in-memory rings keep a day; this keeps `sqlite_retention_days` so an
operator can look back without any server (`sysops-agent history`).  The
store already folds every sample into its history-tier buckets (mean, min,
max, count), so nothing is bucketed twice: each bucket the followed store
closes is handed here (`add`) and written in one transaction within the next
few seconds, and `close()` (SIGTERM) writes the store's open, partial
buckets too.  A row is the store's bucket: one minute at the default
`storage.history_resolution_secs` (60 s); with another resolution the
`minute` column holds that bucket's start (a restart merges a bucket written
twice).  WAL mode with synchronous=NORMAL: a crash (kill -9, power loss) loses at most the last transaction, never the
file.  Disk use: one row per series per minute, 38 bytes with its index entry
(measured: 100,000 rows in 3.8 MB), i.e. about 1.7 MB per series for 30 days;
a host with 300 series keeps about 500 MB at the default retention.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from analyzers.base import SeriesKey
from common.datafile import UnsafeFileError, check_same_file, check_sqlite_file

if TYPE_CHECKING:
    from agent.store import Buckets, Store

log = logging.getLogger(__name__)

FLUSH_EVERY_SECS = 10.0  # how often completed minutes are written (well within the next minute)
RETENTION_EVERY_SECS = 3600.0

SCHEMA = """
CREATE TABLE IF NOT EXISTS series (
    id INTEGER PRIMARY KEY,
    metric TEXT NOT NULL,
    labels TEXT NOT NULL,            -- JSON object, keys sorted
    UNIQUE (metric, labels)
);
CREATE TABLE IF NOT EXISTS minutes (
    series_id INTEGER NOT NULL REFERENCES series(id),
    minute INTEGER NOT NULL,         -- Unix time of the minute's start
    mean REAL NOT NULL,
    min REAL NOT NULL,
    max REAL NOT NULL,
    samples INTEGER NOT NULL,
    PRIMARY KEY (series_id, minute)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS minutes_by_time ON minutes (minute);
"""


def labels_json(labels: Iterable[tuple[str, str]]) -> str:
    return json.dumps(dict(sorted(labels)), separators=(",", ":"), ensure_ascii=False)


class History:
    def __init__(self, path: Path, retention_days: int) -> None:
        self.path = path
        self.retention_secs = retention_days * 86400
        # (series, bucket start, mean, min, max, samples), waiting for the next flush.
        self._completed: list[tuple[SeriesKey, int, float, float, float, int]] = []
        self._series_ids: dict[SeriesKey, int] = {}
        self._store: Store | None = None
        self._db: Any = None  # aiosqlite.Connection, imported only when history is enabled
        self.rows_written = 0
        self.write_errors = 0
        self.last_error: str | None = None  # for the heartbeat while writes fail

    # -- feeding (from the store, on the event loop; no I/O) ---------------------------------

    def follow(self, store: Store) -> None:
        """Be handed every bucket `store` closes, and at `close()` the open ones."""
        self._store = store
        store.on_buckets = self.add

    def add(self, buckets: Buckets) -> None:
        """A history bucket the store closed (or, at SIGTERM, the open one as it stands)."""
        start = int(buckets.start)
        self._completed.extend(
            zip(
                buckets.keys,
                [start] * len(buckets.keys),
                buckets.means.tolist(),
                buckets.mins.tolist(),
                buckets.maxs.tolist(),
                buckets.counts.tolist(),
                strict=True,
            )
        )

    # -- writing ---------------------------------------------------------------------------

    async def open(self) -> None:
        import aiosqlite  # the `sqlite` extra; only when history is enabled

        if self._db is not None:  # restarted by the supervisor: keep the connection
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Never through a symlink planted in data_dir (SQLite would create its target).
        opened = check_sqlite_file(self.path)
        self._db = await aiosqlite.connect(self.path)
        try:
            check_same_file(self.path, opened)
        except UnsafeFileError:
            await self._db.close()
            self._db = None
            raise
        await self._db.execute("PRAGMA journal_mode=WAL")
        await self._db.execute("PRAGMA synchronous=NORMAL")
        # Appends and an hourly delete touch few pages; the default cache (up to
        # 2 MB) would fill with pages that are never read again.
        await self._db.execute("PRAGMA cache_size=-512")
        await self._db.executescript(SCHEMA)
        await self._db.commit()
        async with self._db.execute("SELECT id, metric, labels FROM series") as cursor:
            async for sid, metric, labels in cursor:
                key = SeriesKey(metric, tuple(sorted(json.loads(labels).items())))
                self._series_ids[key] = sid

    async def run(self) -> None:
        """Write completed minutes every few seconds; enforce retention every hour."""
        try:
            await self.open()
        except UnsafeFileError as exc:  # says why in the heartbeat; trying again would not help
            self.last_error = str(exc)
            log.error("history off: %s", exc)
            self._completed.clear()
            if self._store is not None:  # nothing to write them to: not kept in memory either
                self._store.on_buckets = None
            return
        next_retention = 0.0
        while True:
            await self.flush()
            if time.monotonic() >= next_retention:
                await self.enforce_retention(time.time())
                next_retention = time.monotonic() + RETENTION_EVERY_SECS
            await asyncio.sleep(FLUSH_EVERY_SECS)

    async def flush(self) -> None:
        if not self._completed or self._db is None:
            return
        pending, self._completed = self._completed, []
        try:
            rows = [(await self._series_id(key), *rest) for key, *rest in pending]
            # A minute written partially at SIGTERM and again after a restart: merge, don't lose.
            await self._db.executemany(
                "INSERT INTO minutes (series_id, minute, mean, min, max, samples) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (series_id, minute) DO UPDATE SET "
                "mean = (mean * samples + excluded.mean * excluded.samples) "
                "/ (samples + excluded.samples), "
                "min = MIN(min, excluded.min), max = MAX(max, excluded.max), "
                "samples = samples + excluded.samples",
                rows,
            )
            await self._db.commit()
            self.rows_written += len(rows)
            self.last_error = None
        except sqlite3.Error as exc:
            self.write_errors += 1
            self.last_error = str(exc)
            self._completed = pending + self._completed  # try again next time
            # Series ids handed out in the failed transaction may not exist: look them up again.
            self._series_ids.clear()
            with contextlib.suppress(sqlite3.Error):
                await self._db.rollback()
            log.warning("cannot write history to %s: %s", self.path, exc)

    async def _series_id(self, key: SeriesKey) -> int:
        sid = self._series_ids.get(key)
        if sid is None:
            labels = labels_json(key.labels)
            await self._db.execute(
                "INSERT OR IGNORE INTO series (metric, labels) VALUES (?, ?)", (key.metric, labels)
            )
            async with self._db.execute(
                "SELECT id FROM series WHERE metric = ? AND labels = ?", (key.metric, labels)
            ) as cursor:
                row = await cursor.fetchone()
            sid = int(row[0])
            self._series_ids[key] = sid
        return sid

    async def enforce_retention(self, now: float) -> int:
        if self._db is None:
            return 0
        cutoff = int(now - self.retention_secs)
        cursor = await self._db.execute("DELETE FROM minutes WHERE minute < ?", (cutoff,))
        await self._db.commit()
        removed = int(cursor.rowcount)
        if removed:
            log.info(
                "history: removed %d rows older than %s days", removed, self.retention_secs // 86400
            )
        return removed

    async def close(self) -> None:
        """SIGTERM: write what we have, the store's open (partial) buckets included."""
        if self._db is None:
            return
        if self._store is not None:
            for buckets in self._store.open_buckets():
                self.add(buckets)
        with contextlib.suppress(sqlite3.Error):
            await self.flush()
        await self._db.close()
        self._db = None


# -- reading (the `history` command; plain sqlite3, no event loop) ---------------------------


@dataclass(frozen=True)
class HistoryRow:
    minute: int
    labels: dict[str, str]
    mean: float
    min: float
    max: float
    samples: int


def query(path: Path, metric: str, labels: dict[str, str], since: float) -> list[HistoryRow]:
    """Rows of `metric` whose labels include `labels`, from `since` on, oldest first."""
    if not path.exists():
        raise FileNotFoundError(f"no history database at {path} (is storage.sqlite_enabled set?)")
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        cursor = db.execute(
            "SELECT m.minute, s.labels, m.mean, m.min, m.max, m.samples FROM minutes m "
            "JOIN series s ON s.id = m.series_id WHERE s.metric = ? AND m.minute >= ? "
            "ORDER BY s.labels, m.minute",
            (metric, int(since)),
        )
        out = []
        for minute, labels_text, mean, low, high, samples in cursor:
            row_labels = json.loads(labels_text)
            if all(row_labels.get(k) == v for k, v in labels.items()):
                out.append(HistoryRow(minute, row_labels, mean, low, high, samples))
        return out
