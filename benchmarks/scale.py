"""What the agent costs as the host grows, side by side with node_exporter (issue #19).

    .venv/bin/python benchmarks/scale.py [--sizes small,large,huge] [--duration 120]
                                         [--warmup 20] [--agent-tree PATH] [--keep DIR]

A real big host is not at hand, so each size is a synthetic procfs/sysfs tree
in the kernel's own file formats (/proc/stat with N CPUs, meminfo, loadavg,
vmstat, diskstats, net/dev, /proc/[pid]/{stat,status,statm,io,limits,cmdline,
comm,fd/}, sys/fs/file-nr, pressure/*, 1/mountinfo; /sys/class/net/*/,
/sys/block/*, /sys/devices/system/{cpu,edac}) that both programs read through
their path options: the agent through agent.procfs/sysfs/rootfs, Debian's
prometheus-node-exporter through --path.procfs/--path.sysfs/--path.rootfs (with
--no-collector.netdev.netlink so that it reads /proc/net/dev too).  A
background thread advances the counters every few seconds (CPU ticks, traffic,
disk I/O, and a rotating slice of the processes' CPU time), so rates are not
all zero and caches see changes; it writes each file whole and renames it into
place, as a reader of the kernel's files never sees half a line.

Per size, the agent and node_exporter run at the same time for `duration`
seconds after `warmup`, sampled with benchmarks/overhead.py's /proc sampling
(CPU = utime+stime of the process tree over the run, RSS average and peak).
node_exporter is scraped every 10 s, as Prometheus would; the agent serves its
own self metrics on a loopback Prometheus endpoint, also read every 10 s (a
cost counted against the agent: it is not needed in production), for its
series count (agent_series), worst loop lag (agent_event_loop_lag_seconds) and
the network collector's tick (agent_collector_duration_seconds), compared
with node_exporter's netdev + netclass scrape durations.  The agent's inventory
is off (it shells out to host tools, not to the tree) and so is the log analyzer.

`--agent-tree` runs the agent from another checkout (e.g. `git archive` of an
older commit) with this venv, for before/after figures.  The table ends with
the cost per added process, interface and CPU: the difference between two
sizes divided by the number added (large - small; huge - large).
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import random
import re
import shutil
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from overhead import (  # a sibling script, not a package
    REPO,
    Measurement,
    Target,
    agent_config,
    ensure_node_exporter,
    free_port,
    measure,
    version_of,
)


@dataclass(frozen=True)
class Size:
    name: str
    cpus: int
    processes: int
    host_nics: int  # physical-looking interfaces, with link state
    container_nics: int  # members of container/VM families
    disks: int
    memory_controllers: int
    dimms_per_mc: int = 4


SIZES = {
    "small": Size("small", cpus=4, processes=200, host_nics=4, container_nics=0, disks=4, memory_controllers=1),
    "large": Size("large", cpus=128, processes=5_000, host_nics=4, container_nics=500, disks=64, memory_controllers=8),
    "huge": Size("huge", cpus=256, processes=20_000, host_nics=4, container_nics=2_000, disks=256, memory_controllers=16),
}  # fmt: skip

# Container interface names as the common CNIs and hypervisors make them.
_FAMILIES = ("lxc{:012x}", "cali{:011x}", "veth{:07x}", "vnet{:d}", "qvo{:08x}-{:02x}", "tap{:08x}-{:02x}")  # fmt: skip


def container_names(count: int) -> list[str]:
    names = []
    for i in range(count):
        pattern = _FAMILIES[i % len(_FAMILIES)]
        names.append(pattern.format(i * 2654435761 % 2**44, i % 256) if "-" in pattern else pattern.format(i))  # fmt: skip
    return names


def disk_names(count: int) -> list[str]:
    return [f"nvme{i // 4}n{i % 4 + 1}" if i % 2 else f"sd{_letters(i)}" for i in range(count)]


def _letters(i: int) -> str:
    s = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        s = chr(97 + r) + s
    return s


# -- the tree -------------------------------------------------------------------------------


def write(path: Path, text: str) -> None:
    """Whole file, renamed into place: a reader sees the old or the new file, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def create(path: Path, text: str) -> None:
    """A file of the tree before any reader runs: no rename needed, the parent exists."""
    with open(path, "w") as f:
        f.write(text)


@dataclass
class Tree:
    root: Path
    size: Size
    rng: random.Random = field(default_factory=lambda: random.Random(19))
    tick: int = 0
    nics: list[str] = field(default_factory=list)
    disks: list[str] = field(default_factory=list)

    @property
    def proc(self) -> Path:
        return self.root / "proc"

    @property
    def sys(self) -> Path:
        return self.root / "sys"

    def generate(self) -> None:
        s = self.size
        self.nics = ["lo"] + [f"eth{i}" for i in range(s.host_nics)] + container_names(s.container_nics)  # fmt: skip
        self.disks = disk_names(s.disks)
        write(self.proc / "meminfo", MEMINFO)
        write(self.proc / "vmstat", VMSTAT)
        write(self.proc / "sys/fs/file-nr", f"{s.processes * 8}\t0\t9223372036854775807\n")
        for kind in ("cpu", "memory", "io"):
            write(self.proc / "pressure" / kind,
                  "some avg10=0.12 avg60=0.08 avg300=0.02 total=1234567\n"
                  "full avg10=0.00 avg60=0.00 avg300=0.00 total=2345\n")  # fmt: skip
        write(
            self.proc / "1/mountinfo", "25 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw\n"
        )
        (self.root / "etc").mkdir(exist_ok=True)
        write(self.root / "etc/os-release", 'PRETTY_NAME="Synthetic"\nID=debian\n')
        for cpu in range(s.cpus):
            base = self.sys / f"devices/system/cpu/cpu{cpu}"
            write(base / "topology/physical_package_id", f"{cpu * 2 // s.cpus}\n")
            write(base / "topology/core_id", f"{cpu % max(1, s.cpus // 2)}\n")
            write(base / "online", "1\n")
        write(self.sys / "devices/system/cpu/online", f"0-{s.cpus - 1}\n")
        for name in self.nics:
            up = name != "lo"
            attrs = {"operstate": "up" if up else "unknown", "carrier": "1", "carrier_changes": "2",
                     "mtu": "65536" if name == "lo" else "1500", "duplex": "full", "address": "02:42:ac:11:00:02",
                     "addr_len": "6", "type": "772" if name == "lo" else "1", "tx_queue_len": "1000",
                     "flags": "0x1003", "ifindex": str(self.nics.index(name) + 1), "iflink": "1",
                     "dormant": "0", "name_assign_type": "4", "addr_assign_type": "0", "dev_id": "0x0",
                     "dev_port": "0", "netdev_group": "0", "proto_down": "0", "carrier_up_count": "1",
                     "carrier_down_count": "1", "broadcast": "ff:ff:ff:ff:ff:ff", "link_mode": "0"}  # fmt: skip
            if name.startswith("eth"):
                attrs["speed"] = "25000"
            elif name != "lo":
                attrs["speed"] = "10000"  # veth and taps report 10 Gb/s
            for attribute, text in attrs.items():
                write(self.sys / "class/net" / name / attribute, text + "\n")
        for disk in self.disks:
            base = self.sys / "block" / disk
            write(base / "size", "3907029168\n")
            write(base / "queue/rotational", "0\n")
            write(base / "queue/logical_block_size", "512\n")
        for mc in range(s.memory_controllers):
            base = self.sys / f"devices/system/edac/mc/mc{mc}"
            for attribute in ("ce_count", "ue_count", "ce_noinfo_count", "ue_noinfo_count"):
                write(base / attribute, "0\n")
            write(base / "mc_name", "Skylake Socket#0 IMC#0\n")
            write(base / "size_mb", "65536\n")
            for dimm in range(s.dimms_per_mc):
                label = f"CPU_SrcID#{mc // 2}_MC#{mc % 2}_Chan#{dimm}_DIMM#0"
                write(base / f"dimm{dimm}/dimm_label", label + "\n")
                write(base / f"dimm{dimm}/dimm_ce_count", "0\n")
                write(base / f"dimm{dimm}/dimm_ue_count", "0\n")
                write(base / f"dimm{dimm}/size", "16384\n")
                # CONFIG_EDAC_LEGACY_SYSFS: the same DIMM again as a csrow channel.
                write(base / f"csrow0/ch{dimm}_dimm_label", label + "\n")
                write(base / f"csrow0/ch{dimm}_ce_count", "0\n")
                write(base / f"csrow0/ch{dimm}_ue_count", "0\n")
            write(base / "csrow0/ce_count", "0\n")
            write(base / "csrow0/ue_count", "0\n")
        for pid in self.pids():
            self._process(pid)
        self.advance()

    def pids(self) -> range:
        return range(1, self.size.processes + 1)

    def _process(self, pid: int) -> None:
        base = self.proc / str(pid)
        (base / "fd").mkdir(parents=True)
        comm = "systemd" if pid == 1 else ("java", "postgres", "nginx", "python3", "containerd-shim", "bash")[pid % 6]  # fmt: skip
        rss_pages = 500 + pid % 9000
        create(base / "stat", pid_stat(pid, comm, utime=pid % 1000, rss=rss_pages))
        create(base / "comm", comm + "\n")
        create(base / "cmdline", f"/usr/bin/{comm}\0--serve\0")
        create(base / "statm", f"{rss_pages * 3} {rss_pages} 300 100 0 {rss_pages * 2} 0\n")
        create(base / "status", f"Name:\t{comm}\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t{pid}\nPid:\t{pid}\n"
                               f"PPid:\t1\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nVmRSS:\t{rss_pages * 4} kB\n"
                               f"Threads:\t{1 + pid % 8}\n")  # fmt: skip
        create(base / "io", f"rchar: {pid * 1000}\nwchar: {pid * 500}\nsyscr: {pid}\nsyscw: {pid}\n"
                           f"read_bytes: {pid * 4096}\nwrite_bytes: {pid * 2048}\ncancelled_write_bytes: 0\n")  # fmt: skip
        create(base / "limits", "Limit                     Soft Limit           Hard Limit           Units\n"
                               "Max open files            1024                 524288               files\n")  # fmt: skip
        for n in range(4):
            os.symlink("/dev/null", base / "fd" / str(n))

    def advance(self) -> None:
        """Every counter file the programs rate: CPU ticks, traffic, disk I/O, some processes."""
        self.tick += 1
        t, s = self.tick, self.size
        lines = [_cpu_line("cpu", t * s.cpus)]
        lines += [_cpu_line(f"cpu{c}", t + c) for c in range(s.cpus)]
        lines += [
            "intr 123456789 0 0 0",
            f"ctxt {t * 1_000_000}",
            "btime 1764300000",
            f"processes {s.processes * 3 + t}",
            "procs_running 3",
            "procs_blocked 0",
            "softirq 98765432 0 1 2 3 4 5 6 7 8 9",
        ]
        write(self.proc / "stat", "\n".join(lines) + "\n")
        write(
            self.proc / "loadavg",
            f"1.{t % 100:02d} 0.80 0.70 3/{s.processes} {s.processes + 100}\n",
        )
        rows = [NET_DEV_HEADER]
        for i, name in enumerate(self.nics):
            k = t * (i + 1)
            rows.append(f"{name:>16}: {k * 15000} {k * 10} {k // 1000} 0 0 0 0 0 "
                        f"{k * 9000} {k * 8} 0 0 0 0 0 0\n")  # fmt: skip
        write(self.proc / "net/dev", "".join(rows))
        rows = []
        for i, disk in enumerate(self.disks):
            k = t * (i + 1)
            major, minor = (259, i) if disk.startswith("nvme") else (8, 16 * i)
            rows.append(f"{major:>4} {minor:>7} {disk} {k * 10} 0 {k * 80} {k * 3} {k * 20} 0 {k * 160} "
                        f"{k * 5} 0 {k * 6} {k * 8} 0 0 0 0 {k} {k}\n")  # fmt: skip
        write(self.proc / "diskstats", "".join(rows))
        # A rotating slice of the processes burns CPU: the top-N lists move.
        step = max(1, len(self.pids()) // 10)
        start = (t * step) % len(self.pids())
        for pid in self.pids()[start : start + step]:
            comm = (self.proc / str(pid) / "comm").read_text().strip()
            write(self.proc / str(pid) / "stat",
                  pid_stat(pid, comm, utime=pid % 1000 + t * 50, rss=500 + pid % 9000))  # fmt: skip


def _cpu_line(name: str, k: int) -> str:
    return f"{name} {k * 60} {k} {k * 20} {k * 900} {k // 10} 0 {k // 5} 0 0 0"


def pid_stat(pid: int, comm: str, utime: int, rss: int) -> str:
    return (
        f"{pid} ({comm}) S 1 {pid} {pid} 0 -1 4194560 1203 0 0 0 {utime} {utime // 3} 0 0 20 0 "
        f"{1 + pid % 8} 0 {1000 + pid} {rss * 3 * 4096} {rss} 18446744073709551615 1 1 0 0 0 0 0 "
        "4096 0 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n"
    )


NET_DEV_HEADER = (
    "Inter-|   Receive                                                |  Transmit\n"
    " face |bytes    packets errs drop fifo frame compressed multicast"
    "|bytes    packets errs drop fifo colls carrier compressed\n"
)
MEMINFO = "".join(
    f"{key}:{value:>16} kB\n" if key[:4] != "Huge" or key == "Hugepagesize" else f"{key}:{value:>8}\n"
    for key, value in {
        "MemTotal": 1056455680, "MemFree": 402653184, "MemAvailable": 805306368, "Buffers": 1048576,
        "Cached": 268435456, "SwapCached": 0, "Active": 335544320, "Inactive": 167772160,
        "SwapTotal": 8388604, "SwapFree": 8388604, "Dirty": 2048, "Writeback": 0,
        "AnonPages": 300000000, "Mapped": 1048576, "Shmem": 65536, "Slab": 4194304,
        "SReclaimable": 2097152, "SUnreclaim": 2097152, "KernelStack": 65536,
        "PageTables": 1048576, "CommitLimit": 536616444, "Committed_AS": 402653184,
        "VmallocTotal": 34359738367, "HugePages_Total": 0, "HugePages_Free": 0,
        "Hugepagesize": 2048,
    }.items()
)  # fmt: skip
VMSTAT = "pgfault 123456789\npgmajfault 1234\npswpin 0\npswpout 0\noom_kill 0\npgpgin 1000\npgpgout 2000\n"


@contextlib.contextmanager
def advancing(tree: Tree, every: float = 5.0) -> Iterator[None]:
    stop = threading.Event()

    def run() -> None:
        while not stop.wait(every):
            tree.advance()

    thread = threading.Thread(target=run, name="advance", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


# -- scraping (not counted: the harness's own thread) -------------------------------------


def scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310  (http to loopback, built here)
        return str(response.read().decode())


_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$")


def samples(text: str) -> list[tuple[str, str, float]]:
    out = []
    for line in text.splitlines():
        m = _SAMPLE.match(line)
        if m:
            with contextlib.suppress(ValueError):
                out.append((m[1], m[2] or "", float(m[3])))
    return out


@dataclass
class Scrapes:
    agent_series: float = 0.0
    agent_lag: list[float] = field(default_factory=list)
    agent_network: list[float] = field(default_factory=list)
    ne_series: int = 0
    ne_network: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@contextlib.contextmanager
def scraping(agent_url: str, ne_url: str, every: float = 10.0) -> Iterator[Scrapes]:
    found = Scrapes()
    stop = threading.Event()

    def run() -> None:
        while not stop.wait(every):
            try:
                ne = samples(scrape(ne_url))
                found.ne_series = sum(1 for name, _, _ in ne if not name.startswith(("go_", "process_", "promhttp_")))  # fmt: skip
                found.ne_network.append(sum(
                    v for name, lbl, v in ne if name == "node_scrape_collector_duration_seconds"
                    and lbl in ('{collector="netdev"}', '{collector="netclass"}')))  # fmt: skip
            except OSError as e:
                found.errors.append(f"node_exporter: {e}")
            try:
                ours = samples(scrape(agent_url))
                for name, lbl, v in ours:
                    if name == "agent_series":
                        found.agent_series = v
                    elif name == "agent_event_loop_lag_seconds":
                        found.agent_lag.append(v)
                    elif (
                        name == "agent_collector_duration_seconds" and 'collector="network"' in lbl
                    ):
                        found.agent_network.append(v)
            except OSError as e:
                found.errors.append(f"agent: {e}")

    thread = threading.Thread(target=run, name="scrape", daemon=True)
    thread.start()
    try:
        yield found
    finally:
        stop.set()
        thread.join()


# -- one size ------------------------------------------------------------------------------


@dataclass
class Row:
    size: Size
    agent: Measurement
    ne: Measurement
    scrapes: Scrapes
    generated_secs: float


def run_size(size: Size, work: Path, agent_tree: Path, warmup: float, duration: float) -> Row:
    tree = Tree(work / "tree", size)
    shutil.rmtree(tree.root, ignore_errors=True)  # a kept tree of an earlier run
    began = time.monotonic()
    tree.generate()
    generated = time.monotonic() - began
    agent_port, ne_port = free_port(), free_port()
    config = agent_config(
        work,
        "agent",
        f'procfs = "{tree.proc}"\nsysfs = "{tree.sys}"\nrootfs = "{tree.root}"\n\n'
        "[inventory]\nenabled = false\n\n[log_analyzer]\nenabled = false\n\n"
        f'[prometheus]\nenabled = true\nbind = "127.0.0.1:{agent_port}"\n\n'
        "[alerting.console]\nenabled = true\n",
    )
    env = {"PYTHONPATH": str(agent_tree), "PYTHONDONTWRITEBYTECODE": "1"}
    agent = Target("agent", [sys.executable, "-m", "agent", "--config", str(config)], env=env)
    node_exporter = Target("node-exporter", [
        ensure_node_exporter(), f"--path.procfs={tree.proc}", f"--path.sysfs={tree.sys}",
        f"--path.rootfs={tree.root}", "--no-collector.netdev.netlink",
        f"--web.listen-address=127.0.0.1:{ne_port}",
    ])  # fmt: skip
    with (
        advancing(tree),
        scraping(f"http://127.0.0.1:{agent_port}/metrics", f"http://127.0.0.1:{ne_port}/metrics") as found,
    ):  # fmt: skip
        agent_m, ne_m = measure([agent, node_exporter], work, warmup, duration)
    return Row(size, agent_m, ne_m, found, generated)


# -- report --------------------------------------------------------------------------------


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def report(rows: list[Row], duration: float, agent_tree: Path) -> None:
    print(f"\n{duration:.0f} s measured per size, agent and node_exporter at once; "
          f"{os.cpu_count()} CPUs; CPU % of one core; agent from {agent_tree}")  # fmt: skip
    print("| host | agent CPU | agent RSS avg / peak | agent series | worst loop lag | "
          "network tick agent / node_exporter netdev+netclass | node_exporter CPU | "
          "node_exporter RSS avg / peak | node_exporter series |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        s = r.size
        host = (f"{s.name}: {s.cpus} CPUs, {s.processes:,} processes, "
                f"{s.host_nics + s.container_nics:,} NICs ({s.container_nics:,} container), "
                f"{s.disks} disks, {s.memory_controllers} MCs")  # fmt: skip
        lag = max(r.scrapes.agent_lag) if r.scrapes.agent_lag else float("nan")
        print(f"| {host} | {r.agent.cpu_percent:.2f} % | {r.agent.avg_rss_mb:.0f} / {r.agent.peak_rss_mb:.0f} MB | "
              f"{r.scrapes.agent_series:,.0f} | {lag:.2f} s | "
              f"{_mean(r.scrapes.agent_network) * 1000:.1f} / {_mean(r.scrapes.ne_network) * 1000:.1f} ms | "
              f"{r.ne.cpu_percent:.2f} % | {r.ne.avg_rss_mb:.0f} / {r.ne.peak_rss_mb:.0f} MB | "
              f"{r.scrapes.ne_series:,} |")  # fmt: skip
    for r in rows:
        notes = (r.agent.note + r.ne.note).strip()
        if notes or r.scrapes.errors:
            print(f"{r.size.name}: {notes} {'; '.join(sorted(set(r.scrapes.errors))[:3])}")
        print(f"{r.size.name}: tree generated in {r.generated_secs:.0f} s")
    for a, b in itertools.pairwise(rows):
        print(
            f"\nper added unit, {b.size.name} - {a.size.name} (the whole difference charged to each kind in turn):"
        )
        for what, added in (
            ("process", b.size.processes - a.size.processes),
            ("interface", (b.size.host_nics + b.size.container_nics) - (a.size.host_nics + a.size.container_nics)),
            ("CPU", b.size.cpus - a.size.cpus),
        ):  # fmt: skip
            if added <= 0:
                continue
            for name, ma, mb in (("agent", a.agent, b.agent), ("node_exporter", a.ne, b.ne)):
                print(f"  {what:<9} {name:<13} cpu {(mb.cpu_percent - ma.cpu_percent) / added * 1000:+.3f} "
                      f"milli-% each, peak rss {(mb.peak_rss_mb - ma.peak_rss_mb) * 1024 / added:+.1f} KB each")  # fmt: skip
        if a.scrapes.agent_series and b.scrapes.agent_series:
            added_series = b.scrapes.agent_series - a.scrapes.agent_series
            if added_series > 0:
                print(f"  agent peak rss per added series: "
                      f"{(b.agent.peak_rss_mb - a.agent.peak_rss_mb) * 1024 / added_series:.1f} KB")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes", default="small,large,huge", help="comma-separated: " + ",".join(SIZES)
    )
    parser.add_argument("--duration", type=float, default=120.0, help="seconds measured per size")
    parser.add_argument("--warmup", type=float, default=20.0, help="seconds before measuring")
    parser.add_argument(
        "--agent-tree", type=Path, default=REPO, help="checkout the agent runs from"
    )
    parser.add_argument("--keep", type=Path, help="generate the trees here and keep them")
    args = parser.parse_args()
    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    unknown = set(sizes) - set(SIZES)
    if unknown:
        parser.error(f"unknown sizes: {', '.join(sorted(unknown))} (known: {', '.join(SIZES)})")
    agent_tree = args.agent_tree.resolve()
    if not (agent_tree / "agent" / "__main__.py").exists():
        parser.error(f"{agent_tree} has no agent/__main__.py")
    print(f"versions: node_exporter: {version_of([ensure_node_exporter(), '--version'])}; "
          f"python {sys.version.split()[0]}")  # fmt: skip
    rows = []
    for name in sizes:
        if args.keep:
            work = args.keep / name
            work.mkdir(parents=True, exist_ok=True)
            rows.append(run_size(SIZES[name], work, agent_tree, args.warmup, args.duration))
        else:
            with tempfile.TemporaryDirectory(prefix=f"scale-{name}-") as tmp:
                rows.append(
                    run_size(SIZES[name], Path(tmp), agent_tree, args.warmup, args.duration)
                )
        print(f"{name}: agent {rows[-1].agent.cpu_percent:.2f} % {rows[-1].agent.peak_rss_mb:.0f} MB, "
              f"node_exporter {rows[-1].ne.cpu_percent:.2f} % {rows[-1].ne.peak_rss_mb:.0f} MB", flush=True)  # fmt: skip
    report(rows, args.duration, agent_tree)


if __name__ == "__main__":
    main()
