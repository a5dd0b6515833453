"""The interface of a delivery channel and the error it raises."""

from __future__ import annotations

import re
from typing import Protocol

from alerting.alert import Alert, Severity


class DeliveryError(Exception):
    """A send failed.  `retryable` says whether trying again can help.

    `retry_after` is the far side's own instruction (HTTP 429 Retry-After),
    which wins over our backoff.
    """

    def __init__(self, message: str, *, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


class Channel(Protocol):
    name: str
    min_severity: Severity
    retry_count: int

    async def send(self, alert: Alert) -> None:
        """Deliver one alert or raise `DeliveryError`."""

    async def close(self) -> None: ...


_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def plain_text(text: str, limit: int = 4000) -> str:
    """Untrusted text made safe for a terminal or a log: no control or bidi characters."""
    text = _CONTROL.sub(lambda m: f"\\x{ord(m.group(0)):02x}", text)
    return text if len(text) <= limit else text[: limit - 1] + "…"
