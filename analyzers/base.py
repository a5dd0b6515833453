"""What every analyzer sees: series identities and batches of samples."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Protocol

import numpy as np
import numpy.typing as npt

from alerting.alert import Alert

Labels = tuple[tuple[str, str], ...]


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


@dataclass(frozen=True)
class Batch:
    """Samples taken at one instant: parallel arrays, not one object per sample."""

    timestamp: float
    ids: npt.NDArray[np.int64]
    values: npt.NDArray[np.float64]

    def __len__(self) -> int:
        return int(self.ids.shape[0])


class Analyzer(Protocol):
    name: str

    def observe(self, batch: Batch, series: SeriesLookup) -> list[Alert]: ...
