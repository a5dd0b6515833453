"""What every analyzer sees: series identities, batches of samples, and history.

Analyzers are pure numeric code.  They never read files or clocks: the runtime
hands them each batch as it is written, and a `History` (the store) to look
back into the ring buffers.  Their state is kept in numpy arrays indexed by
series id, so a tick is a few vectorised operations over the whole batch.
"""

from __future__ import annotations

import abc
import bisect
import dataclasses
import fnmatch
import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from alerting.alert import Alert, Severity, Status
from analyzers.families import DEFAULT_FAMILIES, Family

Labels = tuple[tuple[str, str], ...]
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
# How many earlier days the seasonality checks look at, as far as the history tier reaches:
# a week, the other cycle of what people drive (a job on weekdays is news on its first
# Monday, not every Monday).  The tier's length is analyzer.anomaly_record_hours' business.
SEASON_DAYS = 7
DAY = 86_400.0


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

    def history_time_ago(self, ids: IntArray, lag: int) -> FloatArray: ...

    def window(self, series_id: int, last: int | None = None) -> tuple[FloatArray, FloatArray]: ...

    def history_window(
        self, series_id: int, last: int | None = None
    ) -> tuple[FloatArray, FloatArray]: ...

    def latest_of(self, key: SeriesKey) -> float | None: ...

    def find(self, key: SeriesKey) -> int | None: ...

    def history_between(self, ids: IntArray, start: float, end: float) -> FloatArray: ...

    def history_reach(self, ids: IntArray) -> FloatArray: ...


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


@runtime_checkable
class Resumable(Protocol):
    """An analyzer that takes its state back after a restart (the levels of threshold, trend
    and leak): the others learn again, and the router resolves what they do not raise
    again in time."""

    def resume(self, alerts: Iterable[Alert]) -> None:
        """Its alerts that were firing when the agent stopped (the router's open episodes)."""
        ...

    def end_resume(self) -> list[SeriesKey]:
        """The look for unreported series is over; returns the series it took back and can
        no longer judge (the router resolves their alerts)."""
        ...


@dataclass(frozen=True)
class Clocks:
    """Of a series, what an analyzer's kept samples do not give back (None: nothing to
    keep): until when it fires nothing new on it (its cooldown after an alert ended: going
    through the samples is learning time, which sets none), since when it has seen it (its
    learning time counts from then: going through a ring shorter than that time, a
    collector faster than 10 s, would start it again), and the range it has held since
    (what a unit-less series' floor is 5 % of: the ring alone may hold less of it)."""

    quiet_until: float | None
    first_seen: float | None
    low: float | None
    high: float | None


@runtime_checkable
class Warmable(Protocol):
    """An analyzer whose state is learnt from the raw tier's last samples (z-score, EMA):
    at start-up it goes through the samples kept at the last stop or periodic save
    (agent/tier_file.py, `take_recent`), as it did in that life, instead of learning
    for `anomaly_learning_secs` again."""

    name: str

    def watches(self, key: SeriesKey) -> bool:
        """Whether it judges this series (whose samples are worth keeping for it)."""
        ...

    def warm_up(self, batch: Batch, history: History) -> None:
        """One instant of the last life, in order (its raw tier written up to it)."""
        ...

    def end_warm_up(self) -> None:
        """The kept samples are through: from here on, its verdicts count."""
        ...

    def took_back(self, alert: Alert) -> bool:
        """Whether it took back this alert, announced before the restart, with the stretch
        it judged (`resume`): it says itself whether it still fires (raised again at the
        series' first sample, or resolved), so the router waits for that, not for a
        learning time."""
        ...

    def clocks(self, now: float) -> dict[int, Clocks]:
        """What going through its samples does not give back, per series (`Clocks`): kept
        with the samples."""
        ...

    def keep_clocks(self, series_id: int, clocks: Clocks, now: float) -> None:
        """The last life's `clocks` of a series, after `end_warm_up` (for a series it went
        through)."""
        ...

    def forget(self, series_ids: Iterable[int]) -> None: ...


def transition(before: int, after: int) -> tuple[Status, Severity]:
    """Level states (0 quiet, 1 warn, 2 critical) before and after -> the event's status and severity."""
    if after == 0:
        return Status.RESOLVED, Severity.WARN if before == 1 else Severity.CRITICAL
    status = Status.FIRING if before == 0 else Status.ESCALATED
    return status, Severity.WARN if after == 1 else Severity.CRITICAL


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


def family_for(key: SeriesKey, families: Sequence[Family] = DEFAULT_FAMILIES) -> Family:
    """The first family whose pattern matches the metric and whose labels the series has."""
    labels = dict(key.labels)
    for family in families:
        if fnmatch.fnmatchcase(key.metric, family.pattern) and all(
            labels.get(k) == v for k, v in family.labels
        ):
            return family
    return DEFAULT_FAMILIES[-1]


@dataclass(frozen=True)
class Step:
    """One series' verdict change in a tick: index into the tick's arrays, states, and why."""

    index: int
    before: int
    after: int
    deviation: float  # from the baseline, in the metric's unit
    sigmas: float
    since_secs: float  # how long the anomalous stretch has lasted
    level: float  # mean of the stretch (what was compared with the same time on earlier days)
    settled: bool = False  # resolved with the value still beyond the old band: a new level


class PersistentAnomaly:
    """What makes a statistical deviation an alert, shared by z-score, EMA and season.

    Given each analyzer's baseline (mean, standard deviation) per sample:

    * the *band* is the larger of `threshold` σ and the family's noise floor in
      the metric's unit (analyzers/families.py), in the family's direction only;
      a *relative* floor (a unit-less series, the `*` family) is a fraction of
      the series' own scale: the larger of its level and the range it has
      covered since the analyzer first saw it (levels held for two samples in
      a row: a single corrupt reading is no scale).  The level alone is no scale for
      a series that idles near zero and bursts to 100 (5 % of 0.1 makes a
      0.1 -> 0.5 wiggle "11σ"); the range is what a person reading its graph
      sees, and what detectors given a file's min and max (NAB's) quantise by;
    * a *stretch* starts with a sample beyond the band and continues while every
      sample stays beyond it, judged against the baseline frozen at its start;
    * it fires (warn: a statistical anomaly alone is never more) once it has
      covered `persist_secs` and either (a) at least three samples or (b) its
      mean, the smoothed estimate of one or two samples, is beyond the *short
      band* (below), the series is past its learning time and the same level
      was not reached at this time of day on one of the `season_days` earlier
      days (seasonality, in the history tier at its own resolution, as far as
      the tier reaches, up to a week: a job that runs on weekdays is news once,
      not every time it comes back after a day off, where the tier holds a week;
      a stretch of hours, the rise of a daily wave, against the same span and
      what it is now, not one bucket around now); nor, for a lasting stretch,
      when it is the next run of a job back at a steady period shorter than a
      day, no longer and no further than its runs in the tier (`recurs`: a job
      every two hours);
    * it resolves once the sample is back within half the stretch's frozen band
      of the old baseline (the deviation ended) or of the current one (the
      baseline took the new level in: "settled"); then the series stays quiet
      for `cooldown_secs`.

    Time and samples.  A sample is the mean over the interval before it (a
    rate from counter deltas, a CloudWatch 5-minute average), so a stretch of
    n samples at interval Δ *covers* n·Δ.  Path (a) counts, conservatively,
    from its first sample: (n-1)·Δ must reach `persist_secs` (31 samples at
    10 s); path (b) counts covered time (one sample at 5 min).  The
    three samples are a separate, statistical requirement: one sample beyond
    3σ happens to Gaussian noise once in 740 samples (about 12 times a day at
    10 s), three in a row once in 4·10^8.  At 10 s the time rule is the one
    that binds (a 3-minute burst is the thresholds' business); at 5 min the
    sample rule does (three samples are 15 minutes).

    Path (b), for a stretch that has covered the persistence time in fewer than
    three samples (only possible when Δ ≥ persist_secs / 2, i.e. 150 s by
    default: never at the agent's 10 s): such a sample is already a mean over
    at least half the persistence time, so the samples' own averaging is
    the smoothing, and its mean is compared with a wider band so that noise
    fires no more often than through path (a):

    * in σ: Gaussian noise puts one sample beyond 5.85σ as often as three in a
      row beyond 3σ (Φ̄(5.85) ≈ Φ̄(3)³ ≈ 2.5·10^-9); the short band is
      `SHORT_SIGMAS` = 6 σ of the stretch mean (σ/√n), with σ the larger of
      the frozen baseline's σ and a *tail scale*: the 95th percentile of the
      series' |x - baseline mean| divided by its Gaussian value 1.96
      (`TAIL_QUANTILE`, `TAIL_Z`).  Both are σ for Gaussian noise; when the
      series' own 95th percentile lies further out, its deviations are heavier
      than Gaussian where there are enough of them to tell (a bursty series
      whose bursts are a few percent of its samples: tweets), and 6σ of the
      window's σ is not the 1-in-10^9 it claims, so the scale that describes
      the tail is used.  It is estimated in O(1) per series by stochastic
      approximation (the estimate moves up by τ·η in log when a deviation
      exceeds it, down by (1-τ)·η otherwise, so it settles where a fraction
      1-τ exceeds it), η chosen so that its memory, 1/(η(1-τ)) samples, is
      the baseline's window (`memory`); it only widens the short band, never
      narrows it;
    * in the unit: σ says nothing about a bursty series (an idle NIC's kB/s
      bursts are tens of σ), only the floor does; path (a) has every one of
      three samples beyond it, path (b) has one or two, so their mean must be
      beyond `SHORT_FLOORS` = 3 floors (at least the summed deviation path (a)
      needs, three samples one floor out, in a single sample);
    * against heavy tails: the Gaussian figure holds only if the series' own
      past agrees with it, so the stretch mean must also lie beyond every raw
      sample before it (the store's raw tier, at the same resolution): a
      spike the window has already seen is at least a 1-in-a-window event.
    """

    MIN_SAMPLES_IN_STRETCH = 3
    SHORT_SIGMAS = 6.0
    SHORT_FLOORS = 3.0
    TAIL_QUANTILE = 0.95
    TAIL_Z = 1.959964  # Φ⁻¹(0.975): |x - mean| of Gaussian noise exceeds 1.96σ 5 % of the time
    TAIL_MEMORY = 360  # samples, when the analyzer gives no window (`memory` 0: EMA)
    LOOK_AGAIN_SECS = 60.0  # a stretch refused as a precedent or a season's is judged again then
    RECURRING_LOOKS = 64  # episodes tried as a job's run before the stretch (`recurs`)
    RECURRING_JITTER_SECS = 600.0  # the most a job's run may be off its period (`recurs`)

    def __init__(
        self,
        families: Sequence[Family],
        threshold: float,
        min_samples: int,
        learning_secs: float,
        persist_secs: float,
        cooldown_secs: float,
        season_days: int,
        tolerance_secs: float,
        recurring_runs: int = 3,
    ) -> None:
        self.families = tuple(families)
        self.threshold = threshold
        self.min_samples = min_samples
        self.learning = learning_secs
        self.persist = persist_secs
        self.cooldown = cooldown_secs
        self.season_days = season_days
        self.tolerance = tolerance_secs
        self.recurring_runs = recurring_runs
        self.s = SeriesArrays(
            first_seen=(np.float64, np.nan),
            floor_abs=(np.float64, 0.0),
            floor_rel=(np.float64, 0.0),
            sign=(np.int8, 0),  # +1 up, -1 down, 0 both
            state=(np.int8, 0),
            quiet_until=(np.float64, -np.inf),
            run_n=(np.int32, 0),
            run_side=(np.int8, 0),
            run_start=(np.float64, np.nan),
            run_sum=(np.float64, 0.0),
            base_mean=(np.float64, np.nan),
            base_band=(np.float64, np.nan),
            base_std=(np.float64, np.nan),
            last_seen=(np.float64, np.nan),  # the previous sample's time: the interval
            interval=(np.float64, np.nan),  # the interval before that one: the series' step
            memory=(np.int64, 0),  # raw samples the record check reads (0: the whole tier)
            low=(np.float64, np.inf),  # the range it has held for two samples in a row
            high=(np.float64, -np.inf),
            previous=(np.float64, np.nan),  # the previous sample (that second sample)
            tail=(np.float64, np.nan),  # the TAIL_QUANTILE of |x - mean|, tracked
            base_tail=(np.float64, np.nan),  # ... frozen at the stretch's start
        )

    def learn(self, sid: int, key: SeriesKey, now: float) -> None:
        s = self.s
        family = family_for(key, self.families)
        s.first_seen[sid] = now
        s.sign[sid] = family.sign
        s.floor_abs[sid], s.floor_rel[sid] = (
            (0.0, family.floor) if family.relative else (family.floor, 0.0)
        )

    def family(self, key: SeriesKey) -> Family:
        return family_for(key, self.families)

    def forget(self, series_ids: Iterable[int]) -> None:
        self.s.reset(series_ids)

    def stretch_context(self, sid: int, step: Step) -> dict[str, float]:
        """What a firing alert carries of its stretch, so that an analyzer that went through
        the last samples after a restart takes it back as it was judged (`resume` of
        `LearnsFromRecentSamples`): the baseline and the band frozen at its start."""
        if step.after == 0:
            return {}
        return {"baseline": float(self.s.base_mean[sid]), "band": float(self.s.base_band[sid])}

    def clocks(self, ids: IntArray, now: float) -> dict[int, Clocks]:
        """Of `ids` seen so far, their `Clocks`: quiet until when (not firing, and firing
        nothing new until a time after `now`: the cooldown after an alert ended, or a
        refused stretch's minute), seen since when, and the range held."""
        s = self.s
        ids = ids[ids < s.size]
        until, first = s.quiet_until[ids], s.first_seen[ids]
        low, high = s.low[ids], s.high[ids]
        quiet = (until > now) & (s.state[ids] == 0)
        held = np.isfinite(low) & np.isfinite(high)
        out = {}
        for i in np.flatnonzero(quiet | np.isfinite(first)).tolist():
            out[int(ids[i])] = Clocks(
                float(until[i]) if quiet[i] else None,
                float(first[i]) if np.isfinite(first[i]) else None,
                float(low[i]) if held[i] else None,
                float(high[i]) if held[i] else None,
            )
        return out

    def keep_clocks(self, sid: int, clocks: Clocks, now: float) -> None:
        """A series' clocks kept across a restart (`clocks` of the last life), each only
        where it adds to what the samples gave back: the quiet time at most the cooldown
        from `now` (a kept file cannot silence a series for longer than the end of an
        alert would), the learning time only ever shortened (or keep it learning), the
        range only widened."""
        s = self.s
        s.ensure(np.array([sid]))
        if clocks.quiet_until is not None and s.state[sid] == 0:
            longest = now + max(self.cooldown, self.LOOK_AGAIN_SECS)
            s.quiet_until[sid] = max(float(s.quiet_until[sid]), min(clocks.quiet_until, longest))
        if clocks.first_seen is not None and clocks.first_seen < s.first_seen[sid]:
            s.first_seen[sid] = clocks.first_seen
        if clocks.low is not None and clocks.high is not None and clocks.low <= clocks.high:
            s.low[sid] = min(float(s.low[sid]), clocks.low)
            s.high[sid] = max(float(s.high[sid]), clocks.high)

    def end_stretches(self, ids: IntArray) -> None:
        """Quiet, no stretch under way: a gate that went through the samples of the last
        life starts this one as a series seen that long, not in the middle of a verdict
        (what it fired on then was told then, or not: the stretches of the alerts the
        router kept are taken back from them, `LearnsFromRecentSamples.resume`)."""
        s = self.s
        s.ensure(ids)
        s.state[ids], s.run_n[ids], s.run_side[ids] = 0, 0, 0
        s.run_start[ids], s.run_sum[ids] = np.nan, 0.0

    def learning_count(self, ids: IntArray, now: float) -> int:
        first = self.s.first_seen[ids[ids < self.s.size]]
        return int(np.count_nonzero(now - first[np.isfinite(first)] < self.learning))

    def family_floor(self, ids: IntArray, mean: FloatArray) -> FloatArray:
        """The floor in the unit; a relative one is a fraction of the series' own scale: the
        larger of its level and the range it has covered (see the class docstring)."""
        s = self.s
        with np.errstate(invalid="ignore"):
            span = np.where(s.high[ids] > s.low[ids], s.high[ids] - s.low[ids], 0.0)
        scale = np.maximum(np.abs(mean), span)
        floor: FloatArray = np.maximum(s.floor_abs[ids], s.floor_rel[ids] * scale)
        return floor

    def step(
        self,
        ids: IntArray,
        x: FloatArray,
        n: FloatArray,
        mean: FloatArray,
        std: FloatArray,
        now: float,
        history: History,
    ) -> list[Step]:
        s = self.s
        state, run_n = s.state[ids], s.run_n[ids]
        with np.errstate(invalid="ignore"):
            band = np.maximum(self.threshold * std, self.family_floor(ids, mean))
            sign = s.sign[ids].astype(np.float64)
            dev = x - mean
            side = np.where(sign != 0, sign, np.sign(dev))
            ready = (
                (n >= self.min_samples)
                & (now - s.first_seen[ids] >= self.learning)
                & np.isfinite(dev)
                & (band > 0)
            )
            beyond = ready & (side * dev > band)
            base_dev = x - s.base_mean[ids]
            run_side = s.run_side[ids].astype(np.float64)
            continues = (run_n > 0) & (run_side * base_dev > s.base_band[ids])
        starts = (run_n == 0) & beyond & (state == 0)
        run_n = np.where(continues, run_n + 1, np.where(starts, 1, 0)).astype(np.int32)
        s.run_n[ids] = run_n
        s.run_sum[ids] = np.where(continues, s.run_sum[ids] + x, np.where(starts, x, 0.0))
        s.run_start[ids] = np.where(starts, now, np.where(continues, s.run_start[ids], np.nan))
        s.run_side[ids] = np.where(starts, side, np.where(continues, run_side, 0)).astype(np.int8)
        s.base_mean[ids] = np.where(starts, mean, s.base_mean[ids])
        s.base_band[ids] = np.where(starts, band, s.base_band[ids])
        s.base_std[ids] = np.where(starts, std, s.base_std[ids])
        s.base_tail[ids] = np.where(starts, s.tail[ids], s.base_tail[ids])
        self._track_tail(ids, np.abs(dev), std, ready)
        with np.errstate(invalid="ignore"):
            # Covered time: from the start of the stretch's first sample's interval.
            elapsed = now - s.run_start[ids]
            lasted = elapsed >= self.persist  # path (a): from its first sample, as always
            # The first sample's own interval, at most the series' step before it: after a
            # gap (the agent stopped, a host suspended) one sample at 10 s is 10 s of the
            # level, not the hour missing (one sample of 75 % fired "75 % for 1 h").
            gap = now - s.last_seen[ids]
            covered = elapsed + np.fmin(gap, s.interval[ids])
            short = (run_n > 0) & (run_n < self.MIN_SAMPLES_IN_STRETCH) & (covered >= self.persist)
            if short.any():
                base_mean = s.base_mean[ids]
                run_dev = s.run_side[ids] * (s.run_sum[ids] / np.maximum(run_n, 1) - base_mean)
                scale = np.fmax(s.base_std[ids], s.base_tail[ids] / self.TAIL_Z)
                short_band = np.maximum(
                    self.SHORT_SIGMAS * scale / np.sqrt(np.maximum(run_n, 1)),
                    self.SHORT_FLOORS * self.family_floor(ids, base_mean),
                )
                short &= run_dev > short_band
        s.interval[ids] = np.where(np.isfinite(gap), gap, s.interval[ids])
        s.last_seen[ids] = now
        # The range after the verdict (a sample is not its own scale), of levels held for two
        # samples in a row: one corrupt reading (1e6 once) does not mute the series for good.
        prev = s.previous[ids]
        held = np.isfinite(x) & np.isfinite(prev)
        with np.errstate(invalid="ignore"):
            s.low[ids] = np.where(held, np.minimum(s.low[ids], np.maximum(x, prev)), s.low[ids])
            s.high[ids] = np.where(held, np.maximum(s.high[ids], np.minimum(x, prev)), s.high[ids])
        s.previous[ids] = np.where(np.isfinite(x), x, prev)
        fire = (
            (state == 0)
            & (((run_n >= self.MIN_SAMPLES_IN_STRETCH) & lasted) | short)
            & (now >= s.quiet_until[ids])
        )
        with np.errstate(invalid="ignore"):
            # Against the band frozen at the stretch's start (a baseline that is taking the
            # new level in has an inflated σ, and would resolve while the level is still
            # there): back near the old baseline, or the baseline caught up with the value.
            side_now, base_band = s.run_side[ids], s.base_band[ids]
            returned = ~(side_now * (x - s.base_mean[ids]) * 2 > base_band)
            caught_up = ~(side_now * dev * 2 > base_band)
            back = (state > 0) & (returned | caught_up)
        steps = []
        for i in np.flatnonzero(fire).tolist():
            sid = int(ids[i])
            level = float(s.run_sum[sid] / s.run_n[sid])
            # A lasting stretch compares as the seasonality check does (within half its
            # band); a short one must beyond every earlier sample (a spike).
            slack = 0.0 if short[i] else float(s.base_band[sid]) / 2
            if not self.unprecedented(history, sid, level, int(run_n[i]), slack):
                # The baseline already went this far: a heavy tail or a recurring burst.
                s.quiet_until[sid] = now + self.LOOK_AGAIN_SECS  # it may outgrow it
                continue
            if self.seen_before(history, sid, now, level, int(s.run_side[sid])):
                s.quiet_until[sid] = now + self.LOOK_AGAIN_SECS  # the job may outgrow it
                continue
            if self.recurs(history, sid, now, level, int(s.run_side[sid])):
                s.quiet_until[sid] = now + self.LOOK_AGAIN_SECS  # it may outlast its runs
                continue
            base = float(s.base_mean[sid])
            sigma = float(s.base_std[sid])  # of the baseline the stretch is judged against
            since = float(covered[i]) if short[i] else now - float(s.run_start[sid])
            steps.append(Step(i, 0, 1, level - base, (level - base) / sigma if sigma > 0 else math.inf,
                              since, level))  # fmt: skip
            s.state[sid] = 1
        for i in np.flatnonzero(back).tolist():
            sid = int(ids[i])
            away = float(s.run_side[sid]) * (float(x[i]) - float(s.base_mean[sid]))
            settled = away * 2 > float(s.base_band[sid])
            steps.append(Step(i, int(state[i]), 0, float(dev[i]), 0.0, 0.0, float(x[i]), settled))
            self.end(sid, now + self.cooldown)
        return steps

    def end(self, sid: int, quiet_until: float) -> None:
        """The series' alert ended (its RESOLVED is the caller's): quiet until then."""
        s = self.s
        s.state[sid] = 0
        s.quiet_until[sid] = quiet_until
        s.run_n[sid], s.run_sum[sid], s.run_side[sid] = 0, 0.0, 0
        s.run_start[sid] = np.nan

    def _track_tail(
        self, ids: IntArray, away: FloatArray, std: FloatArray, ready: BoolArray
    ) -> None:
        """One stochastic-approximation step of each series' TAIL_QUANTILE of |x - mean|, in
        log (a scale stays positive, and a step is relative to it): started at its Gaussian
        value TAIL_Z·σ (or at the first deviation, on a series flat so far)."""
        s = self.s
        tau = self.TAIL_QUANTILE
        memory = s.memory[ids]
        eta = 1.0 / (np.where(memory > 0, memory, self.TAIL_MEMORY) * (1.0 - tau))
        with np.errstate(invalid="ignore"):
            tail = s.tail[ids]
            tail = np.where(np.isnan(tail), self.TAIL_Z * std, tail)
            moved = tail * np.exp(eta * np.where(away > tail, tau, tau - 1.0))
            s.tail[ids] = np.where(ready, np.where(tail > 0, moved, away), s.tail[ids])

    def unprecedented(
        self, history: History, sid: int, level: float, n: int, slack: float = 0.0
    ) -> bool:
        """Whether the baseline before the stretch's `n` samples (z-score's window, `memory`,
        or the whole raw tier) holds fewer than `n` samples at `level` or beyond (on its
        side, less `slack`): a level the series already held for as long is a heavy tail or
        a recurring burst, not news."""
        memory = int(self.s.memory[sid])
        try:
            _, values = history.window(sid, last=memory + n if memory else None)
        except KeyError:
            return True
        before = values[:-n]
        if before.size == 0:
            return True
        side = int(self.s.run_side[sid])
        return int(np.count_nonzero(side * before >= side * level - slack)) < n

    def seen_before(self, history: History, sid: int, now: float, level: float, side: int) -> bool:
        """Whether the bucket means of one of the last `season_days` days, around this time
        of day, reached `level`; for a stretch longer than that window, whether on one of
        them the buckets around now reached what the stretch is now and the same span had
        its mean (the tier's own length bounds how far back that is)."""
        if self.season_days <= 0:
            return False
        try:
            times, means = history.history_window(sid)
        except KeyError:
            return False
        if times.size == 0:
            return False
        slack = float(self.s.base_band[sid]) / 2
        near = np.zeros(times.shape, dtype=bool)
        for day in range(1, self.season_days + 1):
            near |= np.abs(times - (now - day * 86400.0)) <= self.tolerance
        if near.any() and float(np.max(side * means[near])) >= side * level - slack:
            return True
        # A stretch longer than the window looked at around now (the rise of a daily wave,
        # hours long): its mean is not the level of any bucket around now, on the wave's
        # falling side.  It is the day before again when, that day, what it is now (its
        # last `persist`, at least the last bucket) was reached around now, and the same
        # span, where the tier still holds it, had the stretch's mean: both, so that a job
        # running hours past its usual end stays news (around now it was over that day).
        start = float(self.s.run_start[sid])
        if not math.isfinite(start) or now - start <= 2 * self.tolerance:
            return False
        recent = (times >= min(now - self.persist, float(times.max()))) & (times >= start)
        if not recent.any():
            return False
        now_level = side * float(means[recent].mean())
        oldest = float(times.min())
        for day in range(1, self.season_days + 1):
            ago = day * 86400.0
            around = np.abs(times - (now - ago)) <= self.tolerance
            if not around.any() or float(np.max(side * means[around])) < now_level - slack:
                continue
            if oldest > start - ago:
                return True  # the span itself is gone (a tier of a day at one-minute samples)
            same = (times >= start - ago) & (times <= now - ago)
            if np.count_nonzero(same) >= self.MIN_SAMPLES_IN_STRETCH and (
                side * float(means[same].mean()) >= side * level - slack
            ):
                return True
        return False

    def recurs(self, history: History, sid: int, now: float, level: float, side: int) -> bool:
        """Whether a lasting stretch is the next run of a job that comes back at a steady
        period shorter than a day (every two hours, every six), within what its runs did.

        Its *episodes* in the history tier are the spans of buckets beyond half the
        stretch's band of its baseline, on its side, a pause shorter than the persistence
        time inside one being part of it.  A *chain* is `recurring_runs` of them a steady
        period apart (each start within a tenth of the period, at most
        `RECURRING_JITTER_SECS` and at least three buckets, of the one a period after it),
        found by start time alone, so another job's or an incident's episodes between the
        runs do not break it; and the stretch starts where the chain's own spacing puts
        the next run (within three buckets and the spread of its spacings: a chain of
        every third run of a job two hours apart does not take in an incident half an
        hour off the job's slot).  Its runs must look like one job's (the longest at most
        twice the shortest).  The stretch is within them while it has covered no longer
        than the longest run, its mean is no further than the furthest run's mean over as
        long from its start, and its last `persist_secs` (the buckets over them, or its
        mean before one has closed) no further than the furthest bucket of any run, each
        plus half the band (a run's start-up spike does not cover a run twice as high; a
        run climbing past them is told when it passes).  Three runs, the tenth of the
        period capped, the next slot from the chain's own spacing: each because
        irregular incidents otherwise line up by chance (measured in docs/DESIGN.md).  So
        a job's first runs are news, then only a run that goes further or lasts longer
        than they did.  A stretch of one or two samples (at sparse sampling) is a spike,
        judged by `unprecedented`, not a run."""
        s = self.s
        if self.recurring_runs < 2 or int(s.run_n[sid]) < self.MIN_SAMPLES_IN_STRETCH:
            return False
        start = float(s.run_start[sid])
        try:
            times, means = history.history_window(sid)
        except KeyError:
            return False
        if not math.isfinite(start) or times.size < 2:
            return False
        slack = float(s.base_band[sid]) / 2
        spacing = float(np.median(np.diff(times)))
        away = side * (means - float(s.base_mean[sid]))
        at = np.flatnonzero((away > slack) & (times < start - spacing))
        if at.size == 0:
            return False
        breaks = np.flatnonzero(np.diff(times[at]) > max(2.5 * spacing, self.persist)) + 1
        first = at[np.concatenate(([0], breaks))]
        final = at[np.concatenate((breaks - 1, [at.size - 1]))]
        starts = times[first].tolist()
        lengths = (times[final] + spacing - times[first]).tolist()
        # The time the stretch covers (its first sample stands for the interval before it),
        # less a bucket: an episode's partial buckets at either end.
        step = float(s.interval[sid])
        lasted = now - start + (step if math.isfinite(step) else 0.0) - spacing
        further = side * (level - float(s.base_mean[sid])) - slack
        # The buckets over the stretch's last `persist` (at least the newest closed one since
        # it began; none yet, its mean stands for it).
        recent = times + spacing > max(start, now - self.persist)
        if not recent.any() and times[-1] + spacing > start:
            recent = times == times[-1]
        lately = float(away[recent].mean()) - slack if recent.any() else further
        # Each episode as the run before, the latest first: at most `RECURRING_LOOKS` (a
        # series with more episodes within the day bursts all the time: bounded cost).
        for last in range(len(starts) - 1, max(len(starts) - 1 - self.RECURRING_LOOKS, -1), -1):
            period = start - starts[last]
            if period >= DAY:
                break
            tolerance = max(min(period / 10, self.RECURRING_JITTER_SECS), 3 * spacing)
            chain = [last]
            while len(chain) < self.recurring_runs:
                target = starts[chain[-1]] - period  # anchored on the run found: jobs drift
                k = bisect.bisect_left(starts, target)
                near = min((j for j in (k - 1, k) if 0 <= j < len(starts)),
                           key=lambda j: abs(starts[j] - target))  # fmt: skip
                if abs(starts[near] - target) > tolerance or near in chain:
                    break
                chain.append(near)
            if len(chain) < self.recurring_runs:
                continue
            gaps = [starts[a] - starts[b] for a, b in itertools.pairwise(chain)]
            spread = max(gaps) - min(gaps)
            if abs(period - sum(gaps) / len(gaps)) > 3 * spacing + spread:
                continue
            longest = max(lengths[j] for j in chain)
            if longest > 2 * min(lengths[j] for j in chain) + 2 * spacing or lasted > longest:
                continue
            # The runs over as long from their starts as the stretch has lasted, and the
            # furthest bucket each reached.
            span = max(lasted, spacing)
            levels, peaks = [], []
            for j in chain:
                run = (times >= starts[j]) & (times < starts[j] + lengths[j])
                levels.append(float(away[run & (times < starts[j] + span)].mean()))
                peaks.append(float(away[run].max()))
            if further <= max(levels) and lately <= max(peaks):
                return True
        return False


class WatchedSeries:
    """What z-score, season and EMA share besides the gate: which series they watch (by
    metric pattern, decided once per series, when it first comes) and the gate learning
    each new watched one.  A subclass sets `patterns`, `gate` and `s` (a SeriesArrays
    with `known` and `watched` among its fields)."""

    patterns: tuple[str, ...]
    gate: PersistentAnomaly
    s: SeriesArrays

    def forget(self, series_ids: Iterable[int]) -> None:
        ids = list(series_ids)
        self.s.reset(ids)
        self.gate.forget(ids)

    def learning_count(self, now: float) -> int:
        """Watched series still in their gate's learning time."""
        return self.gate.learning_count(np.flatnonzero(self.s.watched[: self.s.size]), now)

    def watches(self, key: SeriesKey) -> bool:
        return any(fnmatch.fnmatchcase(key.metric, p) for p in self.patterns)

    def watched_samples(self, batch: Batch, history: History) -> tuple[IntArray, FloatArray]:
        """The batch's samples of watched series with a finite value: (ids, values)."""
        s = self.s
        s.ensure(batch.ids)
        self.gate.s.ensure(batch.ids)
        for sid in batch.ids[~s.known[batch.ids]].tolist():
            s.known[sid] = True
            key = history.key(sid)
            s.watched[sid] = self.watches(key)
            if s.watched[sid]:
                self.gate.learn(sid, key, batch.timestamp)
        mask = s.watched[batch.ids] & np.isfinite(batch.values)
        return batch.ids[mask], batch.values[mask]


class LearnsFromRecentSamples(WatchedSeries, abc.ABC):
    """A watched-series analyzer whose whole state comes from the raw tier's samples, in
    order (z-score's window and EW mean, EMA's, the gate's learning time, range and
    tail): `Warmable` by going through the last life's samples as it did then."""

    @abc.abstractmethod
    def observe(self, batch: Batch, history: History) -> list[Alert]: ...

    _warmed_from: History | None = None  # the store, once it went through kept samples
    _taken_back: dict[int, Alert] = {}  # noqa: RUF012 (this empty one is only read: `resume` sets its own)

    def warm_up(self, batch: Batch, history: History) -> None:
        self.observe(batch, history)  # its verdicts on the past were told then, or not
        self._warmed_from = history

    def end_warm_up(self) -> None:
        self.gate.end_stretches(np.flatnonzero(self.s.watched[: self.s.size]))

    def resume(self, alerts: Iterable[Alert]) -> None:
        """Its alerts announced before the restart (the router's open episodes): on a series
        it went through the last samples of and judges now, the stretch is taken back as
        the alert describes it (`baseline` and `band` in its context: what the band was
        frozen at), at its severity.  The series' next finite sample says where it stands:
        the alert again (`raised_again`: the episode goes on), or its RESOLVED.  An alert
        without them (kept by an older version), or on a series the kept samples did not
        have, is left to the router's deadline: raised again by then, or resolved."""
        history, taken = self._warmed_from, dict[int, Alert]()
        self._taken_back = taken
        if history is None:
            return  # no samples were taken back: it learns again
        for alert in alerts:
            sid = history.find(SeriesKey(alert.metric, alert.labels))
            baseline, band = _number(alert.context, "baseline"), _number(alert.context, "band")
            if sid is None or not self._went_through(sid) or not band > 0:
                continue
            side = float(np.sign(alert.value - baseline))
            if side not in (1.0, -1.0):  # NaN: no baseline; 0: a level on it, no stretch
                continue
            g = self.gate.s
            g.state[sid] = 2 if alert.severity >= Severity.CRITICAL else 1
            g.run_side[sid], g.base_mean[sid], g.base_band[sid] = side, baseline, band
            # Under way: the stretch goes on while its samples stay beyond the band.
            g.run_n[sid], g.run_sum[sid] = 1, alert.value
            g.run_start[sid] = alert.timestamp if alert.first_fired is None else alert.first_fired
            taken[sid] = alert

    def clocks(self, now: float) -> dict[int, Clocks]:
        return self.gate.clocks(np.flatnonzero(self.s.watched[: self.s.size]), now)

    def keep_clocks(self, series_id: int, clocks: Clocks, now: float) -> None:
        if self._went_through(series_id):  # else it learns again: no verdict for a while
            self.gate.keep_clocks(series_id, clocks, now)

    def took_back(self, alert: Alert) -> bool:
        return any(kept.fingerprint == alert.fingerprint for kept in self._taken_back.values())

    def end_resume(self) -> list[SeriesKey]:
        """Those not reported since are gone: the router resolves them (their series)."""
        self._taken_back = {}
        return []

    def _went_through(self, sid: int) -> bool:
        """Whether the kept samples had this series, watched: its baseline goes on from them
        (the last life judged it: it fired the alert; its learning time is not asked again)."""
        return sid < min(self.s.size, self.gate.s.size) and bool(
            self.s.watched[sid] and self.s.n[sid] > 0
        )

    def raised_again(self, ids: IntArray, now: float) -> list[Alert]:
        """At a series' first finite sample after the restart, an alert taken back that this
        sample did not end is raised again as it was (for the router, the episode goes on)."""
        if not self._taken_back:
            return []
        out = []
        for sid in ids.tolist():
            kept = self._taken_back.pop(sid, None)
            if kept is not None and self.gate.s.state[sid] > 0:
                out.append(dataclasses.replace(kept, status=Status.FIRING, timestamp=now,
                                               series_id=sid))  # fmt: skip
        return out


def _number(context: dict[str, Any], name: str) -> float:
    """A finite number of an alert's context, else NaN (absent, or kept by an older version)."""
    value = context.get(name)
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return math.nan


def learning_series(analyzers: Iterable[object], now: float) -> int:
    """Series on which a statistical analyzer gives no verdict yet (z-score and EMA watch
    the same ones, so the largest count, not the sum)."""
    counts = [a.learning(now) for a in analyzers if isinstance(a, Learning)]
    return max(counts, default=0)


@runtime_checkable
class Learning(Protocol):
    def learning(self, now: float) -> int: ...


def anomaly_history(settings: Any, watch_everything: bool) -> tuple[str, ...]:
    """The metrics z-score, season and EMA read history for: their watched ones (all in replay)."""
    return ("*",) if watch_everything else tuple(settings.analyzer.anomaly_metrics)


def policy_from(settings: Any, threshold: float) -> PersistentAnomaly:
    """The gate as `[analyzer]` configures it (z-score, season and EMA each build one)."""
    an = settings.analyzer
    rules = tuple(
        Family(
            rule.metric,
            rule.unit or "as configured",
            rule.floor,
            rule.direction,
            "[[analyzer.families]]",
            rule.relative,
            tuple(sorted(rule.labels.items())),
        )
        for rule in an.families
    )
    return PersistentAnomaly(
        (*rules, *DEFAULT_FAMILIES),
        threshold,
        an.anomaly_min_samples,
        an.anomaly_learning_secs,
        an.anomaly_persist_secs,
        an.anomaly_cooldown_secs,
        SEASON_DAYS if an.anomaly_record_hours >= 24 else 0,
        an.anomaly_season_tolerance_secs,
        an.anomaly_recurring_runs,
    )
