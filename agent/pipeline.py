"""One path for a batch of samples: store -> analyzers -> enriched alerts -> a sink.

The daemon (`Agent.tick`), `--once` and `replay` all take their samples
through `Pipeline.process`, so what the agent says about a live host, a
single reading and a recording is decided by the same code: the same write,
the same analyzers in the same order, the same enrichment.  Only what
surrounds it differs (the daemon's sink is the router; the other two collect
the returned alerts).
"""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from agent.collectors.base import Samples
from agent.store import Store
from alerting.alert import Alert, Status
from alerting.format import sparkline
from analyzers.base import Analyzer

log = logging.getLogger(__name__)

# Alerts on these metrics carry the top processes by this metric.
TOP_PROCESS_METRIC = {
    "cpu_usage_percent": "process_cpu_percent",
    "memory_used_percent": "process_rss_bytes",
}
SPARKLINE_SAMPLES = 360  # the last hour at the default 10 s
SPARKLINE_WIDTH = 40


class Pipeline:
    """The store, the analyzers in order, and where their (enriched) alerts go."""

    def __init__(
        self,
        store: Store,
        analyzers: Sequence[Analyzer],
        sink: Callable[[Alert], Any] | None = None,
    ) -> None:
        self.store = store
        self.analyzers = list(analyzers)
        self.sink = sink
        self.analyzer_errors: Counter[str] = Counter()

    def process(
        self, collector_name: str | None, timestamp: float, samples: Samples
    ) -> list[Alert]:
        """Write one collection (into its collector's ring), analyze it, hand on the alerts.

        A failing analyzer is counted and logged once; the others still run.
        """
        if not len(samples):
            return []
        batch = self.store.write_samples(timestamp, samples.keys, samples.values, collector_name)
        alerts: list[Alert] = []
        for analyzer in self.analyzers:
            try:
                found = analyzer.observe(batch, self.store)
            except Exception:  # one broken analyzer must not silence the others
                self.analyzer_errors[analyzer.name] += 1
                if self.analyzer_errors[analyzer.name] == 1:
                    log.exception(
                        "analyzer %s failed (further failures are counted)", analyzer.name
                    )
                continue
            for alert in found:
                enriched = self.enrich(alert)
                alerts.append(enriched)
                if self.sink is not None:
                    self.sink(enriched)
        return alerts

    def enrich(self, alert: Alert) -> Alert:
        """What helps at 3 a.m.: the last hour as a sparkline, the top processes for CPU and memory."""
        if alert.status is Status.RESOLVED:
            return alert
        extra: dict[str, str] = {}
        sid = alert.series_id
        if sid is not None:
            _, values = self.store.window(sid, last=SPARKLINE_SAMPLES)
            if values.size >= 2:
                chunks = np.array_split(values, min(SPARKLINE_WIDTH, values.size))
                extra["sparkline"] = sparkline([float(c.mean()) for c in chunks])
        top = self.top_processes(alert.metric)
        if top:
            extra["top_processes"] = top
        if not extra:
            return alert
        return dataclasses.replace(alert, context={**alert.context, **extra})

    def top_processes(self, metric: str) -> str:
        top_metric = TOP_PROCESS_METRIC.get(metric)
        if top_metric is None:
            return ""
        ranked = sorted(self.store.latest_by_metric(top_metric), key=lambda kv: -kv[1])[:3]
        shown = []
        for key, value in ranked:
            labels = dict(key.labels)
            amount = (
                f"{value:.0f}%" if top_metric.endswith("_percent") else f"{value / 2**20:.0f} MiB"
            )
            shown.append(f"{labels.get('comm', '?')} (pid {labels.get('pid', '?')}) {amount}")
        return ", ".join(shown)
