"""What every analyzer sees: series identities, batches of samples, and history.

Analyzers are pure numeric code.  They never read files or clocks: the runtime
hands them each batch as it is written, and a `History` (the store) to look
back into the ring buffers.  Their state is kept in numpy arrays indexed by
series id, so a tick is a few vectorised operations over the whole batch.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

import numpy as np
import numpy.typing as npt

from alerting.alert import Alert, Severity, Status

Labels = tuple[tuple[str, str], ...]
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


class SeriesKey(NamedTuple):
    """A series is a metric name plus its (sorted) labels."""

    metric: str
    labels: Labels = ()

    @classmethod
    def of(cls, metric: str, **labels: str) -> SeriesKey:
        return cls(metric, tuple(sorted(labels.items())))


class SeriesLookup(Protocol):
    """Resolves the small integer ids the store hands out back to series keys."""

    def key(self, series_id: int) -> SeriesKey: ...


class History(SeriesLookup, Protocol):
    """Read access to the store's two tiers (see agent.store)."""

    def value_ago(self, ids: IntArray, lag: int) -> FloatArray: ...

    def history_ago(self, ids: IntArray, lag: int) -> FloatArray: ...

    def window(self, series_id: int, last: int | None = None) -> tuple[FloatArray, FloatArray]: ...

    def history_window(
        self, series_id: int, last: int | None = None
    ) -> tuple[FloatArray, FloatArray]: ...

    def latest_of(self, key: SeriesKey) -> float | None: ...


@dataclass(frozen=True)
class Batch:
    """Samples taken at one instant: parallel arrays, not one object per sample.

    `closed` (set by the store) marks the series whose write closed a history
    bucket, i.e. that have a new history-tier value for trend and leak analysis.
    """

    timestamp: float
    ids: IntArray
    values: FloatArray
    closed: npt.NDArray[np.bool_] | None = None

    def __len__(self) -> int:
        return int(self.ids.shape[0])


class Analyzer(Protocol):
    name: str

    def observe(self, batch: Batch, history: History) -> list[Alert]: ...

    def forget(self, series_ids: Iterable[int]) -> None: ...


def transition(before: int, after: int) -> tuple[Status, Severity]:
    """Level states (0 quiet, 1 warn, 2 critical) before and after -> the event's status and severity."""
    if after == 0:
        return Status.RESOLVED, Severity.WARN if before == 1 else Severity.CRITICAL
    status = Status.FIRING if before == 0 else Status.ESCALATED
    return status, Severity.WARN if after == 1 else Severity.CRITICAL


def beyond_record(
    history: History, ids: IntArray, values: FloatArray, upward: npt.NDArray[np.bool_], buckets: int
) -> npt.NDArray[np.bool_]:
    """Whether each value goes beyond every history-tier mean of its series' last
    `buckets` buckets: above the highest if `upward`, else below the lowest.

    The anomaly analyzers ask this only for a series about to fire (rare), so
    reading its history window here costs nothing per tick.  A series with no
    closed bucket yet has no record to beat.
    """
    out = np.ones(ids.shape, dtype=bool)
    if buckets <= 0:
        return out
    for i, sid in enumerate(ids.tolist()):
        _, means = history.history_window(sid, last=buckets)
        if means.size:
            out[i] = values[i] > means.max() if upward[i] else values[i] < means.min()
    return out


def noise_floor(metric: str) -> tuple[float, float]:
    """(absolute, relative-to-|mean|) floor for the spread of a series, by unit.

    A deviation smaller than the floor is never an anomaly, however quiet the
    series was: CPU going from 0.07 % to 0.14 % is not news.  Percentages get
    one point, ratios 0.01, everything else 5 % of its mean.
    """
    if metric.endswith("_percent"):
        return 1.0, 0.0
    if metric.endswith("_ratio"):
        return 0.01, 0.0
    return 0.0, 0.05


class SeriesArrays:
    """Per-series state arrays that grow with the highest series id seen."""

    def __init__(self, **fields: tuple[type, float]) -> None:
        self._fields = fields
        self.size = 0
        for name, (dtype, fill) in fields.items():
            setattr(self, name, np.full(0, fill, dtype=dtype))

    def ensure(self, ids: IntArray) -> None:
        if ids.size == 0:
            return
        needed = int(ids.max()) + 1
        if needed <= self.size:
            return
        size = max(needed, 2 * self.size, 64)
        for name, (dtype, fill) in self._fields.items():
            old = getattr(self, name)
            new: npt.NDArray[Any] = np.full(size, fill, dtype=dtype)
            new[: old.shape[0]] = old
            setattr(self, name, new)
        self.size = size

    def __getattr__(self, name: str) -> npt.NDArray[Any]:  # typed access to the fields
        raise AttributeError(name)

    def reset(self, ids: Iterable[int]) -> None:
        index = [i for i in ids if i < self.size]
        for name, (_, fill) in self._fields.items():
            getattr(self, name)[index] = fill
