"""CPU and memory collectors on captured /proc trees, and their parsers on bad input."""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.collectors.base import ParseError
from agent.collectors.cpu import CpuCollector, busy_percent, parse_proc_stat_cpus
from agent.collectors.memory import MemoryCollector, parse_meminfo, used_bytes
from tests.conftest import NODE_EXPORTER_PROC, PROCFS_PROC


def test_parse_proc_stat_from_node_exporter_fixture() -> None:
    cpus = parse_proc_stat_cpus((NODE_EXPORTER_PROC / "stat").read_text())
    assert cpus["cpu"].tolist() == [301854, 612, 111922, 8979004, 3552, 2, 3944, 0, 44, 36]
    assert sorted(cpus) == ["cpu"] + [f"cpu{i}" for i in range(8)]


def test_busy_percent_over_an_interval_by_hand() -> None:
    before = np.array([100, 0, 50, 800, 50, 0, 0, 0, 30, 0])
    # +60 user (30 of it guest, already inside user), +20 system, +100 idle, +20 iowait
    after = np.array([160, 0, 70, 900, 70, 0, 0, 0, 60, 0])
    # busy = (60 + 20) / (60 + 20 + 100 + 20) = 40%; guest is not counted twice
    assert busy_percent(before, after) == pytest.approx(40.0)
    assert busy_percent(after, after) == 0.0
    assert busy_percent(after, before) is None  # counters went backwards


def test_cpu_collector_needs_two_reads_and_reports_zero_on_a_static_tree() -> None:
    collector = CpuCollector(NODE_EXPORTER_PROC)
    assert len(collector.collect()) == 0
    samples = collector.collect()
    assert [k.metric for k in samples.keys] == ["cpu_usage_percent"]
    assert samples.values.tolist() == [0.0]


def test_cpu_collector_on_a_changing_tree(tmp_path: Path) -> None:
    stat = tmp_path / "stat"
    stat.write_text("cpu  100 0 100 700 100 0 0 0 0 0\nintr 1\n")
    collector = CpuCollector(tmp_path)
    collector.collect()
    stat.write_text("cpu  150 0 150 850 150 0 0 0 0 0\nintr 2\n")
    assert collector.collect().values.tolist() == [pytest.approx(100 * 100 / 300)]


def test_memory_collector_on_fixtures_without_memavailable() -> None:
    # Both upstream fixtures predate MemAvailable: used = total - (free + buffers + cached).
    samples = MemoryCollector(NODE_EXPORTER_PROC).collect()
    values = dict(zip([k.metric for k in samples.keys], samples.values.tolist(), strict=True))
    total_kb, free_kb, buffers_kb, cached_kb = 3742148, 225472, 22040, 930888
    used_kb = total_kb - free_kb - buffers_kb - cached_kb
    assert values["memory_total_bytes"] == total_kb * 1024
    assert values["memory_used_bytes"] == used_kb * 1024
    assert values["memory_used_percent"] == pytest.approx(100 * used_kb / total_kb)
    procfs = MemoryCollector(PROCFS_PROC).collect()
    assert 0 < procfs.values[0] < 100


def test_memavailable_is_preferred() -> None:
    text = "MemTotal: 1000 kB\nMemFree: 100 kB\nMemAvailable: 600 kB\nCached: 400 kB\n"
    assert used_bytes(parse_meminfo(text)) == (1000 * 1024, 400 * 1024)


@pytest.mark.parametrize(
    "text",
    [
        "MemFree: 10 kB\n",  # no MemTotal
        "MemTotal: 0 kB\nMemFree: 0 kB\n",
        "MemTotal: ten kB\n",
        "MemTotal 10 kB\n",
        "MemTotal: 10 MB\n",
    ],
)
def test_bad_meminfo_is_a_parse_error(text: str) -> None:
    with pytest.raises(ParseError):
        used_bytes(parse_meminfo(text))


@pytest.mark.parametrize("text", ["", "intr 5\n", "cpu 1 2\n", "cpu a b c d\n", "cpu -1 0 0 0\n"])
def test_bad_proc_stat_is_a_parse_error(text: str) -> None:
    with pytest.raises(ParseError):
        parse_proc_stat_cpus(text)


def test_missing_file_raises_for_the_runtime_to_count(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        MemoryCollector(tmp_path).collect()


def test_truncated_real_file_is_a_parse_error(tmp_path: Path) -> None:
    shutil.copy(NODE_EXPORTER_PROC / "meminfo", tmp_path / "meminfo")
    text = (tmp_path / "meminfo").read_text()
    (tmp_path / "meminfo").write_text(text[: text.index("MemTotal:") + 14])
    with pytest.raises(ParseError):
        MemoryCollector(tmp_path).collect()


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.sampled_from("cpu0123456789 :\n-kBMemTotalFre"), max_size=300))
def test_parsers_raise_only_parse_error(text: str) -> None:
    for parse in (parse_proc_stat_cpus, lambda t: used_bytes(parse_meminfo(t))):
        with contextlib.suppress(ParseError):
            parse(text)
