"""Sliding-window least squares per series, O(1) per update, on the history tier.

The window holds the last `window` columns of the history tier: the buckets the
series' ring closed, which are further apart than one bucket after a gap (the
agent down, a collector slower than a bucket), so each point keeps its own
bucket number.  Sums of k, k², y, k·y and
y² are kept per series, where k is the bucket number counted from an origin
near the data (so k stays small and the sums stay exact enough); when a bucket
is added, the one `window` buckets back leaves.  From the sums, with centred
time, the slope, intercept, R² and span follow without touching the window.
`rebase` moves the origin and recomputes the sums exactly from the window, to
stop drift and keep k small; it runs for a slice of series per tick.
"""

from __future__ import annotations

import math
from collections.abc import Callable
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
    scatter: FloatArray  # the points' standard deviation about the line


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
        # Per series, buckets taken out of the sums while in the window (`exclude`): they
        # must not leave the sums again when the window moves past them.
        self.excluded: dict[int, set[float]] = {}

    def reset(self, ids: list[int]) -> None:
        self.s.reset(ids)
        for sid in ids:
            self.excluded.pop(sid, None)

    def exclude(self, sid: int, buckets: FloatArray, values: FloatArray) -> None:
        """Take these points (added before, each at its bucket) out of one series' sums: a
        temporary file's buckets, which were never the trend.  Buckets before the oldest
        point kept, or already taken out, are skipped."""
        s = self.s
        if sid >= s.size or np.isnan(s.origin[sid]):
            return
        gone = self.excluded.setdefault(sid, set())
        for bucket, y in zip(buckets.tolist(), values.tolist(), strict=True):
            if bucket in gone or not bucket >= s.first[sid] or not math.isfinite(y):
                continue
            gone.add(bucket)
            k = bucket - s.origin[sid]
            s.n[sid] -= 1.0
            s.k[sid] -= k
            s.kk[sid] -= k * k
            s.y[sid] -= y
            s.ky[sid] -= k * y
            s.yy[sid] -= y * y

    def add(
        self,
        ids: IntArray,
        bucket: float | FloatArray,
        y: FloatArray,
        y_old: FloatArray,
        bucket_old: FloatArray,
        bucket_first: FloatArray,
    ) -> Fit:
        """Add the newest bucket's values, and drop `y_old`, the column `window` back, at
        its own bucket `bucket_old` (not `bucket - window`: after a gap the columns are
        further apart than that); `bucket_first` is the oldest column kept."""
        s = self.s
        s.ensure(ids)
        origin = s.origin[ids]
        origin = np.where(np.isnan(origin), bucket, origin)
        s.origin[ids] = origin
        k_new = bucket - origin
        add, drop = np.isfinite(y), np.isfinite(y_old) & np.isfinite(bucket_old)
        k_old = np.where(drop, bucket_old - origin, 0.0)
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
        # The oldest point kept: never older than the window's oldest column (NaN while the
        # window is not full), and unknown (NaN) until the series has a point at all.
        s.first[ids] = np.where(np.isnan(first), first, np.fmax(first, bucket_first))
        return self.fit(ids, k_new)

    def add_newest(self, ids: IntArray, history: History, resolution: float,
                   since: FloatArray | None = None) -> Fit:  # fmt: skip
        """`add` with the newest history column and the one `window` columns back, each at
        its own bucket, read from the store; with `since` (per series), a column before it
        was never added (a fit that started again after a drop) and does not leave either."""

        def bucket_of(lag: int) -> FloatArray:
            return np.round(history.history_time_ago(ids, lag) / resolution)

        y_old, bucket_old = history.history_ago(ids, self.window), bucket_of(self.window)
        if since is not None:
            y_old = np.where(bucket_old >= since, y_old, np.nan)
        if self.excluded:  # a point taken out earlier does not leave the sums twice
            for i in np.flatnonzero(np.isin(ids, list(self.excluded))).tolist():
                gone = self.excluded[int(ids[i])]
                if float(bucket_old[i]) in gone:
                    y_old[i] = np.nan
                for bucket in [b for b in gone if b <= bucket_old[i]]:
                    gone.discard(bucket)  # left the window
                if not gone:
                    del self.excluded[int(ids[i])]
        return self.add(ids, bucket_of(0), history.history_ago(ids, 0), y_old, bucket_old,
                        bucket_of(self.window - 1))  # fmt: skip

    def take_back(
        self, ids: IntArray, history: History, resolution: float,
        fit_starts: Callable[[FloatArray, FloatArray], int] | None = None,
    ) -> dict[int, float]:  # fmt: skip
        """Series this regression has not seen yet whose history tier already holds columns
        before its newest (taken back after a restart, agent/tier_file.py): their sums start
        from those, the window as it stood before the newest column, so that the `add` of
        the newest that follows (which drops the column `window` back) leaves the window
        exact, and the fit goes on where the last life left it instead of learning again.

        With `fit_starts` (buckets, values -> the index of the first point the fit keeps),
        only the points from there (a fit starts again after a deletion: the file deleted
        before the restart stays deleted); returns, per series where the fit starts later
        than the oldest point, the bucket it starts at."""
        s = self.s
        s.ensure(ids)
        starts: dict[int, float] = {}
        unseen = ids[np.isnan(s.origin[ids])]
        newest = history.history_time_ago(unseen, 0)
        for sid, newest_time in zip(unseen.tolist(), newest.tolist(), strict=True):
            times, values = history.history_window(sid, last=self.window + 1)
            before = times < newest_time
            buckets, values = np.round(times[before] / resolution), values[before]
            if fit_starts is not None and values.size > 1:
                begin = fit_starts(buckets, values)
                if begin > 0:
                    buckets, values = buckets[begin:], values[begin:]
                    starts[sid] = float(buckets[0])
            if values.size:  # else a new series: nothing to take back
                self._set(sid, buckets, values)
        return starts

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
            left = np.fmax(syy_c - np.where(sxx > 0, sxy * sxy / sxx, 0.0), 0.0)
            scatter = np.where(n > 2, np.sqrt(left / (n - 2)), np.nan)
        level = y_mean + slope * (k_now - k_mean)
        span = (s.origin[ids] + k_now) - s.first[ids]
        return Fit(n, slope, level, np.clip(r2, 0.0, 1.0), span, scatter)

    def rebase(self, sid: int, history: History, resolution: float, since: float = -np.inf) -> None:
        """Recompute one series exactly from the history tier, with the origin at its oldest
        point; with `since`, from the points at or after that bucket only (a fit that
        started again after a drop: the window's columns may reach back before it)."""
        buckets, values = self.points(sid, history, resolution, since)
        s = self.s
        s.ensure(np.array([sid]))
        if values.size == 0:
            if history.history_window(sid, last=1)[1].size == 0:
                s.reset([sid])
            return  # nothing since the drop in the window: the sums stand as they are
        self._set(sid, buckets, values)

    def points(self, sid: int, history: History, resolution: float,
               since: float = -np.inf) -> tuple[FloatArray, FloatArray]:  # fmt: skip
        """(bucket numbers, values) of the points the window holds for one series: its last
        `window` columns from `since` on, without those taken out (`exclude`)."""
        times, values = history.history_window(sid, last=self.window)
        buckets = np.round(times / resolution)
        kept = buckets >= since
        if sid in self.excluded:
            kept &= ~np.isin(buckets, list(self.excluded[sid]))
        return buckets[kept], values[kept]

    def _set(self, sid: int, buckets: FloatArray, values: FloatArray) -> None:
        """The sums of one series, exactly, from its points (the origin at the oldest)."""
        s = self.s
        origin = float(buckets[0])
        k = buckets - origin
        s.origin[sid], s.first[sid] = origin, float(buckets[0])
        s.n[sid], s.k[sid], s.kk[sid] = values.size, k.sum(), (k * k).sum()
        s.y[sid], s.ky[sid], s.yy[sid] = values.sum(), (k * values).sum(), (values * values).sum()
