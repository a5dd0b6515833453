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
import contextlib
import json
import logging
import re
import ssl
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from alerting.alert import Alert, Severity
from alerting.channels.base import DeliveryError, OneMessage
from alerting.channels.registry import ChannelContext
from common.secret import mask_userinfo
from common.text import single_line

log = logging.getLogger(__name__)

# JetStream: what the agent stores, and how much.  Alerts keep STREAM_MAX_AGE_SECS and
# STREAM_MAX_BYTES (the oldest go first); the inventory keeps the latest per host.
STREAM_MAX_AGE_SECS = 7 * 86400.0
STREAM_MAX_BYTES = 256 * 1024 * 1024
ALERTS_DUPLICATE_WINDOW_SECS = 120.0


class NatsUnreachable(ConnectionError):
    """No connection, and why (already described: refused, DNS, certificate, no answer)."""


class TlsNotOffered(ConnectionError):
    """The connection is meant to be TLS and the server offers none: refused before any
    credential is sent."""


def _client_meaning_tls() -> Any:
    """A nats-py client that keeps a connection meant to be TLS on TLS.

    nats-py 2.x upgrades to TLS only when the server's INFO, which comes in clear, says
    `tls_required`: a `tls://` URL, or a `[nats] tls_*` file, against a server without
    TLS (or behind someone who removes the flag) sent the token or password in clear in
    CONNECT.  This client, as nats.go's checkForSecure, upgrades whenever the server
    offers TLS (required or available) and refuses a server that offers none; the INFO
    is looked at before CONNECT is written, on the first connection and on each reconnect.
    """
    from nats.aio.client import Client

    class ClientMeaningTls(Client):
        async def _process_info(
            self, info: dict[str, Any], initial_connection: bool = False
        ) -> None:
            server = self._current_server
            meant = "tls" in self.options or (server is not None and server.uri.scheme == "tls")
            if initial_connection and meant:
                if not (info.get("tls_required") or info.get("tls_available")):
                    raise TlsNotOffered(
                        "the server offers no TLS and the connection is meant to be TLS (a "
                        "tls:// URL or a [nats] tls_* file): refused before sending credentials"
                    )
                info["tls_required"] = True  # nats-py upgrades on this, read right after
            await super()._process_info(info, initial_connection)

    return ClientMeaningTls()


async def _connect(**options: Any) -> Any:
    client = _client_meaning_tls()
    await client.connect(**options)
    return client


def no_jetstream(exc: BaseException) -> bool:
    """Whether JetStream's API answered 503: the server runs without JetStream."""
    from nats.js.errors import ServiceUnavailableError

    return isinstance(exc, ServiceUnavailableError)


def describe(exc: BaseException, timeout: float | None = None) -> str:
    """What went wrong with NATS, in one line without secrets: the cause, never an empty text.

    nats-py raises a bare TimeoutError when a server never answers, and gives the
    real reason (refused, DNS, certificate) only to its error callback: `NatsConnection`
    keeps that one and adds it.
    """
    from alerting.channels.http import cause  # the web channels' wording (refused, DNS, TLS)

    text = mask_userinfo(str(exc))
    if isinstance(exc, NatsUnreachable):
        return text
    if "Authorization Violation" in text:
        return "the server refused the credentials (Authorization Violation)"
    if isinstance(exc, TimeoutError):
        within = f" within {timeout:g} s" if timeout else ""
        return f"no answer from the server{within}"
    if no_jetstream(exc):
        return ("the server has no JetStream (start it with -js, or a jetstream {} block in "
                "its configuration)")  # fmt: skip
    found = cause(exc)
    if found != type(exc).__name__:
        return found
    return f"{type(exc).__name__}: {single_line(text, 300)}" if text else type(exc).__name__


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
        self.problem = ""  # the last failed (re)connect's cause, from nats-py's error callback
        self._certificate_episode = False  # a certificate failure said at error level, once
        self.client: Any = None
        self._abandoned: set[asyncio.Future[Any]] = set()  # connect attempts cancelled mid-way
        self.opened = 0  # clients made (one, unless nats-py gave up reconnecting)

    @property
    def connected(self) -> bool:
        return self.client is not None and bool(self.client.is_connected)

    @property
    def timeout(self) -> float:
        return self._timeout

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
            # Not asyncio.wait_for: cancelling nats.connect() does not reliably stop it
            # (its retry loop swallows a CancelledError that lands in Client._close), and
            # wait_for would then wait for it for ever, so SIGTERM would hang the agent.
            # The attempt runs as its own task, waited for with a bound; one that outlives
            # its caller is cancelled and left to end (close() asks again).
            attempt = asyncio.ensure_future(_connect(**self._options))
            try:
                done, _ = await asyncio.wait({attempt}, timeout=self._timeout * 2)
            finally:
                if not attempt.done():
                    attempt.cancel()
                    self._abandoned.add(attempt)
                    attempt.add_done_callback(self._abandoned_done)
            if not done:  # nats-py kept retrying: say why its attempts failed
                raise NatsUnreachable(self.problem or describe(TimeoutError(), self._timeout))
            self.client = attempt.result()
            self.opened += 1
            self._connected()
            return self.client

    def _abandoned_done(self, attempt: asyncio.Future[Any]) -> None:
        """An abandoned connection attempt ended: close what it may have opened."""
        self._abandoned.discard(attempt)
        if attempt.cancelled() or attempt.exception() is not None:
            return
        task = asyncio.ensure_future(attempt.result().close())
        self._abandoned.add(task)
        task.add_done_callback(self._abandoned.discard)

    def _connected(self) -> None:
        self.problem = ""
        self._last_error.clear()
        if self._certificate_episode:
            self._certificate_episode = False
            log.info("NATS: the server's certificate is accepted again")

    async def _disconnected(self) -> None:
        # nats-py calls this on a lost connection (its status then says it is reconnecting),
        # when it gives up reconnecting, and on any close, ours (a clean stop) included.
        client = self.client
        if client is not None and client.is_reconnecting:
            log.warning("disconnected from NATS; reconnecting")
        elif client is not None and client.is_closed:
            log.warning("NATS connection closed: nats-py gave up reconnecting; a new one is "
                        "made at the next use")  # fmt: skip
        else:  # our own close, or an older client's while a new one serves
            log.debug("disconnected from NATS (closed)")

    async def _reconnected(self) -> None:
        self._connected()
        log.info("reconnected to NATS")

    async def _error(self, exc: Exception) -> None:
        """nats-py reports every failed (re)connect here: say each distinct problem once a minute."""
        text = describe(exc, self._timeout)
        hangup = (
            isinstance(exc, ConnectionResetError | BrokenPipeError) or "EOF" in type(exc).__name__
        )
        if not (hangup and ("credentials" in self.problem or "certificate" in self.problem)):
            self.problem = text  # a server hangs up after refusing: the refusal is the cause
        if "certificate verify failed" in text:  # at error level once per episode, then debug
            if self._certificate_episode:
                log.debug("NATS: %s; retrying", text)
            else:
                self._certificate_episode = True
                log.error("NATS: %s: check the server's certificate or [nats] tls_ca_file; "
                          "retrying (said again only after it recovers)", text)  # fmt: skip
            return
        now = time.monotonic()
        if self._last_error.get(text, -1e9) > now - 60:
            return
        self._last_error[text] = now
        if "Authorization Violation" in text:
            log.error("NATS refused the credentials (Authorization Violation): check [nats] token, "
                      "user/password or credential_file; retrying")  # fmt: skip
        else:
            log.warning("NATS: %s; retrying", text)

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
            # nor to close cleanly: a client reconnecting (the server gone) raised "Connection
            # lost" here, and a stop during a NATS outage ended in a traceback, exit 1.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.close(), 5)


class NatsChannel(OneMessage):
    name = "nats"
    groups = False
    pace_secs = 0.0

    def __init__(self, servers: Sequence[str], hostname: str, *, subject_prefix: str = "sysops",
                 token: str | None = None, user: str | None = None, password: str | None = None,
                 credentials_file: str | None = None, tls: ssl.SSLContext | None = None, tls_hostname: str | None = None,
                 connect_timeout: float = 5.0, retry_count: int = 3, jetstream_stream: str | None = None,
                 jetstream_max_age_secs: float = STREAM_MAX_AGE_SECS,
                 jetstream_max_bytes: int = STREAM_MAX_BYTES, compression: bool = False,
                 min_severity: Severity = Severity.INFO, send_resolved: bool = True,
                 connection: NatsConnection | None = None,
                 owns_connection: bool | None = None) -> None:  # fmt: skip
        self.min_severity = min_severity
        self.retry_count = retry_count
        self.send_resolved = send_resolved
        self.subject = f"{subject_token(subject_prefix)}.{subject_token(hostname)}.alerts"
        self._timeout = connect_timeout
        # None: plain publish; else the alerts' stream (only `{prefix}.*.alerts`, bounded).
        self._stream = (
            None
            if jetstream_stream is None
            else alerts_stream(
                jetstream_stream, subject_token(subject_prefix),
                jetstream_max_age_secs, jetstream_max_bytes,
            )
        )  # fmt: skip
        self._compress = zstd_compressor() if compression else None
        # Without a shared connection (`--test-alert`, tests), the channel has its own.
        self._owns_connection = connection is None if owns_connection is None else owns_connection
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
                f"cannot connect to NATS: {describe(exc, self._timeout)}", retryable=True
            ) from None

    async def send(self, alerts: Sequence[Alert]) -> None:
        client = await self._connect()
        try:
            for alert in alerts:
                document = alert.to_record()
                body = json.dumps(document, separators=(",", ":"), default=str).encode()
                headers = {"Content-Type": "application/json"}
                if self._compress is not None:  # like every telemetry payload (TELEMETRY.md)
                    body = self._compress(body)
                    headers["Content-Encoding"] = "zstd"
                if self._stream is not None:  # acknowledged, deduplicated by the alert's stable id
                    await publish_stored(
                        client.jetstream(), self._stream, self.subject, body,
                        {**headers, "Nats-Msg-Id": document["id"]},
                    )  # fmt: skip
                else:
                    await client.publish(self.subject, body, headers=headers)
            await client.flush(timeout=self._timeout)
        except Exception as exc:
            hint = ", or [nats] jetstream = false" if no_jetstream(exc) else ""
            raise DeliveryError(
                f"NATS publish failed: {describe(exc, self._timeout)}{hint}", retryable=True
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


def zstd_compressor() -> Callable[[bytes], bytes]:
    import zstandard  # the `nats` extra brings it; imported only when compression is on

    return zstandard.ZstdCompressor(level=3).compress


@dataclass(frozen=True)
class StreamSpec:
    """A stream as the agent creates it; 0 / -1 mean "no limit", as in NATS."""

    name: str
    subjects: tuple[str, ...]
    max_age: float
    max_bytes: int
    max_msgs_per_subject: int
    duplicate_window: float
    # True where others publish (the fleet watcher's view of the agents' inventory stream):
    # its limits and duplicate window are the publishers' to choose, only its subjects ours.
    reads_only: bool = False

    def differences(self, config: Any) -> list[str]:
        """How an existing stream's config differs from this one, as the agent says it.

        A longer duplicate window than ours is not a difference: it deduplicates all that
        ours would.  The fleet watcher makes the inventory stream for agents whose inventory
        interval it cannot know (a window of two of them), and every agent with a shorter
        interval warned about it at every start."""
        want = {"subjects": sorted(self.subjects), "max_age": self.max_age,
                "max_bytes": self.max_bytes, "max_msgs_per_subject": self.max_msgs_per_subject,
                "duplicate_window": self.duplicate_window}  # fmt: skip
        have = {
            "subjects": sorted(config.subjects or []),
            "max_age": float(config.max_age or 0),
            "max_bytes": -1 if config.max_bytes in (None, 0) else int(config.max_bytes),
            "max_msgs_per_subject": -1
            if config.max_msgs_per_subject in (None, 0)
            else int(config.max_msgs_per_subject),
            "duplicate_window": float(config.duplicate_window or 0),
        }
        enough_window = float(config.duplicate_window or 0) >= self.duplicate_window
        return [
            f"{k} {have[k]} (ours: {v})"
            for k, v in want.items()
            if have[k] != v
            and not (k == "duplicate_window" and enough_window)
            and not (self.reads_only and k != "subjects")
        ]


def alerts_stream(name: str, prefix: str, max_age: float, max_bytes: int) -> StreamSpec:
    """Alerts only: `{prefix}.*.alerts`, bounded by age and size, the oldest dropped first."""
    window = min(ALERTS_DUPLICATE_WINDOW_SECS, max_age) if max_age else ALERTS_DUPLICATE_WINDOW_SECS
    return StreamSpec(name, (f"{prefix}.*.alerts",), max_age, max_bytes, -1, window)


def inventory_stream(name: str, prefix: str, max_bytes: int, interval: float) -> StreamSpec:
    """`{name}_INVENTORY`: the latest inventory per host (one message per subject, no age
    limit: an unchanged inventory must not expire).  Its own stream, because a per-subject
    limit on the alerts' subject would drop alerts.  The duplicate window covers two
    inventory intervals, so an agent restarted with an unchanged inventory is not stored again.
    """
    window = max(ALERTS_DUPLICATE_WINDOW_SECS, 2 * interval)
    return StreamSpec(f"{name}_INVENTORY", (f"{prefix}.*.inventory",), 0.0, max_bytes, 1, window)


# Streams known to exist, per client (so per server: a process may talk to several, as
# the tests do): a JetStream context keeps its client as `_nc` (nats-py).  Forgotten
# with the client.
_streams_ready: weakref.WeakKeyDictionary[Any, set[str]] = weakref.WeakKeyDictionary()


_said: set[str] = set()  # what ensure_stream logged, once per process


def _first_time(what: str) -> bool:
    if what in _said:
        return False
    _said.add(what)
    return True


def _ready(js: Any) -> set[str]:
    client = getattr(js, "_nc", None)
    if client is None:
        return set()  # not nats-py's context: look each time
    return _streams_ready.setdefault(client, set())


async def ensure_stream(js: Any, spec: StreamSpec) -> None:
    """The stream, created as `spec` says if it does not exist (looked up once per client).

    An existing stream is used as it is (an operator may have made it so on purpose):
    how it differs from what the agent would create is logged once per process, and a
    stream that cannot be created likewise (a reload's new connection says nothing new).
    """
    if spec.name in _ready(js):
        return
    from nats.js.errors import BadRequestError, NotFoundError

    try:
        info = await js.stream_info(spec.name)
    except NotFoundError:
        try:
            await js.add_stream(name=spec.name, subjects=list(spec.subjects),
                                max_age=spec.max_age, max_bytes=spec.max_bytes,
                                max_msgs_per_subject=spec.max_msgs_per_subject,
                                duplicate_window=spec.duplicate_window)  # fmt: skip
        except BadRequestError as exc:  # e.g. subjects taken by another stream (an older SYSOPS)
            # Refused for good (a timeout is not: it propagates, and the next send tries again).
            if _first_time(f"refused {spec.name} {exc}"):
                log.warning(
                    "NATS: cannot create the JetStream stream %s over %s (%s: %s): publishing "
                    "on; a stream that covers the subject stores the messages",
                    spec.name, ", ".join(spec.subjects), type(exc).__name__, exc,
                )  # fmt: skip
        else:
            log.info(
                "NATS: JetStream stream %s created over %s", spec.name, ", ".join(spec.subjects)
            )
    else:
        diff = spec.differences(info.config)
        if diff and _first_time(f"differs {spec.name} {diff}"):
            log.warning("NATS: the JetStream stream %s exists with other settings, used as it is: %s",
                        spec.name, "; ".join(diff))  # fmt: skip
    _ready(js).add(spec.name)


async def publish_stored(
    js: Any, spec: StreamSpec, subject: str, body: bytes, headers: dict[str, str]
) -> None:
    """Publish through JetStream into `spec`'s stream, made first if need be.

    No stream answering (a server restarted without its storage, a stream deleted, or
    another server than the one the stream was made on) makes it look for the stream,
    create it again and publish once more; if that fails too, the next publish tries.
    """
    from nats.errors import NoRespondersError
    from nats.js.errors import NoStreamResponseError

    for attempt in (1, 2):
        await ensure_stream(js, spec)
        try:
            await js.publish(subject, body, headers=headers)
            return
        except (NoRespondersError, NoStreamResponseError):
            _ready(js).discard(spec.name)
            if attempt == 2:
                raise


def connection_from(
    section: Any, name: str = "sysops-agent", connect_timeout: float = 5.0
) -> NatsConnection:
    """A client as a `[nats]` section describes it (not connected yet): the agent's one
    connection, shared by telemetry and this channel, or the channel's own (`--test-alert`)."""
    return NatsConnection(
        list(section.urls) or [section.url],
        token=section.token.reveal() if section.token else None,
        user=section.user,
        password=section.password.reveal() if section.password else None,
        credentials_file=section.credential_file,
        tls=tls_context(section.tls_ca_file, section.tls_cert_file, section.tls_key_file),
        tls_hostname=section.tls_server_name,
        connect_timeout=connect_timeout,
        reconnect_delay=section.reconnect_delay_secs,
        max_reconnect_attempts=section.max_reconnect_attempts,
        name=name,
    )


def build(section: Any, context: ChannelContext) -> NatsChannel | None:
    """The channel from its settings section (alerting.channels.registry names this factory)."""
    return NatsChannel(
        list(section.urls) or [section.url],
        context.hostname,
        subject_prefix=section.subject_prefix,
        jetstream_stream=section.jetstream_stream if section.jetstream else None,
        jetstream_max_age_secs=section.jetstream_max_age_secs,
        jetstream_max_bytes=section.jetstream_max_bytes,
        compression=section.compression,
        min_severity=context.min_severity,
        send_resolved=context.send_resolved,
        connection=connection_from(section),
        owns_connection=True,  # until the agent shares its own (share())
    )
