"""Secrets that cannot leak by accident.

A `Secret` prints, formats and reprs as ``***``; the real value is only
reachable through `reveal()`, so it can only reach a socket, never a log line or
`--validate` output.  Every secret ever built is also remembered, so the log
filter in `common.logsetup` can scrub it from text that a library produced on its
own (an exception message that quotes a URL, for instance).
"""

from __future__ import annotations

import re
import threading

MASK = "***"

# Values shorter than this are not scrubbed from free text: replacing every
# "ab" in every log line would destroy the log and protect nothing.
_MIN_SCRUB_LENGTH = 4

_known_lock = threading.Lock()
_known: set[str] = set()


class Secret:
    """A string-valued secret (token, password, webhook URL, header value)."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value
        if len(value) >= _MIN_SCRUB_LENGTH:
            with _known_lock:
                _known.add(value)

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret({MASK!r})"

    def __str__(self) -> str:
        return MASK

    def __format__(self, spec: str) -> str:
        return MASK

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __bool__(self) -> bool:
        return bool(self._value)


def remember(value: str) -> None:
    """Scrub `value` from logs too, though it is kept as a plain string (a URL's password)."""
    if len(value) >= _MIN_SCRUB_LENGTH:
        with _known_lock:
            _known.add(value)


_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/?#@\s]+@")


def mask_userinfo(text: str) -> str:
    """`nats://u:p@host` -> `nats://***@host`, for every URL inside `text`."""
    return _USERINFO.sub(r"\1***@", text) if "@" in text else text


def scrub(text: str) -> str:
    """Replace every known secret value, and every URL's userinfo, inside `text` by ``***``."""
    with _known_lock:
        known = sorted(_known, key=len, reverse=True)
    for value in known:
        if value in text:
            text = text.replace(value, MASK)
    return mask_userinfo(text)
