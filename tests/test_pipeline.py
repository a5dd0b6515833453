"""One path per job: the runtime, replay and --once share `Pipeline`; one alert record; buckets."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agent.assembly import threshold_rules
from agent.collectors.base import Samples
from agent.config import parse_config_text
from agent.pipeline import Pipeline
from agent.replay import Recording, replay
from agent.runtime import Agent
from agent.store import Buckets, Store
from alerting.alert import Alert, Severity, Status
from alerting.outbox import SqliteOutbox
from alerting.silences import matches
from analyzers.base import SeriesKey
from analyzers.threshold import ThresholdAnalyzer
from tests.conftest import REPO

CPU = SeriesKey("cpu_usage_percent")


def cpu_values() -> list[float]:
    """Quiet noise, a burst the anomaly analyzers see (three samples: one is never an anomaly),
    a climb through both threshold levels, back down."""
    rng = np.random.default_rng(7)
    quiet = (20 + rng.normal(0, 1, 70)).astype(np.float32).tolist()  # as the store keeps them
    return [*quiet, 60.0, 61.0, 60.0, 21.0, 20.0, 85.0, 93.0, 97.0, 40.0, 20.0, 19.5]


class Scripted:
    """A collector whose readings are given: the runtime's tick, without a host behind it."""

    name = "cpu"
    metrics = ()

    def __init__(self, values: list[float]) -> None:
        self._values = iter(values)

    def collect(self) -> Samples:
        return Samples((CPU,), np.array([next(self._values)]))


def test_the_runtime_replay_and_once_give_the_same_alerts(tmp_path: Path) -> None:
    loaded = parse_config_text(
        f'[agent]\ndata_dir = "{tmp_path}"\n[thresholds]\ncpu_percent = {{ warn = 80, critical = 95 }}\n'
        # The ticks are milliseconds apart: no learning hour, no 5-minute persistence.
        "[analyzer]\nanomaly_learning_secs = 0\nanomaly_persist_secs = 0\n",
        "t.toml",
    )
    values = cpu_values()
    agent = Agent(loaded)
    live: list[Alert] = []
    agent.pipeline.sink = live.append  # what the router would be handed
    collector = Scripted(values)
    for _ in values:
        assert agent.tick(collector)
    # Replay the very samples the agent stored, at the instants it stored them.
    times, stored = agent.store.window(agent.store.find(CPU) or 0)
    assert stored.tolist() == values
    replayed = list(replay(loaded.settings, Recording(times, stored, 0), CPU))

    def records(alerts: list[Alert]) -> list[dict[str, Any]]:
        return [a.to_record() for a in alerts]

    assert records(replayed) == records(live)
    assert {a.analyzer for a in live} >= {"threshold", "zscore"}
    assert [a.status for a in live if a.analyzer == "threshold"] == [
        Status.FIRING, Status.ESCALATED, Status.RESOLVED,
    ]  # fmt: skip
    # --once: one history-less store, the threshold analyzer only, the same verdicts.
    once = Pipeline(
        Store(1, history_capacity=0), [ThresholdAnalyzer(threshold_rules(loaded.settings))]
    )
    verdicts = [
        alert
        for t, v in zip(times.tolist(), values, strict=True)
        for alert in once.process("cpu", t, Samples((CPU,), np.array([v])))
    ]
    assert verdicts == [
        a for a in live if a.analyzer == "threshold"
    ]  # context aside (no sparkline)


def test_a_broken_analyzer_is_counted_and_the_others_still_run() -> None:
    class Broken:
        name = "broken"

        def observe(self, batch: object, history: object) -> list[Alert]:
            raise RuntimeError("bug")

        def forget(self, series_ids: object) -> None:
            pass

    threshold = ThresholdAnalyzer(threshold_rules(parse_config_text("", "t.toml").settings))
    pipeline = Pipeline(Store(4, history_capacity=0), [Broken(), threshold])
    for t in range(2):
        (alert,) = pipeline.process("cpu", float(t), Samples((CPU,), np.array([99.0 + t])))
        assert alert.analyzer == "threshold" and alert.series_id == pipeline.store.find(CPU)
        sent = pipeline.process("cpu", 5.0, Samples((CPU,), np.array([10.0])))
        assert [a.status for a in sent] == [Status.RESOLVED]
    assert pipeline.analyzer_errors["broken"] == 4


# -- alerts ---------------------------------------------------------------------------------

ALERT = Alert(
    analyzer="threshold",
    metric="disk_used_percent",
    labels=(("mountpoint", "/var"), ("device", "sda1")),
    status=Status.ESCALATED,
    severity=Severity.CRITICAL,
    value=96.25,
    threshold=95.0,
    message="disk /var is 96.25 %",
    timestamp=1_700_000_000.123456,
    hostname="web-01",
    context={"eta_hours": 1.5, "line": "x", "dropped": [1, 2]},
    series_id=7,
)


def test_alerts_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        Alert("threshold", "m", (), Status.FIRING, Severity.WARN, 1.0, 0.5, "x", 0.0)  # type: ignore[misc]


def test_the_record_round_trips_through_the_outbox_and_matches_the_schema(tmp_path: Path) -> None:
    import jsonschema

    nan_value = Alert(
        **{**vars(ALERT), "value": math.nan, "threshold": None, "context": {"p": math.inf}}
    )
    outbox = SqliteOutbox(tmp_path / "outbox.db")
    for alert in (ALERT, nan_value):
        outbox.add("webhook", alert)
    (_, back), (_, back_nan) = outbox.pending("webhook", 10)
    outbox.close()
    assert back == ALERT and back.timestamp == ALERT.timestamp and back.labels == ALERT.labels
    assert back.id == ALERT.id  # the same notification: a receiver's dedup still works
    assert back.context == {"eta_hours": 1.5, "line": "x"}  # scalars only, as every channel sends
    assert back.series_id is None  # a store id means nothing to the next process
    assert (
        math.isnan(back_nan.value)
        and back_nan.threshold is None
        and back_nan.context == {"p": None}
    )
    assert back.to_record() == {**ALERT.to_record()}
    schema = json.loads((REPO / "docs/schemas/alert.schema.json").read_text())
    for alert in (ALERT, nan_value):
        jsonschema.validate(alert.to_record(), schema)


def test_an_outbox_row_of_the_previous_format_is_still_delivered(tmp_path: Path) -> None:
    import sqlite3

    outbox = SqliteOutbox(tmp_path / "outbox.db")
    old = {
        "analyzer": "threshold", "metric": "m", "labels": [["a", "1"]], "status": "firing",
        "severity": "warn", "value": 1.0, "threshold": 0.5, "message": "x",
        "timestamp": 1_700_000_000.5, "hostname": "h", "context": {"k": 1},
    }  # fmt: skip
    with sqlite3.connect(tmp_path / "outbox.db") as db:
        db.execute(
            "INSERT INTO outbox (channel, created, alert) VALUES ('nats', 0, ?)", (json.dumps(old),)
        )
    ((_, alert),) = outbox.pending("nats", 10)
    outbox.close()
    assert alert.labels == (("a", "1"),) and alert.timestamp == 1_700_000_000.5
    assert alert.context == {"k": 1} and alert.severity is Severity.WARN


# -- the store's history buckets ----------------------------------------------------------------


def test_closed_buckets_carry_exact_mean_min_max_and_count() -> None:
    store = Store(8, history_capacity=8, resolution=60.0)
    handed: list[Buckets] = []
    store.on_buckets = handed.append
    a, b, c = SeriesKey("m", (("i", "a"),)), SeriesKey("m", (("i", "b"),)), SeriesKey("other")
    store.write_samples(600.0, [a, b], [0.1, 5.0], group="g")
    store.write_samples(610.0, [a, b], [0.7, math.nan], group="g")
    store.write_samples(620.0, [a], [0.2], group="g")
    store.write_samples(630.0, [c], [3.0])  # its own ring
    assert handed == [] and len(store.open_buckets()) == 2  # nothing closed yet
    store.write_samples(660.0, [a, b], [9.0, 9.0], group="g")  # closes g's bucket 600
    (closed,) = handed
    assert closed.start == 600.0 and closed.keys == [a, b]
    assert closed.means.tolist() == [(0.1 + 0.7 + 0.2) / 3, 5.0]  # float64 sums: exact
    assert closed.mins.tolist() == [0.1, 5.0] and closed.maxs.tolist() == [0.7, 5.0]
    assert closed.counts.tolist() == [3, 1]
    _, means = store.history_window(store.find(a) or 0)
    assert means.tolist() == [np.float32((0.1 + 0.7 + 0.2) / 3)]  # the tier keeps float32
    partial = {bk.keys[0]: bk for bk in store.open_buckets()}
    assert partial[c].start == 600.0 and partial[c].means.tolist() == [3.0]
    assert partial[a].start == 660.0 and partial[a].counts.tolist() == [1, 1]
    store.retire([store.find(b) or 0])  # a retired series is not handed over under a reused row
    store.write_samples(720.0, [a], [1.0], group="g")
    assert handed[-1].keys == [a] and handed[-1].maxs.tolist() == [9.0]


def test_buckets_follow_the_configured_resolution() -> None:
    store = Store(4, history_capacity=4, resolution=30.0)
    handed: list[Buckets] = []
    store.on_buckets = handed.append
    for t, v in [(0.0, 1.0), (29.0, 3.0), (30.0, 5.0), (75.0, 7.0)]:
        store.write_samples(t, [CPU], [v])
    assert [(bk.start, bk.means.tolist()) for bk in handed] == [(0.0, [2.0]), (30.0, [5.0])]


def test_a_store_without_a_history_tier() -> None:
    lean, full = Store(1, history_capacity=0), Store(1, history_capacity=1440)
    for store in (lean, full):
        store.write_samples(0.0, [CPU], [1.0])
        batch = store.write_samples(120.0, [CPU], [2.0])
    assert batch.closed is not None and batch.closed.all()  # the full store closed a bucket
    sid = lean.find(CPU) or 0
    assert lean.latest(sid) == 2.0 and lean.open_buckets() == []
    assert lean.history_window(sid)[1].size == 0 and math.isnan(
        lean.history_ago(np.array([sid]), 0)[0]
    )
    assert lean.nbytes < full.nbytes / 100


def test_the_heartbeat_counts_the_series_still_learning(tmp_path: Path) -> None:
    """A series z-score watches says nothing statistical for its first hour; the heartbeat
    says how many are in that state (docs/schemas/heartbeat.schema.json)."""
    loaded = parse_config_text(f'[agent]\ndata_dir = "{tmp_path}"\n', "t.toml")
    agent = Agent(loaded)
    assert agent.health()[1]["learning_series"] == 0
    assert agent.tick(Scripted([20.0]))
    assert agent.health()[1]["learning_series"] == 1


def test_a_replays_analyzer_failure_crosses_processes_intact() -> None:
    """benchmarks/nab_seeds.py replays in worker processes: the failure a replay raises
    (agent/replay.py) must arrive whole, not as a TypeError from unpickling."""
    import pickle

    from agent.replay import AnalyzerFailed

    sent = AnalyzerFailed("series_value series=a", {"season": 3, "zscore": 1}, 10)
    received = pickle.loads(pickle.dumps(sent))  # noqa: S301 (our own bytes)
    assert type(received) is AnalyzerFailed and str(received) == str(sent)
    assert (received.series, received.failures, received.samples) == (
        "series_value series=a",
        {"season": 3, "zscore": 1},
        10,
    )


def test_a_two_socket_box_at_full_load_is_one_alert_and_a_socket_still_hot_is_told_after(
    tmp_path: Path,
) -> None:
    """The real CPU collector on a two-socket tree (cpu0-1 socket 0, cpu2-3 socket 1, cpu4-7
    without topology), the default thresholds, and the router with the agent's inhibitions."""
    import asyncio

    from agent.assembly import inhibit_rules
    from agent.collectors.cpu import CpuCollector
    from alerting.delivery import ChannelWorker
    from alerting.router import Router
    from tests.conftest import NODE_EXPORTER_PROC
    from tests.test_collectors import NE_SYS, bump, copy_tree, edit
    from tests.test_router import Recorder

    settings = parse_config_text(f'[agent]\ndata_dir = "{tmp_path}"\n', "t.toml").settings
    proc = copy_tree(NODE_EXPORTER_PROC, tmp_path / "proc")
    collector = CpuCollector(proc, NE_SYS)

    def load(busy: set[int]) -> None:
        """Each CPU spends the next 100 ticks busy (user) if in `busy`, else idle."""

        def change(text: str) -> str:
            for cpu in range(8):
                text = bump(text, f"cpu{cpu}", 0 if cpu in busy else 3, 100)
            text = bump(text, "cpu", 0, 100 * len(busy))
            return bump(text, "cpu", 3, 100 * (8 - len(busy)))

        edit(proc / "stat", change)

    async def scenario() -> list[Alert]:
        recorder = Recorder()
        worker = ChannelWorker(recorder, max_age=float("inf"))
        worker.start()
        router = Router("h", [worker], inhibit_rules=inhibit_rules(settings))
        pipeline = Pipeline(
            Store(64, 0), [ThresholdAnalyzer(threshold_rules(settings))], router.route
        )
        collector.collect()  # the first read: counters to take deltas from
        for t, busy in ((10.0, set(range(8))), (20.0, {0, 1}), (30.0, set())):
            load(busy)
            pipeline.process("cpu", t, collector.collect())
            router.repeat_due(t + 5)  # the housekeeping's round
        assert await worker.drain(2.0)
        await worker.stop()
        return recorder.sent

    sent = asyncio.run(scenario())
    assert [(a.metric, dict(a.labels).get("socket"), a.status, a.timestamp) for a in sent] == [
        ("cpu_usage_percent", None, Status.FIRING, 10.0),  # not three: the sockets say the same
        ("cpu_usage_percent", None, Status.RESOLVED, 20.0),  # 25 %: the whole is fine...
        ("cpu_socket_usage_percent", "0", Status.FIRING, 25.0),  # ...but socket 0 is not
        ("cpu_socket_usage_percent", "0", Status.RESOLVED, 30.0),
    ]
    assert sent[0].severity is Severity.CRITICAL and sent[2].severity is Severity.CRITICAL


def cpu(metric: str, severity: Severity, analyzer: str = "threshold", t: float = 1.0,
        status: Status = Status.FIRING) -> Alert:  # fmt: skip
    labels = (("socket", "0"),) if metric == "cpu_socket_usage_percent" else ()
    return Alert(analyzer=analyzer, metric=metric, labels=labels, status=status,
                 severity=severity, value=99, threshold=95, message="", timestamp=t)  # fmt: skip


def test_a_socket_hotter_than_the_whole_cpus_alert_is_not_muted() -> None:
    from agent.assembly import BUILT_IN_INHIBITS

    (rule,) = [
        r
        for r in BUILT_IN_INHIBITS
        if matches(r.target, cpu("cpu_socket_usage_percent", Severity.WARN))
    ]

    whole, socket = "cpu_usage_percent", "cpu_socket_usage_percent"
    assert rule.mutes(cpu(whole, Severity.CRITICAL), cpu(socket, Severity.CRITICAL))
    assert rule.mutes(cpu(whole, Severity.CRITICAL), cpu(socket, Severity.WARN))
    assert not rule.mutes(cpu(whole, Severity.WARN), cpu(socket, Severity.CRITICAL))
    # An unusual whole (a statistical warn) is another condition than a socket over its level.
    assert not rule.mutes(cpu(whole, Severity.WARN, "zscore"), cpu(socket, Severity.WARN))


def test_an_alert_whose_resolve_waits_for_its_episode_mutes_nothing_any_more() -> None:
    """The whole CPU's threshold resolved while z-score's alert on it (folded) still fires:
    the episode goes on, but the threshold's condition, which muted the socket, is over."""
    from agent.assembly import BUILT_IN_INHIBITS
    from alerting.router import Router

    whole, socket, critical = "cpu_usage_percent", "cpu_socket_usage_percent", Severity.CRITICAL
    router = Router("h", [], inhibit_rules=BUILT_IN_INHIBITS)
    assert router.route(cpu(whole, critical, t=1.0)) is not None
    assert router.route(cpu(whole, critical, "zscore", t=2.0)) is None  # folded
    assert router.route(cpu(socket, critical, t=3.0)) is None  # muted by the rule
    assert router.route(cpu(whole, critical, t=4.0, status=Status.RESOLVED)) is None  # waits
    (announced,) = router.repeat_due(5.0)
    assert (announced.metric, announced.status) == (socket, Status.FIRING)
