"""The one small interface every collector domain implements, and its helpers.

A collector is a pure parser plus a thin reader rooted at a configurable
procfs/sysfs/rootfs, in the style of prometheus/procfs: tests run it on
captured fixture trees, production runs it on /proc and /sys.  Each module
declares the metrics it emits as `MetricSpec`s; docs/METRICS.md is generated
from them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt

from analyzers.base import Labels, SeriesKey


class ParseError(ValueError):
    """A kernel file did not have the documented format."""


class SourceMissing(Exception):
    """The data source does not exist on this host (no GPU, no PSI, no EDAC driver).

    Not an error: the runtime reports the domain as absent once and stops
    scheduling it, instead of logging a failure every tick.
    """


@dataclass(frozen=True)
class MetricSpec:
    """Documentation of one metric a collector emits."""

    name: str
    type: Literal["gauge", "counter"]
    unit: str
    labels: tuple[str, ...]
    source: str
    help: str


def gauge(name: str, unit: str, labels: tuple[str, ...], source: str, help: str) -> MetricSpec:
    return MetricSpec(name, "gauge", unit, labels, source, help)


def counter(name: str, unit: str, labels: tuple[str, ...], source: str, help: str) -> MetricSpec:
    return MetricSpec(name, "counter", unit, labels, source, help)


@dataclass(frozen=True)
class Samples:
    """One collection: parallel keys and values."""

    keys: tuple[SeriesKey, ...]
    values: npt.NDArray[np.float64]

    @classmethod
    def empty(cls) -> Samples:
        return cls((), np.zeros(0, dtype=np.float64))

    def __len__(self) -> int:
        return len(self.keys)


class SampleBuilder:
    """Accumulates (key, value) pairs of one tick, then makes `Samples`."""

    __slots__ = ("_keys", "_values")

    def __init__(self) -> None:
        self._keys: list[SeriesKey] = []
        self._values: list[float] = []

    def add(self, metric: str, value: float, labels: Labels = ()) -> None:
        self._keys.append(SeriesKey(metric, labels))
        self._values.append(value)

    def add_many(
        self, metrics: tuple[str, ...], values: npt.ArrayLike, labels: Labels = ()
    ) -> None:
        self._keys.extend(SeriesKey(m, labels) for m in metrics)
        self._values.extend(np.asarray(values, dtype=np.float64).tolist())

    def extend(self, other: SampleBuilder) -> None:
        self._keys.extend(other._keys)
        self._values.extend(other._values)

    def build(self) -> Samples:
        return Samples(tuple(self._keys), np.array(self._values, dtype=np.float64))


def labels(**kv: str) -> Labels:
    return tuple(sorted(kv.items()))


class Collector(Protocol):
    """`collect()` reads the host once.

    It raises `SourceMissing` when the domain does not exist on this host, and
    any other exception for an unreadable or malformed source (counted and
    logged by the runtime).
    """

    name: str
    metrics: tuple[MetricSpec, ...]

    def collect(self) -> Samples: ...


class CounterRates:
    """Per-second rates of monotonic counters, per entity, over the measured interval.

    A counter that went backwards was reset (a driver reload, a re-created
    interface) or wrapped; its rate for that interval is reported as 0, never
    as a negative or absurd number.  `wrap` handles fields the kernel keeps in
    32 bits: a decrease from the upper half to the lower half is a wrap.
    """

    def __init__(self, wrap: int | None = None) -> None:
        self._previous: dict[str, tuple[float, npt.NDArray[np.float64]]] = {}
        self._wrap = wrap

    def update(
        self, entity: str, now: float, counters: npt.ArrayLike
    ) -> npt.NDArray[np.float64] | None:
        current = np.asarray(counters, dtype=np.float64)
        previous = self._previous.get(entity)
        self._previous[entity] = (now, current)
        if previous is None or previous[1].shape != current.shape:
            return None
        elapsed = now - previous[0]
        if elapsed <= 0:
            return None
        return counter_delta(previous[1], current, self._wrap) / elapsed

    def retain(self, entities: set[str]) -> None:
        """Forget entities that are gone (an exited process, a removed disk)."""
        for gone in set(self._previous) - entities:
            del self._previous[gone]


def counter_delta(
    before: npt.NDArray[np.float64], after: npt.NDArray[np.float64], wrap: int | None = None
) -> npt.NDArray[np.float64]:
    """after - before for counters: a wrap at `wrap` is undone, any other decrease counts as 0."""
    delta = after - before
    backwards = delta < 0
    if backwards.any():
        if wrap is not None:
            wrapped = backwards & (before >= wrap // 2) & (before < wrap) & (after < wrap // 2)
            delta[wrapped] += wrap
            backwards &= ~wrapped
        delta[backwards] = 0.0
    return delta


def read_text(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace")


def read_optional(path: Path) -> str | None:
    """The file's text, or None when it does not exist (an optional attribute)."""
    try:
        return read_text(path)
    except (FileNotFoundError, NotADirectoryError):
        return None


def read_int(path: Path) -> int | None:
    """An integer sysfs attribute, or None if absent, empty or not a number."""
    try:
        text = read_text(path).strip()
    except OSError:  # absent, or EINVAL: e.g. `speed` of a link that is down
        return None
    try:
        return int(text)
    except ValueError:
        return None


def parse_cpulist(text: str) -> list[int]:
    """A kernel CPU list such as ``0-3,8,10-11`` (empty for an empty list)."""
    cpus: list[int] = []
    for part in text.strip().split(","):
        if not part:
            continue
        low, sep, high = part.partition("-")
        try:
            if sep:
                start, end = int(low), int(high)
                if end < start or end - start > 65536:
                    raise ParseError(f"bad CPU range {part!r}")
                cpus.extend(range(start, end + 1))
            else:
                cpus.append(int(low))
        except ValueError:
            raise ParseError(f"bad CPU list entry {part!r}") from None
    return cpus
