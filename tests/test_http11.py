"""The web channels' HTTP transport against real loopback servers: reuse, stale
connections, TLS verification, timeouts, malformed answers, proxies."""

from __future__ import annotations

import asyncio
import functools
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from alerting.channels.base import DeliveryError
from alerting.channels.http import HttpPoster, proxied
from alerting.channels.http11 import Http11Client, RemoteProtocolError
from alerting.channels.tls import verified_context


def run(test: Callable[..., Awaitable[None]]) -> Callable[..., None]:
    """A coroutine test run on its own event loop (pytest fixtures pass through)."""

    @functools.wraps(test)
    def wrapper(*args: object, **kwargs: object) -> None:
        asyncio.run(test(*args, **kwargs))

    return wrapper


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def server(handler: Handler, context: ssl.SSLContext | None = None) -> AsyncIterator[int]:
    """A loopback server running `handler` for each connection; yields its port."""
    srv = await asyncio.start_server(handler, "127.0.0.1", 0, ssl=context)
    try:
        yield srv.sockets[0].getsockname()[1]
    finally:
        srv.close()


async def read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """(request head, body) of one request with a Content-Length."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return head, await reader.readexactly(length)


def reply(status: str = "200 OK", body: bytes = b"ok", extra: str = "") -> bytes:
    return f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode() + body


class KeepAlive:
    """Answers every request on a connection; counts connections and requests."""

    def __init__(self, close_idle_after: float | None = None) -> None:
        self.connections = 0
        self.requests: list[tuple[bytes, bytes]] = []
        self.close_idle_after = close_idle_after

    async def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                try:
                    async with asyncio.timeout(self.close_idle_after):
                        request = await read_request(reader)
                except (asyncio.IncompleteReadError, TimeoutError):
                    break
                self.requests.append(request)
                writer.write(reply())
                await writer.drain()
        finally:
            writer.close()


@asynccontextmanager
async def client(**kwargs: float) -> AsyncIterator[Http11Client]:
    http = Http11Client(ssl.create_default_context, 2.0, {"User-Agent": "test"}, **kwargs)  # type: ignore[arg-type]
    try:
        yield http
    finally:
        await http.aclose()


@run
async def test_requests_share_a_kept_alive_connection() -> None:
    handler = KeepAlive()
    async with server(handler) as port, client() as http:
        for n in range(3):
            response = await http.request("POST", f"http://127.0.0.1:{port}/hook?n={n}", b"x" * n)
            assert response.status_code == 200 and response.text == "ok"
    assert handler.connections == 1
    heads = [head for head, _ in handler.requests]
    assert heads[2].startswith(b"POST /hook?n=2 HTTP/1.1\r\n")
    assert f"host: 127.0.0.1:{port}".encode() in heads[2].lower()
    assert [body for _, body in handler.requests] == [b"", b"x", b"xx"]


@run
async def test_a_connection_the_server_closed_while_idle_is_not_reused() -> None:
    handler = KeepAlive(close_idle_after=0.1)
    async with server(handler) as port, client() as http:
        assert (await http.request("POST", f"http://127.0.0.1:{port}/", b"1")).status_code == 200
        await asyncio.sleep(0.4)  # the server hangs up meanwhile
        assert (await http.request("POST", f"http://127.0.0.1:{port}/", b"2")).status_code == 200
    assert handler.connections == 2 and len(handler.requests) == 2


@run
async def test_an_expired_idle_connection_is_replaced() -> None:
    handler = KeepAlive()
    async with server(handler) as port, client(keepalive_secs=0.05) as http:
        await http.request("POST", f"http://127.0.0.1:{port}/", b"1")
        await asyncio.sleep(0.15)
        await http.request("POST", f"http://127.0.0.1:{port}/", b"2")
    assert handler.connections == 2


@run
async def test_connection_close_and_chunked_responses() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head, _ = await read_request(reader)
        assert b"accept-encoding" not in head.lower()  # so no compressed answers to decode
        body = b'{"ok": true, "retry_after": 1.5}'
        writer.write(
            b"HTTP/1.1 429 Too Many Requests\r\nTransfer-Encoding: chunked\r\n"
            b"Retry-After: 7\r\nConnection: close\r\n\r\n"
            + f"{len(body) - 5:x}\r\n".encode() + body[:-5] + b"\r\n"
            + b"5\r\n" + body[-5:] + b"\r\n0\r\n\r\n"
        )  # fmt: skip
        await writer.drain()
        writer.close()

    async with server(handler) as port, client() as http:
        for _ in range(2):  # the second needs a new connection: the first said close
            response = await http.request("POST", f"http://127.0.0.1:{port}/", b"{}")
            assert response.status_code == 429 and response.headers["retry-after"] == "7"
            assert response.json() == {"ok": True, "retry_after": 1.5}


@run
async def test_tls_is_verified(certificate: tuple[Path, Path]) -> None:
    handler = KeepAlive()
    cert, key = certificate
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    trusting = Http11Client(lambda: ssl.create_default_context(cafile=str(cert)), 2.0)
    async with server(handler, server_context) as port:
        response = await trusting.request("POST", f"https://localhost:{port}/", b"secret")
        assert response.status_code == 200
        await trusting.aclose()
        # The system store does not know this self-signed certificate.
        poster = HttpPoster(f"https://localhost:{port}/token", 2.0, "test")
        with pytest.raises(DeliveryError) as caught:
            await poster.request(b"{}")
        await poster.close()
    assert handler.requests[0][1] == b"secret" and len(handler.requests) == 1
    assert caught.value.retryable and "https://localhost" in str(caught.value)
    assert "token" not in str(caught.value)


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
        hangs_up: "RemoteProtocolError",
        garbage: "RemoteProtocolError",
    }
    for handler, message in expected.items():
        async with server(handler) as port:
            poster = HttpPoster(f"http://127.0.0.1:{port}/", 0.3, "test")
            with pytest.raises(DeliveryError) as caught:
                await poster.request(b"{}")
            await poster.close()
        assert caught.value.retryable and message in str(caught.value), handler


@run
async def test_refused_connection_and_oversized_body() -> None:
    async with server(KeepAlive()) as port:
        pass  # closed: nothing listens on the port any more
    poster = HttpPoster(f"http://127.0.0.1:{port}/", 1.0, "test")
    with pytest.raises(DeliveryError, match=r"cannot reach http://127\.0\.0\.1:.*ConnectError"):
        await poster.request(b"{}")
    await poster.close()

    async def huge(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(reply(body=b"x" * 5000))
        await writer.drain()

    async with server(huge) as port, client(max_body_bytes=4096) as http:
        with pytest.raises(RemoteProtocolError, match="over 4096 bytes"):
            await http.request("POST", f"http://127.0.0.1:{port}/", b"{}")


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


@run
async def test_a_proxy_from_the_environment_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    proxy = KeepAlive()
    async with server(proxy) as port:
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{port}")
        monkeypatch.setenv("NO_PROXY", "internal.example")
        assert proxied("http://hooks.example.com/x")
        assert not proxied("http://internal.example/x")
        assert not proxied("https://hooks.example.com/x")  # no HTTPS_PROXY
        assert not proxied("http://a.internal.example/x")  # a subdomain of a NO_PROXY entry
        poster = HttpPoster("http://hooks.example.com/api/hook", 2.0, "test")
        assert (await poster.request(b"{}")).status_code == 200
        await poster.close()
    # A forward proxy gets the absolute URL.
    assert proxy.requests[0][0].startswith(b"POST http://hooks.example.com/api/hook HTTP/1.1")
    # The proxy gone: httpx's error, named as the direct path names its own.
    poster = HttpPoster("http://hooks.example.com/api/hook", 1.0, "test")
    with pytest.raises(
        DeliveryError, match=r"cannot reach http://hooks\.example\.com: ConnectError"
    ):
        await poster.request(b"{}")
    await poster.close()


def test_no_proxy_entries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HTTP_PROXY", raising=False)
    monkeypatch.setenv("https_proxy", "http://proxy.example:3128")
    monkeypatch.setenv("no_proxy", " .corp.example, 10.1.2.3:443 ,localhost")
    assert proxied("https://discord.com/api/webhooks/1/x")
    assert not proxied("https://hooks.corp.example/x")
    assert not proxied("https://corp.example/x")
    assert not proxied("https://10.1.2.3/x")
    assert not proxied("https://LOCALHOST:8443/x")
    assert proxied("https://notcorp.example/x")
    monkeypatch.setenv("no_proxy", "*")
    assert not proxied("https://discord.com/x")
    monkeypatch.delenv("https_proxy")
    monkeypatch.setenv("ALL_PROXY", "http://proxy.example:3128")
    monkeypatch.delenv("no_proxy")
    assert proxied("https://discord.com/x") and proxied("http://discord.com/x")


def test_verified_context_trusts_the_system_store_lazily(
    monkeypatch: pytest.MonkeyPatch, certificate: tuple[Path, Path]
) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    verified_context.cache_clear()
    try:
        context = verified_context()
        assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname
        if Path("/etc/ssl/certs").is_dir() and any(Path("/etc/ssl/certs").glob("*.0")):
            # A hashed directory: nothing parsed until a handshake asks for an issuer.
            assert context.cert_store_stats()["x509"] == 0
        cert, _ = certificate
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))
        verified_context.cache_clear()
        assert verified_context().cert_store_stats()["x509_ca"] == 1
    finally:
        verified_context.cache_clear()


def test_without_a_hashed_directory_the_system_bundle_is_trusted(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """RHEL without the directory-hash: the operator's bundle file, not certifi's."""
    from alerting.channels import tls

    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    bundle = ssl.get_default_verify_paths().cafile
    assert bundle, "this machine has a system CA bundle (ca-certificates)"
    (tmp_path / "ca-bundle.crt").write_text("")  # a directory without hashed names
    monkeypatch.setattr(tls, "SYSTEM_CA_DIRS", (str(tmp_path), str(tmp_path / "absent")))
    verified_context.cache_clear()
    try:
        loaded = verified_context().cert_store_stats()["x509_ca"]
    finally:
        verified_context.cache_clear()
    assert loaded == ssl.create_default_context(cafile=bundle).cert_store_stats()["x509_ca"] > 0


@run
async def test_an_ipv6_literal_url() -> None:
    handler = KeepAlive()
    server6 = await asyncio.start_server(handler, "::1", 0)
    port = server6.sockets[0].getsockname()[1]
    try:
        async with client() as http:
            response = await http.request("POST", f"http://[::1]:{port}/v6", b"x")
    finally:
        server6.close()
    assert response.status_code == 200
    assert f"host: [::1]:{port}".encode() in handler.requests[0][0].lower()


def test_sending_leaves_httpx_httpcore_and_anyio_unimported() -> None:
    """Each stays resident once imported: ~5 MB together for what a few POSTs need."""
    code = """
import asyncio, sys
from alerting.channels.http import HttpPoster

async def main():
    async def handler(reader, writer):
        await reader.readuntil(b"\\r\\n\\r\\n"); await reader.readexactly(2)
        writer.write(b"HTTP/1.1 204 No Content\\r\\n\\r\\n"); await writer.drain(); writer.close()
    srv = await asyncio.start_server(handler, "127.0.0.1", 0)
    poster = HttpPoster(f"http://127.0.0.1:{srv.sockets[0].getsockname()[1]}/", 2.0, "t")
    print((await poster.request(b"{}")).status_code)
    await poster.close(); srv.close()
    heavy = ("httpx", "httpcore", "anyio", "certifi", "urllib.request", "zstandard", "encodings.idna")
    print(sorted(m for m in heavy if m in sys.modules))

asyncio.run(main())
"""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
        env={"PATH": "/usr/bin:/bin"},  # no proxy variables from the caller
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:2] == ["204", "[]"]
