"""The alert event that analyzers emit and channels deliver."""

from __future__ import annotations

import enum
import importlib
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


def _sha256_class() -> Any:
    """CPython's built-in SHA-256 (`_sha2` from 3.12, `_sha256` before), else hashlib's.

    The same digest either way; hashlib itself loads OpenSSL's and enumerates its
    digests at import, ~0.6 MB resident that an agent without TLS never needs.
    """
    for name in ("_sha2", "_sha256"):
        try:
            return importlib.import_module(name).sha256
        except ImportError:
            continue
    return importlib.import_module("hashlib").sha256


_SHA256 = _sha256_class()


def sha256_hex(data: bytes) -> str:
    """The SHA-256 of `data` in hex (fingerprints, record digests)."""
    return str(_SHA256(data).hexdigest())


def fingerprint(analyzer: str, metric: str, labels: tuple[tuple[str, str], ...]) -> str:
    """Stable identity of "the same problem": analyzer + metric + labels.

    Severity and value are deliberately not part of it, so an escalation or a
    changing value is recognised as the same alert.
    """
    text = "\x1f".join([analyzer, metric, *(f"{k}={v}" for k, v in labels)])
    return sha256_hex(text.encode("utf-8"))[:16]


@dataclass(frozen=True, kw_only=True)
class Alert:
    """One analyzer verdict about one series at one instant.

    Keyword-only: ten fields of which several are floats, so a swapped value and
    threshold would type-check if they were positional.
    """

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
    # The store's id of the series, when the analyzer had it: enrichment reads the
    # series' recent values without looking the key up again.  Never serialised
    # (ids are reused after a series retires, and mean nothing outside this process).
    series_id: int | None = field(default=None, compare=False, repr=False)
    # When this alert episode began (its first FIRING); set by the router, which alone
    # knows.  None: this event is its own beginning (`--once`, `replay`, a log line).
    first_fired: float | None = None

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

    @property
    def alert_id(self) -> str:
        """One alert episode: the fingerprint and when it first fired (milliseconds).

        Every notification of the episode (FIRING, ESCALATED, "still firing"
        repeats, RESOLVED) carries it, so a receiver groups them by it; a
        re-fire after a RESOLVED was sent is a new episode with a new `alert_id`.
        """
        first = self.timestamp if self.first_fired is None else self.first_fired
        return f"{self.fingerprint}-{round(first * 1000)}"

    @property
    def id(self) -> str:
        """One notification: stable across redeliveries of it (an outbox retry, a JetStream
        re-publish), so a receiver can drop duplicates; each repeat has its own timestamp
        and so its own id."""
        import uuid  # machine channels only

        return str(
            uuid.uuid5(
                uuid.NAMESPACE_URL, f"{self.fingerprint}/{self.timestamp}/{self.status.value}"
            )
        )

    def to_record(self) -> dict[str, Any]:
        """The one JSON record (docs/schemas/alert.schema.json): webhooks, NATS, --once, the outbox.

        `from_record` is its inverse, exact for everything but the context's
        non-scalar values (dropped) and non-finite numbers (null, read back as NaN).
        """
        return {
            "id": self.id,
            "hostname": self.hostname,
            "timestamp": self.iso_timestamp,
            "epoch": self.timestamp,
            "status": self.status.value,
            "severity": self.severity.label,
            "metric": self.metric,
            "value": _finite(self.value),
            "threshold": None if self.threshold is None else _finite(self.threshold),
            "message": self.message,
            "labels": self.labels_dict,
            "analyzer": self.analyzer,
            "fingerprint": self.fingerprint,
            "alert_id": self.alert_id,
            "first_fired": self.timestamp if self.first_fired is None else self.first_fired,
            "context": {
                k: _finite(v) if isinstance(v, float) else v
                for k, v in self.context.items()
                if isinstance(v, str | int | float | bool) or v is None
            },
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Alert:
        """The alert a `to_record()` describes; KeyError, ValueError or TypeError if it is not one."""
        value = record["value"]
        threshold = record["threshold"]
        return cls(
            analyzer=str(record["analyzer"]),
            metric=str(record["metric"]),
            labels=tuple((str(k), str(v)) for k, v in dict(record["labels"]).items()),
            status=Status(record["status"]),
            severity=Severity.parse(record["severity"]),
            value=math.nan if value is None else float(value),
            threshold=None if threshold is None else float(threshold),
            message=str(record["message"]),
            timestamp=float(record["epoch"]),
            hostname=str(record.get("hostname", "")),
            context=_context(record),
            first_fired=_first_fired(record),
        )


# Analyzers whose threshold was a number of σ before alerts said so themselves (context
# "threshold_unit"): an outbox row written by that version still renders its threshold in σ.
SIGMA_BEFORE_THRESHOLD_UNIT = frozenset({"zscore", "season"})


def _context(record: dict[str, Any]) -> dict[str, Any]:
    context = dict(record.get("context") or {})
    if record["analyzer"] in SIGMA_BEFORE_THRESHOLD_UNIT:
        context.setdefault("threshold_unit", "sigma")
    return context


def _first_fired(record: dict[str, Any]) -> float | None:
    """None when the episode began with this very event (how an unrouted alert says it), and
    for an outbox row written before `first_fired` existed: its own start either way."""
    first = record.get("first_fired")
    return None if first is None or float(first) == float(record["epoch"]) else float(first)


def _finite(value: float) -> float | None:
    """JSON has no NaN or infinity; an undefined number is null."""
    return value if math.isfinite(value) else None
