"""The HTTP side every web channel shares: one client, verified TLS, errors without URLs.

A 2xx is success.  429 is retried after the far side's own delay (the
Retry-After header, or a JSON `retry_after` as Discord and Telegram send it).
408 and 5xx are retried with backoff.  Other 4xx are permanent; 401, 403 and
404 mean the webhook or token is gone, so the channel is marked dead instead
of hammering it (Discord bans IPs that send too many invalid requests).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from alerting.channels.base import DeliveryError
from alerting.channels.http11 import (
    Http11Client,
    HttpResponse,
    LocalProtocolError,
    Timeout,
    TransportError,
)
from alerting.channels.tls import verified_context

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
    """Whether the environment (https_proxy, all_proxy, no_proxy, any case) sends `url`
    through a proxy, read as curl and urllib read it."""
    parts = urlsplit(url)
    if not (_env(f"{parts.scheme}_proxy") or _env("all_proxy")):
        return False
    host = (parts.hostname or "").lower()
    for raw in (_env("no_proxy") or "").replace(" ", "").split(","):
        entry = raw.lower()
        if entry == "*":
            return False
        name = entry.lstrip(".")
        if name.count(":") == 1:  # host:port (an IPv6 address has more colons)
            name = name.split(":", 1)[0]
        if name and (host == name or host.endswith("." + name)):
            return False
    return True


def _env(name: str) -> str | None:
    return os.environ.get(name) or os.environ.get(name.upper())


class HttpPoster:
    """Requests to one channel's endpoint, as DeliveryErrors that say what to do next."""

    def __init__(
        self, url: str, timeout_secs: float, user_agent: str, headers: dict[str, str] | None = None
    ) -> None:
        self.url = url
        self.where = where(url)
        self._headers = {"User-Agent": user_agent, **(headers or {})}
        self._client = Http11Client(verified_context, timeout_secs, self._headers)
        self._proxied: Any = None
        if proxied(url):
            import httpx  # speaks to proxies; imported only when one is configured

            self._proxied = httpx.AsyncClient(
                timeout=httpx.Timeout(timeout_secs),
                follow_redirects=False,  # a redirect could carry the alert (and token) elsewhere
                verify=verified_context(),
                headers=self._headers,
            )

    async def request(
        self,
        body: bytes,
        *,
        method: str = "POST",
        url: str | None = None,
        headers: dict[str, str] | None = None,
        accept: Callable[[HttpResponse], bool] | None = None,
    ) -> HttpResponse:
        headers = {"Content-Type": "application/json", **(headers or {})}
        send = self._client.request if self._proxied is None else self._through_proxy
        try:
            response = await send(method, url or self.url, body, headers)
        except Timeout:
            raise DeliveryError(f"timed out talking to {self.where}", retryable=True) from None
        except LocalProtocolError as exc:
            raise DeliveryError(f"cannot send to {self.where}: {exc}", retryable=False) from None
        except TransportError as exc:
            # The failed step's name (ConnectError, ...); httpx's, through a proxy.
            step = str(exc) if type(exc) is TransportError else type(exc).__name__
            raise DeliveryError(f"cannot reach {self.where}: {step}", retryable=True) from None
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

    async def _through_proxy(
        self, method: str, url: str, body: bytes, headers: dict[str, str]
    ) -> HttpResponse:
        import httpx

        try:
            response = await self._proxied.request(method, url, content=body, headers=headers)
        except httpx.TimeoutException:
            raise Timeout("through the proxy") from None
        except httpx.TransportError as exc:
            raise TransportError(type(exc).__name__) from None  # ProxyError, ConnectError, ...
        return HttpResponse(
            response.status_code,
            {k.lower(): v for k, v in response.headers.items()},
            response.content,
        )

    async def close(self) -> None:
        await self._client.aclose()
        if self._proxied is not None:
            await self._proxied.aclose()


def retry_after_of(response: HttpResponse) -> float | None:
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
    return parse_retry_after(response.headers.get("retry-after"))
