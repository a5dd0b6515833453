"""Opt-in Prometheus endpoint: the newest value of every series in the store.

It only reads the store (a scrape never triggers a collection) and is served
from the agent's event loop, so the store is never read while a collector is
halfway through writing it.  The HTTP side is deliberately tiny: GET or HEAD
of one path, a bounded request head read with a timeout, one response, close.
The exposition itself is prometheus-client's.

Anyone who can reach the port is a peer to distrust: at most `MAX_CONNECTIONS`
are served at once (more are closed at once, so idle sockets cannot use up the
agent's file descriptors and starve its collectors), every read and write has a
deadline, and trouble is logged once per episode, not once per connection.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector, CollectorRegistry

from agent.collectors import ALL_METRICS
from agent.settings import parse_bind
from agent.store import Store

log = logging.getLogger(__name__)

MAX_REQUEST_HEAD = 8192
REQUEST_TIMEOUT_SECS = 5.0
MAX_CONNECTIONS = 64  # a scraper needs one; a few for several Prometheus servers and curl
ACCEPT_ERROR = "socket.accept() out of system resource"
EPISODE_SECS = 60.0  # refusals within this long of the last warning are the same episode
_SPECS = {spec.name: spec for spec in ALL_METRICS}


class StoreCollector(Collector):
    def __init__(self, store: Store) -> None:
        self.store = store

    def collect(self) -> Iterator[Metric]:
        # No sample timestamps: Prometheus then applies its own staleness to a series that stops.
        by_metric: dict[str, list[tuple[dict[str, str], float]]] = defaultdict(list)
        for key, value, _ in self.store.latest_all():
            by_metric[key.metric].append((dict(key.labels), value))
        for name in sorted(by_metric):
            spec = _SPECS.get(name)
            help_text = spec.help if spec else f"{name} (sysops-agent)"
            samples = by_metric[name]
            label_names = sorted({label for labels, _ in samples for label in labels})
            family: GaugeMetricFamily | CounterMetricFamily
            if spec is not None and spec.type == "counter":
                family = CounterMetricFamily(name, help_text, labels=label_names)
            else:
                family = GaugeMetricFamily(name, help_text, labels=label_names)
            for labels, value in samples:
                family.add_metric([labels.get(n, "") for n in label_names], value)
            yield family


def exposition(store: Store) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(store))
    return generate_latest(registry)


class Exporter:
    def __init__(self, store: Store, bind: str, path: str) -> None:
        self.store = store
        self.host, self.port = parse_bind(bind)
        self.path = path
        self.server: asyncio.Server | None = None
        self.active = 0
        self.refused = 0  # connections closed unserved, in all
        self._warned_at = -math.inf
        self._accept_failing = False

    async def start(self) -> None:
        self._watch_accept_errors(asyncio.get_running_loop())
        self.server = await asyncio.start_server(
            self._serve, self.host, self.port, limit=MAX_REQUEST_HEAD
        )
        log.info("Prometheus endpoint on http://%s:%d%s", self.host, self.port, self.path)

    def _watch_accept_errors(self, loop: asyncio.AbstractEventLoop) -> None:
        """asyncio reports a failed accept (EMFILE) with a traceback, once a second, for as long
        as it lasts: say it once, and once when accepting works again."""
        previous = loop.get_exception_handler()

        def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
            if context.get("message") == ACCEPT_ERROR:
                if not self._accept_failing:
                    self._accept_failing = True
                    log.error(
                        "Prometheus endpoint cannot accept connections: %s; retrying quietly",
                        context.get("exception"),
                    )
                return
            if previous is not None:
                previous(loop, context)
            else:
                loop.default_exception_handler(context)

        loop.set_exception_handler(handler)

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._accept_failing:
            self._accept_failing = False
            log.info("Prometheus endpoint accepts connections again")
        if self.active >= MAX_CONNECTIONS:
            self.refused += 1
            now = time.monotonic()
            if now - self._warned_at >= EPISODE_SECS:  # one line per episode of pressure
                self._warned_at = now
                log.warning(
                    "Prometheus endpoint: %d connections open, closing new ones at once "
                    "(%d refused so far)",
                    self.active,
                    self.refused,
                )
            writer.transport.abort()  # no handshake, no wait: the fd is free at once
            return
        self.active += 1
        try:
            await self._answer(reader, writer)
        finally:
            self.active -= 1

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), REQUEST_TIMEOUT_SECS)
            method, target, _ = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
            path = target.split("?", 1)[0]
            if method not in ("GET", "HEAD"):
                status, content_type, body = "405 Method Not Allowed", "text/plain", b"GET only\n"
            elif path != self.path:
                status, content_type, body = "404 Not Found", "text/plain", b"not found\n"
            else:
                status, content_type, body = "200 OK", CONTENT_TYPE_LATEST, exposition(self.store)
            writer.write(
                f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            )
            if method != "HEAD":
                writer.write(body)
            await asyncio.wait_for(writer.drain(), REQUEST_TIMEOUT_SECS)  # a reader that stalls
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ValueError):
            pass  # a malformed, oversized or idle request: just close
        except OSError as exc:
            log.debug("Prometheus client went away: %s", exc)
        finally:
            writer.close()
            try:
                await asyncio.wait_for(writer.wait_closed(), REQUEST_TIMEOUT_SECS)
            except (OSError, TimeoutError):
                writer.transport.abort()  # unsent bytes to a peer that does not read
