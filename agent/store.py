"""Series registry and numpy ring buffers, in two tiers.

Every series (metric name + labels) gets a small integer id.  The series that
are written together (one collector's tick: the writer names the group) share
one ring: a float64 time axis and a float32 matrix with one row per series, so
a batch is written with one fancy-indexed assignment and not one Python
operation per sample, and the time axes cost once per collector rather than
once per metric (~14 kB each).  A series that has no value in a batch gets NaN
in that column.  Without a group, a series' ring is its metric's.

* The **raw tier** keeps the last `storage.ring_buffer_capacity` samples (360 =
  one hour at 10 s): the z-score window and the recent detail.
* The **history tier** keeps one mean per `storage.history_resolution_secs`
  (60 s) for `storage.history_hours` (24 h): trends, leaks and the anomaly
  analyzers' record check.  Only the series that need it get a column there:
  those whose metric an enabled analyzer names (`AnalyzerPlugin.history`) or
  the operator lists (`storage.history_metrics`), the `needs_history`
  predicate the assembly hands the store.  A ring allocates its history tier
  when its first such series arrives, and the column when the series does.
* Every series, with history or not, has the open bucket's accumulator
  (sum, min, max, count): a closed bucket (`Buckets`) is everything the SQLite
  history (agent/history.py) writes, for every series: nobody re-buckets the
  samples.  `Store(capacity, history_capacity=0)` has no buckets at all
  (`--once`: one reading needs no day of history).

At the defaults a series costs 360 x 4 (raw, float32: a 24-bit mantissa is far
finer than any gauge we keep) + 28 (accumulator: float64 sum, min and max, so
SQLite gets what it got before, and an int32 count) + 4 (its history column,
int32) = 1,472 bytes; one with history 1500 x 4 + 4 more (7,476 bytes).  Plus its
share of its ring's time axes (2,880 bytes raw, 6,000 history, once per ring)
and of the spare rows a ring keeps for new series (a quarter at most).

Series are bounded: at most `max_series` in all and `max_series_per_group` per
ring (a collector).  Label values come from the host (interface, mount, process
names), so whoever can create interfaces or processes could otherwise make the
store grow without end; once a cap is reached, series not seen before are
dropped and counted per group (`dropped`), the ones already kept go on.
"""

from __future__ import annotations

import math
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from analyzers.base import Batch, SeriesKey

VALUE_DTYPE = np.float32
_ID_CACHE_SIZE = 256
_ONE = np.int32(1)
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Buckets:
    """One history bucket of several series: what the SQLite history writes.

    Mean, min and max are float64, from the exact sums (the tier keeps float32 means).
    """

    start: float  # the bucket's start, epoch seconds
    keys: list[SeriesKey]
    means: FloatArray
    mins: FloatArray
    maxs: FloatArray
    counts: IntArray


@dataclass(frozen=True)
class TierCopy:
    """One ring's history tier, by series key: what is kept across a restart
    (agent/tier_file.py).  `values[series, instant]`, instants oldest first."""

    group: str
    times: FloatArray  # each bucket's start, epoch seconds
    keys: list[SeriesKey]
    values: npt.NDArray[np.float32]


@dataclass(frozen=True)
class TierLayout:
    """Where a ring's history tier is, to copy it a part at a time (`Store.history_values`)
    while the store goes on: equal `stamp`s say nothing moved in between."""

    group: str
    times: FloatArray
    keys: list[SeriesKey]
    cols: IntArray  # the keys' history-tier columns
    stamp: tuple[int, int]


@dataclass(frozen=True)
class _RowBuckets:
    """A ring's bucket by row, before the store names the series."""

    start: float
    rows: IntArray
    means: FloatArray
    mins: FloatArray
    maxs: FloatArray
    counts: IntArray


class _Tier:
    """One ring of instants x series.

    Stored instant-major (`values[instant, series]`): a tick writes one
    contiguous row, and reading one instant for many series is contiguous too.
    """

    def __init__(self, capacity: int, rows: int, step: float | None = None) -> None:
        self.capacity = capacity
        # With a step (the history tier), times are multiples of it and are kept as
        # int32 step numbers counted from the first one: half the bytes of float64
        # epoch seconds, and exact (2**31 steps of even 0.1 s are 6.8 years).
        self.step = step
        self._base = 0
        self.times: npt.NDArray[np.float64] | npt.NDArray[np.int32] = (
            np.zeros(capacity, dtype=np.int32)
            if step
            else np.full(capacity, np.nan, dtype=np.float64)
        )
        self.values = np.full((capacity, rows), np.nan, dtype=VALUE_DTYPE)
        self.head = 0  # the column the next write goes to
        self.count = 0  # filled columns, at most capacity
        self.writes = 0  # every write, for what is derived from the time axis
        self._timeline: tuple[int, IntArray, FloatArray, bool] = (
            -1, np.zeros(0, np.int64), np.zeros(0), True
        )  # fmt: skip

    def grow(self, rows: int) -> None:
        grown = np.full((self.capacity, rows), np.nan, dtype=VALUE_DTYPE)
        grown[:, : self.values.shape[1]] = self.values
        self.values = grown

    @property
    def rows(self) -> int:
        return int(self.values.shape[1])

    def write(self, timestamp: float, used_rows: int, rows: IntArray, values: FloatArray) -> None:
        col = self.head
        self.values[col, :used_rows] = np.nan
        self.values[col, rows] = values
        if self.step:
            number = round(timestamp / self.step)
            if self.count == 0:
                self._base = number
            self.times[col] = number - self._base
        else:
            self.times[col] = timestamp
        self.head = (col + 1) % self.capacity
        self.count = min(self.count + 1, self.capacity)
        self.writes += 1

    def ago(self, rows: IntArray, lag: int) -> FloatArray:
        """Values `lag` writes before the newest (lag 0 = newest); NaN beyond what is kept."""
        if lag >= self.count:
            return np.full(rows.shape, np.nan)
        out: FloatArray = self.values[(self.head - 1 - lag) % self.capacity, rows].astype(
            np.float64
        )
        return out

    def times_of(self, cols: IntArray) -> FloatArray:
        """Epoch seconds of columns `cols`."""
        if self.step:
            return (self.times[cols].astype(np.float64) + self._base) * self.step
        return self.times[cols].astype(np.float64, copy=False)

    def timeline(self) -> tuple[IntArray, FloatArray, bool]:
        """`order()`, its times and whether they rise (not after a clock stepped back),
        derived once per write: the history tier changes once a bucket, and season looks
        along it several times a tick."""
        at, cols, times, rising = self._timeline
        if at != self.writes:
            cols = self.order()
            times = self.times_of(cols)
            rising = bool((np.diff(times) >= 0).all())
            self._timeline = (self.writes, cols, times, rising)
        return cols, times, rising

    def columns_between(self, start: float, end: float) -> IntArray:
        """Columns whose time is in [start, end], oldest first."""
        cols, times, rising = self.timeline()
        if rising:  # the usual case: two binary searches instead of a pass over the tier
            lo = int(np.searchsorted(times, start, side="left"))
            return cols[lo : int(np.searchsorted(times, end, side="right"))]
        return cols[(times >= start) & (times <= end)]

    def order(self, last: int | None = None) -> IntArray:
        """Column indices from oldest to newest (the newest `last` of them)."""
        n = self.count if last is None else min(last, self.count)
        start = (self.head - n) % self.capacity
        return (start + np.arange(n)) % self.capacity


class Ring:
    """Both tiers of a group of series written together, plus the open history bucket.

    The raw tier and the accumulator have one row per series; the history tier
    has one column per series that needs it, mapped both ways (`_hist` from a
    row, `_hist_rows` from a column; -1 where there is none).
    """

    def __init__(self, name: str, capacity: int, history_capacity: int, resolution: float) -> None:
        self.name = name
        self.raw = _Tier(capacity, 1)
        # history_capacity 0: no buckets at all, nothing accumulated.
        self.history_capacity = history_capacity
        self.history: _Tier | None = None  # allocated with the first series that needs it
        self.resolution = resolution
        self._sum = np.zeros(1, dtype=np.float64)
        self._min = np.full(1, np.inf)
        self._max = np.full(1, -np.inf)
        self._n = np.zeros(1, dtype=np.int32)
        self._hist = np.full(1, -1, dtype=np.int32)
        self._hist_rows = np.zeros(0, dtype=np.int32)
        self._hist_used = 0
        self._free_hist: list[int] = []
        self._bucket: int | None = None
        self._rows_used = 0
        self._free_rows: list[int] = []
        self.changes = 0  # series added or freed: a copy's columns may have moved

    def add_row(self, history: bool = True) -> int:
        self.changes += 1
        if self._free_rows:
            row = self._free_rows.pop()
        else:
            if self._rows_used == self.raw.rows:
                self._resize(_grown(self.raw.rows))
            row = self._rows_used
            self._rows_used += 1
        self._clear(row)
        if history and self.history_capacity:
            self._add_history(row)
        return row

    def _add_history(self, row: int) -> None:
        tier = self._history_tier()
        if self._free_hist:
            col = self._free_hist.pop()
        else:
            if self._hist_used == tier.rows:
                self._resize_history(_grown(tier.rows))
            col = self._hist_used
            self._hist_used += 1
        tier.values[:, col] = np.nan
        self._hist[row], self._hist_rows[col] = col, row

    def _history_tier(self) -> _Tier:
        if self.history is None:  # the ring's first series that needs history
            self.history = _Tier(self.history_capacity, 0, step=self.resolution)
        return self.history

    def reserve(self, count: int, history: int = 0) -> None:
        """Room for `count` new series, `history` of them with history, at once, exactly
        (a collector's first batch)."""
        needed = self._rows_used + max(0, count - len(self._free_rows))
        if needed > self.raw.rows:
            self._resize(needed)
        needed = self._hist_used + max(0, history - len(self._free_hist))
        if history and self.history_capacity and needed > self._hist_rows.size:
            self._resize_history(needed)

    def _resize(self, rows: int) -> None:
        self.raw.grow(rows)
        self._sum = np.resize(self._sum, rows)
        self._min = np.resize(self._min, rows)
        self._max = np.resize(self._max, rows)
        self._n = np.resize(self._n, rows)
        self._hist = _resized(self._hist, rows)

    def _resize_history(self, cols: int) -> None:
        self._history_tier().grow(cols)
        self._hist_rows = _resized(self._hist_rows, cols)

    def history_col(self, rows: IntArray) -> IntArray:
        """History-tier columns of ring rows; -1 for a series without history."""
        cols: IntArray = self._hist[rows].astype(np.int64)
        return cols

    @property
    def rows_used(self) -> int:
        """Rows handed out so far, free ones included (what a raw column spans)."""
        return self._rows_used

    @property
    def live(self) -> int:
        """Rows that hold a series."""
        return self._rows_used - len(self._free_rows)

    def free_row(self, row: int) -> None:
        self.changes += 1
        self._clear(row)
        col = int(self._hist[row])
        if col >= 0:
            self._hist[row], self._hist_rows[col] = -1, -1
            self._free_hist.append(col)
        self._free_rows.append(row)

    def _clear(self, row: int) -> None:
        self.raw.values[:, row] = np.nan
        self._reset(row)

    def _reset(self, rows: int | slice) -> None:
        self._sum[rows] = 0.0
        self._min[rows] = np.inf
        self._max[rows] = -np.inf
        self._n[rows] = 0

    def write(self, timestamp: float, rows: IntArray, values: FloatArray) -> _RowBuckets | None:
        """Write one column; the bucket this closed (a new history column), if it did."""
        self.raw.write(timestamp, self._rows_used, rows, values)
        if not self.history_capacity:
            return None
        bucket = math.floor(timestamp / self.resolution)
        closed = None
        if self._bucket is not None and bucket != self._bucket:
            closed = self._close_bucket()
        self._bucket = bucket
        finite = np.isfinite(values)
        rows, values = rows[finite], values[finite]
        np.add.at(self._sum, rows, values)
        np.minimum.at(self._min, rows, values)
        np.maximum.at(self._max, rows, values)
        np.add.at(self._n, rows, _ONE)  # a Python 1 takes numpy's slow casting path: 15x slower
        return closed

    def write_history(self, timestamp: float, cols: IntArray, values: FloatArray) -> None:
        """One bucket straight into the history tier, for its columns `cols` (the others
        NaN): a tier taken back at start-up."""
        self._history_tier().write(timestamp, self._hist_used, cols, values)

    def open_bucket(self) -> _RowBuckets | None:
        """The bucket being filled, as it stands (a partial bucket for SIGTERM)."""
        if self._bucket is None or not self.history_capacity:
            return None
        used = self._rows_used
        rows = np.flatnonzero(self._n[:used] > 0)
        n = self._n[rows]
        return _RowBuckets(
            self._bucket * self.resolution,
            rows,
            self._sum[rows] / n,
            self._min[rows].copy(),
            self._max[rows].copy(),
            n.astype(np.int64),
        )

    def _close_bucket(self) -> _RowBuckets | None:
        if self._bucket is None or not self.history_capacity:
            return None
        closed = self.open_bucket()
        used = self._rows_used
        if self.history is not None:
            means = np.full(used, np.nan)
            if closed is not None:
                means[closed.rows] = closed.means
            source = self._hist_rows[: self._hist_used]
            kept = source >= 0
            column = np.full(source.shape, np.nan)
            column[kept] = means[source[kept]]
            self.history.write(
                self._bucket * self.resolution, source.size, np.arange(source.size), column
            )
        self._reset(slice(0, used))
        return closed

    @property
    def nbytes(self) -> int:
        arrays = [self.raw.times, self.raw.values, self._sum, self._min, self._max, self._n]
        arrays += [self._hist, self._hist_rows]
        if self.history is not None:
            arrays += [self.history.times, self.history.values]
        return int(sum(a.nbytes for a in arrays))


def _grown(rows: int) -> int:
    # One at a time (a new process): a quarter more, at least 4, so growth
    # copies rarely and leaves at most a quarter of the rows spare.
    return rows + max(4, rows // 4)


def _resized(index: npt.NDArray[np.int32], size: int) -> npt.NDArray[np.int32]:
    """An index array grown to `size`, the new entries -1 (none)."""
    out = np.full(size, -1, dtype=np.int32)
    out[: index.size] = index
    return out


class Store:
    """All rings plus the registry that maps series keys to ids and back."""

    def __init__(
        self,
        capacity: int,
        history_capacity: int = 1440,
        resolution: float = 60.0,
        *,
        max_series: int | None = None,
        max_series_per_group: int | None = None,
        needs_history: Callable[[str], bool] | None = None,
    ) -> None:
        # metric name -> whether its series get the history tier; None: all of them.
        self.needs_history = needs_history
        self._history_of: dict[str, bool] = {}
        self.max_series = max_series
        self.max_series_per_group = max_series_per_group
        self.dropped: Counter[str] = Counter()  # group -> samples of series refused by a cap
        self.last_drop = -math.inf  # time.monotonic() of the last refusal
        self.capacity = capacity
        self.history_capacity = history_capacity
        self.resolution = resolution
        self._ids: dict[SeriesKey, int] = {}
        self._keys: list[SeriesKey | None] = []
        self._free_ids: list[int] = []
        self._rings: list[Ring] = []
        self._ring_index: dict[str, int] = {}
        self._ring_of = np.zeros(0, dtype=np.int64)
        self._row_of = np.zeros(0, dtype=np.int64)
        self._last_seen = np.zeros(0, dtype=np.float64)
        # The newest sample of each series as collected (float64), beside the float32 rings:
        # what leaves the agent (exporter, alert context) says 2.81, not 2.809999942779541.
        self._last_value = np.zeros(0, dtype=np.float64)
        self._id_cache: OrderedDict[tuple[SeriesKey, ...], IntArray] = OrderedDict()
        # Whether a collector wrote the series in this life: False for a series whose history
        # was taken back at start-up and that none has reported since (`reported`).
        self._reported = np.zeros(0, dtype=bool)
        # Told of every closed history bucket (the SQLite history), when set.
        self.on_buckets: Callable[[Buckets], None] | None = None

    # -- registry ------------------------------------------------------------------------

    def series_id(self, key: SeriesKey, group: str | None = None) -> int:
        """The id of `key`, registered in the ring of `group` (else of its metric) if new."""
        sid = self._ids.get(key)
        if sid is not None:
            return sid
        ring_idx = self._ring_idx(group or key.metric)
        row = self._rings[ring_idx].add_row(self.keeps_history(key.metric))
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
        self._last_value[sid] = np.nan
        self._reported[sid] = False  # until written
        return sid

    def keeps_history(self, metric: str) -> bool:
        """Whether series of `metric` get a history-tier column (asked once per metric)."""
        if self.needs_history is None:
            return True
        wanted = self._history_of.get(metric)
        if wanted is None:
            wanted = self._history_of[metric] = bool(self.needs_history(metric))
        return wanted

    def _ring_idx(self, name: str) -> int:
        ring_idx = self._ring_index.get(name)
        if ring_idx is None:
            ring_idx = len(self._rings)
            self._rings.append(Ring(name, self.capacity, self.history_capacity, self.resolution))
            self._ring_index[name] = ring_idx
        return ring_idx

    def ids_for(self, keys: Sequence[SeriesKey], group: str | None = None) -> IntArray:
        """Ids of `keys`, cached: collectors report the same key set tick after tick."""
        cache_key = tuple(keys)
        cached = self._id_cache.get(cache_key)
        if cached is not None:
            self._id_cache.move_to_end(cache_key)
            return cached
        fresh = [k for k in dict.fromkeys(cache_key) if k not in self._ids]
        new = Counter(group or k.metric for k in fresh)
        with_history = Counter(group or k.metric for k in fresh if self.keeps_history(k.metric))
        room = self._room(new)
        for name, count in new.items():
            self._rings[self._ring_idx(name)].reserve(
                min(count, room[name]), min(with_history[name], room[name])
            )
        ids = np.fromiter(
            (self._admit(k, group, room) for k in cache_key), dtype=np.int64, count=len(cache_key)
        )
        self._id_cache[cache_key] = ids
        if len(self._id_cache) > _ID_CACHE_SIZE:
            self._id_cache.popitem(last=False)
        return ids

    def _room(self, new: Counter[str]) -> Counter[str]:
        """How many of the `new` series each group may still register, the caps applied."""
        total = math.inf if self.max_series is None else self.max_series - len(self._ids)
        room: Counter[str] = Counter()
        for name, count in new.items():
            wanted = count
            per_group = self.max_series_per_group
            if per_group is not None:
                ring_idx = self._ring_index.get(name)
                live = 0 if ring_idx is None else self._rings[ring_idx].live
                wanted = min(count, per_group - live)
            take = int(max(0, min(wanted, total)))
            room[name] = take
            total -= take
        return room

    def _admit(self, key: SeriesKey, group: str | None, room: Counter[str]) -> int:
        """The id of `key`; -1 for a new series its group has no room for (the newest lose)."""
        sid = self._ids.get(key)
        if sid is not None:
            return sid
        name = group or key.metric
        if room[name] <= 0:
            return -1
        room[name] -= 1
        return self.series_id(key, group)

    def under_pressure(self, fraction: float = 0.8) -> list[str]:
        """Groups above `fraction` of a cap (all of them when the total is): retire sooner."""
        if self.max_series is not None and len(self._ids) > fraction * self.max_series:
            return [ring.name for ring in self._rings]
        if self.max_series_per_group is None:
            return []
        limit = fraction * self.max_series_per_group
        return [ring.name for ring in self._rings if ring.live > limit]

    def key(self, series_id: int) -> SeriesKey:
        key = self._keys[series_id]
        if key is None:
            raise KeyError(f"series {series_id} was retired")
        return key

    def find(self, key: SeriesKey) -> int | None:
        return self._ids.get(key)

    def reported(self, key: SeriesKey) -> bool:
        """Whether a collector reported `key` in this life (not only its history taken back)."""
        sid = self._ids.get(key)
        return sid is not None and bool(self._reported[sid])

    def __len__(self) -> int:
        return len(self._ids)

    def _grow_index(self, size: int) -> None:
        if size <= self._ring_of.shape[0]:
            return
        new = max(size, 2 * self._ring_of.shape[0], 64)
        self._ring_of = np.resize(self._ring_of, new)
        self._row_of = np.resize(self._row_of, new)
        self._last_seen = np.resize(self._last_seen, new)
        self._last_value = np.resize(self._last_value, new)
        self._reported = np.resize(self._reported, new)

    # -- writing -------------------------------------------------------------------------

    def write(self, batch: Batch) -> Batch:
        """Write a batch; returns it with `closed` set for the series whose history bucket
        closed (its ring's: every series of the ring, with a history column or not)."""
        if len(batch) == 0:
            return batch
        ids = batch.ids
        ring_of = self._ring_of[ids]
        rows = self._row_of[ids]
        closed = np.zeros(ids.shape, dtype=bool)
        first = int(ring_of[0])
        if bool((ring_of == first).all()):
            buckets = self._rings[first].write(batch.timestamp, rows, batch.values)
            closed[:] = buckets is not None
            self._hand_over(first, buckets)
        else:
            for ring_idx in set(ring_of.tolist()):  # np.unique would import numpy.ma (~2 MB)
                mask = ring_of == ring_idx
                buckets = self._rings[int(ring_idx)].write(
                    batch.timestamp, rows[mask], batch.values[mask]
                )
                closed[mask] = buckets is not None
                self._hand_over(int(ring_idx), buckets)
        self._last_seen[ids] = batch.timestamp
        self._last_value[ids] = batch.values
        self._reported[ids] = True
        return Batch(batch.timestamp, ids, batch.values, closed)

    def _hand_over(self, ring_idx: int, buckets: _RowBuckets | None) -> None:
        if buckets is not None and self.on_buckets is not None and buckets.rows.size:
            self.on_buckets(self._named(ring_idx, buckets))

    def _named(self, ring_idx: int, b: _RowBuckets) -> Buckets:
        """Keys instead of ring rows: ids and rows are reused once a series retires."""
        live = np.flatnonzero(self._ring_of[: len(self._keys)] == ring_idx)
        key_of_row = {int(self._row_of[sid]): self._keys[sid] for sid in live.tolist()}
        keep = [i for i, row in enumerate(b.rows.tolist()) if key_of_row.get(row) is not None]
        keys = [k for row in b.rows[keep].tolist() if (k := key_of_row[row]) is not None]
        return Buckets(b.start, keys, b.means[keep], b.mins[keep], b.maxs[keep], b.counts[keep])

    def open_buckets(self) -> list[Buckets]:
        """Every ring's bucket being filled, as it stands (the history's partial minute at SIGTERM)."""
        out = []
        for ring_idx, ring in enumerate(self._rings):
            buckets = ring.open_bucket()
            if buckets is not None and buckets.rows.size:
                out.append(self._named(ring_idx, buckets))
        return out

    def write_samples(
        self,
        timestamp: float,
        keys: Sequence[SeriesKey],
        values: npt.ArrayLike,
        group: str | None = None,
    ) -> Batch:
        """Write one batch; `group` names the ring new series join (the collector).

        Samples of series refused by a cap are left out of the batch and counted.
        """
        ids = self.ids_for(keys, group)
        array = np.asarray(values, dtype=np.float64)
        kept = ids >= 0
        if not kept.all():
            self.last_drop = time.monotonic()
            for key in (k for k, ok in zip(keys, kept.tolist(), strict=True) if not ok):
                self.dropped[group or key.metric] += 1
            ids, array = ids[kept], array[kept]
        return self.write(Batch(timestamp, ids, array))

    # -- reading (the analyzers' History protocol) --------------------------------------------

    def _gather(self, ids: IntArray, lag: int, tier_name: str) -> FloatArray:
        out = np.full(ids.shape, np.nan)
        ring_of = self._ring_of[ids]
        for ring_idx in set(ring_of.tolist()):
            mask = ring_of == ring_idx
            ring = self._rings[int(ring_idx)]
            rows = self._row_of[ids[mask]]
            if tier_name == "raw":
                out[mask] = ring.raw.ago(rows, lag)
            elif ring.history is not None:
                cols = ring.history_col(rows)
                kept = cols >= 0
                part = np.full(cols.shape, np.nan)
                part[kept] = ring.history.ago(cols[kept], lag)
                out[np.flatnonzero(mask)] = part
        return out

    def value_ago(self, ids: IntArray, lag: int) -> FloatArray:
        """Raw-tier values `lag` columns before the newest of each series' metric (0 = newest)."""
        return self._gather(ids, lag, "raw")

    def history_ago(self, ids: IntArray, lag: int) -> FloatArray:
        """History-tier means `lag` buckets before the newest closed bucket (0 = newest)."""
        return self._gather(ids, lag, "history")

    def history_time_ago(self, ids: IntArray, lag: int) -> FloatArray:
        """The start (epoch seconds) of the history-tier bucket `lag` columns before the
        newest, in each series' ring (NaN beyond what is kept): the columns are the
        buckets the ring closed, so a gap (the agent down, a collector slower than a
        bucket) makes them more than one bucket apart."""
        out = np.full(ids.shape, np.nan)
        ring_of = self._ring_of[ids]
        for ring_idx in set(ring_of.tolist()):
            tier = self._rings[int(ring_idx)].history
            if tier is not None and lag < tier.count:
                col = np.array([(tier.head - 1 - lag) % tier.capacity])
                out[ring_of == ring_idx] = tier.times_of(col)[0]
        return out

    def history_between(self, ids: IntArray, start: float, end: float) -> FloatArray:
        """Per series, the mean of its history-tier buckets that start in [start, end]
        (NaN where there is none): what a series did around a past instant, found by the
        ring's time axis, not by counting columns, so a gap in the sampling cannot shift it."""
        out = np.full(ids.shape, np.nan)
        ring_of = self._ring_of[ids]
        for ring_idx in set(ring_of.tolist()):
            ring = self._rings[int(ring_idx)]
            tier = ring.history
            if tier is None or tier.count == 0:
                continue
            cols = tier.columns_between(start, end)
            if cols.size == 0:
                continue
            mask = ring_of == ring_idx
            hist = ring.history_col(self._row_of[ids[mask]])
            kept = hist >= 0
            part = np.full(hist.shape, np.nan)
            if kept.any():
                block = tier.values[np.ix_(cols, hist[kept])].astype(np.float64)
                seen = np.count_nonzero(~np.isnan(block), axis=0)
                with np.errstate(invalid="ignore"):
                    part[kept] = np.where(
                        seen > 0, np.nansum(block, axis=0) / np.maximum(seen, 1), np.nan
                    )
            out[np.flatnonzero(mask)] = part
        return out

    def history_reach(self, ids: IntArray) -> FloatArray:
        """Per series, how far back (seconds) its history tier reaches when full: its span
        once full, and while filling, its span so far scaled to the whole capacity (the tier
        keeps a number of buckets, so it reaches further at sparser sampling); infinite
        before two buckets, 0 for a series that keeps no history."""
        out = np.zeros(ids.shape)
        ring_of = self._ring_of[ids]
        for ring_idx in set(ring_of.tolist()):
            tier = self._rings[int(ring_idx)].history
            if tier is None:
                continue
            mask = ring_of == ring_idx
            if tier.count < 2:
                span = math.inf
            else:
                # By the times, not the write order (a clock stepped back), and a full tier
                # reaches `capacity` buckets: its oldest bucket covers one more.
                _, times, _ = tier.timeline()
                span = float(times.max() - times.min()) * tier.capacity / (tier.count - 1)
            hist = self._rings[int(ring_idx)].history_col(self._row_of[ids[mask]])
            out[np.flatnonzero(mask)] = np.where(hist >= 0, span, 0.0)
        return out

    def window(self, series_id: int, last: int | None = None) -> tuple[FloatArray, FloatArray]:
        """(times, values) of the raw tier, oldest first, without the gaps."""
        return self._window(series_id, last, "raw")

    def history_window(
        self, series_id: int, last: int | None = None
    ) -> tuple[FloatArray, FloatArray]:
        """(bucket start times, means) of the history tier, oldest first, without the gaps."""
        return self._window(series_id, last, "history")

    def _window(
        self, series_id: int, last: int | None, tier_name: str
    ) -> tuple[FloatArray, FloatArray]:
        self.key(series_id)
        ring = self._rings[int(self._ring_of[series_id])]
        row = int(self._row_of[series_id])
        tier: _Tier | None = ring.raw
        if tier_name == "history":
            tier, row = ring.history, int(ring.history_col(np.array([row]))[0])
        if tier is None or row < 0:
            return np.zeros(0), np.zeros(0)
        cols = tier.order(last)
        values = tier.values[cols, row].astype(np.float64)
        present = ~np.isnan(values)
        return tier.times_of(cols)[present], values[present]

    def latest(self, series_id: int) -> float | None:
        """The newest sample a collector wrote in this life (None before: a sample taken
        back at start-up, `restore_raw`, is the past the analyzers judge by, not now)."""
        if not self._reported[series_id]:
            return None
        times, values = self.window(series_id, last=1)
        return self._exact(series_id, times[0], values[0]) if values.size else None

    def last_sample(self, series_id: int) -> tuple[float, float] | None:
        """(time, value) of the newest sample a collector wrote in this life, however long
        ago (None before any: a series only taken back at start-up): what a series that
        went away last said, read before it is retired."""
        if not self._reported[series_id]:
            return None
        return float(self._last_seen[series_id]), float(self._last_value[series_id])

    def _exact(self, series_id: int, time: float, stored: float) -> float:
        """The newest sample as collected, if it is the one the ring holds newest; else the
        ring's float32 at its own precision (str of float32: 2.81, not 2.809999942779541)."""
        if self._last_seen[series_id] == time:
            return float(self._last_value[series_id])
        return float(str(np.float32(stored)))

    def latest_by_metric(self, metric: str) -> list[tuple[SeriesKey, float]]:
        """The newest value of every series of a metric (for context such as the top processes)."""
        out = []
        for key, sid in self._ids.items():
            if key.metric == metric:
                value = self.latest(sid)
                if value is not None:
                    out.append((key, value))
        return out

    def latest_all(self) -> list[tuple[SeriesKey, float, float]]:
        """(key, newest value, its time) of every live series, for an exporter to read."""
        out = []
        for key, sid in list(self._ids.items()):
            if not self._reported[sid]:
                continue  # not written in this life (taken back at start-up): nothing now
            times, values = self.window(sid, last=1)
            if values.size:
                out.append((key, self._exact(sid, times[0], values[0]), float(times[0])))
        return out

    def latest_of(self, key: SeriesKey) -> float | None:
        sid = self._ids.get(key)
        return None if sid is None else self.latest(sid)

    # -- across a restart ------------------------------------------------------------------

    def history_layout(self) -> list[TierLayout]:
        """Every ring's history tier as it stands: its times and the keys of its columns."""
        out = []
        for ring_idx, ring in enumerate(self._rings):
            tier = ring.history
            if tier is None or tier.count == 0:
                continue
            live = np.flatnonzero(self._ring_of[: len(self._keys)] == ring_idx)
            live = live[[self._keys[sid] is not None for sid in live.tolist()]]
            cols = ring.history_col(self._row_of[live])
            live, cols = live[cols >= 0], cols[cols >= 0]
            if cols.size:
                _, times, _ = tier.timeline()
                keys = [self.key(sid) for sid in live.tolist()]
                out.append(
                    TierLayout(ring.name, times.copy(), keys, cols, self.history_stamp(ring.name))
                )
        return out

    def history_stamp(self, group: str) -> tuple[int, int]:
        """Changes when a ring's history tier gains a bucket or its series change."""
        ring = self._rings[self._ring_index[group]]
        return (0 if ring.history is None else ring.history.writes, ring.changes)

    def history_values(self, group: str, cols: IntArray) -> npt.NDArray[np.float32]:
        """A copy of some columns of a ring's history tier, `[series, instant]`, oldest first."""
        ring = self._rings[self._ring_index[group]]
        if ring.history is None:
            raise KeyError(group)
        order, _, _ = ring.history.timeline()
        return np.ascontiguousarray(ring.history.values[np.ix_(order, cols)].T)

    def history_tiers(self) -> list[TierCopy]:
        """A copy of every ring's history tier, whole (tests, benchmarks; the daemon keeps
        it a part at a time, agent/tier_file.py)."""
        return [
            TierCopy(t.group, t.times, t.keys, self.history_values(t.group, t.cols))
            for t in self.history_layout()
        ]

    def restore_history(self, copy: TierCopy, now: float) -> int:
        """Take back a ring's history tier kept across a restart: its series are registered
        (within the caps; those that keep no history now are left out) and their buckets
        written, but for those older than the tier's reach or not before this bucket.
        Must come before the ring's first write.  Returns the series taken back.

        Until a collector reports one, it is not `reported`, and it is retired as stale as
        any series is (`stale_ids`), counted from `now`: a process that exited meanwhile goes."""
        ring_idx = self._ring_index.get(copy.group)
        if ring_idx is not None and self._rings[ring_idx].raw.count:
            raise ValueError(f"ring {copy.group} was written before its history was taken back")
        this_bucket = math.floor(now / self.resolution) * self.resolution
        reach = this_bucket - self.history_capacity * self.resolution
        instants = np.flatnonzero((copy.times >= reach) & (copy.times < this_bucket))
        instants = instants[-self.history_capacity :] if self.history_capacity else instants[:0]
        # Series that keep history now, and not known already (another ring's: one row each).
        wanted = [i for i, key in enumerate(copy.keys)
                  if self.keeps_history(key.metric) and key not in self._ids]  # fmt: skip
        if instants.size == 0 or not wanted:
            return 0  # all of it older than the tier reaches, or nothing wanted
        keys = [copy.keys[i] for i in wanted]
        if not self._room(Counter({copy.group: len(keys)}))[copy.group]:
            return 0  # no room: not even an empty ring for it
        ids = self.ids_for(keys, copy.group)
        kept = np.flatnonzero(ids >= 0)
        ids = ids[kept]
        ring = self._rings[self._ring_index[copy.group]]
        cols = ring.history_col(self._row_of[ids])
        values = copy.values[np.array(wanted, dtype=np.int64)[kept]]
        for i in instants.tolist():
            ring.write_history(float(copy.times[i]), cols, values[:, i].astype(np.float64))
        self._last_seen[ids] = now
        self._reported[ids] = False
        return int(ids.size)

    def groups(self) -> list[str]:
        """The rings' names (the collectors that wrote, or had their history taken back)."""
        return [ring.name for ring in self._rings]

    def raw_tiers(
        self, wanted: Callable[[SeriesKey], bool], group: str | None = None
    ) -> list[TierCopy]:
        """A copy of the raw tier of the `wanted` series, ring by ring (of `group` only, if
        given), instants oldest first: the last hour the statistical analyzers judge by,
        kept for the next start (agent/tier_file.py, `keep_recent`)."""
        out = []
        for ring_idx, ring in enumerate(self._rings):
            if ring.raw.count == 0 or group not in (None, ring.name):
                continue
            live = np.flatnonzero(self._ring_of[: len(self._keys)] == ring_idx)
            chosen = [(sid, key) for sid in live.tolist()
                      if (key := self._keys[sid]) is not None and wanted(key)]  # fmt: skip
            if not chosen:
                continue
            rows = self._row_of[np.array([sid for sid, _ in chosen], dtype=np.int64)]
            cols = ring.raw.order()
            values = np.ascontiguousarray(ring.raw.values[np.ix_(cols, rows)].T)
            out.append(TierCopy(ring.name, ring.raw.times_of(cols).copy(),
                                [key for _, key in chosen], values))  # fmt: skip
        return out

    def restore_raw(self, copy: TierCopy, now: float) -> Iterator[Batch]:
        """Take back a ring's last raw samples, kept at a clean stop, an instant at a time,
        oldest first: each is written into the raw tier only (its buckets are in the
        history tier already, and were handed to the SQLite history in the last life) and
        yielded, so that the analyzers that learn from the raw tier go through it as they
        did then (`analyzers.base.Warmable`).  Must come before the ring's first write, and
        after `restore_history`; the newest `capacity` instants, series within the caps.
        The series are not `reported` (nothing is "now" before a collector writes them)
        and are retired as stale as any series is, counted from `now`."""
        ring_idx = self._ring_index.get(copy.group)
        if ring_idx is not None and self._rings[ring_idx].raw.count:
            raise ValueError(f"ring {copy.group} was written before its samples were taken back")
        if not copy.keys or copy.times.size == 0:
            return
        ids = self.ids_for(copy.keys, copy.group)
        ring_idx = self._ring_index.get(copy.group)
        if ring_idx is None:
            return  # no room: not even an empty ring for it
        # Within the caps, and not a series another ring holds (a collector that changed
        # its group across an upgrade: one row per series).
        kept = np.flatnonzero((ids >= 0) & (self._ring_of[np.maximum(ids, 0)] == ring_idx))
        if kept.size == 0:
            return
        ids = ids[kept]
        fresh = ids[np.isnan(self._last_seen[ids])]  # not taken back with the history tier
        self._last_seen[fresh] = now
        ring = self._rings[ring_idx]
        rows = self._row_of[ids]
        values = copy.values[kept]
        for i in range(max(0, copy.times.size - self.capacity), copy.times.size):
            column = values[:, i].astype(np.float64)
            ring.raw.write(float(copy.times[i]), ring.rows_used, rows, column)
            finite = np.isfinite(column)
            yield Batch(float(copy.times[i]), ids[finite], column[finite])

    # -- housekeeping --------------------------------------------------------------------

    def stale_ids(self, now: float, max_age: float, group: str | None = None) -> list[int]:
        """Series not written for `max_age` seconds (a process that exited), of one ring or all."""
        seen = self._last_seen[: len(self._keys)]
        stale = ~np.isnan(seen) & (seen < now - max_age)
        if group is not None:
            ring_idx = self._ring_index.get(group)
            if ring_idx is None:
                return []
            stale &= self._ring_of[: len(self._keys)] == ring_idx
        return [int(i) for i in np.flatnonzero(stale)]

    def retire_stale(self, now: float, max_age: float) -> list[int]:
        return self.retire(self.stale_ids(now, max_age))

    def retire(self, ids: list[int]) -> list[int]:
        """Forget these series: their ids and rows are reused by new series."""
        retired = []
        for sid in ids:
            key = self._keys[sid]
            if key is None:
                continue
            self._rings[int(self._ring_of[sid])].free_row(int(self._row_of[sid]))
            del self._ids[key]
            self._keys[sid] = None
            self._last_seen[sid] = np.nan
            self._last_value[sid] = np.nan
            self._free_ids.append(sid)
            retired.append(sid)
        if retired:
            self._id_cache.clear()
        return retired

    @property
    def nbytes(self) -> int:
        return sum(r.nbytes for r in self._rings)

    def bytes_per_series(self, history: bool = True) -> float:
        """Bytes of a series row, with or without a history column (without its share of
        the ring's time axes and spare rows)."""
        accumulator = 3 * 8 + 4 if self.history_capacity else 0
        own = VALUE_DTYPE().itemsize * self.capacity + accumulator + 4  # + its history index
        if history and self.history_capacity:
            own += VALUE_DTYPE().itemsize * self.history_capacity + 4
        return float(own)
