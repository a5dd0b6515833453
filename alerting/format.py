"""What a notification says, and how untrusted text is made harmless per channel.

Every channel renders the same facts (what, where, how bad, value against
threshold, since when, the log line) and escapes everything that is not ours
for its own markup: Discord markdown and mentions, Slack's &<> control
characters, Telegram and email HTML, syslog's structured-data quoting.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime

from alerting.alert import Alert, Severity, Status
from common.text import single_line

COLOURS = {  # Discord wants an integer 0xRRGGBB
    Severity.INFO: 0x3498DB,
    Severity.WARN: 0xF1C40F,
    Severity.CRITICAL: 0xE74C3C,
    Severity.EMERGENCY: 0x8E44AD,
}
RESOLVED_COLOUR = 0x2ECC71
EMOJI = {Severity.INFO: "ℹ️", Severity.WARN: "⚠️", Severity.CRITICAL: "🔴", Severity.EMERGENCY: "🚨"}
_BARS = "▁▂▃▄▅▆▇█"
_ZWSP = "\u200b"


# `scheme://user:password@host`: the userinfo is a credential whatever key the URL is in.
def truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"


def state_word(alert: Alert) -> str:
    if alert.status is Status.RESOLVED:
        return "RESOLVED"
    if alert.context.get("test"):
        return "TEST"
    return alert.severity.label.upper()


def undelivered_note(alert: Alert) -> str:
    """For one-line channels (console, syslog): what an outbox dropped, said once (else "")."""
    note = alert.context.get("undelivered")
    return f" [undelivered: {note}]" if note else ""


# Every piece of an alert a channel shows is one line (common.text.single_line): a label,
# a log line or a process name is untrusted text, and a newline in it forged a line of
# the notification ("✅ [RESOLVED] ..." in a chat, under a real alert), a bidi override
# turned it around, a control character reached a terminal through the email text part.
def title(alert: Alert) -> str:
    """`[CRITICAL] web-01: disk_used_percent mountpoint=/var`"""
    where = " ".join(f"{k}={v}" for k, v in alert.labels)
    return single_line(
        f"[{state_word(alert)}] {alert.hostname}: {alert.metric}" + (f" {where}" if where else "")
    )


def message_text(alert: Alert) -> str:
    """The alert's message, as every channel shows it: one line."""
    return single_line(alert.message)


def labels_text(labels: Iterable[tuple[str, str]]) -> str:
    """How messages name a series after its metric: " device=sda1 mountpoint=/"."""
    return "".join(f" {k}={v}" for k, v in labels)


def when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def sparkline(values: list[float]) -> str:
    finite = [v for v in values if math.isfinite(v)]
    if len(finite) < 2:
        return ""
    low, high = min(finite), max(finite)
    span = high - low or 1.0
    return "".join(_BARS[min(7, int((v - low) / span * 7.999))] for v in finite)


# -- numbers with their units ----------------------------------------------------------------

# metric -> unit (a collector's MetricSpec.unit).  Filled by the agent when it assembles
# its pipeline (`register_units`): analyzers and channels cannot import the collectors, and
# the units are static facts, so registering them twice changes nothing.
_UNITS: dict[str, str] = {}
# Shown right after the number; a unit not listed here is shown as a word ("3 processes").
_SUFFIX = {
    "percent": "%",
    "celsius": "°C",
    "per_second": "/s",
    "seconds": " s",
    "watts": " W",
    "sigma": "σ",
    "load_per_core": " per core",
    "ratio": "",
    "boolean": "",
    "": "",
}
_BINARY = ("", "Ki", "Mi", "Gi", "Ti", "Pi")
BASE_DIGITS = 3  # "92.3%", "13.8σ", "2.04": enough to read, few enough to scan
_MAX_DIGITS = 15  # a float has about 15.9 significant digits: past that nothing differs


def register_units(units: Mapping[str, str]) -> None:
    """Tell formatting each metric's unit (the agent does, from its collectors' MetricSpecs)."""
    _UNITS.update(units)


def unit_of(metric: str) -> str:
    """The metric's registered unit; for a series no collector declares (a replayed
    recording, an application's metric), what its name's suffix says, else none."""
    unit = _UNITS.get(metric)
    if unit is not None:
        return unit
    for suffix, guess in (
        ("_percent", "percent"),
        ("_celsius", "celsius"),
        ("_bytes_per_second", "bytes_per_second"),
        ("_bytes", "bytes"),
        ("_seconds", "seconds"),
        ("_per_core", "load_per_core"),
    ):
        if metric.endswith(suffix):
            return guess
    return ""


def format_value(value: float, unit: str = "", *, against: float | None = None) -> str:
    """`value` with its unit, e.g. "92.3%", "1.2 KiB/s", "84.6°C", "13.8σ", "2.04 per core".

    With `against` (the level it is compared with, or the value a level is shown
    next to), it is shown with enough significant digits that two different numbers
    never print alike: "2.04 ... above the warn level 2", never "2 ... above 2".
    Rounding to a number of significant digits is monotonic (and a prefix boundary
    lies between two numbers with different prefixes), so once the two printed
    numbers differ their order is the true one.  The call is symmetric, so
    `format_value(level, unit, against=value)` prints the level at the same precision.
    """
    if not math.isfinite(value):
        return f"{value}"
    scale, suffix = _scale(abs(value), unit)
    digits = BASE_DIGITS
    if against is not None and math.isfinite(against) and against != value:
        # Each keeps its own prefix ("271 MiB ... 15.5 GiB"); digits are added until the
        # two printed numbers, read back in the base unit, differ.
        other, _ = _scale(abs(against), unit)
        while digits < _MAX_DIGITS and (
            float(_sig(value / scale, digits)) * scale
            == float(_sig(against / other, digits)) * other
        ):
            digits += 1
    return f"{_sig(value / scale, digits)}{suffix}"


def format_metric(metric: str, value: float, *, against: float | None = None) -> str:
    """`format_value` in the metric's own unit (`unit_of`)."""
    return format_value(value, unit_of(metric), against=against)


def format_metric_apart(metric: str, values: Sequence[float]) -> list[str]:
    """Each of `values` in the metric's unit, all at the fewest significant digits (from
    BASE_DIGITS) at which the different ones print differently.  For a message comparing
    more than two numbers: rounding each pair alone printed "is now 50.45%, below 50.45%"."""
    unit = unit_of(metric)

    def shown(value: float, digits: int) -> str:
        if not math.isfinite(value):
            return f"{value}"
        scale, suffix = _scale(abs(value), unit)
        return f"{_sig(value / scale, digits)}{suffix}"

    digits = BASE_DIGITS
    while digits < _MAX_DIGITS:
        seen: dict[str, float] = {}
        if all(seen.setdefault(shown(v, digits), v) == v for v in values):
            break
        digits += 1
    return [shown(v, digits) for v in values]


def _sig(value: float, digits: int) -> str:
    if abs(value) >= 10.0**digits:  # a large count is written out whole: 12345678, not 1.23e+07
        return f"{value:.0f}"
    text = f"{value:.{digits}g}"
    if "e" in text:  # "1.23e+04" reads badly in a message: write the number out
        text = f"{float(text):f}".rstrip("0").rstrip(".")
    return text


def _scale(magnitude: float, unit: str) -> tuple[float, str]:
    """(divisor, suffix) for the unit: bytes take binary prefixes (KiB, MiB/s...)."""
    if unit in ("bytes", "bytes_per_second"):
        per = "/s" if unit == "bytes_per_second" else ""
        step = 0
        while step < len(_BINARY) - 1 and magnitude >= 1024.0 ** (step + 1):
            step += 1
        return 1024.0**step, f" {_BINARY[step]}B{per}"
    suffix = _SUFFIX.get(unit)
    if suffix is None:
        suffix = " " + unit.replace("_", " ")
    return 1.0, suffix


def facts(alert: Alert) -> list[tuple[str, str]]:
    """(name, value) pairs every channel shows; values are untrusted text."""
    out = [("Host", alert.hostname), ("Metric", alert.metric)]
    if alert.analyzer != "log":
        if alert.context.get("threshold_unit") == "sigma":  # a number of σ, not a level
            value = format_metric(alert.metric, alert.value)
            if alert.threshold is not None:
                value += f" (threshold {format_value(alert.threshold, 'sigma')})"
        else:
            value = format_metric(alert.metric, alert.value, against=alert.threshold)
            if alert.threshold is not None:
                level = format_metric(alert.metric, alert.threshold, against=alert.value)
                value += f" (threshold {level})"
        out.append(("Value", value))
    if alert.labels:
        out.append(("Labels", ", ".join(f"{k}={v}" for k, v in alert.labels)))
    out.append(("Analyzer", alert.analyzer))
    out.append(("Time", when(alert.timestamp)))
    ctx = alert.context
    if ctx.get("eta_hours") is not None:
        out.append(("Full in", f"{ctx['eta_hours']:.1f} h"))
    if ctx.get("sparkline"):
        out.append(("Last hour", str(ctx["sparkline"])))
    if ctx.get("top_processes"):
        out.append(("Top processes", str(ctx["top_processes"])))
    if ctx.get("lasted_secs") is not None:
        out.append(("Lasted", _duration(float(ctx["lasted_secs"]))))
    if ctx.get("occurrences"):
        out.append(("Occurrences", str(ctx["occurrences"])))
    if ctx.get("suppressed"):
        out.append(
            ("Suppressed", f"{ctx['suppressed']} more alerts held back by the hourly budget")
        )
    if ctx.get("undelivered"):  # what an outbox dropped (expired, max_rows), said once
        out.append(("Undelivered", str(ctx["undelivered"])))
    if ctx.get("still_firing"):
        out.append(("Note", "still firing"))
    return [(name, single_line(value)) for name, value in out]


def _duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    if minutes < 1:
        return f"{seconds:.0f} s"
    if minutes < 120:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def log_line(alert: Alert) -> str | None:
    line = alert.context.get("line")
    return single_line(str(line)) if line else None


def plain(alert: Alert) -> str:
    """The whole notification as plain text (email body, syslog message, console)."""
    lines = [title(alert), message_text(alert), ""]
    lines += [f"{name}: {value}" for name, value in facts(alert)]
    line = log_line(alert)
    if line:
        lines += ["", "Log line:", line]
    return "\n".join(lines)


# -- escaping -------------------------------------------------------------------------------

_DISCORD_MARKDOWN = re.compile(r"([\\*_~`|>#\[\]()])")
_MENTIONS = re.compile(r"@(everyone|here)|<(@[!&]?|#)(\d+)>", re.IGNORECASE)


def discord_text(text: str) -> str:
    """Markdown neutralised and mentions broken with a zero-width space (allowed_mentions is set too)."""
    text = _DISCORD_MARKDOWN.sub(r"\\\1", text)
    return _MENTIONS.sub(
        lambda m: f"@{_ZWSP}{m.group(1)}" if m.group(1) else f"<{m.group(2)}{_ZWSP}{m.group(3)}>",
        text,
    )


def slack_text(text: str) -> str:
    """Slack's only control characters; `&` first (platform-facts section 2)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def html_text(text: str) -> str:
    import html  # Telegram and email only: ~0.5 MB resident with html.entities

    return html.escape(text, quote=True)


# Telegram makes "@name" (5 to 32 word characters, not inside a word) a mention, which
# notifies that member of a group: a log line saying "login failed for @oncall_lead" paged
# them.  A zero-width space after the @ keeps the text and breaks the entity, as for Discord.
_TELEGRAM_MENTION = re.compile(r"(?<![\w@])@(?=\w{5})")


def telegram_mentions_broken(text: str) -> str:
    return _TELEGRAM_MENTION.sub("@" + _ZWSP, text)


def telegram_text(text: str) -> str:
    """HTML-escaped (Telegram's HTML parse mode) with mentions broken."""
    return html_text(telegram_mentions_broken(text))
