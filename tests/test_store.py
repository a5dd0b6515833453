"""Store: ids, vectorised batch writes, wrap-around, gaps and retirement."""

from __future__ import annotations

import math

import numpy as np
import pytest

from agent.store import Store
from analyzers.base import Batch, SeriesKey


def keys(n: int, metric: str = "m") -> tuple[SeriesKey, ...]:
    return tuple(SeriesKey.of(metric, cpu=str(i)) for i in range(n))


def test_ids_are_stable_and_keys_resolve_back() -> None:
    store = Store(16)
    ks = keys(3)
    ids = store.ids_for(ks)
    assert ids.tolist() == [0, 1, 2]
    assert store.ids_for(ks) is ids  # cached for the same key set
    assert store.series_id(SeriesKey.of("m", cpu="1")) == 1
    assert store.key(2) == SeriesKey.of("m", cpu="2")
    assert len(store) == 3


def test_batch_write_is_one_column_per_metric() -> None:
    store = Store(8)
    ks = keys(100)
    values = np.arange(100, dtype=np.float64)
    batch = store.write_samples(1000.0, ks, values)
    assert isinstance(batch, Batch)
    times, got = store.window(int(batch.ids[42]))
    assert times.tolist() == [1000.0] and got.tolist() == [42.0]


def test_mixed_metrics_in_one_batch() -> None:
    store = Store(8)
    ks = keys(2, "a") + keys(3, "b")
    store.write_samples(1.0, ks, np.array([1, 2, 3, 4, 5], dtype=np.float64))
    store.write_samples(2.0, ks, np.array([10, 20, 30, 40, 50], dtype=np.float64))
    assert store.window(store.series_id(SeriesKey.of("b", cpu="2")))[1].tolist() == [5.0, 50.0]
    assert store.window(store.series_id(SeriesKey.of("a", cpu="0")))[0].tolist() == [1.0, 2.0]


def test_wrap_around_keeps_the_newest_in_order() -> None:
    store = Store(16)
    ks = keys(2)
    for t in range(40):
        store.write_samples(float(t), ks, np.array([t, -t], dtype=np.float64))
    times, values = store.window(1)
    assert times.tolist() == [float(t) for t in range(24, 40)]
    assert values.tolist() == [float(-t) for t in range(24, 40)]
    assert store.window(0, last=3)[1].tolist() == [37.0, 38.0, 39.0]
    assert store.latest(0) == 39.0


def test_a_series_missing_from_a_batch_has_a_gap_not_a_stale_value() -> None:
    store = Store(16)
    both = keys(2)
    store.write_samples(1.0, both, np.array([1.0, 2.0]))
    store.write_samples(2.0, both[:1], np.array([3.0]))
    store.write_samples(3.0, both, np.array([5.0, 6.0]))
    times, values = store.window(1)
    assert times.tolist() == [1.0, 3.0] and values.tolist() == [2.0, 6.0]


def test_series_added_later_have_no_history_and_rows_grow() -> None:
    store = Store(16)
    store.write_samples(1.0, keys(1), np.array([1.0]))
    many = keys(50)
    store.write_samples(2.0, many, np.arange(50, dtype=np.float64))
    times, values = store.window(store.series_id(many[49]))
    assert times.tolist() == [2.0] and values.tolist() == [49.0]
    assert store.window(0)[1].tolist() == [1.0, 0.0]


def test_values_are_float32_within_relative_precision() -> None:
    store = Store(16)
    big = 123_456_789_012.0
    store.write_samples(1.0, keys(1), np.array([big]))
    assert store.latest(0) == pytest.approx(big, rel=1e-7)


def test_retire_stale_series_frees_ids_and_rows() -> None:
    store = Store(16)
    old, live = SeriesKey.of("proc_rss", pid="1"), SeriesKey.of("proc_rss", pid="2")
    store.write_samples(100.0, (old, live), np.array([1.0, 2.0]))
    store.write_samples(500.0, (live,), np.array([3.0]))
    retired = store.retire_stale(now=600.0, max_age=300.0)
    assert retired == [store.series_id(live) - 1]
    with pytest.raises(KeyError):
        store.key(retired[0])
    newcomer = SeriesKey.of("proc_rss", pid="3")
    sid = store.series_id(newcomer)
    assert sid == retired[0]  # the id is reused, with no history of the old series
    assert store.window(sid)[1].size == 0
    assert store.window(store.series_id(live))[1].tolist() == [2.0, 3.0]


def test_a_collectors_series_share_one_ring_and_its_time_axes() -> None:
    store = Store(360, 1440, 60.0)
    batch = (*keys(8, "cpu_core_usage_percent"), *keys(3, "cpu_load1"))
    store.write_samples(60.0, batch, np.arange(11.0), group="cpu")
    store.write_samples(60.0, keys(2, "memory_used_bytes"), np.ones(2), group="memory")
    assert [r.name for r in store._rings] == ["cpu", "memory"]
    assert store._rings[0].raw.rows == 11  # a first batch is sized exactly
    assert store.window(store.series_id(batch[9]))[1].tolist() == [9.0]


def test_24_hours_of_a_typical_host_fit_in_8_kb_per_series() -> None:
    """This machine's embedded agent: 140 series from 11 collectors (issue 4: <= 8 KB)."""
    store = Store(360, 1440, 60.0)
    sizes = {"cpu": 41, "memory": 24, "network": 11, "disk": 8, "process": 16, "fd": 3,
             "pressure": 12, "numa": 6, "self": 14, "edac": 2, "gpu": 3}  # fmt: skip
    for group, n in sizes.items():
        store.write_samples(0.0, keys(n, f"{group}_m"), np.zeros(n), group=group)
    per_series = store.nbytes / len(store)
    assert len(store) == 140 and per_series <= 8192, per_series


def test_history_times_are_exact_bucket_starts() -> None:
    """Bucket numbers are kept as int32 from the first one: exact even at 0.1 s steps."""
    for resolution, start in ((60.0, 1_795_000_000.0), (0.1, 1_795_000_000.0)):
        store = Store(10, 10, resolution)
        key = SeriesKey.of("m")
        first = math.floor(start / resolution)
        for i in range(6):  # one sample in the middle of each bucket
            store.write_samples((first + i + 0.5) * resolution, (key,), np.array([float(i)]))
        times, values = store.history_window(store.series_id(key))
        assert values.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
        assert times.tolist() == [(first + i) * resolution for i in range(5)]
