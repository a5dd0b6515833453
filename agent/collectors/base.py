"""The one small interface every collector domain implements.

A collector is a pure parser plus a thin reader rooted at a configurable
procfs/sysfs, in the style of prometheus/procfs: tests run it on captured
fixture trees, production runs it on /proc and /sys.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from analyzers.base import SeriesKey


class ParseError(ValueError):
    """A kernel file did not have the documented format."""


@dataclass(frozen=True)
class MetricSpec:
    """Documentation of one metric a collector emits (docs/METRICS.md is built from these)."""

    name: str
    unit: str
    labels: tuple[str, ...]
    help: str


@dataclass(frozen=True)
class Samples:
    """One collection: parallel keys and values (the keys tuple is reused between ticks)."""

    keys: tuple[SeriesKey, ...]
    values: npt.NDArray[np.float64]

    @classmethod
    def empty(cls) -> Samples:
        return cls((), np.zeros(0, dtype=np.float64))

    def __len__(self) -> int:
        return len(self.keys)


class Collector(Protocol):
    """`collect()` reads the host once; it raises on an unreadable or malformed source."""

    name: str
    metrics: tuple[MetricSpec, ...]

    def collect(self) -> Samples: ...
