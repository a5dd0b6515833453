"""A bound on the CPU time an operator's regular expression spends on text a local user shapes.

`common.backtracking` refuses, when the configuration is read, the expressions that
backtrack exponentially.  It cannot refuse the polynomial ones without refusing what
operators write every day: `error.*disk.*failed` costs about the cube of a line's length
on a line made of "errordisk" (seconds at 2,000 characters, minutes at the 8 KiB a line
may have), and anyone on the host can write such a line with logger(1).  Python's `re`
cannot be told to stop, but it checks for signals every 4,096 steps and gives up with
the exception a signal handler raises.  So:

* each search runs under an alarm on the process's CPU time (ITIMER_VIRTUAL: a busy host
  does not make an ordinary search look slow) of `SEARCH_SECS`; past it, the line is
  not read by the expression;
* all searches share a budget, a token bucket of at most `BUDGET_SECS` refilled at
  `BUDGET_SHARE` of a core, so that lines made to take just under the alarm cannot add
  up to a stalled agent; while it is spent, the expressions read nothing.  A search is
  charged what it took beyond `ORDINARY_SECS`, so that a busy host's ordinary lines, at
  any rate, never spend it: a line costs the host at most that much more than an
  ordinary one unless the budget pays for it.

Either is a line the operator's patterns did not read, a detection lost: each is
counted (`unread`, the agent's `agent_log_lines_unread_total`), said in the heartbeat
for an hour, and logged (at most once an hour), never silent.

Signal handlers run in the main thread, and only there can a search be bounded;
elsewhere it is timed and charged to the budget, not stopped (the daemon's log
analyzer runs on the event loop, in the main thread).
"""

from __future__ import annotations

import enum
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
# the alarm's 1.5 us), a long line of a Java stack trace in tens of microseconds.
ORDINARY_SECS = 50e-6


class Unread(enum.Enum):
    """Why an expression did not read a line."""

    OVERRAN = "overran"  # its search passed SEARCH_SECS of CPU and was stopped
    BUDGET = "budget"  # the shared budget was spent: not searched


class _Overrun(Exception):
    """Raised by the alarm's handler inside the search it bounds."""


class _Alarm:
    armed = False  # whether a bounded search is running: an alarm arriving after it is nothing
    installed = False  # whether _on_alarm is SIGVTALRM's handler (set once, in the main thread)


def _on_alarm(_signum: int, _frame: FrameType | None) -> None:
    if _Alarm.armed:
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
        timer: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.search_secs = search_secs
        self.budget_secs = budget_secs
        self.share = share
        self._clock = clock  # refills the budget
        self._timer = timer  # times a search
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
        # Wall time is charged, not CPU time (a system call more per search): on a busy host a
        # search is charged more than it cost, which errs on the host's side.
        started = self._timer()
        try:
            if bounded:
                _Alarm.armed = True
                signal.setitimer(signal.ITIMER_VIRTUAL, min(self.search_secs, self._tokens))
            found = regex.search(text)
            _Alarm.armed = False  # inside the try: an alarm between here and the disarm is caught
        except _Overrun:
            found = self._not_read(Unread.OVERRAN, now)
        finally:
            _Alarm.armed = False
            if bounded:
                signal.setitimer(signal.ITIMER_VIRTUAL, 0)
            self._tokens -= max(0.0, self._timer() - started - ORDINARY_SECS)
        return found

    def _not_read(self, why: Unread, now: float) -> Unread:
        self.unread[why] += 1
        self.last_unread = now
        return why
