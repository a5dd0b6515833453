"""Sliding-window least squares per series, O(1) per update, on the history tier.

The window holds the last `window` history buckets.  Sums of k, k², y, k·y and
y² are kept per series, where k is the bucket number counted from an origin
near the data (so k stays small and the sums stay exact enough); when a bucket
is added, the one `window` buckets back leaves.  From the sums, with centred
time, the slope, intercept, R² and span follow without touching the window.
`rebase` moves the origin and recomputes the sums exactly from the window, to
stop drift and keep k small; it runs for a slice of series per tick.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analyzers.base import FloatArray, History, IntArray, SeriesArrays


@dataclass(frozen=True)
class Fit:
    """Vectorised least-squares results for the series of one update."""

    n: FloatArray
    slope: FloatArray  # per bucket
    level: FloatArray  # the fitted value at the newest bucket
    r2: FloatArray
    span: FloatArray  # buckets between the oldest and newest point


class SlidingRegression:
    def __init__(self, window: int) -> None:
        self.window = window
        self.s = SeriesArrays(
            origin=(np.float64, np.nan),  # bucket number that is k = 0
            n=(np.float64, 0.0),
            k=(np.float64, 0.0),
            kk=(np.float64, 0.0),
            y=(np.float64, 0.0),
            ky=(np.float64, 0.0),
            yy=(np.float64, 0.0),
            first=(np.float64, np.nan),  # bucket number of the oldest point kept
        )

    def reset(self, ids: list[int]) -> None:
        self.s.reset(ids)

    def add(self, ids: IntArray, bucket: float, y: FloatArray, y_old: FloatArray) -> Fit:
        """Add the newest bucket's values (and drop the ones `window` buckets back)."""
        s = self.s
        s.ensure(ids)
        origin = s.origin[ids]
        origin = np.where(np.isnan(origin), bucket, origin)
        s.origin[ids] = origin
        k_new = bucket - origin
        k_old = k_new - self.window
        add, drop = np.isfinite(y), np.isfinite(y_old)
        y0, yo = np.where(add, y, 0.0), np.where(drop, y_old, 0.0)
        a, d = add.astype(np.float64), drop.astype(np.float64)
        s.n[ids] += a - d
        s.k[ids] += a * k_new - d * k_old
        s.kk[ids] += a * k_new * k_new - d * k_old * k_old
        s.y[ids] += y0 - yo
        s.ky[ids] += k_new * y0 - k_old * yo
        s.yy[ids] += y0 * y0 - yo * yo
        first = s.first[ids]
        first = np.where(np.isnan(first) & add, bucket, first)
        s.first[ids] = np.maximum(first, bucket - self.window + 1)
        return self.fit(ids, k_new)

    def take_back(self, ids: IntArray, history: History, resolution: float, bucket: float) -> None:
        """Series this regression has not seen yet whose history tier already holds buckets
        before `bucket` (taken back after a restart, agent/tier_file.py): their sums start
        from those, the window as it stood before `bucket`, so that the `add` of `bucket`
        that follows (which drops the bucket `window` columns back) leaves the window exact,
        and the fit goes on where the last life left it instead of learning again."""
        s = self.s
        s.ensure(ids)
        for sid in ids[np.isnan(s.origin[ids])].tolist():
            times, values = history.history_window(sid, last=self.window + 1)
            buckets = np.round(times / resolution)
            before = buckets < bucket
            if not before.any():
                continue  # a new series: nothing to take back
            self._set(sid, buckets[before], values[before])

    def fit(self, ids: IntArray, k_now: FloatArray) -> Fit:
        s = self.s
        n, sk, skk, sy, sky, syy = s.n[ids], s.k[ids], s.kk[ids], s.y[ids], s.ky[ids], s.yy[ids]
        with np.errstate(invalid="ignore", divide="ignore"):
            k_mean, y_mean = sk / n, sy / n
            sxx = skk - n * k_mean * k_mean  # centred sums
            sxy = sky - n * k_mean * y_mean
            syy_c = syy - n * y_mean * y_mean
            slope = np.where(sxx > 0, sxy / sxx, np.nan)
            r2 = np.where((sxx > 0) & (syy_c > 0), (sxy * sxy) / (sxx * syy_c), 0.0)
        level = y_mean + slope * (k_now - k_mean)
        span = (s.origin[ids] + k_now) - s.first[ids]
        return Fit(n, slope, level, np.clip(r2, 0.0, 1.0), span)

    def rebase(self, sid: int, history: History, resolution: float) -> None:
        """Recompute one series exactly from the history tier, with the origin at its oldest point."""
        times, values = history.history_window(sid, last=self.window)
        s = self.s
        s.ensure(np.array([sid]))
        if values.size == 0:
            s.reset([sid])
            return
        self._set(sid, np.round(times / resolution), values)

    def _set(self, sid: int, buckets: FloatArray, values: FloatArray) -> None:
        """The sums of one series, exactly, from its points (the origin at the oldest)."""
        s = self.s
        origin = float(buckets[0])
        k = buckets - origin
        s.origin[sid], s.first[sid] = origin, float(buckets[0])
        s.n[sid], s.k[sid], s.kk[sid] = values.size, k.sum(), (k * k).sum()
        s.y[sid], s.ky[sid], s.yy[sid] = values.sum(), (k * values).sum(), (values * values).sum()
