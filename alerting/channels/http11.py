"""HTTP/1.1 for the web channels: h11 on asyncio streams.

h11 (the protocol engine under httpx) does the HTTP; this module keeps the
connections.  httpx itself costs ~2.7 MB resident once imported (with
urllib.request, the email package, idna and zstandard), and its default
transport adds httpcore and anyio, ~2.7 MB more from the first request: a
tenth of the agent's 50 MB budget, for sending a few small JSON POSTs
(benchmarks/overhead.py --feature-costs).  httpx is still what speaks to a
proxy from the environment (alerting/channels/http.py).

What a channel needs and no more: one request per connection at a time, an
idle connection kept for `keepalive_secs` and dropped once the server has
closed it, the whole response read (up to `max_body_bytes`), one timeout for
each of connect, send and receive, TLS verified with the shared context, no
redirects followed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import h11

DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_IDLE_PER_ORIGIN = 2
READ_CHUNK = 65536


class TransportError(Exception):
    """No complete response: the name of the subclass says which step failed."""


class ConnectError(TransportError):
    pass


class WriteError(TransportError):
    pass


class ReadError(TransportError):
    pass


class RemoteProtocolError(TransportError):
    pass


class LocalProtocolError(TransportError):
    """The request itself cannot be sent (a header with a line break, say)."""


class Timeout(TransportError):
    pass


@dataclass(frozen=True)
class HttpResponse:
    status_code: int
    headers: Mapping[str, str]  # names in lower case
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        """The body parsed as JSON; ValueError if it is not."""
        return json.loads(self.content)


Origin = tuple[str, str, int]


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.protocol = h11.Connection(h11.CLIENT)
        self.idle_since = time.monotonic()

    def usable(self, keepalive_secs: float) -> bool:
        """Still worth a request: fresh enough, and the server has not closed it."""
        return (
            time.monotonic() - self.idle_since < keepalive_secs
            and not self.reader.at_eof()
            and not self.writer.is_closing()
        )

    def close(self) -> None:
        self.writer.close()

    async def exchange(
        self, request: h11.Request, body: bytes, timeout: float, max_body: int
    ) -> tuple[HttpResponse, bool]:
        """Send one request, read the whole response; (response, connection reusable)."""
        events: tuple[h11.Event, ...] = (request, h11.EndOfMessage())
        if body:
            events = (request, h11.Data(data=body), h11.EndOfMessage())
        try:
            for message in events:
                self.writer.write(self.protocol.send(message) or b"")
            async with asyncio.timeout(timeout):
                await self.writer.drain()
        except TimeoutError:
            raise Timeout("sending the request") from None
        except OSError as exc:
            raise WriteError(str(exc)) from None
        except h11.LocalProtocolError as exc:
            raise LocalProtocolError(str(exc)) from None

        status, headers, content = 0, {}, bytearray()
        async with asyncio.timeout(timeout) as deadline:
            while True:
                try:
                    event: Any = self.protocol.next_event()
                except h11.RemoteProtocolError as exc:
                    raise RemoteProtocolError(str(exc)) from None
                if event is h11.NEED_DATA:
                    try:
                        data = await self.reader.read(READ_CHUNK)
                    except OSError as exc:
                        raise ReadError(str(exc)) from None
                    self.protocol.receive_data(data)  # b"" tells h11 the server closed
                    deadline.reschedule(asyncio.get_running_loop().time() + timeout)
                elif isinstance(event, h11.Response):
                    status = event.status_code
                    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in event.headers}
                elif isinstance(event, h11.Data):
                    content += event.data
                    if len(content) > max_body:
                        raise RemoteProtocolError(f"response body over {max_body} bytes")
                elif isinstance(event, h11.EndOfMessage):
                    break
                elif isinstance(event, h11.ConnectionClosed):
                    raise RemoteProtocolError("server disconnected without a response")
                # h11.InformationalResponse (100 Continue and the like): keep reading.
        reusable = self.protocol.our_state is h11.DONE and self.protocol.their_state is h11.DONE
        if reusable:
            self.protocol.start_next_cycle()
            self.idle_since = time.monotonic()
        return HttpResponse(status, headers, bytes(content)), reusable


class Http11Client:
    def __init__(
        self,
        ssl_context: Callable[[], ssl.SSLContext],
        timeout_secs: float,
        headers: Mapping[str, str] | None = None,
        keepalive_secs: float = 5.0,
        max_body_bytes: int = 1 << 20,
    ) -> None:
        # A factory, called on the first https connection: a verifying context
        # costs memory (its CA store) that a host which never alerts need not pay.
        self._ssl_context = ssl_context
        self._timeout = timeout_secs
        self._headers = dict(headers or {})
        self._keepalive_secs = keepalive_secs
        self._max_body = max_body_bytes
        self._idle: dict[Origin, list[_Connection]] = {}

    async def request(
        self, method: str, url: str, body: bytes = b"", headers: Mapping[str, str] | None = None
    ) -> HttpResponse:
        parts = urlsplit(url)
        if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {parts.scheme}://{parts.hostname or ''}")
        host = parts.hostname
        port = parts.port or DEFAULT_PORTS[parts.scheme]
        origin = (parts.scheme, host, port)
        # Only a non-ASCII name is IDNA-encoded: the codec costs ~0.4 MB once loaded.
        ascii_host = host if host.isascii() else host.encode("idna").decode("ascii")
        authority = f"[{host}]" if ":" in host else ascii_host
        if parts.port and parts.port != DEFAULT_PORTS[parts.scheme]:
            authority += f":{port}"
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        try:
            request = h11.Request(
                method=method,
                target=target,
                headers=[
                    ("Host", authority),
                    *self._headers.items(),
                    *(headers or {}).items(),
                    ("Content-Length", str(len(body))),
                ],
            )
        except (h11.LocalProtocolError, UnicodeError):
            # Not the text: it may quote a header value, and header values hold tokens.
            raise LocalProtocolError("a header name or value is not valid HTTP") from None
        connection = self._take_idle(origin) or await self._connect(origin)
        try:
            response, reusable = await connection.exchange(
                request, body, self._timeout, self._max_body
            )
        except TimeoutError:
            connection.close()
            raise Timeout("waiting for the response") from None
        except BaseException:
            connection.close()
            raise
        idle = self._idle.setdefault(origin, [])
        if reusable and len(idle) < MAX_IDLE_PER_ORIGIN:
            idle.append(connection)
        else:
            connection.close()
        return response

    def _take_idle(self, origin: Origin) -> _Connection | None:
        idle = self._idle.get(origin, [])
        while idle:
            connection = idle.pop()
            if connection.usable(self._keepalive_secs):
                return connection
            connection.close()
        return None

    async def _connect(self, origin: Origin) -> _Connection:
        scheme, host, port = origin
        context = self._ssl_context() if scheme == "https" else None
        try:
            async with asyncio.timeout(self._timeout):
                reader, writer = await asyncio.open_connection(
                    host, port, ssl=context, server_hostname=host if context else None
                )
        except TimeoutError:
            raise Timeout("connecting") from None
        except OSError as exc:  # refused, unreachable, DNS, and ssl.SSLError (certificate)
            raise ConnectError(str(exc)) from None
        return _Connection(reader, writer)

    async def aclose(self) -> None:
        connections = [c for idle in self._idle.values() for c in idle]
        self._idle.clear()
        for connection in connections:
            connection.close()
            with contextlib.suppress(OSError, ssl.SSLError):
                await connection.writer.wait_closed()
