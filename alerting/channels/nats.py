"""NATS: each alert as one JSON message on `{prefix}.{host}.alerts`.

The payload is the webhook's (hostname, timestamp, severity, metric, value,
threshold, message, labels, id, status, fingerprint, context).  The host is one
subject token: anything outside [A-Za-z0-9_-] becomes `_`, so
`web-01.example.com` is `web-01_example_com` and `sysops.*.alerts` matches
every host.  A publish counts as delivered only after a flush round trip, so a
message the server never got is retried, not lost.  nats-py (the `nats` extra)
is imported when the channel first sends.
"""

from __future__ import annotations

import asyncio
import json
import re
import ssl
from collections.abc import Sequence
from typing import Any

from alerting.alert import Alert, Severity
from alerting.channels.base import DeliveryError
from alerting.format import mask_userinfo


def subject_token(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", text) or "_"


class NatsChannel:
    name = "nats"
    groups = False
    pace_secs = 0.0

    def __init__(self, servers: Sequence[str], hostname: str, *, subject_prefix: str = "sysops",
                 token: str | None = None, user: str | None = None, password: str | None = None,
                 credentials_file: str | None = None, tls: ssl.SSLContext | None = None, tls_hostname: str | None = None,
                 connect_timeout: float = 5.0, retry_count: int = 3, jetstream_stream: str | None = None,
                 min_severity: Severity = Severity.INFO, send_resolved: bool = True) -> None:  # fmt: skip
        self.min_severity = min_severity
        self.retry_count = retry_count
        self.send_resolved = send_resolved
        self.subject = f"{subject_token(subject_prefix)}.{subject_token(hostname)}.alerts"
        self._servers = list(servers)
        self._auth: dict[str, Any] = {
            "token": token,
            "user": user,
            "password": password,
            "user_credentials": credentials_file,
            "tls": tls,
            "tls_hostname": tls_hostname,
        }
        self._timeout = connect_timeout
        self._stream = jetstream_stream  # None: plain publish
        self._client: Any = None

    async def _connect(self) -> Any:
        if self._client is not None and self._client.is_connected:
            return self._client
        try:
            import nats
        except ImportError:
            raise DeliveryError(
                "nats-py is not installed (pip install 'sysops-agent[nats]')",
                retryable=False,
                dead=True,
            ) from None
        options = {k: v for k, v in self._auth.items() if v}
        try:
            # Reconnect forever once connected; but bound the first connection ourselves, since
            # with max_reconnect_attempts=-1 nats-py would retry it forever and this send would hang.
            self._client = await asyncio.wait_for(
                nats.connect(
                    servers=self._servers, connect_timeout=self._timeout, allow_reconnect=True,
                    max_reconnect_attempts=-1, reconnect_time_wait=2, **options,
                ),
                self._timeout * 2,
            )  # fmt: skip
        except Exception as exc:  # nats raises its own errors, OSError and TimeoutError
            self._client = None
            raise DeliveryError(
                f"cannot connect to NATS: {type(exc).__name__}: {mask_userinfo(str(exc))}",
                retryable=True,
            ) from None
        return self._client

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
        if self._client is not None:
            try:
                await self._client.drain()
            except Exception:  # closing a broken connection: nothing left to save
                await self._client.close()
            self._client = None


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
