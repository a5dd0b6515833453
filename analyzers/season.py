"""Daily seasonality: a departure from what this series does at this time of day.

z-score's baseline spans at most 12 hours, so on a series with a strong daily
cycle (requests, traffic, demand) it cannot see a change that stays inside the
day's range: a peak that does not come, a night that stays busy.  This
analyzer compares each sample with the same time of day on earlier days:

* the *expectation* is the median, over the last `DAYS` days the history tier
  holds, of the tier's bucket means within ±`persist_secs` of this instant a
  whole number of days ago (the time scale at which the gate judges anyway;
  found by the tier's time axis, so a gap in the sampling cannot shift it).
  A verdict needs all `MIN_DAYS` (three): the median of three makes one
  anomalous earlier day no expectation (with one, yesterday's outage made
  today's ordinary afternoon news); with fewer the residual's statistics
  learn from the median of what there is, and nothing is judged, nor is a
  stretch under way ended;
* the *residual* r = x - expectation has an exponentially weighted mean (a
  day-over-day change of level, taken in over `TAU_SECS`) and variance, each
  update clipped at the band (as EMA's), and frozen during a stretch, so an
  anomaly does not widen its own band;
* it judges only series the daily model explains: the residual's variance
  (unclipped) below `EXPLAINED` times the variance of the series itself over
  the same samples (R² ≥ 1 - EXPLAINED), both over `TEST_SECS` (a week: a
  residual is smooth over hours, so a day holds few independent samples of
  it, and a week holds both cycles).  Elsewhere z-score is the better model,
  and differencing a series without a daily cycle only doubles its noise;
* what becomes an alert is PersistentAnomaly's lasting path (three samples
  and `anomaly_persist_secs`, beyond max(threshold σ of r, the family's floor
  of the expectation), in the family's direction), after a learning time of
  at least a day of residuals (`LEARNING_SECS`), warn only.  A stretch is
  judged against the current expectation (it moves with the time of day, and
  the stretch does not enter it), and one or two samples never fire here
  (spikes are z-score's);
* a stretch whose mean the same span of the day reached on one of the last
  `season_days` days the tier holds (a week, `SEASON_DAYS`; none with
  `anomaly_record_hours` below 24) is not news (last Saturday night, for a
  Saturday night): the seasonality check of z-score, like with like (a mean
  against a mean over the same span, ± `anomaly_season_tolerance_secs`);
* a departure held `SETTLE_SECS` (an hour) resolves as settled at a new level
  for this time of day, and the series is left to z-score and the
  thresholds until the median holds the new level (two days), instead of an
  alert held open, and repeated, for days.

What the tier holds decides how far back it looks: 1,440 one-minute buckets
at the agent's 10 s (one day: no verdict at the defaults; with
`storage.history_hours` = 72, three), 1,440 samples (5 days) at 5-minute
sampling.  Days are UTC: a daylight-saving change moves a local-time cycle
by an hour (not handled).

State: a few floats per series (SeriesArrays); a tick reads `DAYS` slices
of the history tier's time axis and the matching bucket means.
"""

from __future__ import annotations

import math
import time as _time
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from alerting.alert import Alert
from analyzers.base import (
    SEASON_DAYS,
    Batch,
    FloatArray,
    History,
    IntArray,
    PersistentAnomaly,
    SeriesArrays,
    Step,
    WatchedSeries,
    anomaly_history,
    policy_from,
    transition,
)
from analyzers.families import DEFAULT_FAMILIES, Family
from analyzers.registry import AnalyzerPlugin
from analyzers.threshold import format_value
from analyzers.zscore import DEFAULT_METRICS, WHY_WARN, human_secs

DAY = 86400.0
MIN_DAYS = 3  # a verdict needs a true median: one odd earlier day (an outage) is no expectation
DAYS = 3  # earlier days whose median is the expectation (as many as the tier holds)
TAU_SECS = DAY  # memory of the residual's EW mean and variance (its scale)
TEST_SECS = 7 * DAY  # memory of the explained-variance test: a week, both cycles
LEARNING_SECS = 2 * DAY  # a day for the expectation, a day of residuals for their scale
# A departure held this long is a new level for now: resolved as settled, and season looks
# at the series again once its median of MIN_DAYS earlier days holds the level (z-score and
# the thresholds watch what stays meanwhile), instead of an alert held open, and repeated,
# until the level has been there for days.
SETTLE_SECS = 3600.0
EXPLAINED = 0.5  # the daily model must halve the variance (at least twice as good)


class SeasonalGate(PersistentAnomaly):
    """PersistentAnomaly without its window-record veto (the window is not what this
    path compares with) and without a short path (one or two samples: spikes are
    z-score's business).  Its seasonality veto stays, at the expectation's span
    and over up to `season_days` earlier days: a level reached at this time of
    day on any day the tier holds (last Saturday's, for a Saturday) is not news."""

    def unprecedented(
        self, history: History, sid: int, level: float, n: int, slack: float = 0.0
    ) -> bool:
        return n >= self.MIN_SAMPLES_IN_STRETCH

    def seen_before(self, history: History, sid: int, now: float, level: float, side: int) -> bool:
        """Whether, on one of the last `season_days` days the history tier holds, the same
        span of the day as the stretch (its start to now, ± `tolerance`) had a mean at
        `level` or beyond, less half the band: like with like, a mean against a mean."""
        try:
            times, means = history.history_window(sid)
        except KeyError:
            return False
        start = float(self.s.run_start[sid])
        if times.size == 0 or not math.isfinite(start):
            return False
        slack = float(self.s.base_band[sid]) / 2
        for day in range(1, self.season_days + 1):
            ago = day * DAY
            near = (times >= start - ago - self.tolerance) & (times <= now - ago + self.tolerance)
            if not near.any():
                continue
            mean = float(means[near].mean())
            if side * mean >= side * level - slack:
                return True
        return False


class SeasonAnalyzer(WatchedSeries):
    name = "season"

    def __init__(
        self,
        metrics: Iterable[str] = DEFAULT_METRICS,
        threshold: float = 3.0,
        min_samples: int = 30,
        cooldown_secs: float = 3600.0,
        *,
        families: Sequence[Family] = DEFAULT_FAMILIES,
        learning_secs: float = DAY,
        persist_secs: float = 300.0,
        policy: PersistentAnomaly | None = None,
    ) -> None:
        self.patterns = tuple(metrics)
        self.threshold = threshold
        if policy is not None:
            families, threshold = policy.families, policy.threshold
            min_samples, cooldown_secs = policy.min_samples, policy.cooldown
            persist_secs = policy.persist
            learning_secs = max(policy.learning, learning_secs)
        self.half_span = persist_secs
        season_days, tolerance_secs = SEASON_DAYS, persist_secs
        if policy is not None:
            season_days, tolerance_secs = policy.season_days, policy.tolerance
        self.gate = SeasonalGate(
            families, threshold, min_samples, max(learning_secs, LEARNING_SECS), persist_secs,
            cooldown_secs, season_days, tolerance_secs,
        )  # fmt: skip
        self.s = SeriesArrays(
            known=(bool, False),
            watched=(bool, False),
            n=(np.float64, 0.0),  # residuals seen
            r_mean=(np.float64, 0.0),
            r_var=(np.float64, 0.0),  # clipped: the scale
            r_raw=(np.float64, 0.0),  # unclipped: the explained-variance test
            x_mean=(np.float64, 0.0),
            x_var=(np.float64, 0.0),
            last=(np.float64, np.nan),
            fired_at=(np.float64, np.nan),  # when its alert fired (for SETTLE_SECS)
        )

    def expectation(
        self, ids: IntArray, now: float, history: History
    ) -> tuple[FloatArray, FloatArray]:
        """The median over the earlier days kept of the bucket means around this time of day:
        as soon as there is one (what the residual's statistics learn from), and where all
        `MIN_DAYS` are kept (what a verdict is against; NaN before)."""
        days = np.full((DAYS, ids.size), np.nan)
        for d in range(DAYS):
            at = now - (d + 1) * DAY
            days[d] = history.history_between(ids, at - self.half_span, at + self.half_span)
        have = np.count_nonzero(~np.isnan(days), axis=0)
        days.sort(axis=0)  # NaN last
        lo = np.maximum(have - 1, 0) // 2
        hi = have // 2
        cols = np.arange(ids.size)
        mid: FloatArray = np.where(
            have > 0, (days[lo, cols] + days[np.minimum(hi, DAYS - 1), cols]) / 2, np.nan
        )
        mid = np.where(have % 2 == 1, days[lo, cols], mid)
        return mid, np.where(have >= MIN_DAYS, mid, np.nan)

    def observe(self, batch: Batch, history: History) -> list[Alert]:
        now = batch.timestamp
        ids, x = self.watched_samples(batch, history)
        if ids.size == 0:
            return []
        learned, expected = self.expectation(ids, now, history)
        # No verdict, and no change to one under way, without an expectation (a gap in the
        # history a day back would otherwise end a stretch at once, against NaN).
        have = np.isfinite(expected)
        steps = self._judge(ids[have], x[have], expected[have], now, history)
        alerts = [self._alert(sid, step, now, history) for sid, step in steps]
        self._learn(ids, x, learned, now)  # after the verdict: a stretch's start stays out
        return alerts

    def _judge(
        self, ids: IntArray, x: FloatArray, expected: FloatArray, now: float, history: History
    ) -> list[tuple[int, Step]]:
        s = self.s
        if ids.size == 0:
            return []
        n = s.n[ids]
        with np.errstate(invalid="ignore"):
            r_mean, r_var = s.r_mean[ids], s.r_var[ids]
            mean = expected + r_mean
            explained = (n > 0) & (s.r_raw[ids] < EXPLAINED * s.x_var[ids])
            std = np.where(explained, np.sqrt(r_var), np.nan)
        g = self.gate.s
        running = g.run_n[ids] > 0
        # A stretch is judged against the expectation now, not the one at its start: the
        # time of day moves it, and the stretch's own samples never enter it.
        g.base_mean[ids] = np.where(running, mean, g.base_mean[ids])
        steps = self.gate.step(ids, x, n, mean, std, now, history)
        for step in steps:
            s.fired_at[ids[step.index]] = now if step.after else np.nan
        held = (g.state[ids] > 0) & (now - s.fired_at[ids] >= SETTLE_SECS)
        for i in np.flatnonzero(held).tolist():
            sid = int(ids[i])
            steps.append(Step(i, int(g.state[sid]), 0, float(x[i] - mean[i]), 0.0, 0.0,
                              float(x[i]), settled=True))  # fmt: skip
            self.gate.end(sid, now + (MIN_DAYS - 1) * DAY)
            s.fired_at[sid] = np.nan
        return [(int(ids[st.index]), st) for st in steps]

    def _learn(self, ids: IntArray, x: FloatArray, expected: FloatArray, now: float) -> None:
        """EW mean and variance of the residual (clipped at the band, frozen in a stretch)
        and of the series itself, over the samples that have an expectation."""
        s = self.s
        quiet = (self.gate.s.run_n[ids] == 0) & (self.gate.s.state[ids] == 0)
        use = np.isfinite(expected) & quiet
        if not use.any():
            s.last[ids] = now
            return
        ids, x, expected = ids[use], x[use], expected[use]
        n = s.n[ids] + 1
        with np.errstate(invalid="ignore"):
            gap = np.where(np.isfinite(s.last[ids]), now - s.last[ids], 0.0)
            alpha = np.maximum(-np.expm1(-np.maximum(gap, 0.0) / TAU_SECS), 1.0 / n)
            beta = np.maximum(-np.expm1(-np.maximum(gap, 0.0) / TEST_SECS), 1.0 / n)
            r = x - expected
            r_mean, r_var = s.r_mean[ids], s.r_var[ids]
            limit = np.maximum(
                self.threshold * np.sqrt(r_var), self.gate.family_floor(ids, expected)
            )
            diff = r - r_mean
            diff = np.where(n > self.gate.min_samples, np.clip(diff, -limit, limit), diff)
            incr = alpha * diff
            s.r_mean[ids] = r_mean + incr
            s.r_var[ids] = (1 - alpha) * (r_var + diff * incr)
            # The test compares like with like: neither variance clipped.
            rd = r - r_mean
            s.r_raw[ids] = (1 - beta) * (s.r_raw[ids] + rd * beta * rd)
            xd = x - s.x_mean[ids]
            xi = beta * xd
            s.x_mean[ids] = s.x_mean[ids] + xi
            s.x_var[ids] = (1 - beta) * (s.x_var[ids] + xd * xi)
        s.n[ids] = n
        s.last[ids] = now

    def _alert(self, sid: int, step: Step, now: float, history: History) -> Alert:
        key = history.key(sid)
        where = "".join(f" {k}={v}" for k, v in key.labels)
        status, severity = transition(step.before, step.after)
        family = self.gate.family(key)
        usual = step.level - step.deviation
        clock = _time.strftime("%H:%M", _time.gmtime(now))
        if step.after:
            sigmas = f"{abs(step.sigmas):.1f}σ" if math.isfinite(step.sigmas) else "a flat residual"
            message = (
                f"{key.metric}{where} is {format_value(key.metric, step.level)} at {clock} UTC "
                f"(on average for {human_secs(step.since_secs)}), usually "
                f"{format_value(key.metric, usual)} at this time of day ({sigmas} of its daily "
                f"residual; {self.name}; {WHY_WARN})"
            )
        elif step.settled:
            message = (
                f"{key.metric}{where} settled at a new level for this time of day: "
                f"{format_value(key.metric, step.level)} for {human_secs(SETTLE_SECS)} "
                f"(season looks again in {human_secs((MIN_DAYS - 1) * DAY)})"
            )
        else:
            message = (
                f"{key.metric}{where} is back to its usual level for this time of day: "
                f"{format_value(key.metric, step.level)}"
            )
        return Alert(analyzer=self.name, metric=key.metric, labels=key.labels, status=status, severity=severity,
                     value=step.level, threshold=self.threshold, message=message, timestamp=now, series_id=sid,
                     context={"z": round(step.sigmas, 2) if math.isfinite(step.sigmas) else None,
                              "usual": usual, "floor": family.floor, "unit": family.unit,
                              "severity_reason": WHY_WARN})  # fmt: skip


def _build(settings: Any, watch_everything: bool) -> SeasonAnalyzer:
    an = settings.analyzer
    return SeasonAnalyzer(
        ("*",) if watch_everything else an.anomaly_metrics,
        an.zscore_threshold,
        policy=policy_from(settings, an.zscore_threshold),
    )


PLUGIN = AnalyzerPlugin(name="season", order=22, build=_build, history=anomaly_history)
