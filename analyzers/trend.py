"""Trend: when will a filling resource be full?

A least-squares line over the last `trend_window_hours` of the history tier
(1-minute means) of each "filling" series predicts when it reaches capacity.
Disk (and inodes) full within 24 h warns, within 6 h is critical; memory,
swap, file handles and GPU memory: within 6 h warns, within 1 h is critical.
The fit must span `min_span_hours` and reach `min_r_squared`, so a boot-time
ramp or a single burst does not fire.  Once firing, the alert holds until the
prediction (from the highest of the last minutes) moves past 1.5 x its horizon,
or the growth stops.

A fill faster than the hour of evidence allows (a runaway dump filling a disk
in 40 minutes) is seen by a second, short fit over the last `FAST_WINDOW`
buckets (30 minutes): it fires when it spans at least `FAST_MIN_SPAN` buckets
(10 minutes), reaches the same R², and predicts exhaustion no farther ahead
than the span it has observed (a line is extrapolated at most as far as it was
seen: 10 minutes of a rising line say something about the next 10, not the
next day).  Such an ETA is under half an hour, so the alert fires at the
severity it will have (critical: a disk full within 6 h, memory within 1 h)
before the static thresholds' warn and critical levels are crossed; the router
folds those into the same episode (docs/ALERTING.md).  Noise cannot pass it:
the ETA must be within the observed span, so a 10-minute wobble would have to
climb the whole remaining capacity in 10 minutes, in a straight line.

The short fit predicts only while its last `RECENT_BUCKETS` (5 minutes) rose by
at least half what its slope says: a ramp that stopped (an application's start
taking memory from 40 to 75 % in ten minutes, then flat) still has a rising
line, and said "full in 17 min" five minutes into the plateau.

A fill after a flat stretch (a disk at 42 % for five hours that starts filling at
10 points an hour) bends the window's line: the flat hours hold its R² under the
bar and its slope at half the fill's, and it was first told three hours into
the fill, at half its rate.  A third line starts where the fill began
(`line_since_bend`: the break that leaves the least error to a line before it
and one after it), and judges as the window's does once it holds its hour of
points (not of time: an agent down for 40 minutes does not count them), if what
came before was a flat stretch the fill left (a wandering series also has a last
hour that a line fits).  It is searched only while the short fit says the series
rises, or while it fires, and kept nowhere: after a restart it is found again in
the history tier taken back.

The window's line lags a fill that stopped: the hours before it hold the line under
the plateau, so the plateau stays on it and its R² grows (a 90-minute copy that
stopped was told "full in 16 h" 83 minutes into the flat disk).  It raises a level
only while the last hour of its points still rises at half its slope, and keeps one
only while the last two hours rise at a quarter of it (`steepest_slope`: within the
points' noise).  A disk that fills in steps (a backup kept every two hours) stands
below its line by up to half a step before the next: a firing fill is held while its
last `RECENT_BUCKETS` stay within twice the points' scatter about the line, and a
fall there is a deletion only if it lands three times that scatter below it (it was
resolved and fired again at every step, twelve times a day).

A fall of more than `DROP_POINTS` between two buckets (a deletion, a restart,
a log rotation) starts the fit afresh from that bucket: what was there before
says nothing about the new slope.  A fall that takes away what a jump of the
last two hours brought, back to where the series stood before it plus its
growth since, is a temporary file gone (a staging copy every 40 minutes during
a steady fill; its jump out of the series' own noise, `JUMP_SIGMAS`): its
buckets are taken out of both fits (`temporary_bump`), as they are from a
history taken back after a restart.  Another fall is a deletion
only if it is out of the series' noise (`out_of_noise`) and lands below the
fitted line by more than half its size.  A sample
that fell since the last bucket is judged when its bucket closes, not on fits
that still hold what it took away.  A fill that repeats the day before (started at a deletion from at least
its level within the day, and as high a day ago: a log rotated every night) does
not fire: it is the day's cycle (`_daily_cycle`).  The ETA is counted from the current raw
value, never from the fitted level, and there is none (the alert resolves)
unless that value is still on the line (not more than `DROP_POINTS` below its
fitted level): a file system emptied a second ago is not "full in 0 min".
Every message, the resolve included, carries the current raw value.

Across a restart the fits come back with the history tier, and the level of
an alert announced before it (the router's open episodes, `resume`): a series
starts at that level, so a prediction inside the hysteresis band (past the
horizon, within 1.5 x) keeps it as one life would have, instead of the new
life resolving it and firing it again when the prediction crosses back.  Its
first verdict on a fit that may judge (its hour spanned, the short fit's
conditions, or a drop) says where it stands: the alert again at that level
(the router continues the episode), or the change.
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Callable, Iterable, Mapping

import numpy as np
import numpy.typing as npt

from alerting.alert import Alert, Severity
from alerting.format import format_metric, format_value
from analyzers.base import (
    Batch,
    FloatArray,
    History,
    IntArray,
    SeriesArrays,
    SeriesKey,
    transition,
)
from analyzers.registry import AnalyzerPlugin
from analyzers.regression import Fit, SlidingRegression

DROP_POINTS = 1.0  # a fall of a point of capacity in one bucket is a deletion, not noise
FAST_WINDOW = 30  # buckets of the short fit (30 min at the default 1-minute resolution)
FAST_MIN_SPAN = 10  # buckets the short fit must span before it may predict
RECENT_BUCKETS = 5  # the short fit's last buckets, which must rise at half its slope or more
BUMP_BUCKETS = 120  # how far back a fall looks for the rise it takes away (a temporary file)
JUMP_SIGMAS = 4.0  # a file's jump stands out of the steps' own noise by this many deviations
DAY_SECS = 86400.0
# A bend (`line_since_bend`): the stretch before it no noisier than twice the line after
# it, and its slope within -1/4 to +1/4 of the rise after it (flat, or a much slower
# growth: at +1/2, each step of a disk that fills in steps, 4 points every two hours, was
# a fill after a flat stretch, critical for ten minutes).
BEND_NOISE_RATIO = 2.0
BEND_FLAT = (-0.25, 0.25)
BEND_MIN_POINTS = 3  # points on each side of a bend, so that each has a line and its error
# "A day ago": within two hours of it (a rotation's jitter, a job an hour early after a
# change of daylight saving time, a rotation every 23 to 26 hours).
DAY_TOLERANCE_SECS = 7200.0

# metric pattern -> (capacity, warn within hours, critical within hours)
FILLING: Mapping[str, tuple[float, float, float]] = {
    "disk_used_percent": (100.0, 24.0, 6.0),
    "disk_inodes_used_percent": (100.0, 24.0, 6.0),
    "memory_used_percent": (100.0, 6.0, 1.0),
    "memory_swap_used_percent": (100.0, 6.0, 1.0),
    "fd_used_percent": (100.0, 6.0, 1.0),
    "gpu_memory_used_percent": (100.0, 6.0, 1.0),
}


def line_through(k: FloatArray, v: FloatArray) -> tuple[float, float]:
    """(slope, fitted value at the last point) of the least-squares line through the
    points, in closed form (np.polyfit costs some 50 µs a call: a noisy memory series
    taken back after a restart has hundreds of falls to judge)."""
    x = k - k.mean()
    slope = float((x * (v - v.mean())).sum() / (x * x).sum())
    return slope, float(v.mean() + slope * x[-1])


def scatter_about(k: FloatArray, v: FloatArray, slope: float) -> float:
    """The points' standard deviation about their least-squares line of `slope` (0 for
    fewer than three points, which a line always passes through)."""
    if k.size < 3:
        return 0.0
    residual = v - v.mean() - slope * (k - k.mean())
    return math.sqrt(float((residual * residual).sum()) / (k.size - 2))


def steepest_slope(k: FloatArray, y: FloatArray) -> float:
    """The steepest slope the points allow: their least-squares slope plus two standard
    errors (inf with fewer than three points, which cannot tell)."""
    if k.size < 3 or np.ptp(k) == 0:
        return math.inf
    x = k - k.mean()
    sxx = float((x * x).sum())
    slope = float((x * (y - y.mean())).sum()) / sxx
    return slope + 2 * scatter_about(k, y, slope) / math.sqrt(sxx)


def line_since_bend(k: FloatArray, y: FloatArray, min_points: int, min_span: float) -> int:
    """The index where a fill after a flat stretch began, or 0: the break that leaves the
    least squared error to two lines, one before it and one from it (a segmented
    regression with one break, searched in O(n) with prefix sums).  It counts only if
    the line from it holds `min_points` points spanning `min_span` buckets (a fill that
    began 30 minutes ago is not judged on a line that takes in the flat half hour before
    it: a bent line, at half the rate), and if what came before was a flat stretch the
    fill left: as clean a line (`BEND_NOISE_RATIO`), flat or far slower than the
    rise (`BEND_FLAT`), and all of it below where the fill stands now.  A wandering series
    (a busy disk's usage, up and down by points over hours) also has a last hour that a
    line fits; what came before it wanders off its own line, or as high."""
    m = k.size
    if m < 2 * BEND_MIN_POINTS:
        return 0
    x = k - k[-1]  # small, exact sums
    v = y - y.mean()
    terms = np.stack([np.ones_like(x), x, x * x, v, x * v, v * v])
    prefix = np.concatenate([np.zeros((6, 1)), np.cumsum(terms, axis=1)], axis=1)

    def sse(sums: FloatArray) -> FloatArray:  # squared error left by each one's line
        n, sk, skk, sy, sky, syy = sums
        sxx = skk - sk * sk / n
        sxy = sky - sk * sy / n
        with np.errstate(invalid="ignore", divide="ignore"):
            left: FloatArray = np.where(
                sxx > 0, syy - sy * sy / n - sxy * sxy / sxx, syy - sy * sy / n
            )
        return left

    breaks = np.arange(BEND_MIN_POINTS, m - BEND_MIN_POINTS + 1)
    total = sse(prefix[:, breaks]) + sse(prefix[:, -1:] - prefix[:, breaks])
    best = int(breaks[int(np.argmin(total))])
    if float(total.min()) >= float(sse(prefix[:, -1:])[0]):
        return 0  # one line fits as well
    if m - best < min_points or k[-1] - k[best] < min_span:
        return 0  # not yet its hour
    noise_before = float(sse(prefix[:, best : best + 1])[0]) / (best - 2)
    noise_after = float(sse(prefix[:, -1:] - prefix[:, best : best + 1])[0]) / (m - best - 2)
    if noise_before > BEND_NOISE_RATIO**2 * noise_after:
        return 0
    slope_after, level_now = line_through(x[best:], v[best:])
    slope_before = line_through(x[:best], v[:best])[0]
    low, high = BEND_FLAT
    if not low * slope_after <= slope_before <= high * slope_after:
        return 0
    return best if level_now > float(v[:best].max()) else 0


def out_of_noise(steps: FloatArray) -> float:
    """How far a one-bucket jump or fall must go to be more than a series' noise, given its
    steps from one bucket to the next before it (`beyond_growth`): `DROP_POINTS`, and
    `JUMP_SIGMAS` standard deviations of the steps, from their median absolute deviation
    (which the few jumps of files written and deleted leave as the noise is)."""
    if steps.size < 3:
        return DROP_POINTS
    deviation = 1.4826 * float(np.median(np.abs(steps - np.median(steps))))
    return max(DROP_POINTS, JUMP_SIGMAS * deviation)


def beyond_growth(buckets: FloatArray, values: FloatArray) -> FloatArray:
    """Each step's rise beyond the growth the series' pace (the mean rise from one bucket
    to the next, leaving out jumps and falls beyond `DROP_POINTS`: files written and
    deleted) accounts for over the buckets it spans: a rise across missing
    buckets (the collector or the agent stopped during a fill) is the fill's growth
    meanwhile, not a file written (a noisy fill's first fall then read as the file gone
    took the fill's buckets out of the fits, and a real fill was resolved and fired
    again); a file written while a bucket was missing is still one."""
    steps, rises = np.diff(buckets), np.diff(values)
    adjacent = rises[(steps == 1) & (np.abs(rises) <= DROP_POINTS)]
    pace = max(float(adjacent.mean()), 0.0) if adjacent.size else 0.0
    extra: FloatArray = rises - pace * (steps - 1)
    return extra


def temporary_bump(buckets: FloatArray, values: FloatArray) -> int | None:
    """For a fall into the last of `values` (one point per bucket): the index where the
    rise it takes away began, if it is a temporary file's end, else None.  The rise is the
    last jump of more than `DROP_POINTS` in one bucket among the points before it (within
    `BUMP_BUCKETS`), and the fall must land where the series stood before that rise, plus
    its growth since at the pace of the hour before, give or take half the fall.  Both
    stand out of the series' own noise (`JUMP_SIGMAS` of it): on a series that moves by a
    third of a point a minute, a chance rise of a point and a chance fall two hours later
    took the whole plateau between out of the fits, which then said that a fill that had
    stopped went on.  A rise across missing buckets counts what it rose beyond the
    series' pace over them (`beyond_growth`)."""
    before = values[:-1]
    low = max(0, before.size - BUMP_BUCKETS)
    steps = beyond_growth(buckets[low : before.size], before[low:])
    noise = out_of_noise(steps)
    rises = np.flatnonzero(steps > noise)
    if rises.size == 0 or float(before[-1] - values[-1]) <= noise:
        return None
    start = low + int(rises[-1]) + 1  # the first bucket of the bump
    # A file stays a while: two buckets or more, all above the level before it by half its
    # jump.  A one-bucket blip up and down is noise (a busy host's memory), and its buckets
    # stay in the fit.
    jump = float(before[start] - before[start - 1])
    if before.size - start < 2 or float(before[start:].min()) < before[start - 1] + jump / 2:
        return None
    k, v = buckets[max(0, start - 60) : start], before[max(0, start - 60) : start]
    slope = line_through(k, v)[0] if k.size >= 5 and np.ptp(k) > 0 else 0.0
    expected = float(before[start - 1]) + max(slope, 0.0) * float(buckets[-1] - k[-1])
    fall = float(before[-1] - values[-1])
    return start if values[-1] >= expected - max(DROP_POINTS, fall / 2) else None


def human_duration(hours: float) -> str:
    if not math.isfinite(hours):
        return "never"
    minutes = round(hours * 60)
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 48 * 60:
        hours, rest = divmod(minutes, 60)
        return f"{hours} h" if rest == 0 else f"{hours} h {rest:02d} min"
    return f"{minutes / 1440:.1f} days"


class TrendAnalyzer:
    name = "trend"

    def __init__(
        self,
        window_hours: float = 6.0,
        resolution_secs: float = 60.0,
        min_span_hours: float = 1.0,
        min_r_squared: float = 0.8,
        filling: Mapping[str, tuple[float, float, float]] = FILLING,
        rebase_per_tick: int | None = None,
    ) -> None:
        self.resolution = resolution_secs
        self.window = max(2, round(window_hours * 3600 / resolution_secs))
        self.min_span = min_span_hours * 3600 / resolution_secs
        self.min_r_squared = min_r_squared
        self.filling = dict(filling)
        self.rebase_per_tick = rebase_per_tick
        self._cursor = 0
        self.regression = SlidingRegression(self.window)
        self.fast_window = min(FAST_WINDOW, self.window)
        self.fast = SlidingRegression(self.fast_window)
        self.s = SeriesArrays(
            known=(bool, False),
            capacity=(np.float64, np.nan),  # NaN = not a filling series
            warn_h=(np.float64, 0.0),
            crit_h=(np.float64, 0.0),
            state=(np.int8, 0),
            since=(np.float64, -np.inf),  # bucket of the last drop: the fit starts there
            resumed=(bool, False),  # its level was taken back at start-up: say where it stands
            jump_at=(np.float64, -np.inf),  # bucket of its last one-bucket jump (a file written)
            jump=(np.float64, 0.0),  # and its size
        )
        self._resumed: dict[SeriesKey, int] = {}  # levels taken back, until the series is seen

    def resume(self, alerts: Iterable[Alert]) -> None:
        """Its alerts that were firing when the agent stopped (the router's open episodes):
        each series starts at that level (see the module docstring)."""
        for alert in alerts:
            self._resumed[SeriesKey(alert.metric, alert.labels)] = (
                2 if alert.severity >= Severity.CRITICAL else 1
            )

    def end_resume(self) -> list[SeriesKey]:
        """The look for unreported series is over: a level taken back for a series not seen
        must not greet it when it comes back one day.  Every filling series can be judged:
        none is given up."""
        self._resumed.clear()
        return []

    def forget(self, series_ids: Iterable[int]) -> None:
        ids = list(series_ids)
        self.s.reset(ids)
        self.regression.reset(ids)
        self.fast.reset(ids)

    def _learn(self, batch: Batch, history: History) -> None:
        s = self.s
        for sid in batch.ids[~s.known[batch.ids]].tolist():
            s.known[sid] = True
            key = history.key(sid)
            for pattern, (capacity, warn_h, crit_h) in self.filling.items():
                if fnmatch.fnmatchcase(key.metric, pattern):
                    s.capacity[sid], s.warn_h[sid], s.crit_h[sid] = capacity, warn_h, crit_h
                    level = self._resumed.pop(key, 0)
                    s.state[sid], s.resumed[sid] = level, level > 0
                    break

    def observe(self, batch: Batch, history: History) -> list[Alert]:
        if batch.closed is None or not batch.closed.any():
            return []
        s = self.s
        s.ensure(batch.ids)
        self._learn(batch, history)
        mask = batch.closed & np.isfinite(s.capacity[batch.ids])
        if not mask.any():
            return []
        ids, now_value = batch.ids[mask], batch.values[mask]
        # A history taken back after a restart: the fits go on from it, from its last drop.
        self.regression.s.ensure(ids)
        unseen = ids[np.isnan(self.regression.s.origin[ids])].tolist()
        restarted = self.regression.take_back(ids, history, self.resolution, self._fit_starts)
        self.fast.take_back(ids, history, self.resolution, self._fit_starts)
        for sid in unseen:
            s.since[sid] = restarted.get(sid, self._last_deletion(sid, history))
            self._exclude_taken_back(sid, history)
        y = history.history_ago(ids, 0)
        # The last jump of more than DROP_POINTS in one bucket (a file written at once),
        # for the hysteresis: a value above the line by such a jump is a file that may go.
        newest_bucket = np.round(history.history_time_ago(ids, 0) / self.resolution)
        with np.errstate(invalid="ignore"):
            rise = y - history.history_ago(ids, 1)
            # Across missing buckets, beyond the window's pace (`beyond_growth`).
            missing = (
                newest_bucket - np.round(history.history_time_ago(ids, 1) / self.resolution) - 1
            )
            gap = np.flatnonzero(missing > 0)
            if gap.size:
                k_now = newest_bucket[gap] - self.regression.s.origin[ids[gap]]
                pace = np.fmax(np.nan_to_num(self.regression.fit(ids[gap], k_now).slope), 0.0)
                rise[gap] -= pace * missing[gap]
            jumped = rise > DROP_POINTS
        s.jump_at[ids[jumped]], s.jump[ids[jumped]] = newest_bucket[jumped], rise[jumped]
        recent_jump = np.where(newest_bucket - s.jump_at[ids] <= BUMP_BUCKETS, s.jump[ids], 0.0)
        dropped = self._deleted(ids, y, history)
        if dropped.any():
            self.regression.reset(ids[dropped].tolist())
            self.fast.reset(ids[dropped].tolist())
            newest = np.round(history.history_time_ago(ids[dropped], 0) / self.resolution)
            s.since[ids[dropped]] = newest
        # A bucket from before the last drop was never added: it must not leave either.
        since = s.since[ids]
        fit = self.regression.add_newest(ids, history, self.resolution, since)
        fast = self.fast.add_newest(ids, history, self.resolution, since)
        capacity, warn_h, crit_h, state = (
            s.capacity[ids],
            s.warn_h[ids],
            s.crit_h[ids],
            s.state[ids],
        )
        hour = 3600 / self.resolution  # buckets per hour
        # Long fit: the hour of evidence.  Short fit: only an ETA within what it observed.
        # The highest of the last minutes: a fill is off its line only once they all are.
        recent_high = np.fmax.reduce(
            [history.history_ago(ids, lag) for lag in range(RECENT_BUCKETS)]
        )
        limits = (now_value, capacity, warn_h, crit_h, state, recent_jump, recent_high)
        target_long, holds_long, eta_long, rate_long = self._verdict(fit, *limits)
        target_fast, holds_fast, eta_fast, rate_fast = self._verdict(fast, *limits)
        # The line since the last bend, where the fill began (a disk flat for hours that
        # starts filling: the window's line takes in the flat hours, stays under its R²
        # and says half the rate).  Searched only while the short fit says the series is
        # rising now, or while it fires (its hysteresis), so a quiet host pays nothing.
        need = math.ceil(self.min_span) + 1
        rising_now = (fast.r2 >= self.min_r_squared) & (fast.slope > 0) & (fit.n > need + 1)
        points = self._window_points(history)  # read once a tick, for whichever asks
        bend = self._fit_since_bend(ids, rising_now | (state > 0), need, points)
        target_bend, holds_bend, eta_bend, rate_bend = self._verdict(bend, *limits)
        good_long = fit.span >= self.min_span
        # The window's line lags a fill that stopped (its hours before hold it under the
        # plateau, and the plateau on it), so it is extrapolated only while the series still
        # follows it: it raises a level only if the last hour of its points still rises at
        # half its slope, within their noise (a disk that took 9 points in a 90-minute copy
        # and then stayed flat: the line reached its R² 83 minutes into the plateau and said
        # "full in 16 h", on and off with noise), and keeps one only while the last two
        # hours rise at a quarter of it (such a fill was held 3 h 37 min after its end).  Two
        # hours: a fill in steps every two hours has flat hours between.  The short line has
        # its own test (below); the line since the bend ends above a plateau that follows it.
        raise_long = good_long & (target_long > state)
        keep_long = holds_long > 0
        if raise_long.any() or keep_long.any():
            hour_rise = self._steepest_recent(ids, raise_long, need, points)
            two_hours_rise = self._steepest_recent(ids, keep_long, 2 * need, points)
            with np.errstate(invalid="ignore"):
                good_long &= ~raise_long | (hour_rise >= 0.5 * fit.slope)
                holds_long = np.where(two_hours_rise >= 0.25 * fit.slope, holds_long, 0)
        # The short fit predicts only while its last minutes still rise as it says: after a
        # ramp that stopped (an application's start, memory 40 -> 75 % in 10 min, then flat)
        # its line still rose, and said "full in 17 min" five minutes into the plateau.
        with np.errstate(invalid="ignore"):
            recent = y - history.history_ago(ids, RECENT_BUCKETS)
        still_rising = recent >= 0.5 * rate_fast / hour * RECENT_BUCKETS
        good_fast = (fast.span >= FAST_MIN_SPAN) & (eta_fast * hour <= fast.span) & still_rising
        still_rising_bend = recent >= 0.5 * rate_bend / hour * RECENT_BUCKETS
        good_bend = (bend.span >= self.min_span) & still_rising_bend
        target = np.maximum.reduce([np.where(good_long, target_long, 0),
                                    np.where(good_fast, target_fast, 0),
                                    np.where(good_bend, target_bend, 0)])  # fmt: skip
        # Hysteresis: keep the current level while any fit still says so.
        target = np.maximum.reduce([target, holds_long, holds_fast, holds_bend]).astype(np.int8)
        # A sample that fell since the last bucket is judged when its bucket closes (a
        # deletion, or a temporary file gone: `_deleted`), not on the fits that still
        # hold what it took away (each temporary file's end resolved the fill, and its
        # bucket fired it again a minute later).
        with np.errstate(invalid="ignore"):
            falling = y - now_value > DROP_POINTS
        target = np.where(falling & (state > 0), np.maximum(target, state), target).astype(np.int8)
        # A level taken back waits for a fit that may judge it (without the tier's file, an
        # hour): then it is said again, or changed.
        resumed = s.resumed[ids]
        judged = resumed & (good_long | good_fast | dropped)
        target = np.where(resumed & ~judged, state, target).astype(np.int8)
        again = judged & (target == state)
        s.resumed[ids[judged]] = False
        per_hour_now = np.where(good_long, rate_long, np.where(good_bend, rate_bend, rate_fast))
        for i in np.flatnonzero((target > 0) & (state == 0)).tolist():
            if self._daily_cycle(int(ids[i]), float(now_value[i]), float(per_hour_now[i]), history):
                target[i] = 0
        # The message's ETA: of the fit that decided the level; the line since the bend's
        # rather than the window's when it fits its points better (the window's is bent);
        # the window's rather than the short one's (more evidence); a level the hysteresis
        # alone keeps (said again after a restart), of the fit that keeps it.
        decided_long = good_long & (target_long >= target)
        decided_fast = good_fast & (target_fast >= target)
        decided_bend = good_bend & (target_bend >= target)
        held = target > 0
        which = np.select(
            [decided_bend & (~decided_long | (bend.r2 > fit.r2)), decided_long, decided_fast,
             held & (holds_fast >= target), held & (holds_bend >= target)],
            [2, 0, 1, 1, 2], 0,
        )  # fmt: skip
        eta = np.choose(which, [eta_long, eta_fast, eta_bend])
        per_hour = np.choose(which, [rate_long, rate_fast, rate_bend])
        r2 = np.choose(which, [fit.r2, fast.r2, bend.r2])
        alerts = []
        for i in np.flatnonzero((target != state) | again).tolist():
            before = 0 if again[i] else int(state[i])  # said again: a FIRING at its level
            alerts.append(self._alert(int(ids[i]), before, int(target[i]), float(now_value[i]), float(eta[i]),
                                      float(per_hour[i]), float(r2[i]), batch.timestamp, history))  # fmt: skip
        s.state[ids] = target
        self._rebase(history)
        return alerts

    def _window_points(self, history: History) -> Callable[[int], tuple[FloatArray, FloatArray]]:
        """One series' points the window's fit holds (`SlidingRegression.points`: from the
        last deletion, without a temporary file's), read at most once in this tick: a
        firing series is asked for its bend and for how its last hours rise."""
        read: dict[int, tuple[FloatArray, FloatArray]] = {}

        def points(sid: int) -> tuple[FloatArray, FloatArray]:
            if sid not in read:
                since = float(self.s.since[sid])
                read[sid] = self.regression.points(sid, history, self.resolution, since)
            return read[sid]

        return points

    def _fit_since_bend(self, ids: IntArray, asked: npt.NDArray[np.bool_], need: int,
                        points: Callable[[int], tuple[FloatArray, FloatArray]]) -> Fit:  # fmt: skip
        """For the `asked` series, the least-squares line over the points since the last
        bend of the window (`line_since_bend`), the same points the window's fit holds (from
        the last deletion, without a temporary file's); NaN slope where there is no bend."""
        n, span = np.zeros(ids.size), np.zeros(ids.size)
        slope, level, r2 = np.full(ids.size, np.nan), np.full(ids.size, np.nan), np.zeros(ids.size)
        scatter = np.full(ids.size, np.nan)
        for i in np.flatnonzero(asked).tolist():
            k, y = points(int(ids[i]))
            begin = line_since_bend(k, y, need, self.min_span)
            if begin == 0:
                continue  # the window's line is the line
            k, y = k[begin:], y[begin:]
            x, v = k - k.mean(), y - y.mean()
            sxx, sxy, syy = float((x * x).sum()), float((x * v).sum()), float((v * v).sum())
            n[i], slope[i] = k.size, sxy / sxx
            level[i] = float(y.mean()) + slope[i] * float(x[-1])
            r2[i] = sxy * sxy / (sxx * syy) if syy > 0 else 0.0
            span[i] = float(k[-1] - k[0])
            scatter[i] = scatter_about(k, y, slope[i])
        return Fit(n, slope, level, r2, span, scatter)

    def _steepest_recent(self, ids: IntArray, asked: npt.NDArray[np.bool_], count: int,
                         points: Callable[[int], tuple[FloatArray, FloatArray]]) -> FloatArray:  # fmt: skip
        """For the `asked` series, the steepest slope (`steepest_slope`) of the last `count`
        points the window's fit holds (points, not time, as the line since the bend counts
        them); inf elsewhere."""
        steepest = np.full(ids.size, np.inf)
        for i in np.flatnonzero(asked).tolist():
            k, y = points(int(ids[i]))
            steepest[i] = steepest_slope(k[-count:], y[-count:])
        return steepest

    def _deleted(self, ids: IntArray, y: FloatArray, history: History) -> npt.NDArray[np.bool_]:
        """Which series fell in this bucket by what a deletion takes away: more than
        `DROP_POINTS` since the bucket before and more than the series' noise
        (`out_of_noise`: on a memory series that moves by a point a minute, a chance fall
        reset the fit, whose few points then made the next one a deletion too, and a leak
        was resolved at 94 %), and to below the fitted line by more than half that fall
        and than three times the points' scatter about it (a disk that fills in steps
        stands below its line by half a step before the next: a noisy fall there was a
        deletion, and resolved the fill).  A fall back to the line is a temporary file gone
        (a sort's spill, a staging copy every 40 minutes during a steady fill): its rise
        was never the trend, and starting afresh at each such fall kept the fit from ever
        spanning its hour (the fill went unreported), or resolved and fired it again at
        every cleanup."""
        with np.errstate(invalid="ignore"):
            fall = history.history_ago(ids, 1) - y
            fell = fall > DROP_POINTS
        if not fell.any():
            return fell
        for i in np.flatnonzero(fell).tolist():
            sid = int(ids[i])
            times, values = history.history_window(sid, last=BUMP_BUCKETS + 2)
            buckets = np.round(times / self.resolution)
            if self._temporary(sid, buckets, values):
                fell[i] = False
            elif fall[i] <= out_of_noise(beyond_growth(buckets[:-1], values[:-1])):
                fell[i] = False  # the series' own noise
        k_now = np.round(history.history_time_ago(ids[fell], 0) / self.resolution)
        line = self.regression.fit(ids[fell], k_now - self.regression.s.origin[ids[fell]])
        with np.errstate(invalid="ignore"):
            below = np.fmax(np.maximum(DROP_POINTS, fall[fell] / 2), 3 * line.scatter)
            back_to_line = y[fell] >= line.level - below
        fell[np.flatnonzero(fell)[back_to_line]] = False  # no line yet (NaN): a deletion
        return fell

    def _temporary(self, sid: int, buckets: FloatArray, values: FloatArray) -> bool:
        """Whether the fall into the newest bucket is a temporary file gone
        (`temporary_bump`); if so its buckets are taken out of both fits, which the file's
        plateau otherwise held under their R² for hours (a 10-point file for 30 minutes
        silenced a firing fill for six hours), and from which it pulled the line up so
        that every removal looked like a deletion (a 4-point file every 25 minutes: no
        alert until the disk was full).  `buckets`, `values`: the series' last points."""
        start = temporary_bump(buckets, values)
        if start is None:
            return False
        self._exclude(sid, buckets[start:-1], values[start:-1])
        return True

    def _exclude(self, sid: int, buckets: FloatArray, values: FloatArray) -> None:
        self.regression.exclude(sid, buckets, values)
        self.fast.exclude(sid, buckets, values)

    def _exclude_taken_back(self, sid: int, history: History) -> None:
        """The temporary files in a history taken back after a restart, out of its fits
        as one life took them out."""
        times, values = history.history_window(sid, last=self.window + 1)
        buckets = np.round(times[:-1] / self.resolution)  # the newest is added as usual
        values = values[:-1]
        after = buckets >= self.s.since[sid]
        buckets, values = buckets[after], values[after]
        for i in np.flatnonzero(values[:-1] - values[1:] > DROP_POINTS).tolist():
            lo = max(0, i - BUMP_BUCKETS)
            start = temporary_bump(buckets[lo : i + 2], values[lo : i + 2])
            if start is not None:
                self._exclude(sid, buckets[lo + start : i + 1], values[lo + start : i + 1])

    def _last_deletion(self, sid: int, history: History) -> float:
        """The bucket after the last deletion in the whole history tier (-inf if none): one
        older than the fit's window still says when the day's cycle began (a log rotated
        16 hours before a restart was otherwise forgotten, and the afternoon warned)."""
        times, values = history.history_window(sid)
        if values.size <= self.window + 2:
            return -np.inf  # the fit's own take-back looked at all of it
        buckets = np.round(times[:-1] / self.resolution)  # the newest is added as usual
        begin = self._fit_starts(buckets, values[:-1])
        return float(buckets[begin]) if begin > 0 else -np.inf

    def _daily_cycle(self, sid: int, value: float, per_hour: float, history: History) -> bool:
        """Whether a fill about to fire is the day's cycle: the fit started at a deletion
        less than a day ago (give or take `DAY_TOLERANCE_SECS`) from at least this level,
        and about a day ago the series stood where it stands now, within two points (a
        log rotated every night: 60 % to 85 % over the day said "full in 24 h" every
        afternoon, repeated it and resolved at the rotation, for a disk that never
        passed 85 %).  A fill faster than yesterday's, one that outgrows
        the level given back, or one after a one-off cleanup (a day ago the disk stood
        far higher) is news; the threshold's levels still say when a cycle's peak
        crosses them."""
        since = float(self.s.since[sid])
        if not math.isfinite(since):
            return False
        times, values = history.history_window(sid)
        if times.size == 0 or times[-1] - since * self.resolution > DAY_SECS + DAY_TOLERANCE_SECS:
            return False
        before = values[np.round(times / self.resolution) < since]
        # Up to the level given back, give or take noise and the growth of a rotation a
        # little later than the day before.
        slack = min(max(DROP_POINTS / 2, per_hour * DAY_TOLERANCE_SECS / 3600), 5 * DROP_POINTS)
        if before.size == 0 or float(before.max()) + slack < value:
            return False
        day_ago = np.abs(times - (times[-1] - DAY_SECS)) <= DAY_TOLERANCE_SECS
        if not day_ago.any():
            return False
        tolerance = 2 * DROP_POINTS  # the window of ± 2 h already takes a shifted phase
        return float(np.abs(values[day_ago] - value).min()) <= tolerance

    def _fit_starts(self, buckets: FloatArray, values: FloatArray) -> int:
        """The index of the first point after the last deletion among a history taken
        back: each fall judged as `_deleted` judges it live, against the line fitted
        (over at most the window) to the points since the deletion before it, without the
        temporary files' (a restart took their scatter for the line's and forgot a real
        deletion)."""
        begin = 0
        filed = np.zeros(values.size, dtype=bool)  # a temporary file's points: out of the line
        for i in np.flatnonzero(values[:-1] - values[1:] > DROP_POINTS).tolist():
            lo = max(begin, i - BUMP_BUCKETS)
            start = temporary_bump(buckets[lo : i + 2], values[lo : i + 2])
            if start is not None:
                filed[lo + start : i + 1] = True
                continue  # a temporary file gone
            fall = float(values[i] - values[i + 1])
            noise_from = max(0, i - BUMP_BUCKETS)  # the points live judges it with
            steps = beyond_growth(buckets[noise_from : i + 1], values[noise_from : i + 1])
            if fall <= out_of_noise(steps):
                continue  # the series' own noise
            first = max(begin, i + 1 - self.window)
            kept = ~filed[first : i + 1]
            k, v = buckets[first : i + 1][kept], values[first : i + 1][kept]
            if k.size < 2 or np.ptp(k) == 0:
                begin = i + 1  # no line yet: a deletion
                continue
            slope, level = line_through(k, v)
            line = level + slope * (buckets[i + 1] - k[-1])
            if values[i + 1] < line - max(DROP_POINTS, fall / 2, 3 * scatter_about(k, v, slope)):
                begin = i + 1
        return begin

    def _verdict(
        self,
        fit: Fit,
        now_value: FloatArray,
        capacity: FloatArray,
        warn_h: FloatArray,
        crit_h: FloatArray,
        state: npt.NDArray[np.int8],
        recent_jump: FloatArray,
        recent_high: FloatArray,
    ) -> tuple[IntArray, IntArray, FloatArray, FloatArray]:
        """(level the fit asks for, level its hysteresis keeps, ETA in hours, growth per hour);
        `recent_jump`: the last one-bucket jump within `BUMP_BUCKETS`, else 0;
        `recent_high`: the highest of the last `RECENT_BUCKETS` buckets."""
        per_hour = fit.slope * 3600 / self.resolution
        with np.errstate(invalid="ignore", divide="ignore"):
            eta = np.where(per_hour > 0, np.maximum(capacity - now_value, 0.0) / per_hour, np.inf)
            on_line = now_value >= fit.level - DROP_POINTS
        rising = (per_hour > 0) & on_line
        good = (fit.r2 >= self.min_r_squared) & rising
        target = np.where(good & (eta <= crit_h), 2, np.where(good & (eta <= warn_h), 1, 0))
        # Hysteresis: keep the current level until the ETA moves well past its horizon.
        # A value above the line by a recent jump (a temporary file on a filling disk, its
        # buckets in the fit until it goes) is no reason to say the fill stopped: held too.
        # Not a plateau after a ramp, which stands above the lagging line by more than its
        # last jump (a second reader's case: "full in 12 h, R² 0.19" of a flat disk).
        with np.errstate(invalid="ignore"):
            above_line = (
                (per_hour > 0)
                & (now_value > fit.level + DROP_POINTS)
                & (now_value - recent_jump <= fit.level + DROP_POINTS)
            )
        # A firing fill is held while its last minutes stay within the points' own scatter
        # about the line: a disk that fills in steps (a backup every two hours) stands below
        # its line by half a step before the next, and was resolved and fired again at each
        # step, twelve times a day; one noisy sample below it is no end of the fill either.
        with np.errstate(invalid="ignore"):
            near_line = recent_high >= fit.level - np.fmax(DROP_POINTS, 2 * fit.scatter)
        holds = ((per_hour > 0) & near_line & (fit.r2 >= self.min_r_squared - 0.1)) | above_line
        # The ETA that keeps a level counts from the highest of the last minutes: from the
        # newest sample alone, a memory series that moves by a point a minute crossed 1.5 h
        # to full and back and went from critical to warn and back nine times in 40 min.
        with np.errstate(invalid="ignore", divide="ignore"):
            eta_high = np.where(
                per_hour > 0, np.maximum(capacity - recent_high, 0.0) / per_hour, np.inf
            )
        keep_crit = (state == 2) & holds & (eta_high <= 1.5 * crit_h)
        keep_warn = (state >= 1) & holds & (eta_high <= 1.5 * warn_h)
        keep = np.where(keep_crit, 2, np.where(keep_warn, 1, 0))
        return target.astype(np.int64), keep.astype(np.int64), eta, per_hour

    def _alert(self, sid: int, before: int, after: int, value: float, eta: float, per_hour: float, r2: float,
               now: float, history: History) -> Alert:  # fmt: skip
        key = history.key(sid)
        where = ", ".join(f"{k}={v}" for k, v in key.labels)
        subject = f"{key.metric} ({where})" if where else key.metric
        status, severity = transition(before, after)
        capacity = float(self.s.capacity[sid])
        now_text = format_metric(key.metric, value, against=capacity)  # 99.952%, not 100.0%
        context: dict[str, object] = {}
        if after == 0:
            message = f"{subject} is no longer predicted to fill up soon ({now_text} now)"
        else:
            # Why this severity: the horizon the ETA fell within.
            horizon = float(self.s.crit_h[sid] if after == 2 else self.s.warn_h[sid])
            why = f"{severity.label}: full within {horizon:g} h"
            if eta > horizon:  # kept by the hysteresis (a level said again after a restart)
                why += f", held until the estimate passes {1.5 * horizon:g} h"
            message = (
                f"{subject} will be full in {human_duration(eta)} (now {now_text}, "
                f"growing {format_value(per_hour)} points/h, R² {r2:.2f}; {why})"
            )
            # A resolve has no estimate: its fit no longer says the series fills.
            context = {"eta_hours": round(eta, 3) if math.isfinite(eta) else None,
                       "rate_per_hour": round(per_hour, 4), "r_squared": round(r2, 3)}  # fmt: skip
        return Alert(analyzer=self.name, metric=key.metric, labels=key.labels, status=status, severity=severity,
                     value=value, threshold=capacity, message=message, timestamp=now, series_id=sid,
                     context=context)  # fmt: skip

    def _rebase(self, history: History) -> None:
        watched = np.flatnonzero(np.isfinite(self.s.capacity[: self.s.size]))
        if watched.size == 0:
            return
        per_tick = self.rebase_per_tick
        if per_tick is None:  # each series about once every ten windows
            per_tick = -(-watched.size // (10 * self.window))
        start = self._cursor % watched.size
        chosen = watched[start : start + per_tick]
        self._cursor = start + chosen.size
        for sid in chosen.tolist():
            since = float(self.s.since[sid])  # the fit starts there: nothing before it counts
            try:
                self.regression.rebase(sid, history, self.resolution, since)
                self.fast.rebase(sid, history, self.resolution, since)
            except KeyError:
                continue


PLUGIN = AnalyzerPlugin(
    name="trend",
    order=40,
    build=lambda settings, _watch_everything: TrendAnalyzer(
        settings.analyzer.trend_window_hours,
        settings.storage.history_resolution_secs,
        settings.analyzer.trend_min_span_hours,
        settings.analyzer.trend_min_r_squared,
    ),
    history=lambda _settings, _everything: tuple(FILLING),
    judges_closed_buckets=True,
    # Its hour of fit, from the first bucket closed after the start.
    confirm_after_restart_secs=lambda s: (
        s.analyzer.trend_min_span_hours * 3600.0 + 2 * s.storage.history_resolution_secs
    ),
)
