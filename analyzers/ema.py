"""EMA: sudden changes and sustained level shifts against an exponentially weighted baseline.

Per series: an exponentially weighted mean and variance with `alpha`
(West's incremental form).  A sample more than `threshold` EW standard
deviations away is a sudden change; `shift_samples` samples in a row more than
`shift_threshold` deviations away on the same side is a level shift.  Either
fires once.  While it fires, the baseline is frozen (outliers do not poison
it); if the deviation persists for `shift_samples`, the new level is accepted
(re-baselined at the mean of the deviant samples) and the alert resolves; if
the series comes back first, the alert resolves as a transient.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from typing import Any

import numpy as np

from alerting.alert import Alert, Severity, Status
from analyzers.base import Batch, History, SeriesArrays, beyond_record, noise_floor
from analyzers.registry import AnalyzerPlugin
from analyzers.threshold import format_value
from analyzers.zscore import DEFAULT_METRICS, record_buckets

_QUIET, _SUDDEN, _SHIFT = 0, 1, 2


class EmaAnalyzer:
    name = "ema"

    def __init__(
        self,
        metrics: Iterable[str] = DEFAULT_METRICS,
        alpha: float = 0.1,
        threshold: float = 4.0,
        shift_threshold: float = 2.0,
        shift_samples: int = 6,
        min_samples: int = 30,
        cooldown_secs: float = 3600.0,
        record_buckets: int = 0,
    ) -> None:
        self.patterns = tuple(metrics)
        self.alpha = alpha
        self.record_buckets = record_buckets
        self.threshold = threshold
        self.shift_threshold = shift_threshold
        self.shift_samples = shift_samples
        self.min_samples = min_samples
        self.cooldown = cooldown_secs
        self._decay = 0.5 ** (alpha / 10)  # the peak halves over ten EMA time constants
        self.s = SeriesArrays(
            known=(bool, False),
            watched=(bool, False),
            n=(np.float64, 0.0),
            mean=(np.float64, np.nan),
            var=(np.float64, 0.0),
            run=(np.int32, 0),  # consecutive deviant samples, signed by side
            run_sum=(np.float64, 0.0),  # their sum, for the new baseline
            state=(np.int8, _QUIET),
            floor_abs=(np.float64, 0.0),
            floor_rel=(np.float64, 0.0),
            quiet_until=(np.float64, -np.inf),
            peak=(np.float64, 0.0),  # decaying maximum of recent |z|
        )

    def forget(self, series_ids: Iterable[int]) -> None:
        self.s.reset(series_ids)

    def observe(self, batch: Batch, history: History) -> list[Alert]:
        s = self.s
        s.ensure(batch.ids)
        for sid in batch.ids[~s.known[batch.ids]].tolist():
            s.known[sid] = True
            metric = history.key(sid).metric
            s.watched[sid] = any(fnmatch.fnmatchcase(metric, p) for p in self.patterns)
            s.floor_abs[sid], s.floor_rel[sid] = noise_floor(metric)
        mask = s.watched[batch.ids] & np.isfinite(batch.values)
        if not mask.any():
            return []
        ids, x = batch.ids[mask], batch.values[mask]
        n, mean, var, run, state = s.n[ids], s.mean[ids], s.var[ids], s.run[ids], s.state[ids]
        first = np.isnan(mean)
        mean = np.where(first, x, mean)
        std = np.maximum(
            np.sqrt(var), np.maximum(s.floor_abs[ids], s.floor_rel[ids] * np.abs(mean))
        )
        with np.errstate(invalid="ignore", divide="ignore"):
            z = np.where(std > 0, (x - mean) / std, 0.0)
        ready = n >= self.min_samples
        side = np.sign(z).astype(np.int32)
        deviant = ready & (np.abs(z) >= self.shift_threshold)
        continues = deviant & (np.sign(run) == side)
        run = np.where(continues, run + side, np.where(deviant, side, 0)).astype(np.int32)
        run_sum = np.where(continues, s.run_sum[ids] + x, np.where(deviant, x, 0.0))
        # Without a record window (below), a surprise gate as in z-score: a sudden
        # change must beat the recent swings.
        absz = np.where(ready, np.abs(z), 0.0)
        novel = (absz > s.peak[ids]) | (self.record_buckets > 0)
        s.peak[ids] = np.maximum(s.peak[ids] * self._decay, absz)
        sudden = ready & (absz >= self.threshold) & novel
        shifted = np.abs(run) >= self.shift_samples
        quiet = (state == _QUIET) & (batch.timestamp >= s.quiet_until[ids])
        fire_sudden = quiet & sudden & ~shifted
        fire_shift = quiet & shifted
        # Record gate, as in z-score: only beyond everything in the record window.
        starting = np.flatnonzero(fire_sudden | fire_shift)
        if starting.size:
            record = beyond_record(
                history, ids[starting], x[starting], z[starting] > 0, self.record_buckets
            )
            fire_sudden[starting[~record]] = False
            fire_shift[starting[~record]] = False
        rebaseline = shifted  # accepted as the new normal (resolves a firing alert)
        back = (state != _QUIET) & ~deviant  # came back before a shift was confirmed
        new_state = np.where(fire_sudden, _SUDDEN, np.where(fire_shift, _SHIFT, state))
        new_state = np.where((state != _QUIET) & (rebaseline | back), _QUIET, new_state).astype(
            np.int8
        )
        # The mean follows only ordinary samples (a deviant run is judged against the old
        # level); the variance takes every sample with its residual clipped at the shift
        # level, so outliers cannot poison it and it does not shrink onto the quiet ones.
        a = self.alpha
        diff = np.clip(x - mean, -self.shift_threshold * std, self.shift_threshold * std)
        incr = a * diff
        normal = ~first & ~deviant & (new_state == _QUIET)
        upd_mean = np.where(normal, mean + incr, mean)
        upd_var = np.where(~first, (1 - a) * (var + diff * incr), var)
        shift_mean = run_sum / np.maximum(np.abs(run), 1)
        upd_mean = np.where(rebaseline, shift_mean, upd_mean)
        s.mean[ids] = upd_mean
        s.var[ids] = upd_var
        s.n[ids] = n + 1
        s.run[ids] = np.where(rebaseline, 0, run)
        s.run_sum[ids] = np.where(rebaseline, 0.0, run_sum)
        alerts = []
        for i in np.flatnonzero(new_state != state).tolist():
            sid = int(ids[i])
            alerts.append(self._alert(sid, int(state[i]), int(new_state[i]), float(x[i]), float(z[i]),
                                      float(mean[i]), float(upd_mean[i]) if rebaseline[i] else None,
                                      batch.timestamp, history))  # fmt: skip
        s.quiet_until[ids] = np.where(
            (state != _QUIET) & (new_state == _QUIET),
            batch.timestamp + self.cooldown,
            s.quiet_until[ids],
        )
        s.state[ids] = new_state
        return alerts

    def _alert(self, sid: int, before: int, after: int, x: float, z: float, baseline: float,
               new_baseline: float | None, now: float, history: History) -> Alert:  # fmt: skip
        key = history.key(sid)
        where = "".join(f" {k}={v}" for k, v in key.labels)

        def fmt(v: float) -> str:
            return format_value(key.metric, v)

        if after == _QUIET:
            status = Status.RESOLVED
            if new_baseline is not None:
                message = f"{key.metric}{where} settled at a new level {fmt(new_baseline)} (was {fmt(baseline)})"
            else:
                message = f"{key.metric}{where} is back to its usual level ({fmt(x)})"
        elif after == _SUDDEN:
            status = Status.FIRING
            direction = "jumped" if z > 0 else "dropped"
            message = f"{key.metric}{where} {direction} to {fmt(x)} ({abs(z):.1f}σ from its usual {fmt(baseline)})"
        else:
            status = Status.FIRING
            direction = "up" if z > 0 else "down"
            message = (
                f"{key.metric}{where} shifted {direction} to about {fmt(x)} (usual {fmt(baseline)})"
            )
        kind = {_SUDDEN: "sudden_change", _SHIFT: "level_shift"}.get(after if after else before, "")
        return Alert(analyzer=self.name, metric=key.metric, labels=key.labels, status=status, severity=Severity.WARN,
                     value=x, threshold=None, message=message, timestamp=now, series_id=sid,
                     context={"kind": kind, "z": round(z, 2)})  # fmt: skip


def _build(settings: Any, watch_everything: bool) -> EmaAnalyzer:
    an = settings.analyzer
    return EmaAnalyzer(
        ("*",) if watch_everything else an.anomaly_metrics, an.ema_alpha, an.ema_threshold,
        an.ema_shift_threshold, an.ema_shift_samples, an.anomaly_min_samples,
        an.anomaly_cooldown_secs, record_buckets(settings),
    )  # fmt: skip


PLUGIN = AnalyzerPlugin(
    name="ema",
    order=30,
    build=_build,
    history=lambda s, e: ("*",) if e else tuple(s.analyzer.anomaly_metrics),
)
