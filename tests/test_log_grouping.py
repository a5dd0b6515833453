"""One event, one alert: the kernel's multi-line reports become one alert carrying their lines.

Each report below is built from the format strings of the file named beside it
(printk/pr_*/dev_* formats filled in with realistic values); lines that match
nothing on their own (AER's register dump and error bits, libata's command
lines, an oops's "#PF:" line) are there too, as the kernel prints them.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from agent.config import load_config
from agent.logs.watch import LogWatch
from agent.settings import Settings
from alerting.alert import Alert, Severity
from analyzers.logpatterns import (
    GROUP_LINE_CHARS,
    MAX_GROUP_LINES,
    NVME_GROUP_BOUND,
    NVME_GROUP_GAP,
    LogAlerter,
    LogLine,
    LogMatcher,
    build_patterns,
)

MATCHER = LogMatcher(build_patterns())

# drivers/pci/pcie/aer.c (mainline): aer_print_source, aer_print_error, __aer_print_error.
AER_6X = [
    "pcieport 0000:00:1c.0: AER: Correctable error message received from 0000:03:00.0",
    "r8169 0000:03:00.0: AER: PCIe Bus Error: severity=Correctable, type=Physical Layer, (Receiver ID)",
    "r8169 0000:03:00.0: AER:   device [10ec:8168] error status/mask=00000001/00006000",
    "r8169 0000:03:00.0: AER:    [ 0] RxErr                  (First)",
]
# drivers/pci/pcie/aer/aerdrv_errprint.c (3.10): the sender as a requester id, bus 04 devfn 00.
AER_310 = [
    "pcieport 0000:00:03.0: AER: Uncorrected (Non-Fatal) error received: id=0400",
    "igb 0000:04:00.0: PCIe Bus Error: severity=Uncorrected (Non-Fatal), type=Transaction Layer, id=0400(Requester ID)",
    "igb 0000:04:00.0:   device [8086:1521] error status/mask=00004000/00000000",
    "igb 0000:04:00.0:    [14] Completion Timeout     (First)",
]
# mm/oom_kill.c (5.4+): dump_header, dump_oom_summary, __oom_kill_process.
OOM = [
    "postgres invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0",
    "CPU: 3 PID: 771 Comm: postgres Not tainted 5.15.0-91-generic #101-Ubuntu",
    "Mem-Info:",
    "oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0,global_oom,"
    "task_memcg=/system.slice/postgresql.service,task=postgres,pid=771,uid=26",
    "Out of memory: Killed process 771 (postgres) total-vm:2100000kB, anon-rss:1048000kB, file-rss:4kB, "
    "shmem-rss:0kB, UID:26 pgtables:2200kB oom_score_adj:0",
]
# drivers/nvme/host/pci.c: nvme_timeout, abort_endio, nvme_remove_dead_ctrl.
NVME = [
    "nvme nvme0: I/O 731 QID 3 timeout, aborting",
    "nvme nvme0: I/O 732 QID 3 timeout, aborting",
    "nvme nvme0: Abort status: 0x371",
    "nvme nvme0: I/O 12 QID 0 timeout, reset controller",
    "nvme nvme0: Removing after probe failure status: -19",
]
# drivers/ata/libata-eh.c ata_eh_link_report.
ATA = [
    "ata3.00: exception Emask 0x0 SAct 0x40000 SErr 0x0 action 0x0",
    "ata3.00: irq_stat 0x40000008",
    "ata3.00: failed command: READ FPDMA QUEUED",
    "ata3.00: cmd 60/08:90:00:b8:9f/00:00:0d:00:00/40 tag 18 ncq dma 4096 in",
    "ata3.00: status: { DRDY ERR }",
    "ata3.00: error: { UNC }",
]
# drivers/acpi/apei/ghes.c __ghes_print_estatus + drivers/firmware/efi/cper.c cper_estatus_print.
GHES = [
    "{1}[Hardware Error]: Hardware error from APEI Generic Hardware Error Source: 0",
    "{1}[Hardware Error]: It has been corrected by h/w and requires no further action",
    "{1}[Hardware Error]: event severity: corrected",
    "{1}[Hardware Error]:  Error 0, type: corrected",
    "{1}[Hardware Error]:   section_type: memory error",
]
# drivers/edac/sb_edac.c sbridge_mce_output_error (printed at debug level) + edac_mc.c's CE line.
EDAC = [
    "EDAC sbridge MC3: HANDLING MCE MEMORY ERROR",
    "EDAC sbridge MC3: CPU 0: Machine Check Event: 0 Bank 7: 8c00004000010090",
    "EDAC sbridge MC3: TSC 0 ",
    "EDAC MC3: 1 CE memory read error on CPU_SrcID#1_Ha#0_Chan#0_DIMM#0 (channel:0 slot:0 page:0x8b3f4 "
    "offset:0x400 grain:32 syndrome:0x0)",
]
# arch/x86/mm/fault.c show_fault_oops / page_fault_oops, arch/x86/kernel/dumpstack.c __die, kernel/panic.c.
OOPS_THEN_PANIC = [
    "BUG: kernel NULL pointer dereference, address: 0000000000000008",
    "#PF: supervisor read access in kernel mode",
    "Oops: 0000 [#1] PREEMPT SMP NOPTI",
    "Kernel panic - not syncing: Fatal exception",
]


def feed(
    alerter: LogAlerter, lines: list[str], start: float = 0.0, step: float = 0.1
) -> list[Alert]:
    out: list[Alert] = []
    for i, text in enumerate(lines):
        out += alerter.process(LogLine(text, kernel=True, source="kmsg"), start + i * step)
    return out


def one_report(lines: list[str]) -> Alert:
    alerter = LogAlerter(MATCHER)
    assert feed(alerter, lines) == []  # held for the window
    (alert,) = alerter.flush(2.0)
    assert alert.context["lines"].split("\n")[0] == lines[0]
    return alert


def test_an_aer_error_and_its_detail_lines_are_one_alert() -> None:
    alert = one_report(AER_6X)
    # The device's own "PCIe Bus Error" line names it; the port's header and the bits are context.
    assert alert.metric == "log_pcie_bus_error" and alert.labels == (("pci", "0000:03:00.0"),)
    assert alert.severity == Severity.WARN
    assert alert.context["lines"].split("\n") == AER_6X and alert.context["grouped_lines"] == 4


def test_a_310_aer_report_finds_its_device_by_requester_id() -> None:
    alert = one_report(AER_310)
    assert alert.severity == Severity.CRITICAL and alert.labels == (("pci", "0000:04:00.0"),)
    assert alert.context["lines"].split("\n") == AER_310


def test_an_oom_report_is_one_alert_named_by_the_kill() -> None:
    alert = one_report(OOM)
    assert alert.message.startswith("OOM killer killed postgres (pid 771)")
    assert alert.severity == Severity.CRITICAL
    # The lines that match nothing ("CPU: ...", "Mem-Info:") are not the report's evidence.
    assert alert.context["lines"].split("\n") == [OOM[0], OOM[3], OOM[4]]


def test_two_oom_kills_in_one_window_are_two_alerts() -> None:
    alerter = LogAlerter(MATCHER)
    second = [line.replace("771", "772") for line in OOM[3:]]
    alerts = feed(alerter, OOM + second) + alerter.flush(3.0)
    assert [dict(a.labels)["pid"] for a in alerts] == ["771", "772"]


def test_an_nvme_timeout_and_its_abort_reset_and_removal_are_one_alert() -> None:
    alerter = LogAlerter(MATCHER)
    other = "nvme nvme1: I/O 5 QID 2 timeout, aborting"  # another controller: its own alert
    assert feed(alerter, [*NVME[:2], other, *NVME[2:]]) == []
    assert alerter.flush(0.2 + NVME_GROUP_GAP - 0.1) == []  # NVMe reports stay open longer
    alerts = alerter.flush(0.5 + NVME_GROUP_GAP)  # nvme1's (quiet since 0.2) and nvme0's
    assert [a.labels for a in alerts] == [(("device", "nvme0"),), (("device", "nvme1"),)]
    first = alerts[0]
    assert first.metric == "log_nvme_reset_failed" and first.severity == Severity.CRITICAL
    assert first.context["lines"].split("\n") == NVME


def test_an_ata_exception_is_one_alert_that_the_unreadable_sector_makes_critical() -> None:
    alert = one_report(ATA)
    assert alert.metric == "log_ata_error" and alert.severity == Severity.CRITICAL
    assert alert.context["lines"].split("\n") == [ATA[0], *ATA[2:]]  # irq_stat is not evidence


def test_a_ghes_record_is_one_alert_and_its_severity_line_decides() -> None:
    alert = one_report(GHES)
    assert alert.severity == Severity.WARN and len(alert.context["lines"].split("\n")) == 5
    fatal = [line.replace("{1}", "{2}").replace("corrected", "fatal") for line in GHES[:3]]
    alert = one_report(fatal)
    assert alert.severity == Severity.CRITICAL and alert.metric == "log_hardware_error_uncorrected"


def test_an_edac_report_is_one_alert_named_by_its_ce_line() -> None:
    alert = one_report(EDAC)
    assert alert.metric == "log_edac_correctable" and alert.labels == (("mc", "MC3"),)
    assert alert.severity == Severity.WARN and alert.context["lines"].split("\n") == EDAC


def test_two_ghes_records_are_two_alerts() -> None:
    alerter = LogAlerter(MATCHER)
    second = [line.replace("{1}", "{2}") for line in GHES]
    feed(alerter, [line for pair in zip(GHES, second, strict=True) for line in pair])
    (first,) = alerter.flush(2.0)  # the second is a repeat of the same kind: aggregated
    assert first.context["lines"].split("\n") == GHES
    (repeat,) = alerter.flush(200.0)
    assert repeat.context["occurrences"] == 2


def test_a_panic_goes_out_at_once_with_the_oops_it_followed() -> None:
    alerter = LogAlerter(MATCHER)
    (panic,) = feed(alerter, OOPS_THEN_PANIC)  # no waiting for the window
    assert panic.severity == Severity.EMERGENCY and panic.metric == "log_kernel_panic"
    assert panic.context["lines"].split("\n") == [OOPS_THEN_PANIC[i] for i in (0, 2, 3)]
    # The end marker and the rest of the window fold into it; the oops is not sent again.
    end = "---[ end Kernel panic - not syncing: Fatal exception ]---"
    assert alerter.process(LogLine(end, True), 0.5) == []
    assert alerter.flush(5.0) == []


def test_a_panic_takes_in_the_machine_check_before_it() -> None:
    alerter = LogAlerter(MATCHER)
    mce = "mce: [Hardware Error]: CPU 2: Machine Check: 0 Bank 7: cc00008000010090"
    (panic,) = feed(alerter, [mce, "Kernel panic - not syncing: Fatal machine check"])
    assert panic.severity == Severity.EMERGENCY and panic.context["lines"].startswith(mce)
    assert alerter.flush(5.0) == []


def test_an_oops_without_a_panic_goes_out_when_the_window_ends() -> None:
    alerter = LogAlerter(MATCHER)
    assert feed(alerter, OOPS_THEN_PANIC[:3]) == []
    assert alerter.flush(1.9) == []
    (oops,) = alerter.flush(2.0)
    assert oops.severity == Severity.CRITICAL and oops.metric == "log_kernel_oops"


def test_a_report_whose_lines_are_far_apart_is_two_events() -> None:
    alerter = LogAlerter(MATCHER)
    feed(alerter, ATA[:1])
    (early,) = feed(alerter, ATA[5:], start=2.5)  # the window of the first ended
    assert early.metric == "log_ata_exception" and "lines" not in early.context
    # NVMe's window is a quiet gap: a line that comes after it starts another event.
    feed(alerter, NVME[:1], start=10)
    (early,) = feed(alerter, NVME[3:4], start=10 + NVME_GROUP_GAP + 1)
    assert early.metric == "log_nvme_timeout" and "lines" not in early.context


# One NVMe event as the kernel spaces it (drivers/nvme/host/pci.c nvme_timeout, abort_endio,
# nvme_remove_dead_ctrl; core.c nvme_wait_ready; block/genhd.c): the aborted command times out
# again after the I/O timeout (30 s), the reset waits CAP.TO (here 21 s) for the controller.
NVME_EVENT = [
    (0.0, "nvme nvme0: I/O 731 QID 3 timeout, aborting"),
    (0.002, "nvme nvme0: Abort status: 0x371"),
    (30.0, "nvme nvme0: I/O 731 QID 3 timeout, reset controller"),
    (51.0, "nvme nvme0: Device not ready; aborting reset, CSTS=0x1"),
    (51.001, "nvme nvme0: Removing after probe failure status: -19"),
    (51.01, "nvme0n1: detected capacity change from 1000204886016 to 0"),
]


def test_an_nvme_event_spread_over_a_minute_is_one_alert() -> None:
    alerter = LogAlerter(MATCHER)
    ata = [(1.0 + i * 0.1, line) for i, line in enumerate(ATA)]  # another family meanwhile
    out: list[Alert] = []
    for now, text in sorted(NVME_EVENT + ata):
        out += alerter.process(LogLine(text, kernel=True, source="kmsg"), now)
    # The ATA report went out at its own 2 s, the NVMe event is still open.
    assert [a.metric for a in out] == ["log_ata_error"]
    last = NVME_EVENT[-1][0]
    assert alerter.next_group_deadline() == last + NVME_GROUP_GAP
    assert alerter.flush(last + NVME_GROUP_GAP - 0.01) == []
    (alert,) = alerter.flush(last + NVME_GROUP_GAP)
    assert alert.metric == "log_nvme_reset_failed" and alert.labels == (("device", "nvme0"),)
    assert alert.severity == Severity.CRITICAL and alert.timestamp == 0.0
    assert alert.context["lines"].split("\n") == [text for _, text in NVME_EVENT]
    assert alerter.next_group_deadline() is None


def test_an_nvme_event_before_4_5_is_keyed_by_its_pci_device() -> None:
    # drivers/block/nvme-core.c (3.1x-4.2) printed on the PCI device, not on "nvme0".
    alerter = LogAlerter(MATCHER)
    lines = [
        (0.0, "nvme 0000:01:00.0: Aborting I/O 731 QID 3"),
        (30.0, "nvme 0000:01:00.0: I/O 731 QID 3 timeout, reset controller"),
        (30.5, "nvme 0000:01:00.0: Cancelling I/O 732 QID 3"),
        (30.6, "nvme 0000:02:00.0: Aborting I/O 5 QID 1"),  # another controller
    ]
    for now, text in lines:
        assert alerter.process(LogLine(text, kernel=True), now) == []
    first, other = alerter.flush(30.6 + NVME_GROUP_GAP)
    assert first.labels == (("pci", "0000:01:00.0"),) and first.context["grouped_lines"] == 3
    assert other.labels == (("pci", "0000:02:00.0"),) and "lines" not in other.context


def test_an_nvme_controller_that_keeps_timing_out_is_bounded() -> None:
    alerter = LogAlerter(MATCHER, aggregate_secs=0)
    out: list[Alert] = []
    for i in range(12):  # a timeout every 30 s for six minutes
        line = f"nvme nvme0: I/O {i} QID 3 timeout, aborting"
        out += alerter.process(LogLine(line, kernel=True), i * 30.0)
    out += alerter.flush(12 * 30.0)
    first, second = out
    assert (first.timestamp, second.timestamp) == (0.0, NVME_GROUP_BOUND)
    assert first.context["grouped_lines"] == NVME_GROUP_BOUND // 30


def test_benign_and_follow_up_lines_do_not_alert_or_join_on_their_own() -> None:
    alerter = LogAlerter(MATCHER)
    # Detail lines with no report open, and a benign AER line while one is open.
    assert feed(alerter, [AER_6X[2], AER_6X[3], ATA[2], ATA[4]]) == []
    assert alerter.flush(10.0) == []
    feed(alerter, [AER_6X[0], "pcieport 0000:00:1c.0: AER: enabled with IRQ 122"], start=20)
    (alert,) = alerter.flush(22.0)
    assert "lines" not in alert.context


def test_held_reports_are_bounded_and_the_oldest_goes_out_early() -> None:
    alerter = LogAlerter(MATCHER, max_groups=3)
    lines = [f"nvme nvme{i}: I/O 1 QID 1 timeout, aborting" for i in range(4)]
    out = feed(alerter, lines, step=0.0)
    assert [a.labels for a in out] == [(("device", "nvme0"),)]
    assert len(alerter._slow) == 3 and len(alerter._group_index) == 3


def test_a_long_report_carries_a_bounded_number_of_bounded_lines() -> None:
    alerter = LogAlerter(MATCHER)
    long_tail = " x" * 400
    lines = [f"nvme nvme0: I/O {i} QID 3 timeout, aborting{long_tail}" for i in range(30)]
    feed(alerter, lines, step=0.01)
    (alert,) = alerter.flush(0.29 + NVME_GROUP_GAP)
    carried = alert.context["lines"].split("\n")
    assert len(carried) == MAX_GROUP_LINES and alert.context["grouped_lines"] == 30
    assert all(len(line) == GROUP_LINE_CHARS for line in carried)
    assert alert.to_record()["context"]["lines"] == alert.context["lines"]  # survives the record


def test_flood_control_still_bounds_grouped_alerts() -> None:
    alerter = LogAlerter(MATCHER, flood_limit=2, aggregate_secs=120)
    alerts: list[Alert] = []
    for i in range(5):
        device = f"0000:{i + 3:02x}:00.0"
        alerts += feed(
            alerter, [line.replace("0000:03:00.0", device) for line in AER_6X], start=i * 3
        )
    alerts += alerter.flush(15.0) + alerter.flush(200.0)
    assert len([a for a in alerts if not a.context.get("flood")]) == 2
    (summary,) = [a for a in alerts if a.context.get("flood")]
    assert summary.value == 3.0


def test_a_worse_report_is_not_counted_as_a_repeat_of_a_milder_one() -> None:
    alerter = LogAlerter(MATCHER, aggregate_secs=120)
    feed(alerter, AER_6X)
    (corrected,) = alerter.flush(2.0)
    fatal = [
        "pcieport 0000:00:1c.0: AER: Uncorrectable (Fatal) error message received from 0000:03:00.0",
        "r8169 0000:03:00.0: AER: PCIe Bus Error: severity=Uncorrectable (Fatal), type=Transaction Layer, "
        "(Receiver ID)",
    ]
    feed(alerter, fatal, start=10)
    (worse,) = alerter.flush(12.0)
    assert (corrected.severity, worse.severity) == (Severity.WARN, Severity.CRITICAL)
    assert corrected.fingerprint == worse.fingerprint


def _watch_settings(tmp_path: Path) -> Settings:
    config = tmp_path / "agent.toml"
    config.write_text(
        f'[agent]\ndata_dir = "{tmp_path / "data"}"\nsysfs = "{tmp_path / "sys"}"\n'
        f'rootfs = "{tmp_path / "root"}"\n[log_analyzer]\nsources = []\nunclean_reboot_alert = false\n'
    )
    return load_config(str(config)).settings


def _first_report(tmp_path: Path, lines: list[str]) -> list[Alert]:
    """Emit kernel `lines` into a LogWatch with a 0.2 s grouping window; what is routed
    by the time the first report arrives (the watch closed after it: held ones too)."""
    settings = _watch_settings(tmp_path)

    async def run() -> list[Alert]:
        routed: list[Alert] = []
        arrived = asyncio.Event()

        def route(alert: Alert) -> None:
            routed.append(alert)
            arrived.set()

        watch = LogWatch(settings, route)
        watch.alerter.group_secs = 0.2
        for text in lines:
            watch.emit(LogLine(text, kernel=True, source="kmsg"))
        assert routed == []
        await asyncio.wait_for(arrived.wait(), timeout=10)
        watch.close()
        return routed

    return asyncio.run(run())


def test_the_watch_sends_a_held_report_when_its_window_ends(tmp_path: Path) -> None:
    """Without waiting for the next housekeeping tick (every 5 s)."""
    (alert,) = _first_report(tmp_path, OOM)
    assert alert.metric == "log_oom_kill" and len(alert.context["lines"].split("\n")) == 3


def test_a_report_due_sooner_is_not_kept_waiting_behind_a_held_nvme_event(tmp_path: Path) -> None:
    # NVMe's line is held for 45 s; the OOM report, due after 0.2 s, comes first, and the
    # clean close after it sends the held one.
    oom, nvme = _first_report(tmp_path, [NVME[0], *OOM])
    assert (oom.metric, nvme.metric) == ("log_oom_kill", "log_nvme_timeout")


def test_a_clean_stop_sends_the_reports_still_held(tmp_path: Path) -> None:
    routed: list[Alert] = []
    watch = LogWatch(_watch_settings(tmp_path), routed.append)
    for text in NVME:
        watch.emit(LogLine(text, kernel=True, source="kmsg"))
    assert routed == []
    watch.close()
    (alert,) = routed
    assert alert.metric == "log_nvme_reset_failed" and alert.context["grouped_lines"] == len(NVME)
