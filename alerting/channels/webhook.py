"""Generic webhook: one JSON record per alert, POSTed (or PUT) to a URL.

The body carries the seed's fields (hostname, timestamp, severity, metric,
value, threshold, message, labels) plus id (one notification), alert_id and
first_fired (its episode), status, analyzer, fingerprint and context (for a
log alert, the raw line).  With a secret configured, the body
is signed: `X-Sysops-Signature: sha256=<hex HMAC-SHA256 of the body>`, so the
receiver can check who sent it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Sequence
from typing import Any

from alerting.alert import Alert, Severity
from alerting.channels.base import OneMessage
from alerting.channels.http import HttpPoster, parse_retry_after
from alerting.channels.registry import ChannelContext

__all__ = ["WebhookChannel", "parse_retry_after", "signature"]

SIGNATURE_HEADER = "X-Sysops-Signature"


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookChannel(OneMessage):
    name = "webhook"
    groups = False
    pace_secs = 0.0

    def __init__(
        self,
        url: str,
        *,
        method: str = "POST",
        headers: dict[str, str] | None = None,
        timeout_secs: float = 10.0,
        retry_count: int = 3,
        min_severity: Severity = Severity.INFO,
        user_agent: str = "sysops-agent",
        hmac_secret: str | None = None,
        send_resolved: bool = True,
    ) -> None:
        self.min_severity = min_severity
        self.retry_count = retry_count
        self.send_resolved = send_resolved
        self._method = method
        self._secret = hmac_secret
        self._http = HttpPoster(url, timeout_secs, user_agent, headers)

    async def send(self, alerts: Sequence[Alert]) -> None:
        for alert in alerts:
            body = json.dumps(
                alert.to_record(), separators=(",", ":"), allow_nan=False, default=str
            ).encode()
            headers = {SIGNATURE_HEADER: signature(self._secret, body)} if self._secret else {}
            await self._http.request(body, method=self._method, headers=headers)

    async def close(self) -> None:
        await self._http.close()


def build(section: Any, context: ChannelContext) -> WebhookChannel | None:
    """The channel from its settings section (alerting.channels.registry names this factory)."""
    if section.url is None:
        return None
    return WebhookChannel(
        section.url.reveal(),
        method=section.method,
        headers={k: v.reveal() for k, v in section.headers.items()},
        timeout_secs=section.timeout_secs,
        retry_count=section.retry_count,
        min_severity=context.min_severity,
        user_agent=context.user_agent,
        hmac_secret=section.hmac_secret.reveal() if section.hmac_secret else None,
        send_resolved=context.send_resolved,
    )
