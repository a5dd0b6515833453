"""A bound on the CPU time an operator's regular expression spends on text a local user shapes.

`common.backtracking` refuses, when the configuration is read, the expressions that
backtrack exponentially.  It cannot refuse the polynomial ones without refusing what
operators write every day: `(?P<user>\\w+)\\s?\\w+: denied` costs about the cube of a
line's length on a line of letters (3 s at 2,000 characters, over 3 minutes at the 8 KiB
a line may have), and anyone on the host can write such a line with logger(1).  Python's
`re` cannot be told to stop, but it checks for signals every 4,096 steps and gives up
with the exception a signal handler raises.  So:

* each search runs under an alarm of `SEARCH_SECS` of its thread's CPU time (a busy
  host, or the agent's other threads, do not make an ordinary search look slow: the
  process's CPU alarm, ITIMER_VIRTUAL, is re-armed until the thread's own time is
  spent); past it, the line is not read by the expression;
* all searches share a budget, a token bucket of at most `BUDGET_SECS` refilled at
  `BUDGET_SHARE` of a core, so that lines made to take just under the alarm cannot add
  up to a stalled agent; while it is spent, the expressions read nothing.  A search is
  charged the CPU time it took beyond `ORDINARY_SECS`, so that ordinary lines never
  spend it, however many a busy host logs or a restart reads back at once.

Either is a search the operator's patterns did not make, a line they did not read, a
detection lost: each is counted (`unread`, the agent's `agent_log_lines_unread_total`),
said in the heartbeat for an hour, and logged (at most once an hour), never silent.

Signal handlers run in the main thread, and only there can a search be bounded;
elsewhere it runs to its end and is charged to the budget (the daemon's log analyzer
runs on the event loop, in the main thread).
"""

from __future__ import annotations

import enum
import gc
import re
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType

# A custom pattern's search of one line takes microseconds; 50 ms of CPU is a line made for it.
SEARCH_SECS = 0.05
# At most half a second at once, 6 s a minute on average: a storm of such lines costs the host
# a tenth of a core and the event loop half a second at a time, not a stall.
BUDGET_SECS = 0.5
BUDGET_SHARE = 0.1
# What a search may take uncharged: 20 custom patterns search a line in 1 to 10 us here (with
# the alarm's few), a long line of a Java stack trace in tens of microseconds.
ORDINARY_SECS = 50e-6


class Unread(enum.Enum):
    """Why an expression did not read a line."""

    OVERRAN = "overran"  # its search passed SEARCH_SECS of CPU and was stopped
    BUDGET = "budget"  # the shared budget was spent: not searched


class _Overrun(Exception):
    """Raised by the alarm's handler inside the search it bounds."""


class _Alarm:
    armed = False  # whether a bounded search is running: an alarm arriving after it is nothing
    deadline = 0.0  # the main thread's CPU time (`_cpu_time`) at which the search is stopped
    installed = False  # whether _on_alarm is SIGVTALRM's handler (set once, in the main thread)


# The CPU time of the calling thread: what a search is charged and stopped by.
_cpu_time = time.thread_time


def _on_alarm(_signum: int, _frame: FrameType | None) -> None:
    if not _Alarm.armed:
        return
    # ITIMER_VIRTUAL counts every thread's CPU: while the search waited for the GIL, the
    # collectors' threads may have spent it.  Stopped only by its own thread's time.
    left = _Alarm.deadline - _cpu_time()
    if left > 0:
        signal.setitimer(signal.ITIMER_VIRTUAL, max(left, 0.001))
        return
    raise _Overrun


def _alarm_ready() -> bool:
    """Whether this thread can bound a search: the main thread, with our handler in place."""
    if threading.get_ident() != _MAIN_THREAD:
        return False
    if not _Alarm.installed:
        current = signal.getsignal(signal.SIGVTALRM)
        if current not in (signal.SIG_DFL, signal.SIG_IGN, None, _on_alarm):
            return False  # someone else's alarm: theirs to keep (searches are charged, not stopped)
        signal.signal(signal.SIGVTALRM, _on_alarm)
        _Alarm.installed = True
    return True


_MAIN_THREAD = threading.main_thread().ident


class SearchBound:
    """Searches of operators' expressions, each bounded in CPU time, all within a budget."""

    def __init__(
        self,
        search_secs: float = SEARCH_SECS,
        budget_secs: float = BUDGET_SECS,
        share: float = BUDGET_SHARE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.search_secs = search_secs
        self.budget_secs = budget_secs
        self.share = share
        self._clock = clock  # refills the budget
        self._tokens = budget_secs
        self._refilled = clock()
        self.unread = dict.fromkeys(Unread, 0)
        self.last_unread: float | None = None  # clock time of the last line not read

    def search(self, regex: re.Pattern[str], text: str) -> re.Match[str] | Unread | None:
        """`regex.search(text)`, or why it was not done (counted)."""
        now = self._clock()
        self._tokens = min(self.budget_secs, self._tokens + (now - self._refilled) * self.share)
        self._refilled = now
        if self._tokens <= 0:
            return self._not_read(Unread.BUDGET, now)
        bounded = _alarm_ready()
        found: re.Match[str] | Unread | None
        # CPU time, not wall time: a search that waited (a busy host, the GIL, a stopped
        # process) is charged what it cost, and a local user's hogs do not make it dearer.
        # No garbage collection within: a full one, run by the allocation of a float here,
        # took tens of milliseconds of this thread's time and stopped an ordinary search.
        collecting = gc.isenabled()
        gc.disable()
        started = _cpu_time()
        try:
            if bounded:
                limit = min(self.search_secs, self._tokens)
                _Alarm.deadline = started + limit
                _Alarm.armed = True
                signal.setitimer(signal.ITIMER_VIRTUAL, limit)
            found = regex.search(text)
            if bounded:  # inside the try: an alarm between here and the disarm is caught
                _Alarm.armed = False
        except _Overrun:
            found = self._not_read(Unread.OVERRAN, now)
        finally:
            if bounded:  # never another thread's: it would disarm the main thread's search
                _Alarm.armed = False
                signal.setitimer(signal.ITIMER_VIRTUAL, 0)
            cost = max(0.0, _cpu_time() - started - ORDINARY_SECS)
            if collecting:
                gc.enable()
            # A search off the main thread runs to its end: it spends the bucket, not more.
            self._tokens = max(self._tokens - cost, -self.search_secs)
        return found

    def _not_read(self, why: Unread, now: float) -> Unread:
        self.unread[why] += 1
        self.last_unread = now
        return why
