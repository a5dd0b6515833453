"""What keeps big hosts cheap: container interfaces summed per family, link state
read only on change, EDAC from one sysfs view every 60 s (issue #19).

The trees are real files in the kernel's formats; the only stand-in is the
network collector's sysfs reader, wrapped to count which files it opened (the
counts are what "cheap" means; the files are still read).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterable
from pathlib import Path

import pytest

from agent.collectors import build_collectors
from agent.collectors.base import Samples
from agent.collectors.edac import EdacCollector
from agent.collectors.network import _REFRESH_TICKS, NetworkCollector, read_attribute
from agent.config import ConfigError, parse_config_text
from tests.conftest import FIXTURES, PROCFS_PROC

PF_SYS = FIXTURES / "procfs" / "sys"
HEADER = (
    "Inter-|   Receive                                                |  Transmit\n"
    " face |bytes    packets errs drop fifo frame compressed multicast"
    "|bytes    packets errs drop fifo colls carrier compressed\n"
)


def as_dict(samples: Samples) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (k.metric, k.labels): v for k, v in zip(samples.keys, samples.values.tolist(), strict=True)
    }


def value(samples: Samples, metric: str, **labels: str) -> float:
    return as_dict(samples)[(metric, tuple(sorted(labels.items())))]


def interfaces_of(samples: Samples) -> set[str]:
    return {dict(k.labels)["interface"] for k in samples.keys}


def second_tick(collector: NetworkCollector) -> Samples:
    """The first tick has no rates, and without sysfs an interface has nothing else."""
    collector.collect()
    return collector.collect()


def write_net_dev(proc: Path, counters: dict[str, tuple[int, int, int, int, int, int]]) -> None:
    """name -> (rx bytes, rx packets, rx errs, tx bytes, tx packets, tx errs)."""
    lines = [
        f"{name:>8}: {rb} {rp} {re_} 0 0 0 0 0 {tb} {tp} {te} 0 0 0 0 0\n"
        for name, (rb, rp, re_, tb, tp, te) in counters.items()
    ]
    (proc / "net").mkdir(parents=True, exist_ok=True)
    (proc / "net/dev").write_text(HEADER + "".join(lines))


def write_link(sys: Path, name: str, **attributes: object) -> None:
    base = sys / "class/net" / name
    base.mkdir(parents=True, exist_ok=True)
    for attribute, text in attributes.items():
        (base / attribute).write_text(f"{text}\n")


class CountingReader:
    """The collector's own reader, counting the attributes it was asked for."""

    def __init__(self) -> None:
        self.reads: list[str] = []

    def __call__(self, path: str) -> str | None:
        interface, attribute = path.split("/")[-2:]
        self.reads.append(f"{interface}/{attribute}")
        return read_attribute(path)

    def take(self) -> list[str]:
        taken, self.reads = self.reads, []
        return taken


# -- container interface families ---------------------------------------------------------


def test_families_are_summed_with_error_ratio_over_the_summed_counters(tmp_path: Path) -> None:
    proc, sys = tmp_path / "proc", tmp_path / "sys"
    write_link(sys, "eth0", operstate="up", carrier=1, carrier_changes=1, speed=10000, mtu=9000)
    before = {
        "lo": (5, 5, 0, 5, 5, 0),
        "eth0": (100, 1, 0, 100, 1, 0),
        "lxc1a2b": (1000, 10, 0, 0, 0, 0),
        "lxc_health": (2000, 20, 0, 0, 0, 0),
        "cali0f3": (0, 0, 0, 0, 0, 0),
    }
    write_net_dev(proc, before)
    collector = NetworkCollector(proc, sys)
    first = collector.collect()
    assert interfaces_of(first) == {"eth0", "lxc*", "cali*"}  # lo left out entirely
    assert value(first, "network_aggregate_interfaces", interface="lxc*") == 2
    # Aggregates have no link state, even where a member has sysfs attributes.
    assert not {k.metric for k in first.keys if dict(k.labels)["interface"] == "lxc*"} & {
        "network_up",
        "network_speed_bytes_per_second",
        "network_mtu_bytes",
    }
    after = dict(before)
    after["lxc1a2b"] = (1000 + 1000, 10 + 10, 1, 0, 0, 0)  # 1,000 bytes, 10 packets, 1 error
    after["lxc_health"] = (2000 + 3000, 20 + 30, 3, 0, 0, 0)  # 3,000 bytes, 30 packets, 3 errors
    write_net_dev(proc, after)
    second = collector.collect()
    rx_bytes = value(second, "network_receive_bytes_per_second", interface="lxc*")
    rx_packets = value(second, "network_receive_packets_per_second", interface="lxc*")
    # Both rates are over the same interval: their ratio is the summed deltas' ratio.
    assert rx_bytes / rx_packets == pytest.approx(4000 / 40)
    assert value(second, "network_error_ratio", interface="lxc*") == pytest.approx(4 / 40)
    assert value(second, "network_error_ratio", interface="cali*") == 0.0
    assert value(second, "network_mtu_bytes", interface="eth0") == 9000
    assert value(second, "network_speed_bytes_per_second", interface="eth0") == 10000 * 125_000


def test_aggregate_stays_monotonic_when_a_member_goes_and_a_new_one_comes(tmp_path: Path) -> None:
    proc, sys = tmp_path / "proc", tmp_path / "sys"
    write_net_dev(proc, {"veth1": (500, 5, 0, 0, 0, 0), "veth2": (10**12, 10**9, 0, 0, 0, 0)})
    collector = NetworkCollector(proc, sys)
    collector.collect()
    # veth2 (huge counters) is gone; veth3 appears with counters of its own. A
    # summed counter would drop by 10^12 (a rate of 0, or a negative one); the
    # per-member deltas give veth1's traffic alone for this interval.
    write_net_dev(proc, {"veth1": (500 + 700, 5 + 7, 0, 0, 0, 0), "veth3": (9999, 99, 0, 0, 0, 0)})
    samples = collector.collect()
    rx_bytes = value(samples, "network_receive_bytes_per_second", interface="veth*")
    rx_packets = value(samples, "network_receive_packets_per_second", interface="veth*")
    assert rx_bytes > 0 and rx_bytes / rx_packets == pytest.approx(100.0)
    assert value(samples, "network_aggregate_interfaces", interface="veth*") == 2
    # Next interval: veth3 now has a previous reading and is summed too.
    write_net_dev(proc, {"veth1": (1200 + 100, 12 + 1, 0, 0, 0, 0), "veth3": (9999 + 900, 99 + 1, 0, 0, 0, 0)})  # fmt: skip
    samples = collector.collect()
    assert value(samples, "network_receive_bytes_per_second", interface="veth*") / value(
        samples, "network_receive_packets_per_second", interface="veth*"
    ) == pytest.approx(1000 / 2)


def test_families_off_leave_members_out_and_exclusion_wins(tmp_path: Path) -> None:
    proc, sys = tmp_path / "proc", tmp_path / "sys"
    write_net_dev(proc, {"eth0": (1, 1, 0, 1, 1, 0), "veth9": (1, 1, 0, 1, 1, 0), "vnet0": (1, 1, 0, 1, 1, 0)})  # fmt: skip
    assert interfaces_of(second_tick(NetworkCollector(proc, sys, aggregate=False))) == {"eth0"}
    # An explicitly excluded name is dropped even when a family would take it.
    collector = NetworkCollector(proc, sys, excluded=r"^(lo|vnet\d+)$")
    assert interfaces_of(second_tick(collector)) == {"eth0", "veth*"}
    # Without families every interface is its own.
    assert interfaces_of(second_tick(NetworkCollector(proc, sys, families={}))) == {
        "eth0",
        "veth9",
        "vnet0",
    }


def test_family_table_from_the_configuration_replaces_the_defaults(tmp_path: Path) -> None:
    proc, sys = tmp_path / "proc", tmp_path / "sys"
    write_net_dev(proc, {"eth0": (1, 1, 0, 1, 1, 0), "veth1": (1, 1, 0, 1, 1, 0), "pod7": (1, 1, 0, 1, 1, 0)})  # fmt: skip
    text = (
        f'[agent]\nprocfs = "{proc}"\nsysfs = "{sys}"\n'
        '[collector]\ndisabled = ["cpu", "memory", "numa", "edac", "disk", "process", "fd", '
        '"pressure", "gpu"]\nnetwork_interface_families = { pod = "^pod\\\\d+$" }\n'
    )
    (collector, interval), *_ = build_collectors(parse_config_text(text).settings)
    assert interval == 10.0
    assert isinstance(collector, NetworkCollector)
    assert interfaces_of(second_tick(collector)) == {"eth0", "veth1", "pod*"}
    with pytest.raises(ConfigError, match="pod"):
        parse_config_text('[collector]\nnetwork_interface_families = { pod = "^(pod" }\n')


# -- link state: read on change only --------------------------------------------------------


def test_link_attributes_are_read_once_and_again_on_a_carrier_change(tmp_path: Path) -> None:
    proc, sys = tmp_path / "proc", tmp_path / "sys"
    write_net_dev(proc, {"eth0": (1, 1, 0, 1, 1, 0), "eth1": (1, 1, 0, 1, 1, 0)})
    for name in ("eth0", "eth1"):
        write_link(sys, name, operstate="up", carrier=1, carrier_changes=2, speed=1000, mtu=1500)
    reader = CountingReader()
    collector = NetworkCollector(proc, sys, read=reader)
    first = collector.collect()
    assert sorted(reader.take()) == sorted(
        f"{n}/{a}" for n in ("eth0", "eth1") for a in ("operstate", "carrier_changes", "carrier", "speed", "mtu")
    )  # fmt: skip
    assert value(first, "network_speed_bytes_per_second", interface="eth0") == 1000 * 125_000

    # Nothing changed: two small reads per interface, the cached values reported.
    samples = collector.collect()
    assert sorted(reader.take()) == sorted(
        f"{n}/{a}" for n in ("eth0", "eth1") for a in ("operstate", "carrier_changes")
    )
    assert value(samples, "network_speed_bytes_per_second", interface="eth1") == 1000 * 125_000
    assert value(samples, "network_up", interface="eth1") == 1.0

    # eth1 renegotiates at 10 Gb/s: down, up (carrier_changes + 2), new speed.
    write_link(sys, "eth1", carrier_changes=4, speed=10000)
    samples = collector.collect()
    reads = reader.take()
    assert "eth1/speed" in reads and "eth0/speed" not in reads
    assert value(samples, "network_speed_bytes_per_second", interface="eth1") == 10000 * 125_000

    # The link goes down: operstate changes (the carrier too), and it is seen at once.
    write_link(sys, "eth0", operstate="down", carrier=0, carrier_changes=3)
    write_link(sys, "eth0", speed="")  # the driver stops saying (EINVAL on real hardware)
    samples = collector.collect()
    assert value(samples, "network_up", interface="eth0") == 0.0
    assert ("network_speed_bytes_per_second", (("interface", "eth0"),)) not in as_dict(samples)


def test_operstate_change_alone_rereads_and_a_slow_refresh_catches_mtu(tmp_path: Path) -> None:
    proc, sys = tmp_path / "proc", tmp_path / "sys"
    write_net_dev(proc, {"wg0": (1, 1, 0, 1, 1, 0)})
    # A link without carrier_changes change when it goes "unknown" (a tunnel-like driver).
    write_link(sys, "wg0", operstate="up", carrier=1, carrier_changes=0, mtu=1420)
    reader = CountingReader()
    collector = NetworkCollector(proc, sys, read=reader)
    collector.collect()
    write_link(sys, "wg0", operstate="unknown", carrier=0)
    samples = collector.collect()
    assert "wg0/carrier" in reader.take()
    assert value(samples, "network_up", interface="wg0") == 0.0  # unknown without carrier

    # An MTU change has no change signal: it is seen within two refresh periods
    # (the first refresh of an interface is put off by up to one period).
    write_link(sys, "wg0", mtu=1280)
    seen_after = None
    for tick in range(1, 2 * _REFRESH_TICKS + 1):
        if value(collector.collect(), "network_mtu_bytes", interface="wg0") == 1280:
            seen_after = tick
            break
    assert seen_after is not None
    assert sum(read.endswith("/mtu") for read in reader.take()) == 1


def test_kernel_without_carrier_changes_reads_link_state_every_tick(tmp_path: Path) -> None:
    proc, sys = tmp_path / "proc", tmp_path / "sys"
    write_net_dev(proc, {"eth0": (1, 1, 0, 1, 1, 0)})
    write_link(sys, "eth0", operstate="up", carrier=1, speed=100, mtu=1500)
    reader = CountingReader()
    collector = NetworkCollector(proc, sys, read=reader)
    collector.collect()
    write_link(sys, "eth0", speed=1000)
    samples = collector.collect()
    assert value(samples, "network_speed_bytes_per_second", interface="eth0") == 1000 * 125_000


def test_procfs_fixture_link_state_unchanged_by_the_cache(tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    shutil.copytree(PROCFS_PROC, proc, symlinks=True)
    reader = CountingReader()
    collector = NetworkCollector(proc, PF_SYS, read=reader)
    for _ in range(3):
        samples = collector.collect()
        assert value(samples, "network_up", interface="eth0") == 1.0
        assert value(samples, "network_speed_bytes_per_second", interface="eth0") == 1000 * 125_000
        assert value(samples, "network_mtu_bytes", interface="eth0") == 1500
    assert reader.take().count("eth0/speed") == 1


# -- EDAC: one view ------------------------------------------------------------------------


def write_files(root: Path, files: dict[str, object]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(f"{text}\n")


def both_views(controllers: Iterable[int]) -> dict[str, object]:
    """A CONFIG_EDAC_LEGACY_SYSFS kernel: each DIMM under dimmM/ and again as csrowK/chJ_*."""
    files: dict[str, object] = {}
    for mc in controllers:
        base = f"devices/system/edac/mc/mc{mc}"
        files |= {f"{base}/ce_count": 7, f"{base}/ue_count": 1}
        for dimm, (ce, ue) in enumerate([(3, 1), (4, 0)]):
            files |= {
                f"{base}/dimm{dimm}/dimm_label": f"CPU_SrcID#0_MC#{mc}_Chan#{dimm}_DIMM#0",
                f"{base}/dimm{dimm}/dimm_ce_count": ce,
                f"{base}/dimm{dimm}/dimm_ue_count": ue,
                f"{base}/csrow0/ch{dimm}_dimm_label": f"CPU_SrcID#0_MC#{mc}_Chan#{dimm}_DIMM#0",
                f"{base}/csrow0/ch{dimm}_ce_count": ce,
                f"{base}/csrow0/ch{dimm}_ue_count": ue,
            }
        files |= {f"{base}/csrow0/ce_count": 7, f"{base}/csrow0/ue_count": 1}
    return files


def test_edac_reads_the_dimm_view_only_when_both_are_present(tmp_path: Path) -> None:
    write_files(tmp_path, both_views([0, 1]))
    samples = EdacCollector(tmp_path).collect()
    keys = [(k.metric, k.labels) for k in samples.keys]
    assert len(keys) == len(set(keys))  # no duplicate series
    for mc in ("0", "1"):
        dimm_ce = [
            v
            for (metric, lbl), v in as_dict(samples).items()
            if metric == "ecc_dimm_correctable_errors" and dict(lbl)["mc"] == mc
        ]
        # Not doubled: the DIMMs add up to the controller's count, once.
        assert sorted(dimm_ce) == [3, 4]
        assert sum(dimm_ce) == value(samples, "ecc_correctable_errors", mc=mc)
    assert not any("csrow" in dict(lbl)["dimm"] for _, lbl in keys if "dimm" in dict(lbl))


def test_edac_falls_back_to_the_csrow_view_per_controller(tmp_path: Path) -> None:
    # mc0 has both views, mc1 (an old driver) only csrow: each gives its DIMMs once.
    files = both_views([0, 1])
    files = {k: v for k, v in files.items() if not re.search(r"mc1/dimm\d", k)}
    write_files(tmp_path, files)
    samples = EdacCollector(tmp_path).collect()
    keys = [(k.metric, k.labels) for k in samples.keys]
    assert len(keys) == len(set(keys))
    assert (
        value(samples, "ecc_dimm_correctable_errors", mc="1", dimm="CPU_SrcID#0_MC#1_Chan#1_DIMM#0")
        == 4
    )
    assert sum(
        v for (m, lbl), v in as_dict(samples).items()
        if m == "ecc_dimm_uncorrectable_errors" and dict(lbl)["mc"] == "1"
    ) == 1  # fmt: skip


def test_edac_node_exporter_fixture_is_the_csrow_view_once() -> None:
    samples = EdacCollector(FIXTURES / "node_exporter" / "sys").collect()
    keys = [(k.metric, k.labels) for k in samples.keys]
    assert len(keys) == len(set(keys))
    assert {dict(lbl)["dimm"] for _, lbl in keys if "dimm" in dict(lbl)} == {
        "mc0csrow0channel0",
        "mc0csrow0channel1",
        "mc0csrow1channel0",
        "mc0csrow1channel1",
        "mc0csrow2channel0",
        "mc0csrow2channel1",
    }


def test_edac_is_polled_every_60_seconds_by_default(tmp_path: Path) -> None:
    write_files(tmp_path, both_views([0]))
    settings = parse_config_text(f'[agent]\nsysfs = "{tmp_path}"\n').settings
    intervals = {c.name: interval for c, interval in build_collectors(settings)}
    assert intervals["edac"] == 60.0
    faster = parse_config_text(
        f'[agent]\nsysfs = "{tmp_path}"\n[collector]\nedac_interval_secs = 20\n'
    ).settings
    assert {c.name: i for c, i in build_collectors(faster)}["edac"] == 20.0
