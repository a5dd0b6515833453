"""NATS: each alert as one JSON message on `{prefix}.{host}.alerts`.

The payload is the webhook's: the one alert record, `Alert.to_record()`
(docs/schemas/alert.schema.json).  The host is one
subject token: anything outside [A-Za-z0-9_-] becomes `_`, so
`web-01.example.com` is `web-01_example_com` and `sysops.*.alerts` matches
every host.  A publish counts as delivered only after a flush round trip, so a
message the server never got is retried, not lost.  nats-py (the `nats` extra)
is imported when the channel first sends.

`NatsConnection` is the one client of an agent: the daemon hands the same one
to this channel and to the telemetry (agent/telemetry.py), so a host holds one
connection to the server, and both follow `[nats]` reconnect settings.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import ssl
import time
from collections.abc import Sequence
from typing import Any

from alerting.alert import Alert, Severity
from alerting.channels.base import DeliveryError
from alerting.channels.registry import ChannelContext
from alerting.format import mask_userinfo

log = logging.getLogger(__name__)


def subject_token(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", text) or "_"


class NatsConnection:
    """One nats-py client, opened on first use and shared by everything that publishes.

    The first connection is bounded (twice `connect_timeout`): with
    max_reconnect_attempts=-1 nats-py would otherwise retry it forever and the
    caller would hang.  Once connected, nats-py itself reconnects every
    `reconnect_delay` seconds, `max_reconnect_attempts` times (-1: forever); a
    client that gave up (closed) is replaced on the next use.
    """

    def __init__(self, servers: Sequence[str], *, token: str | None = None, user: str | None = None,
                 password: str | None = None, credentials_file: str | None = None,
                 tls: ssl.SSLContext | None = None, tls_hostname: str | None = None,
                 connect_timeout: float = 5.0, reconnect_delay: float = 2.0,
                 max_reconnect_attempts: int = -1, name: str = "sysops-agent") -> None:  # fmt: skip
        self._options: dict[str, Any] = {
            "servers": list(servers),
            "name": name,  # how the server's connection list (connz) shows us
            "connect_timeout": connect_timeout,
            "allow_reconnect": True,
            "reconnect_time_wait": reconnect_delay,
            "max_reconnect_attempts": max_reconnect_attempts,
            "disconnected_cb": self._disconnected,
            "reconnected_cb": self._reconnected,
            "error_cb": self._error,
        }
        extra = {"token": token, "user": user, "password": password,
                 "user_credentials": credentials_file, "tls": tls, "tls_hostname": tls_hostname}  # fmt: skip
        self._options.update({k: v for k, v in extra.items() if v})
        self._timeout = connect_timeout
        self._lock: asyncio.Lock | None = None
        self._last_error: dict[str, float] = {}
        self.client: Any = None
        self._abandoned: set[asyncio.Future[Any]] = set()  # connect attempts cancelled mid-way
        self.opened = 0  # clients made (one, unless nats-py gave up reconnecting)

    @property
    def connected(self) -> bool:
        return self.client is not None and bool(self.client.is_connected)

    async def get(self) -> Any:
        """The connected client; raises what nats-py raised (or TimeoutError) if there is none."""
        if self.connected:
            return self.client
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:  # two users asking at once get one connection, not two
            if self.client is not None and not self.client.is_closed:
                if self.client.is_connected:
                    return self.client
                # nats-py is reconnecting this client: another one would be a second connection.
                raise ConnectionError("the NATS connection is lost; reconnecting")
            import nats

            # Not asyncio.wait_for: cancelling nats.connect() does not reliably stop it
            # (its retry loop swallows a CancelledError that lands in Client._close), and
            # wait_for would then wait for it for ever, so SIGTERM would hang the agent.
            # The attempt runs as its own task, waited for with a bound; one that outlives
            # its caller is cancelled and left to end (close() asks again).
            attempt = asyncio.ensure_future(nats.connect(**self._options))
            try:
                done, _ = await asyncio.wait({attempt}, timeout=self._timeout * 2)
            finally:
                if not attempt.done():
                    attempt.cancel()
                    self._abandoned.add(attempt)
                    attempt.add_done_callback(self._abandoned_done)
            if not done:
                raise TimeoutError(f"no connection to NATS within {self._timeout * 2:g} s")
            self.client = attempt.result()
            self.opened += 1
            return self.client

    def _abandoned_done(self, attempt: asyncio.Future[Any]) -> None:
        """An abandoned connection attempt ended: close what it may have opened."""
        self._abandoned.discard(attempt)
        if attempt.cancelled() or attempt.exception() is not None:
            return
        task = asyncio.ensure_future(attempt.result().close())
        self._abandoned.add(task)
        task.add_done_callback(self._abandoned.discard)

    async def _disconnected(self) -> None:
        log.warning("disconnected from NATS; reconnecting (telemetry buffers metrics meanwhile)")

    async def _reconnected(self) -> None:
        log.info("reconnected to NATS")

    async def _error(self, exc: Exception) -> None:
        """nats-py reports every failed (re)connect here: say each distinct problem once a minute."""
        text = str(exc)
        now = time.monotonic()
        if self._last_error.get(text, -1e9) > now - 60:
            return
        self._last_error[text] = now
        if "Authorization Violation" in text:
            log.error("NATS refused the credentials (Authorization Violation): check [nats] token, "
                      "user/password or credential_file; retrying")  # fmt: skip
        else:
            log.warning("NATS error: %s; retrying", text)

    async def close(self) -> None:
        """Send what is buffered, then close (bounded: a broken connection has nothing to send)."""
        for attempt in list(self._abandoned):
            attempt.cancel()
        if self._abandoned:  # bounded: an attempt that ignores cancellation is left behind
            await asyncio.wait(set(self._abandoned), timeout=1.0)
        client, self.client = self.client, None
        if client is None:
            return
        try:
            await asyncio.wait_for(client.drain(), 5)
        except Exception:  # a broken connection: nothing left to save
            await client.close()


class NatsChannel:
    name = "nats"
    groups = False
    pace_secs = 0.0

    def __init__(self, servers: Sequence[str], hostname: str, *, subject_prefix: str = "sysops",
                 token: str | None = None, user: str | None = None, password: str | None = None,
                 credentials_file: str | None = None, tls: ssl.SSLContext | None = None, tls_hostname: str | None = None,
                 connect_timeout: float = 5.0, retry_count: int = 3, jetstream_stream: str | None = None,
                 min_severity: Severity = Severity.INFO, send_resolved: bool = True,
                 connection: NatsConnection | None = None) -> None:  # fmt: skip
        self.min_severity = min_severity
        self.retry_count = retry_count
        self.send_resolved = send_resolved
        self.subject = f"{subject_token(subject_prefix)}.{subject_token(hostname)}.alerts"
        self._timeout = connect_timeout
        self._stream = jetstream_stream  # None: plain publish
        # Without a shared connection (`--test-alert`, tests), the channel has its own.
        self._owns_connection = connection is None
        self.connection = connection or NatsConnection(
            servers, token=token, user=user, password=password, credentials_file=credentials_file,
            tls=tls, tls_hostname=tls_hostname, connect_timeout=connect_timeout,
        )  # fmt: skip

    def share(self, connection: NatsConnection) -> None:
        """Publish on the agent's connection (before the first send), and leave closing it to the agent."""
        self.connection, self._owns_connection = connection, False

    async def _connect(self) -> Any:
        try:
            import nats  # noqa: F401 - only to say clearly that the extra is missing
        except ImportError:
            raise DeliveryError(
                "nats-py is not installed (pip install 'sysops-agent[nats]')",
                retryable=False,
                dead=True,
            ) from None
        try:
            return await self.connection.get()
        except Exception as exc:  # nats raises its own errors, OSError and TimeoutError
            raise DeliveryError(
                f"cannot connect to NATS: {type(exc).__name__}: {mask_userinfo(str(exc))}",
                retryable=True,
            ) from None

    async def send(self, alerts: Sequence[Alert]) -> None:
        client = await self._connect()
        try:
            for alert in alerts:
                document = alert.to_record()
                body = json.dumps(document, separators=(",", ":"), default=str).encode()
                headers = {"Content-Type": "application/json"}
                if (
                    self._stream is not None
                ):  # acknowledged, and deduplicated by the alert's stable id
                    js = client.jetstream()
                    await ensure_stream(js, self._stream, self.subject.split(".", 1)[0])
                    await js.publish(
                        self.subject, body, headers={**headers, "Nats-Msg-Id": document["id"]}
                    )
                else:
                    await client.publish(self.subject, body, headers=headers)
            await client.flush(timeout=self._timeout)
        except Exception as exc:
            raise DeliveryError(
                f"NATS publish failed: {type(exc).__name__}: {exc}", retryable=True
            ) from None

    async def close(self) -> None:
        if self._owns_connection:  # a shared one outlives this channel (a reload makes a new one)
            await self.connection.close()


def tls_context(
    ca_file: str | None, cert_file: str | None, key_file: str | None
) -> ssl.SSLContext | None:
    """A verifying client context when any TLS file is configured; None for plain connections."""
    if not (ca_file or cert_file):
        return None
    context = ssl.create_default_context(cafile=ca_file)
    if cert_file:
        context.load_cert_chain(cert_file, key_file)
    return context


_streams_ready: set[str] = set()


async def ensure_stream(js: Any, name: str, prefix: str) -> None:
    """Create the stream over `{prefix}.>` once per process, if it does not exist yet."""
    if name in _streams_ready:
        return
    try:
        await js.stream_info(name)
    except Exception:  # not found: create it (idempotent if another agent just did)
        await js.add_stream(name=name, subjects=[f"{prefix}.>"])
    _streams_ready.add(name)


def build(section: Any, context: ChannelContext) -> NatsChannel | None:
    """The channel from its settings section (alerting.channels.registry names this factory)."""
    return NatsChannel(
        list(section.urls) or [section.url],
        context.hostname,
        subject_prefix=section.subject_prefix,
        token=section.token.reveal() if section.token else None,
        user=section.user,
        password=section.password.reveal() if section.password else None,
        credentials_file=section.credential_file,
        tls=tls_context(section.tls_ca_file, section.tls_cert_file, section.tls_key_file),
        tls_hostname=section.tls_server_name,
        jetstream_stream=section.jetstream_stream if section.jetstream else None,
        min_severity=context.min_severity,
        send_resolved=context.send_resolved,
    )
