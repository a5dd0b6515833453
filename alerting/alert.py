"""The alert event that analyzers emit and channels deliver."""

from __future__ import annotations

import enum
import hashlib
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


class Severity(enum.IntEnum):
    """Ordered, so routing can say "warn and above"."""

    INFO = 0
    WARN = 1
    CRITICAL = 2
    EMERGENCY = 3

    @classmethod
    def parse(cls, name: str) -> Severity:
        return cls[name.upper()]

    @property
    def label(self) -> str:
        return self.name.lower()


class Status(enum.StrEnum):
    FIRING = "firing"
    ESCALATED = "escalated"  # still firing, at another severity (up or down)
    RESOLVED = "resolved"


def fingerprint(analyzer: str, metric: str, labels: tuple[tuple[str, str], ...]) -> str:
    """Stable identity of "the same problem": analyzer + metric + labels.

    Severity and value are deliberately not part of it, so an escalation or a
    changing value is recognised as the same alert.
    """
    text = "\x1f".join([analyzer, metric, *(f"{k}={v}" for k, v in labels)])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class Alert:
    """One analyzer verdict about one series at one instant."""

    analyzer: str
    metric: str
    labels: tuple[tuple[str, str], ...]
    status: Status
    severity: Severity
    value: float
    threshold: float | None
    message: str
    timestamp: float
    hostname: str = ""
    context: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.analyzer, self.metric, self.labels)

    @property
    def labels_dict(self) -> dict[str, str]:
        return dict(self.labels)

    @property
    def iso_timestamp(self) -> str:
        return (
            datetime.fromtimestamp(self.timestamp, UTC)
            .isoformat(timespec="seconds")
            .replace("+00:00", "Z")
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON record used by machine channels (webhook, NATS, --once)."""
        return {
            "hostname": self.hostname,
            "timestamp": self.iso_timestamp,
            "status": self.status.value,
            "severity": self.severity.label,
            "metric": self.metric,
            "value": _finite(self.value),
            "threshold": None if self.threshold is None else _finite(self.threshold),
            "message": self.message,
            "labels": self.labels_dict,
            "analyzer": self.analyzer,
            "fingerprint": self.fingerprint,
        }

    def to_record(self) -> dict[str, Any]:
        """What webhooks and NATS publish: to_dict() plus a stable id and the scalar context."""
        import uuid  # machine channels only

        body = self.to_dict()
        # The same transition always gets the same id, so a receiver can drop a redelivery.
        body["id"] = str(
            uuid.uuid5(
                uuid.NAMESPACE_URL, f"{self.fingerprint}/{self.timestamp}/{self.status.value}"
            )
        )
        body["context"] = {
            k: v
            for k, v in self.context.items()
            if isinstance(v, str | int | float | bool) or v is None
        }
        return body


def _finite(value: float) -> float | None:
    """JSON has no NaN or infinity; an undefined number is null."""
    return value if math.isfinite(value) else None
