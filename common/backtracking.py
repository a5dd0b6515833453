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

The check is structural (the parsed expression, not a timing): a group repeated more
than a few times (over `FEW_REPEATS`, bounded or not: "{1,64}" over 28
characters is 2^28 ways) whose body holds a variable-length repeat or an alternation;
or one repeated a few times holding a long repeat ("(\\w+\\s?){3}", whose ways grow as
the cube of the length).  It refuses some expressions that are in fact linear
("(\\d+\\.){3}", whose pieces cannot overlap) and admits polynomial ones (".*a.*b.*c",
18 ms on an 8 KiB line); the first costs a rewrite, the second a bounded delay.
"""

from __future__ import annotations

import re

# The parser CPython's `re` compiles with.  Private, but the same tree since 3.11 (which
# added the atomic and possessive nodes this check relies on).
from re import _constants as sre  # type: ignore[attr-defined]
from re import _parser as sre_parse  # type: ignore[attr-defined]
from typing import Any

FEW_REPEATS = 4  # a group repeated at most this many times multiplies its ways by a power
LONG_REPEAT = 64  # inside such a group, a repeat up to this many (a name's length) is short

# How often an enclosing backtracking repeat may run its body: once, a few times, many.
ONCE, FEW, MANY = 0, 1, 2

_REPEATS = (sre.MAX_REPEAT, sre.MIN_REPEAT)


def exponential(pattern: str) -> bool:
    """Whether `pattern` can backtrack exponentially (re.error if it does not compile)."""
    re.compile(pattern)
    return _nested(sre_parse.parse(pattern), outer=ONCE)


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


def _long(high: int) -> bool:
    return bool(high is sre.MAXREPEAT or high > LONG_REPEAT)


def _times(high: int) -> int:
    if high is sre.MAXREPEAT or high > FEW_REPEATS:
        return MANY
    return FEW if high > 1 else ONCE


def _nested(items: Any, outer: int) -> bool:
    """Walk the parsed tree; `outer`: how often an enclosing backtracking repeat may run it.

    A body run many times must match each piece of text one way only: no variable repeat,
    no alternation inside.  One run a few times ((\\d{1,3}\\.){3}) may hold short variable
    repeats and alternatives, not a long one ((\\w+\\s?){3}: its ways grow as a power of
    the length)."""
    for op, av in items:
        if op in _REPEATS:
            low, high, body = av
            if high != low and (outer == MANY or (outer == FEW and _long(high))):
                return True
            children, inner = [body], max(outer, _times(high))
        elif op is sre.BRANCH:
            if outer == MANY:  # alternatives that may overlap, tried again at every repetition
                return True
            children, inner = av[1], outer
        elif op is sre.POSSESSIVE_REPEAT:
            # Never gives back what it matched: nothing inside is tried again by what
            # surrounds it (its own content still backtracks while it matches once).
            children, inner = [av[-1]], ONCE
        elif op is sre.ATOMIC_GROUP:
            children, inner = [av], ONCE
        elif op is sre.SUBPATTERN:
            children, inner = [av[-1]], outer
        elif op in (sre.ASSERT, sre.ASSERT_NOT):
            children, inner = [av[1]], outer
        elif op is sre.GROUPREF_EXISTS:
            children, inner = [b for b in av[1:] if b is not None], outer
        else:
            continue
        if any(_nested(child, inner) for child in children):
            return True
    return False
