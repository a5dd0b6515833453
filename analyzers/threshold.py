"""Static thresholds: a level per metric, checked on every sample.

State is kept in numpy arrays indexed by series id, so a tick costs one
vectorised comparison; Python objects are built only for the series that fire
or resolve.  While a series stays over its level, every sample yields a firing
event: the router, not the analyzer, decides how often people hear about it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from alerting.alert import Alert, Severity, Status
from analyzers.base import Batch, SeriesLookup

_NO_STATE = -1


@dataclass(frozen=True)
class ThresholdRule:
    metric: str
    level: float
    severity: Severity = Severity.WARN


def format_value(metric: str, value: float) -> str:
    if metric.endswith("_percent"):
        return f"{value:.1f}%"
    if metric.endswith("_celsius"):
        return f"{value:.0f}°C"
    if metric.endswith("_bytes"):
        size = float(value)
        for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
            if abs(size) < 1024 or unit == "TiB":
                return f"{size:.1f} {unit}"
            size /= 1024
    return f"{value:g}"


class ThresholdAnalyzer:
    name = "threshold"

    def __init__(self, rules: Iterable[ThresholdRule]) -> None:
        self._rules = {rule.metric: rule for rule in rules}
        self._level = np.zeros(0, dtype=np.float64)
        self._state = np.zeros(0, dtype=np.int8)
        self._known = np.zeros(0, dtype=bool)

    def reconfigure(self, rules: Iterable[ThresholdRule]) -> None:
        """New levels (a config reload); firing states are kept so nothing re-fires."""
        self._rules = {rule.metric: rule for rule in rules}
        self._known[:] = False

    def forget(self, series_ids: Iterable[int]) -> None:
        for sid in series_ids:
            if sid < self._known.shape[0]:
                self._known[sid] = False
                self._state[sid] = _NO_STATE

    def observe(self, batch: Batch, series: SeriesLookup) -> list[Alert]:
        if len(batch) == 0:
            return []
        ids = batch.ids
        self._learn(ids, series)
        levels = self._level[ids]
        over = batch.values > levels  # NaN level (no rule) or NaN value: never over
        was_firing = self._state[ids] != _NO_STATE
        alerts: list[Alert] = []
        for i in np.flatnonzero(over | was_firing).tolist():
            sid = int(ids[i])
            key = series.key(sid)
            value = float(batch.values[i])
            shown = format_value(key.metric, value)
            labels = "".join(f" {k}={v}" for k, v in key.labels)
            rule = self._rules.get(key.metric)
            if rule is None:  # its rule was removed by a reload while it was firing
                severity = Severity(int(self._state[sid]))
                self._state[sid] = _NO_STATE
                status, threshold = Status.RESOLVED, None
                message = f"{key.metric}{labels} has no threshold any more ({shown})"
            else:
                severity, threshold = rule.severity, rule.level
                level = format_value(key.metric, rule.level)
                if over[i]:
                    self._state[sid] = int(rule.severity)
                    status = Status.FIRING
                    message = (
                        f"{key.metric}{labels} is above its threshold: {shown} (threshold {level})"
                    )
                else:
                    self._state[sid] = _NO_STATE
                    status = Status.RESOLVED
                    message = (
                        f"{key.metric}{labels} is back below its threshold: "
                        f"{shown} (threshold {level})"
                    )
            alerts.append(
                Alert(
                    analyzer=self.name,
                    metric=key.metric,
                    labels=key.labels,
                    status=status,
                    severity=severity,
                    value=value,
                    threshold=threshold,
                    message=message,
                    timestamp=batch.timestamp,
                )
            )
        return alerts

    def _learn(self, ids: npt.NDArray[np.int64], series: SeriesLookup) -> None:
        """Look up the rule of series not seen before (once per series, not per tick)."""
        needed = int(ids.max()) + 1
        if needed > self._known.shape[0]:
            size = max(needed, 2 * self._known.shape[0], 64)
            old = self._known.shape[0]
            self._level = np.resize(self._level, size)
            self._state = np.resize(self._state, size)
            self._known = np.resize(self._known, size)
            self._known[old:] = False
            self._state[old:] = _NO_STATE
        for sid in ids[~self._known[ids]].tolist():
            rule = self._rules.get(series.key(sid).metric)
            self._level[sid] = rule.level if rule else np.nan
            self._known[sid] = True
