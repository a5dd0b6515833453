"""Z-score: how unusual is this stretch against the series' own recent past?

Per series, over the previous `window` samples, at most `MAX_BASELINE_SECS`
(12 h) of them (the current one is not part of its own baseline): the mean and
standard deviation.  What turns a deviation
into an alert is `PersistentAnomaly` (analyzers/base.py), shared with EMA: the
band is the larger of `threshold` σ and the family's noise floor in the
metric's own unit (analyzers/families.py), only in the family's direction (a
fall in usage is good news); the deviation must hold for
`analyzer.anomaly_persist_secs` (at sparse sampling, one or two samples far
beyond a wider band can cover it); no verdict while the series is learning
(`anomaly_learning_secs`), nor for a level already reached at this time of day
on an earlier day or held as long within the baseline (a recurring burst), nor
for the next run of a job that came back at a steady period (`recurs`).

Severity (issue #14, item 3): a statistical anomaly alone is a warning.  It is
critical when a second signal confirms it: EMA's shift detector (the EW mean
and variance of analyzers/ema.py, with `analyzer.ema_*`, kept here per series
and frozen where the stretch starts) sees the lasting stretch's level beyond
`ema_threshold` EW σ *and* three family floors: an abrupt change three times
the size that matters.  The message says which, and why.

Running sums (count, sum, sum of squares) make a tick O(1) per series whatever
the window: the sample leaving the window is read back from the store's raw
tier.  `resync` recomputes the sums exactly from the ring buffer, a slice of
series per tick, to stop floating-point drift.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from alerting.alert import Alert
from alerting.format import format_metric_apart, labels_text
from alerting.format import format_value as plain_value
from analyzers.base import (
    SEASON_DAYS,
    Batch,
    BoolArray,
    FloatArray,
    History,
    IntArray,
    LearnsFromRecentSamples,
    PersistentAnomaly,
    SeriesArrays,
    Step,
    anomaly_history,
    policy_from,
    transition,
)
from analyzers.families import DEFAULT_FAMILIES, Family
from analyzers.registry import AnalyzerPlugin
from analyzers.threshold import format_value
from analyzers.trend import human_duration

RESYNC_WINDOWS = 10
# The baseline spans at most half a day, whatever the sampling interval: a longer one mixes
# the other half of the daily cycle (night against day) into σ, and the band of a series
# with a daily wave becomes too wide to see anything on it (the daily repetition itself
# is the seasonality check's business).  At the agent's 10 s, `window` (1 h) binds.
MAX_BASELINE_SECS = 12 * 3600.0
DEFAULT_METRICS = (
    "cpu_usage_percent", "cpu_iowait_percent", "cpu_load1", "memory_used_percent",
    "network_receive_bytes_per_second", "network_transmit_bytes_per_second",
    "disk_read_bytes_per_second", "disk_write_bytes_per_second",
)  # fmt: skip
WHY_WARN = "warn: a statistical anomaly alone"
CONFIRM_FLOORS = 3.0  # as PersistentAnomaly.SHORT_FLOORS: the floor, three samples' worth
WHY_CRITICAL = "critical: confirmed by a second signal, EMA's shift detector ({sigmas:.1f} EW σ)"


def human_secs(secs: float) -> str:
    """A duration in seconds as a person reads it: seconds under a minute, else as the
    trend's ETAs ("5 min", "1 h 30 min", "14.0 days")."""
    return f"{round(secs)} s" if round(secs / 60) < 1 else human_duration(secs / 3600)


def anomaly_message(
    metric: str, where: str, step: Step, family: Family, analyzer: str, why: str = WHY_WARN
) -> str:
    """The firing message: the level, how far from usual in the unit and in σ, since when,
    and why this severity."""
    if step.after == 0 and step.settled:
        return f"{metric}{where} settled at a new usual level: {format_value(metric, step.level)}"
    if step.after == 0:
        return f"{metric}{where} is back to usual: {format_value(metric, step.level)}"
    direction = "above" if step.deviation > 0 else "below"
    # A difference of percentages is in points ("25.0 points above its usual 4.0%").
    by = (
        f"{plain_value(abs(step.deviation))} points"
        if family.unit == "%"
        else format_value(metric, abs(step.deviation))
    )
    sigmas = f"{abs(step.sigmas):.1f}σ" if math.isfinite(step.sigmas) else "a flat series"
    # The level and the usual one at the digits that tell them apart, in their true order.
    level, usual = format_metric_apart(metric, (step.level, step.level - step.deviation))
    return (
        f"{metric}{where} has been {level} on average for "
        f"{human_secs(step.since_secs)}, {by} {direction} "
        f"its usual {usual} ({sigmas}, {analyzer}; {why})"
    )


class ZScoreAnalyzer(LearnsFromRecentSamples):
    name = "zscore"

    def __init__(
        self,
        metrics: Iterable[str] = DEFAULT_METRICS,
        window: int = 360,
        threshold: float = 3.0,
        min_samples: int = 30,
        cooldown_secs: float = 3600.0,
        resync_per_tick: int | None = None,
        *,
        families: Sequence[Family] = DEFAULT_FAMILIES,
        learning_secs: float = 3600.0,
        persist_secs: float = 300.0,
        season_days: int = SEASON_DAYS,
        tolerance_secs: float = 3600.0,
        policy: PersistentAnomaly | None = None,
        confirm_alpha: float = 0.1,
        confirm_threshold: float = 6.0,
        confirm_shift_threshold: float = 2.0,
    ) -> None:
        self.patterns = tuple(metrics)
        self.window = window
        # The second signal: EMA's shift detector (analyzers/ema.py), kept per series here.
        self.confirm_alpha = confirm_alpha
        self.confirm_threshold = confirm_threshold
        self.confirm_shift = confirm_shift_threshold
        self.threshold = threshold
        self.resync_per_tick = resync_per_tick
        self._resync_cursor = 0
        self.gate = policy or PersistentAnomaly(
            families, threshold, min_samples, learning_secs, persist_secs, cooldown_secs,
            season_days, tolerance_secs,
        )  # fmt: skip
        self.s = SeriesArrays(
            known=(bool, False),
            watched=(bool, False),
            n=(np.float64, 0.0),
            total=(np.float64, 0.0),
            squares=(np.float64, 0.0),
            lag=(np.int64, 0),  # this series' window in samples (0: not known yet)
            ew_mean=(np.float64, np.nan),  # the confirming signal's EW mean and variance
            ew_var=(np.float64, 0.0),
            ew_base=(np.float64, np.nan),  # ... frozen when a stretch starts
            ew_base_std=(np.float64, np.nan),
        )

    def learning(self, now: float) -> int:
        """Series in their learning time, anomaly_learning_secs (--once and the heartbeat
        show it; season's longer wait is not, see docs/schemas/heartbeat.schema.json)."""
        return self.learning_count(now)

    def observe(self, batch: Batch, history: History) -> list[Alert]:
        s = self.s
        ids, x = self.watched_samples(batch, history)
        if ids.size == 0:
            return []
        self._size_windows(ids, batch.timestamp)
        n, total, squares = s.n[ids], s.total[ids], s.squares[ids]
        # The verdict, against the window before this sample.
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = total / n
            std = np.sqrt(np.maximum(squares / n - mean * mean, 0.0))
        before = self.gate.s.run_n[ids] == 0
        steps = self.gate.step(ids, x, n, mean, std, batch.timestamp, history)
        self._second_signal(ids, x, before & (self.gate.s.run_n[ids] > 0))
        # Then slide the window: add this sample, drop the one `window` samples back.
        lag = s.lag[ids]
        if (lag == lag[0]).all():  # one interval per batch, as a collector writes it
            old = history.value_ago(ids, int(lag[0]) or self.window)
        else:  # (not np.unique: it loads numpy.ma, which the daemon does not need)
            old = np.full(ids.shape, np.nan)
            for each in set(lag.tolist()):
                same = lag == each
                old[same] = history.value_ago(ids[same], int(each) or self.window)
        # Add the value as the ring stores it (float32), so what leaves later is exactly what came in.
        x = x.astype(np.float32).astype(np.float64)
        old_in = np.isfinite(old)
        s.n[ids] = n + 1 - old_in
        s.total[ids] = total + x - np.where(old_in, old, 0.0)
        s.squares[ids] = squares + x * x - np.where(old_in, old * old, 0.0)
        alerts = [self._alert(int(ids[st.index]), st, batch.timestamp, history) for st in steps]
        self._resync(history)
        return alerts + self.raised_again(ids, batch.timestamp)

    def _second_signal(self, ids: IntArray, x: FloatArray, started: BoolArray) -> None:
        """EMA's shift detector, as analyzers/ema.py computes it (West's EW mean and variance,
        each update's residual clipped at `confirm_shift` EW σ or the family's floor), frozen
        where a stretch starts: what confirms a z-score anomaly (`_confirmed`)."""
        s = self.s
        mean, var = s.ew_mean[ids], s.ew_var[ids]
        first = np.isnan(mean)
        mean = np.where(first, x, mean)
        std = np.sqrt(var)
        s.ew_base[ids] = np.where(started, mean, s.ew_base[ids])
        s.ew_base_std[ids] = np.where(started, std, s.ew_base_std[ids])
        limit = np.maximum(self.confirm_shift * std, self.gate.family_floor(ids, mean))
        diff = np.where(first, 0.0, np.clip(x - mean, -limit, limit))
        incr = self.confirm_alpha * diff
        s.ew_mean[ids] = mean + incr
        s.ew_var[ids] = np.where(first, 0.0, (1 - self.confirm_alpha) * (var + diff * incr))

    def _confirmed(self, sid: int, step: Step) -> float | None:
        """EW σ by which the stretch's level is beyond the EMA baseline frozen at its start, if
        that is beyond `confirm_threshold` of them and `CONFIRM_FLOORS` family floors; else
        None.  EW σ is the short-term noise, so on a wandering series nearly every z-score
        anomaly is many of them away: the floors make the second signal say "abrupt *and*
        three times the change that matters", not merely "abrupt"."""
        s = self.s
        base, std = float(s.ew_base[sid]), float(s.ew_base_std[sid])
        if not (math.isfinite(base) and math.isfinite(std)):
            return None
        if self.gate.s.run_n[sid] < self.gate.MIN_SAMPLES_IN_STRETCH:
            return None  # a spike of one or two samples: a shift detector confirms shifts
        away = math.copysign(1.0, step.deviation) * (step.level - base)
        floor = float(self.gate.family_floor(np.array([sid]), np.array([base]))[0])
        if away <= max(self.confirm_threshold * std, CONFIRM_FLOORS * floor):
            return None
        return away / std if std > 0 else math.inf

    def _size_windows(self, ids: IntArray, now: float) -> None:
        """At a series' second sample, its window: `window` samples, at most
        `MAX_BASELINE_SECS` of them (never fewer than the samples a verdict needs)."""
        s = self.s
        previous = self.gate.s.last_seen[ids]
        new = (s.lag[ids] == 0) & np.isfinite(previous)
        if not new.any():
            return
        with np.errstate(divide="ignore", invalid="ignore"):
            fits = np.floor(MAX_BASELINE_SECS / np.maximum(now - previous[new], 1e-3))
        lag = np.clip(fits, self.gate.min_samples, self.window).astype(np.int64)
        s.lag[ids[new]] = lag
        self.gate.s.memory[ids[new]] = lag

    def _alert(self, sid: int, step: Step, now: float, history: History) -> Alert:
        key = history.key(sid)
        where = labels_text(key.labels)
        why: str | None = WHY_WARN if step.after else None
        if step.after:
            confirmed = self._confirmed(sid, step)
            if confirmed is not None:  # critical until it resolves
                step = dataclasses.replace(step, after=2)
                self.gate.s.state[sid] = 2
                why = WHY_CRITICAL.format(sigmas=confirmed)
        status, severity = transition(step.before, step.after)
        family = self.gate.family(key)
        message = anomaly_message(key.metric, where, step, family, self.name, why or WHY_WARN)
        return Alert(analyzer=self.name, metric=key.metric, labels=key.labels, status=status, severity=severity,
                     value=step.level, threshold=self.threshold, message=message, timestamp=now, series_id=sid,
                     context={"z": round(step.sigmas, 2) if math.isfinite(step.sigmas) else None,
                              "floor": family.floor, "unit": family.unit, "threshold_unit": "sigma",
                              "severity_reason": why, **self.gate.stretch_context(sid, step)})  # fmt: skip

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
                _, values = history.window(sid, last=int(s.lag[sid]) or self.window)
            except KeyError:
                continue
            s.n[sid], s.total[sid], s.squares[sid] = (
                values.size,
                values.sum(),
                (values * values).sum(),
            )

    def exact(self, sid: int, history: History) -> tuple[float, float, float]:
        """(n, sum, sum of squares) of the current window, from the ring buffer (for tests)."""
        _, values = history.window(sid, last=int(self.s.lag[sid]) or self.window)
        return float(values.size), float(values.sum()), float((values * values).sum())


def _build(settings: Any, watch_everything: bool) -> ZScoreAnalyzer:
    an = settings.analyzer
    return ZScoreAnalyzer(
        ("*",) if watch_everything else an.anomaly_metrics,
        an.zscore_window,
        an.zscore_threshold,
        policy=policy_from(settings, an.zscore_threshold),
        confirm_alpha=an.ema_alpha,
        confirm_threshold=an.ema_threshold,
        confirm_shift_threshold=an.ema_shift_threshold,
    )


PLUGIN = AnalyzerPlugin(
    name="zscore",
    order=20,
    build=_build,
    history=anomaly_history,
    confirm_after_restart_secs=lambda s: (
        s.analyzer.anomaly_learning_secs + s.analyzer.anomaly_persist_secs
    ),
)
