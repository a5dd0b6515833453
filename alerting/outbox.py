"""The durable queue between the router and the channels.

A notification is written here before the first attempt to send it and
deleted only when the far side accepted it, or when it was given up for a
reason that is counted (expired, dead endpoint, permanent error, budget).  A
crash (even kill -9) loses nothing: at the next start every channel resumes
its backlog, oldest first.  SQLite in WAL mode: a committed row survives the
process dying; an insert costs well under a millisecond.

`MemoryOutbox` has the same interface without the file, for when there is no
writable data directory, and for tests.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from alerting.alert import Alert

log = logging.getLogger(__name__)


def alert_record(alert: Alert) -> str:
    """The row's text: the same record webhooks and NATS publish (`Alert.to_record`)."""
    return json.dumps(alert.to_record(), separators=(",", ":"), allow_nan=False)


def alert_from_record(text: str) -> Alert:
    record: dict[str, Any] = json.loads(text)
    if "epoch" not in record:  # a row an older version wrote: epoch timestamp, labels as pairs
        record = {**record, "epoch": record["timestamp"], "labels": dict(record["labels"])}
    return Alert.from_record(record)


class Outbox(Protocol):
    def add(self, channel: str, alert: Alert) -> int: ...

    def pending(self, channel: str, limit: int) -> list[tuple[int, Alert]]: ...

    def remove(self, ids: Sequence[int]) -> None: ...

    def count(self, channel: str) -> int: ...


class MemoryOutbox:
    def __init__(self) -> None:
        self._rows: dict[int, tuple[str, Alert]] = {}
        self._next = 1

    def add(self, channel: str, alert: Alert) -> int:
        row = self._next
        self._next += 1
        self._rows[row] = (channel, alert)
        return row

    def pending(self, channel: str, limit: int) -> list[tuple[int, Alert]]:
        return [(row, a) for row, (c, a) in sorted(self._rows.items()) if c == channel][:limit]

    def remove(self, ids: Sequence[int]) -> None:
        for row in ids:
            self._rows.pop(row, None)

    def count(self, channel: str) -> int:
        return sum(1 for c, _ in self._rows.values() if c == channel)


class SqliteOutbox:
    def __init__(self, path: Path, max_rows: int = 100_000) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.max_rows = max_rows
        import sqlite3  # loaded only when some channel needs a durable outbox

        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        # A handful of rows: SQLite's default page cache (up to 2 MB) would be idle memory.
        self._db.execute("PRAGMA cache_size=-128")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, channel TEXT NOT NULL, "
            "created REAL NOT NULL, alert TEXT NOT NULL)"
        )
        self._db.execute("CREATE INDEX IF NOT EXISTS outbox_channel ON outbox (channel, id)")
        self.trimmed = 0

    def add(self, channel: str, alert: Alert) -> int:
        cursor = self._db.execute(
            "INSERT INTO outbox (channel, created, alert) VALUES (?, ?, ?)",
            (channel, alert.timestamp, alert_record(alert)),
        )
        row = int(cursor.lastrowid or 0)
        if row % 1000 == 0:
            self._trim(channel)
        return row

    def _trim(self, channel: str) -> None:
        """Bounded: past max_rows per channel the oldest go (counted), as a full queue would."""
        excess = self.count(channel) - self.max_rows
        if excess > 0:
            self._db.execute(
                "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE channel = ? ORDER BY id LIMIT ?)",
                (channel, excess),
            )
            self.trimmed += excess
            log.warning(
                "outbox: channel %s over %d rows, dropped the %d oldest",
                channel,
                self.max_rows,
                excess,
            )

    def pending(self, channel: str, limit: int) -> list[tuple[int, Alert]]:
        rows = self._db.execute(
            "SELECT id, alert FROM outbox WHERE channel = ? ORDER BY id LIMIT ?", (channel, limit)
        ).fetchall()
        out = []
        for row_id, text in rows:
            try:
                out.append((int(row_id), alert_from_record(text)))
            except (ValueError, KeyError, TypeError):  # a row we cannot read helps nobody: drop it
                self.remove([int(row_id)])
        return out

    def remove(self, ids: Sequence[int]) -> None:
        if ids:
            self._db.executemany("DELETE FROM outbox WHERE id = ?", [(i,) for i in ids])

    def count(self, channel: str) -> int:
        return int(
            self._db.execute(
                "SELECT COUNT(*) FROM outbox WHERE channel = ?", (channel,)
            ).fetchone()[0]
        )

    def close(self) -> None:
        self._db.close()
