"""One path for a batch of samples: store -> analyzers -> enriched alerts -> a sink.

The daemon (`Agent.tick`), `--once` and `replay` all take their samples
through `Pipeline.process`, so what the agent says about a live host, a
single reading and a recording is decided by the same code: the same write,
the same analyzers in the same order, the same enrichment.  Only what
surrounds it differs (the daemon's sink is the router; the other two collect
the returned alerts).  `refresh` is how the router's "still firing" repeats
stay true: the alert as it stands now, re-read from the store and re-enriched.

A FIRING about CPU or memory names the top processes, and the process
collector reads every 30 s while CPU is read every 10 s: the latest process
read usually predates the sample that fired, and named what ran before the
hog.  Where the daemon can read processes at once (`read_processes`, the
runtime's), such an alert is held until that read is done (or failed), or a
batch comes `HOLD_FOR_PROCESSES_SECS` after it, or the agent stops; the
alerts the analyzers raise after it wait behind it, so the router gets them
in the order they were raised.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections import Counter, deque
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from agent.collectors import ALL_METRICS
from agent.collectors.base import Samples
from agent.store import Store
from alerting.alert import Alert, Status
from alerting.format import format_metric, labels_text, register_units, sparkline, when
from analyzers.base import Analyzer, SeriesKey

log = logging.getLogger(__name__)

# Alerts on these metrics carry the top processes by this metric.
TOP_PROCESS_METRIC = {
    "cpu_usage_percent": "process_cpu_percent",
    "memory_used_percent": "process_rss_bytes",
}
SPARKLINE_SAMPLES = 360  # the last hour at the default 10 s
SPARKLINE_WIDTH = 40
# What enrichment computes; a repeat drops these and computes them again.
ENRICHED = ("sparkline", "top_processes")
# The figures an analyzer estimated when it fired (the time to full, the growth rate, its
# fit, how many σ): true of that moment only.  A repeat has no means to estimate them again,
# and drops them: "is now 99.9%" beside "Full in: 6.0 h" of eight hours before, on a disk
# flat for two, was read as today's estimate.  Its message quotes the words they were in.
ESTIMATED = ("eta_hours", "rate_per_hour", "r_squared", "kendall_tau", "p_value", "z", "usual")
# A process sample this much later than one process interval is still "the latest read":
# a tick runs a little late under load, and the collection itself takes time.
LATE_TICK_FACTOR = 1.5
# The collector whose read releases the held alerts, and how long they wait for it at most
# (a read of 20,000 processes takes about a second).
PROCESS_COLLECTOR = "process"
HOLD_FOR_PROCESSES_SECS = 10.0
# Analyzers whose alerts are states with no series behind them: the agent's own (a channel
# failing) and the log's (a link down until its up line).
NO_SERIES_ANALYZERS = frozenset({"agent", "log"})


class Pipeline:
    """The store, the analyzers in order, and where their (enriched) alerts go."""

    def __init__(
        self,
        store: Store,
        analyzers: Sequence[Analyzer],
        sink: Callable[[Alert], Any] | None = None,
        *,
        process_interval: Callable[[], float] | None = None,
    ) -> None:
        # Every message and channel shows values in their metric's unit; the analyzers
        # cannot import the collectors, so the assembly tells the formatter once.
        register_units({spec.name: spec.unit for spec in ALL_METRICS})
        # The process collector's interval (a callable: a reload may change it); None (replay,
        # --once: one write instant) bounds the age of top-process data by nothing.
        self.process_interval = process_interval
        self.store = store
        self.analyzers = list(analyzers)
        self.sink = sink
        self.analyzer_errors: Counter[str] = Counter()
        # The runtime's "read the processes now" (False: it cannot, e.g. no process loop);
        # None (replay, --once, tests of one tick): alerts are handed on at once.
        self.read_processes: Callable[[], bool] | None = None
        self._held: deque[tuple[float, Alert]] = deque()  # (hand on by, alert), in order

    def process(
        self, collector_name: str | None, timestamp: float, samples: Samples
    ) -> list[Alert]:
        """Write one collection (into its collector's ring), analyze it, hand on the alerts.

        A failing analyzer is counted and logged once; the others still run.
        """
        alerts: list[Alert] = []
        if len(samples):
            batch = self.store.write_samples(
                timestamp, samples.keys, samples.values, collector_name
            )
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
                    if self._held or self._wants_a_process_read(alert):
                        self._held.append((timestamp + HOLD_FOR_PROCESSES_SECS, alert))
                    else:
                        alerts.append(self._hand_on(alert))
        if self._held and (collector_name == PROCESS_COLLECTOR or timestamp >= self._held[0][0]):
            alerts += self.release_held()
        return alerts

    @property
    def holding(self) -> bool:
        """Whether alerts wait for a process read (the router's repeats wait with them)."""
        return bool(self._held)

    def release_held(self) -> list[Alert]:
        """Enrich and hand on the held alerts, in order: the process read came, the wait
        ran out, or the agent stops."""
        released = []
        while self._held:
            released.append(self._hand_on(self._held.popleft()[1]))
        return released

    def _hand_on(self, alert: Alert) -> Alert:
        enriched = self.enrich(alert)
        if self.sink is not None:
            self.sink(enriched)
        return enriched

    def _wants_a_process_read(self, alert: Alert) -> bool:
        """Whether `alert` is a FIRING that names top processes and the latest process read
        was taken before the sample it fired on: then a read is asked for, and the alert
        waits for it if one is coming.  Escalations and repeats of a condition already
        announced use the latest read.

        Not "before the sample it fired on began": a read taken just after the previous
        sample may come a moment after the hog started, too young to be measured (a life
        under process.MIN_LIFE_SECS), and the alert named the processes of before it (seen
        in a trial: two busy loops at 100 %, the agent itself named at 3 %)."""
        top_metric = TOP_PROCESS_METRIC.get(alert.metric)
        if (
            top_metric is None
            or self.read_processes is None
            or alert.status is not Status.FIRING
            or alert.series_id is None
        ):
            return False
        times, _ = self.store.window(alert.series_id, last=1)
        reads = self._latest_process_read(top_metric)
        if times.size == 0 or (reads and reads[0][0] >= float(times[-1])):
            return False
        return self.read_processes()

    def refresh(self, alert: Alert, now: float) -> Alert:
        """`alert` as it stands at `now`, for a "still firing" repeat: the series' latest value,
        a message that says it, a new sparkline and the top processes of now, and none of
        the figures its analyzer estimated when it fired (`ESTIMATED`)."""
        sid = self.store.find(SeriesKey(alert.metric, alert.labels))
        latest = None if sid is None else self.store.latest(sid)
        began = alert.timestamp if alert.first_fired is None else alert.first_fired
        where = labels_text(alert.labels)
        # The words it quotes are the first firing's, or those of a later change (an
        # escalation, the step down of its episode) and said when: not "first".
        said = "first" if alert.timestamp <= began else f"at {when(alert.timestamp)}"
        first = f"since {when(began)} ({said}: {alert.message})"
        if latest is None and alert.analyzer in NO_SERIES_ANALYZERS:
            # A state, not a series (a channel failing, a link down read from the log): there is
            # no value to read now, and none is missing either.
            value, message = math.nan, f"{alert.metric}{where} still firing {first}"
        elif latest is None:  # no longer reported, or not within the raw window: no value of now
            value, message = (
                math.nan,
                f"{alert.metric}{where} has no recent value, still firing {first}",
            )
        else:
            value = latest
            now_is = format_metric(alert.metric, value, against=alert.threshold)
            message = f"{alert.metric}{where} is now {now_is}, still firing {first}"
        context = {
            k: v for k, v in alert.context.items() if k not in ENRICHED and k not in ESTIMATED
        }
        current = dataclasses.replace(
            alert, value=value, message=message, timestamp=now, context=context, series_id=sid
        )
        return self.enrich(current)

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
        top = self.top_processes(alert.metric, alert.timestamp)
        if top:
            extra["top_processes"] = top
        if not extra:
            return alert
        return dataclasses.replace(alert, context={**alert.context, **extra})

    def _latest_process_read(self, top_metric: str) -> list[tuple[float, float, dict[str, str]]]:
        """(time, value, labels) of each process in the process collector's latest read."""
        read: list[tuple[float, float, dict[str, str]]] = []
        for key, _ in self.store.latest_by_metric(top_metric):
            sid = self.store.find(key)
            times, values = (np.zeros(0), np.zeros(0)) if sid is None else self.store.window(sid, 1)
            if values.size:
                read.append((float(times[0]), float(values[0]), dict(key.labels)))
        newest = max((t for t, _, _ in read), default=math.nan)
        return [r for r in read if r[0] == newest]

    def top_processes(self, metric: str, now: float) -> str:
        """The three biggest consumers by the process collector's latest read.

        Only processes of that read: a series the collector stopped writing (a process
        no longer in its top N, or one that exited) holds a value from minutes ago, and
        process data older than one process interval (plus a late tick) says nothing
        about now.  CPU % exists only for a process read twice (process.py).
        """
        top_metric = TOP_PROCESS_METRIC.get(metric)
        if top_metric is None:
            return ""
        read = self._latest_process_read(top_metric)
        if not read:
            return ""
        interval = None if self.process_interval is None else self.process_interval()
        if interval is not None and now - read[0][0] > interval * LATE_TICK_FACTOR:
            return ""  # the process collector has not read recently: nothing to say about now
        ranked = sorted(read, key=lambda r: -r[1])[:3]
        return ", ".join(
            f"{who.get('comm', '?')} (pid {who.get('pid', '?')}) {format_metric(top_metric, v)}"
            for _, v, who in ranked
        )
