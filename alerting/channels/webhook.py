"""Generic webhook: one JSON record per alert, POSTed (or PUT) to a URL.

The body carries the seed's fields (hostname, timestamp, severity, metric,
value, threshold, message, labels) plus status, analyzer and fingerprint.
TLS is verified, redirects are not followed (a redirect could carry the alert
to another host), and the URL never appears in an error: it often holds a
token.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import httpx

from alerting.alert import Alert, Severity
from alerting.channels.base import DeliveryError


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds form); None if absent or odd."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if 0 <= seconds <= 3600 else None


class WebhookChannel:
    name = "webhook"

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
    ) -> None:
        self.min_severity = min_severity
        self.retry_count = retry_count
        self._url = url
        self._method = method
        parts = urlsplit(url)
        self._where = f"{parts.scheme}://{parts.hostname}"  # for messages: no path, no token
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_secs),
            follow_redirects=False,
            headers={
                "User-Agent": user_agent,
                "Content-Type": "application/json",
                **(headers or {}),
            },
        )

    async def send(self, alert: Alert) -> None:
        body = json.dumps(alert.to_dict(), separators=(",", ":"), allow_nan=False).encode()
        try:
            response = await self._client.request(self._method, self._url, content=body)
        except httpx.TimeoutException:
            raise DeliveryError(f"timed out talking to {self._where}", retryable=True) from None
        except httpx.TransportError as exc:
            reason = type(exc).__name__
            raise DeliveryError(f"cannot reach {self._where}: {reason}", retryable=True) from None
        status = response.status_code
        if 200 <= status < 300:
            return
        message = f"{self._where} answered HTTP {status}"
        if status == 429:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            raise DeliveryError(message, retryable=True, retry_after=retry_after)
        raise DeliveryError(message, retryable=status == 408 or status >= 500)

    async def close(self) -> None:
        await self._client.aclose()
