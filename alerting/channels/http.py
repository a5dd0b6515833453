"""The HTTP side every web channel shares: one client, verified TLS, errors without URLs.

A 2xx is success.  429 is retried after the far side's own delay (the
Retry-After header, or a JSON `retry_after` as Discord and Telegram send it).
408 and 5xx are retried with backoff.  Other 4xx are permanent; 401, 403 and
404 mean the webhook or token is gone, so the channel is marked dead instead
of hammering it (Discord bans IPs that send too many invalid requests).
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import httpx

from alerting.channels.base import DeliveryError
from alerting.channels.tls import verified_context
from alerting.channels.transport import AsyncioTransport

_DEAD = (401, 403, 404, 410)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds form); None if absent or odd."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if 0 <= seconds <= 3600 else None


def where(url: str) -> str:
    """scheme://host for messages: never the path, which often holds a token."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")


def proxied(url: str) -> bool:
    """Whether the environment (HTTPS_PROXY, ALL_PROXY, NO_PROXY...) sends `url` via a proxy."""
    scheme, host = urlsplit(url).scheme, urlsplit(url).hostname or ""
    proxies = urllib.request.getproxies_environment()
    if not (proxies.get(scheme) or proxies.get("all")):
        return False
    return not urllib.request.proxy_bypass(host)  # reads NO_PROXY on Linux


class HttpPoster:
    def __init__(
        self, url: str, timeout_secs: float, user_agent: str, headers: dict[str, str] | None = None
    ) -> None:
        self.url = url
        self.where = where(url)
        options: dict[str, Any] = {
            "timeout": httpx.Timeout(timeout_secs),
            "follow_redirects": False,  # a redirect could carry the alert (and token) elsewhere
            "headers": {"User-Agent": user_agent, **(headers or {})},
        }
        if proxied(url):
            # httpx's own transport speaks to proxies (and then brings httpcore and anyio).
            self.client = httpx.AsyncClient(verify=verified_context(), **options)
        else:
            self.client = httpx.AsyncClient(
                transport=AsyncioTransport(verified_context), trust_env=False, **options
            )

    async def request(
        self,
        body: bytes,
        *,
        method: str = "POST",
        url: str | None = None,
        headers: dict[str, str] | None = None,
        accept: Callable[[httpx.Response], bool] | None = None,
    ) -> httpx.Response:
        try:
            response = await self.client.request(
                method,
                url or self.url,
                content=body,
                headers={"Content-Type": "application/json", **(headers or {})},
            )
        except httpx.TimeoutException:
            raise DeliveryError(f"timed out talking to {self.where}", retryable=True) from None
        except httpx.TransportError as exc:
            raise DeliveryError(
                f"cannot reach {self.where}: {type(exc).__name__}", retryable=True
            ) from None
        status = response.status_code
        if 200 <= status < 300 and (accept is None or accept(response)):
            return response
        detail = response.text[:200].strip()
        message = f"{self.where} answered HTTP {status}" + (f": {detail}" if detail else "")
        if status == 429:
            error = DeliveryError(message, retryable=True, retry_after=retry_after_of(response))
        elif status == 408 or status >= 500:
            error = DeliveryError(message, retryable=True)
        else:
            error = DeliveryError(message, retryable=False, dead=status in _DEAD)
        try:
            parsed = response.json()
            if isinstance(parsed, dict):
                error.details = parsed
        except ValueError:
            pass
        raise error

    async def close(self) -> None:
        await self.client.aclose()


def retry_after_of(response: httpx.Response) -> float | None:
    """The far side's delay: JSON retry_after (Discord, Telegram's parameters) or the header."""
    try:
        body: Any = response.json()
    except (ValueError, json.JSONDecodeError):
        body = None
    if isinstance(body, dict):
        for candidate in (
            body.get("retry_after"),
            (body.get("parameters") or {}).get("retry_after"),
        ):
            if isinstance(candidate, int | float) and 0 <= candidate <= 3600:
                return float(candidate)
    return parse_retry_after(response.headers.get("Retry-After"))
