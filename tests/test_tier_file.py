"""The history tier kept across a restart (agent/tier_file.py, `Store.history_tiers` and
`Store.restore_history`): the analyzers go on where the last life left them."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agent import tier_file
from agent.store import Store
from analyzers.base import SeriesKey
from analyzers.leak import LeakAnalyzer
from analyzers.trend import TrendAnalyzer
from tests.test_e2e import start_agent

__all__ = ["start_agent"]  # the fixture, shared with test_e2e

MB = 2**20
DISK = SeriesKey.of("disk_used_percent", mountpoint="/var", device="/dev/sda1")
RSS = SeriesKey.of("process_rss_bytes", comm="java", pid="4242", user="app")
TOTAL = SeriesKey("memory_total_bytes")
CPU = SeriesKey("cpu_usage_percent")
START = 1_767_571_200.0  # a Monday, 00:00 UTC


def store() -> Store:
    return Store(60, 240, 60.0, needs_history=lambda metric: metric != "memory_total_bytes")


def written(minutes: int, step: float = 10.0) -> Store:
    """A store fed `minutes` of a CPU series (group cpu) and a disk (group disk)."""
    s = store()
    for i in range(int(minutes * 60 / step)):
        t = START + i * step
        s.write_samples(t, [CPU], np.array([float(i % 7)]), "cpu")
        s.write_samples(t, [DISK, TOTAL], np.array([40.0 + i / 100, 8e9]), "disk")
    return s


def kept(s: Store, at: float) -> list[Any]:
    """What a restart at `at` takes back: the store's tiers through the file's encoding."""
    resolution, saved_at, copies = tier_file.decode(
        b"".join(tier_file.encode(s.history_tiers(), s.resolution, at))
    )
    assert (resolution, saved_at) == (s.resolution, at)
    return copies


def test_a_restart_takes_the_history_tier_back_as_it_was() -> None:
    before = written(30)
    now = START + 30 * 60 + 5  # stopped at the end, started 5 s later
    after = store()
    taken = sum(after.restore_history(copy, now) for copy in kept(before, now))
    assert taken == 2  # memory_total_bytes keeps no history: not taken back
    for key in (CPU, DISK):
        old, new = before.find(key), after.find(key)
        assert old is not None and new is not None
        t0, v0 = before.history_window(old)
        t1, v1 = after.history_window(new)
        assert t1.tolist() == t0.tolist() and v1.tolist() == v0.tolist()
        assert after.history_ago(np.array([new]), 0)[0] == before.history_ago(np.array([old]), 0)[0]
    assert after.find(TOTAL) is None
    # Known, not known to exist: until a collector reports it; then as any series.
    assert not after.reported(DISK)
    assert after.window(after.find(DISK) or 0)[0].size == 0  # no raw value: nothing "now"
    after.write_samples(now + 10, [CPU], np.array([3.0]), "cpu")
    assert after.reported(CPU) and not after.reported(DISK)
    # Never reported again: stale like any series, counted from the start.
    assert after.stale_ids(now + 599, 600) == []
    assert after.stale_ids(now + 601, 600) == [after.find(DISK)]


def test_only_buckets_within_the_tiers_reach_and_before_this_one_are_taken_back() -> None:
    before = written(30)
    copies = kept(before, START + 1800)
    late = store()  # started 3 h 50 min after the last bucket: the tier keeps 4 h (240)
    late.restore_history(copies[0], START + 4 * 3600 + 1800 - 600)
    times, _ = late.history_window(late.find(CPU) or 0)
    # The last ten minutes only, of which the last was open at the stop (never a bucket).
    assert times.tolist() == [START + m * 60 for m in range(20, 29)]
    early = store()  # a clock stepped back: nothing from "the future"
    early.restore_history(copies[0], START + 10 * 60 + 30)
    times, _ = early.history_window(early.find(CPU) or 0)
    assert times.tolist() == [START + m * 60 for m in range(10)]


def test_a_restore_keeps_the_caps_and_comes_before_any_write() -> None:
    before = written(5)
    copies = kept(before, START + 300)
    capped = Store(60, 240, 60.0, max_series=1)
    assert sum(capped.restore_history(c, START + 300) for c in copies) == 1
    assert len(capped) == 1
    used = store()
    used.write_samples(START + 400, [CPU], np.array([1.0]), "cpu")
    cpu_copy = next(c for c in copies if c.group == "cpu")
    with pytest.raises(ValueError, match="written before"):
        used.restore_history(cpu_copy, START + 400)


# -- the file ---------------------------------------------------------------------------


def saved(tmp_path: Path) -> Path:
    path = tier_file.path_in(tmp_path)
    s = written(10)
    tier_file.write(path, s.history_tiers(), s.resolution, START + 600)
    return path


def test_the_file_is_private_and_a_fresh_store_takes_it_back(tmp_path: Path) -> None:
    path = saved(tmp_path)
    assert path.stat().st_mode & 0o777 == 0o600
    fresh = store()
    assert tier_file.restore(fresh, path, START + 605) == 2
    assert fresh.history_window(fresh.find(DISK) or 0)[1].size == 9  # the 10th was open


@pytest.mark.parametrize(
    ("damage", "why"),
    [
        (lambda b: b"garbage" + b, "not a history tier file"),
        (lambda b: b[:-3], "truncated values"),
        (lambda b: b + b"\0", "trailing bytes"),
        (lambda b: b[: len(tier_file.MAGIC) + 4], "truncated header"),
        (lambda b: b.replace(b'"version":1', b'"version":9'), "unknown version"),
        # Changes of the header that keep its length (and its JSON valid):
        (lambda b: b.replace(b'"resolution":60.0', b'"resolution":"6."'), "bad resolution"),
        (lambda b: b.replace(b'"cpu_usage_percent"', b"1234567890123456789"), "bad series key"),
    ],
)
def test_a_damaged_file_is_said_and_the_agent_starts_without_it(
    tmp_path: Path, damage: Any, why: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = saved(tmp_path)
    path.write_bytes(damage(path.read_bytes()))
    fresh = store()
    with caplog.at_level(logging.WARNING):
        assert tier_file.restore(fresh, path, START + 605) == 0
    assert len(fresh) == 0
    assert f"history kept at the last stop not used ({path}): {why}" in caplog.text


def test_a_planted_symlink_is_not_followed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    target = saved(tmp_path / "elsewhere")
    path = tier_file.path_in(tmp_path)
    os.symlink(target, path)
    assert tier_file.restore(store(), path, START + 605) == 0
    assert "not used" in caplog.text
    tier_file.write(path, [], 60.0, START)  # replaces the link, never writes through it
    assert not path.is_symlink() and target.read_bytes().startswith(tier_file.MAGIC)


def test_buckets_of_another_size_are_not_taken_back(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = saved(tmp_path)
    other = Store(60, 240, 30.0)
    with caplog.at_level(logging.INFO):
        assert tier_file.restore(other, path, START + 605) == 0
    assert "its buckets are 60 s, now 30 s" in caplog.text
    assert tier_file.restore(store(), tmp_path / "none.bin", START) == 0  # a first start


# -- the analyzers go on ------------------------------------------------------------------


def lives(analyzer: Any, key: SeriesKey, values: np.ndarray, restart: int | None,
          extra: dict[SeriesKey, float] | None = None, keep: bool = True) -> list[tuple[float, str, str]]:  # fmt: skip
    """(time, status, severity) of the alerts over one sample a minute, with the agent
    restarted before sample `restart` (a new analyzer and store, the tier kept or not)."""
    s, a = store(), analyzer()
    keys = (key, *(extra or {}))
    out = []
    for i, value in enumerate(values.tolist()):
        t = START + i * 60.0
        if i == restart:
            copies = kept(s, t)
            s, a = store(), analyzer()
            if keep:
                for copy in copies:
                    s.restore_history(copy, t)
        batch = s.write_samples(t, keys, np.array([value, *(extra or {}).values()]), "g")
        out += [(x.timestamp, x.status.value, x.severity.label) for x in a.observe(batch, s)]
    return out


def test_a_trend_goes_on_across_a_restart_as_if_there_was_none() -> None:
    minutes = np.arange(0, 3 * 60)
    filling = 60 + 9 * minutes / 60  # 9 points/h from 60 %: full in under 4.5 h
    one_life = lives(TrendAnalyzer, DISK, filling, None)
    assert [(s, v) for _, s, v in one_life] == [("firing", "critical")]
    fired_at = one_life[0][0]
    restart = int((fired_at - START) / 60) + 30  # half an hour after it fired
    assert lives(TrendAnalyzer, DISK, filling, restart) == [
        *one_life,
        (START + restart * 60.0 + 60, "firing", "critical"),  # raised again at the first bucket
    ]
    before = int((fired_at - START) / 60) - 20  # and 20 minutes before it fired
    assert lives(TrendAnalyzer, DISK, filling, before) == one_life
    # Without the tier it learns again: an hour later.
    forgot = lives(TrendAnalyzer, DISK, filling, before, keep=False)
    assert forgot and forgot[0][0] >= START + (before + 60) * 60


def test_a_leak_goes_on_across_a_restart() -> None:
    rng = np.random.default_rng(7)
    minutes = np.arange(4 * 60)
    leaking = 500 * MB + 300 * MB * minutes / 60 + rng.normal(0, MB, minutes.size)
    extra = {TOTAL: 2048 * MB}

    def leak() -> LeakAnalyzer:
        return LeakAnalyzer(window_hours=6, min_observation_hours=1)

    one_life = lives(leak, RSS, leaking, None, extra)
    assert [(s, v) for _, s, v in one_life] == [("firing", "critical")]
    restart = int((one_life[0][0] - START) / 60) + 45
    again = lives(leak, RSS, leaking, restart, extra)
    assert again == [*one_life, (START + restart * 60.0 + 60, "firing", "critical")]


# -- the daemon ---------------------------------------------------------------------------


def test_the_running_agent_keeps_the_tier_every_so_often_for_a_kill_9(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not only at a clean stop: a kill -9, an OOM kill or a power cut finds the tier as it
    stood at most SAVE_EVERY_SECS before."""
    import asyncio

    from agent import runtime
    from agent.config import parse_config_text
    from agent.runtime import Agent
    from tests.conftest import until

    monkeypatch.setattr(runtime, "REPEAT_CHECK_SECS", 0.01)
    monkeypatch.setattr(runtime, "HOUSEKEEPING_SECS", 0.0)
    monkeypatch.setattr(tier_file, "SAVE_EVERY_SECS", 0.05)
    agent = Agent(parse_config_text(f'[agent]\ndata_dir = "{tmp_path}/data"\n', "t.toml"))
    recent = time.time() - 300  # not stale for the housekeeping's retiring
    for minute in range(5):
        agent.store.write_samples(recent + 60 * minute, [DISK], np.array([50.0 + minute]), "disk")
    path = tier_file.path_in(tmp_path / "data")

    async def scenario() -> None:
        task = asyncio.create_task(agent._housekeeping())
        await until(path.exists, 10.0, "the tier kept while running")
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    _, _, (copy,) = tier_file.decode(path.read_bytes())
    assert copy.keys == [DISK] and copy.values[:, 0].tolist() == [50.0, 51.0, 52.0, 53.0]


@pytest.mark.e2e
def test_a_stopped_agent_takes_its_history_back_at_the_next_start(
    start_agent: Any, tmp_path: Path
) -> None:
    from tests.conftest import hermetic_agent_keys, only_collectors, wait_until

    config = f"""
[agent]
data_dir = "data"
{hermetic_agent_keys(tmp_path)}
[collector]
memory_interval_secs = 0.5
{only_collectors("memory")}
[analyzer]
enabled = ["threshold"]
[thresholds]
memory_percent = {{ warn = 0.5, for_secs = 2 }}
[storage]
history_resolution_secs = 1
history_metrics = ["memory_used_percent"]
[alerting.console]
enabled = true
"""
    path = tier_file.path_in(tmp_path / "data")
    first = start_agent(config)
    assert first.wait_for_log("sysops-agent started", 15.0), first.stderr
    assert "history of" not in first.stderr  # a first start: nothing to take back
    # Over its level for 2 s: by then 1-second buckets have closed.
    first.wait_for_output("FIRING", 30.0)
    code, _ = first.stop()
    assert code == 0 and path.exists()
    resolution, _, copies = tier_file.decode(path.read_bytes())
    assert resolution == 1.0 and [c.keys for c in copies] == [[SeriesKey("memory_used_percent")]]
    second = start_agent(config)
    wait_until(lambda: "history of 1 series taken back" in second.stderr, 15.0,
               "the history taken back")  # fmt: skip
    code, _ = second.stop()
    assert code == 0 and "Traceback" not in second.stderr
