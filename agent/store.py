"""Series registry and per-metric numpy ring buffers: the in-memory raw tier.

Every series (metric name + labels) gets a small integer id.  All series of one
metric share one ring: a float64 time axis and a float32 matrix with one row
per series, so a batch is written with one fancy-indexed assignment per metric
and not one Python operation per sample.  A series that has no value in a
batch gets NaN in that column.  float32 keeps 8640 samples of a series in
34 KB; its 24-bit mantissa is far finer than any gauge we keep (rates and
percentages, byte counts to within 1 part in 16 million).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from analyzers.base import Batch, SeriesKey

VALUE_DTYPE = np.float32
_ID_CACHE_SIZE = 256


class MetricRing:
    """The ring of one metric: columns are instants, rows are series."""

    def __init__(self, metric: str, capacity: int) -> None:
        self.metric = metric
        self.capacity = capacity
        self.times = np.full(capacity, np.nan, dtype=np.float64)
        self.values = np.full((1, capacity), np.nan, dtype=VALUE_DTYPE)
        self.head = 0  # the column the next write goes to
        self.count = 0  # filled columns, at most capacity
        self._rows_used = 0
        self._free_rows: list[int] = []

    def add_row(self) -> int:
        if self._free_rows:
            row = self._free_rows.pop()
            self.values[row, :] = np.nan
            return row
        if self._rows_used == self.values.shape[0]:
            grown = np.full((self.values.shape[0] * 2, self.capacity), np.nan, dtype=VALUE_DTYPE)
            grown[: self._rows_used] = self.values
            self.values = grown
        self._rows_used += 1
        return self._rows_used - 1

    def free_row(self, row: int) -> None:
        self.values[row, :] = np.nan
        self._free_rows.append(row)

    def write(
        self, timestamp: float, rows: npt.NDArray[np.int64], values: npt.NDArray[np.float64]
    ) -> None:
        col = self.head
        self.values[: self._rows_used, col] = np.nan
        self.values[rows, col] = values
        self.times[col] = timestamp
        self.head = (col + 1) % self.capacity
        self.count = min(self.count + 1, self.capacity)

    def order(self) -> npt.NDArray[np.int64]:
        """Column indices from oldest to newest."""
        start = (self.head - self.count) % self.capacity
        return (start + np.arange(self.count)) % self.capacity

    @property
    def nbytes(self) -> int:
        return int(self.times.nbytes + self.values.nbytes)


class Store:
    """All rings plus the registry that maps series keys to ids and back."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._ids: dict[SeriesKey, int] = {}
        self._keys: list[SeriesKey | None] = []
        self._free_ids: list[int] = []
        self._rings: list[MetricRing] = []
        self._ring_index: dict[str, int] = {}
        self._ring_of = np.zeros(0, dtype=np.int64)
        self._row_of = np.zeros(0, dtype=np.int64)
        self._last_seen = np.zeros(0, dtype=np.float64)
        self._id_cache: OrderedDict[tuple[SeriesKey, ...], npt.NDArray[np.int64]] = OrderedDict()

    # -- registry ------------------------------------------------------------------------

    def series_id(self, key: SeriesKey) -> int:
        sid = self._ids.get(key)
        if sid is not None:
            return sid
        ring_idx = self._ring_index.get(key.metric)
        if ring_idx is None:
            ring_idx = len(self._rings)
            self._rings.append(MetricRing(key.metric, self.capacity))
            self._ring_index[key.metric] = ring_idx
        row = self._rings[ring_idx].add_row()
        if self._free_ids:
            sid = self._free_ids.pop()
            self._keys[sid] = key
        else:
            sid = len(self._keys)
            self._keys.append(key)
            self._grow_index(sid + 1)
        self._ids[key] = sid
        self._ring_of[sid] = ring_idx
        self._row_of[sid] = row
        self._last_seen[sid] = np.nan
        return sid

    def ids_for(self, keys: Sequence[SeriesKey]) -> npt.NDArray[np.int64]:
        """Ids of `keys`, cached: collectors report the same key set tick after tick."""
        cache_key = tuple(keys)
        cached = self._id_cache.get(cache_key)
        if cached is not None:
            self._id_cache.move_to_end(cache_key)
            return cached
        ids = np.fromiter(
            (self.series_id(k) for k in cache_key), dtype=np.int64, count=len(cache_key)
        )
        self._id_cache[cache_key] = ids
        if len(self._id_cache) > _ID_CACHE_SIZE:
            self._id_cache.popitem(last=False)
        return ids

    def key(self, series_id: int) -> SeriesKey:
        key = self._keys[series_id]
        if key is None:
            raise KeyError(f"series {series_id} was retired")
        return key

    def __len__(self) -> int:
        return len(self._ids)

    def _grow_index(self, size: int) -> None:
        if size <= self._ring_of.shape[0]:
            return
        new = max(size, 2 * self._ring_of.shape[0], 64)
        self._ring_of = np.resize(self._ring_of, new)
        self._row_of = np.resize(self._row_of, new)
        self._last_seen = np.resize(self._last_seen, new)

    # -- writing -------------------------------------------------------------------------

    def write(self, batch: Batch) -> None:
        if len(batch) == 0:
            return
        ids = batch.ids
        ring_of = self._ring_of[ids]
        rows = self._row_of[ids]
        first = int(ring_of[0])
        if bool((ring_of == first).all()):
            self._rings[first].write(batch.timestamp, rows, batch.values)
        else:
            for ring_idx in np.unique(ring_of):
                mask = ring_of == ring_idx
                self._rings[int(ring_idx)].write(batch.timestamp, rows[mask], batch.values[mask])
        self._last_seen[ids] = batch.timestamp

    def write_samples(
        self, timestamp: float, keys: Sequence[SeriesKey], values: npt.NDArray[np.float64]
    ) -> Batch:
        batch = Batch(timestamp, self.ids_for(keys), np.asarray(values, dtype=np.float64))
        self.write(batch)
        return batch

    # -- reading -------------------------------------------------------------------------

    def window(
        self, series_id: int, last: int | None = None
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """(times, values) of a series, oldest first, without the gaps."""
        self.key(series_id)
        ring = self._rings[int(self._ring_of[series_id])]
        cols = ring.order()
        if last is not None:
            cols = cols[-last:]
        values = ring.values[int(self._row_of[series_id]), cols].astype(np.float64)
        present = ~np.isnan(values)
        return ring.times[cols][present], values[present]

    def latest(self, series_id: int) -> float | None:
        _, values = self.window(series_id, last=1)
        return float(values[0]) if values.size else None

    # -- housekeeping --------------------------------------------------------------------

    def retire_stale(self, now: float, max_age: float) -> list[int]:
        """Forget series not written for `max_age` seconds (a process that exited)."""
        live = len(self._keys)
        seen = self._last_seen[:live]
        stale = np.flatnonzero(~np.isnan(seen) & (seen < now - max_age))
        retired = []
        for sid in stale.tolist():
            key = self._keys[sid]
            if key is None:
                continue
            self._rings[int(self._ring_of[sid])].free_row(int(self._row_of[sid]))
            del self._ids[key]
            self._keys[sid] = None
            self._last_seen[sid] = np.nan
            self._free_ids.append(sid)
            retired.append(sid)
        if retired:
            self._id_cache.clear()
        return retired

    @property
    def nbytes(self) -> int:
        return sum(r.nbytes for r in self._rings)
