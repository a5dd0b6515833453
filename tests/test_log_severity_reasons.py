"""A log alert above warn says why it has its severity, as every other analyzer's does
("(critical: its limit within 6 h)"): the catalogue's level for its row (and what in the
line decides it, for a row that reads it there), the rule that raised it (the kernel's own
level, "data will be lost", PID 1), or the severity the operator set for a custom pattern.
A reviewer's finding: "OOM killer killed java (pid 4242): Out of memory: ..." went out
critical, and "GPU ... Xid 79: ..." emergency, without a word of why."""

from __future__ import annotations

from alerting.alert import Alert, Severity
from alerting.format import discord_text, message_text
from analyzers.logpatterns import LogAlerter, LogLine, LogMatcher, build_patterns, refined

MATCHER = LogMatcher(
    build_patterns(
        segfaults=True, custom=[("app fatal", r"FATAL: (?P<app>\w+)", Severity.CRITICAL)]
    )
)


def alert_for(text: str, kernel: bool = True, level: int | None = None) -> Alert:
    alerter = LogAlerter(MATCHER)
    (alert,) = alerter.process(LogLine(text, kernel, level=level), 0.0) + alerter.flush(3600.0)
    return alert


def test_a_log_alert_above_warn_says_why_it_has_its_severity() -> None:
    oom = alert_for("Out of memory: Killed process 4242 (java) total-vm:123kB, anon-rss:100kB")
    assert oom.message == (
        "OOM killer killed java (pid 4242): Out of memory: Killed process 4242 (java) "
        "total-vm:123kB, anon-rss:100kB (critical: the log catalogue's level for oom_kill)"
    )
    xid = alert_for("NVRM: Xid (PCI:0000:3b:00): 79, pid=1234, GPU has fallen off the bus.")
    assert xid.severity is Severity.EMERGENCY and xid.message.endswith(
        " (emergency: the log catalogue's level for gpu_xid, by its Xid code in NVIDIA's "
        "catalogue and the driver's words)"
    )
    hung = "INFO: task java:4242 blocked for more than 120 seconds."
    raised = alert_for(hung, level=2)
    assert raised.severity is Severity.CRITICAL and raised.message.endswith(
        " (critical: the kernel printed it at crit, which raises the log catalogue's warn "
        "for hung_task)"
    )
    pid1 = alert_for(
        "traps: systemd[1] trap invalid opcode ip:55d1c2a3b4c5 sp:7ffc1a2b3c40 error:0"
    )
    assert pid1.message.endswith(" (critical: the log catalogue's level for init_crash)")
    custom = alert_for("worker: FATAL: billing stopped", kernel=False)
    assert custom.message.endswith(
        "(critical: the severity log_analyzer.custom_patterns sets for app fatal)"
    )
    # Warn and below: the level says enough, as for every analyzer.
    assert alert_for(hung).message == f"hung task: {hung}"
    xid13 = "NVRM: Xid (PCI:0000:3b:00): 13, pid=1, name=x, Graphics Exception: ESR 0x5"
    assert alert_for(xid13).message == f"GPU PCI:0000:3b:00 Xid 13: {xid13}"


def test_the_line_stays_untrusted_text_before_the_reason() -> None:
    """The kernel's text is escaped per channel as before; the reason follows it."""
    oom = alert_for("Out of memory: Killed process 4242 (@everyone_*x*) total-vm:1kB")
    shown = discord_text(message_text(oom))
    assert "@\u200beveryone" in shown and "\\*x\\*" in shown
    assert shown.endswith("\\(critical: the log catalogue's level for oom\\_kill\\)")


def test_a_grouped_report_and_a_flood_summary_say_why() -> None:
    alerter = LogAlerter(MATCHER)
    lines = [
        "java invoked oom-killer: gfp_mask=0x100cca(GFP_HIGHUSER_MOVABLE), order=0",
        "Out of memory: Killed process 4242 (java) total-vm:123kB, anon-rss:100kB",
    ]
    for i, line in enumerate(lines):
        assert alerter.process(LogLine(line, True), float(i)) == []  # held for the group
    (report,) = alerter.flush(10.0)
    assert report.message.startswith("OOM killer killed java (pid 4242): Out of memory")
    assert report.message.endswith("(critical: the log catalogue's level for oom_kill)")

    flooded = LogAlerter(MATCHER, flood_limit=1, group_secs=0.0)
    for i in range(3):
        flooded.process(LogLine(f"EXT4-fs error (device sd{'abc'[i]}1): x", True), float(i))
    (summary,) = flooded.flush(200.0)
    assert summary.message.startswith("2 more fs error alerts in 3 min")
    assert summary.message.endswith(
        "(critical: the most severe of the fs error alerts in the window)"
    )


def test_refined_names_the_rule_that_raised_the_level() -> None:
    hung = next(p for p in MATCHER.kernel if p.name == "hung_task")
    segfault = next(p for p in MATCHER.kernel if p.category == "segfault")
    panic = next(p for p in MATCHER.kernel if p.name == "kernel_panic")
    line = LogLine("INFO: task a:1 blocked for more than 1 seconds", True)
    assert refined(hung, Severity.WARN, line) == (Severity.WARN, "")
    lost = LogLine("INFO: task a:1 blocked; data will be lost", True)
    assert refined(hung, Severity.WARN, lost) == (
        Severity.CRITICAL,
        "the line says data will be lost",
    )
    crash = LogLine("x[1]: segfault at 0 ip 0 sp 0 error 4 in x[400000+1000]", True)
    assert refined(segfault, Severity.INFO, crash) == (Severity.CRITICAL, "the line is about PID 1")
    said = LogLine("Kernel panic - not syncing: hung_task: blocked tasks", True)
    assert refined(hung, Severity.WARN, said) == (
        Severity.EMERGENCY,
        'the line says "Kernel panic - not syncing"',
    )
    assert refined(panic, Severity.EMERGENCY, said) == (Severity.EMERGENCY, "")  # its own level
