"""An httpx transport on asyncio streams and h11: HTTP/1.1 without httpcore and anyio.

httpx's default transport is httpcore, which on asyncio runs its locks and
sockets on anyio: about 2.7 MB that would stay resident in the daemon from the
first alert on (benchmarks/overhead.py, agent-leak).  An alert channel needs
little of it: a few small requests to one host, one at a time.  So this is
HTTP/1.1 through h11 (the protocol library httpcore itself uses) on asyncio's
own streams: one request per connection at a time, an idle connection kept for
`keepalive_secs` and dropped when the server has closed it, response bodies
read whole up to `max_body_bytes`, httpx's timeouts and exception types.

Proxies from the environment are httpx's business: `HttpPoster` hands a proxied
URL to httpx's own transport instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import Callable
from typing import Any

import h11
import httpx

DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_IDLE_PER_ORIGIN = 2
READ_CHUNK = 65536


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
        self, request: httpx.Request, timeouts: dict[str, float | None], max_body: int
    ) -> tuple[httpx.Response, bool]:
        """Send `request`, read the whole response; (response, connection reusable)."""
        outgoing: list[h11.Event] = [
            h11.Request(
                method=request.method, target=request.url.raw_path, headers=request.headers.raw
            )
        ]
        async for chunk in request.stream:  # type: ignore[union-attr]
            outgoing.append(h11.Data(data=chunk))
        outgoing.append(h11.EndOfMessage())
        try:
            for message in outgoing:
                self.writer.write(self.protocol.send(message) or b"")
            async with asyncio.timeout(timeouts.get("write")):
                await self.writer.drain()
        except TimeoutError:
            raise httpx.WriteTimeout("timed out sending the request", request=request) from None
        except OSError as exc:
            raise httpx.WriteError(str(exc), request=request) from None
        except h11.LocalProtocolError as exc:
            raise httpx.LocalProtocolError(str(exc), request=request) from None

        status, reason, body = 0, b"", bytearray()
        headers: list[tuple[bytes, bytes]] = []
        while True:
            try:
                event: Any = self.protocol.next_event()
            except h11.RemoteProtocolError as exc:
                raise httpx.RemoteProtocolError(str(exc), request=request) from None
            if event is h11.NEED_DATA:
                try:
                    async with asyncio.timeout(timeouts.get("read")):
                        data = await self.reader.read(READ_CHUNK)
                except TimeoutError:
                    raise httpx.ReadTimeout(
                        "timed out reading the response", request=request
                    ) from None
                except OSError as exc:
                    raise httpx.ReadError(str(exc), request=request) from None
                self.protocol.receive_data(data)  # b"" tells h11 the server closed
            elif isinstance(event, h11.Response):
                status, reason, headers = event.status_code, event.reason, list(event.headers)
            elif isinstance(event, h11.Data):
                body += event.data
                if len(body) > max_body:
                    raise httpx.RemoteProtocolError(
                        f"response body over {max_body} bytes", request=request
                    )
            elif isinstance(event, h11.EndOfMessage):
                break
            elif isinstance(event, h11.ConnectionClosed):
                raise httpx.RemoteProtocolError(
                    "server disconnected without sending a response", request=request
                )
            # h11.InformationalResponse (100 Continue and the like): keep reading.
        reusable = self.protocol.our_state is h11.DONE and self.protocol.their_state is h11.DONE
        if reusable:
            self.protocol.start_next_cycle()
            self.idle_since = time.monotonic()
        response = httpx.Response(
            status,
            headers=headers,
            stream=httpx.ByteStream(bytes(body)),
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": reason},
        )
        return response, reusable


class AsyncioTransport(httpx.AsyncBaseTransport):
    def __init__(
        self,
        ssl_context: Callable[[], ssl.SSLContext],
        keepalive_secs: float = 5.0,
        max_body_bytes: int = 1 << 20,
    ) -> None:
        # A factory, called on the first https connection: a verifying context
        # costs memory (its CA store) that a host which never alerts need not pay.
        self._ssl_context = ssl_context
        self._keepalive_secs = keepalive_secs
        self._max_body = max_body_bytes
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.scheme not in DEFAULT_PORTS:
            raise httpx.UnsupportedProtocol(f"unsupported scheme {url.scheme!r}", request=request)
        origin = (url.scheme, url.host, url.port or DEFAULT_PORTS[url.scheme])
        timeouts: dict[str, Any] = request.extensions.get("timeout", {})
        connection = self._take_idle(origin) or await self._connect(origin, request, timeouts)
        try:
            response, reusable = await connection.exchange(request, timeouts, self._max_body)
        except BaseException:
            connection.close()
            raise
        idle = self._idle.setdefault(origin, [])
        if reusable and len(idle) < MAX_IDLE_PER_ORIGIN:
            idle.append(connection)
        else:
            connection.close()
        return response

    def _take_idle(self, origin: tuple[str, str, int]) -> _Connection | None:
        idle = self._idle.get(origin, [])
        while idle:
            connection = idle.pop()
            if connection.usable(self._keepalive_secs):
                return connection
            connection.close()
        return None

    async def _connect(
        self, origin: tuple[str, str, int], request: httpx.Request, timeouts: dict[str, Any]
    ) -> _Connection:
        scheme, host, port = origin
        context = self._ssl_context() if scheme == "https" else None
        try:
            async with asyncio.timeout(timeouts.get("connect")):
                reader, writer = await asyncio.open_connection(
                    host, port, ssl=context, server_hostname=host if context else None
                )
        except TimeoutError:
            raise httpx.ConnectTimeout("timed out connecting", request=request) from None
        except OSError as exc:  # refused, unreachable, DNS, and ssl.SSLError (certificate)
            raise httpx.ConnectError(str(exc), request=request) from None
        return _Connection(reader, writer)

    async def aclose(self) -> None:
        connections = [c for idle in self._idle.values() for c in idle]
        self._idle.clear()
        for connection in connections:
            connection.close()
            with contextlib.suppress(OSError, ssl.SSLError):
                await connection.writer.wait_closed()
