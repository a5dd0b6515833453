"""The interface of a delivery channel and the error it raises."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from alerting.alert import Alert, Severity
from common.text import single_line


class DeliveryError(Exception):
    """A send failed.  `retryable` says whether trying again can help.

    `retry_after` is the far side's own instruction (HTTP 429 Retry-After),
    which wins over our backoff.
    """

    def __init__(
        self, message: str, *, retryable: bool, retry_after: float | None = None, dead: bool = False
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after
        self.dead = (
            dead  # the endpoint is gone (revoked webhook, bad token): stop using the channel
        )
        self.details: dict[str, object] = {}  # the far side's parsed answer, when it gave one


class Channel(Protocol):
    """A delivery integration.

    `groups`: a channel people read gets what became ready within the group wait
    as one message, which `split` parts to respect the API's size limits; machine
    channels get one alert per call.  `pace_secs` is the least time between two
    sends (the API's documented rate).
    """

    name: str
    min_severity: Severity
    retry_count: int
    groups: bool
    pace_secs: float
    send_resolved: bool

    def split(self, alerts: Sequence[Alert]) -> list[Sequence[Alert]]:
        """The messages these alerts make within the API's limits: each its alerts, in
        order, every alert in one.  The worker sends them one `send` at a time, paced,
        and a part that fails is retried alone: the parts before it were delivered."""

    async def send(self, alerts: Sequence[Alert]) -> None:
        """Deliver these alerts (one part `split` made) or raise `DeliveryError`."""

    async def close(self) -> None: ...


def alerts_of(chunks: Sequence[Sequence[tuple[Alert, object]]]) -> list[Sequence[Alert]]:
    """`split` of a channel that renders its messages as chunks of (alert, its rendering)."""
    return [[alert for alert, _ in chunk] for chunk in chunks]


class OneMessage:
    """For a channel whose every send is one message, whatever it holds (one alert of a
    machine channel, a mail)."""

    def split(self, alerts: Sequence[Alert]) -> list[Sequence[Alert]]:
        return [alerts]


def plain_text(text: str, limit: int = 4000) -> str:
    """Untrusted text made safe for a terminal or a log: no control or bidi characters."""
    return single_line(text, limit)
