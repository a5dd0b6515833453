"""Log analyzer: the catalogue on the kernel's own formats, aggregation, and every source."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import uuid
from pathlib import Path

import pytest

from agent.logs.journald import JournaldSource, parse_journal_entry
from agent.logs.kmsg import KmsgSource, parse_kmsg_record
from agent.logs.positions import Positions
from agent.logs.syslogfile import FileTail, SyslogSource, parse_syslog_line
from alerting.alert import Severity, Status
from analyzers.logpatterns import LogAlerter, LogLine, LogMatcher, build_patterns
from tests.conftest import until

HELPERS = Path(__file__).parent / "helpers"
MATCHER = LogMatcher(
    build_patterns(
        segfaults=True, custom=[("deploy_failed", r"deploy (?P<app>\w+) failed", Severity.WARN)]
    )
)

# (line as the kernel prints it, pattern, severity, labels); written from the printk formats.
POSITIVE = [
    ("Out of memory: Killed process 1234 (java) total-vm:8123456kB, anon-rss:4000000kB, file-rss:0kB, shmem-rss:0kB, UID:1000 pgtables:9000kB oom_score_adj:0",
     "oom_kill", Severity.CRITICAL, {"pid": "1234", "process": "java"}),
    ("oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/system.slice/db.service,task_memcg=/system.slice/db.service,task=postgres,pid=4321,uid=113",
     "oom_kill", Severity.CRITICAL, {"pid": "4321", "process": "postgres"}),
    ("Memory cgroup out of memory: Killed process 99 (node) total-vm:100kB, anon-rss:50kB, file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:4kB oom_score_adj:0",
     "oom_kill", Severity.CRITICAL, {"pid": "99", "process": "node"}),
    # Printed for every logged machine check, corrected ones too (issue #16): a warning.
    ("mce: [Hardware Error]: Machine check events logged", "machine_check_logged", Severity.WARN, {}),
    ("mce: [Hardware Error]: CPU 0: Machine Check: 0 Bank 5: be00000000800400", "machine_check", Severity.CRITICAL, {}),
    ("Machine check events logged", "machine_check_logged", Severity.WARN, {}),
    ("EDAC MC0: 1 CE memory read error on CPU_SrcID#0_Ha#0_Chan#1_DIMM#0 (channel:1 slot:0 page:0x12345 offset:0x0 grain:32 syndrome:0x0)",
     "edac_correctable", Severity.WARN, {"mc": "MC0"}),
    ("EDAC MC1: 1 UE memory read error on CPU_SrcID#1_Ha#0_Chan#0_DIMM#1 (channel:0 slot:1)", "edac_uncorrectable", Severity.CRITICAL, {"mc": "MC1"}),
    ("NVRM: Xid (PCI:0000:3b:00): 79, pid=2345, name=python3, GPU has fallen off the bus.", "gpu_xid", Severity.EMERGENCY,
     {"pci": "PCI:0000:3b:00", "xid": "79", "pid": "2345", "process": "python3"}),
    ("NVRM: Xid (PCI:0000:af:00): 48, pid='<unknown>', name=<unknown>, An uncorrectable double bit error (DBE) has been detected on GPU in the framebuffer at partition 6, subpartition 0.",
     "gpu_xid", Severity.CRITICAL, {"pci": "PCI:0000:af:00", "xid": "48"}),
    ("NVRM: Xid (PCI:0000:3b:00): 13, Graphics SM Warp Exception on (GPC 0, TPC 1): Out Of Range Address", "gpu_xid", Severity.WARN,
     {"pci": "PCI:0000:3b:00", "xid": "13"}),
    ("NVRM: Xid (PCI:0000:3b:00): 45, pid=77, name=trainer, Ch 00000010", "gpu_xid", Severity.INFO, {"xid": "45"}),
    ("NVRM: GPU at PCI:0000:3b:00: GPU-1234: DBE (double bit error) ECC error detected", "gpu_ecc_dbe", Severity.CRITICAL, {}),
    ("EXT4-fs error (device sda1): ext4_find_entry:1455: inode #2: comm ls: reading directory lblock 0", "fs_error", Severity.CRITICAL, {"device": "sda1"}),
    ("EXT4-fs (dm-0): Remounting filesystem read-only", "fs_readonly", Severity.CRITICAL, {"device": "dm-0"}),
    ("XFS (dm-2): Corruption detected. Unmount and run xfs_repair", "fs_corruption", Severity.CRITICAL, {"device": "dm-2"}),
    ("Buffer I/O error on dev sdb1, logical block 0, async page read", "buffer_io_error", Severity.CRITICAL, {"device": "sdb1"}),
    ("BTRFS error (device nvme0n1p2): bdev /dev/nvme0n1p2 errs: wr 1, rd 0, flush 0, corrupt 0, gen 0", "fs_error", Severity.CRITICAL, {"device": "nvme0n1p2"}),
    ("nvme nvme0: I/O 123 QID 4 timeout, aborting", "nvme_timeout", Severity.CRITICAL, {"device": "nvme0"}),
    ("nvme nvme1: controller is down; will reset: CSTS=0xffffffff, PCI_STATUS=0xffff", "nvme_reset", Severity.CRITICAL, {"device": "nvme1"}),
    ("nvme nvme0: SMART/Health critical_warning 0x4", "nvme_critical_warning", Severity.CRITICAL, {"device": "nvme0"}),
    ("blk_update_request: I/O error, dev sdb, sector 2048 op 0x0:(READ) flags 0x0 phys_seg 1 prio class 0", "block_io_error", Severity.CRITICAL, {"device": "sdb"}),
    ("I/O error, dev sdc, sector 8 op 0x1:(WRITE) flags 0x800 phys_seg 1 prio class 2", "block_io_error", Severity.CRITICAL, {"device": "sdc"}),
    ("INFO: task java:1234 blocked for more than 120 seconds.", "hung_task", Severity.WARN, {"process": "java", "pid": "1234"}),
    ("watchdog: BUG: soft lockup - CPU#3 stuck for 22s! [kworker/3:1:123]", "soft_lockup", Severity.CRITICAL, {"cpu": "3"}),
    ("NMI watchdog: Watchdog detected hard LOCKUP on cpu 5", "hard_lockup", Severity.CRITICAL, {"cpu": "5"}),
    ("rcu: INFO: rcu_sched self-detected stall on CPU", "rcu_stall", Severity.CRITICAL, {}),
    ("rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:", "rcu_stall", Severity.CRITICAL, {}),
    ("e1000e 0000:00:19.0 eth0: NIC Link is Down", "link_down", Severity.WARN, {"interface": "eth0"}),
    ("igb 0000:01:00.0 eno1: igb: eno1 NIC Link is Down", "link_down", Severity.WARN, {"interface": "eno1"}),
    ("mlx5_core 0000:5e:00.0 ens1f0: Link down", "link_down", Severity.WARN, {"interface": "ens1f0"}),
    # phylib (drivers/net/phy/phy.c, phy_print_status) prints through netdev_info: "<driver> <bus id> <ifname>: Link is Down".
    ("r8169 0000:03:00.0 enp3s0: Link is Down", "link_down", Severity.WARN, {"interface": "enp3s0"}),
    ("enp3s0: Link is Down", "link_down", Severity.WARN, {"interface": "enp3s0"}),
    ("r8169 0000:03:00.0 enp3s0: Link is Up - 1Gbps/Full - flow control rx/tx", "link_up", Severity.INFO, {"interface": "enp3s0"}),
    ("e1000e 0000:00:19.0 eth0: NIC Link is Up 1000 Mbps Full Duplex, Flow Control: Rx/Tx", "link_up", Severity.INFO, {"interface": "eth0"}),
    ("pcieport 0000:00:1c.0: AER: Corrected error received: 0000:00:1c.0", "pcie_aer_corrected", Severity.WARN, {"pci": "0000:00:1c.0"}),
    ("pcieport 0000:00:03.0: AER: Uncorrected (Fatal) error received: 0000:02:00.0", "pcie_aer_uncorrected", Severity.CRITICAL, {"pci": "0000:00:03.0"}),
    ("pcieport 0000:00:03.0: AER: Multiple Uncorrected (Non-Fatal) error received: 0000:02:00.0", "pcie_aer_uncorrected", Severity.CRITICAL, {"pci": "0000:00:03.0"}),
    ("java[1234]: segfault at 0 ip 00007f1234567890 sp 00007ffd12345678 error 4 in libfoo.so[7f1234500000+10000]", "segfault", Severity.INFO,
     {"process": "java", "pid": "1234"}),
]  # fmt: skip

NEGATIVE = [
    # Near misses: the words appear, but not in the kernel's format or not from the kernel.
    ("Out of memory while allocating the cache (requested 1 GB)", True),
    (
        "app[12]: ERROR Out of memory: Killed process 1234 (java)",
        False,
    ),  # an application quoting the kernel
    ("EXT4-fs (sda1): mounted filesystem with ordered data mode. Opts: (null)", True),
    (
        "EDAC MC0: Giving out device to module sb_edac controller Sandy Bridge SrcID#0_Ha#0: DEV 0000:7f:0e.0 (INTERRUPT)",
        True,
    ),
    ("nvme nvme0: 8/0/0 default/read/poll queues", True),
    ("pcieport 0000:00:1c.0: AER: enabled with IRQ 122", True),
    ("NVRM: loading NVIDIA UNIX x86_64 Kernel Module  535.129.03", True),
    ("task java:1234 is running fine", True),
    ("eth0: renamed from veth1234", True),
    ("enp3s0: Link is Downshifted to 100Mbps", True),  # not "Down" as a word
    ("usb 1-1: Link is Down", True),  # no interface name before it
    ("NetworkManager[812]: <info>  [1700000000.1] device (enp3s0): Link is Down", False),
    ("systemd[1]: Started Daily Cleanup of Temporary Directories.", True),
]


@pytest.mark.parametrize(("line", "name", "severity", "labels"), POSITIVE)
def test_catalogue_matches_the_kernel_formats(
    line: str, name: str, severity: Severity, labels: dict[str, str]
) -> None:
    found = MATCHER.match(LogLine(line, kernel=True))
    assert found is not None, line
    assert (found.pattern.name, found.severity) == (name, severity)
    assert labels.items() <= dict(found.labels).items()


@pytest.mark.parametrize(("line", "kernel"), NEGATIVE)
def test_near_misses_do_not_match(line: str, kernel: bool) -> None:
    assert MATCHER.match(LogLine(line, kernel=kernel)) is None


def test_kernel_patterns_only_for_kernel_lines_custom_for_all() -> None:
    oom = "Out of memory: Killed process 1234 (java) total-vm:1kB"
    assert MATCHER.match(LogLine(oom, kernel=False)) is None
    found = MATCHER.match(LogLine("ci: deploy billing failed after 3 tries", kernel=False))
    assert (
        found is not None
        and found.pattern.name == "deploy_failed"
        and dict(found.labels) == {"app": "billing"}
    )


def test_gating_options() -> None:
    xid = LogLine("NVRM: Xid (PCI:0000:3b:00): 79, GPU has fallen off the bus.", kernel=True)
    assert LogMatcher(build_patterns(gpu_xid=False)).match(xid) is None
    assert (
        LogMatcher(build_patterns()).match(LogLine(POSITIVE[-1][0], kernel=True)) is None
    )  # segfaults are opt-in


def test_aggregation_fingerprints_and_follow_up() -> None:
    alerter = LogAlerter(MATCHER, aggregate_secs=120)
    ext4 = "EXT4-fs error (device {}): ext4_find_entry:1455: inode #2: comm ls: reading directory lblock 0"
    oom = "Out of memory: Killed process 1234 (java) total-vm:1kB"
    first = alerter.process(LogLine(ext4.format("sda1"), True), now=0)
    assert (
        len(first) == 1
        and first[0].context["event"]
        and first[0].context["line"].startswith("EXT4-fs error")
    )
    assert first[0].message.startswith("file system error on sda1")
    for t in range(1, 57):
        assert alerter.process(LogLine(ext4.format("sda1"), True), now=t) == []
    other_device = alerter.process(LogLine(ext4.format("sdb1"), True), now=60)
    # An OOM report is held for the grouping window (its header and kill lines are one event).
    an_oom = alerter.process(LogLine(oom, True), now=61) + alerter.expire_groups(63)
    assert len(other_device) == 1 and len(an_oom) == 1  # not hidden behind the first alert
    assert len({first[0].fingerprint, other_device[0].fingerprint, an_oom[0].fingerprint}) == 3
    assert alerter.flush(now=100) == []
    (follow_up,) = alerter.flush(now=121)
    assert follow_up.context["occurrences"] == 57 and "57 times in 2 min" in follow_up.message
    assert alerter.process(LogLine(ext4.format("sda1"), True), now=130) != []  # a new window


def test_link_down_resolves_on_link_up_of_the_same_interface() -> None:
    alerter = LogAlerter(MATCHER)
    down = alerter.process(LogLine("e1000e 0000:00:19.0 eth0: NIC Link is Down", True), now=0)
    assert down[0].status is Status.FIRING and not down[0].context["event"]
    assert alerter.process(LogLine("e1000e 0000:00:19.0 eth0: NIC Link is Down", True), now=1) == []
    assert (
        alerter.process(
            LogLine("igb 0000:01:00.0 eth1: igb: eth1 NIC Link is Up 1000 Mbps", True), now=2
        )
        == []
    )
    (up,) = alerter.process(
        LogLine("e1000e 0000:00:19.0 eth0: NIC Link is Up 1000 Mbps Full Duplex", True), now=3
    )
    assert up.status is Status.RESOLVED and up.fingerprint == down[0].fingerprint


def test_a_link_down_is_ended_by_its_link_read_up_when_the_up_line_never_comes() -> None:
    alerter = LogAlerter(MATCHER)
    (eth0,) = alerter.process(LogLine("e1000e 0000:00:19.0 eth0: NIC Link is Down", True), now=10)
    (eth2,) = alerter.process(LogLine("igb 0000:01:00.0 eth2: igb: eth2 NIC Link is Down", True),
                              now=11)  # fmt: skip
    asked: list[tuple[str, float]] = []

    def read_up(interface: str, since: float) -> bool:
        asked.append((interface, since))
        return interface == "eth2"

    (ended,) = alerter.links_read_up(read_up, now=20)
    assert sorted(asked) == [("eth0", 10), ("eth2", 11)]  # since each alert, not since now
    assert (ended.status, ended.fingerprint) == (Status.RESOLVED, eth2.fingerprint)
    assert ended.message == (
        "eth2: link is up again (read from sysfs: the kernel's line saying so was not seen)"
    )
    assert alerter.links_read_up(read_up, now=25) == []  # ended once; eth0 still down
    # The line that comes late ends nothing more; eth0's own still ends eth0's.
    assert alerter.process(LogLine("igb 0000:01:00.0 eth2: igb: eth2 NIC Link is Up", True),
                           now=30) == []  # fmt: skip
    (up,) = alerter.process(LogLine("e1000e 0000:00:19.0 eth0: NIC Link is Up", True), now=31)
    assert up.fingerprint == eth0.fingerprint
    assert alerter.links_read_up(lambda _i, _s: True, now=40) == []


def test_a_link_down_again_is_read_up_only_after_its_latest_line() -> None:
    """A driver silent when the carrier returns: up (unsaid), then down again, which says
    nothing new while the alert is open; readings of the up between must not end it."""
    alerter = LogAlerter(MATCHER)
    down = LogLine("e1000e 0000:00:19.0 eth0: NIC Link is Down", True)
    assert len(alerter.process(down, now=10)) == 1
    assert alerter.process(down, now=50) == []  # down again: no second alert
    asked: list[float] = []

    def read_up_since(_interface: str, since: float) -> bool:
        asked.append(since)
        return since < 41  # read up at 30 and 40, not since

    assert alerter.links_read_up(read_up_since, now=52) == [] and asked == [50]


def test_a_bond_slave_down_is_left_to_the_bonds_own_line() -> None:
    """The bond's ARP monitor says a slave is down when the path beyond the switch failed,
    while the slave's own carrier is up: the link read up says nothing of that."""
    alerter = LogAlerter(MATCHER)
    bond = "bonding: bond0: link status definitely down for interface eth1, disabling it"
    (eth1,) = alerter.process(LogLine(bond, True), now=11)
    assert alerter.links_read_up(lambda _i, _s: True, now=20) == []
    (up,) = alerter.process(
        LogLine("bond0: link status definitely up for interface eth1", True), now=30
    )
    assert up.fingerprint == eth1.fingerprint


def test_a_link_is_read_up_from_two_readings_after_the_alert() -> None:
    """Two: a collection runs on its own thread, so a reading taken just before the link
    went down can be stored just after the line saying so was read."""
    import numpy as np

    from agent.runtime import link_read_up
    from agent.store import Store
    from analyzers.base import SeriesKey

    store = Store(16, 0)
    eth0 = SeriesKey("network_up", (("interface", "eth0"),))

    def reading(at: float, up: float) -> None:
        store.write_samples(at, [eth0], np.array([up]), "network")

    assert not link_read_up(store, "eth0", since=100.0)  # never collected
    reading(90.0, 1.0)
    reading(103.0, 1.0)
    assert not link_read_up(store, "eth0", since=100.0)  # one reading after the alert
    reading(111.0, 0.0)
    reading(121.0, 1.0)
    assert not link_read_up(store, "eth0", since=100.0)  # down, then up once
    reading(131.0, 1.0)
    assert link_read_up(store, "eth0", since=100.0)
    assert not link_read_up(store, "eth0", since=125.0)
    assert not link_read_up(store, "eth1", since=0.0)
    # Stored within LINK_SETTLE_SECS of the line: its operstate may not have followed yet.
    reading(141.0, 1.0)
    assert not link_read_up(store, "eth0", since=129.5)  # 131 is 1.5 s after it
    assert link_read_up(store, "eth0", since=128.5)


# -- syslog lines and files -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "kernel", "message"),
    [
        (
            "Nov 21 10:00:00 web-01 kernel: [ 1234.567890] EXT4-fs error (device sda1): x",
            True,
            "EXT4-fs error (device sda1): x",
        ),
        (
            "Nov  1 10:00:00 kernel: Out of memory: Killed process 1 (a)",
            True,
            "Out of memory: Killed process 1 (a)",
        ),
        (
            "Nov 21 10:00:00 web-01 sshd[123]: Accepted publickey for root",
            False,
            "Accepted publickey for root",
        ),
        (
            "2026-11-21T10:00:00.123456+00:00 web-01 kernel: nvme nvme0: I/O 1 QID 2 timeout, aborting",
            True,
            "nvme nvme0: I/O 1 QID 2 timeout, aborting",
        ),
        (
            '<6>1 2026-11-21T10:00:00Z web-01 kernel - - [meta x="1"] Machine check events logged',
            True,
            "Machine check events logged",
        ),
        ("<13>1 2026-11-21T10:00:00Z web-01 app 42 ID7 - hello", False, "hello"),
        ("not a syslog line at all", False, "not a syslog line at all"),
    ],
)
def test_syslog_line_forms(raw: str, kernel: bool, message: str) -> None:
    line = parse_syslog_line(raw, kernel_trusted=True)
    assert (line.kernel, line.text) == (kernel, message)
    untrusted = parse_syslog_line(raw)  # an application log, or kmsg/journald present
    assert (untrusted.kernel, untrusted.text) == (False, message)


def _lines(n0: int, n1: int) -> str:
    return "".join(f"Nov 21 10:00:00 host app[1]: line {i}\n" for i in range(n0, n1))


def _collect(tail: FileTail) -> list[int]:
    return [int(text.rsplit(" ", 1)[1]) for text in tail.poll()]


def test_file_tail_every_line_exactly_once_through_rotations_and_restarts(tmp_path: Path) -> None:
    log_file = tmp_path / "syslog"
    positions_file = tmp_path / "pos.json"
    log_file.write_text(_lines(0, 5))
    positions = Positions(positions_file)
    tail = FileTail(log_file, positions)
    assert _collect(tail) == []  # first start: from the end, no history
    seen: list[int] = []
    with log_file.open("a") as f:
        f.write(_lines(5, 10) + "Nov 21 10:00:00 host app[1]: line 10")  # a partial last line
    seen += _collect(tail)
    with log_file.open("a") as f:
        f.write("\n" + _lines(11, 15))
    seen += _collect(tail)
    # Rotation by rename while running: lines written to the old file after our last read still count.
    with log_file.open("a") as f:
        f.write(_lines(15, 18))
    log_file.rename(tmp_path / "syslog.1")
    log_file.write_text(_lines(18, 20))
    seen += _collect(tail)
    # Copy-truncate rotation.
    with log_file.open("a") as f:
        f.write(_lines(20, 22))
    seen += _collect(tail)
    shutil.copy(log_file, tmp_path / "syslog.2")
    with log_file.open("r+") as f:
        f.truncate(0)
    seen += _collect(tail)
    with log_file.open("a") as f:
        f.write(_lines(22, 25))
    seen += _collect(tail)
    # Agent restart: positions saved, new lines and a rename rotation while it was down.
    positions.save()
    tail.close()
    with log_file.open("a") as f:
        f.write(_lines(25, 28))
    (tmp_path / "syslog.1").unlink()
    log_file.rename(tmp_path / "syslog.1")
    log_file.write_text(_lines(28, 30))
    restarted = FileTail(log_file, Positions(positions_file))
    seen += _collect(restarted)
    # Restart again with the file truncated while down.
    restarted.positions.save()
    restarted.close()
    log_file.write_text("")
    again = FileTail(log_file, Positions(positions_file))
    assert _collect(again) == []
    with log_file.open("a") as f:
        f.write(_lines(30, 32))
    seen += _collect(again)
    assert seen == list(range(5, 32)), seen


def test_file_tail_cuts_long_lines_and_survives_bad_bytes(tmp_path: Path) -> None:
    log_file = tmp_path / "app.log"
    log_file.write_bytes(b"")
    tail = FileTail(log_file, Positions(tmp_path / "p.json"), max_line=300)
    tail.poll()
    log_file.write_bytes(b"x" * 10_000 + b"\n" + b"bad \xff\xfe bytes\n")
    long_line, bad = tail.poll()
    assert len(long_line) == 300 and bad == "bad \ufffd\ufffd bytes"


# -- journald -------------------------------------------------------------------------------


def _journal_entry(cursor: str, message: object, transport: str = "kernel") -> str:
    return json.dumps(
        {
            "__CURSOR": cursor,
            "MESSAGE": message,
            "_TRANSPORT": transport,
            "__REALTIME_TIMESTAMP": "1700000000000000",
        }
    )


def test_journal_entry_forms() -> None:
    line, cursor = parse_journal_entry(_journal_entry("c1", "EXT4-fs error (device sda1): x"))  # type: ignore[misc]
    assert line.kernel and cursor == "c1" and line.timestamp == 1_700_000_000.0
    line, _ = parse_journal_entry(_journal_entry("c2", list(b"bytes \xff here"), "syslog"))  # type: ignore[misc]
    assert line.text == "bytes \ufffd here" and not line.kernel
    assert parse_journal_entry(_journal_entry("c3", None)) is None
    assert parse_journal_entry("{not json") is None


def _run_source(
    source: JournaldSource | KmsgSource, until: int, timeout: float = 30.0
) -> list[LogLine]:
    got: list[LogLine] = []

    async def scenario() -> None:
        task = asyncio.create_task(source.run(got.append))
        deadline = asyncio.get_running_loop().time() + timeout
        while len(got) < until and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)  # anything extra would show up now
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    return got


def test_journald_through_a_stand_in_journalctl_with_cursors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = tmp_path / "journal.jsonl"
    journal.write_text(_journal_entry("c0", "old history") + "\n")
    monkeypatch.setenv("FAKE_JOURNAL", str(journal))
    positions = Positions(tmp_path / "pos.json")
    source = JournaldSource(positions, str(HELPERS / "fake_journalctl.py"))
    assert source.argv()[-1] == "--lines=0"

    async def append_later() -> None:
        # Once the stand-in has taken its start position (the end), appends are new entries.
        following = Path(f"{journal}.following")
        deadline = asyncio.get_running_loop().time() + 30
        while not following.exists():
            assert asyncio.get_running_loop().time() < deadline, "journalctl never started"
            await asyncio.sleep(0.02)
        with journal.open("a") as f:
            f.write(_journal_entry("c1", "nvme nvme0: I/O 1 QID 2 timeout, aborting") + "\n")
            f.write(_journal_entry("c2", None) + "\n")
            f.write(_journal_entry("c3", "hello from an app", "syslog") + "\n")

    got: list[LogLine] = []

    async def scenario() -> None:
        task = asyncio.create_task(source.run(got.append))
        await append_later()
        # The stand-in polls the file every 0.1 s; on a busy host it may take seconds.
        deadline = asyncio.get_running_loop().time() + 30
        while len(got) < 2 and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    assert [line.text for line in got] == [
        "nvme nvme0: I/O 1 QID 2 timeout, aborting",
        "hello from an app",
    ]
    assert got[0].kernel and not got[1].kernel
    positions.save()
    # Restart: continue after the saved cursor, no repeats.
    with journal.open("a") as f:
        f.write(_journal_entry("c4", "written while the agent was down") + "\n")
    restarted = JournaldSource(
        Positions(tmp_path / "pos.json"), str(HELPERS / "fake_journalctl.py")
    )
    assert restarted.argv()[-1] == "--after-cursor=c3"
    assert [line.text for line in _run_source(restarted, 1)] == ["written while the agent was down"]


def test_a_priority_any_sender_sets_cannot_stop_the_journald_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PRIORITY is the sender's: "²" passes str.isdigit() and fails int(), 5,000 digits pass
    neither.  Such an entry killed the source, and each restart of journalctl read it again
    (the cursor stays before it): every later kernel line was lost."""
    journal = tmp_path / "journal.jsonl"
    entries = []
    for i, priority in enumerate(("\u00b2", "7" * 5000, "-1", "3")):
        entry = json.loads(_journal_entry(f"c{i}", f"app line {i}", "syslog"))
        entries.append(json.dumps({**entry, "PRIORITY": priority}))
    entries.append(_journal_entry("c9", "EXT4-fs error (device sda1): ext4_find_entry: x"))
    journal.write_text("\n".join(entries) + "\n")
    monkeypatch.setenv("FAKE_JOURNAL", str(journal))
    positions = Positions(tmp_path / "pos.json")
    positions.set("journald_cursor", "start")  # as after a restart: from the first entry
    journal.write_text(_journal_entry("start", "before") + "\n" + journal.read_text())
    got = _run_source(JournaldSource(positions, str(HELPERS / "fake_journalctl.py")), 5)
    assert [(line.text, line.level) for line in got] == [
        ("app line 0", None), ("app line 1", None), ("app line 2", None), ("app line 3", 3),
        ("EXT4-fs error (device sda1): ext4_find_entry: x", None),
    ]  # fmt: skip


# -- /dev/kmsg --------------------------------------------------------------------------------


def test_kmsg_record_parsing() -> None:
    record = parse_kmsg_record(
        b"3,1234,5678901,-;EXT4-fs error (device sda1): oops\n SUBSYSTEM=block\n DEVICE=b8:1\n"
    )
    assert record is not None
    assert (record.level, record.facility, record.seq, record.usec) == (3, 0, 1234, 5678901)
    assert record.text == "EXT4-fs error (device sda1): oops"
    user = parse_kmsg_record(b"14,99,1,c;from user space\n")
    assert user is not None and user.facility == 1
    assert parse_kmsg_record(b"garbage without a separator") is None
    assert parse_kmsg_record(b"x,y,z;text") is None


@pytest.mark.skipif(
    not os.access("/dev/kmsg", os.R_OK | os.W_OK), reason="needs read and write access to /dev/kmsg"
)
def test_kmsg_live_read_and_restart_without_repeats(tmp_path: Path) -> None:
    positions = Positions(tmp_path / "pos.json")
    first = KmsgSource(positions, Path("/proc"))
    assert (
        _run_source(first, 0, timeout=0.2) == []
    )  # first start: history skipped, position learned
    marker = f"sysops-agent-test-{uuid.uuid4()}"
    with open("/dev/kmsg", "w") as kmsg:
        kmsg.write(f"<12>{marker} one\n")
    positions.save()
    source = KmsgSource(Positions(tmp_path / "pos.json"), Path("/proc"))
    got = [line for line in _run_source(source, 1) if marker in line.text]
    assert [line.text for line in got] == [f"{marker} one"] and not got[
        0
    ].kernel  # written by user space
    source.positions.save()
    with open("/dev/kmsg", "w") as kmsg:
        kmsg.write(f"<12>{marker} two\n")
    again = KmsgSource(Positions(tmp_path / "pos.json"), Path("/proc"))
    assert [line.text for line in _run_source(again, 1) if marker in line.text] == [f"{marker} two"]


@pytest.mark.skipif(
    not os.access("/dev/kmsg", os.R_OK | os.W_OK), reason="needs read and write access to /dev/kmsg"
)
@pytest.mark.parametrize("edit", ["a list", "a string", "negative", "huge", "ahead"])
def test_an_edited_kmsg_position_neither_stops_nor_mutes_the_source(
    tmp_path: Path, edit: str
) -> None:
    """log-positions.json is ours, but a writable data_dir lets others edit it: a value of
    another type stopped the source at every start, and a sequence number ahead of the log
    silently skipped every new record as seen."""
    boot = (Path("/proc/sys/kernel/random/boot_id")).read_text().strip()
    seq = {"a string": "7", "negative": -1, "huge": 10**30, "ahead": 10**18}.get(edit)
    edited: object = ["x"] if edit == "a list" else {"boot_id": boot, "seq": seq}
    (tmp_path / "pos.json").write_text(json.dumps({"kmsg": edited}))
    source = KmsgSource(Positions(tmp_path / "pos.json"), Path("/proc"))
    marker = f"sysops-agent-test-{uuid.uuid4()}"
    got: list[LogLine] = []

    async def scenario() -> None:
        task = asyncio.create_task(source.run(got.append))
        await until(lambda: source.positions.get("kmsg") != edited, 10, "the source's start")
        with open("/dev/kmsg", "w") as kmsg:
            kmsg.write(f"<12>{marker}\n")
        await until(lambda: any(marker in line.text for line in got), 10, "the new record")
        task.cancel()

    asyncio.run(scenario())


def test_syslog_source_feeds_parsed_lines(tmp_path: Path) -> None:
    log_file = tmp_path / "messages"
    log_file.write_text("")
    source = SyslogSource([log_file], Positions(tmp_path / "p.json"), kernel_paths=[log_file])
    got: list[LogLine] = []
    source.poll(got.append)
    log_file.write_text("Nov 21 10:00:00 h kernel: [1.0] EXT4-fs error (device sda1): x\n")
    source.poll(got.append)
    assert got == [LogLine("EXT4-fs error (device sda1): x", kernel=True, source=str(log_file))]


# -- the agent's own lines (#15: no feedback) -------------------------------------------------


def test_own_lines_in_every_form_a_syslog_file_shows_them() -> None:
    from agent.logs.own import OwnLines
    from agent.logs.syslogfile import _parse

    own = OwnLines(tags=frozenset({"sysops-agent", "my-agent"}), pid=77, comm="python3", unit="")

    def is_own(text: str) -> bool:
        _, tag, pid = _parse(text, "syslog", False)
        return own.syslog(tag, pid, text)

    ours = [
        "Nov 21 10:00:00 host my-agent[9]: WARN boom",  # the channel's tag, an earlier run
        "2026-11-28T19:00:00.1+00:00 host sysops-agent[77] WARN boom",  # RFC 5424 in FileFormat
        "Nov 21 10:00:00 host python3[77]: delivery of boom failed",  # our stderr, via journald
        # The local socket's special parser misreads RFC 5424: only the SD-ID is left to see.
        '2026-11-28T19:00:00+00:00 vm 1 2026-11-28T19:00:00Z vm my-agent 77 - [alert@32473 a="b"] x',
        '<28>1 2026-11-28T19:00:00Z h my-agent 77 - [alert@32473 metric="m"] WARN boom',
    ]
    others = [
        "Nov 21 10:00:00 host python3[78]: boom",  # another Python program
        "Nov 21 10:00:00 host app[77]: boom",  # PID 77 of another namespace, another name
        "Nov 21 10:00:00 host systemd[1]: sysops-agent.service: Main process exited",
        "Nov 21 10:00:00 host app[5]: alert@32473 without its bracket",
    ]
    assert [is_own(t) for t in ours] == [True] * len(ours)
    assert [is_own(t) for t in others] == [False] * len(others)


def test_own_journal_entries_by_fields_journald_sets_itself() -> None:
    from agent.logs.own import OwnLines

    own = OwnLines(tags=frozenset({"sysops-agent"}), pid=77, comm="sysops-agent", unit="x.service")
    assert own.journal({"_PID": "77", "_COMM": "sysops-agent", "SYSLOG_IDENTIFIER": "s"}, "m")
    assert own.journal({"SYSLOG_IDENTIFIER": "sysops-agent", "_PID": "5"}, "m")
    assert own.journal({"_SYSTEMD_UNIT": "x.service", "_PID": "5"}, "m")  # a previous run
    assert own.journal({"_PID": "5"}, '[alert@32473 metric="m"] WARN x')
    assert not own.journal({"_PID": "77", "_COMM": "nginx"}, "m")  # same PID, another namespace
    assert not own.journal({"_PID": "1", "_SYSTEMD_UNIT": "init.scope", "UNIT": "x.service"}, "m")
