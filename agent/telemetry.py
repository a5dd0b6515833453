"""NATS telemetry: metric batches, inventory and heartbeats on `{prefix}.{host}.{kind}`.

(Alerts go through the NATS alert channel, with the durable outbox behind it.)

* The connection comes from `[nats]` (url or urls, token, user/password, a
  .creds file), reconnects forever by default, and a failed first connect
  keeps retrying in the background while the rest of the agent runs.  It is
  the agent's one `NatsConnection`, shared with the NATS alert channel.
* **metrics**: every sample the collectors take is buffered (bounded: the
  oldest go first, counted) and published every `metrics_interval_secs` in
  messages of at most `batch_size` samples, each with its own timestamp.
  While NATS is away the buffer keeps filling and is flushed in order on
  reconnect.
* **inventory** at start and every `inventory_interval_secs`, with a content
  hash so subscribers can skip unchanged documents.  Through JetStream
  (`jetstream = true`) only a changed one is published: its stream keeps the
  latest per host.
* **heartbeat** every `heartbeat_interval_secs`, never queued (only the latest
  matters): uptime, version, `healthy`/`degraded` with the reasons.
* `compression = true`: zstd, marked with a `Content-Encoding: zstd` header
  (alerts too: alerting/channels/nats.py).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from agent import __version__
from agent.settings import Settings
from alerting.channels.nats import (
    NatsConnection,
    connection_from,
    describe,
    inventory_stream,
    publish_stored,
    subject_token,
    zstd_compressor,
)
from analyzers.base import SeriesKey

log = logging.getLogger(__name__)

METRIC_BUFFER = 200_000  # samples kept while NATS is away


def nats_connection(settings: Settings) -> NatsConnection:
    """The agent's one NATS client, as `[nats]` describes it (not connected yet)."""
    return connection_from(settings.nats)


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Telemetry:
    def __init__(
        self,
        settings: Settings,
        inventory: Callable[[], dict[str, Any]],
        health: Callable[[], tuple[list[str], dict[str, Any]]],
        connection: NatsConnection | None = None,
    ) -> None:
        n = settings.nats
        self.settings = settings
        self.hostname = settings.agent.hostname
        prefix, host = subject_token(n.subject_prefix), subject_token(self.hostname)
        self.subjects = {
            kind: f"{prefix}.{host}.{kind}" for kind in ("metrics", "inventory", "heartbeat")
        }
        self._inventory = inventory
        self._health = health
        self._buffer: deque[tuple[float, SeriesKey, float]] = deque(maxlen=METRIC_BUFFER)
        self.dropped = 0
        self.published: dict[str, int] = {"metrics": 0, "inventory": 0, "heartbeat": 0}
        # The agent's shared connection; without one (tests), telemetry opens and closes its own.
        self._owns_connection = connection is None
        self.connection = connection or nats_connection(settings)
        self._started = time.monotonic()
        self._compress: Callable[[bytes], bytes] | None = (
            zstd_compressor() if n.compression else None
        )
        self._inventory_stream = inventory_stream(
            n.jetstream_stream, prefix, n.jetstream_max_bytes, n.inventory_interval_secs
        )
        self._stored_inventory = ""  # content hash of the inventory JetStream last acknowledged

    # -- feeding ---------------------------------------------------------------------------

    def add_samples(self, timestamp: float, keys: Sequence[SeriesKey], values: np.ndarray) -> None:
        overflow = len(self._buffer) + len(keys) - METRIC_BUFFER
        if overflow > 0:
            self.dropped += overflow
        for key, value in zip(keys, values.tolist(), strict=True):
            self._buffer.append((timestamp, key, value))

    # -- connection ----------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self.connection.connected

    @property
    def _client(self) -> Any:
        return self.connection.client

    async def connect(self) -> None:
        """Keep trying until connected; then nats-py reconnects by itself."""
        delay = self.settings.nats.reconnect_delay_secs
        while True:
            try:
                client = await self.connection.get()
                log.info(
                    "telemetry: connected to NATS %s",
                    # host:port only: the netloc carries nats://user:password@ userinfo.
                    client.connected_url.netloc.rpartition("@")[2] if client.connected_url else "",
                )
                return
            except Exception as exc:  # wrong token, refused, timeout: say so and try again
                log.warning(
                    "telemetry: cannot connect to NATS (%s); retrying in %.0f s",
                    describe(exc, self.connection.timeout),
                    delay,
                )
                await asyncio.sleep(delay)

    async def close(self) -> None:
        """On a clean stop: a last heartbeat saying so, then send what is buffered; close
        the connection only if it is telemetry's own.

        The "stopping" heartbeat tells a fleet watcher that the silence which follows
        was asked for (a deploy, a reboot by an operator), not a crash.
        """
        if self.connected:
            try:
                await self.publish_heartbeat(stopping=True)
            except Exception as exc:  # shutting down: say it, do not fail the shutdown
                log.warning("telemetry: last heartbeat failed: %s", describe(exc))
        if self._owns_connection:
            await self.connection.close()
        elif self.connected:
            try:
                await self._client.flush(timeout=5)
            except Exception as exc:  # shutting down: say it, do not fail the shutdown
                log.warning("telemetry: last flush failed: %s: %s", type(exc).__name__, exc)

    # -- publishing ----------------------------------------------------------------------------

    def _encode(self, document: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
        body = json.dumps(document, separators=(",", ":"), default=str).encode()
        headers = {"Content-Type": "application/json"}
        if self._compress is not None:
            body = self._compress(body)
            headers["Content-Encoding"] = "zstd"
        return body, headers

    async def _publish(self, kind: str, document: dict[str, Any]) -> None:
        body, headers = self._encode(document)
        await self._client.publish(self.subjects[kind], body, headers=headers)
        self.published[kind] += 1

    async def _publish_samples(self, batch: list[tuple[float, SeriesKey, float]]) -> None:
        """One metrics message, split in halves while it is over the server's max_payload."""
        document = {
            "hostname": self.hostname,
            "timestamp": iso(time.time()),
            "metrics": [
                {"name": k.metric, "value": v, "labels": dict(k.labels), "timestamp": iso(t)}
                for t, k, v in batch
            ],
        }
        body, headers = self._encode(document)
        limit = int(getattr(self._client, "max_payload", 0) or 1_048_576) - 1024  # room for headers
        if len(body) > limit and len(batch) > 1:
            half = len(batch) // 2
            await self._publish_samples(batch[:half])
            await self._publish_samples(batch[half:])
            return
        await self._client.publish(self.subjects["metrics"], body, headers=headers)
        self.published["metrics"] += 1

    async def publish_metrics(self) -> None:
        if not self.connected or not self._buffer:
            return
        size = self.settings.nats.batch_size
        while self._buffer and self.connected:
            batch = [self._buffer.popleft() for _ in range(min(size, len(self._buffer)))]
            await self._publish_samples(batch)
        await self._client.flush(timeout=5)

    async def publish_inventory(self) -> None:
        if not self.connected:
            return
        document = await asyncio.get_running_loop().run_in_executor(None, self._inventory)
        n = self.settings.nats
        if not n.jetstream:
            await self._publish("inventory", document)
            return
        content_hash = str(document.get("content_hash", ""))
        if content_hash and content_hash == self._stored_inventory:
            return  # unchanged: the stream holds it already (the latest per host)
        body, headers = self._encode(document)
        # After a restart, the same inventory within the duplicate window is stored once.
        msg_id = f"inventory-{content_hash}"
        await publish_stored(
            self._client.jetstream(), self._inventory_stream, self.subjects["inventory"], body,
            {**headers, "Nats-Msg-Id": msg_id},
        )  # fmt: skip
        self._stored_inventory = content_hash
        self.published["inventory"] += 1

    async def publish_heartbeat(self, stopping: bool = False) -> None:
        if not self.connected:
            return  # never queued: only the latest heartbeat matters
        reasons, figures = self._health()
        status = "stopping" if stopping else "degraded" if reasons else "healthy"
        await self._publish("heartbeat", {
            "hostname": self.hostname,
            "timestamp": iso(time.time()),
            # A watcher judges silence in the host's own intervals, not a fleet-wide guess.
            "heartbeat_interval_secs": self.settings.nats.heartbeat_interval_secs,
            "uptime_secs": host_uptime(Path(self.settings.agent.procfs)),
            "agent_uptime_secs": round(time.monotonic() - self._started, 1),
            "agent_version": __version__,
            "status": status,
            "reasons": reasons,
            "metrics_buffered": len(self._buffer),
            "metrics_dropped": self.dropped,
            **figures,
        })  # fmt: skip

    async def run(self) -> None:
        """Connect, then publish each kind on its own interval."""
        await self.connect()
        n = self.settings.nats
        loop = asyncio.get_running_loop()
        due = {"metrics": loop.time(), "inventory": loop.time(), "heartbeat": loop.time()}
        every = {
            "metrics": n.metrics_interval_secs,
            "inventory": n.inventory_interval_secs,
            "heartbeat": n.heartbeat_interval_secs,
        }
        actions = {
            "metrics": self.publish_metrics,
            "inventory": self.publish_inventory,
            "heartbeat": self.publish_heartbeat,
        }
        while True:
            now = loop.time()
            for kind, when in list(due.items()):
                if now >= when:
                    due[kind] = now + every[kind]
                    try:
                        await actions[kind]()
                    except Exception as exc:  # a publish failing must not end the telemetry
                        log.warning("telemetry: publishing %s failed: %s", kind, describe(exc))
            await asyncio.sleep(max(0.05, min(due.values()) - loop.time()))


def host_uptime(procfs: Path) -> float | None:
    try:
        return round(float((procfs / "uptime").read_text().split()[0]), 1)
    except (OSError, ValueError, IndexError):
        return None
