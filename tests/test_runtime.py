"""Runtime: absent sources are reported once and not retried; errors are counted per collector."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from agent.collectors.base import Samples, SourceMissing
from agent.config import parse_config_text
from agent.runtime import Agent
from alerting.alert import Severity


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


def test_a_failing_channel_is_announced_through_the_others(tmp_path: Path) -> None:
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

    sent = asyncio.run(scenario())
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
