"""Whether a regular expression can take exponential time on text a local user chooses.

The agent matches operator-written expressions (custom log patterns, exclusions by
mount point, interface or process name) against text anyone on the host can shape:
a line sent with `logger`, a process's name.  Python's engine
backtracks, and a repeated group whose body can match one piece of text in more than
one way ("(\\w+\\s?)+:", "(x|xx)+y") takes time exponential in the text's length: 30
characters froze the event loop for over a minute here.  Such an expression is
refused when the configuration is read (better than a pattern that leaves lines unread
at run time), with the two standard ways out: an atomic group `(?>...)` or a possessive
repeat (`++`, `*+`), which never give back what they matched (Python 3.11+).

The check is structural (the parsed expression, not a timing), and counts the ways a
match can split one stretch of text, since each is tried before giving up, at each of
a line's starts: over `MAX_WAYS`, a group run several times (a variable repeat or an
alternation inside a group repeated without bound, or bounded but often: "{1,64}"
over 28 characters is 2^28 ways, or nested: "((\\w{1,4}){4}){4}"), or bounded repeats
in a row with no required character between them (sixteen "\\w{1,4}").  It refuses
some expressions that are in fact linear ("(\\d+\\.){3}", whose pieces cannot overlap).

It does not see polynomial time: two or more unbounded pieces that can take the same
characters ("\\w+\\s?\\w+:") cost a cube of the line's length on a line made for it
(3 s at 2,000 characters, minutes at 8 KiB).  Refusing those would refuse what operators
write every day, and only an engine without backtracking (RE2) removes them, at the
price of `re`'s semantics (its \\w, \\d and \\b are ASCII; no lookaround, backreference,
atomic group or \\Z): not taken.  Custom log patterns, which read whole lines anyone may
write, are bounded in CPU time instead (common/search_bound.py: such a line is left
unread, and said); the exclusions read names a user cannot make long (interface and
process names of at most 15 characters; mount points, but not a user's own FUSE mounts).
"""

from __future__ import annotations

import math
import re

# The parser CPython's `re` compiles with.  Private, but the same tree since 3.11 (which
# added the atomic and possessive nodes this check relies on).
from re import _constants as sre  # type: ignore[attr-defined]
from re import _parser as sre_parse  # type: ignore[attr-defined]
from typing import Any

# How many ways a repeated group, or a stretch of bounded repeats between two required
# characters, may split the text it matches: each way is tried before giving up, at each of
# a line's up to 8,192 starts (`search`): 8,192 ways took 1.45 s on an 8 KiB line.
MAX_WAYS = 1000


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
    (2^26), "((\\w{1,4}){4}){4}" (256^4); or where bounded repeats in a row, between two
    required characters, have more: sixteen "\\w{1,4}" (4^16).  Atomic groups and
    possessive repeats match one way, whatever is inside (which is checked on its own)."""
    ways = 1.0
    bounded = 1.0  # the finite ways since the last required character
    for op, av in items:
        factor = 1.0
        if op in _REPEATS:
            low, high, body = av
            runs = math.inf if high is sre.MAXREPEAT else float(high)
            each = _ways(body)
            if runs > 1 and each > 1 and runs * math.log(each) > math.log(MAX_WAYS):
                raise _Exponential  # (in logarithms: 256.0**200 overflows a float)
            count = math.inf if high is sre.MAXREPEAT else float(high - low + 1)
            factor = count * each**runs if each > 1 else count
        elif op is sre.LITERAL:
            bounded = 1.0  # a character that must be there: the ways before it are settled
        elif op is sre.BRANCH:
            factor = sum(_ways(branch) for branch in av[1])
        elif op is sre.POSSESSIVE_REPEAT:
            _ways(av[-1])
        elif op is sre.ATOMIC_GROUP:
            _ways(av)
        elif op is sre.SUBPATTERN:
            factor = _ways(av[-1])
        elif op in (sre.ASSERT, sre.ASSERT_NOT):
            _ways(av[1])
        elif op is sre.GROUPREF_EXISTS:
            factor = sum(_ways(branch) for branch in av[1:] if branch is not None)
        ways *= factor
        if math.isfinite(factor):
            bounded *= factor
            if bounded > MAX_WAYS:
                raise _Exponential
    return ways
