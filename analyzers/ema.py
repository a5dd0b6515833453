"""EMA: sustained changes against an exponentially weighted baseline.

Per series: an exponentially weighted mean and variance with `alpha` (West's
incremental form), each update's residual clipped at `shift_threshold`
deviations so that an anomaly moves the baseline only slowly (a lasting new
level is taken in over a few dozen samples, and the alert then resolves).
What makes a deviation an alert is `PersistentAnomaly` (analyzers/base.py),
shared with z-score: beyond the larger of `threshold` EW deviations and the
family's noise floor, in the family's direction, for
`anomaly_persist_secs`; not while learning, nor for a level seen at this time
of day on an earlier day; a warning, never more.  Where z-score's baseline is
the last hour's flat mean, EMA's follows slow drifts, so it sees a step on a
wandering series that z-score's wide window would blur.

Opt-in.  Its shift detector is also z-score's second signal (the same EW
update, computed inside analyzers/zscore.py): an anomaly it confirms is
critical.  Enabled as its own analyzer, its alerts on a series z-score already
announced are folded into that episode by the router (docs/ALERTING.md).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from alerting.alert import Alert
from alerting.format import labels_text
from analyzers.base import (
    SEASON_DAYS,
    Batch,
    History,
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
from analyzers.zscore import DEFAULT_METRICS, WHY_WARN, anomaly_message


class EmaAnalyzer(LearnsFromRecentSamples):
    name = "ema"

    def __init__(
        self,
        metrics: Iterable[str] = DEFAULT_METRICS,
        alpha: float = 0.1,
        threshold: float = 4.0,
        shift_threshold: float = 2.0,
        min_samples: int = 30,
        cooldown_secs: float = 3600.0,
        *,
        families: Sequence[Family] = DEFAULT_FAMILIES,
        learning_secs: float = 3600.0,
        persist_secs: float = 300.0,
        season_days: int = SEASON_DAYS,
        tolerance_secs: float = 3600.0,
        policy: PersistentAnomaly | None = None,
    ) -> None:
        self.patterns = tuple(metrics)
        self.alpha = alpha
        self.threshold = threshold
        self.shift_threshold = shift_threshold
        self.gate = policy or PersistentAnomaly(
            families, threshold, min_samples, learning_secs, persist_secs, cooldown_secs,
            season_days, tolerance_secs,
        )  # fmt: skip
        self.s = SeriesArrays(
            known=(bool, False),
            watched=(bool, False),
            n=(np.float64, 0.0),
            mean=(np.float64, np.nan),
            var=(np.float64, 0.0),
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
        n, mean, var = s.n[ids], s.mean[ids], s.var[ids]
        first = np.isnan(mean)
        mean = np.where(first, x, mean)
        std = np.sqrt(var)
        steps = self.gate.step(ids, x, n, mean, std, batch.timestamp, history)
        # Clipping the residual keeps an outlier from inflating the variance or dragging
        # the mean; a lasting level is still reached, a bounded step at a time.
        a = self.alpha
        floor = self.gate.family_floor(ids, mean)
        limit = np.maximum(self.shift_threshold * std, floor)
        diff = np.where(first, 0.0, np.clip(x - mean, -limit, limit))
        incr = a * diff
        s.mean[ids] = mean + incr
        s.var[ids] = np.where(first, 0.0, (1 - a) * (var + diff * incr))
        s.n[ids] = n + 1
        alerts = [self._alert(int(ids[st.index]), st, batch.timestamp, history) for st in steps]
        return alerts + self.raised_again(ids, batch.timestamp)

    def _alert(self, sid: int, step: Step, now: float, history: History) -> Alert:
        key = history.key(sid)
        where = labels_text(key.labels)
        status, severity = transition(step.before, step.after)
        family = self.gate.family(key)
        message = anomaly_message(key.metric, where, step, family, self.name)
        return Alert(analyzer=self.name, metric=key.metric, labels=key.labels, status=status, severity=severity,
                     value=step.level, threshold=None, message=message, timestamp=now, series_id=sid,
                     context={"kind": "level_shift",
                              "z": round(step.sigmas, 2) if math.isfinite(step.sigmas) else None,
                              "floor": family.floor, "unit": family.unit,
                              "severity_reason": WHY_WARN if step.after else None,
                              **self.gate.stretch_context(sid, step)})  # fmt: skip


def _build(settings: Any, watch_everything: bool) -> EmaAnalyzer:
    an = settings.analyzer
    return EmaAnalyzer(
        ("*",) if watch_everything else an.anomaly_metrics,
        an.ema_alpha,
        an.ema_threshold,
        an.ema_shift_threshold,
        policy=policy_from(settings, an.ema_threshold),
    )


PLUGIN = AnalyzerPlugin(
    name="ema",
    order=30,
    build=_build,
    history=anomaly_history,
    confirm_after_restart_secs=lambda s: (
        s.analyzer.anomaly_learning_secs + s.analyzer.anomaly_persist_secs
    ),
)
