"""Drift-free periodic deadlines on a monotonic clock.

Tick k is due at start + k * interval, whatever each tick cost, so timing
errors never accumulate.  After a stall (a suspended VM, a stuck read) the
ticker runs one tick at once and then rejoins the grid: it never fires a burst
of catch-up ticks, and it counts the ticks it skipped.
"""

from __future__ import annotations

import math


class Ticker:
    def __init__(self, interval: float, start: float) -> None:
        if interval <= 0:
            raise ValueError("interval must be positive")
        self.interval = interval
        self.start = start
        self.skipped = 0
        self._k = 0

    @property
    def first_deadline(self) -> float:
        return self.start

    def advance(self, now: float) -> float:
        """The deadline of the next tick, given that the current one finished at `now`."""
        k = self._k + 1
        due = math.floor((now - self.start) / self.interval)
        if due > k:  # slots k .. due-1 passed while we were stalled: skip them
            self.skipped += due - k
            k = due
        self._k = k
        return self.start + k * self.interval
