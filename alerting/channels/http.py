"""The HTTP side every web channel shares: httpx, verified TLS, errors that name their cause.

One HTTP stack for Discord, Slack, Telegram and the webhook, direct or through
a proxy: httpx, imported when a channel sends its first request (a host that
never alerts never loads it).  What each request promises, whatever httpx's
defaults are:

* no redirect is followed: a redirect could carry the alert, and a token in
  the URL, elsewhere; it is a permanent error that says so;
* the answer is streamed and read up to MAX_BODY: a channel needs the status,
  the headers and a small JSON body (retry_after, error details), so whatever
  a server sends beyond that is not read (the response is truncated, marked,
  and its connection dropped instead of reused);
* one deadline per attempt, the channel's `timeout_secs`, covers connecting,
  sending and the whole answer: httpx's timeouts are per phase (each read may
  wait that long), so a server that drips a byte a second would never trip them;
* TLS is verified with `tls.verified_context()` (the system store,
  SSL_CERT_FILE / SSL_CERT_DIR);
* proxies and NO_PROXY come from the environment as httpx reads them, plus
  NO_PROXY address ranges (CIDR) for an endpoint given as an IP address,
  which httpx 0.28 does not match (it takes `10.0.0.0/8` for the one address
  10.0.0.0, and rejects an IPv6 range outright);
* an error names its cause in one line (certificate check, refused, DNS,
  timeout, TLS version, proxy) and the endpoint as scheme://host:port only,
  never the path, which often holds a token.

A 2xx is success.  429 is retried after the far side's own delay (the
Retry-After header, or a JSON `retry_after` as Discord and Telegram send it).
408 and 5xx are retried with backoff.  Other 4xx are permanent; 401, 403 and
404 mean the webhook or token is gone, so the channel is marked dead instead
of hammering it (Discord bans IPs that send too many invalid requests).
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import socket
import ssl
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from alerting.channels.base import DeliveryError, plain_text
from alerting.channels.tls import verified_context

if TYPE_CHECKING:
    import httpx

_DEAD = (401, 403, 404, 410)
MAX_BODY = 1 << 20  # bytes of an answer read at most; the rest is left unread
MAX_IDLE_CONNECTIONS = 2  # a channel sends one request at a time
KEEPALIVE_SECS = 5.0

# TLS alerts and errors that mean the two sides share no protocol version.
_VERSION_REASONS = frozenset(
    {
        "UNSUPPORTED_PROTOCOL",
        "TLSV1_ALERT_PROTOCOL_VERSION",
        "NO_PROTOCOLS_AVAILABLE",
        "VERSION_TOO_LOW",
        "VERSION_TOO_HIGH",
    }
)


@dataclass(frozen=True)
class HttpResponse:
    status_code: int
    headers: Mapping[str, str]  # names in lower case
    content: bytes  # at most MAX_BODY bytes
    truncated: bool = False  # the server sent more than MAX_BODY

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        """The body parsed as JSON; ValueError if it is not (a truncated body is not)."""
        return json.loads(self.content)


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
    """scheme://host:port for messages: never the path, which often holds a token,
    nor the user:password of a proxy URL."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    try:
        port = parts.port
    except ValueError:
        port = None
    return f"{parts.scheme}://{host}" + (f":{port}" if port else "")


def no_proxy_ranges(value: str | None) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """The address ranges (CIDR entries) of a NO_PROXY value; other entries are httpx's."""
    ranges = []
    for raw in (value or "").split(","):
        entry = raw.strip()
        if "/" in entry and "://" not in entry:
            try:
                ranges.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                continue
    return ranges


def _no_proxy_env() -> str | None:
    return os.environ.get("no_proxy") or os.environ.get("NO_PROXY")


def bypasses_proxy(url: str) -> bool:
    """Whether NO_PROXY holds an address range that covers this URL's IP-address host.

    A host name is not resolved for this (neither curl nor httpx does)."""
    host = urlsplit(url).hostname or ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(address in network for network in no_proxy_ranges(_no_proxy_env()))


class HttpPoster:
    """Requests to one channel's endpoint, as DeliveryErrors that say what to do next."""

    def __init__(
        self, url: str, timeout_secs: float, user_agent: str, headers: dict[str, str] | None = None
    ) -> None:
        self.url = url
        self.where = where(url)
        self.timeout_secs = timeout_secs
        self._headers = {
            "User-Agent": user_agent,
            # No compressed answers: a few kB of gzip can inflate to far more than MAX_BODY.
            "Accept-Encoding": "identity",
            **(headers or {}),
        }
        self._client: httpx.AsyncClient | None = None
        self.via: str | None = None  # the proxy httpx picked for self.url, for messages

    def _open(self) -> httpx.AsyncClient:
        import httpx

        host = urlsplit(self.url).hostname or ""
        mounts: dict[str, httpx.AsyncBaseTransport | None] | None = None
        if bypasses_proxy(self.url):
            mounts = {f"all://[{host}]" if ":" in host else f"all://{host}": None}
        try:
            client = httpx.AsyncClient(
                timeout=httpx.Timeout(self.timeout_secs),
                follow_redirects=False,
                verify=verified_context(),
                trust_env=True,
                limits=httpx.Limits(
                    max_keepalive_connections=MAX_IDLE_CONNECTIONS, keepalive_expiry=KEEPALIVE_SECS
                ),
                mounts=mounts,
            )
        except (httpx.InvalidURL, ValueError) as exc:
            # httpx reads the proxy variables when the client is made; an entry it cannot
            # parse (an IPv6 range in NO_PROXY, encode/httpx#3221) fails every request alike.
            raise DeliveryError(
                f"cannot send to {self.where}: httpx cannot read the proxy settings "
                f"(https_proxy/no_proxy): {plain_text(str(exc), 120)}",
                retryable=False,
                dead=True,
            ) from None
        self.via = _proxy_of(client, self.url)
        return client

    async def request(
        self,
        body: bytes,
        *,
        method: str = "POST",
        url: str | None = None,
        headers: dict[str, str] | None = None,
        accept: Callable[[HttpResponse], bool] | None = None,
    ) -> HttpResponse:
        if self._client is None:
            self._client = self._open()
        headers = {"Content-Type": "application/json", **(headers or {})}
        response = await self._exchange(self._client, method, url or self.url, body, headers)
        status = response.status_code
        if 200 <= status < 300 and (accept is None or accept(response)):
            return response
        if 300 <= status < 400:
            location = response.headers.get("location")
            target = f" to {where(location)}" if location and "://" in location else ""
            # Permanent: following it could carry the alert (and a token) elsewhere.
            raise DeliveryError(
                f"{self.where} answered HTTP {status}, a redirect{target}; redirects are not followed",
                retryable=False,
            )
        detail = plain_text(response.text[:200].strip(), 200)
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

    async def _exchange(
        self,
        client: httpx.AsyncClient,
        method: str,
        url: str,
        body: bytes,
        headers: dict[str, str],
    ) -> HttpResponse:
        import httpx

        via = f" via proxy {self.via}" if self.via else ""
        try:
            # The whole attempt: httpx's timeouts are per phase and per read.
            async with asyncio.timeout(self.timeout_secs):
                return await _read_capped(client, method, url, body, {**self._headers, **headers})
        except TimeoutError:
            raise DeliveryError(
                f"timed out talking to {self.where}{via}: no complete answer within "
                f"{self.timeout_secs:g} s",
                retryable=True,
            ) from None
        except httpx.TimeoutException as exc:
            phase = _TIMEOUT_PHASES.get(type(exc).__name__, "waiting")
            raise DeliveryError(
                f"timed out talking to {self.where}{via}: {phase}", retryable=True
            ) from None
        except (httpx.LocalProtocolError, UnicodeError):
            # Not the text: it may quote a header value, and header values hold tokens.
            raise DeliveryError(
                f"cannot send to {self.where}: a header name or value is not valid HTTP",
                retryable=False,
            ) from None
        except httpx.UnsupportedProtocol:
            raise DeliveryError(
                f"cannot send to {self.where}: not an http(s) URL", retryable=False
            ) from None
        except httpx.TransportError as exc:
            raise DeliveryError(
                f"cannot reach {self.where}{via}: {cause(exc)}", retryable=True
            ) from None

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


async def _read_capped(
    client: httpx.AsyncClient, method: str, url: str, body: bytes, headers: dict[str, str]
) -> HttpResponse:
    """One exchange, streamed: the body is read up to MAX_BODY and no further."""
    async with client.stream(method, url, content=body, headers=headers) as response:
        content = bytearray()
        truncated = False
        # Raw bytes: nothing is decompressed (identity was asked for) or decoded here.
        async for chunk in response.aiter_raw():
            content += chunk
            if len(content) > MAX_BODY:
                del content[MAX_BODY:]
                truncated = True
                break  # leaving the block closes the connection instead of draining it
        return HttpResponse(
            response.status_code,
            {k.lower(): v for k, v in response.headers.items()},
            bytes(content),
            truncated,
        )


_TIMEOUT_PHASES = {
    "ConnectTimeout": "connecting",
    "WriteTimeout": "sending the request",
    "ReadTimeout": "waiting for the answer",
    "PoolTimeout": "waiting for a free connection",
}


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception, its causes and contexts, and the members of exception groups."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        current = todo.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        if isinstance(current, BaseExceptionGroup):
            todo.extend(current.exceptions)
        for link in (current.__cause__, current.__context__):
            if link is not None:
                todo.append(link)


def cause(exc: BaseException) -> str:
    """What went wrong, in a few words, from the deepest useful exception in the chain.

    httpx wraps OS and TLS errors (httpcore's, then its own ConnectError), and
    anyio joins the attempts to each address of a host into one group."""
    chain = list(_chain(exc))
    for error in chain:
        if isinstance(error, ssl.SSLCertVerificationError):
            reason = error.verify_message or error.reason or "unknown reason"
            return f"certificate verify failed: {reason}"
    for error in chain:
        if isinstance(error, ssl.SSLError):
            reason = error.reason or type(error).__name__
            if reason in _VERSION_REASONS:
                return f"TLS handshake failed: no TLS version both sides accept ({reason})"
            if reason == "WRONG_VERSION_NUMBER":
                return f"TLS handshake failed: the server does not speak TLS there ({reason})"
            return f"TLS handshake failed: {reason}"
    for error in chain:
        if isinstance(error, socket.gaierror):
            return f"DNS lookup failed: {error.strerror or error}"
    for error in chain:
        if isinstance(error, ConnectionRefusedError):
            return "connection refused"
    for error in chain:
        if type(error).__name__ == "ProxyError":  # the proxy refused the CONNECT
            return f"the proxy answered {plain_text(str(error), 80)}"
    for error in chain:
        if type(error).__name__ == "RemoteProtocolError":
            return f"not a valid HTTP answer: {plain_text(str(error), 120)}"
    for error in chain:
        if isinstance(error, OSError) and error.strerror:
            return error.strerror.lower()
    return type(exc).__name__  # the failed step (ConnectError, ReadError, ...)


def _proxy_of(client: httpx.AsyncClient, url: str) -> str | None:
    """The proxy httpx will use for `url`, as scheme://host:port; None when direct.

    Only for error messages ("via proxy ..."): it reads httpx internals, so a
    future httpx that moves them makes this None, not an error."""
    import httpx

    try:
        transport = client._transport_for_url(httpx.URL(url))
    except (httpx.InvalidURL, ValueError):
        return None
    proxy = getattr(getattr(transport, "_pool", None), "_proxy_url", None)
    if proxy is None:
        return None
    try:
        return where(
            f"{proxy.scheme.decode()}://{proxy.host.decode()}"
            + (f":{proxy.port}" if proxy.port else "")
        )
    except (AttributeError, UnicodeDecodeError):
        return None


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
