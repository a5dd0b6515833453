"""The web channels' HTTP (httpx through HttpPoster) against real loopback servers:
redirects refused, the body cap, the per-attempt deadline, TLS verification and
its named errors, proxies and NO_PROXY from the environment, malformed answers."""

from __future__ import annotations

import asyncio
import functools
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from alerting.channels.base import DeliveryError
from alerting.channels.http import MAX_BODY, HttpPoster, cause, no_proxy_ranges, where
from alerting.channels.tls import verified_context

PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No proxy or CA variables from the caller: each test sets what it is about."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    verified_context.cache_clear()
    yield
    verified_context.cache_clear()


def run(test: Callable[..., Awaitable[None]]) -> Callable[..., None]:
    """A coroutine test run on its own event loop (pytest fixtures pass through)."""

    @functools.wraps(test)
    def wrapper(*args: object, **kwargs: object) -> None:
        asyncio.run(test(*args, **kwargs))

    return wrapper


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def server(
    handler: Handler, context: ssl.SSLContext | None = None, host: str = "127.0.0.1"
) -> AsyncIterator[int]:
    """A loopback server running `handler` for each connection; yields its port."""
    srv = await asyncio.start_server(handler, host, 0, ssl=context)
    try:
        yield srv.sockets[0].getsockname()[1]
    finally:
        srv.close()


async def read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """(request head, body) of one request with a Content-Length."""
    head = await reader.readuntil(b"\r\n\r\n")
    return head, await reader.readexactly(content_length(head))


def content_length(head: bytes) -> int:
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return int(line.split(b":", 1)[1])
    return 0


def reply(status: str = "200 OK", body: bytes = b"ok", extra: str = "") -> bytes:
    return f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode() + body


class KeepAlive:
    """Answers every request on a connection; counts connections and requests."""

    def __init__(self) -> None:
        self.connections = 0
        self.requests: list[tuple[bytes, bytes]] = []
        self.hang_up = asyncio.Event()  # set: close the connection once idle
        self.closed = asyncio.Event()

    async def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                request = asyncio.ensure_future(read_request(reader))
                hang_up = asyncio.ensure_future(self.hang_up.wait())
                await asyncio.wait((request, hang_up), return_when=asyncio.FIRST_COMPLETED)
                hang_up.cancel()
                if not request.done():
                    request.cancel()
                    break
                try:
                    self.requests.append(request.result())
                except asyncio.IncompleteReadError:
                    break
                writer.write(reply())
                await writer.drain()
        finally:
            writer.close()
            self.closed.set()


def trust(monkeypatch: pytest.MonkeyPatch, cert: Path) -> None:
    """Make the agent's own verifying context trust this certificate (as an operator would)."""
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    verified_context.cache_clear()


def tls_server_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return context


async def failure(url: str, timeout: float = 2.0, **kwargs: object) -> DeliveryError:
    poster = HttpPoster(url, timeout, "test")
    try:
        with pytest.raises(DeliveryError) as caught:
            await poster.request(b"{}", **kwargs)  # type: ignore[arg-type]
    finally:
        await poster.close()
    return caught.value


# -- what is sent, and connection reuse ---------------------------------------------------


@run
async def test_requests_share_a_kept_alive_connection() -> None:
    handler = KeepAlive()
    async with server(handler) as port:
        poster = HttpPoster(f"http://127.0.0.1:{port}/hook", 2.0, "test/1")
        for n in range(3):
            url = f"http://127.0.0.1:{port}/hook?n={n}"
            response = await poster.request(b"x" * n, url=url)
            assert response.status_code == 200 and response.text == "ok"
        await poster.close()
    assert handler.connections == 1
    heads = [head.lower() for head, _ in handler.requests]
    assert heads[2].startswith(b"post /hook?n=2 http/1.1\r\n")
    assert f"host: 127.0.0.1:{port}".encode() in heads[2]
    assert b"user-agent: test/1" in heads[2]
    assert b"accept-encoding: identity" in heads[2]  # no compressed answer to inflate
    assert [body for _, body in handler.requests] == [b"", b"x", b"xx"]


@run
async def test_a_connection_the_server_closed_while_idle_is_not_reused() -> None:
    handler = KeepAlive()
    async with server(handler) as port:
        poster = HttpPoster(f"http://127.0.0.1:{port}/", 2.0, "test")
        assert (await poster.request(b"1")).status_code == 200
        handler.hang_up.set()
        async with asyncio.timeout(5):
            await handler.closed.wait()
        handler.hang_up.clear()
        assert (await poster.request(b"2")).status_code == 200
        await poster.close()
    assert handler.connections == 2 and len(handler.requests) == 2


@run
async def test_a_chunked_429_gives_the_json_retry_after() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        body = b'{"ok": false, "retry_after": 1.5}'
        writer.write(
            b"HTTP/1.1 429 Too Many Requests\r\nTransfer-Encoding: chunked\r\n"
            b"Retry-After: 7\r\nConnection: close\r\n\r\n"
            + f"{len(body) - 5:x}\r\n".encode() + body[:-5] + b"\r\n"
            + b"5\r\n" + body[-5:] + b"\r\n0\r\n\r\n"
        )  # fmt: skip
        await writer.drain()
        writer.close()

    async with server(handler) as port:
        poster = HttpPoster(f"http://127.0.0.1:{port}/", 2.0, "test")
        for _ in range(2):  # the second needs a new connection: the first said close
            with pytest.raises(DeliveryError) as caught:
                await poster.request(b"{}")
            assert caught.value.retryable and caught.value.retry_after == 1.5
            assert caught.value.details == {"ok": False, "retry_after": 1.5}
        await poster.close()


@run
async def test_an_ipv6_literal_url() -> None:
    handler = KeepAlive()
    async with server(handler, host="::1") as port:
        poster = HttpPoster(f"http://[::1]:{port}/v6", 2.0, "test")
        response = await poster.request(b"x")
        await poster.close()
    assert response.status_code == 200
    assert f"host: [::1]:{port}".encode() in handler.requests[0][0].lower()
    assert where(f"http://[::1]:{port}/token") == f"http://[::1]:{port}"


@run
async def test_a_header_that_is_not_http_is_refused_without_quoting_it() -> None:
    handler = KeepAlive()
    async with server(handler) as port:
        for bad in ("tok\r\nX-Injected: 1", "tökén"):
            poster = HttpPoster(f"http://127.0.0.1:{port}/", 1.0, "test", {"Authorization": bad})
            with pytest.raises(DeliveryError) as caught:
                await poster.request(b"{}")
            await poster.close()
            assert not caught.value.retryable and "not valid HTTP" in str(caught.value)
            assert "tok" not in str(caught.value)
    assert handler.requests == []


# -- redirects, body cap, deadline ------------------------------------------------------------


@run
async def test_redirects_are_refused_and_named() -> None:
    elsewhere = KeepAlive()
    async with server(elsewhere) as other:
        for status in ("301 Moved Permanently", "302 Found", "307 Temporary Redirect", "308 Permanent Redirect"):  # fmt: skip

            async def redirect(
                reader: asyncio.StreamReader, writer: asyncio.StreamWriter, status: str = status
            ) -> None:
                await read_request(reader)
                location = f"Location: http://127.0.0.1:{other}/stolen/TOKEN\r\n"
                writer.write(reply(status, b"", location))
                await writer.drain()
                writer.close()

            async with server(redirect) as port:
                error = await failure(f"http://127.0.0.1:{port}/hook/TOKEN")
            code = status.split()[0]
            assert not error.retryable and not error.dead
            assert f"answered HTTP {code}, a redirect to http://127.0.0.1:{other}" in str(error)
            assert "not followed" in str(error) and "TOKEN" not in str(error)
    assert elsewhere.requests == []  # nothing went where the redirect pointed


@run
async def test_the_body_is_read_up_to_the_cap_only() -> None:
    sent: list[int] = []

    async def five_mib(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        size = 5 * MAX_BODY
        writer.write(f"HTTP/1.1 200 OK\r\nContent-Length: {size}\r\n\r\n".encode())
        written = 0
        try:
            while written < size:
                writer.write(b"x" * 65536)
                await writer.drain()
                written += 65536
        except OSError:
            pass  # the client stopped reading and hung up
        finally:
            sent.append(written)
            writer.close()

    async def endless(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = b"y" * 65536
        try:
            while True:  # never ends: only a client that stops reading gets an answer
                writer.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                await writer.drain()
        except OSError:
            writer.close()

    async with server(five_mib) as port:
        poster = HttpPoster(f"http://127.0.0.1:{port}/", 10.0, "test")
        started = time.monotonic()
        response = await poster.request(b"{}")
        await poster.close()
    assert time.monotonic() - started < 5
    assert response.status_code == 200 and response.truncated
    assert len(response.content) == MAX_BODY

    async with server(endless) as port:
        started = time.monotonic()
        error = await failure(f"http://127.0.0.1:{port}/", timeout=10.0)
    assert time.monotonic() - started < 5  # well inside the 10 s deadline: reading stopped
    assert "answered HTTP 404: yyy" in str(error) and not error.retryable


@run
async def test_a_slow_drip_is_cut_at_the_attempt_deadline() -> None:
    """A byte every 50 ms keeps each read inside httpx's per-phase timeout forever."""

    async def drip(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n")
        try:
            while True:
                writer.write(b".")
                await writer.drain()
                await asyncio.sleep(0.05)  # the server's pace, not a wait for anything
        except OSError:
            writer.close()

    async def drip_head(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        try:
            writer.write(b"HTTP/1.1 200 OK\r\n")
            while True:
                writer.write(b"X-Drip: 1\r\n")
                await writer.drain()
                await asyncio.sleep(0.05)
        except OSError:
            writer.close()

    for handler in (drip, drip_head):
        async with server(handler) as port:
            started = time.monotonic()
            async with asyncio.timeout(10):  # a failure of the test, rather than a hang
                error = await failure(f"http://127.0.0.1:{port}/secret", timeout=0.5)
            elapsed = time.monotonic() - started
        assert 0.45 <= elapsed < 2.0, (handler, elapsed)
        assert error.retryable
        assert str(error) == (
            f"timed out talking to http://127.0.0.1:{port}: no complete answer within 0.5 s"
        )


@run
async def test_timeouts_and_broken_answers_become_retryable_delivery_errors() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await asyncio.sleep(5)

    async def hangs_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.close()

    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"SSH-2.0-OpenSSH_9.2\r\n\r\n")
        await writer.drain()
        writer.close()

    expected = {
        silent: "timed out talking to",
        hangs_up: "not a valid HTTP answer: Server disconnected",
        garbage: "not a valid HTTP answer",
    }
    for handler, message in expected.items():
        async with server(handler) as port:
            error = await failure(f"http://127.0.0.1:{port}/", timeout=0.3)
        assert error.retryable and message in str(error), (handler, error)


@run
async def test_a_refused_connection_is_named() -> None:
    async with server(KeepAlive()) as port:
        pass  # closed: nothing listens on the port any more
    error = await failure(f"http://127.0.0.1:{port}/token")
    assert str(error) == f"cannot reach http://127.0.0.1:{port}: connection refused"
    assert error.retryable


# -- TLS -------------------------------------------------------------------------------------


@run
async def test_tls_is_verified_and_its_failures_named(
    monkeypatch: pytest.MonkeyPatch, certificate: tuple[Path, Path]
) -> None:
    handler = KeepAlive()
    async with server(handler, tls_server_context(certificate)) as port:
        # The system store does not know this self-signed certificate.
        error = await failure(f"https://localhost:{port}/token")
        assert str(error) == (
            f"cannot reach https://localhost:{port}: certificate verify failed: self-signed certificate"
        )
        assert error.retryable  # the far side may fix it (a renewed certificate)

        trust(monkeypatch, certificate[0])
        poster = HttpPoster(f"https://localhost:{port}/token", 2.0, "test")
        assert (await poster.request(b"secret")).status_code == 200
        await poster.close()
    assert handler.requests[0][1] == b"secret" and len(handler.requests) == 1

    # Trusted, but for localhost and 127.0.0.1 only.
    async with server(KeepAlive(), tls_server_context(certificate), host="127.0.0.2") as port:
        error = await failure(f"https://127.0.0.2:{port}/token")
    assert f"cannot reach https://127.0.0.2:{port}: certificate verify failed: " in str(error)
    assert "mismatch, certificate is not valid for '127.0.0.2'" in str(error)


@run
async def test_https_to_a_plain_http_port_is_named(
    monkeypatch: pytest.MonkeyPatch, certificate: tuple[Path, Path]
) -> None:
    async def plain(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(100)  # a ClientHello, which a plain server answers as a bad request
        writer.write(reply("400 Bad Request", b"", "Connection: close\r\n"))
        await writer.drain()
        writer.close()

    trust(monkeypatch, certificate[0])
    async with server(plain) as port:
        error = await failure(f"https://localhost:{port}/")
    assert "TLS handshake failed: the server does not speak TLS there" in str(error)


def test_causes_named_from_the_exception_chain() -> None:
    """The chains httpx raises for failures a loopback test cannot produce."""

    def wrapped(inner: BaseException) -> httpx.ConnectError:
        try:
            try:
                raise inner
            except BaseException as exc:
                raise httpx.ConnectError("") from exc
        except httpx.ConnectError as outer:
            return outer

    dns = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    assert cause(wrapped(dns)) == "DNS lookup failed: Name or service not known"
    version = ssl.SSLError(1, "[SSL: TLSV1_ALERT_PROTOCOL_VERSION] tlsv1 alert protocol version")
    version.reason = "TLSV1_ALERT_PROTOCOL_VERSION"  # type: ignore[misc]
    assert cause(wrapped(version)) == (
        "TLS handshake failed: no TLS version both sides accept (TLSV1_ALERT_PROTOCOL_VERSION)"
    )
    # anyio joins the attempts at each address of a name into one group.
    group = ExceptionGroup("attempts", [ConnectionRefusedError(111, "Connection refused")])
    attempts = OSError("All connection attempts failed")
    attempts.__cause__ = group
    assert cause(wrapped(attempts)) == "connection refused"
    assert cause(httpx.ReadError("")) == "ReadError"


def test_verified_context_trusts_the_system_store_lazily(
    monkeypatch: pytest.MonkeyPatch, certificate: tuple[Path, Path]
) -> None:
    context = verified_context()
    assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname
    if Path("/etc/ssl/certs").is_dir() and any(Path("/etc/ssl/certs").glob("*.0")):
        # A hashed directory: nothing parsed until a handshake asks for an issuer.
        assert context.cert_store_stats()["x509"] == 0
    trust(monkeypatch, certificate[0])
    assert verified_context().cert_store_stats()["x509_ca"] == 1


def test_without_a_hashed_directory_the_system_bundle_is_trusted(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """RHEL without the directory-hash: the operator's bundle file, not certifi's."""
    from alerting.channels import tls

    bundle = ssl.get_default_verify_paths().cafile
    assert bundle, "this machine has a system CA bundle (ca-certificates)"
    (tmp_path / "ca-bundle.crt").write_text("")  # a directory without hashed names
    monkeypatch.setattr(tls, "SYSTEM_CA_DIRS", (str(tmp_path), str(tmp_path / "absent")))
    verified_context.cache_clear()
    loaded = verified_context().cert_store_stats()["x509_ca"]
    assert loaded == ssl.create_default_context(cafile=bundle).cert_store_stats()["x509_ca"] > 0


# -- proxies ---------------------------------------------------------------------------------


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        writer.close()


class ForwardProxy:
    """A loopback forward proxy: relays absolute-URL requests and CONNECT tunnels,
    and records each request line it was asked to forward."""

    def __init__(self, refuse_connect: bool = False) -> None:
        self.lines: list[str] = []
        self.refuse_connect = refuse_connect

    async def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        line, rest = head.split(b"\r\n", 1)
        self.lines.append(line.decode())
        method, target, _ = line.decode().split(" ", 2)
        if method == "CONNECT":
            if self.refuse_connect:
                writer.write(reply("403 Forbidden", b""))
                await writer.drain()
                writer.close()
                return
            host, port = target.rsplit(":", 1)
            up_reader, up_writer = await asyncio.open_connection(host.strip("[]"), int(port))
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
            return
        parts = urlsplit(target)
        body = await reader.readexactly(content_length(head))
        up_reader, up_writer = await asyncio.open_connection(parts.hostname, parts.port)
        origin_form = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        up_writer.write(f"{method} {origin_form} HTTP/1.1\r\n".encode() + rest + body)
        answer = await up_reader.readuntil(b"\r\n\r\n")
        answer += await up_reader.readexactly(content_length(answer))
        up_writer.close()
        writer.write(answer)  # one request per proxy connection, then close
        await writer.drain()
        writer.close()


@run
async def test_the_proxy_from_the_environment_and_no_proxy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    proxy, target = ForwardProxy(), KeepAlive()
    async with server(proxy) as proxy_port, server(target) as port:
        url = f"http://127.0.0.1:{port}/api/hook?token=1"
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy_port}")
        cases = {
            None: True,
            "example.com,localhost": True,  # nothing that matches
            "127.0.0.1": False,
            "127.0.0.0/8": False,  # an address range (httpx alone would not match it)
            "10.0.0.0/8, 192.168.0.0/16": True,
            "*": False,
        }
        for no_proxy, through_proxy in cases.items():
            if no_proxy is None:
                monkeypatch.delenv("NO_PROXY", raising=False)
            else:
                monkeypatch.setenv("NO_PROXY", no_proxy)
            before = len(proxy.lines), len(target.requests)
            poster = HttpPoster(url, 2.0, "test")
            assert (await poster.request(b"{}")).status_code == 200
            assert poster.via == (f"http://127.0.0.1:{proxy_port}" if through_proxy else None)
            await poster.close()
            assert len(target.requests) == before[1] + 1, no_proxy  # delivered either way
            if through_proxy:  # a forward proxy gets the absolute URL
                assert proxy.lines[before[0] :] == [f"POST {url} HTTP/1.1"], no_proxy
            else:
                assert len(proxy.lines) == before[0], no_proxy
    # The proxy gone: the error says it was the proxy that could not be reached.
    monkeypatch.delenv("NO_PROXY")
    error = await failure(url)
    assert str(error) == (
        f"cannot reach http://127.0.0.1:{port} via proxy http://127.0.0.1:{proxy_port}: "
        "connection refused"
    )


@run
async def test_https_through_a_proxy_tunnel(
    monkeypatch: pytest.MonkeyPatch, certificate: tuple[Path, Path]
) -> None:
    trust(monkeypatch, certificate[0])
    proxy, target = ForwardProxy(), KeepAlive()
    async with (
        server(proxy) as proxy_port,
        server(target, tls_server_context(certificate)) as port,
    ):
        monkeypatch.setenv("HTTPS_PROXY", f"http://user:pw@127.0.0.1:{proxy_port}")
        poster = HttpPoster(f"https://localhost:{port}/hook", 2.0, "test")
        assert (await poster.request(b"tunnelled")).status_code == 200
        await poster.close()
        assert proxy.lines == [f"CONNECT localhost:{port} HTTP/1.1"]
        assert target.requests[0][1] == b"tunnelled"  # TLS end to end, verified

    async with server(ForwardProxy(refuse_connect=True)) as proxy_port:
        monkeypatch.setenv("HTTPS_PROXY", f"http://user:pw@127.0.0.1:{proxy_port}")
        error = await failure("https://localhost:1/hook")
    assert str(error) == (
        f"cannot reach https://localhost:1 via proxy http://127.0.0.1:{proxy_port}: "
        "the proxy answered 403 Forbidden"
    )
    assert "pw" not in str(error)


@run
async def test_a_no_proxy_httpx_cannot_read_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("NO_PROXY", "fd00::/8")
    error = await failure("https://127.0.0.1:9/token")
    assert error.dead and "httpx cannot read the proxy settings" in str(error)


def test_no_proxy_ranges() -> None:
    ranges = no_proxy_ranges(" 10.0.0.0/8, host.example, 192.168.1.7/32 , fd00::/8, x/y, *")
    assert [str(r) for r in ranges] == ["10.0.0.0/8", "192.168.1.7/32", "fd00::/8"]


# -- footprint -------------------------------------------------------------------------------


@pytest.mark.e2e
def test_httpx_is_imported_at_the_first_request_only() -> None:
    """A web channel that never sends never loads httpx, httpcore or anyio (~5 MB resident)."""
    code = """
import asyncio, sys
from alerting.channels.discord import DiscordChannel
from alerting.channels.slack import SlackChannel
from alerting.channels.telegram import TelegramChannel
from alerting.channels.webhook import WebhookChannel

heavy = ("httpx", "httpcore", "anyio", "h11")
async def main():
    async def handler(reader, writer):
        await reader.readuntil(b"\\r\\n\\r\\n"); await reader.readexactly(2)
        writer.write(b"HTTP/1.1 204 No Content\\r\\n\\r\\n"); await writer.drain(); writer.close()
    srv = await asyncio.start_server(handler, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{srv.sockets[0].getsockname()[1]}/"
    channels = [DiscordChannel(url), SlackChannel(url), TelegramChannel("t", "1", api_url=url),
                WebhookChannel(url)]
    print(sorted(m for m in heavy if m in sys.modules))
    print((await channels[3]._http.request(b"{}")).status_code)
    print(sorted(m for m in heavy if m in sys.modules))
    for channel in channels:
        await channel.close()
    srv.close()

asyncio.run(main())
"""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
        env={"PATH": "/usr/bin:/bin"},  # no proxy variables from the caller
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:3] == ["[]", "204", "['anyio', 'h11', 'httpcore', 'httpx']"]
