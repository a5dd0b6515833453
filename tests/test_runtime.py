"""Runtime: absent sources are reported once and not retried; errors are counted per collector."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agent.collectors.base import Samples, SourceMissing
from agent.config import parse_config_text
from agent.runtime import Agent
from alerting.alert import Alert, Severity, Status
from tests.conftest import until


class Absent:
    name = "gpu"
    metrics = ()
    calls = 0

    def collect(self) -> Samples:
        self.calls += 1
        raise SourceMissing("NVML reports no GPU")


class Broken:
    name = "disk"
    metrics = ()

    def collect(self) -> Samples:
        raise PermissionError(13, "Permission denied")


def test_absent_source_is_said_once_and_the_domain_stops(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    loaded = parse_config_text(f'[agent]\ndata_dir = "{tmp_path}"\n', "t.toml")

    async def scenario() -> tuple[Agent, Absent]:
        agent = Agent(loaded)
        absent = Absent()
        loop = agent._domain_loop_factory(absent, 0.01)
        await asyncio.wait_for(loop(), 1.0)  # returns by itself: the domain is disabled
        for _ in range(3):
            assert agent.tick(Broken())
        return agent, absent

    with caplog.at_level(logging.INFO):
        agent, absent = asyncio.run(scenario())
    assert absent.calls == 1
    assert agent.absent == {"gpu": "NVML reports no GPU"}
    assert caplog.text.count("collector gpu disabled: NVML reports no GPU") == 1
    assert agent.collector_errors["disk"] == 3
    assert caplog.text.count("collector disk failed") == 1  # the same cause is logged once
    stats = agent.collector_stats()
    assert stats["disk"][1] == 3 and stats["disk"][0] >= 0


def test_a_failing_channel_is_announced_through_the_others(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from alerting.channels.base import DeliveryError
    from alerting.delivery import ChannelWorker
    from tests.test_router import Recorder

    class Broken(Recorder):
        name = "broken"
        retry_count = 0

        async def send(self, alerts):  # type: ignore[no-untyped-def]
            raise DeliveryError("HTTP 503", retryable=True)

    loaded = parse_config_text(f'[agent]\ndata_dir = "{tmp_path}"\n', "t.toml")

    async def scenario() -> list:
        agent = Agent(loaded)
        good, broken = Recorder(), Broken()
        workers = [
            ChannelWorker(good, max_age=float("inf")),
            ChannelWorker(broken, park_secs=60, max_age=float("inf")),
        ]
        agent.router.workers = workers
        for w in workers:
            w.start()
        import time as _time

        from alerting.alert import Alert, Severity, Status

        agent.router.route(
            Alert(
                analyzer="t",
                metric="m",
                labels=(),
                status=Status.FIRING,
                severity=Severity.WARN,
                value=1,
                threshold=0,
                message="x",
                timestamp=_time.time(),
            )
        )
        deadline = _time.monotonic() + 10
        while not workers[1].failing:  # its quick retries (none) ran out
            assert _time.monotonic() < deadline, "the broken channel never failed"
            await asyncio.sleep(0.01)
        agent.check_channels(_time.time())
        agent.check_channels(_time.time())  # still failing: said once
        assert await workers[0].drain(10.0)  # whatever was said has reached the good channel
        for w in workers:
            await w.stop()
        return good.sent

    with caplog.at_level(logging.ERROR, logger="alerting.delivery"):
        sent = asyncio.run(scenario())
    # The batch kept and all that waits, told apart (the alert counts what waits).
    assert any("keeping 1 alert(s) for later (1 waiting in all)" in r.getMessage()
               for r in caplog.records), [r.getMessage() for r in caplog.records]  # fmt: skip
    failing = [a for a in sent if a.metric == "agent_channel_failing"]
    assert (
        len(failing) == 1
        and dict(failing[0].labels) == {"channel": "broken"}
        and failing[0].severity is Severity.CRITICAL
    )


def test_alerts_carry_a_sparkline_and_the_top_processes(tmp_path: Path) -> None:
    import numpy as np

    from alerting.alert import Alert, Status
    from analyzers.base import SeriesKey

    agent = Agent(parse_config_text(f'[agent]\ndata_dir = "{tmp_path}"\n', "t.toml"))
    cpu = SeriesKey.of("cpu_usage_percent")
    procs = (SeriesKey.of("process_cpu_percent", pid="1", comm="java", user="a"),
             SeriesKey.of("process_cpu_percent", pid="2", comm="idle", user="b"))  # fmt: skip
    for t in range(60):
        agent.store.write_samples(float(t), (cpu,), np.array([float(t)]))
    agent.store.write_samples(61.0, procs, np.array([87.0, 1.0]))
    alert = Alert(
        analyzer="threshold",
        metric="cpu_usage_percent",
        labels=(),
        status=Status.FIRING,
        severity=Severity.WARN,
        value=95,
        threshold=90,
        message="cpu",
        timestamp=61.0,
        series_id=agent.store.find(cpu),  # what the analyzer knew
    )
    context = agent.pipeline.enrich(alert).context
    assert context["sparkline"][0] == "▁" and context["sparkline"][-1] == "█"
    assert context["top_processes"] == "java (pid 1) 87%, idle (pid 2) 1%"


def test_the_default_executor_has_a_few_threads_however_many_cpus() -> None:
    import threading
    import time

    from agent.runtime import IO_THREADS, bound_default_executor

    async def scenario() -> set[str]:
        loop = asyncio.get_running_loop()
        bound_default_executor(loop)

        def work() -> str:
            time.sleep(0.05)
            return threading.current_thread().name

        return set(await asyncio.gather(*(loop.run_in_executor(None, work) for _ in range(40))))

    names = asyncio.run(scenario())
    assert 1 <= len(names) <= IO_THREADS
    assert all(name.startswith("sysops-io") for name in names)


class FailsAfterItsFirstRead:
    """The process collector whose read asked for by an alert fails (a hidepid /proc, say)."""

    name = "process"

    def __init__(self, inner: Any) -> None:
        self.inner, self.metrics, self.reads = inner, inner.metrics, 0

    def collect(self) -> Samples:
        self.reads += 1
        if self.reads > 1:
            raise PermissionError(13, "Permission denied")
        return self.inner.collect()  # type: ignore[no-any-return]


class TimesItsReads:
    """The process collector, noting when (monotonic time) each read began."""

    name = "process"

    def __init__(self, inner: Any) -> None:
        self.inner, self.metrics, self.began = inner, inner.metrics, list[float]()

    def collect(self) -> Samples:
        self.began.append(time.monotonic())
        return self.inner.collect()  # type: ignore[no-any-return]


def run_collecting(agent: Agent, scenario: Coroutine[Any, Any, None]) -> None:
    """Run `scenario`, then end the agent's collector threads (its domain loops use them)."""
    try:
        asyncio.run(scenario)
    finally:
        if agent._collect_pool is not None:
            agent._collect_pool.shutdown(wait=True)


class EmptyReads:
    """A process collector that reads nothing, noting when (monotonic time) each read began."""

    name = "process"
    metrics = ()

    def __init__(self) -> None:
        self.began: list[float] = []

    def collect(self) -> Samples:
        self.began.append(time.monotonic())
        return Samples((), np.zeros(0))


def test_a_read_asked_for_within_the_gap_before_a_scheduled_read_is_that_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second reader's finding: with a process interval under ASKED_READ_GAP_SECS, the gap's
    wait ran past the scheduled read, which then came at once after the asked one: two reads
    milliseconds apart, CPU % over nothing.  Here the gap is 30 s and the interval 1 s: the
    scheduled reads go on (the first of them is the one asked for); waiting out the gap
    first, the second read would come only after 30 s."""
    from agent import runtime

    monkeypatch.setattr(runtime, "ASKED_READ_GAP_SECS", 30.0)
    agent = Agent(parse_config_text(f'[agent]\ndata_dir = "{tmp_path}/data"\n', "t.toml"))
    reads = EmptyReads()

    async def scenario() -> None:
        task = asyncio.create_task(agent._domain_loop_factory(reads, 1.0)())
        await until(lambda: len(reads.began) == 1, 10.0, "the first read")
        assert agent._read_processes_now()  # an alert asks, well within the gap
        await until(lambda: len(reads.began) >= 3, 20.0, "two more scheduled reads")
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    run_collecting(agent, scenario())


@pytest.mark.parametrize("read", ["works", "fails"])
def test_a_cpu_alert_names_the_hog_that_started_after_the_last_process_read(
    tmp_path: Path, read: str
) -> None:
    """And the read it asks for comes no sooner than ASKED_READ_GAP_SECS after the last: here
    the alert fires milliseconds after it, and CPU % over those would be noise."""
    import os
    import shutil

    from agent import runtime
    from agent.collectors.cpu import CpuCollector
    from agent.collectors.process import ProcessCollector
    from tests.conftest import FIXTURES, PROCFS_PROC

    tick = os.sysconf("SC_CLK_TCK")
    proc = tmp_path / "proc"
    shutil.copytree(PROCFS_PROC, proc, symlinks=True)
    sys = FIXTURES / "procfs" / "sys"
    boot = [1000.0]  # seconds since boot: the process collector's clock
    agent = Agent(parse_config_text(f'[agent]\ndata_dir = "{tmp_path}/data"\n', "t.toml"))
    routed: list[Alert] = []
    agent.pipeline.sink = routed.append  # what the router would be handed, and when
    cpu = CpuCollector(proc, sys)
    processes: Any = ProcessCollector(proc, boottime=lambda: boot[0])
    if read == "fails":
        processes = FailsAfterItsFirstRead(processes)
    timed = processes = TimesItsReads(processes)

    def hog_starts() -> None:
        # /proc/stat: 1,000 ticks more, all busy; a process born 2 s ago used 2 s of CPU.
        lines = (proc / "stat").read_text().splitlines()
        fields = lines[0].split()
        fields[1] = str(int(fields[1]) + 1000)
        (proc / "stat").write_text("\n".join([" ".join(fields), *lines[1:]]) + "\n")
        boot[0] = 1010.0
        (proc / "4242").mkdir()
        times = f"{2 * tick} 0 0 0 20 0 1 0 {1008 * tick} 4096 250"
        (proc / "4242" / "stat").write_text(f"4242 (hog) R 1 1 1 0 -1 0 0 0 0 0 {times}\n")

    async def scenario() -> None:
        # The process domain's loop, as the runtime runs it: a read at once, then none for
        # an hour unless an alert asks.
        loop = asyncio.create_task(agent._domain_loop_factory(processes, 3600.0)())
        await until(lambda: agent.ticks["process"] == 1, 10.0, "the first process read")
        agent.tick(cpu)  # the baseline of CPU ticks
        agent.tick(cpu)  # idle: 0 %
        hog_starts()
        agent.tick(cpu)  # 100 %: the threshold fires; the latest process read predates it
        # No other collection comes: only the read asked for (its end) lets the alert go.
        await until(lambda: routed, 10.0, "the alert")
        loop.cancel()
        with pytest.raises(asyncio.CancelledError):
            await loop

    run_collecting(agent, scenario())
    (alert,) = routed
    assert alert.metric == "cpu_usage_percent" and alert.status is Status.FIRING
    first, asked = timed.began
    # The gap (2 s) counts from when the loop started the last read, a moment before its
    # thread began it (longer on a loaded host): milliseconds apart without the gap.
    assert asked - first > runtime.ASKED_READ_GAP_SECS / 2
    if read == "works":
        assert agent.ticks["process"] == 2  # the read the alert asked for
        assert str(alert.context["top_processes"]).startswith("hog (pid 4242) 100%")
    else:  # on, with what there was: the first read measured no CPU % yet
        assert agent.collector_errors["process"] == 1
        assert "top_processes" not in alert.context


def test_no_repeat_goes_out_while_alerts_wait_for_a_process_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agent import runtime
    from tests.conftest import until

    monkeypatch.setattr(runtime, "REPEAT_CHECK_SECS", 0.01)
    agent = Agent(parse_config_text(f'[agent]\ndata_dir = "{tmp_path}/data"\n', "t.toml"))
    repeats: list[float] = []  # the rounds that asked the router for repeats
    checks: list[float] = []  # every round of the housekeeping
    monkeypatch.setattr(agent.router, "repeat_due", repeats.append)
    monkeypatch.setattr(agent, "check_channels", checks.append)
    held = Alert(analyzer="threshold", metric="cpu_usage_percent", labels=(),
                 status=Status.FIRING, severity=Severity.WARN, value=95.0, threshold=90.0,
                 message="cpu", timestamp=1.0)  # fmt: skip
    agent.pipeline._held.append((float("inf"), held))  # a FIRING waiting for its read
    agent.pipeline.sink = lambda alert: None

    async def scenario() -> None:
        task = asyncio.create_task(agent._housekeeping())
        await until(lambda: len(checks) >= 3, 10.0, "three rounds")
        assert repeats == []  # a repeat could overtake a RESOLVED queued behind the hold
        agent.pipeline.release_held()
        await until(lambda: repeats, 10.0, "a round with repeats")
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())


def test_without_a_process_loop_nothing_waits_and_a_stop_hands_on_what_waited(
    tmp_path: Path,
) -> None:
    class NoProcfs(Absent):
        name = "process"

    agent = Agent(parse_config_text(f'[agent]\ndata_dir = "{tmp_path}/data"\n', "t.toml"))
    routed: list[Alert] = []
    agent.pipeline.sink = routed.append
    held = Alert(analyzer="threshold", metric="cpu_usage_percent", labels=(),
                 status=Status.FIRING, severity=Severity.WARN, value=95.0, threshold=90.0,
                 message="cpu", timestamp=1.0)  # fmt: skip

    async def scenario() -> None:
        # The process source is missing: its loop ends, and no read can be asked for.
        await asyncio.wait_for(agent._domain_loop_factory(NoProcfs(), 0.01)(), 5.0)
        assert agent._read_processes_now() is False
        agent.pipeline._held.append((float("inf"), held))  # waiting when the stop comes
        await agent._shutdown()

    asyncio.run(scenario())
    assert routed == [held]  # handed to the router before its channels drain, not lost


def test_the_end_of_a_series_that_went_away_says_its_last_value_and_when(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The issue's leak: RSS grew 150 MiB/h, then the process restarted (a new pid).  The
    housekeeping's RESOLVED said the 270 MiB of the first firing ("no longer reported (was:
    ... now 270 MiB ...)"), not the 719 MiB the old pid last had."""
    from alerting.format import when
    from analyzers.base import SeriesKey

    mib = 2.0**20
    agent = Agent(parse_config_text(f'[agent]\ndata_dir = "{tmp_path}/data"\n', "t.toml"))
    sent: list[Alert] = []
    monkeypatch.setattr(agent.router, "_submit", lambda alert, kept=None: sent.append(alert))
    old = SeriesKey.of("process_rss_bytes", comm="leaky", pid="6000", user="app")
    for minute in range(241):  # 4 h, growing from 120 MiB
        rss = (120.0 + 150.0 * minute / 60) * mib
        agent.store.write_samples(60.0 * minute, (old,), np.array([rss]), "process")
    leak = Alert(analyzer="leak", metric=old.metric, labels=old.labels, status=Status.FIRING,
                 severity=Severity.INFO, value=270 * mib, threshold=8 * 2.0**30, timestamp=3600.0,
                 message="process leaky (pid 6000, user app): memory has grown 150 MiB/h "
                 "for 1 h (now 270 MiB)")  # fmt: skip
    agent.router.route(leak)
    now = 14400.0 + 700.0  # unseen for longer than the housekeeping's 600 s
    agent._retire(agent.store.stale_ids(now, max_age=600.0), now)
    assert agent.store.find(old) is None  # retired
    firing, resolved = sent
    assert resolved.status is Status.RESOLVED and resolved.alert_id == firing.alert_id
    assert resolved.value == 720 * mib and resolved.timestamp == now
    assert resolved.message.startswith(
        f"process_rss_bytes comm=leaky pid=6000 user=app: no longer reported since "
        f"{when(14400.0)}, last 720 MiB (was: process leaky"
    )
