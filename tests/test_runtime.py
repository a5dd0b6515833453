"""Runtime: absent sources are reported once and not retried; errors are counted per collector."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from agent.collectors.base import Samples, SourceMissing
from agent.config import parse_config_text
from agent.runtime import Agent


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
