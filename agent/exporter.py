"""Opt-in Prometheus endpoint: the newest value of every series in the store.

It only reads the store (a scrape never triggers a collection) and is served
from the agent's event loop, so the store is never read while a collector is
halfway through writing it.  The HTTP side is deliberately tiny: GET or HEAD
of one path, a bounded request head read with a timeout, one response, close.
The exposition itself is prometheus-client's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector, CollectorRegistry

from agent.collectors import ALL_METRICS
from agent.store import Store

log = logging.getLogger(__name__)

MAX_REQUEST_HEAD = 8192
REQUEST_TIMEOUT_SECS = 5.0
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


def parse_bind(bind: str) -> tuple[str, int]:
    host, _, port = bind.rpartition(":")
    return host.strip("[]") or "127.0.0.1", int(port)


class Exporter:
    def __init__(self, store: Store, bind: str, path: str) -> None:
        self.store = store
        self.host, self.port = parse_bind(bind)
        self.path = path
        self.server: asyncio.Server | None = None

    async def start(self) -> None:
        self.server = await asyncio.start_server(
            self._serve, self.host, self.port, limit=MAX_REQUEST_HEAD
        )
        log.info("Prometheus endpoint on http://%s:%d%s", self.host, self.port, self.path)

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
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
            await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ValueError):
            pass  # a malformed, oversized or idle request: just close
        except OSError as exc:
            log.debug("Prometheus client went away: %s", exc)
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
