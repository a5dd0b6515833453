"""What a notification says, and how untrusted text is made harmless per channel.

Every channel renders the same facts (what, where, how bad, value against
threshold, since when, the log line) and escapes everything that is not ours
for its own markup: Discord markdown and mentions, Slack's &<> control
characters, Telegram and email HTML, syslog's structured-data quoting.
"""

from __future__ import annotations

import itertools
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
_MAX_DIGITS = 17  # any two floats differ within 17 significant digits (exactly rounded)


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
    """`value` with its unit, e.g. "92.3%", "1.2 KiB/s", "84.6°C", "13.8σ", "2.04 per core",
    "50.4 µs", "1.04e-5".

    With `against` (the level it is compared with, or the value a level is shown
    next to), it is shown with enough significant digits that two different numbers
    never print alike, at every magnitude: "2.04 ... above the warn level 2", never
    "2 ... above 2"; "1.04e-5 ... above 1e-5", never "0.00001 ... above 0.00001".
    Numbers are rounded exactly (from the float's own binary value, in integers), so
    rounding is monotonic and the two printed numbers, read back in the base unit, are
    in the true order; 17 significant digits tell any two floats apart.  The call is
    symmetric, so `format_value(level, unit, against=value)` prints the level at the
    same precision.  Two equal numbers print alike (a message says "at the level").
    """
    if not math.isfinite(value):
        return f"{value}"
    digits = BASE_DIGITS
    if against is not None and math.isfinite(against) and against != value:
        truth = -1 if value < against else 1
        while digits < _MAX_DIGITS and (
            _order(_rounded(value, unit, digits), _rounded(against, unit, digits)) != truth
        ):
            digits += 1
    return _text(_rounded(value, unit, digits))


def format_metric(metric: str, value: float, *, against: float | None = None) -> str:
    """`format_value` in the metric's own unit (`unit_of`)."""
    return format_value(value, unit_of(metric), against=against)


def format_metric_apart(metric: str, values: Sequence[float]) -> list[str]:
    """Each of `values` in the metric's unit, all at the fewest significant digits (from
    BASE_DIGITS) at which the different ones print differently, in their true order
    (equal ones alike).  For a message comparing more than two numbers: rounding each
    pair alone printed "is now 50.45%, below 50.45%"."""
    unit = unit_of(metric)
    ascending = sorted({v for v in values if math.isfinite(v)})
    digits = BASE_DIGITS
    while digits < _MAX_DIGITS:
        shown = [_rounded(v, unit, digits) for v in ascending]
        if all(_order(a, b) < 0 for a, b in itertools.pairwise(shown)):
            break
        digits += 1
    return [_text(_rounded(v, unit, digits)) if math.isfinite(v) else f"{v}" for v in values]


# A number as printed: (sign, mantissa, exponent, per, suffix), exactly
# sign * mantissa * 10**exponent units of the suffix, which are `per` = (m, d) of the
# base unit, d / m of it (KiB: (1, 1024); ms: (1000, 1)).
_Printed = tuple[int, int, int, tuple[int, int], str]
_SMALL = -4  # from 1e-5 down, numbers are written 3.1e-7: "0.00000031" is hard to read


def _rounded(value: float, unit: str, digits: int) -> _Printed:
    """`value` (finite) in the unit's scale, rounded half-even to `digits` significant
    digits, or to a whole number from 10**digits up (12345678, not 1.23e+07)."""
    sign = -1 if value < 0 else 1
    per, suffix = _scale(abs(value), unit)
    mantissa, exponent = _round_exact(abs(value), per, digits)
    if unit == "seconds" and per[0] > 1 and mantissa >= 1000 * 10 ** max(0, -exponent):
        # Rounded up to the next prefix (999.96 ms at 3 digits): said in it, "1 s".
        per, suffix = _seconds(len(str(per[0])) // 3 - 1)  # per is (1000**step, 1)
        mantissa, exponent = _round_exact(abs(value), per, digits)
    return sign, mantissa, exponent, per, suffix


def _round_exact(magnitude: float, per: tuple[int, int], digits: int) -> tuple[int, int]:
    """(mantissa, exponent): `magnitude` * m / d rounded half-even as `_rounded` says; in a
    decimal scale, the float's shortest form when it has no more digits (the level set
    as 0.3 is "0.3" at 17 digits, not 0.29999999999999999)."""
    if per[1] == 1:
        mantissa, exponent = _shortest(magnitude)
        if len(str(mantissa)) <= digits:
            return mantissa, exponent + len(str(per[0])) - 1  # per is (10**k, 1)
    num, den = magnitude.as_integer_ratio()
    num, den = num * per[0], den * per[1]
    if num == 0:
        return 0, 0
    lead = len(str(num)) - len(str(den))  # 10**lead <= num/den < 10**(lead + 1), or one less
    if (num < den * 10**lead) if lead >= 0 else (num * 10**-lead < den):
        lead -= 1
    kept = max(0, digits - 1 - lead)  # decimals kept: none for a whole number
    mantissa, rest = divmod(num * 10**kept, den)
    if 2 * rest > den or (2 * rest == den and mantissa % 2):
        mantissa += 1
    exponent = -kept
    while exponent < 0 and mantissa % 10 == 0:
        mantissa, exponent = mantissa // 10, exponent + 1
    return mantissa, exponent


def _shortest(magnitude: float) -> tuple[int, int]:
    """(mantissa, exponent) of the shortest decimal that reads back as the float (`repr`)."""
    number, _, power = repr(magnitude).partition("e")
    whole, _, decimals = number.partition(".")
    mantissa, exponent = int(whole + decimals), int(power or 0) - len(decimals)
    while mantissa and mantissa % 10 == 0:
        mantissa, exponent = mantissa // 10, exponent + 1
    return mantissa, exponent


def _order(a: _Printed, b: _Printed) -> int:
    """-1, 0 or 1 as the printed number `a` is below, equal to or above `b` (exactly, in
    the base unit)."""

    def fraction(p: _Printed) -> tuple[int, int]:
        sign, mantissa, exponent, (m, d), _ = p
        return sign * mantissa * d * 10 ** max(exponent, 0), m * 10 ** max(-exponent, 0)

    (an, ad), (bn, bd) = fraction(a), fraction(b)
    return (an * bd > bn * ad) - (an * bd < bn * ad)


def _text(printed: _Printed) -> str:
    sign, mantissa, exponent, _, suffix = printed
    figures = str(mantissa)
    lead = exponent + len(figures) - 1
    if mantissa == 0:
        number = "0"
    elif lead < _SMALL:
        number = figures[0] + (f".{figures[1:]}" if len(figures) > 1 else "") + f"e{lead}"
    elif exponent >= 0:
        number = figures + "0" * exponent
    else:
        figures = figures.rjust(1 - exponent, "0")
        number = f"{figures[:exponent]}.{figures[exponent:]}"
    return ("-" if sign < 0 and mantissa else "") + number + suffix


# Under a second, seconds are said in ms, µs or ns, as bytes take binary prefixes.
_SUB_SECOND = (" ms", " µs", " ns")


def _seconds(step: int) -> tuple[tuple[int, int], str]:
    """Seconds in ms (step 1), µs (2), ns (3), or themselves (0)."""
    return ((1000**step, 1), _SUB_SECOND[step - 1]) if step else ((1, 1), _SUFFIX["seconds"])


def _scale(magnitude: float, unit: str) -> tuple[tuple[int, int], str]:
    """(per, suffix) for the unit (see `_Printed`): bytes take binary prefixes (KiB,
    MiB/s...), seconds under one ms, µs and ns."""
    if unit in ("bytes", "bytes_per_second"):
        per = "/s" if unit == "bytes_per_second" else ""
        step = 0
        while step < len(_BINARY) - 1 and magnitude >= 1024.0 ** (step + 1):
            step += 1
        return (1, 1024**step), f" {_BINARY[step]}B{per}"
    if unit == "seconds" and 0 < magnitude < 1:
        step = 1
        while step < len(_SUB_SECOND) and magnitude < 1000.0**-step:
            step += 1
        return _seconds(step)
    suffix = _SUFFIX.get(unit)
    if suffix is None:
        suffix = " " + unit.replace("_", " ")
    return (1, 1), suffix


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
                at = "at the " if alert.threshold == alert.value else ""  # alike, being equal
                value += f" ({at}threshold {level})"
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
