"""Untrusted text made safe to print: one sanitiser for consoles, syslog and our own log."""

from __future__ import annotations

import re
from collections.abc import Iterable

# What can end a line, move a cursor or reorder text on a terminal, in a log viewer or in
# syslog: C0 (tab aside) and DEL, C1 (U+009B is a one-character CSI, U+0085 a line break),
# the line and paragraph separators, and the bidi marks, embeddings, overrides and isolates.
_UNSAFE = re.compile(
    "[\x00-\x08\x0a-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)


def closest(word: str, known: Iterable[str], cutoff: float = 0.6) -> str | None:
    """The known word a misspelt `word` most likely meant (difflib, `cutoff` alike), or None:
    the one did-you-mean of configuration keys and matcher labels."""
    import difflib  # only for a misspelt word

    guess = difflib.get_close_matches(word, sorted(known), n=1, cutoff=cutoff)
    return guess[0] if guess else None


def edit_distance(a: str, b: str) -> int:
    """Levenshtein's: the fewest insertions, deletions and substitutions from `a` to `b`."""
    previous = list(range(len(b) + 1))
    for i, char in enumerate(a, start=1):
        current = [i]
        for j, other in enumerate(b, start=1):
            current.append(
                min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char != other))
            )
        previous = current
    return previous[-1]


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group(0))
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def single_line(text: str, limit: int | None = None) -> str:
    """Untrusted text made one harmless line: every unsafe character shown as ``\\xNN``.

    The one sanitiser for text that reaches a console, a syslog message or the
    agent's own log: a log line or a server's error body cannot forge a line,
    clear a screen or flip the text around.  Escaped rather than dropped, so the
    reader still sees that something was there.  `limit` cuts the result (on a
    character, never inside an escape) and marks the cut with an ellipsis.
    """
    text = _UNSAFE.sub(_escape, text)
    if limit is not None and len(text) > limit:
        text = text[: max(0, limit - 1)]
        cut = text.rfind("\\", max(0, len(text) - 5))
        if cut >= 0 and re.fullmatch(r"\\(x[0-9a-f]{0,1}|u[0-9a-f]{0,3})?", text[cut:]):
            text = text[:cut]  # half an escape would read as something else
        text += "…"
    return text


_LABEL_START = re.compile(r"\s*[A-Za-z_][A-Za-z0-9_]*\s*=")


def label_pairs(text: str, *, exact: bool = False) -> list[tuple[str, str]]:
    """`k=v,k2=v2` as pairs.  A piece that does not start a `name=` continues the value
    before it (a process name or mount point with a comma, as `history` writes it:
    `comm=a,b`); ValueError if the first piece starts none.  Names and values are
    stripped unless `exact` (labels read back from a file, as the agent had them)."""
    labels: list[tuple[str, str]] = []
    for piece in text.split(","):
        if _LABEL_START.match(piece):
            name, _, value = piece.partition("=")
            labels.append((name.strip(), value if exact else value.strip()))
        elif not (exact or piece.strip()):
            continue  # `a=1,,b=2` typed
        elif labels:
            name, value = labels[-1]
            labels[-1] = (name, f"{value},{piece if exact else piece.strip()}")
        elif piece.strip():
            raise ValueError(f"expected k=v, got {piece.strip()!r}")
    return labels
