"""Seasonality: a departure from what this series does at this time of day (or week).

z-score's baseline spans at most 12 hours, so on a series with a strong daily
cycle (requests, traffic, demand) it cannot see a change that stays inside the
day's range: a peak that does not come, a night that stays busy.  This
analyzer compares each sample with the same time of the cycle in earlier cycles:

* the cycles are the two that people drive, a day and a week (`PERIODS`).  A
  series whose weekends differ from its weekdays (taxi rides, office
  temperature, business traffic) is poorly described by the day before: a
  Monday against the median of Sunday, Saturday and Friday is an ordinary
  Monday "anomaly", and the noise of that model is the weekend's difference,
  which hides a holiday.  Each cycle is a model with its own statistics (below);
  a series is judged by the one that explains it better (the smaller residual
  variance relative to the series' among those that found an earlier cycle
  this tick), chosen again only between stretches.
  The weekly model needs three weeks in the history tier: at the agent's 10 s
  that is `storage.history_hours` = 504; it is there by default on series
  sampled every 30 minutes or less often (1,500 buckets: 31 days);
* the *expectation* is the median, over the last `DAYS` cycles the history
  tier holds, of the tier's bucket means within ±`persist_secs` of this
  instant a whole number of cycles ago (the time scale at which the gate
  judges anyway; found by the tier's time axis, so a gap in the sampling
  cannot shift it).  A verdict needs all `MIN_DAYS` (three): the median of
  three makes one anomalous earlier cycle no expectation (with one,
  yesterday's outage made today's ordinary afternoon news); with fewer the
  residual's statistics learn from the median of what there is, and nothing
  is judged, nor is a stretch under way ended;
* the *residual* r = x - expectation has an exponentially weighted mean (a
  day-over-day change of level, taken in over `TAU_SECS`) and variance, each
  update clipped at the band (as EMA's), and frozen during a stretch, so an
  anomaly does not widen its own band;
* it judges only series a model explains: the residual's variance
  (unclipped) below `EXPLAINED` times the variance of the series itself over
  the same samples (R² ≥ 1 - EXPLAINED), both over `TEST_SECS` (a week: a
  residual is smooth over hours, so a day holds few independent samples of
  it, and a week holds both cycles).  Elsewhere z-score is the better model,
  and differencing a series without a cycle only doubles its noise;
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
  against a mean over the same span, ± `anomaly_season_tolerance_secs`); nor
  is one whose departure from its expectation a span as long, placed within
  ± the tolerance, departed as far from that day's own expectation (a weekly
  job judged by the daily model: its hours a week back departed as far from
  the three days before them, while the level there, averaged with the quiet
  hours of the widened span, falls short).
  Under the weekly model the days compared are the weeks it compares with
  (a Thursday's holiday against last Sunday's quiet is no like);
* a departure held `SETTLE_SECS` (an hour) resolves as settled at a new level
  for this time of the cycle, and the series is left to z-score and the
  thresholds until the median of every model that has one holds the new level
  (two cycles of the longest: the other model would report the same change
  again), instead of an alert held open, and repeated, for days.

What the tier holds decides how far back it looks: 1,500 one-minute buckets
at the agent's 10 s (a day and an hour: no verdict at the defaults; with
`storage.history_hours` = 72, three), 1,500 samples (5.2 days) at 5-minute
sampling.  Days are UTC: a daylight-saving change moves a local-time cycle
by an hour (not handled).

State: a few floats per series and model (SeriesArrays); a tick reads `DAYS`
slices of the history tier's time axis per model and the matching bucket
means, none for a model whose cycles the tier cannot hold (`history_reach`:
at the agent's defaults, neither).
"""

from __future__ import annotations

import math
import time as _time
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from alerting.alert import Alert
from alerting.format import format_metric_apart, labels_text
from analyzers.base import (
    SEASON_DAYS,
    Batch,
    BoolArray,
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
WEEK = 7 * DAY
PERIODS = (DAY, WEEK)  # the cycles people drive; a series is judged by the one that fits it
CYCLE_NAMES = {DAY: "day", WEEK: "week"}
TIME_OF = {DAY: "day", WEEK: "the week"}  # "at this time of ..."
MIN_DAYS = 3  # a verdict needs a true median: one odd earlier cycle (an outage) is no expectation
DAYS = 3  # earlier cycles whose median is the expectation (as many as the tier holds)
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
    z-score's business).  Its seasonality veto stays, at the expectation's span:
    under the daily model over up to `season_days` earlier days (last Saturday's
    level, for a Saturday, is not news), under the weekly one over the weeks it
    compares with.  `cycle.period` is the cycle each series is judged by."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.cycle = SeriesArrays(period=(np.float64, DAY))
        # The expectation's half span and the history tier's bucket, as SeasonAnalyzer
        # forms them (it sets both): the departure veto forms expectations the same way.
        self.half_span, self.bucket = 0.0, 60.0

    def forget(self, series_ids: Iterable[int]) -> None:
        ids = list(series_ids)
        super().forget(ids)
        self.cycle.reset(ids)

    def unprecedented(
        self, history: History, sid: int, level: float, n: int, slack: float = 0.0
    ) -> bool:
        return n >= self.MIN_SAMPLES_IN_STRETCH

    def recurs(self, history: History, sid: int, now: float, level: float, side: int) -> bool:
        return False  # a job at a steady period is in the expectation's cycle, or not season's

    def veto_offsets(self, period: float) -> list[float]:
        """How far back (seconds) the seasonality veto compares, under a model's cycle."""
        if self.season_days <= 0:
            return []
        if period == DAY:
            return [day * DAY for day in range(1, self.season_days + 1)]
        return [k * period for k in range(1, DAYS + 1)]

    def seen_before(self, history: History, sid: int, now: float, level: float, side: int) -> bool:
        """Whether, at one of `veto_offsets` back that the history tier holds, the stretch
        was seen before, like with like, less half the band:

        * its level: the same span of the cycle (its start to now, ± `tolerance`) had a
          mean at `level` or beyond (a mean against a mean);
        * or its departure: a span as long, placed anywhere within ± `tolerance`,
          departed from that cycle's own expectation as far as the stretch departs from
          today's.  With the cycle taken out, moving the span finds no neighbouring level
          of the cycle itself, so a job of minutes is compared with the minutes it ran,
          not with the quiet hour around them.
        """
        try:
            times, means = history.history_window(sid)
        except KeyError:
            return False
        start = float(self.s.run_start[sid])
        if times.size == 0 or not math.isfinite(start):
            return False
        order = np.argsort(times, kind="stable")  # rising, even after a clock stepped back
        times, means = times[order], means[order]
        period = float(self.cycle.period[sid])
        offsets = self.veto_offsets(period)
        if not offsets:
            return False
        # Departures only where a span can fall: today's stretch and, on each earlier
        # cycle, its span widened by the tolerance (the whole tier was about five times
        # the work, on each try of a vetoed stretch).
        wanted = times >= start
        for ago in offsets:
            wanted |= (times >= start - ago - self.tolerance) & (
                times <= now - ago + self.tolerance
            )
        departed = np.full(times.size, np.nan)
        departed[wanted] = departures(times, means, period, self.half_span, wanted)
        known = np.isfinite(departed)
        sums = np.concatenate(([0.0], np.cumsum(np.where(known, departed, 0.0))))
        counts = np.concatenate(([0], np.cumsum(known)))

        def span_means(lo: FloatArray, hi: FloatArray) -> FloatArray:
            i0 = np.searchsorted(times, lo, "left")
            i1 = np.searchsorted(times, hi, "right")
            n = counts[i1] - counts[i0]
            with np.errstate(invalid="ignore", divide="ignore"):
                return np.where(n > 0, (sums[i1] - sums[i0]) / np.maximum(n, 1), np.nan)

        today = span_means(np.array([start]), np.array([now]))[0]
        slack = float(self.s.base_band[sid]) / 2
        k = math.floor(self.tolerance / self.bucket)
        shifts = np.unique(np.concatenate(
            ([-self.tolerance, self.tolerance], self.bucket * np.arange(-k, k + 1))
        ))  # fmt: skip
        for ago in offsets:
            near = (times >= start - ago - self.tolerance) & (times <= now - ago + self.tolerance)
            if near.any() and side * float(means[near].mean()) >= side * level - slack:
                return True  # the level itself, at this time of the cycle
            if not math.isfinite(today):
                continue
            earlier = side * span_means(start - ago + shifts, now - ago + shifts)
            with np.errstate(invalid="ignore"):
                # As far, and itself beyond the band (a departure then, not noise that the
                # best of many placements lifts to within half a band of this one).
                if bool(np.any((earlier >= side * today - slack) & (earlier >= 2 * slack))):
                    return True  # the departure, at this time of the cycle
        return False


def median_of_cycles(days: FloatArray) -> tuple[FloatArray, IntArray]:
    """Per column, the median of the finite values of `days` (one row per earlier cycle;
    NaN where none) and how many there were."""
    have = np.count_nonzero(~np.isnan(days), axis=0)
    days = np.sort(days, axis=0)  # NaN last
    lo = np.maximum(have - 1, 0) // 2
    hi = have // 2
    cols = np.arange(days.shape[1])
    mid: FloatArray = np.where(
        have > 0, (days[lo, cols] + days[np.minimum(hi, days.shape[0] - 1), cols]) / 2, np.nan
    )
    mid = np.where(have % 2 == 1, days[lo, cols], mid)
    return mid, have


def departures(
    times: FloatArray, means: FloatArray, period: float, half_span: float, which: BoolArray
) -> FloatArray:
    """The departure of each bucket in `which` from its own expectation, as season forms
    it: the median over the `DAYS` cycles before it of the bucket means within ±
    `half_span` of the same instant, where all `MIN_DAYS` have one (NaN elsewhere: one
    odd earlier cycle is no expectation).  `times` rising."""
    sums = np.concatenate(([0.0], np.cumsum(means)))
    days = np.full((DAYS, int(np.count_nonzero(which))), np.nan)
    for d in range(DAYS):
        at = times[which] - (d + 1) * period
        i0 = np.searchsorted(times, at - half_span, "left")
        i1 = np.searchsorted(times, at + half_span, "right")
        n = i1 - i0
        with np.errstate(invalid="ignore", divide="ignore"):
            days[d] = np.where(n > 0, (sums[i1] - sums[i0]) / np.maximum(n, 1), np.nan)
    expected, have = median_of_cycles(days)
    out: FloatArray = np.where(have >= MIN_DAYS, means[which] - expected, np.nan)
    return out


def cycle_model() -> SeriesArrays:
    """One cycle's statistics per series: of its residual and of the series itself."""
    return SeriesArrays(
        n=(np.float64, 0.0),  # residuals seen
        r_mean=(np.float64, 0.0),
        r_var=(np.float64, 0.0),  # clipped: the scale
        r_raw=(np.float64, 0.0),  # unclipped: the explained-variance test
        x_mean=(np.float64, 0.0),
        x_var=(np.float64, 0.0),
        last=(np.float64, np.nan),
    )


class SeasonAnalyzer(WatchedSeries):
    name = "season"
    gate: SeasonalGate

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
        bucket_secs: float = 60.0,
        policy: PersistentAnomaly | None = None,
    ) -> None:
        self.patterns = tuple(metrics)
        self.threshold = threshold
        if policy is not None:
            families, threshold = policy.families, policy.threshold
            min_samples, cooldown_secs = policy.min_samples, policy.cooldown
            persist_secs = policy.persist
            learning_secs = max(policy.learning, learning_secs)
        # The expectation is the buckets within this of the instant a cycle back: the time
        # scale the gate judges at, and at least a bucket wide, so that one always starts in
        # it (`anomaly_persist_secs` = 0, or a collector's phase against the buckets).
        self.half_span = max(persist_secs, bucket_secs / 2)
        season_days, tolerance_secs = SEASON_DAYS, persist_secs
        if policy is not None:
            season_days, tolerance_secs = policy.season_days, policy.tolerance
        self.gate = SeasonalGate(
            families, threshold, min_samples, max(learning_secs, LEARNING_SECS), persist_secs,
            cooldown_secs, season_days, tolerance_secs,
        )  # fmt: skip
        self.gate.half_span, self.gate.bucket = self.half_span, bucket_secs
        self.s = SeriesArrays(
            known=(bool, False),
            watched=(bool, False),
            fired_at=(np.float64, np.nan),  # when its alert fired (for SETTLE_SECS)
        )
        self.models = tuple(cycle_model() for _ in PERIODS)

    def forget(self, series_ids: Iterable[int]) -> None:
        ids = list(series_ids)
        super().forget(ids)
        for model in self.models:
            model.reset(ids)

    def expectation(
        self, ids: IntArray, now: float, history: History, reach: FloatArray, period: float
    ) -> tuple[FloatArray, FloatArray]:
        """The median over the earlier cycles kept of the bucket means around this time of
        the cycle: as soon as there is one (what the residual's statistics learn from),
        and where all `MIN_DAYS` are kept (what a verdict is against; NaN before).
        `reach`: each series' `History.history_reach`."""
        days = np.full((DAYS, ids.size), np.nan)
        # A series whose tier can never hold the cycles a verdict needs (a day of one-minute
        # buckets, at the agent's defaults) is not looked up at all: it would only learn.
        reaches = reach >= MIN_DAYS * period - self.half_span
        if reaches.any():
            for d in range(DAYS):
                at = now - (d + 1) * period
                days[d] = history.history_between(ids, at - self.half_span, at + self.half_span)
            days[:, ~reaches] = np.nan
        mid, have = median_of_cycles(days)
        return mid, np.where(have >= MIN_DAYS, mid, np.nan)

    def observe(self, batch: Batch, history: History) -> list[Alert]:
        now = batch.timestamp
        ids, x = self.watched_samples(batch, history)
        if ids.size == 0:
            return []
        self.gate.cycle.ensure(ids)
        fits = []
        reach = history.history_reach(ids)  # once per tick, for every model
        for period, model in zip(PERIODS, self.models, strict=True):
            learned, expected = self.expectation(ids, now, history, reach, period)
            if np.isfinite(learned).any():
                model.ensure(ids)  # a model's arrays exist once the tier reaches a cycle back
            fits.append((learned, expected))
        choice = self._choose(ids, fits)
        # A settled level waits until the median of every model that has one holds it: every
        # model that found an earlier cycle, not only those with all three this tick (a
        # weekly model two weeks in would otherwise report the same change again).
        longest = np.full(ids.size, PERIODS[0])
        for period, (learned, _) in zip(PERIODS, fits, strict=True):
            longest = np.where(np.isfinite(learned), np.maximum(longest, period), longest)
        steps: list[tuple[int, Step]] = []
        for k, (_, expected) in enumerate(fits):
            # No verdict, and no change to one under way, without an expectation (a gap in
            # the history a cycle back would otherwise end a stretch at once, against NaN).
            mine = (choice == k) & np.isfinite(expected)
            steps += self._judge(k, ids[mine], x[mine], expected[mine], longest[mine], now, history)
        alerts = [self._alert(sid, step, now, history) for sid, step in steps]
        for k, (learned, _) in enumerate(fits):  # after the verdict: a stretch's start stays out
            self._learn(self.models[k], ids, x, learned, now)
        return alerts

    def _choose(self, ids: IntArray, fits: list[tuple[FloatArray, FloatArray]]) -> IntArray:
        """Per series, the model it is judged by (an index into PERIODS; -1: none has an
        expectation): the one whose residual variance is the smaller part of the series'
        own, among those that found an earlier cycle this tick (a model the tier no longer
        reaches keeps a fit that says nothing now; one missing the full three cycles this
        tick, a gap, still ranks), kept while a stretch or an alert is under way (a stretch
        is judged by the model that saw it start).  A series no model explains still goes
        to one that has an expectation: its σ is NaN there, so it starts nothing, and what
        is under way can end."""
        ratio = np.full((len(PERIODS), ids.size), np.inf)
        have = np.zeros((len(PERIODS), ids.size), dtype=bool)
        for k, (model, (learned, expected)) in enumerate(zip(self.models, fits, strict=True)):
            have[k] = np.isfinite(expected)
            known = (ids < model.size) & np.isfinite(
                learned
            )  # a model's arrays exist once its tier reaches a cycle
            mine = ids[known]
            with np.errstate(invalid="ignore", divide="ignore"):
                part = model.r_raw[mine] / model.x_var[mine]
            ratio[k, known] = np.where((model.n[mine] > 0) & np.isfinite(part), part, np.inf)
        best = np.where(
            np.isfinite(ratio.min(axis=0)),
            np.argmin(ratio, axis=0),
            np.where(have.any(axis=0), np.argmax(have, axis=0), -1),
        )
        g, cycle = self.gate.s, self.gate.cycle
        busy = (g.run_n[ids] > 0) | (g.state[ids] > 0)
        kept = np.searchsorted(np.array(PERIODS), cycle.period[ids])
        choice: IntArray = np.where(busy, kept, best).astype(np.int64)
        chosen = ~busy & (best >= 0)
        cycle.period[ids[chosen]] = np.array(PERIODS)[best[chosen]]
        return choice

    def _judge(
        self, k: int, ids: IntArray, x: FloatArray, expected: FloatArray, longest: FloatArray,
        now: float, history: History,
    ) -> list[tuple[int, Step]]:  # fmt: skip
        s, model = self.s, self.models[k]
        if ids.size == 0:
            return []
        n = model.n[ids]
        with np.errstate(invalid="ignore"):
            r_mean, r_var = model.r_mean[ids], model.r_var[ids]
            mean = expected + r_mean
            explained = (n > 0) & (model.r_raw[ids] < EXPLAINED * model.x_var[ids])
            std = np.where(explained, np.sqrt(r_var), np.nan)
        g = self.gate.s
        running = g.run_n[ids] > 0
        # A stretch is judged against the expectation now, not the one at its start: the
        # time of the cycle moves it, and the stretch's own samples never enter it.
        g.base_mean[ids] = np.where(running, mean, g.base_mean[ids])
        steps = self.gate.step(ids, x, n, mean, std, now, history)
        for step in steps:
            s.fired_at[ids[step.index]] = now if step.after else np.nan
        held = (g.state[ids] > 0) & (now - s.fired_at[ids] >= SETTLE_SECS)
        for i in np.flatnonzero(held).tolist():
            sid = int(ids[i])
            steps.append(Step(i, int(g.state[sid]), 0, float(x[i] - mean[i]), 0.0, 0.0,
                              float(x[i]), settled=True))  # fmt: skip
            self.gate.end(sid, now + (MIN_DAYS - 1) * float(longest[i]))
            s.fired_at[sid] = np.nan
        return [(int(ids[st.index]), st) for st in steps]

    def _learn(
        self, model: SeriesArrays, ids: IntArray, x: FloatArray, expected: FloatArray, now: float
    ) -> None:
        """EW mean and variance of a model's residual (clipped at the band, frozen in a
        stretch) and of the series itself, over the samples that have its expectation."""
        quiet = (self.gate.s.run_n[ids] == 0) & (self.gate.s.state[ids] == 0)
        use = np.isfinite(expected) & quiet
        if not use.any():
            return
        ids, x, expected = ids[use], x[use], expected[use]
        n = model.n[ids] + 1
        with np.errstate(invalid="ignore"):
            gap = np.where(np.isfinite(model.last[ids]), now - model.last[ids], 0.0)
            alpha = np.maximum(-np.expm1(-np.maximum(gap, 0.0) / TAU_SECS), 1.0 / n)
            beta = np.maximum(-np.expm1(-np.maximum(gap, 0.0) / TEST_SECS), 1.0 / n)
            r = x - expected
            r_mean, r_var = model.r_mean[ids], model.r_var[ids]
            limit = np.maximum(
                self.threshold * np.sqrt(r_var), self.gate.family_floor(ids, expected)
            )
            diff = r - r_mean
            diff = np.where(n > self.gate.min_samples, np.clip(diff, -limit, limit), diff)
            incr = alpha * diff
            model.r_mean[ids] = r_mean + incr
            model.r_var[ids] = (1 - alpha) * (r_var + diff * incr)
            # The test compares like with like: neither variance clipped.
            rd = r - r_mean
            model.r_raw[ids] = (1 - beta) * (model.r_raw[ids] + rd * beta * rd)
            xd = x - model.x_mean[ids]
            xi = beta * xd
            model.x_mean[ids] = model.x_mean[ids] + xi
            model.x_var[ids] = (1 - beta) * (model.x_var[ids] + xd * xi)
        model.n[ids] = n
        model.last[ids] = now

    def _alert(self, sid: int, step: Step, now: float, history: History) -> Alert:
        key = history.key(sid)
        where = labels_text(key.labels)
        status, severity = transition(step.before, step.after)
        family = self.gate.family(key)
        usual = step.level - step.deviation
        period = float(self.gate.cycle.period[sid])
        cycle = CYCLE_NAMES[period]
        clock = _time.strftime("%H:%M" if period == DAY else "%a %H:%M", _time.gmtime(now))
        if step.after:
            sigmas = f"{abs(step.sigmas):.1f}σ" if math.isfinite(step.sigmas) else "a flat residual"
            level, usually = format_metric_apart(key.metric, (step.level, usual))
            message = (
                f"{key.metric}{where} is {level} at {clock} UTC "
                f"(on average for {human_secs(step.since_secs)}), usually "
                f"{usually} at this time of {TIME_OF[period]} ({sigmas} of its "
                f"{'daily' if period == DAY else 'weekly'} residual; {self.name}; {WHY_WARN})"
            )
        elif step.settled:
            message = (
                f"{key.metric}{where} settled at a new level for this time of {TIME_OF[period]}: "
                f"{format_value(key.metric, step.level)} for {human_secs(SETTLE_SECS)} "
                f"(season looks again in {human_secs(self.gate.s.quiet_until[sid] - now)})"
            )
        else:
            message = (
                f"{key.metric}{where} is back to its usual level for this time of {TIME_OF[period]}: "
                f"{format_value(key.metric, step.level)}"
            )
        return Alert(analyzer=self.name, metric=key.metric, labels=key.labels, status=status, severity=severity,
                     value=step.level, threshold=self.threshold, message=message, timestamp=now, series_id=sid,
                     context={"z": round(step.sigmas, 2) if math.isfinite(step.sigmas) else None,
                              "usual": usual, "floor": family.floor, "unit": family.unit, "threshold_unit": "sigma",
                              "cycle": cycle, "severity_reason": WHY_WARN})  # fmt: skip


def _build(settings: Any, watch_everything: bool) -> SeasonAnalyzer:
    an = settings.analyzer
    return SeasonAnalyzer(
        ("*",) if watch_everything else an.anomaly_metrics,
        an.zscore_threshold,
        bucket_secs=settings.storage.history_resolution_secs,
        policy=policy_from(settings, an.zscore_threshold),
    )


# Season needs days of the history tier, which starts empty after a restart: what it had
# announced cannot be confirmed soon, and is resolved after a few collection intervals.
PLUGIN = AnalyzerPlugin(name="season", order=22, build=_build, history=anomaly_history)
