"""Collectors on captured /proc and /sys trees: values equal what the files say.

Rates are checked on two snapshots of a copied tree whose counters are advanced
by known amounts.  Every parser is fuzzed: it returns data or raises ParseError.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.collectors import DOMAINS, build_collectors
from agent.collectors.agent_self import SelfCollector
from agent.collectors.base import (
    CounterRates,
    ParseError,
    Samples,
    SourceMissing,
    counter_delta,
    parse_cpulist,
)
from agent.collectors.cpu import CpuCollector, busy_percent, parse_loadavg, parse_proc_stat
from agent.collectors.disk import (
    DiskCollector,
    io_rates,
    parse_diskstats,
    parse_mountinfo,
    select_mounts,
)
from agent.collectors.edac import EdacCollector
from agent.collectors.fd import FdCollector, parse_file_nr
from agent.collectors.memory import MemoryCollector, parse_meminfo, parse_vmstat, used_bytes
from agent.collectors.network import NetworkCollector, parse_net_dev
from agent.collectors.numa import NumaCollector, parse_node_meminfo
from agent.collectors.pressure import PressureCollector, parse_pressure
from agent.collectors.process import PAGE_SIZE, ProcessCollector, parse_pid_stat
from agent.config import parse_config_text
from agent.settings import DEFAULT_EXCLUDED_FS_TYPES, DEFAULT_EXCLUDED_MOUNTPOINTS
from tests.conftest import FIXTURES, NODE_EXPORTER_PROC, PROCFS_PROC

NE_SYS = FIXTURES / "node_exporter" / "sys"
PF_SYS = FIXTURES / "procfs" / "sys"


def as_dict(samples: Samples) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (k.metric, k.labels): v for k, v in zip(samples.keys, samples.values.tolist(), strict=True)
    }


def value(samples: Samples, metric: str, **labels: str) -> float:
    return as_dict(samples)[(metric, tuple(sorted(labels.items())))]


def copy_tree(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, symlinks=True)
    return dst


def edit(path: Path, change: Callable[[str], str]) -> None:
    path.write_text(change(path.read_text()))


def bump(text: str, line_prefix: str, column: int, amount: int) -> str:
    """Add `amount` to value `column` (0 = the first after the name) of the line named line_prefix."""
    out = []
    for line in text.splitlines():
        fields = line.split()
        if fields[:1] == [line_prefix]:
            fields[column + 1] = str(int(fields[column + 1]) + amount)
            out.append(" ".join(fields))
        else:
            out.append(line)
    return "\n".join(out) + "\n"


def collect_twice(
    collector: object, between: Callable[[], None], pause: float = 0.2
) -> tuple[Samples, float]:
    collect = collector.collect  # type: ignore[attr-defined]
    collect()
    between()
    started = time.monotonic()
    time.sleep(pause)
    result = collect()
    return result, time.monotonic() - started


# -- cpu ----------------------------------------------------------------------------------


def test_parse_proc_stat_from_node_exporter_fixture() -> None:
    stat = parse_proc_stat((NODE_EXPORTER_PROC / "stat").read_text())
    assert stat.cpus == ("cpu", *(f"cpu{i}" for i in range(8)))
    assert stat.ticks[0].tolist() == [301854, 612, 111922, 8979004, 3552, 2, 3944, 0, 44, 36]
    assert (stat.ctxt, stat.intr, stat.processes) == (38014093, 8885917, 26442)
    assert (stat.procs_running, stat.procs_blocked) == (2, 0)
    assert parse_loadavg((NODE_EXPORTER_PROC / "loadavg").read_text()) == (0.21, 0.37, 0.39)


def test_busy_percent_by_hand() -> None:
    # +60 user (30 of it guest, already inside user), +20 system, +100 idle, +20 iowait
    delta = np.array([60, 0, 20, 100, 20, 0, 0, 0, 30, 0])
    assert float(busy_percent(delta)) == pytest.approx(40.0)  # 80 / 200, guest not counted twice
    assert float(busy_percent(np.zeros(10, dtype=np.int64))) == 0.0


def test_cpu_static_tree_gives_zero_percentages_and_fixture_gauges() -> None:
    collector = CpuCollector(NODE_EXPORTER_PROC, NE_SYS)
    first = collector.collect()
    assert value(first, "cpu_load1") == 0.21 and value(first, "cpu_load15") == 0.39
    assert value(first, "cpu_online") == 8.0
    assert value(first, "cpu_load1_per_core") == pytest.approx(0.21 / 8)
    assert value(first, "cpu_procs_running") == 2.0
    second = collector.collect()
    assert value(second, "cpu_usage_percent") == 0.0
    assert value(second, "cpu_steal_percent") == 0.0
    assert value(second, "cpu_core_usage_percent", cpu="7") == 0.0
    assert value(second, "cpu_socket_usage_percent", socket="1") == 0.0
    assert not any(np.isnan(second.values))


def test_a_single_socket_host_has_no_per_socket_series(tmp_path: Path) -> None:
    # procfs' tree: cpu0 and cpu1 on package 0 (the others have no topology).  One socket's
    # share is the whole CPU's; a second series of it made a second alert for every
    # saturated CPU on a one-socket VM.
    proc = copy_tree(PROCFS_PROC, tmp_path / "proc")

    def busy() -> None:
        edit(proc / "stat", lambda t: bump(bump(t, "cpu", 0, 900), "cpu0", 0, 900))

    samples, _ = collect_twice(CpuCollector(proc, PF_SYS), busy)
    assert value(samples, "cpu_usage_percent") == pytest.approx(100.0)
    assert value(samples, "cpu_core_usage_percent", cpu="0") == pytest.approx(100.0)
    assert not [k for k in samples.keys if k.metric == "cpu_socket_usage_percent"]


def test_cpu_rates_and_percentages_over_the_measured_interval(tmp_path: Path) -> None:
    proc = copy_tree(NODE_EXPORTER_PROC, tmp_path / "proc")
    collector = CpuCollector(proc, NE_SYS)

    def advance() -> None:
        def change(text: str) -> str:
            # Total: +100 user, +50 system, +30 iowait, +20 steal, +800 idle = 1000 ticks.
            for column, amount in ((0, 100), (2, 50), (3, 800), (4, 30), (7, 20)):
                text = bump(text, "cpu", column, amount)
            # cpu2 (socket 1): +90 user, +10 idle; cpu0 (socket 0): +100 idle.
            text = bump(bump(text, "cpu2", 0, 90), "cpu2", 3, 10)
            text = bump(text, "cpu0", 3, 100)
            return bump(bump(text, "ctxt", 0, 5000), "intr", 0, 1000)

        edit(proc / "stat", change)

    samples, elapsed = collect_twice(collector, advance)
    assert value(samples, "cpu_usage_percent") == pytest.approx(17.0)  # (100+50+20)/1000
    assert value(samples, "cpu_user_percent") == pytest.approx(10.0)
    assert value(samples, "cpu_system_percent") == pytest.approx(5.0)
    assert value(samples, "cpu_iowait_percent") == pytest.approx(3.0)
    assert value(samples, "cpu_steal_percent") == pytest.approx(2.0)
    assert value(samples, "cpu_idle_percent") == pytest.approx(80.0)
    assert value(samples, "cpu_core_usage_percent", cpu="2") == pytest.approx(90.0)
    assert value(samples, "cpu_core_usage_percent", cpu="0") == 0.0
    # Socket 1 = cpu2 + cpu3: 90 busy of 100 ticks; socket 0 = cpu0 + cpu1: 0 of 100.
    assert value(samples, "cpu_socket_usage_percent", socket="1") == pytest.approx(90.0)
    assert value(samples, "cpu_socket_usage_percent", socket="0") == 0.0
    rate = value(samples, "cpu_context_switches_per_second")
    assert 5000 / (elapsed + 0.2) < rate < 5000 / 0.15


def test_cpu_counter_reset_gives_no_negative_percentage(tmp_path: Path) -> None:
    proc = copy_tree(NODE_EXPORTER_PROC, tmp_path / "proc")
    collector = CpuCollector(proc, NE_SYS)
    collector.collect()
    edit(proc / "stat", lambda t: bump(bump(t, "cpu1", 0, -40000), "ctxt", 0, -1000))
    samples = collector.collect()
    assert value(samples, "cpu_core_usage_percent", cpu="1") == 0.0
    assert value(samples, "cpu_context_switches_per_second") == 0.0
    assert (samples.values >= 0).all()


# -- memory ---------------------------------------------------------------------------------


def test_memory_on_fixture_without_memavailable() -> None:
    samples = MemoryCollector(NODE_EXPORTER_PROC).collect()
    total_kb, free_kb, buffers_kb, cached_kb = 3742148, 225472, 22040, 930888
    available_kb = free_kb + buffers_kb + cached_kb
    assert value(samples, "memory_total_bytes") == total_kb * 1024
    assert value(samples, "memory_available_bytes") == available_kb * 1024
    assert value(samples, "memory_used_bytes") == (total_kb - available_kb) * 1024
    assert value(samples, "memory_used_percent") == pytest.approx(
        100 * (total_kb - available_kb) / total_kb
    )
    assert value(samples, "memory_swap_total_bytes") == 4194300 * 1024
    assert value(samples, "memory_swap_used_bytes") == (4194300 - 3155360) * 1024
    assert value(samples, "memory_oom_kills_total") == 0.0


def test_memory_vmstat_rates(tmp_path: Path) -> None:
    proc = copy_tree(NODE_EXPORTER_PROC, tmp_path / "proc")
    collector = MemoryCollector(proc)

    def advance() -> None:
        edit(proc / "vmstat", lambda t: bump(bump(t, "pswpout", 0, 400), "pgmajfault", 0, 100))

    samples, elapsed = collect_twice(collector, advance)
    assert 400 / (elapsed + 0.2) < value(samples, "memory_swap_out_pages_per_second") < 400 / 0.15
    assert value(samples, "memory_swap_in_pages_per_second") == 0.0
    assert value(samples, "memory_major_faults_per_second") > 0


def test_memavailable_is_preferred() -> None:
    text = "MemTotal: 1000 kB\nMemFree: 100 kB\nMemAvailable: 600 kB\nCached: 400 kB\n"
    assert used_bytes(parse_meminfo(text)) == (1000 * 1024, 400 * 1024)


@pytest.mark.parametrize(
    "text",
    [
        "MemFree: 10 kB\n",
        "MemTotal: 0 kB\n",
        "MemTotal: ten kB\n",
        "MemTotal 10 kB\n",
        "MemTotal: 1 MB\n",
    ],
)
def test_bad_meminfo_is_a_parse_error(text: str) -> None:
    with pytest.raises(ParseError):
        used_bytes(parse_meminfo(text))


# -- numa -----------------------------------------------------------------------------------


def test_numa_nodes_from_fixture(tmp_path: Path) -> None:
    proc = copy_tree(NODE_EXPORTER_PROC, tmp_path / "proc")
    collector = NumaCollector(proc, NE_SYS)
    first = collector.collect()
    kb = 1024
    assert value(first, "memory_numa_total_bytes", node="1") == 134217728 * kb
    assert value(first, "memory_numa_used_bytes", node="1") == 94582940 * kb  # the kernel's MemUsed
    assert value(first, "memory_numa_used_percent", node="1") == pytest.approx(
        100 * 94582940 / 134217728
    )
    assert value(first, "memory_numa_free_bytes", node="2") == 39634788 * kb
    edit(proc / "stat", lambda t: bump(bump(t, "cpu2", 0, 30), "cpu3", 3, 70))
    second = collector.collect()
    assert value(second, "cpu_numa_usage_percent", node="1") == pytest.approx(30.0)  # cpus 2-3
    assert value(second, "cpu_numa_usage_percent", node="0") == 0.0
    assert ("cpu_numa_usage_percent", (("node", "2"),)) not in as_dict(second)  # memory-only node


def test_numa_absent_without_sysfs_nodes(tmp_path: Path) -> None:
    with pytest.raises(SourceMissing):
        NumaCollector(NODE_EXPORTER_PROC, tmp_path).collect()


# -- edac -----------------------------------------------------------------------------------


def test_edac_counts_and_dimm_labels_from_fixture() -> None:
    samples = EdacCollector(NE_SYS).collect()
    assert value(samples, "ecc_correctable_errors", mc="0") == 1
    assert value(samples, "ecc_uncorrectable_errors", mc="0") == 5
    assert value(samples, "ecc_correctable_noinfo_errors", mc="0") == 2
    assert value(samples, "ecc_uncorrectable_noinfo_errors", mc="0") == 6
    assert value(samples, "ecc_dimm_uncorrectable_errors", mc="0", dimm="mc0csrow0channel1") == 2
    assert value(samples, "ecc_dimm_correctable_errors", mc="0", dimm="mc0csrow2channel0") == 0
    # csrow2 has no chN_ue_count files: no made-up zeros.
    assert (
        "ecc_dimm_uncorrectable_errors",
        (("dimm", "mc0csrow2channel0"), ("mc", "0")),
    ) not in as_dict(samples)


def test_edac_modern_dimm_layout_and_empty_label(tmp_path: Path) -> None:
    mc = tmp_path / "devices/system/edac/mc/mc1"
    (mc / "dimm0").mkdir(parents=True)
    (mc / "dimm1").mkdir()
    for name, text in {"ce_count": "7", "ue_count": "0", "dimm0/dimm_label": "CPU_SrcID#0_MC#0_Chan#0_DIMM#0\n",
                       "dimm0/dimm_ce_count": "5", "dimm0/dimm_ue_count": "0", "dimm1/dimm_label": "\n",
                       "dimm1/dimm_ce_count": "2", "dimm1/dimm_ue_count": "0"}.items():  # fmt: skip
        (mc / name).write_text(text)
    samples = EdacCollector(tmp_path).collect()
    assert value(samples, "ecc_correctable_errors", mc="1") == 7
    assert (
        value(samples, "ecc_dimm_correctable_errors", mc="1", dimm="CPU_SrcID#0_MC#0_Chan#0_DIMM#0")
        == 5
    )
    assert value(samples, "ecc_dimm_correctable_errors", mc="1", dimm="dimm1") == 2


def test_edac_absent(tmp_path: Path) -> None:
    with pytest.raises(SourceMissing):
        EdacCollector(tmp_path).collect()


# -- disk -----------------------------------------------------------------------------------


MOUNTINFO = r"""22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard
28 27 254:0 /srv/data /mnt/bind rw,relatime - ext4 /dev/vda rw
29 27 8:17 / /mnt/with\040space ro,relatime shared:5 - xfs /dev/sdb1 ro
30 27 0:40 / /run rw - tmpfs tmpfs rw
31 27 0:41 / /var/lib/docker/overlay2/abc/merged rw - overlay overlay rw
"""


def test_mountinfo_selection_skips_pseudo_and_bind_mounts() -> None:
    mounts = parse_mountinfo(MOUNTINFO)
    assert mounts[3].mountpoint == "/mnt/with space" and mounts[3].readonly
    chosen = select_mounts(
        mounts, DEFAULT_EXCLUDED_FS_TYPES, re.compile(DEFAULT_EXCLUDED_MOUNTPOINTS)
    )
    assert [(m.mountpoint, m.source) for m in chosen] == [
        ("/", "/dev/vda"),
        ("/mnt/with space", "/dev/sdb1"),
    ]


def test_a_users_own_fuse_mount_is_not_statvfsd() -> None:
    """Any user may mount FUSE (fusermount) and leave statvfs unanswered: each such mount,
    at a new path each time, held one of the agent's threads for good (TasksMax=64).  A
    FUSE mount root made (a cluster file system) is the host's and is watched."""
    mountinfo = (
        "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n"
        "40 27 0:50 / /home/eve/m1 rw,nosuid,nodev - fuse.sshfs eve@x: rw,user_id=1000,group_id=1000\n"
        "41 27 0:51 / /tmp/m2 rw,nosuid,nodev - fuse eve rw,user_id=1000,group_id=1000\n"
        "42 27 0:52 / /srv/gluster rw - fuse.glusterfs gl:/vol rw,user_id=0,group_id=0,allow_other\n"
    )
    chosen = select_mounts(parse_mountinfo(mountinfo), DEFAULT_EXCLUDED_FS_TYPES,
                           re.compile(DEFAULT_EXCLUDED_MOUNTPOINTS))  # fmt: skip
    assert [m.mountpoint for m in chosen] == ["/", "/srv/gluster"]


def test_disk_usage_is_statvfs_of_each_mount(tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    (proc / "1").mkdir(parents=True)
    (proc / "1/mountinfo").write_text("27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n")
    shutil.copy(NODE_EXPORTER_PROC / "diskstats", proc / "diskstats")
    root = tmp_path / "root"
    root.mkdir()
    samples = DiskCollector(proc, root).collect()
    st = os.statvfs(root)
    labels = {"mountpoint": "/", "device": "/dev/vda"}
    assert value(samples, "disk_total_bytes", **labels) == st.f_blocks * st.f_frsize
    used, avail = (st.f_blocks - st.f_bfree) * st.f_frsize, st.f_bavail * st.f_frsize
    assert value(samples, "disk_used_percent", **labels) == pytest.approx(
        100 * used / (used + avail), abs=0.01
    )
    assert value(samples, "disk_readonly", **labels) == 0.0
    if st.f_files:
        assert 0 <= value(samples, "disk_inodes_used_percent", **labels) <= 100


def test_diskstats_fixture_and_io_rates(tmp_path: Path) -> None:
    disks = {d.name: d for d in parse_diskstats((NODE_EXPORTER_PROC / "diskstats").read_text())}
    assert disks["sda"].counters[:4].tolist() == [25354637, 34367663, 1003346126, 18492372]
    assert {len(d.counters) for d in disks.values()} == {11, 15, 17}  # three kernel generations
    proc = tmp_path / "proc"
    (proc / "1").mkdir(parents=True)
    (proc / "1/mountinfo").write_text("")
    shutil.copy(NODE_EXPORTER_PROC / "diskstats", proc / "diskstats")
    collector = DiskCollector(proc, tmp_path)

    def advance() -> None:
        # sda: +100 reads of 2048 sectors taking 500 ms, +50 writes taking 1000 ms.
        lines = []
        for line in (proc / "diskstats").read_text().splitlines():
            fields = line.split()
            if fields[2] == "sda":
                for column, amount in ((3, 100), (5, 2048), (6, 500), (7, 50), (10, 1000)):
                    fields[column] = str(int(fields[column]) + amount)
            lines.append(" ".join(fields))
        (proc / "diskstats").write_text("\n".join(lines) + "\n")

    samples, elapsed = collect_twice(collector, advance)
    assert value(samples, "disk_read_await_seconds", device="sda") == pytest.approx(0.005)
    assert value(samples, "disk_write_await_seconds", device="sda") == pytest.approx(0.020)
    read_rate = value(samples, "disk_read_bytes_per_second", device="sda")
    assert 2048 * 512 / (elapsed + 0.2) < read_rate < 2048 * 512 / 0.15
    assert value(samples, "disk_read_bytes_per_second", device="sdb") == 0.0
    assert value(samples, "disk_io_in_progress", device="sda") == 0.0
    assert not any(k.labels == (("device", "ram0"),) for k in samples.keys)  # excluded by default


def test_io_rates_by_hand_and_32bit_wrap() -> None:
    delta = np.array([10, 0, 80, 40, 5, 0, 16, 50, 0, 500, 900, 0, 0, 0], dtype=np.float64)
    rates = io_rates(delta, 2.0)
    assert rates["disk_read_bytes_per_second"] == 80 * 512 / 2
    assert rates["disk_reads_per_second"] == 5.0
    assert rates["disk_read_await_seconds"] == 0.004
    assert rates["disk_write_await_seconds"] == 0.010
    assert rates["disk_utilization_percent"] == 25.0  # 500 ms busy of 2000
    assert rates["disk_queue_depth"] == 0.45
    before = np.array([2**32 - 10, 100.0])
    assert counter_delta(before, np.array([5.0, 50.0]), wrap=2**32).tolist() == [15.0, 0.0]


# -- network --------------------------------------------------------------------------------


def test_network_from_procfs_fixture(tmp_path: Path) -> None:
    proc = copy_tree(PROCFS_PROC, tmp_path / "proc")
    collector = NetworkCollector(proc, PF_SYS)
    first = collector.collect()
    # lo left out; veth and docker0 are members of the families summed as "veth*", "docker*".
    assert {k.labels for k in first.keys} == {
        (("interface", "eth0"),),
        (("interface", "veth*"),),
        (("interface", "docker*"),),
    }
    assert value(first, "network_aggregate_interfaces", interface="veth*") == 1
    assert value(first, "network_up", interface="eth0") == 1.0
    assert value(first, "network_speed_bytes_per_second", interface="eth0") == 1000 * 125_000
    assert value(first, "network_mtu_bytes", interface="eth0") == 1500

    def advance() -> None:
        text = (proc / "net/dev").read_text()
        text = re.sub(r"(eth0:\s+)(\d+)(\s+)(\d+)(\s+)(\d+)",
                      lambda m: f"{m[1]}{int(m[2]) + 10000}{m[3]}{int(m[4]) + 100}{m[5]}{int(m[6]) + 2}", text)  # fmt: skip
        (proc / "net/dev").write_text(text)

    samples, elapsed = collect_twice(collector, advance)
    assert (
        10000 / (elapsed + 0.2)
        < value(samples, "network_receive_bytes_per_second", interface="eth0")
        < 10000 / 0.15
    )
    # 2 errors over 100 received + 0 sent packets in the interval: not a running total.
    assert value(samples, "network_error_ratio", interface="eth0") == pytest.approx(0.02)
    assert value(samples, "network_transmit_bytes_per_second", interface="eth0") == 0.0


def test_net_dev_parse_fixture() -> None:
    interfaces = parse_net_dev((PROCFS_PROC / "net/dev").read_text())
    assert interfaces["eth0"][0] == 874354587 and interfaces["eth0"][8] == 563352563
    assert sorted(interfaces) == ["docker0", "eth0", "lo", "vethf345468"]


# -- process ----------------------------------------------------------------------------------


def test_parse_pid_stat_handles_parentheses_and_spaces_in_comm() -> None:
    stat = parse_pid_stat((PROCFS_PROC / "584/stat").read_bytes())
    assert stat.comm == "(a b ) ( c d) " and stat.state == b"R"
    vim = parse_pid_stat((PROCFS_PROC / "26231/stat").read_bytes())
    assert (vim.comm, vim.cpu_ticks, vim.threads, vim.start_ticks, vim.rss_pages) == (
        "vim",
        1677 + 44,
        1,
        82375,
        1981,
    )


def test_process_collector_on_procfs_fixture(tmp_path: Path) -> None:
    proc = copy_tree(PROCFS_PROC, tmp_path / "proc")
    collector = ProcessCollector(proc, top_n=2, track_patterns=("^vim$",))
    first = collector.collect()
    # 26231 vim (R), 26232 (S), 584 (R), 27079 (S, 5 threads); 26233 and 26235 have no stat.
    assert value(first, "processes") == 4
    assert value(first, "process_running") == 2
    assert value(first, "process_threads") == 1 + 1 + 1 + 5
    user = value  # noqa: F841 - the owner comes from the directory's uid
    vim_labels = {"pid": "26231", "comm": "vim", "user": _user_of(proc / "26231")}
    assert value(first, "process_rss_bytes", **vim_labels) == 1981 * PAGE_SIZE
    assert value(first, "process_open_fds", **vim_labels) == len(os.listdir(proc / "26231/fd"))
    assert value(first, "process_max_fds", **vim_labels) == 2048  # the soft limit
    edit(proc / "26231/stat", lambda t: t.replace(" 1677 44 ", f" {1677 + 50} 44 "))
    samples, elapsed = collect_twice(
        collector,
        lambda: edit(
            proc / "26231/stat", lambda t: t.replace(f" {1677 + 50} 44 ", f" {1677 + 100} 44 ")
        ),
    )
    expected = 50 / os.sysconf("SC_CLK_TCK") / elapsed * 100
    assert value(samples, "process_cpu_percent", **vim_labels) == pytest.approx(expected, rel=0.3)


def _user_of(path: Path) -> str:
    import pwd

    uid = path.stat().st_uid
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def test_unparsable_stat_is_counted_and_skipped(tmp_path: Path) -> None:
    proc = copy_tree(PROCFS_PROC, tmp_path / "proc")
    (proc / "27079/stat").write_text("garbage without parentheses")
    samples = ProcessCollector(proc).collect()
    assert value(samples, "processes") == 3
    assert value(samples, "process_unparsable_total") == 1


# -- fd, pressure -----------------------------------------------------------------------------


def test_fd_from_fixture() -> None:
    samples = FdCollector(NODE_EXPORTER_PROC).collect()
    assert value(samples, "fd_allocated") == 1024 and value(samples, "fd_max") == 1631329
    assert value(samples, "fd_used_percent") == pytest.approx(100 * 1024 / 1631329)
    assert parse_file_nr("84941024\t0\t1631329\n") == (84941024, 0, 1631329)


def test_pressure_from_fixture_and_stall_rate(tmp_path: Path) -> None:
    proc = copy_tree(NODE_EXPORTER_PROC, tmp_path / "proc")
    assert parse_pressure((proc / "pressure/io").read_text()) == {
        "some": (0.18, 159886802),
        "full": (0.18, 159229614),
    }
    collector = PressureCollector(proc)

    def advance() -> None:
        edit(
            proc / "pressure/io",
            lambda t: t.replace("total=159886802", f"total={159886802 + 100_000}"),
        )

    samples, elapsed = collect_twice(collector, advance)
    assert value(samples, "pressure_io_some_avg10_percent") == 0.18
    stall = value(samples, "pressure_io_some_stall_seconds_per_second")
    assert 0.1 / (elapsed + 0.2) < stall < 0.1 / 0.15
    assert value(samples, "pressure_io_full_stall_seconds_per_second") == 0.0
    assert value(samples, "pressure_irq_full_avg10_percent") == 0.0  # irq has only a full line


def test_pressure_absent(tmp_path: Path) -> None:
    with pytest.raises(SourceMissing) as absent:
        PressureCollector(tmp_path).collect()
    assert f"({tmp_path / 'pressure'} is missing)" in str(absent.value)  # agent.procfs's, named


# -- self, registry -----------------------------------------------------------------------------


class _Stats:
    def collector_stats(self) -> dict[str, tuple[float, int, int]]:
        return {"disk": (0.002, 3, 1)}

    def take_loop_lag(self) -> float:
        return 0.01

    def store_size(self) -> tuple[int, int]:
        return 42, 4096

    def task_count(self) -> int:
        return 17

    def series_dropped(self) -> dict[str, int]:
        return {"network": 7}

    def channel_stats(self) -> dict[str, tuple[int, int, int, int, int]]:
        return {"discord": (5, 1, 2, 3, 4)}

    def log_lines_unread(self) -> dict[str, int]:
        return {"overran": 2, "budget": 0}


def test_self_collector_reports_its_own_process() -> None:
    collector = SelfCollector(_Stats())
    collector.collect()
    samples = collector.collect()
    assert 1_000_000 < value(samples, "agent_rss_bytes") < 2_000_000_000
    assert value(samples, "agent_open_fds") >= 3
    assert value(samples, "agent_collector_errors_total", collector="disk") == 3
    assert (
        value(samples, "agent_series") == 42
        and value(samples, "agent_event_loop_lag_seconds") == 0.01
    )
    assert value(samples, "agent_tasks") == 17
    assert value(samples, "agent_alerts_expired_total", channel="discord") == 2
    assert value(samples, "agent_alerts_pending", channel="discord") == 4
    assert value(samples, "agent_log_lines_unread_total", reason="overran") == 2
    assert "agent_cpu_percent" in {k.metric for k in samples.keys}


def test_every_emitted_metric_is_declared_and_valid(tmp_path: Path) -> None:
    declared = {m.name: m for d in DOMAINS for m in d.metrics}
    assert len(declared) == sum(len(d.metrics) for d in DOMAINS), "a metric is declared twice"
    assert len(declared) > 80
    for name in declared:
        assert re.fullmatch(r"[a-z][a-z0-9_]*", name), name
    proc = copy_tree(NODE_EXPORTER_PROC, tmp_path / "proc")
    (proc / "1").mkdir(exist_ok=True)
    (proc / "1/mountinfo").write_text("27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n")
    (proc / "net").mkdir(exist_ok=True)
    shutil.copy(PROCFS_PROC / "net/dev", proc / "net/dev")
    cfg = parse_config_text(f'[agent]\nprocfs = "{proc}"\nsysfs = "{NE_SYS}"\n', "t.toml").settings
    for collector, _ in build_collectors(cfg, _Stats()):
        with contextlib.suppress(SourceMissing):
            for samples in (collector.collect(), collector.collect()):
                for key in samples.keys:
                    spec = declared[key.metric]
                    assert tuple(sorted(spec.labels)) == tuple(k for k, _ in key.labels), key


def test_cpulist() -> None:
    assert parse_cpulist("0-2,4,6-7\n") == [0, 1, 2, 4, 6, 7]
    assert parse_cpulist("") == []
    with pytest.raises(ParseError):
        parse_cpulist("3-1")


def test_counter_rates_reset_and_retain() -> None:
    rates = CounterRates()
    assert rates.update("a", 0.0, [10, 10]) is None
    assert rates.update("a", 2.0, [20, 4]).tolist() == [5.0, 0.0]  # type: ignore[union-attr]
    rates.retain(set())
    assert rates.update("a", 3.0, [30, 30]) is None


# -- fuzzing: every parser returns data or raises ParseError -------------------------------------

PARSERS: list[tuple[Callable[[str], object], Path]] = [
    (parse_proc_stat, NODE_EXPORTER_PROC / "stat"),
    (parse_loadavg, NODE_EXPORTER_PROC / "loadavg"),
    (lambda t: used_bytes(parse_meminfo(t)), NODE_EXPORTER_PROC / "meminfo"),
    (parse_vmstat, NODE_EXPORTER_PROC / "vmstat"),
    (parse_node_meminfo, NE_SYS / "devices/system/node/node1/meminfo"),
    (parse_diskstats, NODE_EXPORTER_PROC / "diskstats"),
    (parse_mountinfo, None),
    (parse_net_dev, PROCFS_PROC / "net/dev"),
    (parse_file_nr, NODE_EXPORTER_PROC / "sys/fs/file-nr"),
    (parse_pressure, NODE_EXPORTER_PROC / "pressure/io"),
    (lambda t: parse_pid_stat(t.encode("utf-8", "surrogatepass")), PROCFS_PROC / "26231/stat"),
    (parse_cpulist, NE_SYS / "devices/system/node/node0/cpulist"),
]  # type: ignore[list-item]


def _real(path: Path | None) -> str:
    return MOUNTINFO if path is None else path.read_text()


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_parsers_on_mutated_real_files(data: st.DataObject) -> None:
    for parse, path in PARSERS:
        text = _real(path)
        start = data.draw(st.integers(0, len(text)))
        end = data.draw(st.integers(start, min(len(text), start + 40)))
        noise = data.draw(
            st.text(alphabet=st.sampled_from(" \n:-=()0123456789abcxyz\t"), max_size=20)
        )
        with contextlib.suppress(ParseError):
            parse(text[:start] + noise + text[end:])


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_parsers_on_random_text(text: str) -> None:
    for parse, _ in PARSERS:
        with contextlib.suppress(ParseError):
            parse(text)
