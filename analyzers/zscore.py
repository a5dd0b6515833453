"""Z-score: how unusual is this sample against the series' own recent past?

Per series, over the previous `window` samples (the current one is not part of
its own baseline): z = (x - mean) / std.  |z| >= threshold fires a warning,
>= 2 x threshold escalates to critical; the alert resolves once |z| is back
under half the threshold.  No verdict before `min_samples`, and none on a flat
series.  The standard deviation has a floor by unit (`noise_floor`: one point
for percentages, 5 % of the mean otherwise), so a near-constant series does
not turn a 0.01-point wobble into 10 sigma; and after an alert resolves, the
series stays quiet for `cooldown_secs`: one alert per excursion, not a storm.

Running sums (count, sum, sum of squares) make a tick O(1) per series whatever
the window: the sample leaving the window is read back from the store's raw
tier.  `resync` recomputes the sums exactly from the ring buffer, a slice of
series per tick, to stop floating-point drift.
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from alerting.alert import Alert
from analyzers.base import (
    Batch,
    History,
    IntArray,
    SeriesArrays,
    beyond_record,
    noise_floor,
    transition,
)
from analyzers.registry import AnalyzerPlugin
from analyzers.threshold import format_value

RESYNC_WINDOWS = 10
DEFAULT_METRICS = (
    "cpu_usage_percent", "cpu_iowait_percent", "cpu_load1", "memory_used_percent",
    "network_receive_bytes_per_second", "network_transmit_bytes_per_second",
    "disk_read_bytes_per_second", "disk_write_bytes_per_second",
)  # fmt: skip


class ZScoreAnalyzer:
    name = "zscore"

    def __init__(
        self,
        metrics: Iterable[str] = DEFAULT_METRICS,
        window: int = 360,
        threshold: float = 3.0,
        min_samples: int = 30,
        cooldown_secs: float = 3600.0,
        resync_per_tick: int | None = None,
        record_buckets: int = 0,
    ) -> None:
        self.patterns = tuple(metrics)
        self.window = window
        self.threshold = threshold
        self.min_samples = min_samples
        self.cooldown = cooldown_secs
        self.record_buckets = record_buckets
        self._decay = 0.5 ** (1.0 / window)  # the peak halves over one window
        self.resync_per_tick = resync_per_tick
        self._resync_cursor = 0
        self.s = SeriesArrays(
            known=(bool, False),
            watched=(bool, False),
            n=(np.float64, 0.0),
            total=(np.float64, 0.0),
            squares=(np.float64, 0.0),
            state=(np.int8, 0),  # 0 quiet, 1 warn, 2 critical
            floor_abs=(np.float64, 0.0),
            floor_rel=(np.float64, 0.0),
            quiet_until=(np.float64, -np.inf),  # no new alert before this (after a resolve)
            peak=(np.float64, 0.0),  # decaying maximum of recent |z|
        )

    def _watches(self, metric: str) -> bool:
        return any(fnmatch.fnmatchcase(metric, p) for p in self.patterns)

    def forget(self, series_ids: Iterable[int]) -> None:
        self.s.reset(series_ids)

    def observe(self, batch: Batch, history: History) -> list[Alert]:
        s = self.s
        s.ensure(batch.ids)
        new = batch.ids[~s.known[batch.ids]]
        for sid in new.tolist():
            s.known[sid] = True
            metric = history.key(sid).metric
            s.watched[sid] = self._watches(metric)
            s.floor_abs[sid], s.floor_rel[sid] = noise_floor(metric)
        mask = s.watched[batch.ids]
        if not mask.any():
            return []
        ids, x = batch.ids[mask], batch.values[mask]
        n, total, squares = s.n[ids], s.total[ids], s.squares[ids]
        # The verdict, against the window before this sample.
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = total / n
            var = np.maximum(squares / n - mean * mean, 0.0)
            std = np.maximum(
                np.sqrt(var), np.maximum(s.floor_abs[ids], s.floor_rel[ids] * np.abs(mean))
            )
            z = (x - mean) / std
        ready = (
            (n >= self.min_samples)
            & (std > 0)
            & np.isfinite(z)
            & (batch.timestamp >= s.quiet_until[ids])
        )
        absz = np.where(ready, np.abs(z), 0.0)
        state = s.state[ids]
        target = np.where(absz >= 2 * self.threshold, 2, np.where(absz >= self.threshold, 1, 0))
        # A new alert must be news.  Record gate (the default): the value goes beyond
        # every bucket mean of the record window (24 h), so a daily peak 4 sigma from
        # the last hour stays quiet.  Without a record window, a surprise gate: the
        # excursion must beat a decaying peak of recent |z|.
        peak = s.peak[ids]
        s.peak[ids] = np.maximum(peak * self._decay, absz)
        if self.record_buckets <= 0:
            target = np.where((state == 0) & (absz <= peak), 0, target)
        starting = np.flatnonzero((state == 0) & (target > 0))
        if starting.size:
            record = beyond_record(
                history, ids[starting], x[starting], z[starting] > 0, self.record_buckets
            )
            target[starting[~record]] = 0
        # Hysteresis: once firing, stay until |z| < threshold / 2; never step down within an excursion.
        target = np.where(
            state > 0, np.where(absz < self.threshold / 2, 0, np.maximum(state, target)), target
        )
        target = np.where(np.isfinite(x), target, state).astype(np.int8)
        # Then slide the window: add this sample, drop the one `window` samples back.
        old = history.value_ago(ids, self.window)
        # Add the value as the ring stores it (float32), so what leaves later is exactly what came in.
        x = x.astype(np.float32).astype(np.float64)
        x_in, old_in = np.isfinite(x), np.isfinite(old)
        s.n[ids] = n + x_in - old_in
        s.total[ids] = total + np.where(x_in, x, 0.0) - np.where(old_in, old, 0.0)
        s.squares[ids] = squares + np.where(x_in, x * x, 0.0) - np.where(old_in, old * old, 0.0)
        alerts = []
        for i in np.flatnonzero(target != state).tolist():
            sid = int(ids[i])
            alerts.append(self._alert(sid, int(state[i]), int(target[i]), float(x[i]), float(z[i]),
                                      float(mean[i]), batch.timestamp, history))  # fmt: skip
            s.state[sid] = target[i]
            if target[i] == 0:
                s.quiet_until[sid] = batch.timestamp + self.cooldown
        self._resync(history)
        return alerts

    def _alert(
        self,
        sid: int,
        before: int,
        after: int,
        x: float,
        z: float,
        mean: float,
        now: float,
        history: History,
    ) -> Alert:
        key = history.key(sid)
        where = "".join(f" {k}={v}" for k, v in key.labels)
        status, severity = transition(before, after)
        if after == 0:
            message = f"{key.metric}{where} is back to usual: {format_value(key.metric, x)}"
        else:
            direction = "above" if z > 0 else "below"
            message = (
                f"{key.metric}{where} is {format_value(key.metric, x)}, {abs(z):.1f}σ {direction} "
                f"its recent mean {format_value(key.metric, mean)}"
            )
        return Alert(analyzer=self.name, metric=key.metric, labels=key.labels, status=status, severity=severity,
                     value=x, threshold=self.threshold, message=message, timestamp=now, series_id=sid,
                     context={"z": round(z, 2) if np.isfinite(z) else None})  # fmt: skip

    def _resync(self, history: History) -> None:
        """Recompute a slice of series exactly from the raw tier (drift control)."""
        s = self.s
        watched = np.flatnonzero(s.watched[: s.size])
        if watched.size == 0:
            return
        # One exact recompute per series every RESYNC_WINDOWS windows: O(1) per series per
        # tick, and plenty, since what leaves the sums is bit-for-bit what entered them.
        per_tick = self.resync_per_tick
        if per_tick is None:
            per_tick = -(-watched.size // (RESYNC_WINDOWS * self.window))
        start = self._resync_cursor % watched.size
        chosen: IntArray = watched[start : start + per_tick]
        self._resync_cursor = start + chosen.size
        for sid in chosen.tolist():
            try:
                _, values = history.window(sid, last=self.window)
            except KeyError:
                continue
            s.n[sid], s.total[sid], s.squares[sid] = (
                values.size,
                values.sum(),
                (values * values).sum(),
            )

    def exact(self, sid: int, history: History) -> tuple[float, float, float]:
        """(n, sum, sum of squares) of the current window, from the ring buffer (for tests)."""
        _, values = history.window(sid, last=self.window)
        return float(values.size), float(values.sum()), float((values * values).sum())


def record_buckets(settings: Any) -> int:
    """History-tier buckets in analyzer.anomaly_record_hours (z-score and EMA share it)."""
    hours: float = settings.analyzer.anomaly_record_hours
    resolution: float = settings.storage.history_resolution_secs
    return math.ceil(hours * 3600 / resolution)


def _build(settings: Any, watch_everything: bool) -> ZScoreAnalyzer:
    an = settings.analyzer
    return ZScoreAnalyzer(
        ("*",) if watch_everything else an.anomaly_metrics,
        an.zscore_window,
        an.zscore_threshold,
        an.anomaly_min_samples,
        an.anomaly_cooldown_secs,
        record_buckets=record_buckets(settings),
    )


PLUGIN = AnalyzerPlugin(
    name="zscore",
    order=20,
    build=_build,
    history=lambda s, e: ("*",) if e else tuple(s.analyzer.anomaly_metrics),
)
