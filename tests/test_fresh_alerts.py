"""#14 items 5 and 6: notifications that are fresh (repeats say now) and true (context, numbers).

Real parts throughout: the store, the pipeline, the threshold analyzer, the router
and its channel workers, the SQLite outbox, the process collector on a procfs tree.
Only the far end of the channel is a recorder.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import json
import math
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from agent.collectors.base import Samples
from agent.collectors.process import ProcessCollector
from agent.pipeline import Pipeline
from agent.store import Store
from alerting.alert import Alert, Severity, Status
from alerting.channels.console import ConsoleChannel
from alerting.delivery import ChannelWorker
from alerting.format import facts, format_metric, format_value, plain
from alerting.outbox import SqliteOutbox
from alerting.router import Router
from analyzers.base import SeriesKey
from analyzers.threshold import ThresholdAnalyzer, ThresholdRule
from tests.conftest import REPO
from tests.test_router import Recorder

CPU = SeriesKey("cpu_usage_percent")


def proc(pid: int, comm: str) -> SeriesKey:
    return SeriesKey.of("process_cpu_percent", pid=str(pid), comm=comm, user="root")


class Host:
    """A store, the threshold analyzer on CPU, the pipeline and a router wired as the runtime
    wires them (the router's repeats refreshed by the pipeline), delivering to a recorder."""

    def __init__(self, process_interval: float | None = 30.0) -> None:
        self.store = Store(512)
        rule = ThresholdRule("cpu_usage_percent", warn=80.0, critical=95.0, clear=70.0)
        self.recorder = Recorder()
        self.worker = ChannelWorker(self.recorder, max_age=float("inf"))
        self.router = Router("h", [self.worker], min_interval_secs=300, dedup_window_secs=600)
        interval: Callable[[], float] | None = (
            None if process_interval is None else (lambda: process_interval)
        )
        self.pipeline = Pipeline(
            self.store, [ThresholdAnalyzer([rule])], self.router.route, process_interval=interval
        )
        self.router.refresh = self.pipeline.refresh

    def cpu(self, t: float, value: float) -> list[Alert]:
        return self.pipeline.process("cpu", t, samples({CPU: value}))

    def processes(self, t: float, cpu_by_process: dict[SeriesKey, float]) -> None:
        self.pipeline.process("process", t, samples(cpu_by_process))

    def sent(self, steps: Callable[[], None]) -> list[Alert]:
        async def scenario() -> list[Alert]:
            self.worker.start()
            steps()
            assert await self.worker.drain(5.0)
            await self.worker.stop()
            return self.recorder.sent

        return asyncio.run(scenario())


def samples(values: dict[SeriesKey, float]) -> Samples:
    return Samples(tuple(values), np.array(list(values.values()), dtype=np.float64))


# -- item 5: fresh repeats, one alert_id per episode ----------------------------------------------


def test_a_repeat_has_its_own_id_and_timestamp_the_current_value_and_fresh_context() -> None:
    host = Host()

    def steps() -> None:
        host.processes(0.0, {proc(10, "old-hog"): 90.0})
        host.cpu(0.0, 85.0)  # FIRING: above warn
        for i in range(1, 62):  # ten minutes on it is still over warn, and climbing
            host.processes(10.0 * i, {proc(20, "new-hog"): 99.0})
            host.cpu(10.0 * i, 85.0 + i * 0.15)
            if i in (30, 61):  # the runtime's housekeeping, a few seconds after a tick
                host.router.repeat_due(10.0 * i + 5)

    firing, first, second = host.sent(steps)
    assert firing.status is Status.FIRING and "still_firing" not in firing.context
    assert "old-hog" in firing.context["top_processes"]
    for repeat in (first, second):
        assert repeat.context["still_firing"] and repeat.status is Status.FIRING
        assert "new-hog" in repeat.context["top_processes"]  # the processes of now
        assert "old-hog" not in repeat.context["top_processes"]  # not the first firing's
        assert repeat.alert_id == firing.alert_id  # one episode
        assert repeat.first_fired == firing.timestamp == 0.0
    assert (first.timestamp, second.timestamp) == (305.0, 615.0)
    assert first.value == pytest.approx(85.0 + 30 * 0.15, abs=1e-4)  # the value at 300 s
    assert second.value == pytest.approx(85.0 + 61 * 0.15, abs=1e-4)
    assert len({firing.id, first.id, second.id}) == 3  # a receiver deduplicating by id keeps all
    # The message says now, and still says why it fired.
    assert first.message == (
        "cpu_usage_percent is now 89.5%, still firing since 1970-01-01 00:00:00 UTC "
        "(first: cpu_usage_percent is 85%, above the warn level 80%)"
    )
    assert first.context["sparkline"] != firing.context.get("sparkline")
    records = [json.loads(json.dumps(a.to_record())) for a in (firing, first, second)]
    assert len({r["alert_id"] for r in records}) == 1 and len({r["id"] for r in records}) == 3
    assert [r["value"] for r in records] == [a.value for a in (firing, first, second)]


@pytest.mark.parametrize("analyzer", ["trend", "leak"])
def test_a_repeat_carries_no_estimate_of_its_first_firing(analyzer: str) -> None:
    """A reviewer's finding: a disk repeat "is now 99.9%" showed "Full in: 6.0 h", estimated
    8 hours before on a disk flat for two; an fd leak's "is now 851 fds", "Full in: 5.2 h"
    (really 1.2 h).  The repeat keeps the words they were in, as the first firing's."""
    store = Store(64)
    router = Router("h", [], min_interval_secs=3600, dedup_window_secs=600)
    router.refresh = Pipeline(store, []).refresh
    disk = SeriesKey.of("disk_used_percent", mountpoint="/")
    estimates = {"eta_hours": 6.0, "rate_per_hour": 3.0, "r_squared": 0.99, "kendall_tau": 0.9,
                 "p_value": 0.001, "z": 4.2, "usual": 41.0}  # fmt: skip
    fired = Alert(analyzer=analyzer, metric=disk.metric, labels=disk.labels, status=Status.FIRING,
                  severity=Severity.CRITICAL, value=82.0, threshold=100.0, timestamp=0.0,
                  message="/ will be full in 6 h", context={**estimates, "rule": "kept"})  # fmt: skip
    store.write_samples(0.0, [disk], np.array([82.0]))
    assert router.route(fired) is not None
    assert ("Full in", "6.0 h") in facts(fired)
    store.write_samples(8 * 3600.0, [disk], np.array([99.9]))
    (repeat,) = router.repeat_due(8 * 3600.0 + 5)
    assert repeat.value == 99.9 and repeat.context["still_firing"]
    assert not set(estimates) & set(repeat.context)
    assert repeat.context["rule"] == "kept"  # what is not an estimate stays
    assert "Full in" not in dict(facts(repeat))
    assert repeat.message.endswith("(first: / will be full in 6 h)")


def test_a_repeat_after_an_escalation_quotes_its_words_as_said_then_not_as_the_first() -> None:
    """The repeat of a CPU warned at 85 % and escalated at 96 % quoted the escalation's words
    as "(first: ... above the critical level 95%)": the first firing said warn."""
    host = Host()

    def steps() -> None:
        host.cpu(0.0, 85.0)  # FIRING, warn
        host.cpu(10.0, 96.0)  # ESCALATED, critical
        host.cpu(300.0, 97.0)
        host.router.repeat_due(330.0)

    firing, escalated, repeat = host.sent(steps)
    assert [a.status for a in (firing, escalated)] == [Status.FIRING, Status.ESCALATED]
    assert repeat.context["still_firing"] and repeat.alert_id == firing.alert_id
    assert repeat.message == (
        "cpu_usage_percent is now 97%, still firing since 1970-01-01 00:00:00 UTC "
        f"(at 1970-01-01 00:00:10 UTC: {escalated.message})"
    )
    assert escalated.message == "cpu_usage_percent is now 96%, above the critical level 95%"


def test_resolve_then_refire_is_a_new_firing_with_a_new_alert_id() -> None:
    host = Host()

    def steps() -> None:
        host.cpu(0.0, 90.0)  # FIRING
        host.cpu(10.0, 50.0)  # RESOLVED, sent
        host.cpu(20.0, 90.0)  # fires again: the receiver was told it ended
        host.router.repeat_due(330.0)

    firing, resolved, refire, repeat = host.sent(steps)
    assert [a.status for a in (firing, resolved, refire)] == [
        Status.FIRING,
        Status.RESOLVED,
        Status.FIRING,
    ]
    assert "still_firing" not in refire.context  # announced as news, not as a repeat
    assert resolved.alert_id == firing.alert_id != refire.alert_id
    assert repeat.context["still_firing"] and repeat.alert_id == refire.alert_id


def test_a_repeat_of_a_series_with_no_recent_value_claims_none() -> None:
    host = Host()
    gone = SeriesKey.of("cpu_usage_percent", cpu="7")

    def steps() -> None:
        host.pipeline.process("cpu", 0.0, samples({gone: 90.0}))  # FIRING, never written again
        for i in range(1, 600):  # the store's raw window (512 samples) moves past it
            host.cpu(10.0 * i, 10.0)
        host.router.repeat_due(6000.0)

    firing, repeat = host.sent(steps)
    assert firing.value == 90.0 and repeat.alert_id == firing.alert_id
    assert math.isnan(repeat.value) and repeat.to_record()["value"] is None
    assert repeat.message.startswith("cpu_usage_percent cpu=7 has no recent value, still firing")
    assert "sparkline" not in repeat.context


def test_a_repeat_of_a_state_with_no_series_says_it_still_fires_not_that_a_value_is_missing() -> (
    None
):
    """A new user's finding: the reminder of a failing channel read "agent_channel_failing
    channel=webhook has no recent value, still firing since ...": it never had a value to
    read.  And the console added its own "(still firing)" to a message that said it."""
    host = Host()
    failing = Alert(analyzer="agent", metric="agent_channel_failing", labels=(("channel", "webhook"),),
                    status=Status.FIRING, severity=Severity.WARN, value=1.0, threshold=None,
                    message="channel webhook is failing", timestamp=0.0)  # fmt: skip

    def steps() -> None:
        host.router.route(failing)
        host.router.repeat_due(400.0)

    _, repeat = host.sent(steps)
    assert repeat.message.startswith("agent_channel_failing channel=webhook still firing since")
    assert repeat.message.endswith("(first: channel webhook is failing)")
    shown = io.StringIO()
    asyncio.run(ConsoleChannel(stream=shown).send([repeat]))
    assert shown.getvalue().count("still firing") == 1, shown.getvalue()


def test_a_redelivery_from_the_outbox_keeps_its_id(tmp_path: Path) -> None:
    """A retry is the same notification (a receiver drops it by id); a repeat is not."""
    host = Host()

    def steps() -> None:
        host.cpu(0.0, 90.0)
        host.cpu(10.0, 91.0)
        host.router.repeat_due(400.0)

    firing, repeat = host.sent(steps)
    outbox = SqliteOutbox(tmp_path / "outbox.db")
    try:
        for alert in (firing, repeat):
            outbox.add("webhook", alert)
        first_try = [a for _, a in outbox.pending("webhook", 10)]
        retry = [a for _, a in outbox.pending("webhook", 10)]  # not acknowledged: again
    finally:
        outbox.close()
    assert [a.id for a in first_try] == [a.id for a in retry] == [firing.id, repeat.id]
    assert [a.alert_id for a in retry] == [firing.alert_id] * 2
    assert [a.to_record() for a in retry] == [firing.to_record(), repeat.to_record()]


def test_the_record_carries_alert_id_and_first_fired_and_matches_the_schema() -> None:
    import jsonschema

    schema = json.loads((REPO / "docs/schemas/alert.schema.json").read_text())
    alert = Alert(
        analyzer="threshold",
        metric="cpu_usage_percent",
        labels=(),
        status=Status.FIRING,
        severity=Severity.WARN,
        value=91.0,
        threshold=80.0,
        message="m",
        timestamp=1_700_000_300.5,
        first_fired=1_700_000_000.25,
    )
    record = json.loads(json.dumps(alert.to_record()))
    jsonschema.validate(record, schema)
    assert record["alert_id"] == f"{alert.fingerprint}-1700000000250"
    assert record["first_fired"] == 1_700_000_000.25
    assert Alert.from_record(record) == alert
    unrouted = dataclasses.replace(alert, first_fired=None)  # --once: its own beginning
    assert unrouted.to_record()["first_fired"] == unrouted.timestamp
    old_row = {k: v for k, v in record.items() if k not in ("alert_id", "first_fired")}
    assert Alert.from_record(old_row).first_fired is None  # an outbox row from before


# -- item 6: context only when true -------------------------------------------------------------


def write_stat(root: Path, pid: int, comm: str, ticks: int, start: int = 100) -> None:
    fields = ["S", "1", "1", "1", "0", "-1", "0", "0", "0", "0", "0"]
    fields += [str(ticks), "0", "0", "0", "20", "0", "1", "0", str(start), "4096", "250"]
    (root / str(pid)).mkdir(parents=True, exist_ok=True)
    (root / str(pid) / "stat").write_text(f"{pid} ({comm}) {' '.join(fields)}\n")


def test_the_process_collector_reports_no_cpu_for_a_process_read_once(tmp_path: Path) -> None:
    write_stat(tmp_path, 100, "hog", ticks=1000)
    collector = ProcessCollector(tmp_path)
    first = collector.collect()
    metrics = {k.metric for k in first.keys}
    assert "process_rss_bytes" in metrics  # memory is known at once
    assert "process_cpu_percent" not in metrics  # CPU % needs an interval: not "0 %"
    write_stat(tmp_path, 100, "hog", ticks=1000 + os.sysconf("SC_CLK_TCK"))
    write_stat(tmp_path, 200, "newcomer", ticks=5)  # appeared between the reads
    second = collector.collect()
    cpu = {
        dict(k.labels)["comm"]: v
        for k, v in zip(second.keys, second.values.tolist(), strict=True)
        if k.metric == "process_cpu_percent"
    }
    assert set(cpu) == {"hog"} and cpu["hog"] > 0


def test_a_process_born_since_the_previous_read_is_measured_over_its_life(
    tmp_path: Path,
) -> None:
    tick = os.sysconf("SC_CLK_TCK")
    # Seconds since boot: where the first read begins, where the second begins and ends.
    clock = iter([1000.0, 1029.0, 1030.0])
    write_stat(tmp_path, 100, "idle", ticks=50, start=10 * tick)
    collector = ProcessCollector(tmp_path, boottime=lambda: next(clock))
    collector.collect()
    write_stat(tmp_path, 100, "idle", ticks=50 + tick // 10, start=10 * tick)
    write_stat(tmp_path, 200, "hog", ticks=2 * tick, start=1028 * tick)  # 2 s old, 2 s of CPU
    write_stat(tmp_path, 250, "early", ticks=tick, start=1000 * tick)  # as the last read began
    write_stat(tmp_path, 300, "blip", ticks=0, start=int(1029.5 * tick))  # too young to say
    write_stat(tmp_path, 400, "old", ticks=900 * tick, start=500 * tick)  # missed by the last read
    second = collector.collect()
    cpu = {
        dict(k.labels)["comm"]: v
        for k, v in zip(second.keys, second.values.tolist(), strict=True)
        if k.metric == "process_cpu_percent"
    }
    # The hog's whole life lies in the interval: 100 % of a core (its life ends where the
    # scan ends).  "early" was born as the last read began, and not seen by it: 1 s of CPU
    # in 30 s.  "old" lived mostly before the interval (its life's average says nothing of
    # now), "blip" half a second.
    assert set(cpu) == {"idle", "hog", "early"}
    assert cpu["hog"] == pytest.approx(100.0)
    assert cpu["early"] == pytest.approx(100.0 / 30)


def test_top_processes_come_only_from_the_latest_read_at_most_one_interval_old() -> None:
    host = Host(process_interval=30.0)
    host.processes(0.0, {proc(1, "exited"): 99.0, proc(2, "steady"): 10.0})
    host.processes(30.0, {proc(2, "steady"): 12.0, proc(3, "busy"): 60.0})
    (alert,) = host.cpu(40.0, 90.0)
    # "exited" still has a series (99 %) but was not in the latest read: not named.
    assert alert.context["top_processes"] == "busy (pid 3) 60%, steady (pid 2) 12%"
    host.cpu(50.0, 50.0)
    (late,) = host.cpu(100.0, 90.0)  # 70 s after the last process read: nothing about now
    assert "top_processes" not in late.context
    assert "sparkline" in late.context


def test_a_first_cpu_alert_waits_for_a_process_read_taken_after_its_sample() -> None:
    host = Host(process_interval=30.0)
    asked: list[float] = []
    host.pipeline.read_processes = lambda: asked.append(1.0) is None  # a read is coming
    routed: list[Alert] = []
    host.pipeline.sink = routed.append
    host.processes(0.0, {proc(1, "steady"): 2.0})
    host.cpu(5.0, 10.0)
    host.cpu(15.0, 10.0)
    # The hog started at 20 s; the latest process read (0 s) is from before the sample that
    # fires (taken from 15 s on): the alert waits, and what comes after it waits behind it.
    assert host.cpu(25.0, 99.0) == [] and asked == [1.0] and routed == []
    assert host.cpu(34.0, 10.0) == [] and routed == []  # its RESOLVED: not before its FIRING
    released = host.pipeline.process("process", 34.5, samples({proc(7, "hog"): 100.0}))
    assert [a.status for a in released] == [Status.FIRING, Status.RESOLVED] and routed == released
    firing = released[0]
    assert firing.timestamp == 25.0  # raised when it was, told with the read that came
    assert firing.context["top_processes"] == "hog (pid 7) 100%"
    # Back over warn at 44 s: the latest read (34.5 s) came before that sample, and what
    # drove it may have started since: it waits for a read again.  Then critical: an
    # escalation of a condition announced uses the latest read.
    assert host.cpu(44.0, 85.0) == [] and asked == [1.0, 1.0]
    (again,) = host.pipeline.process("process", 46.0, samples({proc(8, "build"): 80.0}))
    assert again.status is Status.FIRING and again.context["top_processes"] == "build (pid 8) 80%"
    assert [a.status for a in host.cpu(54.0, 99.0)] == [Status.ESCALATED] and asked == [1.0, 1.0]


def test_a_process_read_a_moment_after_the_previous_sample_does_not_speak_for_the_alert() -> None:
    """Seen in a trial: two busy loops started a moment before a process read, too young for
    it to measure (under a second of life), drove the next CPU sample to 100 %; the alert
    named the processes of that read (the agent itself, at 3 %), and not them."""
    host = Host(process_interval=30.0)
    asked: list[float] = []
    host.pipeline.read_processes = lambda: asked.append(1.0) is None
    host.cpu(5.0, 10.0)
    host.processes(5.3, {proc(1, "sysops-agent"): 3.0})  # the hogs, 0.3 s old: not measured
    assert host.cpu(15.0, 100.0) == [] and asked == [1.0]
    (firing,) = host.pipeline.process("process", 16.0, samples({proc(7, "sh"): 100.0}))
    assert firing.context["top_processes"] == "sh (pid 7) 100%"


def test_a_held_alert_goes_on_without_processes_when_no_read_comes() -> None:
    host = Host(process_interval=30.0)
    host.pipeline.read_processes = lambda: True
    routed: list[Alert] = []
    host.pipeline.sink = routed.append
    host.processes(0.0, {proc(1, "steady"): 2.0})
    host.cpu(5.0, 10.0)
    host.cpu(15.0, 10.0)
    host.cpu(25.0, 99.0)
    host.cpu(34.0, 99.0)
    assert routed == []
    host.cpu(35.0, 99.0)  # HOLD_FOR_PROCESSES_SECS after it: on, with what there is
    (firing,) = routed
    assert firing.timestamp == 25.0 and firing.context["top_processes"] == "steady (pid 1) 2%"
    # Nothing is held when no read can come (no process loop), nor when the latest read
    # was taken with or after the sample that fired.
    host = Host(process_interval=30.0)
    host.pipeline.read_processes = lambda: False
    host.processes(0.0, {proc(1, "steady"): 2.0})
    host.cpu(5.0, 10.0)
    assert len(host.cpu(15.0, 99.0)) == 1
    host = Host(process_interval=30.0)
    host.pipeline.read_processes = lambda: pytest.fail("not asked: the read is recent")
    host.cpu(5.0, 10.0)
    host.processes(15.0, {proc(1, "steady"): 2.0})
    assert len(host.cpu(15.0, 99.0)) == 1


@pytest.mark.parametrize(
    ("value", "level", "unit", "shown", "level_shown"),
    [
        (2.04, 2.0, "load_per_core", "2.04 per core", "2 per core"),
        (2.0004, 2.0, "", "2.0004", "2"),
        (90.04, 90.0, "percent", "90.04%", "90%"),
        (1100.0, 1024.0, "bytes_per_second", "1.07 KiB/s", "1 KiB/s"),
        (85.3, 85.0, "celsius", "85.3°C", "85°C"),
        (13.8, 3.0, "sigma", "13.8σ", "3σ"),
        (67.3, 1.0e6, "bytes_per_second", "67.3 B/s", "977 KiB/s"),  # each its own prefix
        (271 * 2**20, 15.5 * 2**30, "bytes", "271 MiB", "15.5 GiB"),
        (1023.6, 1024.3, "bytes_per_second", "1023.6 B/s", "1.0003 KiB/s"),  # across a prefix
    ],
)
def test_a_value_and_its_level_never_print_alike(
    value: float, level: float, unit: str, shown: str, level_shown: str
) -> None:
    assert format_value(value, unit, against=level) == shown
    assert format_value(level, unit, against=value) == level_shown


def test_the_shown_comparison_always_holds() -> None:
    """Whatever the pair, the printed value is on the same side of the printed level."""
    rng = np.random.default_rng(14)
    for _ in range(2000):
        level = float(rng.choice([1, 2, 80, 90, 0.5, 1e6])) * float(rng.uniform(0.5, 2))
        value = level * (1 + float(rng.choice([-1, 1])) * 10 ** float(rng.uniform(-9, -1)))
        a = float(format_value(value, "", against=level))
        b = float(format_value(level, "", against=value))
        assert math.copysign(1, a - b) == math.copysign(1, value - level) and a != b


def test_threshold_messages_keep_the_comparison_and_the_unit() -> None:
    store = Store(8)
    rule = ThresholdRule("cpu_load1_per_core", warn=2.0, critical=4.0)
    pipeline = Pipeline(store, [ThresholdAnalyzer([rule])])
    key = SeriesKey("cpu_load1_per_core")
    (alert,) = pipeline.process("cpu", 0.0, samples({key: 2.004}))
    assert alert.message == (
        "cpu_load1_per_core is 2.004 per core, above the warn level 2 per core"
    )
    assert "Value: 2.004 per core (threshold 2 per core)" in plain(alert)
    # The unit comes from the collector's MetricSpec, registered by the pipeline.
    assert format_metric("network_receive_bytes_per_second", 1536.0) == "1.5 KiB/s"
    assert format_metric("gpu_temperature_celsius", 84.6) == "84.6°C"


def statistical_alert(analyzer: str, context: dict[str, object]) -> Alert:
    """A z-score or season alert on a NIC's bytes, its threshold 3 (σ)."""
    Pipeline(Store(8), [])  # the assembly registers the collectors' units
    return Alert(
        analyzer=analyzer,
        metric="network_receive_bytes_per_second",
        labels=(("interface", "eth0"),),
        status=Status.FIRING,
        severity=Severity.WARN,
        value=2048.0,
        threshold=3.0,
        message="m",
        timestamp=0.0,
        context=context,
    )


@pytest.mark.parametrize("analyzer", ["zscore", "season"])
def test_a_statistical_threshold_is_shown_in_sigma_and_the_value_in_its_unit(analyzer: str) -> None:
    alert = statistical_alert(analyzer, {"threshold_unit": "sigma"})  # as z-score and season set it
    assert "Value: 2 KiB/s (threshold 3σ)" in plain(alert)


def test_a_statistical_alert_queued_before_it_said_its_threshold_unit_still_shows_sigma() -> None:
    """An outbox row written by the version before alerts carried `threshold_unit` (z-score's
    threshold was σ all along) renders as it did after an upgrade, not as "3 %"."""
    record = statistical_alert("zscore", {}).to_record()
    assert "threshold_unit" not in record.get("context", {})
    assert "Value: 2 KiB/s (threshold 3σ)" in plain(Alert.from_record(record))


def test_a_firing_on_the_first_sample_of_its_series_asks_for_a_read_too() -> None:
    """A second reader's finding: the rule asked only with two samples of the series, so a
    CPU busy from the agent's start named the processes of the read before (only those
    read twice have a CPU %)."""
    host = Host(process_interval=30.0)
    asked: list[float] = []
    host.pipeline.read_processes = lambda: asked.append(1.0) is None
    host.processes(0.0, {proc(1, "sysops-agent"): 3.0})
    assert host.cpu(5.0, 99.0) == [] and asked == [1.0]
    (firing,) = host.pipeline.process("process", 7.0, samples({proc(7, "build"): 190.0}))
    assert firing.context["top_processes"] == "build (pid 7) 190%"
