"""Whether a regular expression can take exponential time on text a local user chooses.

The agent matches operator-written expressions (custom log patterns, exclusions by
mount point, interface or process name) against text anyone on the host can shape:
a line sent with `logger`, a FUSE mount's path, a process's name.  Python's engine
backtracks, and a repeated group whose body can match one piece of text in more than
one way ("(\\w+\\s?)+:", "(x|xx)+y") takes time exponential in the text's length: 30
characters froze the event loop for over a minute here.  Nothing can interrupt a
match, so such an expression is refused when the configuration is read, with the
two standard ways out: an atomic group `(?>...)` or a possessive repeat (`++`, `*+`),
which never give back what they matched (Python 3.11+).

The check is structural (the parsed expression, not a timing): a group run several
times whose runs can split one stretch of text in more than `MAX_WAYS` ways: a
variable repeat or an alternation inside a group repeated without bound, or bounded
but often ("{1,64}" over 28 characters is 2^28 ways), or nested ("((\\w{1,4}){4}){4}").
It refuses some expressions that are in fact linear ("(\\d+\\.){3}", whose pieces cannot
overlap) and admits polynomial ones (".*a.*b.*c", 18 ms on an 8 KiB line); the first
costs a rewrite, the second a bounded delay.
"""

from __future__ import annotations

import math
import re

# The parser CPython's `re` compiles with.  Private, but the same tree since 3.11 (which
# added the atomic and possessive nodes this check relies on).
from re import _constants as sre  # type: ignore[attr-defined]
from re import _parser as sre_parse  # type: ignore[attr-defined]
from typing import Any

# How many ways a repeated group may split one stretch of text between its runs: past it,
# a hostile line's match runs for seconds to ages (each way is tried before giving up).
MAX_WAYS = 10_000


class _Exponential(Exception):
    """A repeated group whose runs can split one stretch of text in too many ways."""


_REPEATS = (sre.MAX_REPEAT, sre.MIN_REPEAT)


def exponential(pattern: str) -> bool:
    """Whether `pattern` can backtrack exponentially (re.error if it does not compile)."""
    re.compile(pattern)
    try:
        _ways(sre_parse.parse(pattern))
    except _Exponential:
        return True
    return False


def check(pattern: str) -> None:
    """Raise ValueError, saying why and what to write instead, if `pattern` can take
    exponential time (or re.error if it does not compile)."""
    if exponential(pattern):
        raise ValueError(
            "a repeated group whose body can match the same text in more than one way "
            "(a repeat or an alternative inside (...)+, (...)* or (...){n,m}) can take "
            "exponential time on text a local user shapes (a log line, a path, a name); "
            "make the group atomic, "
            "(?>...)+, or the repeat possessive, (...)++ / (...)*+"
        )


def _ways(items: Any) -> float:
    """How many ways `items` can match one given stretch of text, at most (inf: unbounded):
    a variable repeat chooses how many it takes, an alternation which branch, a repeated
    group both at each run.  Raises _Exponential where a group run several times has more
    than `MAX_WAYS` ways of splitting its stretch: "(\\w+\\s?)+" (unbounded), "(?:a?){26}"
    (2^26), "((\\w{1,4}){4}){4}" (256^4).  Atomic groups and possessive repeats match one
    way, whatever is inside (which is checked on its own)."""
    ways = 1.0
    for op, av in items:
        if op in _REPEATS:
            low, high, body = av
            runs = math.inf if high is sre.MAXREPEAT else float(high)
            each = _ways(body)
            if runs > 1 and each > 1 and runs * math.log(each) > math.log(MAX_WAYS):
                raise _Exponential  # (in logarithms: 256.0**200 overflows a float)
            count = math.inf if high is sre.MAXREPEAT else float(high - low + 1)
            ways *= count * each**runs if each > 1 else count
        elif op is sre.BRANCH:
            ways *= sum(_ways(branch) for branch in av[1])
        elif op is sre.POSSESSIVE_REPEAT:
            _ways(av[-1])
        elif op is sre.ATOMIC_GROUP:
            _ways(av)
        elif op is sre.SUBPATTERN:
            ways *= _ways(av[-1])
        elif op in (sre.ASSERT, sre.ASSERT_NOT):
            _ways(av[1])
        elif op is sre.GROUPREF_EXISTS:
            ways *= sum(_ways(branch) for branch in av[1:] if branch is not None)
    return ways
