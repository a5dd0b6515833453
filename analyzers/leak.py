"""Leak detection: a process whose memory or open files keep growing.

Cheap test first, on every closed history bucket (O(1) per series): over the
regression window, at least `min_observation_hours` of data, a slope above a
minimum growth rate (so 4 kB/h is not a leak), and R² >= `r_squared`.  Only a
candidate gets the robust test, computed with numpy on its history window (no
scipy in the daemon: importing scipy.stats costs ~73 MB and 1.5 s): the
Mann-Kendall trend test (one-sided p-value, normal approximation) and the
Theil-Sen slope, which a garbage collector's sawtooth does not fool.  Nor is a
growth a leak when it is levelling off (its last third of the window grows at under
half the whole's rate: a heap warming up) or when the series, within the day the
history tier holds, fell at once by half what the window grew twice or more (memory
given back every few hours: an old generation collected, a cache flushed).

Severity comes from the projected time until the limit: RLIMIT_NOFILE
(`process_max_fds`) for open files, total memory for RSS, fs.file-max for
system-wide handles.  A restarted process has a new pid, so a new series.

A firing leak is looked at again every `RECHECK_BUCKETS` (staggered by series):
it is raised (ESCALATED, never lowered) when its limit has come within a nearer
horizon, and it resolves when the last third of its window is flat (spread under
a quarter of what the leak grew in as long) or grows at under half its rate
beyond three standard errors (`levelled`): a cache at its size, a warm-up that
ended; not when the day the tier holds shows such a pause before, followed by
growth (a leak by steps, or under load only: `stopped_growing`).  Else it
resolves when the window's slope falls under half the minimum growth.  A leak
at its limit (`AT_LIMIT`) is never resolved: it stopped because it cannot grow.

Across a restart the fits come back with the history tier, and the severity
of a leak announced before it (the router's open episodes, `resume`): a
series starts firing at that severity, so it resolves only when its growth
stops, as in one life (a fit that weakened below the cheap test, though not
enough to resolve, would otherwise never be raised again: a RESOLVED, then a
new FIRING if it strengthens).  Once its fit spans `min_observation_hours`,
it is said again at that severity (the router continues the episode), or
resolved.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from alerting.alert import Alert, Severity, Status
from analyzers.base import Batch, FloatArray, History, SeriesArrays, SeriesKey
from analyzers.registry import AnalyzerPlugin
from analyzers.regression import SlidingRegression
from analyzers.threshold import format_value
from analyzers.trend import human_duration


@dataclass(frozen=True)
class LeakKind:
    what: str
    min_growth_per_hour: float
    limit_metric: str  # the series holding the limit
    limit_same_labels: bool  # the limit series has the same labels (per process) or none


DEFAULT_KINDS: Mapping[str, LeakKind] = {
    "process_rss_bytes": LeakKind("memory", 1024 * 1024, "memory_total_bytes", False),
    "process_open_fds": LeakKind("open files", 2.0, "process_max_fds", True),
    "fd_allocated": LeakKind("system file handles", 100.0, "fd_max", False),
}
CRITICAL_WITHIN_HOURS = 6.0
WARN_WITHIN_HOURS = 48.0
RECHECK_BUCKETS = 10  # a candidate the robust test rejected is re-tested this much later
AT_LIMIT = 0.98  # of its limit: a leak standing there cannot grow, and is not resolved
# A limit further than this at the rate seen is not said with a date, nor in the facts' "Full in".
OUT_OF_REACH_HOURS = 366 * 24.0
# LONG_MAX, the kernel's "no limit" (fs.file-max as systemd sets it since v240): a limit
# this high, read as a float, is none.
KERNEL_NO_LIMIT = float(2**63 - 1)


# The robust test's memory is bounded whatever the window: all n² pairs at once
# would take ~50 MB for a day of minutes, for a moment the operator sees as RSS.
PAIR_BLOCK_ELEMENTS = 32_768  # ~256 kB per temporary array
THEIL_SEN_MAX_POINTS = 400  # ~80,000 slopes (640 kB); longer windows are averaged down


def mann_kendall(values: FloatArray) -> tuple[float, float]:
    """(Kendall's tau, one-sided p-value that the series does not increase)."""
    n = values.size
    if n < 3:
        return 0.0, 1.0
    s = 0.0
    rows = max(1, PAIR_BLOCK_ELEMENTS // n)
    for start in range(0, n - 1, rows):
        stop = min(start + rows, n - 1)
        # Row r (pair index i = start + r) against j > i: column c = j - start - 1 >= r.
        diff = values[None, start + 1 :] - values[start:stop, None]
        s += float(np.sign(np.triu(diff)).sum())
    var = n * (n - 1) * (2 * n + 5) / 18.0
    z = (s - 1) / math.sqrt(var) if s > 0 else 0.0
    return s / (n * (n - 1) / 2), 0.5 * math.erfc(z / math.sqrt(2))


def theil_sen(times: FloatArray, values: FloatArray) -> float:
    """Median of the pairwise slopes (per unit of `times`).

    Beyond THEIL_SEN_MAX_POINTS points, consecutive points are averaged into that
    many groups first: the slope of a straight line is unchanged, and a sawtooth
    averages out within a group instead of costing n² memory.
    """
    if times.size > THEIL_SEN_MAX_POINTS:
        groups = np.array_split(np.arange(times.size), THEIL_SEN_MAX_POINTS)
        times = np.array([times[g].mean() for g in groups])
        values = np.array([values[g].mean() for g in groups])
    n = values.size
    slopes = np.empty(n * (n - 1) // 2)
    filled = 0
    for i in range(n - 1):
        dt = times[i + 1 :] - times[i]
        keep = dt > 0
        count = int(keep.sum())
        slopes[filled : filled + count] = (values[i + 1 :][keep] - values[i]) / dt[keep]
        filled += count
    return _median(slopes[:filled]) if filled else 0.0


def levelling_off(times: FloatArray, values: FloatArray, rate: float) -> bool:
    """Whether the growth is dying away: the last third of the window grows at under
    half the whole's rate (a heap warming up, a cache filling to its size: at an
    hour, a JVM's warm-up was "1.29 GiB/h" and stayed a leak for two hours after it
    levelled).  A leak grows as fast at the end as before, or faster."""
    third = values.size // 3
    if third < 3:
        return False
    return theil_sen(times[-third:] / 3600.0, values[-third:]) < rate / 2


def _spread(values: FloatArray) -> float:
    """From the 10th to the 90th percentile (without numpy.percentile, which imports
    numpy.ma)."""
    ordered = np.sort(values)
    return float(ordered[(9 * ordered.size) // 10] - ordered[ordered.size // 10])


def stopped_growing(
    times: FloatArray, values: FloatArray, rate: float, day_times: FloatArray, day: FloatArray
) -> bool:
    """Whether a firing leak has stopped (its look): over the last third of its window
    (`times`, `values`) the series spread less than a quarter of what its rate (Theil-Sen,
    per hour) grows in as long, or grew at under half that rate beyond doubt
    (`levelled`): a plateau, or a warm-up that flattened.  A garbage collector's sawtooth
    spreads its teeth whatever the floor does, and a leak goes on growing by its rate.
    Not when the day the history tier holds (`day_times`, `day`) shows such a pause before,
    followed
    by growth: a leak that grows under load only, or by steps, pauses and goes on (each
    pause resolved it, and the next step fired it again: a second reader's case)."""
    third = values.size // 3
    if third < 3:
        return False
    grown = rate * (times[-1] - times[-third]) / 3600.0
    if grown <= 0:
        return False

    def paused(when: FloatArray, seen: FloatArray) -> bool:
        return _spread(seen) < grown / 4 or levelled(when, seen, rate)

    if not paused(times[-third:], values[-third:]):
        return False
    earlier_t, earlier = day_times[:-third], day[:-third]
    for start in range(0, earlier.size - third, max(1, third // 2)):
        stop = start + third
        # A pause before the growth counts too: a leak by steps from the start looks, at
        # its second step, like quiet hours and then a one-off fill, which then resolves
        # as late as the window's slope says (hours), not at once.
        grew_after = float(earlier[stop:].max()) > float(earlier[start:stop].max()) + grown / 4
        if grew_after and paused(earlier_t[start:stop], earlier[start:stop]):
            return False
    return True


def levelled(times: FloatArray, values: FloatArray, rate: float) -> bool:
    """Whether these (recent) points grow at under half `rate`, beyond doubt: by more than
    three standard errors of their Theil-Sen slope, from the spread of the points about
    it.  A firing leak's look: a warm-up that flattened resolves, while the recent slope
    of a noisy leak, which can fall below half its rate by chance (one look in twenty at
    40 MB of noise on 40 MiB/h), does not."""
    hours = times / 3600.0
    slope = theil_sen(hours, values)
    residuals = values - slope * hours
    sigma = 1.4826 * _median(np.abs(residuals - _median(residuals)))
    stderr = sigma * math.sqrt(12.0 / values.size) / max(float(np.ptp(hours)), 1e-9)
    return rate / 2 - slope > 3 * stderr


CYCLE_FALLS = 2  # falls in the day that make growth a cycle: one is a one-off release


def gives_back(values: FloatArray, growth: float) -> bool:
    """Whether the series, in the history tier (a day), fell at once by half what it grew
    over the window at least `CYCLE_FALLS` times: memory given back again and again (an
    old generation collected every few hours, a cache flushed) is a cycle, not a leak.
    Its first teeth, with fewer falls seen, are news; so is a leak after one release (a
    pool freed once, then growth: a second reader's case, unreported for a day when one
    fall was enough)."""
    if values.size < 2 or growth <= 0:
        return False
    return int(np.count_nonzero(values[:-1] - values[1:] >= growth / 2)) >= CYCLE_FALLS


def _median(values: FloatArray) -> float:
    """np.median without numpy.ma, which np.median imports (~1.4 MB resident)."""
    n = values.size
    middle = n // 2
    if n % 2:
        return float(np.partition(values, middle)[middle])
    low_high = np.partition(values, (middle - 1, middle))
    return float(low_high[middle - 1] + low_high[middle]) / 2


class LeakAnalyzer:
    name = "leak"

    def __init__(
        self,
        window_hours: float = 6.0,
        resolution_secs: float = 60.0,
        min_observation_hours: float = 1.0,
        r_squared: float = 0.8,
        kinds: Mapping[str, LeakKind] = DEFAULT_KINDS,
        p_value: float = 0.01,
    ) -> None:
        self.resolution = resolution_secs
        self.window = max(3, round(window_hours * 3600 / resolution_secs))
        self.min_span = min_observation_hours * 3600 / resolution_secs
        self.r_squared = r_squared
        self.kinds = dict(kinds)
        self.p_value = p_value
        self.regression = SlidingRegression(self.window)
        self.s = SeriesArrays(
            known=(bool, False),
            watched=(bool, False),
            min_growth=(np.float64, np.inf),
            state=(np.int8, 0),  # 0 quiet, else the severity + 1
            rejected_at=(np.float64, -np.inf),
            looked_at=(np.float64, -np.inf),  # a firing leak's last look
            resumed=(bool, False),  # its severity was taken back at start-up: say where it stands
        )
        self._resumed: dict[SeriesKey, int] = {}  # states taken back, until the series is seen

    def resume(self, alerts: Iterable[Alert]) -> None:
        """Its alerts that were firing when the agent stopped (the router's open episodes):
        each series starts firing at that severity (see the module docstring)."""
        for alert in alerts:
            self._resumed[SeriesKey(alert.metric, alert.labels)] = int(alert.severity) + 1

    def end_resume(self) -> list[SeriesKey]:
        """The look for unreported series is over: a state taken back for a series not seen
        (a process gone: a new one has a new pid) is dropped.  Every kind can be judged."""
        self._resumed.clear()
        return []

    def forget(self, series_ids: Iterable[int]) -> None:
        ids = list(series_ids)
        self.s.reset(ids)
        self.regression.reset(ids)

    def observe(self, batch: Batch, history: History) -> list[Alert]:
        if batch.closed is None or not batch.closed.any():
            return []
        s = self.s
        s.ensure(batch.ids)
        for sid in batch.ids[~s.known[batch.ids]].tolist():
            s.known[sid] = True
            key = history.key(sid)
            kind = self.kinds.get(key.metric)
            if kind is not None:
                s.watched[sid], s.min_growth[sid] = True, kind.min_growth_per_hour
                state = self._resumed.pop(key, 0)
                s.state[sid], s.resumed[sid] = state, state > 0
        mask = batch.closed & s.watched[batch.ids]
        if not mask.any():
            return []
        ids = batch.ids[mask]
        bucket = math.floor(batch.timestamp / self.resolution) - 1
        self.regression.take_back(ids, history, self.resolution)
        y = history.history_ago(ids, 0)
        fit = self.regression.add_newest(ids, history, self.resolution)
        per_hour = fit.slope * 3600 / self.resolution
        candidate = (
            (fit.span >= self.min_span)
            & (per_hour >= s.min_growth[ids])
            & (fit.r2 >= self.r_squared)
        )
        state = s.state[ids]
        # A firing leak resolves when growth stops or the line no longer fits at all.
        stopped = (state > 0) & (
            (per_hour < s.min_growth[ids] / 2) | (fit.r2 < self.r_squared - 0.3)
        )
        fresh = candidate & (state == 0) & (bucket - s.rejected_at[ids] >= RECHECK_BUCKETS)
        # A state taken back waits for a fit of its observation time: then it resolves, or
        # is said again at its severity.
        resumed = s.resumed[ids]
        judged = resumed & (fit.span >= self.min_span)
        stopped &= ~resumed | judged
        again = judged & ~stopped
        s.resumed[ids[judged]] = False
        # A firing leak is looked at again every RECHECK_BUCKETS (staggered by series, so
        # that workers leaking together are not all looked at in one tick): nearer its
        # limit it is raised (a leak at info two days before the limit was still info
        # minutes before it), and once flat it resolves (the window's slope took hours).
        look = (state > 0) & ~stopped & ~resumed & (bucket - s.looked_at[ids] >= RECHECK_BUCKETS)
        alerts = []
        for i in np.flatnonzero(fresh | stopped | again | look).tolist():
            sid = int(ids[i])
            if stopped[i] and not self._at_limit(sid, float(y[i]), history):
                alerts.append(self._resolved(sid, float(y[i]), batch.timestamp, history))
                s.state[sid] = 0
                continue
            if stopped[i]:
                continue  # at its limit: it cannot grow, and has not stopped leaking
            if look[i]:
                s.looked_at[sid] = bucket
                seen = self._look(sid, float(y[i]), float(fit.level[i]), float(fit.r2[i]),
                                  batch.timestamp, history)  # fmt: skip
                if seen is not None:
                    alerts.append(seen)
                    resolved = seen.status is Status.RESOLVED
                    s.state[sid] = 0 if resolved else int(seen.severity) + 1
                continue
            kept = Severity(int(state[i]) - 1) if again[i] else None
            alert = self._confirm(sid, float(y[i]), float(fit.level[i]), float(fit.r2[i]),
                                  batch.timestamp, history, kept)  # fmt: skip
            if alert is None:
                s.rejected_at[sid] = bucket
            else:
                alerts.append(alert)
                s.state[sid] = int(alert.severity) + 1
                # Its looks, every RECHECK_BUCKETS from here, staggered by series: workers
                # that began leaking together are not all looked at in one tick.
                s.looked_at[sid] = bucket - sid % RECHECK_BUCKETS
        return alerts

    def _look(
        self, sid: int, value: float, level: float, r2: float, now: float, history: History
    ) -> Alert | None:
        """A firing leak's look: its RESOLVED once it has stopped (`stopped_growing`, never
        at its limit), its ESCALATED when its limit has come nearer than its severity says
        (never lower: a leak does not get better while it grows), else None."""
        all_times, all_values = history.history_window(sid)
        times, values = all_times[-self.window :], all_values[-self.window :]
        rate = theil_sen(times / 3600.0, values)
        if not self._at_limit(sid, value, history) and stopped_growing(
            times, values, rate, all_times, all_values
        ):
            return self._resolved(sid, value, now, history)
        key = history.key(sid)
        natural, _eta = _severity_by(self._limit(key, history), level, rate)
        if int(natural) + 1 <= int(self.s.state[sid]):
            return None
        alert = self._confirm(sid, value, level, r2, now, history, test=False)  # its words
        return None if alert is None else replace(alert, status=Status.ESCALATED)

    def _limit(self, key: SeriesKey, history: History) -> float | None:
        kind = self.kinds[key.metric]
        return history.latest_of(
            SeriesKey(kind.limit_metric, key.labels if kind.limit_same_labels else ())
        )

    def _at_limit(self, sid: int, value: float, history: History) -> bool:
        """Whether the series stands at its limit: an fd leak at RLIMIT_NOFILE stops growing
        because every open fails (EMFILE), which is no reason to resolve it."""
        limit = self._limit(history.key(sid), history)
        return limit is not None and value >= AT_LIMIT * limit

    def _confirm(
        self, sid: int, value: float, level: float, r2: float, now: float, history: History,
        kept: Severity | None = None, test: bool = True,
    ) -> Alert | None:  # fmt: skip
        """The robust test, run only for candidates: the leak's FIRING, or None (rejected).
        A severity `kept` across a restart is said again whatever the test says now: in
        one life a firing leak is not tested again (it resolves when its growth stops);
        without `test`, the FIRING its growth and limit say now (a firing leak's look)."""
        all_times, all_values = history.history_window(sid)
        times, values = all_times[-self.window :], all_values[-self.window :]
        tau, p = mann_kendall(values)
        rate = theil_sen(times / 3600.0, values)  # per hour
        key = history.key(sid)
        kind = self.kinds[key.metric]
        if (
            test
            and kept is None
            and (
                p > self.p_value
                or rate < kind.min_growth_per_hour
                or levelling_off(times, values, rate)
                or gives_back(all_values, rate * (times[-1] - times[0]) / 3600.0)
            )
        ):
            return None
        limit = self._limit(key, history)
        natural, eta = _severity_by(limit, level, rate)
        # Why this severity, in the message: the time to the limit decides it.
        why = (
            f"critical: its limit within {CRITICAL_WITHIN_HOURS:g} h" if natural is Severity.CRITICAL
            else f"warn: its limit within {WARN_WITHIN_HOURS:g} h" if limit is not None and eta <= WARN_WITHIN_HOURS
            else "warn: no limit known" if limit is None
            else f"info: its limit more than {WARN_WITHIN_HOURS:g} h away"
        )  # fmt: skip
        severity = natural if kept is None else kept
        if severity is not natural:
            why = f"{severity.label}: as announced before the restart (by its limit now: {natural.label})"
        who = _who(key)
        shown_rate = format_value(key.metric, rate)
        span_h = (times[-1] - times[0]) / 3600.0 if times.size else 0.0
        # A limit out of reach is said so, without a date thousands of years away nor the
        # kernel's LONG_MAX (read through a float, one more than it is) as a number.
        no_limit = limit is not None and limit >= KERNEL_NO_LIMIT
        in_reach = bool(limit) and not no_limit and eta <= OUT_OF_REACH_HOURS
        shown_limit = format_value(key.metric, limit, value) if limit else ""
        limit_text = (
            f"; its limit ({shown_limit}) in {human_duration(eta)}" if in_reach
            else "; no limit within reach (the kernel's largest value, LONG_MAX)" if no_limit
            else f"; no limit within reach (its limit, {shown_limit}, more than a year away)" if limit
            else ""
        )  # fmt: skip
        message = (
            f"{who}: {kind.what} has grown {shown_rate}/h for {human_duration(span_h)} "
            f"(now {format_value(key.metric, value, limit if shown_limit else None)}, R² {r2:.2f}, "
            f"Kendall τ {tau:.2f}){limit_text} "
            f"({why})"
        )
        return Alert(analyzer=self.name, metric=key.metric, labels=key.labels, status=Status.FIRING,
                     severity=severity, value=value, threshold=None if no_limit else limit, message=message,
                     timestamp=now, series_id=sid,
                     context={"rate_per_hour": rate, "r_squared": round(r2, 3), "kendall_tau": round(tau, 3),
                              "p_value": p, "eta_hours": eta if in_reach else None,
                              "severity_reason": why})  # fmt: skip

    def _resolved(self, sid: int, value: float, now: float, history: History) -> Alert:
        key = history.key(sid)
        severity = Severity(int(self.s.state[sid]) - 1)
        message = f"{_who(key)}: {self.kinds[key.metric].what} stopped growing ({format_value(key.metric, value)})"
        return Alert(
            analyzer=self.name, metric=key.metric, labels=key.labels, status=Status.RESOLVED,
            severity=severity, value=value, threshold=None, message=message, timestamp=now, series_id=sid,
        )  # fmt: skip


def _severity_by(limit: float | None, level: float, rate: float) -> tuple[Severity, float]:
    """(severity, hours to the limit) of a leak at `level` growing `rate` per hour."""
    eta = (limit - level) / rate if limit is not None and limit > level and rate > 0 else math.inf
    if limit is not None and level >= limit:
        eta = 0.0
    severity = (
        Severity.CRITICAL if eta <= CRITICAL_WITHIN_HOURS
        else Severity.WARN if eta <= WARN_WITHIN_HOURS or limit is None
        else Severity.INFO
    )  # fmt: skip
    return severity, eta


def _who(key: SeriesKey) -> str:
    labels = dict(key.labels)
    if "pid" in labels:
        return f"process {labels.get('comm', '?')} (pid {labels['pid']}, user {labels.get('user', '?')})"
    return "the system"


def _build(settings: Any, _watch_everything: bool) -> LeakAnalyzer:
    an = settings.analyzer
    kinds = dict(DEFAULT_KINDS)
    kinds["process_rss_bytes"] = replace(
        kinds["process_rss_bytes"], min_growth_per_hour=an.leak_min_growth_bytes_per_hour
    )
    kinds["process_open_fds"] = replace(
        kinds["process_open_fds"], min_growth_per_hour=an.leak_min_growth_fds_per_hour
    )
    return LeakAnalyzer(
        an.trend_window_hours,
        settings.storage.history_resolution_secs,
        an.leak_min_observation_hours,
        an.leak_r_squared_threshold,
        kinds,
    )


PLUGIN = AnalyzerPlugin(
    name="leak",
    order=50,
    build=_build,
    history=lambda _s, _e: tuple(DEFAULT_KINDS),
    judges_closed_buckets=True,
    # Its window, and the wait before a candidate the robust test rejected is tried again.
    confirm_after_restart_secs=lambda s: (
        s.analyzer.leak_min_observation_hours * 3600.0
        + RECHECK_BUCKETS * s.storage.history_resolution_secs
    ),
)
