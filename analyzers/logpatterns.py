"""Kernel and system log patterns: a catalogue, a cheap matcher, and per-fingerprint aggregation.

Matching is built for the common case, a line that matches nothing: one scan
with a combined regular expression of literal keywords decides whether any
built-in pattern can apply, and one combined expression of the custom patterns
decides whether any of those can.  Only then do the candidate patterns run.
Kernel patterns apply only to kernel messages; custom ones to every line.

One line gives at most one alert: the most specific entry wins.  The
fingerprint is the pattern plus the labels it extracts (so an OOM kill does not
hide a filesystem error).  The first occurrence goes out at once; repeats
within `aggregate_secs` are counted and reported in one follow-up.  Flood
control bounds the rest: per pattern, at most `flood_limit` alerts a window,
then one "N more" summary (see `LogAlerter`).

Trust by source: a `LogLine` is `kernel` only when its source vouches for it
(/dev/kmsg facility 0, journald `_TRANSPORT=kernel`, a syslog file's `kernel:`
tag only when no kernel source is available).  Anyone can write "kernel:
NVRM: Xid 79" into a log file; only the kernel can put it there.  And a
genuine kernel line may quote what a user chose (a process's name, a file's
name): those spans are masked before any pattern reads the line
(`USER_TEXT`), so a process named "EDAC MC0: 1 UE" that segfaults is a
segfault, not a memory error.  Custom patterns keep the operator's severity:
the kernel's rules (`refine_severity`) are for the catalogue.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TypeAlias, TypeVar

from alerting.alert import Alert, Severity, Status, fingerprint
from common.search_bound import SearchBound

_K = TypeVar("_K")
_V = TypeVar("_V")

# NVIDIA Xid codes (from NVIDIA's Xid catalogue) whose severity is not the default warn.
XID_SEVERITY: Mapping[int, Severity] = {
    13: Severity.WARN,  # graphics engine exception (usually the application)
    31: Severity.WARN,  # GPU memory page fault (usually the application)
    43: Severity.WARN,  # GPU stopped processing (application)
    45: Severity.INFO,  # preemptive cleanup, after another error
    48: Severity.CRITICAL,  # double bit ECC error
    62: Severity.CRITICAL,  # internal micro-controller halt
    63: Severity.CRITICAL,  # ECC page retirement / row remapping event
    64: Severity.CRITICAL,  # ECC page retirement / row remapping failure
    74: Severity.CRITICAL,  # NVLink error
    79: Severity.EMERGENCY,  # GPU has fallen off the bus
    92: Severity.CRITICAL,  # high single-bit ECC error rate
    94: Severity.CRITICAL,  # contained ECC error
    95: Severity.EMERGENCY,  # uncontained ECC error
    119: Severity.CRITICAL,  # GSP RPC timeout (the GPU's firmware stopped answering)
    120: Severity.CRITICAL,  # GSP error
    140: Severity.CRITICAL,  # unrecovered ECC error
}


@dataclass(frozen=True)
class LogLine:
    """One log message, whichever source it came from."""

    text: str
    kernel: bool  # printed by the kernel, as far as the source can vouch (see the module doc)
    source: str = ""
    timestamp: float = 0.0
    level: int | None = (
        None  # the kernel's printk level (0 emerg .. 7 debug) where the source gives it
    )


@dataclass(frozen=True)
class LogPattern:
    name: str
    category: str
    severity: Severity
    regex: re.Pattern[str]
    keywords: tuple[str, ...]  # literal text one of which every match contains
    kernel_only: bool = True
    specificity: int = 0  # higher wins when several patterns match one line
    resolves: str | None = None  # a match resolves this pattern's alert (link up -> link down)
    stateful: bool = False  # firing until resolved (link down), not a one-off event
    classify: Callable[[re.Match[str]], Severity | None] | None = (
        None  # per-line severity; None = no alert
    )
    group: str | None = (
        None  # the family of a multi-line report this line belongs to (see `LogAlerter`)
    )
    head: bool = False  # starts a report: a second head for the same identity is another event
    headline: int = 0  # among a report's lines of equal severity, the highest names the alert
    # Whether the kernel's level may raise a warning (refine_severity): not where the row knows
    # better than a level the kernel prints everything of its kind at (3.10's KERN_CRIT throttle,
    # memory-failure's pr_err for a page retired as a precaution).
    level_raises: bool = True
    # What in the line sets the level of a row with `classify`, as the message's why says it
    # ("the log catalogue's level for gpu_xid, by <level_by>").
    level_by: str = ""


def _p(
    name: str,
    category: str,
    severity: Severity,
    pattern: str,
    keywords: tuple[str, ...],
    **kw: object,
) -> LogPattern:
    return LogPattern(name, category, severity, re.compile(pattern), keywords, **kw)  # type: ignore[arg-type]


# Xid 154 (550+): "GPU recovery action changed from 0x0 (None) to 0x2 (Node Reboot Required)".
_XID_RECOVERY = re.compile(
    r"recovery action changed from 0x[0-9a-fA-F]+ \([^)]*\) to 0x(?P<to>[0-9a-fA-F]+)"
)


def _xid_severity(match: re.Match[str]) -> Severity:
    """The Xid table, raised by what the driver's text says (a code new to the table says it too)."""
    severity = XID_SEVERITY.get(int(match.group("xid")), Severity.WARN)
    text = match.string
    if "fallen off the bus" in text:
        return Severity.EMERGENCY
    recovery = _XID_RECOVERY.search(text)
    if recovery is not None:
        # Any action but none ("OS Reboot", "Node Reboot Required", "GPU Reset Required", "Drain P2P",
        # "PF FLR") needs someone; back to 0x0 (None) means the GPU recovered.
        return Severity.CRITICAL if int(recovery.group("to"), 16) else Severity.INFO
    if "Fatal" in text or "fatal" in text or "Reset Required" in text or "Reboot Required" in text:
        return max(severity, Severity.CRITICAL)  # Xid 154 says what recovery the GPU needs
    return severity


# __print_mce (4.x+): "CPU %d: Machine Check%s: %Lx Bank %d: %016Lx", " Exception" when MCG_STATUS.MCIP.
_MCE_STATUS = re.compile(
    r"Machine Check(?P<exception> Exception)?: [0-9a-fA-F]+ Bank \d+: (?P<status>[0-9a-fA-F]{16})"
)
_MCI_STATUS_UC = 1 << 61


def _hardware_severity(text: str, uncorrected: bool) -> Severity | None:
    """[Hardware Error] lines: GHES/CPER name the severity, AMD's decoder says corrected or not.

    The row for uncorrected lines takes the critical ones, the other row the rest.
    """
    lowered = text.lower()
    severity = Severity.WARN
    if "event severity: info" in lowered:
        severity = Severity.INFO
    elif (
        "uncorrect" in lowered
        or "fatal" in lowered
        or "recoverable" in lowered
        or "|ue|" in lowered
    ):
        severity = Severity.CRITICAL  # "|UE|": mce_amd.c's MC%d_STATUS[...] decode of the UC bit
    elif (status := _MCE_STATUS.search(text)) is not None:
        # 3.10's unprefixed print_mce says "Exception" whatever the error: the bank's UC bit decides.
        if int(status.group("status"), 16) & _MCI_STATUS_UC:
            severity = Severity.CRITICAL
    elif "machine check:" in lowered:
        severity = Severity.CRITICAL  # mce_panic's "Machine check: <reason>"
    if uncorrected != (severity == Severity.CRITICAL):
        return None
    return severity


def _mce_severity(text: str) -> Severity:
    """An "mce: [Hardware Error]: " line: critical when the error was not corrected.

    The bank's status says so (MCi_STATUS.UC, bit 61); a machine check exception and
    mce_panic's "Machine check: <reason>" are critical too.  The rest of a report
    (RIP, TSC, PROCESSOR, "Run the above through 'mcelog --ascii'") is a warning, so a
    corrected error's report stays a warning.
    """
    status = _MCE_STATUS.search(text)
    if status is not None:
        uncorrected = status.group("exception") or int(status.group("status"), 16) & _MCI_STATUS_UC
        return Severity.CRITICAL if uncorrected else Severity.WARN
    if "Machine check: " in text or "Some CPUs didn't answer" in text:
        return Severity.CRITICAL
    return Severity.WARN


def _memory_failure_severity(match: re.Match[str]) -> Severity:
    """mm/memory-failure.c speaks for both kinds of page loss: an uncorrected error (hard
    offline: "recovery action for ...", a process sent SIGBUS: critical) and a page retired as a
    precaution after corrected errors (soft offline: a warning), whose outcomes it prints
    without saying so since the "soft offline: " prefix went (6.x)."""
    text = match.string
    if any(hard in text for hard in _HARD_OFFLINE):
        return Severity.CRITICAL
    return Severity.WARN if any(soft in text for soft in _SOFT_OFFLINE) else Severity.CRITICAL


_HARD_OFFLINE = ("recovery action for", "SIGBUS", "hardware poisoned")
_SOFT_OFFLINE = (
    "soft offline",
    "unhandlable page",
    "page already poisoned",
    ": invalidated",
    "thp split failed",
    "migration failed",
    "isolation failed",
    "hugetlb page is ignored",
)


def _ata_severity(flags: str) -> Severity:
    """libata's error register: UNC/IDNF/AMNF are unreadable media; ICRC/ABRT are link or command trouble."""
    return Severity.CRITICAL if {"UNC", "IDNF", "AMNF"} & set(flags.split()) else Severity.WARN


def _aer_severity(text: str) -> Severity:
    """aer_error_severity_string[]: "Corrected" (up to 6.x) or "Correctable" (newer) are warnings."""
    return Severity.WARN if text.startswith("Correct") else Severity.CRITICAL


# Kernel log levels (printk KERN_*): 0 emerg, 1 alert, 2 crit, 3 err, 4 warning, ... 7 debug.
_LEVEL_CRIT = 2
_LEVEL_ERR = 3


def refine_severity(
    pattern: LogPattern, severity: Severity, line: LogLine, text: str | None = None
) -> Severity:
    """The catalogue's severity, adjusted by the line's content and the kernel's own level
    (`refined`, without its reason)."""
    return refined(pattern, severity, line, text)[0]


_LEVEL_NAMES = ("emerg", "alert", "crit", "err")  # printk's KERN_EMERG .. KERN_ERR


def refined(
    pattern: LogPattern, severity: Severity, line: LogLine, text: str | None = None
) -> tuple[Severity, str]:
    """The catalogue's severity, adjusted by the line's content and the kernel's own level,
    and why, when a rule here raised it ("" when the catalogue's level stands).

    The rules (docs/DESIGN.md, "Logs"): any "Kernel panic - not syncing" is an
    emergency; "data will be lost" and a crash of PID 1 are critical; a GPU line
    saying "fallen off the bus" is an emergency and one saying "Fatal" critical.
    The kernel level only raises a warning, never lowers: printed at crit or
    worse (KERN_CRIT/ALERT/EMERG) it is critical, and so is a hardware error
    printed at err (GHES prints corrected records at warning, others at err),
    unless the text says the error was corrected (AMD's decoder prints every
    report at emerg), or the row knows better (`level_raises`).  `text`: the line with what a user chose masked
    (`mask_user_text`), so that a process named "Kernel panic - not syncing"
    or "x[1]" raises nothing.
    """
    text = mask_user_text(line.text) if text is None else text
    given, why = severity, ""
    if "Kernel panic - not syncing" in text:
        return Severity.EMERGENCY, "" if given == Severity.EMERGENCY else _PANIC_SAYS
    if pattern.category == "gpu" and "fallen off the bus" in text:
        return Severity.EMERGENCY, "" if given == Severity.EMERGENCY else _OFF_THE_BUS
    if "ata will be lost" in text and severity < Severity.CRITICAL:  # "Data"/"data will be lost"
        severity, why = Severity.CRITICAL, "the line says data will be lost"
    if (
        pattern.category in ("segfault", "process")
        and "[1]" in text
        and severity < Severity.CRITICAL
    ):
        severity, why = Severity.CRITICAL, "the line is about PID 1"
    level = line.level
    raised_by_level = (
        pattern.level_raises
        and level is not None
        and (level <= _LEVEL_CRIT or (level <= _LEVEL_ERR and pattern.category == "hardware"))
    )
    if raised_by_level and severity == Severity.WARN and "orrected" not in text:
        severity = Severity.CRITICAL
        why = (
            f"the kernel printed it at {_LEVEL_NAMES[level or 0]}, which raises the log "
            f"catalogue's warn for {pattern.name}"
        )
    return severity, why


_PANIC_SAYS = 'the line says "Kernel panic - not syncing"'
_OFF_THE_BUS = "the line says the GPU has fallen off the bus"


_PCI = r"[0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-9a-fA-F]"
# Names are bounded (a kernel name is 15 bytes, 60 characters escaped): an unbounded one,
# tried from every start in a long run of word characters, took O(n²) (0.3 s for 8 KB).
_IFACE = r"(?P<interface>[A-Za-z][\w.-]{0,62}\d)"
# What an AER header says about the device that sent the message (optional: matched or not, the row applies).
_AER_FROM = rf"(?: (?:message )?received(?: from|:) (?:id=(?P<source_id>[0-9a-fA-F]{{4}})|(?P<source>{_PCI})))?"

BUILTIN: tuple[LogPattern, ...] = (
    # -- panics and oopses: whatever caused them, the kernel is gone or damaged.
    _p("kernel_panic", "kernel", Severity.EMERGENCY, r"Kernel panic - not syncing: ?(?P<reason>.*)",
       ("Kernel panic - not syncing",), specificity=9, group="panic"),
    _p("kernel_oops", "kernel", Severity.CRITICAL,
       r"^(?:Oops: |BUG: unable to handle (?:kernel |page fault for address)|BUG: kernel NULL pointer dereference|kernel BUG at |"
       r"general protection fault(?:, probably for non-canonical address 0x[0-9a-f]+)?: [0-9a-f]{4} \[#|Unable to handle kernel (?:NULL pointer dereference|paging request)|"
       r"(?:divide error|invalid opcode|stack segment|double fault|segment not present|invalid TSS|alignment check|bounds): [0-9a-f]{4} \[#)",
       ("Oops: ", "BUG: unable to handle", "BUG: kernel NULL pointer", "BUG at ", "general protection",
        "Unable to handle kernel", "ivide error: ", "invalid opcode: ", "stack segment: ", "fault: ",
        "segment not present: ", "invalid TSS: ", "lignment check: ", "bounds: "), specificity=2, group="oops"),
    # WARN()/WARN_ON(): the kernel caught its own bug and went on.  3.1x "WARNING: CPU: 2 PID: 0 at
    # net/sched/sch_generic.c:300 dev_watchdog+0x248/0x260()", 4.x+ without the "()", older "WARNING: at ...".
    # mm/page_alloc.c bad_page (memory corruption, often the hardware's) and kernel/sched/core.c __schedule_bug.
    _p("kernel_bug", "kernel", Severity.CRITICAL, r"^BUG: Bad page state in process (?P<process>.+?)\s+pfn:",
       ("BUG: Bad page state",), specificity=2),
    # mm/memory.c print_bad_pte: a page table entry pointing at nonsense (corruption, often the hardware's).
    _p("kernel_bug", "kernel", Severity.CRITICAL, r"^BUG: Bad page map in process (?P<process>.+?)\s+pte:",
       ("BUG: Bad page map",), specificity=2),
    _p("kernel_bug", "kernel", Severity.WARN, r"^BUG: scheduling while atomic: (?P<process>.+?)/(?P<pid>\d+)/0x",
       ("BUG: scheduling while atomic",), specificity=2),
    _p("kernel_warning", "kernel", Severity.WARN, r"^WARNING: (?:CPU: \d+ PID: \d+ at |at |\S+:\d+ at )\S",
       ("WARNING: ",), specificity=1),
    # -- OOM: the kernel prints both lines for one kill; same name, same labels: one alert.
    # 3.10-5.0 "Kill process N (comm) score N or sacrifice child"; 5.1+ "Killed process N (comm) total-vm:...".
    _p("oom_kill", "oom", Severity.CRITICAL,
       r"^(?:Memory cgroup out of memory|Out of memory(?: \(oom_kill_allocating_task\))?): Kill(?:ed)? process (?P<pid>\d+) \((?P<process>[^)]*)\)",
       ("out of memory: Kill", "Out of memory: Kill", "Out of memory (oom_kill_allocating_task)"), specificity=2,
       group="oom", headline=2),
    # 3.10-5.0 print the kill itself on a line of its own; 2.6.32 (RHEL 6) "Killed process N, UID N, (comm)".
    _p("oom_kill", "oom", Severity.CRITICAL, r"^Killed process (?P<pid>\d+)(?:, UID \d+,)? \((?P<process>[^)]*)\)",
       ("Killed process",), specificity=2, group="oom", headline=2),
    _p("oom_kill", "oom", Severity.CRITICAL,
       r"^oom-kill:constraint=[^,]*,.*?task=(?P<process>[^,]*),pid=(?P<pid>\d+)", ("oom-kill",), specificity=2,
       group="oom", headline=1),
    _p("oom_invoked", "oom", Severity.CRITICAL, r"^(?P<process>.+?) invoked oom-killer: gfp_mask=",
       ("oom-kill",), specificity=2, group="oom", head=True),
    _p("oom_memcg_limit", "oom", Severity.CRITICAL, r"^Task in (?P<cgroup>\S+) killed as a result of limit of",
       ("Task in ",), specificity=2, group="oom"),
    # An allocation the kernel could not satisfy (no kill): 3.10 "java: page allocation failure: order:4, mode:0x10c0d0",
    # 4.x+ "...: order:4, mode:0x40cc0(GFP_KERNEL|__GFP_COMP), nodemask=(null)".
    _p("page_alloc_failure", "memory", Severity.WARN, r"^(?P<process>.+?): page allocation failure: order:\d+",
       ("page allocation failure",), specificity=2),
    # -- hardware
    _p("edac_uncorrectable", "hardware", Severity.CRITICAL, r"EDAC (?:\w+ )?(?P<mc>MC\d+): (?:\d+ )?UE\b", ("EDAC",), specificity=3,
       group="edac", headline=1),
    _p("edac_correctable", "hardware", Severity.WARN, r"EDAC (?:\w+ )?(?P<mc>MC\d+): (?:\d+ )?CE\b", ("EDAC",), specificity=3,
       group="edac", headline=1),
    # i7core_edac.c with unregistered DIMMs counts corrected errors itself: "EDAC i7core: New Corrected error(s): ...".
    _p("edac_correctable", "hardware", Severity.WARN, r"EDAC i7core: New Corrected error\(s\)", ("New Corrected error",),
       specificity=3, group="edac"),
    _p("edac_mce", "hardware", Severity.WARN, r"EDAC (?:\w+ )?(?P<mc>MC\d+): HANDLING MCE MEMORY ERROR",
       ("HANDLING MCE MEMORY ERROR",), specificity=3, group="edac", head=True),
    # 4.x+ (pr_fmt "mce: "): the bank status decides (corrected errors are printed too); "Machine check
    # events logged" is machine_check_logged's.
    _p("machine_check", "hardware", Severity.CRITICAL, r"mce: \[Hardware Error\]: (?!Machine check events logged)",
       ("Hardware Error",), specificity=2, classify=lambda m: _mce_severity(m.string), group="hardware",
       level_by="what the machine check says: not corrected, an exception, or the panic it caused"),
    # Printed for every logged machine check, corrected ones included: a warning (the [Hardware Error] rows lose).
    _p("machine_check_logged", "hardware", Severity.WARN, r"Machine check events logged", ("Machine check events",),
       specificity=2),
    # GHES/CPER records ("{N}[Hardware Error]: ..."), AMD's MCE decoder, 3.10's unprefixed MCE lines.
    # One row per side of the line so that a fatal record is not counted as a repeat of a corrected one.
    # "{N}" is ghes.c's record sequence number: the lines of one record share it (the group's key).
    _p("hardware_error", "hardware", Severity.WARN, r"(?:\{(?P<record>\d+)\})?\[Hardware Error\]: ", ("Hardware Error",),
       specificity=1, classify=lambda m: _hardware_severity(m.string, uncorrected=False), group="hardware",
       level_by="the severity the record names"),
    _p("hardware_error_uncorrected", "hardware", Severity.CRITICAL, r"(?:\{(?P<record>\d+)\})?\[Hardware Error\]: ",
       ("Hardware Error",), specificity=1, classify=lambda m: _hardware_severity(m.string, uncorrected=True),
       group="hardware", level_by="the severity the record names: uncorrected or fatal"),
    # arch/x86/kernel/nmi.c: the chipset's SERR/IOCHK NMIs (platform firmware reporting a hardware error),
    # and NMIs nobody claimed.
    _p("nmi_error", "hardware", Severity.CRITICAL,
       r"NMI: (?:PCI system error \(SERR\)|IOCK error \(debug interrupt\?\)) for reason [0-9a-f]{2} on CPU \d+",
       ("NMI: PCI system error", "NMI: IOCK error"), specificity=2),
    _p("nmi_error", "hardware", Severity.WARN, r"Uhhuh\. NMI received for unknown reason [0-9a-f]{2} on CPU \d+",
       ("Uhhuh. NMI",), specificity=2),
    _p("memory_failure", "hardware", Severity.CRITICAL, r"(?:Memory failure: |MCE )(?P<pfn>0x[0-9a-fA-F]+): ",
       ("Memory failure: ", "MCE 0x"), specificity=3, classify=_memory_failure_severity, level_raises=False,
       level_by="what it says of the page: lost to an uncorrected error, not retired as a precaution"),
    # drivers/ras/cec.c: corrected errors kept hitting one page, which the kernel retires before it fails.
    _p("memory_soft_offline", "hardware", Severity.WARN, r"RAS: Soft-offlining pfn: (?P<pfn>0x[0-9a-fA-F]+)",
       ("offlining pfn",), specificity=3, level_raises=False),
    # arch/x86/kernel/cpu/mce/intel.c: so many corrected errors that the kernel stops taking their
    # interrupts and polls (a failing DIMM or cache; per-error reports stop meanwhile).
    _p("cmci_storm", "hardware", Severity.WARN, r"CMCI storm detected", ("CMCI storm detected",), specificity=2,
       level_raises=False),
    _p("memory_failure", "hardware", Severity.CRITICAL,
       r"MCE: Killing (?P<process>.+?):(?P<pid>\d+) due to hardware memory corruption", ("MCE: Killing",), specificity=3),
    # -- thermal: the CPU slows itself to survive its heat, or the host powers off to.
    # arch/x86/kernel/cpu/mce/therm_throt.c: 3.10-5.5 "CPU%d: %s temperature above threshold, cpu clock throttled
    # (total events = %lu)" (KERN_CRIT), 5.6+ "... temperature is above threshold, cpu clock is throttled ..."
    # (pr_warn).  Printed for every CPU of a package: no CPU in the identity, one alert and its count.
    _p("cpu_throttled", "thermal", Severity.WARN,
       r"CPU\d+: (?:Core|Package) temperature (?:is )?above threshold, cpu clock (?:is )?throttled",
       ("cpu clock",), specificity=2, level_raises=False),
    # drivers/thermal/thermal_core.c: a thermal zone past its critical trip point; the kernel powers the host off.
    # 3.10 "Critical temperature reached(%d C),shutting down", then "critical temperature reached(%d C),shutting
    # down", "... reached (%d C), shutting down", 5.12+ "%s: critical temperature reached, shutting down", newest
    # without ", shutting down" and kernel/reboot.c's "HARDWARE PROTECTION shutdown (Temperature too high)" after.
    _p("thermal_shutdown", "thermal", Severity.CRITICAL, r"[Cc]ritical temperature reached",
       ("critical temperature reached", "Critical temperature reached"), specificity=3),
    _p("hardware_protection_shutdown", "thermal", Severity.CRITICAL, r"HARDWARE PROTECTION (?:shutdown|reboot) \(",
       ("HARDWARE PROTECTION",), specificity=3),
    # -- clocks and kernel limits
    # kernel/time/clocksource.c: the TSC drifted against the watchdog clock; time falls back to a slower clock.
    _p("clocksource_unstable", "kernel", Severity.WARN, r"Marking clocksource '(?P<clocksource>[\w-]+)' as unstable",
       ("Marking clocksource",), specificity=2),
    _p("clocksource_unstable", "kernel", Severity.WARN, r"Clocksource (?P<clocksource>[\w-]+) unstable \(delta",
       ("Clocksource ",), specificity=2),
    # fs/file_table.c: the system-wide table of open files is full; every open() fails with ENFILE.
    _p("file_max", "kernel", Severity.CRITICAL, r"VFS: file-max limit \d+ reached", ("file-max limit",), specificity=2),
    # kernel/audit.c: audit records are being lost (or, with audit=2, the kernel panics).
    _p("audit_backlog", "kernel", Severity.WARN, r"audit: (?:backlog limit exceeded|audit_lost=\d+ audit_rate_limit=)",
       ("backlog limit exceeded", "lost="), specificity=2),
    # kernel/irq/spurious.c: an interrupt nobody handles; the kernel disables it (the device behind it goes quiet).
    _p("irq_disabled", "kernel", Severity.WARN, r"irq (?P<irq>\d+): nobody cared", ("cared (try booting",), specificity=2),
    # -- IOMMU: a device's DMA to an address it may not touch (a driver or device fault; often before a hang).
    # drivers/iommu/intel/dmar.c dmar_fault_do_one (4.x+ "DMAR: [%s] Request device [%02x:%02x.%d]", 5.x+ with
    # " NO_PASID" or "PASID %x"), amd_iommu "Event logged [IO_PAGE_FAULT device=... | on the device".
    _p("iommu_fault", "iommu", Severity.WARN,
       r"DMAR: ?\[(?:DMA (?:Read|Write)|INTR-REMAP)[^\]]{0,20}\] Request device \[(?P<pci>[0-9a-fA-F]{2,4}:[0-9a-fA-F]{2}\.[0-9a-fA-F])\]",
       ("Request device [",), specificity=2),
    _p("iommu_fault", "iommu", Severity.WARN,
       rf"(?:(?P<pci>{_PCI}): )?AMD-Vi: Event logged \[IO_PAGE_FAULT", ("IO_PAGE_FAULT",), specificity=2),
    # -- GPU
    _p("gpu_xid", "gpu", Severity.WARN,
       r"NVRM: Xid \((?P<pci>(?:PCI:)?[0-9a-fA-F:.]+)(?: GPU-C?I:\d+)*\): (?P<xid>\d+),(?: pid=(?P<pid>\d+|'<unknown>'),)?(?: name=(?P<process>[^,]*),)?",
       ("NVRM: Xid",), specificity=5, classify=_xid_severity,
       level_by="its Xid code in NVIDIA's catalogue and the driver's words"),
    # NVSwitch (HGX NVLink fabric): "nvidia-nvswitch%d: SXid (PCI:%04x:%02x:%02x.%x): %05d, Fatal, ..." or "Non-fatal".
    _p("gpu_nvswitch_sxid", "gpu", Severity.WARN,
       r"nvidia-nvswitch\d+: SXid \((?P<pci>PCI:[0-9a-fA-F:.]+)\): (?P<sxid>\d+), (?P<sxid_kind>Fatal|Non-fatal)",
       ("Xid (PCI:",), specificity=5, classify=lambda m: Severity.CRITICAL if m.group("sxid_kind") == "Fatal" else Severity.WARN,
       level_by="the SXid being Fatal"),
    _p("gpu_ecc_dbe", "gpu", Severity.CRITICAL, r"NVRM: .*\bDBE \(double bit error\)", ("DBE",), specificity=4),
    _p("gpu_fallen_off_bus", "gpu", Severity.EMERGENCY, r"NVRM: (?:GPU (?P<pci>[0-9a-fA-F:.]+): )?.*fallen off the bus",
       ("NVRM: ",), specificity=4),
    _p("gpu_init_failed", "gpu", Severity.CRITICAL,
       r"NVRM: (?:GPU (?P<pci>[0-9a-fA-F:.]+)(?: / [0-9a-fA-F:.]+)?: )?(?:RmInitAdapter failed|rm_init_adapter(?:\(\d+\))? failed)",
       ("NVRM: ",), specificity=4),
    _p("gpu_init_failed", "gpu", Severity.CRITICAL, r"NVRM: The NVIDIA probe routine failed for \d+ device",
       ("NVRM: ",), specificity=4),
    # nv_gpu_ops.c nvGpuOpsReportFatalError: sets the system-wide "reboot required" recovery action.
    _p("gpu_uvm_fatal", "gpu", Severity.CRITICAL, r"NVRM: .*uvm encountered global fatal error", ("NVRM: ",), specificity=4),
    _p("gpu_gsp_timeout", "gpu", Severity.CRITICAL,
       r"NVRM: .*(?:[Hh]eartbeat.*?[Tt]imed? ?out|Timeout after \d+m?s of waiting for RPC response|GSP Timeout|"
       r"sanity check failed 0x[0-9a-fA-F]+ waiting for RPC response from GSP)",
       ("NVRM: ",), specificity=4),
    # -- file systems
    _p("fs_error", "filesystem", Severity.CRITICAL,
       r"(?:EXT[234]-fs error|BTRFS:? (?:error|critical)) \(device (?P<device>[^):\s]+)[^)]*\)",
       ("-fs error", "BTRFS"), specificity=3),
    # Data ("csum failed root ...") and metadata ("[sda2 ]checksum verify failed on [logical ]N ...") checksums.
    _p("fs_error", "filesystem", Severity.CRITICAL,
       r"BTRFS \w+ \(device (?P<device>[^):\s]+)[^)]*\): (?:csum failed|(?:\S+ )?checksum verify failed on)",
       ("BTRFS",), specificity=3),
    _p("fs_transaction_aborted", "filesystem", Severity.CRITICAL,
       r"(?:BTRFS|btrfs)(?: \w+ \(device (?P<device>[^):\s]+)[^)]*\))?: (?:Transaction aborted \(error -?\d+\)|Skipping commit of aborted transaction)",
       ("BTRFS", "btrfs: Transaction"), specificity=3),
    _p("fs_readonly", "filesystem", Severity.CRITICAL,
       r"(?:EXT[234]-fs \((?P<device>[^)\s]+)\): )?Remounting filesystem read-only", ("Remounting filesystem read-only",), specificity=3),
    _p("fs_readonly", "filesystem", Severity.CRITICAL, r"BTRFS \w+ \(device (?P<device>[^):\s]+)[^)]*\): forced readonly",
       ("BTRFS",), specificity=3),
    _p("fs_data_loss", "filesystem", Severity.CRITICAL,
       r"EXT4-fs \((?P<device>[^)\s]+)\): (?:This should not happen!! Data will be lost|Delayed block allocation failed|"
       r"I/O error while writing superblock|previous I/O error to superblock detected|"
       r"failed to convert unwritten extents to written extents -- potential data loss)",
       ("EXT4-fs (",), specificity=3),
    _p("fs_data_loss", "filesystem", Severity.CRITICAL, r"EXT4-fs warning \(device (?P<device>[^)\s]+)\): ext4_end_bio:\d+: I/O error",
       ("EXT4-fs warning",), specificity=3),
    _p("fs_journal_error", "filesystem", Severity.CRITICAL,
       r"JBD2: (?:Invalid checksum|.*[Cc]hecksum error|journal transaction \d+ on (?P<device>\S+) is corrupt|Detected IO errors|"
       r"Error -?\d+ detected when updating journal superblock|IO error|I/O error|.*recovery failed)", ("JBD2: ",), specificity=3),
    _p("fs_journal_error", "filesystem", Severity.CRITICAL, r"Aborting journal on device (?P<device>\S+?)\.?$",
       ("Aborting journal",), specificity=3),
    _p("fs_corruption", "filesystem", Severity.CRITICAL, r"XFS \((?P<device>[^)\s]+)\): Corruption", ("Corruption",), specificity=3),
    _p("fs_corruption", "filesystem", Severity.CRITICAL,
       r"XFS \((?P<device>[^)\s]+)\): (?:Metadata (?:corruption|CRC error) detected|metadata I/O error|[Ll]og I/O [Ee]rror|"
       r"Internal error|xfs_do_force_shutdown|(?!User initiated shutdown).*[Ss]hutting down filesystem|Filesystem has been shut down|"
       r"xfs_log_force: error|.*returned error -\d+|writeback error|Unmount and run xfs_repair|"
       r"Please u(?:n)?mount the filesystem,? and rectify|First \d+ bytes of corrupted metadata buffer)",
       ("XFS (",), specificity=3),
    # fs/xfs/kmem.c: an allocation XFS cannot do without keeps failing; its I/O threads stall (RHEL 7's classic).
    _p("fs_alloc_deadlock", "filesystem", Severity.WARN, r"XFS: (?:.*\(\d+\) )?possible memory allocation deadlock",
       ("possible memory allocation deadlock",), specificity=3),
    # fs/ext4/super.c print_daily_error_info: the file system holds errors no fsck has repaired (at mount, then daily).
    _p("fs_unrepaired", "filesystem", Severity.WARN, r"EXT4-fs \((?P<device>[^)\s]+)\): error count since last fsck: [1-9]",
       ("since last fsck",), specificity=3),
    # net/sunrpc/clnt.c call_timeout: an NFS (or lockd, mount) server stopped answering; "timed out" is a soft
    # mount's I/O failing with EIO, "still trying" a hard mount's processes hanging until it answers.
    _p("nfs_not_responding", "filesystem", Severity.WARN,
       r"^(?P<rpc>[\w-]{1,32}): server (?P<server>\S{1,255}) not responding, (?:still trying|timed out)",
       ("ot responding, ",), specificity=3,
       classify=lambda m: Severity.CRITICAL if m.string.endswith("timed out") else Severity.WARN,
       level_by="\"timed out\": a soft mount's I/O failing"),
    # fs/smb/client (fs/cifs before 6.x) connect.c server_unresponsive: 5.x+ "CIFS: VFS: \\host has not
    # responded in %lu seconds. Reconnecting...", before "CIFS VFS: Server %s has not responded ...".
    _p("cifs_not_responding", "filesystem", Severity.WARN,
       r"CIFS:? VFS: (?:\\\\|Server )(?P<server>\S{1,255}) has not responded in \d+ seconds",
       ("ot responded in",), specificity=3),
    # Not the floppy or CD-ROM drives VMs probe at boot (as block_io_error below).
    _p("buffer_io_error", "filesystem", Severity.CRITICAL, r"Buffer I/O error on dev(?:ice)? (?!fd\d|sr\d|loop\d)(?P<device>[^,\s]+)",
       ("Buffer I/O error",), specificity=2),
    # -- NVMe and block devices
    # 4.x-6.5 "I/O 123 QID 4 timeout"; 6.6+ "I/O tag 123 (007b) opcode 0x2 (Read) QID 4 timeout".
    # ", completion polled": the command had completed, its interrupt was missed (a warning).
    # Before 4.5 the driver printed on the PCI device ("nvme 0000:01:00.0: ..."), not the controller.
    _p("nvme_timeout", "block", Severity.CRITICAL,
       rf"nvme (?:(?P<device>nvme\d+)|(?P<pci>{_PCI})): I/O (?:tag )?\d+ (?:\(\w+\) opcode \S+ \([^)]*\) )?QID \d+ timeout",
       ("QID",), specificity=3,
       classify=lambda m: Severity.WARN if "completion polled" in m.string else Severity.CRITICAL, group="nvme",
       level_by="the command having timed out, not completed with its interrupt missed"),
    # 3.1x-4.2 nvme-core.c: "Aborting I/O 5 QID 1" (the timeout's abort), "Timeout I/O 5 QID 1" (3.19+), "Could not
    # abort I/O"; "Cancelling I/O" is each command a reset or teardown cancels (a warning: the timeout said why).
    _p("nvme_timeout", "block", Severity.CRITICAL,
       rf"nvme (?P<pci>{_PCI}): (?:Timeout|Aborting|Could not abort) I/O \d+ QID \d+", ("QID",), specificity=3,
       group="nvme"),
    _p("nvme_abort", "block", Severity.WARN, rf"nvme (?P<pci>{_PCI}): Cancelling I/O \d+ QID \d+", ("QID",), specificity=3,
       group="nvme"),
    _p("nvme_reset", "block", Severity.CRITICAL, r"nvme (?P<device>nvme\d+): controller is down; will reset", ("controller is down",), specificity=3, group="nvme"),
    _p("nvme_reset_failed", "block", Severity.CRITICAL,
       rf"nvme (?:(?P<device>nvme\d+)|(?P<pci>{_PCI})): (?:Device not ready; aborting (?:reset|initialisation)|Removing after probe failure|"
       r"Disabling device after reset failure)",
       ("Device not ready; aborting", "Removing after probe failure", "Disabling device after"), specificity=3,
       group="nvme", headline=1),
    _p("nvme_reset", "block", Severity.CRITICAL,
       r"nvme (?P<device>nvme\d+): (?:frozen state error detected, reset controller|resetting controller due to)",
       ("frozen state error", "controller due to"), specificity=3, group="nvme"),
    _p("nvme_abort", "block", Severity.WARN, r"nvme (?P<device>nvme\d+): Abort status: 0x[0-9a-fA-F]+", ("Abort status",), specificity=3, group="nvme"),
    _p("nvme_critical_warning", "block", Severity.CRITICAL, r"nvme (?P<device>nvme\d+): .*critical_warning", ("critical_warning",), specificity=3),
    # Physical disks only: loop, md and dm devices shrink to 0 when detached or stopped on purpose.
    # An NVMe namespace going to 0 ends its controller's removal: it joins that controller's report.
    _p("disk_gone", "block", Severity.CRITICAL,
       r"(?P<device>nvme\d+n\d+): detected capacity change from [1-9]\d* to 0\b", ("capacity change",), specificity=3,
       group="nvme"),
    _p("disk_gone", "block", Severity.CRITICAL,
       r"(?P<device>sd[a-z]+|vd[a-z]+|xvd[a-z]+|hd[a-z]+|mmcblk\d+): detected capacity change from [1-9]\d* to 0\b",
       ("capacity change",), specificity=3),
    # 3.10 "end_request: critical medium error, dev sda, sector N"; 4.18 "print_req_error: ..."; 5.x
    # "blk_update_request: ..."; 6.x no prefix.  The kind is blk_errors[]'s name.
    # "recoverable transport" (-ENOLINK) is a path that failed over or will be retried: a warning.
    _p("block_io_error", "block", Severity.CRITICAL,
       r"(?:critical (?:medium|target|nexus|space allocation)|recoverable transport|timeout|protection|I/O) error,? "
       r"dev (?!fd\d|sr\d|loop\d)(?P<device>[\w-]+)",  # not the floppy or CD-ROM drives VMs probe at boot, nor
       # loop devices: snapd's squashfs images fail readahead past their end at every boot and install
       (", dev ", "I/O error dev"), specificity=2,
       classify=lambda m: Severity.WARN if "recoverable transport error" in m.group(0) else Severity.CRITICAL,
       level_by="the kind of error, not a recoverable transport one"),
    # 5.19+ nvme_log_error: "nvme0n1: Read(0x2) @ LBA 3467712, 64 blocks, Unrecovered Read Error (sct 0x2 / sc 0x81) DNR".
    _p("nvme_io_error", "block", Severity.CRITICAL,
       r"(?P<device>nvme\d+n\d+): [\w /]+\(0x[0-9a-fA-F]+\) @ LBA \d+, \d+ blocks, (?P<nvme_status>.+?) \(sct 0x",
       ("@ LBA",), specificity=3),
    # drivers/scsi/scsi_logging.c: "[sdb] tag#21 Sense Key : Medium Error [current]" (3.10 without the tag).
    _p("scsi_medium_error", "block", Severity.CRITICAL,
       r"\[(?P<device>sd[a-z]+)\] +(?:tag#\d+ )?Sense Key : (?:Medium Error|Hardware Error)", ("Key : ",), specificity=3),
    # A failed command on a device ("ata1.00:"); the link's own exceptions ("ata1:") include hotplug.
    _p("ata_exception", "block", Severity.WARN, r"(?P<device>ata\d+\.\d+): exception Emask", ("Emask",), specificity=3,
       group="ata", head=True),
    _p("ata_error", "block", Severity.WARN, r"(?P<device>ata\d+(?:\.\d+)?): error: \{ (?P<ata_error>[A-Z ]+?) \}",
       (": error: { ",), specificity=3, classify=lambda m: _ata_severity(m.group("ata_error")), group="ata", headline=1,
       level_by="its error register: UNC, IDNF or AMNF, unreadable media"),
    # libata gave up on the device: 3.x-5.x "disabled", 6.x "disable device".
    _p("ata_disabled", "block", Severity.CRITICAL, r"(?P<device>ata\d+\.\d+): (?:disabled|disable device)\s*$", (": disable",),
       specificity=3, group="ata", headline=2),
    # md RAID lost a member: 3.x+ "md/raid1:md0: Disk failure on sdb1, disabling device." (raid10, "md/raid:" for
    # raid4/5/6); 2.6 "raid1: Disk failure on ...".  The array runs degraded.
    _p("md_disk_failure", "block", Severity.CRITICAL,
       r"(?:md/raid\d*:(?P<md>md[\w-]*)|raid\d+): Disk failure on (?P<device>[^,\s]+), (?:disabling device|this is the last device)",
       ("Disk failure on",), specificity=3),
    # raid5.c setup_conf / raid1 and raid10 (newest): the array cannot run, or stops serving.
    _p("md_array_failed", "block", Severity.CRITICAL,
       r"md/raid\d*:(?P<md>md[\w-]*): (?:not enough operational devices|Cannot continue operation)",
       ("operational devices", "Cannot continue operation"), specificity=3),
    # md.c analyze_sbs: a member left behind (its superblock is older): the array assembled degraded.
    _p("md_member_stale", "block", Severity.WARN, r"md: kicking non-fresh (?P<device>\S+) from array",
       ("fresh ",), specificity=3),
    # dm-thin.c set_pool_mode: the pool ran out of data space, or its metadata failed: every thin volume on it
    # queues or fails its writes ("write mode" is the way back).  Not its low water mark, which is dmeventd's
    # trigger to extend the pool (routine where autoextend is configured).
    _p("dm_thin_pool", "block", Severity.CRITICAL,
       r"device-mapper: thin: (?P<device>\d+:\d+): switching pool to (?:out-of-data-space(?: \((?:queue|error) IO\))?|read-only|fail) mode",
       ("switching pool to",), specificity=3),
    # dm-snap.c: a snapshot filled (or failed) and was dropped: a backup taken from it is lost.
    _p("dm_snapshot_invalid", "block", Severity.CRITICAL, r"device-mapper: snapshots: Invalidating snapshot: ",
       ("Invalidating snapshot",), specificity=3),
    # Hardware RAID controllers: megaraid_sas (PERC) events of class CRIT, FATAL or DEAD (the ones printed by
    # default: a drive failed, a virtual disk degraded or offline); an LSI SAS controller's firmware fault;
    # an HP Smart Array's lockup.
    _p("raid_controller_event", "block", Severity.CRITICAL,
       rf"megaraid_sas (?P<pci>{_PCI}): \d+ \([^()]*/0x[0-9a-fA-F]{{4}}/(?:CRIT|FATAL|DEAD)\) - ",
       ("CRIT) - ", "FATAL) - ", "DEAD) - "), specificity=3),
    _p("raid_controller_fault", "block", Severity.CRITICAL,
       r"(?P<device>mpt[23]sas(?:_cm)?\d+): fault_state\(0x[0-9a-fA-F]+\)!", ("fault_state(",), specificity=3),
    _p("raid_controller_fault", "block", Severity.CRITICAL, rf"hpsa (?P<pci>{_PCI}): [Cc]ontroller lockup detected",
       ("ontroller lockup detected",), specificity=3),
    # SCSI: the midlayer gave up on a device (error recovery failed, or sd's medium access timeouts ran out);
    # every later I/O to it is refused.  A command timing out is the step before.
    _p("scsi_device_offline", "block", Severity.CRITICAL,
       r"(?:sd|scsi) (?P<device>\d+:\d+:\d+:\d+): Device offlined - not ready after error recovery",
       ("Device offlined",), specificity=3),
    # scsi_lib.c prints it for a device offline and for one whose transport is (an iSCSI or FC path past its
    # fast_io_fail_tmo, which multipath fails over): a warning; a dead disk says "Device offlined" first.
    _p("scsi_device_offline", "block", Severity.WARN,
       r"(?:sd|scsi) (?P<device>\d+:\d+:\d+:\d+): rejecting I/O to offline device", ("I/O to offline",), specificity=3),
    _p("scsi_device_offline", "block", Severity.CRITICAL,
       r"\[(?P<device>sd[a-z]+)\] (?:tag#\d+ )?Medium access timeout failure\. Offlining disk!", ("Offlining disk",),
       specificity=3),
    _p("scsi_timeout", "block", Severity.WARN, r"\[(?P<device>sd[a-z]+)\] (?:tag#\d+ )?timing out command, waited \d+s",
       ("out command",), specificity=3),
    # dm-multipath took a path out of use: "device-mapper: multipath: [253:3: ]Failing path 8:32."
    _p("dm_path_failed", "block", Severity.WARN,
       r"device-mapper: multipath: (?:\d+:\d+: )?Failing path (?P<device>\d+:\d+)", ("Failing path",), specificity=3),
    # -- hung tasks and lockups
    _p("hung_task", "hang", Severity.WARN, r"INFO: task (?P<process>.+?):(?P<pid>\d+) blocked for more than \d+ seconds", ("blocked for more than",), specificity=2),
    _p("soft_lockup", "hang", Severity.CRITICAL, r"BUG: soft lockup - CPU#(?P<cpu>\d+) stuck for", ("soft lockup",), specificity=2, group="lockup"),
    # kernel/workqueue.c wq_watchdog_timer_fn (4.5+): "BUG: workqueue lockup - pool cpus=4 node=0 flags=0x0 nice=0 stuck for 30s!".
    _p("workqueue_lockup", "hang", Severity.WARN, r"BUG: workqueue lockup - pool", ("workqueue lockup",), specificity=2),
    _p("hard_lockup", "hang", Severity.CRITICAL, r"Watchdog (?:detected hard LOCKUP on cpu |CPU: ?(?=\d+ Hard LOCKUP))(?P<cpu>\d+)",
       ("LOCKUP",), specificity=2, group="lockup"),
    # 2.6.3x "INFO: rcu_sched_state detected stall on CPU 3"; 3.10 "INFO: rcu_sched detected stalls on CPUs/tasks";
    # 4.18+ the "rcu: " prefix; expedited grace periods have their own wording.
    _p("rcu_stall", "hang", Severity.CRITICAL, r"(?:rcu: )?INFO: rcu_\w+ (?:self-)?detected (?:expedited )?stalls?",
       ("INFO: rcu_",), specificity=2),
    # -- network links: down fires, up on the same interface resolves it
    _p("link_down", "network", Severity.WARN, rf"{_IFACE}:? (?:NIC [Ll]ink is [Dd]own|[Ll]ink (?:is )?[Dd]own\b|carrier lost)",
       ("Link is Down", "Link Down", "ink down", "ink is down", "carrier lost"), specificity=1, stateful=True),
    _p("link_up", "network", Severity.INFO, rf"{_IFACE}:? (?:NIC [Ll]ink is [Uu]p|[Ll]ink (?:is )?[Uu]p\b)",
       ("Link is Up", "Link Up", "ink up", "ink is up"), specificity=1, resolves="link_down"),
    # bonding: 3.10-5.3 "bond0: link status definitely down for interface eth1, disabling it";
    # 5.4+ "bond0: (slave eth1): link status definitely down, disabling slave".
    _p("bond_link_down", "network", Severity.WARN,
       r"(?P<bond>[\w.-]{1,63}): link status definitely down for (?:active |backup |idle )?interface (?P<interface>[\w.@-]{1,63}), disabling it",
       ("link status",), specificity=2, stateful=True),
    _p("bond_link_down", "network", Severity.WARN,
       r"(?P<bond>[\w.-]{1,63}): \(slave (?P<interface>[\w.@-]{1,63})\): link status definitely down, disabling slave",
       ("link status",), specificity=2, stateful=True),
    _p("bond_link_up", "network", Severity.INFO,
       r"(?P<bond>[\w.-]{1,63}): link status definitely up for interface (?P<interface>[\w.@-]{1,63})",
       ("link status",), specificity=2, resolves="bond_link_down"),
    _p("bond_link_up", "network", Severity.INFO,
       r"(?P<bond>[\w.-]{1,63}): \(slave (?P<interface>[\w.@-]{1,63})\): link status definitely up",
       ("link status",), specificity=2, resolves="bond_link_down"),
    _p("bond_no_active", "network", Severity.CRITICAL, r"(?P<interface>[\w.-]{1,63}): now running without any active interface",
       ("without any active",), specificity=2),
    # net/sched/sch_generic.c dev_watchdog: "NETDEV WATCHDOG: eth0 (e1000e): transmit queue 0 timed out[ 5376 ms]";
    # the newest print it on the device: "e1000e 0000:00:1f.6 eno1: NETDEV WATCHDOG: CPU: 3: transmit queue 0 ...".
    _p("netdev_tx_timeout", "network", Severity.WARN,
       r"NETDEV WATCHDOG: (?P<interface>[\w.@-]{1,63}) \((?P<driver>[^)]*)\): transmit queue \d+ timed out", ("NETDEV WATCHDOG",),
       specificity=2),
    _p("netdev_tx_timeout", "network", Severity.WARN, rf"{_IFACE}: NETDEV WATCHDOG: CPU: \d+: transmit queue \d+ timed out",
       ("NETDEV WATCHDOG",), specificity=2),
    # Intel drivers' transmit hang check (e1000e "Detected Hardware Unit Hang:", igb/ixgbe/igc "Detected Tx Unit
    # Hang"): the ring stopped moving; a reset follows, or the NETDEV WATCHDOG.
    _p("nic_hang", "network", Severity.WARN, rf"(?:{_IFACE}|(?P<pci>{_PCI})): Detected (?:Hardware|Tx) Unit Hang",
       ("Unit Hang",), specificity=2),  # igb prints on the PCI device
    # The adapter is gone from the bus, and no link-down line follows: igb/igc "PCIe link lost, device now
    # detached", ixgbe "Adapter removed", mlx5 "device's health compromised - reached miss count".
    _p("nic_lost", "network", Severity.CRITICAL, rf"{_IFACE}: PCIe link lost", ("PCIe link lost",), specificity=3),
    _p("nic_lost", "network", Severity.CRITICAL, rf"ixgbe (?P<pci>{_PCI})(?: {_IFACE})?: Adapter removed",
       ("Adapter removed",), specificity=3),
    _p("nic_lost", "network", Severity.CRITICAL, rf"mlx5_core (?P<pci>{_PCI}): .*device's health compromised",
       ("compromised",), specificity=3),
    # The stack's tables: conntrack full drops every new flow (NAT, Kubernetes nodes); SYN flooding, TCP memory
    # and orphans, and a full neighbour (ARP/NDP) table lose connections.
    _p("conntrack_full", "network", Severity.CRITICAL,
       r"nf_conntrack: (?:nf_conntrack: )?table full(?: in netns \d+)?, dropping packet", (", dropping packet",), specificity=2),
    _p("syn_flood", "network", Severity.WARN, r"Possible SYN flooding on port \S{1,60}\. (?:Sending cookies|Dropping request)",
       ("Possible SYN",), specificity=2),
    _p("tcp_memory", "network", Severity.WARN, r"(?:TCP: )?(?:out of memory -- consider tuning tcp_mem|too many orphaned sockets)",
       ("consider tuning tcp_mem", "orphaned sockets"), specificity=2),
    _p("neighbour_overflow", "network", Severity.WARN, r"(?P<table>\w{1,32}): neighbor table overflow!",
       ("overflow!",), specificity=2),
    # igb and ixgbe stop an adapter that overheats.
    _p("nic_overheat", "network", Severity.CRITICAL,
       rf"(?:{_IFACE}: )?(?:The network adapter was stopped because it overheated|"
       r"Network adapter has been stopped because it has over heated)", ("overheated", "over heated"), specificity=3),
    # -- PCIe AER: 3.10-6.x "Corrected error received", 6.x "Correctable error message received from".
    # The port names the device that reported (3.10 as a requester id, 4.x+ as its address): both key the group.
    _p("pcie_aer_uncorrected", "pcie", Severity.CRITICAL,
       rf"(?P<pci>{_PCI}): AER: (?:Multiple )?Uncorrect(?:ed|able) \((?:Fatal|Non-Fatal)\) error{_AER_FROM}",
       ("AER:",), specificity=2, group="aer", head=True),
    _p("pcie_aer_corrected", "pcie", Severity.WARN, rf"(?P<pci>{_PCI}): AER: (?:Multiple )?Correct(?:ed|able) error{_AER_FROM}",
       ("AER:",), specificity=2, group="aer", head=True),
    # "PCIe Bus Error" until 6.x; the newest kernels print "%s Bus Error" with "PCIe" or "CXL".
    _p("pcie_bus_error", "pcie", Severity.CRITICAL,
       rf"(?P<pci>{_PCI}): (?:AER: )?(?:PCIe|CXL) Bus Error: severity=(?P<aer_severity>[^,]+)",
       ("PCIe Bus Error", "CXL Bus Error"), specificity=3, classify=lambda m: _aer_severity(m.group("aer_severity")),
       group="aer", headline=1, level_by="the severity it prints, not Corrected"),
    # Downstream Port Containment took the link down: 5.x+ "DPC: containment event, ..."; 4.x "DPC containment event".
    _p("pcie_dpc", "pcie", Severity.CRITICAL,
       rf"(?P<pci>{_PCI})(?::pcie\d+)?: DPC:? containment event, status:0x[0-9a-fA-F]+", ("containment event",),
       specificity=3, group="aer"),
    _p("pcie_recovery_failed", "pcie", Severity.CRITICAL, rf"(?:(?P<pci>{_PCI}): )?(?:AER: [Dd]|D)evice recovery failed|(?P<port>{_PCI}): AER: (?:(?:subordinate device|link) reset failed|Can't recover \(no error_detected callback\))",
       ("AER:", "Device recovery"), specificity=3, group="aer", headline=2),
    # -- a crash of PID 1 takes the whole system with it: always on, unlike other segfaults.
    _p("init_crash", "process", Severity.CRITICAL,
       r"(?:traps: )?(?P<process>[^\s\[]{1,60})\[(?P<pid>1)\]:? (?:segfault at|general protection|trap )",
       ("segfault at", "general protection", "] trap "), specificity=3),
    # -- segfaults and traps (opt-in): arch/x86/mm/fault.c, arch/x86/kernel/traps.c ("traps: " since 4.x).
    _p("segfault", "segfault", Severity.INFO, r"(?P<process>[^\s\[]{1,60})\[(?P<pid>\d+)\]: segfault at", ("segfault at",)),
    _p("segfault", "segfault", Severity.INFO,
       r"(?:traps: )?(?P<process>[^\s\[]{1,60})\[(?P<pid>\d+)\] (?:general protection|trap \w)", ("general protection", "] trap ")),
)  # fmt: skip

# -- text in kernel lines that a local user chooses ----------------------------------------
# A genuine kernel line may quote a process's name (comm: any 15 bytes, set with
# prctl(PR_SET_NAME) or by naming the binary), a file's name (up to 255 bytes), a cgroup's
# path or a command line.  "x Kernel panic - not syncing" as a process name that segfaults
# gives a real kernel line containing the panic's words.  Each row below is the printk
# format of such a line, from the kernel source, with the user's spans as groups named
# u...: they are masked (same length, a character no pattern's literal text contains)
# before any pattern looks at the line, so the catalogue sees only the kernel's own
# words; labels are then read from the line itself, at the match's positions.  Where the
# end of a span is ambiguous, the greedy form takes the last separator within the field's
# length: the kernel's own separator follows the user's text, so the whole of it is
# masked (a separator faked inside it at most masks more).
_MASK = "\x1a"
# One byte of a name, as the line shows it: /dev/kmsg prints a byte below 0x20, one from
# 0x7f and a backslash as \xNN, so a 15-byte name may take up to 60 characters.
_BYTE = r"(?:\\x[0-9a-f]{2}|.)"
_COMM = rf"{_BYTE}{{1,15}}"  # TASK_COMM_LEN - 1 bytes
_COMM0 = rf"{_BYTE}{{0,15}}"
# print_vma_addr: " in <file>[<start>+<size>]", 6.1+ " in <file>[<ip>,<start>+<size>]".
_VMA = r" in (?P<u_file>.*)\[[0-9a-f]+(?:,[0-9a-f]+)?\+[0-9a-f]+\]"
USER_TEXT: tuple[tuple[re.Pattern[str], tuple[str, ...]], ...] = tuple(
    (re.compile(regex), keywords) for regex, keywords in (
        # arch/x86/mm/fault.c show_signal_msg, traps.c do_trap/general protection (pr_fmt "traps: "),
        # signal.c "bad frame in", vsyscall "%s[%d] %s ip:%lx cs:%lx sp:", arm64 "%s[%d]: unhandled
        # exception: ".  What follows "[pid]" is longer than a name can be: a name that fakes
        # it cannot be taken for the line's start (and the last one within reach is the real).
        (rf"^(?:traps: )?(?P<u>{_COMM})\[\d+\](?=: segfault at [0-9a-f]+ ip | trap \S.* ip:[0-9a-f]+ sp:"
         r"| general protection(?: fault)? ip:| bad frame in \S+ frame:| \S+ ip:[0-9a-f]+ cs:[0-9a-f]+ sp:"
         r"|: unhandled exception: )",
         ("segfault at", "trap ", "general protection", "bad frame in", "unhandled", " ip:")),
        # ... and the file the fault was in: anchored, every part bounded but the file's name.
        (rf"^(?:traps: )?{_COMM}\[\d+\](?:: segfault at [0-9a-f]+ ip [0-9a-f]+ sp [0-9a-f]+ error [0-9a-f]+"
         r"| trap [\w ]{1,40}? ip:[0-9a-f]+ sp:[0-9a-f]+ error:[0-9a-f]+"
         r"| general protection(?: fault)? ip:[0-9a-f]+ sp:[0-9a-f]+ error:[0-9a-f]+"
         rf"|: unhandled exception: (?:[^,]{{0,64}}, ESR 0x[0-9a-f]+, )?[^\[]{{0,120}}?){_VMA}",
         (" in ",)),
        # mm/oom_kill.c: "Killed process %d (%s) total-vm", 3.x "Kill process %d (%s) score", 2.6 "Killed process
        # %d, UID %d, (%s)", oom_reaper "reaped process %d (%s), now anon-rss".
        (rf"(?:Kill(?:ed)?|reaped) process \d+(?:, UID \d+,)? \((?P<u>{_COMM0})\)", ("process ",)),
        (rf"^(?P<u>{_COMM}) invoked oom-killer: ", ("invoked oom-killer",)),
        (rf"^oom-kill:constraint=[^,]*,nodemask=[^,]*,(?P<u>.*),task=(?P<u_task>{_COMM0}),pid=\d+,uid=\d+",
         ("oom-kill:",)),
        (r"^Task in (?P<u>.*) killed as a result of limit of (?P<u_limit>.*)$", ("Task in ",)),
        (r"^Memory cgroup stats for (?P<u>.*)$", ("Memory cgroup stats",)),
        (r"^\[\s*\d+\](?:\s+-?\d+){6,8}\s+(?P<u>.*)$", ("[",)),  # dump_tasks' rows end with the name
        (rf"^(?P<u>{_COMM}): page allocation failure: ", ("page allocation failure",)),
        (rf"^BUG: Bad page state in process (?P<u>{_BYTE}{{0,14}}\S)?\s+pfn:", ("Bad page state",)),  # "%s  pfn:"
        (rf"^BUG: Bad page map in process (?P<u>{_BYTE}{{0,14}}\S)?\s+pte:", ("Bad page map",)),  # "%s  pte:"
        # fs/xfs/kmem.c (4.x+): "XFS: %s(%u) possible memory allocation deadlock size %u in %s (mode:0x%x)".
        (rf"^XFS: (?P<u>{_COMM})\(\d+\) possible memory allocation deadlock", ("possible memory allocation",)),
        (rf"^BUG: scheduling while atomic: (?P<u>{_COMM})/\d+/0x", ("scheduling while atomic",)),
        (rf", pid: \d+, name: (?P<u>{_COMM0})$", (", name: ",)),  # "BUG: sleeping function called ..."
        (rf"stuck for \d+s! \[(?P<u>{_COMM}):\d+\]", ("stuck for",)),  # soft lockup
        # kernel/hung_task.c, and sched_show_task: 5.14+ "task:%-15.15s state:%c", before "%-15.15s %c ...".
        (rf"^INFO: task (?P<u>{_COMM}):\d+ blocked for more than", ("blocked for more than",)),
        (rf"^task:(?P<u>{_BYTE}{{15}}) state:", ("task:",)),
        (rf"^(?P<u>{_BYTE}{{15}}) [A-Za-z] +(?:[0-9a-f]{{8,16}} +)?(?:stack: *)?\d+ +(?:pid: *)?\d+ +(?:ppid: *)?\d+ +(?:flags:)?0x[0-9a-f]+",
         ("0x",)),
        # dump_stack / show_regs headers: 4.x+ "CPU: %d PID: %d Comm: %.20s", 6.x "CPU: %d UID: %d PID: ...",
        # 3.x "Pid: %d, comm: %.20s".
        (rf"^(?:CPU: \d+ (?:UID: \d+ )?PID: \d+ Comm|Pid: \d+, comm): (?P<u>{_COMM0}) (?=Not tainted|Tainted: )",
         ("Comm: ", "comm: ")),
        (rf"NVRM: Xid \([^)]*\): \d+, pid=(?:\d+|'<unknown>'), name=(?P<u>{_COMM0}),", ("NVRM: Xid",)),
        (rf"(?:Sending SIGBUS to|Killing) (?P<u>{_COMM}):\d+ due to hardware memory corruption", ("memory corruption",)),
        (rf"#AC: (?P<u>{_COMM})/\d+ took a split_lock trap", ("split_lock",)),
        (r"^process '(?P<u>.*)' started with executable stack$", ("executable stack",)),
        (r'^ptrace (?:attach|traceme) of "(?P<u>.*)$', ("ptrace",)),  # both command lines
        (r"^audit: type=\d+ audit\([\d.:]+\): (?P<u>.*)$", ("audit",)),  # every field the process chose
        (rf"^(?P<u>{_COMM}) \(\d+\) used greatest stack depth: ", ("greatest stack depth",)),
        (rf"^(?P<u>{_COMM}): Corrupted page table at address", ("Corrupted page table",)),
        (r"^cgroup: fork rejected by pids controller in (?P<u>.*)$", ("fork rejected",)),
        (rf"^printk: (?P<u>{_COMM}): \d+ output lines suppressed", ("output lines suppressed",)),
        # Mount options a file system refused, quoted back: any user can mount tmpfs, proc, cgroup2
        # or (5.11+) overlay in a user and mount namespace of their own, with an option of any text
        # ("Kernel panic - not syncing: x" forged an emergency).  fs/fs_context.c "%s: Unknown
        # parameter '%s'", fs/fs_parser.c "Bad value for '%s'", "Unexpected value for '%s'", "%s:
        # Non-blockdev passed as '%s'"; before fs_context, tmpfs "Bad mount option %s", proc
        # "unrecognized mount option \"%s\" or missing value", cgroup2 "unknown option \"%s\"".
        (r"^[\w.-]{1,32}: (?P<u>.*)$", ("parameter '", "alue for '", "passed as '", "Bad mount option",
                                        "nrecognized mount option", "nknown option")),
        (r"^overlayfs: (?P<u>.*)$", ("overlayfs: ",)),  # every path and option it quotes is the user's
        # fs/exec.c (5.18+, once a boot): "process '%s' launched '%s' with NULL argv: empty string added".
        (rf"^process '(?P<u>{_COMM0})' launched '(?P<u_file>.*)' with NULL argv", ("with NULL argv",)),
        # kernel/capability.c: "capability: warning: `%s' uses deprecated v2 capabilities ...".
        (rf"^capability: warning: `(?P<u>{_COMM0})' uses", ("capability: warning",)),
        # mm/mmap.c: "mmap: %s (%d) uses deprecated remap_file_pages() syscall. ..."
        (rf"^(?:mmap: )?(?P<u>{_COMM}) \(\d+\) uses deprecated remap_file_pages", ("remap_file_pages",)),
    )
)  # fmt: skip


_USER_TEXT_KEYWORDS = re.compile(
    "|".join(
        re.escape(k) for k in sorted({k for _, ks in USER_TEXT for k in ks}, key=len, reverse=True)
    )
)
_USER_TEXT_BY_KEYWORD = {
    k: [i for i, (_, ks) in enumerate(USER_TEXT) if k in ks] for _, ks in USER_TEXT for k in ks
}


def mask_user_text(text: str) -> str:
    """`text` with the spans a local user chose (`USER_TEXT`) masked, at the same length."""
    rows = sorted(
        {i for k in set(_USER_TEXT_KEYWORDS.findall(text)) for i in _USER_TEXT_BY_KEYWORD[k]}
    )
    spans: list[tuple[int, int]] = []
    for i in rows:
        found = USER_TEXT[i][0].search(text)
        if found is None:
            continue
        spans += [found.span(name) for name, value in found.groupdict().items()
                  if value and name.startswith("u")]  # fmt: skip
    if not spans:
        return text
    chars = list(text)
    for start, end in spans:
        chars[start:end] = _MASK * (end - start)
    return "".join(chars)


# Labels that identify the thing affected (the fingerprint); the rest is context.
IDENTITY_LABELS = (
    "process",
    "pid",
    "device",
    "interface",
    "pci",
    "xid",
    "mc",
    "cpu",
    "server",
    "md",
)


@dataclass(frozen=True)
class Match:
    pattern: LogPattern
    severity: Severity
    labels: tuple[tuple[str, str], ...]
    why: str = ""  # why this severity, as the message says it above warn


def custom_pattern(name: str, regex: str, severity: Severity) -> LogPattern:
    return LogPattern(
        name, "custom", severity, re.compile(regex), (), kernel_only=False, specificity=10
    )


_Trie: TypeAlias = "dict[str, _Trie]"  # a character -> what follows it; "" -> a word ends here


def any_of(words: Iterable[str]) -> str:
    """A regular expression that finds the longest of `words` at the first place one starts.

    As a trie, not an alternation of the words: `re` tries every alternative of an
    alternation at every position of a line, so each keyword the catalogue adds cost
    every line 30 to 170 ns; a trie tries each first character once, then only the
    words that begin with it (the prefilter ran 3.5 times faster on ordinary lines).
    """
    trie: _Trie = {}
    for word in words:
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}  # a word ends here

    def expression(node: _Trie) -> str:
        branches = [
            re.escape(char) + expression(child) for char, child in sorted(node.items()) if char
        ]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        if "" not in node:
            return body
        # A word ends here and longer ones go on: the longer first (greedy), as the
        # alternation of the words sorted longest first did.
        return f"(?:{body})?" if len(branches) == 1 else f"{body}?"

    return expression(trie)


class LogMatcher:
    def __init__(self, patterns: Iterable[LogPattern]) -> None:
        patterns = list(patterns)
        self.kernel = [p for p in patterns if p.keywords]
        self.custom = [p for p in patterns if not p.keywords]
        keywords = sorted({k for p in self.kernel for k in p.keywords}, key=len, reverse=True)
        self._prefilter = re.compile(any_of(keywords)) if keywords else None
        self._by_keyword = {k: [p for p in self.kernel if k in p.keywords] for k in keywords}
        self._custom_any = _combine(self.custom)
        # An operator's expression on a line anyone can write: bounded in time (polynomial
        # backtracking is not refused by the configuration check, see common/search_bound.py).
        self.bound = SearchBound()

    def match(self, line: LogLine) -> Match | None:
        candidates: list[LogPattern] = []
        # The catalogue reads the kernel's own words only; custom patterns, the whole line.
        # Masking only takes words away: a line with no keyword (the common case) is not
        # masked at all.
        kernel_text = line.text
        if self._prefilter is not None and (
            line.kernel or any(not p.kernel_only for p in self.kernel)
        ):
            found = self._prefilter.search(line.text)
            if found is not None:
                kernel_text = mask_user_text(line.text)
                found = self._prefilter.search(kernel_text)
            if found is not None:
                seen = set()
                for hit in {found.group(0), *self._prefilter.findall(kernel_text)}:
                    for p in self._by_keyword[hit]:
                        if id(p) not in seen and (line.kernel or not p.kernel_only):
                            seen.add(id(p))
                            candidates.append(p)
        if self.custom and (
            self._custom_any is None
            or isinstance(self.bound.search(self._custom_any, line.text), re.Match)
        ):
            candidates.extend(self.custom)
        best: Match | None = None
        for pattern in sorted(candidates, key=lambda p: -p.specificity):
            if best is not None and pattern.specificity < best.pattern.specificity:
                break
            custom = pattern.category == "custom"
            if custom:
                searched = self.bound.search(pattern.regex, line.text)
                found_match = searched if isinstance(searched, re.Match) else None
            else:
                found_match = pattern.regex.search(kernel_text)
            if found_match is None:
                continue
            severity = pattern.classify(found_match) if pattern.classify else pattern.severity
            if severity is None:
                continue
            if custom:  # a custom pattern's severity is the operator's, not the sender's
                why = f"the severity log_analyzer.custom_patterns sets for {pattern.name}"
            else:
                severity, why = refined(pattern, severity, line, kernel_text)
                by = f", by {pattern.level_by}" if pattern.classify and pattern.level_by else ""
                why = why or f"the log catalogue's level for {pattern.name}{by}"
            # Read from the line itself: a label may quote what the mask hid (a process's name).
            labels = tuple(sorted(
                (k, line.text[found_match.start(k) : found_match.end(k)])
                for k, v in found_match.groupdict().items() if v is not None
            ))  # fmt: skip
            best = Match(pattern, severity, labels, why)
            break
        return best


_NAMED_GROUP = re.compile(r"\(\?P<\w+>")


def _combine(patterns: list[LogPattern]) -> re.Pattern[str] | None:
    """One expression that matches wherever any of the patterns does (named groups dropped)."""
    if not patterns:
        return None
    unnamed = [_NAMED_GROUP.sub("(?:", p.regex.pattern) for p in patterns]
    try:
        return re.compile("|".join(f"(?:{u})" for u in unnamed))
    except re.error:
        return None  # an unusual construct: test each pattern on its own


@dataclass
class _Seen:
    first: float
    count: int = 0
    last_line: str = ""
    alert: Alert | None = None


@dataclass
class _Flood:
    """One pattern's alerts in the current flood window."""

    start: float
    sent: int = 0
    suppressed: int = 0
    top: Severity = Severity.INFO  # the highest severity sent in this window
    last_line: str = ""
    first: Alert | None = None  # the template of the "N more" summary


@dataclass
class _Candidate:
    """A matched line on its way to becoming an alert (now, or as the headline of a group)."""

    pattern: LogPattern
    found: Match
    identity: tuple[tuple[str, str], ...]
    text: str
    source: str


@dataclass
class _Group:
    """The lines of one multi-line report held for `group_secs`, to become one alert."""

    family: str
    keys: list[str]
    opened: float
    best: _Candidate
    lines: list[str]
    severity: Severity
    has_head: bool = False
    pid: str | None = None  # OOM: the killed process; a kill of another one is another event
    more: int = 0  # lines beyond MAX_GROUP_LINES, counted only
    emitted: bool = False  # an emergency went out at once; later lines are folded in silently
    last: float = 0.0  # when its latest line arrived
    window: tuple[float, float] | None = None  # a slow family's (gap, bound): FAMILY_WINDOWS

    def deadline(self, group_secs: float) -> float:
        if self.window is None:
            return self.opened + group_secs
        gap, bound = self.window
        return min(self.opened + bound, self.last + gap)


# Families of multi-line reports: the labels whose values identify one report.  An
# OOM report has none (oom_lock lets one OOM kill run at a time); a GHES record has
# its "{N}" sequence number; AER the port and the device that sent the message.
_GROUP_KEYS: Mapping[str, tuple[str, ...]] = {
    "aer": ("pci", "source", "port"),
    "oom": (),
    "nvme": ("device", "pci"),  # the controller; before 4.5 its PCI device
    "ata": ("device",),
    "hardware": ("record",),
    "edac": ("mc",),
    "oops": (),
    "lockup": ("cpu",),
    "panic": (),
}
# A panic takes in the report it followed (an oops, a hardware error, a lockup).
_PANIC_TAKES = ("oops", "hardware", "lockup")
_NVME_NAMESPACE = re.compile(r"(nvme\d+)n\d+(?:p\d+)?$")
# Lines that alert on nothing alone but belong to a report: AER's register dump and
# error bits ("device [8086:a110] error status/mask=...", "[ 0] RxErr"), TLP header, and
# libata's command and status lines, sb_edac's machine-check dump ("CPU 0: Machine Check
# Event: ...", "TSC 0").  Tried only while a group is open.
_FOLLOW = re.compile(
    rf"^(?:\S+ )?(?P<pci>{_PCI}):\s+(?:AER:\s+)?(?:device \[[0-9a-fA-F]{{4}}:[0-9a-fA-F]{{4}}\] error status/mask="
    r"|\[\s*\d+\] ?\w|TLP Header:|Error of this Agent)"
    r"|^(?P<ata>ata\d+\.\d+): (?:failed command:|cmd [0-9a-fA-F]{2}/|res [0-9a-fA-F]{2}/|status: \{)"
    r"|^EDAC \w+ (?P<mc>MC\d+): (?:CPU \d+: Machine Check|TSC|ADDR|MISC|PROCESSOR|MC\d+ is at)"
)


def _group_keys(family: str, labels: Mapping[str, str]) -> list[str]:
    keys = []
    for name in _GROUP_KEYS.get(family, ()):
        value = labels.get(name)
        if value is not None:
            keys.append(_NVME_NAMESPACE.sub(r"\1", value) if family == "nvme" else value)
    source_id = labels.get("source_id")
    if source_id is not None and "pci" in labels:
        # 3.10 names the sender by its requester id (bus << 8 | devfn) in the port's domain.
        rid = int(source_id, 16)
        keys.append(f"{labels['pci'][:4]}:{rid >> 8:02x}:{rid >> 3 & 0x1F:02x}.{rid & 7}")
    return keys or [""]


# Bounds on the per-identity tables, so a storm of distinct names (100,000
# interfaces "going down") cannot grow them: the oldest entry is evicted, in O(1)
# (dicts keep insertion order).  Flood control keeps them far below this anyway.
LOG_ANALYZER = "log"  # the analyzer every log alert names
LINK_DOWN_METRIC = "log_link_down"  # a link down's alert, which the link read up also ends

MAX_OPEN = 1024
MAX_SEEN = 4096
FLOOD_LIMIT = 20
MAX_GROUPS = 256  # reports held at once; the oldest goes out early when a new one needs room
MAX_GROUP_LINES = 20  # lines an alert carries in context["lines"], each cut to GROUP_LINE_CHARS
GROUP_LINE_CHARS = 300
GROUP_SECS = 2.0
# Families whose one event spans more than GROUP_SECS: (quiet gap, bound).  The report stays
# open while its lines keep coming, until `gap` passes without one or `bound` after its first.
# NVMe: the I/O timeout (nvme_core.io_timeout, 30 s) separates "timeout, aborting" from the
# same command's "timeout, reset controller"; the reset then waits up to CAP.TO (commonly
# 20-30 s) before "Device not ready; aborting reset", and "Removing after probe failure" and
# the namespace's "detected capacity change ... to 0" follow at once.
NVME_GROUP_GAP = 45.0
NVME_GROUP_BOUND = 180.0
FAMILY_WINDOWS: Mapping[str, tuple[float, float]] = {"nvme": (NVME_GROUP_GAP, NVME_GROUP_BOUND)}


@dataclass
class LogAlerter:
    """Turns matched lines into alerts: one per fingerprint at once, repeats summed up later.

    Flood control: at most `flood_limit` alerts of one pattern go out within
    `aggregate_secs`; the rest are counted and summed up in one "N more ..."
    alert when the window ends.  It is per pattern, so a storm of one pattern
    never hides another, and a line of a higher severity than any sent in the
    window always goes out (an Xid 79 after a flood of Xid 13).  Every step is
    O(1) per line.

    One event, one alert: the kernel prints an AER error, an OOM kill, an NVMe
    timeout and its reset, an ATA exception, a GHES record or an oops as several
    lines.  Lines of a report family (`LogPattern.group`) with the same identity
    (`_GROUP_KEYS`) arriving within `group_secs` of the first are held and go
    out as one alert when the window ends (a family of `family_windows`, NVMe,
    stays open until its gap passes without a line, at most its bound): the most severe line names it and
    sets its severity, and `context["lines"]` carries all of them (at most
    MAX_GROUP_LINES, GROUP_LINE_CHARS each).  Lines that alert on nothing alone
    (AER's "[ 0] RxErr", libata's "status: { DRDY ERR }") join an open group
    too.  An emergency is never held: a panic goes out at once with the
    report it followed, and lines arriving after it in the window are folded
    into the group without another alert.  At most `max_groups` are held; a new
    one sends the oldest early.  The grouped alert then passes the aggregation
    and flood control as a single line's would.
    """

    matcher: LogMatcher
    aggregate_secs: float = 120.0
    max_context_chars: int = 1000
    flood_limit: int = FLOOD_LIMIT
    max_open: int = MAX_OPEN
    max_seen: int = MAX_SEEN
    group_secs: float = GROUP_SECS
    max_groups: int = MAX_GROUPS
    family_windows: Mapping[str, tuple[float, float]] = field(
        default_factory=lambda: dict(FAMILY_WINDOWS)
    )
    _seen: dict[str, _Seen] = field(default_factory=dict)
    # Held reports, oldest first, and the same by (family, key) for the lines that join them.
    _groups: dict[int, _Group] = field(default_factory=dict)
    # Reports of the slow families (family_windows): few (one per NVMe controller in trouble),
    # their deadlines move with each line, so they are scanned, and only once one is due.
    _slow: dict[int, _Group] = field(default_factory=dict)
    _slow_due: float = float("inf")  # never later than the earliest deadline among them
    _group_index: dict[tuple[str, str], _Group] = field(default_factory=dict)
    # Firing stateful alerts (link down), by (metric, identity), so a link up finds its own in O(1).
    _open: dict[tuple[str, tuple[tuple[str, str], ...]], Alert] = field(default_factory=dict)
    _flood: dict[str, _Flood] = field(default_factory=dict)
    matched: int = 0
    lines: int = 0
    suppressed: int = 0
    evicted: int = 0
    grouped: int = 0  # lines that went into another line's alert

    def process(self, line: LogLine, now: float) -> list[Alert]:
        self.lines += 1
        out = self.expire_groups(now) if self._groups or self._slow else []
        found = self.matcher.match(line)
        if found is None:
            if (self._groups or self._slow) and line.kernel:
                self._follow(line.text, now)
            return out
        self.matched += 1
        pattern = found.pattern
        # Custom patterns: every named group identifies; built-in ones: the known identity labels.
        custom = pattern.category == "custom"
        identity = tuple((k, v) for k, v in found.labels if custom or k in IDENTITY_LABELS)
        text = line.text[: self.max_context_chars]
        if pattern.resolves is not None:
            return out + self._resolve(pattern.resolves, identity, line, now)
        candidate = _Candidate(pattern, found, identity, text, line.source)
        if pattern.group is not None and self.group_secs > 0:
            return out + self._group(candidate, now)
        return out + self._emit(candidate, found.severity, now)

    # -- grouping -------------------------------------------------------------------------

    def _group(self, cand: _Candidate, now: float) -> list[Alert]:
        pattern, labels = cand.pattern, dict(cand.found.labels)
        family = pattern.group or ""
        keys = _group_keys(family, labels)
        out: list[Alert] = []
        group = next(
            (g for k in keys if (g := self._group_index.get((family, k))) is not None), None
        )
        pid = labels.get("pid") if family == "oom" else None
        if group is not None and (
            (pattern.head and group.has_head)
            or (pid is not None and group.pid is not None and pid != group.pid)
        ):
            out += self._close(group)  # the same identity again: a new report
            group = None
        if group is None:
            while len(self._groups) + len(self._slow) >= self.max_groups:
                out += self._close(self._oldest())  # early
            window = self.family_windows.get(family)
            group = _Group(family, [], now, cand, [], cand.found.severity, window=window)
            if family == "panic":
                self._take_in(group)
            if window is None:
                self._groups[id(group)] = group
            else:
                self._slow[id(group)] = group
                self._slow_due = min(self._slow_due, now + min(window))
        else:
            self.grouped += 1
        group.last = now  # a slow family's deadline moves on (_slow_due stays at or before it)
        for key in keys:
            if key not in group.keys:
                group.keys.append(key)
                self._group_index[(family, key)] = group
        self._add_line(group, cand.text)
        group.has_head = group.has_head or pattern.head
        group.pid = group.pid or pid
        severity = cand.found.severity
        if group.emitted:
            return out
        if severity > group.severity or (
            severity == group.severity and pattern.headline > group.best.pattern.headline
        ):
            group.best = cand
        group.severity = max(group.severity, severity)
        if group.severity >= Severity.EMERGENCY:
            out += self._send(group)
            group.emitted = True
        return out

    def _take_in(self, panic: _Group) -> None:
        """A panic's group takes the held reports it followed: their lines come first."""
        for held in [*self._groups.values(), *self._slow.values()]:
            if held.family in _PANIC_TAKES and not held.emitted:
                self._forget(held)
                self.grouped += 1
                panic.lines[:0] = held.lines
                panic.more += held.more
        del panic.lines[MAX_GROUP_LINES:]

    def _add_line(self, group: _Group, text: str) -> None:
        if len(group.lines) < MAX_GROUP_LINES:
            group.lines.append(text[:GROUP_LINE_CHARS])
        else:
            group.more += 1

    def _follow(self, text: str, now: float) -> None:
        """A line that alerts on nothing alone but continues a held report of its device."""
        found = _FOLLOW.search(text)
        if found is not None:  # the kernel's own words only (masking only takes some away)
            found = _FOLLOW.search(mask_user_text(text))
        if found is None:
            return
        pci, ata, mc = found.group("pci"), found.group("ata"), found.group("mc")
        key = ("aer", pci) if pci else ("ata", ata) if ata else ("edac", mc or "")
        group = self._group_index.get(key)
        if group is not None:
            self.grouped += 1
            self._add_line(group, text)

    def _forget(self, group: _Group) -> None:
        self._groups.pop(id(group), None)
        self._slow.pop(id(group), None)
        for key in group.keys:
            if self._group_index.get((group.family, key)) is group:
                del self._group_index[(group.family, key)]

    def _close(self, group: _Group) -> list[Alert]:
        self._forget(group)
        return [] if group.emitted else self._send(group)

    def _send(self, group: _Group) -> list[Alert]:
        extra: dict[str, object] = {}
        if len(group.lines) > 1:
            # One string, not a list: the alert record keeps scalar context values only.
            extra["lines"] = "\n".join(group.lines)
            extra["grouped_lines"] = len(group.lines) + group.more
        return self._emit(group.best, group.severity, group.opened, extra)

    def expire_groups(self, now: float) -> list[Alert]:
        """The held reports whose window has ended, as alerts (oldest first)."""
        due: list[_Group] = []
        for group in self._groups.values():  # O(1) per line when nothing is due: the oldest only
            if now - group.opened < self.group_secs:
                break  # in the order they were opened: the rest are younger
            due.append(group)
        if self._slow and now >= self._slow_due:
            due += [g for g in self._slow.values() if now >= g.deadline(self.group_secs)]
        out: list[Alert] = []
        for group in sorted(due, key=lambda g: g.opened):
            out += self._close(group)
        if self._slow and now >= self._slow_due:
            self._slow_due = min(g.deadline(self.group_secs) for g in self._slow.values())
        elif not self._slow:
            self._slow_due = float("inf")
        return out

    def next_group_deadline(self) -> float | None:
        """When the first held report is due, for a timer (None: nothing held)."""
        deadlines = [g.deadline(self.group_secs) for g in self._slow.values()]
        for group in self._groups.values():
            deadlines.append(group.opened + self.group_secs)
            break
        return min(deadlines, default=None)

    def _oldest(self) -> _Group:
        """The held report opened first (the one to send early when the table is full)."""
        candidates = list(self._slow.values())
        for group in self._groups.values():
            candidates.append(group)
            break
        return min(candidates, key=lambda g: g.opened)

    # -- one alert ------------------------------------------------------------------------

    def _emit(
        self,
        cand: _Candidate,
        severity: Severity,
        now: float,
        extra: Mapping[str, object] | None = None,
    ) -> list[Alert]:
        pattern, found, identity, text = cand.pattern, cand.found, cand.identity, cand.text
        metric = f"log_{pattern.name}"
        key = (metric, identity)
        if pattern.stateful and key in self._open:
            # Down again (or still): nothing new to tell, but the link state read up before
            # this line must not end it (`links_read_up` asks for readings after it).
            self._open[key] = dataclasses.replace(self._open[key], timestamp=now)
            return []
        fp = fingerprint(LOG_ANALYZER, metric, identity)
        seen = self._seen.get(fp)
        # A repeat is counted, unless it is worse than what was sent (a fatal AER after a corrected one).
        if (
            seen is not None
            and now - seen.first < self.aggregate_secs
            and (seen.alert is None or severity <= seen.alert.severity)
        ):
            seen.count += 1
            seen.last_line = text
            return []
        out: list[Alert] = []
        flood = self._flood.get(pattern.name)
        if flood is None or now - flood.start >= self.aggregate_secs:
            if flood is not None:
                out += self._summary(flood, now)
            flood = self._flood[pattern.name] = _Flood(now)
        if flood.sent >= self.flood_limit and severity <= flood.top:
            flood.suppressed += 1
            flood.last_line = text
            self.suppressed += 1
            return out
        alert = Alert(
            analyzer=LOG_ANALYZER,
            metric=metric,
            labels=identity,
            status=Status.FIRING,
            severity=severity,
            value=1.0,
            threshold=None,
            message=_message(pattern, found, text, severity),
            timestamp=now,
            context={"line": text, "category": pattern.category, "source": cand.source,
                     "event": not pattern.stateful, **{k: v for k, v in found.labels if (k, v) not in identity},
                     **(extra or {})},
        )  # fmt: skip
        flood.sent += 1
        flood.top = max(flood.top, severity)
        if flood.first is None:
            flood.first = alert
        if pattern.stateful:
            self._bounded_put(self._open, key, alert, self.max_open)
        else:
            self._seen.pop(fp, None)  # re-inserted at the end: the eviction order is by age
            self._bounded_put(self._seen, fp, _Seen(now, alert=alert), self.max_seen)
        out.append(alert)
        return out

    def resume(self, alerts: Iterable[Alert]) -> None:
        """The stateful alerts (a link down) firing when the agent stopped (the router's open
        episodes): open again, so that the line that ends one ("link is up") resolves it,
        and the line that began it, read again, is not news."""
        for alert in alerts:
            self._bounded_put(self._open, (alert.metric, alert.labels), alert, self.max_open)

    def links_read_up(self, read_up: Callable[[str, float], bool], now: float) -> list[Alert]:
        """The open links down that the host reads up again (`read_up(interface, since)`: the
        link's state read up since the last line saying it was down): resolved, though
        their "link is up" line never came.  It can be lost (the ring overwritten while the
        agent was down, a journal that dropped it, a driver that prints nothing when the
        carrier returns), and a link down nobody resolves repeats for good.

        A link down only: a bond's "link status definitely down" for a slave may be its ARP
        monitor's verdict (the path beyond the switch failed) on a slave whose own carrier
        is up, so only the bond's own line ends it."""
        out: list[Alert] = []
        for key, alert in list(self._open.items()):
            interface = dict(alert.labels).get("interface")
            if (
                alert.metric != LINK_DOWN_METRIC
                or interface is None
                or not read_up(interface, alert.timestamp)
            ):
                continue
            del self._open[key]
            out.append(self._ended(alert, now, "link is up again (read from sysfs: the "
                                   "kernel's line saying so was not seen)",
                                   {"source": "sysfs"}))  # fmt: skip
        return out

    def _bounded_put(self, table: dict[_K, _V], key: _K, value: _V, limit: int) -> None:
        while len(table) >= limit:
            del table[next(iter(table))]  # the oldest
            self.evicted += 1
        table[key] = value

    def _resolve(
        self, name: str, identity: tuple[tuple[str, str], ...], line: LogLine, now: float
    ) -> list[Alert]:
        fp_alert = self._open.pop((f"log_{name}", identity), None)
        if fp_alert is None:
            return []
        return [self._ended(fp_alert, now, "link is up again",
                            {"line": line.text[: self.max_context_chars]})]  # fmt: skip

    @staticmethod
    def _ended(alert: Alert, now: float, what: str, context: Mapping[str, object]) -> Alert:
        who = ", ".join(v for _, v in alert.labels)
        return Alert(analyzer=LOG_ANALYZER, metric=alert.metric, labels=alert.labels, status=Status.RESOLVED,
                     severity=alert.severity, value=0.0, threshold=None, message=f"{who}: {what}",
                     timestamp=now, context=dict(context))  # fmt: skip

    def _summary(self, flood: _Flood, now: float) -> list[Alert]:
        """The "N more ..." alert for a flood window that suppressed lines."""
        first = flood.first
        if not flood.suppressed or first is None:
            return []
        minutes = max(1, round((now - flood.start) / 60))
        name = first.metric.removeprefix("log_").replace("_", " ")
        return [
            Alert(
                analyzer=LOG_ANALYZER,
                metric=first.metric,
                labels=(("flood", name),),
                status=Status.FIRING,
                severity=flood.top,
                value=float(flood.suppressed),
                threshold=None,
                message=(
                    f"{flood.suppressed:,} more {name} alerts in {minutes} min were not sent one by one "
                    f"(flood control: {self.flood_limit} per {self.aggregate_secs:g} s); "
                    f"last: {flood.last_line[:300]}"
                    + (
                        f" ({flood.top.label}: the most severe of the {name} alerts in the window)"
                        if flood.top > Severity.WARN
                        else ""
                    )
                ),
                timestamp=now,
                context={
                    **first.context,
                    "line": flood.last_line,
                    "event": True,
                    "occurrences": flood.suppressed,
                    "flood": True,
                },
            )
        ]

    def flush(self, now: float) -> list[Alert]:
        """Held reports whose window ended, follow-ups for fingerprints whose aggregation window
        ended with repeats, and flood summaries."""
        out = self.expire_groups(now)
        for name, flood in list(self._flood.items()):
            if now - flood.start >= self.aggregate_secs:
                del self._flood[name]
                out += self._summary(flood, now)
        for fp, seen in list(self._seen.items()):
            if now - seen.first < self.aggregate_secs:
                break  # in insertion order, so the rest are younger
            del self._seen[fp]
            if seen.count and seen.alert is not None:
                total = seen.count + 1
                minutes = max(1, round((now - seen.first) / 60))
                first = seen.alert
                out.append(
                    Alert(
                        analyzer=first.analyzer,
                        metric=first.metric,
                        labels=first.labels,
                        status=Status.FIRING,
                        severity=first.severity,
                        value=float(total),
                        threshold=None,
                        message=f"{first.message} — {total} times in {minutes} min",
                        timestamp=now,
                        context={**first.context, "line": seen.last_line, "occurrences": total},
                    )
                )
        return out


# What an alert of these patterns is about, where their category's usual words would mislead:
# "{thing}" is where the thing affected goes; without it, " on <thing>" follows when it is known.
_SUBJECTS: Mapping[str, str] = {
    "md_disk_failure": "RAID member failed",
    "md_array_failed": "RAID array failed",
    "md_member_stale": "stale RAID member left out",
    "dm_path_failed": "multipath path failed",
    "dm_thin_pool": "thin pool out of space or failed",
    "dm_snapshot_invalid": "snapshot invalidated",
    "raid_controller_event": "RAID controller event",
    "raid_controller_fault": "RAID controller fault",
    "scsi_device_offline": "disk offline",
    "scsi_timeout": "command timeout",
    "ata_disabled": "disk disabled",
    "netdev_tx_timeout": "transmit timeout",
    "nic_overheat": "adapter stopped (overheated)",
    "nic_hang": "adapter hang",
    "nic_lost": "adapter gone",
    "bond_no_active": "no active link",
    "conntrack_full": "conntrack table full",
    "syn_flood": "SYN flood",
    "tcp_memory": "TCP out of memory",
    "neighbour_overflow": "neighbour table overflow",
    "fs_alloc_deadlock": "XFS allocation stalls",
    "fs_unrepaired": "unrepaired file system errors",
    "nfs_not_responding": "server {thing} not responding",
    "cifs_not_responding": "server {thing} not responding",
}
# What each category says, of which label (the thing affected), and where that is not known.
_CATEGORY_SUBJECTS: Mapping[str, tuple[str, tuple[str, ...], str]] = {
    "filesystem": ("file system error", ("server", "device"), "on a device"),
    "block": ("I/O error", ("device", "md", "pci"), "on a device"),
    "network": ("link down", ("interface", "pci"), ""),
}


def _message(pattern: LogPattern, found: Match, text: str, severity: Severity) -> str:
    """What it is about, the line, and above warn why this severity, as every analyzer says
    it: "(critical: the log catalogue's level for oom_kill)"."""
    why = f" ({severity.label}: {found.why})" if severity > Severity.WARN and found.why else ""
    return f"{_subject(pattern, found)}: {text[:300]}{why}"


def _subject(pattern: LogPattern, found: Match) -> str:
    labels = dict(found.labels)
    said = _CATEGORY_SUBJECTS.get(pattern.category)
    if said is not None:
        default, things, unknown = said
        thing = next((labels[k] for k in things if k in labels), None)
        subject = _SUBJECTS.get(pattern.name)
        if subject is not None and "{thing}" in subject:
            head = subject.format(thing=thing or "?")
        elif thing is not None:
            head = f"{subject or default} on {thing}"
        else:  # the category's own words say where it is not known; a row's own need not
            head = default + (f" {unknown}" if unknown else "") if subject is None else subject
        return head
    subject_of = {
        "oom": lambda: (f"OOM killer invoked by {labels.get('process', '?')}" if pattern.name == "oom_invoked"
                        else f"OOM kill in cgroup {labels.get('cgroup', '?')}" if pattern.name == "oom_memcg_limit"
                        else f"OOM killer killed {labels.get('process', '?')} (pid {labels.get('pid', '?')})"),
        "gpu": lambda: (f"GPU {labels.get('pci', '')} Xid {labels['xid']}" if "xid" in labels
                        else f"NVSwitch {labels.get('pci', '?')} SXid {labels.get('sxid', '?')}" if "sxid" in labels
                        else f"GPU double bit ECC error {labels.get('pci', '')}".strip() if pattern.name == "gpu_ecc_dbe"
                        else f"GPU {labels.get('pci', '')} {pattern.name[4:].replace('_', ' ')}".replace("  ", " ")),
        "pcie": lambda: f"PCIe error at {labels.get('pci', '?')}",
    }.get(pattern.category)  # fmt: skip
    return subject_of() if subject_of else pattern.name.replace("_", " ")


def build_patterns(
    gpu_xid: bool = True, segfaults: bool = False, custom: Iterable[tuple[str, str, Severity]] = ()
) -> list[LogPattern]:
    patterns = [
        p
        for p in BUILTIN
        if (gpu_xid or p.category != "gpu") and (segfaults or p.category != "segfault")
    ]
    patterns += [custom_pattern(name, regex, severity) for name, regex, severity in custom]
    return patterns
