"""Static thresholds with levels, hysteresis and a hold time.

Semantics, per series:

* a level (warn, critical) must hold for `for_secs` before the alert fires or
  escalates (0 = on the first sample over the level);
* once firing, the alert resolves only when the value is back past `clear`
  (hysteresis), and drops from critical to warn only past
  ``critical - (warn - clear)``, so a value wobbling around a level does not
  flap;
* events are transitions only: firing, escalated (a severity change either
  way) and resolved.  Repeats are the router's business;
* after a restart, `resume` takes back the levels of the alerts announced
  before it: on its series' first finite sample the level holds with the same
  hysteresis (an alert saying so, which the router takes as the episode going
  on), changes (an escalation) or clears (the RESOLVED).

"below" rules (free space, say) are handled by negating values and levels, so
the logic is written once for "above".  State lives in numpy arrays indexed by
series id; Python runs only for series whose state changes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from alerting.alert import Alert, Severity, Status
from alerting.format import format_metric, format_metric_apart, labels_text
from analyzers.base import Batch, History, IntArray, Labels, SeriesArrays, SeriesKey
from analyzers.registry import AnalyzerPlugin

_NONE, _WARN, _CRITICAL = 0, 1, 2
_SEVERITY = {_WARN: Severity.WARN, _CRITICAL: Severity.CRITICAL}


@dataclass(frozen=True)
class ThresholdRule:
    metric: str
    warn: float | None
    critical: float | None = None
    clear: float | None = None  # default: the mildest level set
    for_secs: float = 0.0
    below: bool = False  # low values are bad
    labels: Labels = ()  # the series must carry all of these
    origin: str = ""  # the config key, for messages

    def matches(self, key: SeriesKey) -> bool:
        return key.metric == self.metric and all(label in key.labels for label in self.labels)


def format_value(metric: str, value: float, against: float | None = None) -> str:
    """The value in its metric's unit (alerting.format, one formatter for every analyzer);
    with `against`, enough digits that the two never print alike."""
    return format_metric(metric, value, against=against)


class ThresholdAnalyzer:
    name = "threshold"

    def __init__(self, rules: Iterable[ThresholdRule]) -> None:
        self._rules = list(rules)
        self.s = SeriesArrays(
            known=(bool, False),
            rule=(np.int32, -1),  # index into _rules, -1 = no rule
            state=(np.int8, _NONE),
            warn=(np.float64, np.inf),
            crit=(np.float64, np.inf),
            clear=(np.float64, np.inf),
            hold=(np.float64, 0.0),
            sign=(np.float64, 1.0),
            since=(np.float64, np.nan),  # when the pending level was first reached
            pending=(np.int8, _NONE),
            resumed=(bool, False),  # its level was taken back at start-up: say where it stands
        )
        self._resumed: dict[SeriesKey, int] = {}  # levels taken back, until the series is seen
        # Taken back for a series no rule matches now (a reload may bring its rule back).
        self._unapplied: dict[SeriesKey, int] = {}

    def resume(self, alerts: Iterable[Alert]) -> None:
        """The alerts of this analyzer that were firing when the agent stopped (the router's
        open episodes): each series starts at that level, so a value inside the hysteresis
        band (below warn, above clear) keeps it firing as it would have without the restart.
        Its first finite sample says where it stands: the alert again at that level (the
        router takes it as the episode going on), or the transition from it."""
        for alert in alerts:
            level = _CRITICAL if alert.severity >= Severity.CRITICAL else _WARN
            self._resumed[SeriesKey(alert.metric, alert.labels)] = level

    def end_resume(self) -> list[SeriesKey]:
        """The look for unreported series is over: the series taken back and not seen are gone
        (the router resolves their alerts), and a level taken back for one must not greet it
        when it comes back one day.  Returns the series whose level was taken back but that
        no rule matches any more (changed while the agent was down): nothing will ever say
        where they stand, so the router resolves them too."""
        dropped = list(self._unapplied)
        self._resumed.clear()
        self._unapplied.clear()
        return dropped

    def reconfigure(self, rules: Iterable[ThresholdRule]) -> None:
        """New levels (a config reload); firing states are kept so nothing re-fires.  A level
        taken back after a restart that no rule matched may match one now."""
        self._rules = list(rules)
        self.s.known[:] = False
        self._resumed.update(self._unapplied)
        self._unapplied.clear()

    def forget(self, series_ids: Iterable[int]) -> None:
        self.s.reset(series_ids)

    def observe(self, batch: Batch, history: History) -> list[Alert]:
        if len(batch) == 0:
            return []
        s = self.s
        ids = batch.ids
        s.ensure(ids)
        self._learn(ids, history)
        has_rule = s.rule[ids] >= 0
        state = s.state[ids]
        if not has_rule.any() and not state.any():
            return []
        x = batch.values * s.sign[ids]
        valid = np.isfinite(x)
        warn, crit, clear = s.warn[ids], s.crit[ids], s.clear[ids]
        # What the value alone says, then what hysteresis makes of it while firing.
        target = np.where(x >= crit, _CRITICAL, np.where(x >= warn, _WARN, _NONE)).astype(np.int8)
        firing = state > _NONE
        has_warn = np.isfinite(warn)
        with np.errstate(invalid="ignore"):  # inf - inf where a level is unset; masked below
            crit_clear = np.where(has_warn, crit - (warn - clear), clear)
        floor = np.where(has_warn, _WARN, _CRITICAL)  # the mildest level the rule has
        keep_critical = (state == _CRITICAL) & (x >= crit_clear)
        held = np.where(
            x < clear, _NONE, np.where(keep_critical, _CRITICAL, np.maximum(target, floor))
        )
        target = np.where(firing, held, target).astype(np.int8)
        target = np.where(has_rule | firing, target, _NONE).astype(np.int8)
        target = np.where(valid, target, state).astype(np.int8)
        interesting = (target != state) | (s.pending[ids] != _NONE) | s.resumed[ids]
        alerts: list[Alert] = []
        for i in np.flatnonzero(interesting).tolist():
            alert = self._step(
                int(ids[i]), int(target[i]), float(batch.values[i]), batch.timestamp, history
            )
            if alert is not None:
                alerts.append(alert)
        return alerts

    def _step(
        self, sid: int, target: int, value: float, now: float, history: History
    ) -> Alert | None:
        s = self.s
        state = int(s.state[sid])
        if s.resumed[sid]:
            if not math.isfinite(value):  # no reading yet: where it stands is not known
                return None
            s.resumed[sid] = False
            if target == state or (target > state and s.hold[sid] > 0):
                # The level taken back holds (a higher one must first hold for for_secs).
                if target > state:
                    s.pending[sid], s.since[sid] = target, now
                return self._alert(sid, state, state, value, now, history)
        if target <= state:  # resolving or de-escalating: at once, no hold
            s.pending[sid], s.since[sid] = _NONE, np.nan
            if target == state:
                return None
            s.state[sid] = target
            return self._alert(sid, state, target, value, now, history)
        # Rising: the new level must hold for for_secs.
        if s.pending[sid] != target:
            s.pending[sid], s.since[sid] = target, now
        if now - s.since[sid] < s.hold[sid]:
            return None
        s.pending[sid], s.since[sid] = _NONE, np.nan
        s.state[sid] = target
        return self._alert(sid, state, target, value, now, history)

    def _alert(
        self, sid: int, before: int, after: int, value: float, now: float, history: History
    ) -> Alert:
        key = history.key(sid)
        index = int(self.s.rule[sid])
        rule = self._rules[index] if index >= 0 else None
        where = labels_text(key.labels)
        word = "below" if rule is not None and rule.below else "above"
        m = key.metric

        def pair(level: float) -> tuple[str, str]:
            # Value and level printed so that the comparison the message states holds.
            return format_value(m, value, level), format_value(m, level, value)

        if after == before and rule is not None:  # taken back after a restart: it holds
            status, severity = Status.FIRING, _SEVERITY[after]
            threshold = self._level(sid, "crit" if after == _CRITICAL else "warn")
            if (value * self.s.sign[sid]) >= threshold * self.s.sign[sid]:
                shown, level = pair(threshold)
                message = (
                    f"{m}{where} is {shown}, {_side(word, value, threshold)} the "
                    f"{severity.label} level {level}"
                )
            else:
                clears = (
                    self._critical_clear(sid) if after == _CRITICAL else self._level(sid, "clear")
                )
                # Three numbers, at the digits that tell each from the others ("is 85.5%, not
                # past 85.5%" said 85.52 and 85.5).
                shown, clear, level = format_metric_apart(m, (value, clears, threshold))
                message = (
                    f"{m}{where} is {shown}, not past {clear} where the "
                    f"{severity.label} level {level} clears: still {severity.label}"
                )
        elif after == _NONE and rule is None:  # its rule went away in a reload
            status, severity, threshold = Status.RESOLVED, _SEVERITY[before], math.nan
            message = f"{m}{where} has no threshold any more ({format_value(m, value)})"
        elif after == _NONE:
            status, severity = Status.RESOLVED, _SEVERITY[before]
            threshold = self._level(sid, "clear")
            shown, clear = pair(threshold)
            message = f"{m}{where} is back to {shown} (clears at {clear})"
        elif after < before:
            # De-escalation: the value went back past the level where critical clears,
            # not over the warn level (it may well be under it, inside the hysteresis).
            status, severity = Status.ESCALATED, _SEVERITY[after]
            threshold = self._critical_clear(sid)
            back = "above" if rule is not None and rule.below else "below"
            # Four numbers, all at the digits that tell each from the others ("below 50.2%
            # where the critical level 50.2% clears" said 50.225 and 50.25).
            shown, level, critical, warn_clear = format_metric_apart(
                m, (value, threshold, self._level(sid, "crit"), self._level(sid, "clear"))
            )
            message = (
                f"{m}{where} is now {shown}, {back} {level} "
                f"where the critical level {critical} clears; warn until back past {warn_clear}"
            )
        else:
            status = Status.FIRING if before == _NONE else Status.ESCALATED
            severity = _SEVERITY[after]
            threshold = self._level(sid, "crit" if after == _CRITICAL else "warn")
            shown, level = pair(threshold)
            verb = {Status.FIRING: "is", Status.ESCALATED: "is now"}[status]
            message = (
                f"{m}{where} {verb} {shown}, {_side(word, value, threshold)} the "
                f"{severity.label} level {level}"
            )
        return Alert(
            analyzer=self.name,
            metric=key.metric,
            labels=key.labels,
            status=status,
            severity=severity,
            value=value,
            threshold=threshold if math.isfinite(threshold) else None,
            message=message,
            timestamp=now,
            series_id=sid,
            context={"rule": rule.origin} if rule is not None and rule.origin else {},
        )

    def _level(self, sid: int, name: str) -> float:
        return float(getattr(self.s, name)[sid] * self.s.sign[sid])

    def _critical_clear(self, sid: int) -> float:
        """Where critical drops to warn: ``critical - (warn - clear)``, as in `observe`."""
        s = self.s
        return float((s.crit[sid] - (s.warn[sid] - s.clear[sid])) * s.sign[sid])

    def _learn(self, ids: IntArray, history: History) -> None:
        """Find the rule of series not seen before (once per series, not per tick)."""
        s = self.s
        for sid in ids[~s.known[ids]].tolist():
            s.known[sid] = True
            key = history.key(sid)
            index = next((i for i, r in enumerate(self._rules) if r.matches(key)), -1)
            s.rule[sid] = index
            resumed = self._resumed.pop(key, _NONE) if self._resumed else _NONE
            if index < 0:
                s.warn[sid] = s.crit[sid] = s.clear[sid] = np.inf
                if resumed != _NONE:
                    self._unapplied[key] = resumed
                continue
            rule = self._rules[index]
            sign = -1.0 if rule.below else 1.0
            warn = sign * rule.warn if rule.warn is not None else np.inf
            crit = sign * rule.critical if rule.critical is not None else np.inf
            mildest = min(warn, crit)
            s.sign[sid] = sign
            s.warn[sid], s.crit[sid] = warn, crit
            s.clear[sid] = sign * rule.clear if rule.clear is not None else mildest
            s.hold[sid] = rule.for_secs
            if resumed != _NONE and s.state[sid] == _NONE:
                s.state[sid], s.resumed[sid] = resumed, True


def _side(word: str, value: float, level: float) -> str:
    """Where the value stands against the level it reached: `word` ("above", "below"), or
    "at" for the level itself (a level fires on reaching it: "is 85°C, at the warn level
    85°C", never "is 85°C, above the warn level 85°C")."""
    return "at" if value == level else word


# [thresholds] key -> the metric it watches.
THRESHOLD_METRICS = {
    "cpu_percent": "cpu_usage_percent",
    "cpu_per_socket_percent": "cpu_socket_usage_percent",
    "memory_percent": "memory_used_percent",
    "disk_percent": "disk_used_percent",
    "disk_inode_percent": "disk_inodes_used_percent",
    "fd_percent": "fd_used_percent",
    "load_avg_multiplier": "cpu_load1_per_core",
    "network_error_rate": "network_error_ratio",
    "gpu_utilization_percent": "gpu_utilization_percent",
    "gpu_memory_percent": "gpu_memory_used_percent",
    "gpu_temperature_celsius": "gpu_temperature_celsius",
    "gpu_power_percent": "gpu_power_percent",
}


def derived_levels(key: str, warn: float) -> tuple[float | None, float]:
    """(critical, clear) for a threshold given as a single number (the seed's form).

    Percentages: critical halfway from warn to 100 (90 -> 95, 85 -> 92.5);
    load multiplier x1.5; error ratio x5 (at most 1); temperature +10 °C.
    Clear is 95 % of warn, so a value wobbling at the level does not flap.
    """
    if key == "load_avg_multiplier":
        critical: float | None = warn * 1.5
    elif key == "network_error_rate":
        critical = min(1.0, warn * 5)
    elif key == "gpu_temperature_celsius":
        critical = warn + 10
    else:
        critical = warn + (100 - warn) / 2 if warn < 100 else None
    return critical, warn * 0.95


def threshold_rules(settings: Any) -> list[ThresholdRule]:
    """Custom [[thresholds.rules]] first (they are more specific), then the seed's keys.

    `settings` is the agent's Settings (this package does not import it); a
    [thresholds] key is a number or a table with warn, critical, clear, for_secs.
    """
    rules = [
        ThresholdRule(
            metric=r.metric,
            warn=r.warn,
            critical=r.critical,
            clear=r.clear,
            for_secs=r.for_secs,
            below=r.direction == "below",
            labels=tuple(sorted(r.labels.items())),
            origin=f"thresholds.rules[{i}]",
        )
        for i, r in enumerate(settings.thresholds.rules)
    ]
    for key, metric in THRESHOLD_METRICS.items():
        value = getattr(settings.thresholds, key)
        if isinstance(value, int | float):
            critical, clear = derived_levels(key, value)
            rules.append(
                ThresholdRule(metric, value, critical, clear, 0.0, origin=f"thresholds.{key}")
            )
        else:
            rules.append(
                ThresholdRule(
                    metric,
                    value.warn,
                    value.critical,
                    value.clear,
                    value.for_secs,
                    origin=f"thresholds.{key}",
                )
            )
    return rules


PLUGIN = AnalyzerPlugin(
    name="threshold",
    order=10,
    build=lambda settings, _watch_everything: ThresholdAnalyzer(threshold_rules(settings)),
    # `resume` takes the levels back: the series' first finite sample says where each
    # stands, however long that takes, as without a restart (a series never reported again
    # is resolved by the router a few collection rounds after the start).
    confirm_after_restart_secs=lambda _settings: math.inf,
)
