"""What a notification says, and how untrusted text is made harmless per channel.

Every channel renders the same facts (what, where, how bad, value against
threshold, since when, the log line) and escapes everything that is not ours
for its own markup: Discord markdown and mentions, Slack's &<> control
characters, Telegram and email HTML, syslog's structured-data quoting.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime

from alerting.alert import Alert, Severity, Status

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
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/?#@\s]+@")


def mask_userinfo(text: str) -> str:
    """`nats://u:p@host` -> `nats://***@host`, for every URL inside `text`."""
    return _USERINFO.sub(r"\1***@", text) if "@" in text else text


def truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"


def state_word(alert: Alert) -> str:
    if alert.status is Status.RESOLVED:
        return "RESOLVED"
    if alert.context.get("test"):
        return "TEST"
    return alert.severity.label.upper()


def title(alert: Alert) -> str:
    """`[CRITICAL] web-01: disk_used_percent mountpoint=/var`"""
    where = " ".join(f"{k}={v}" for k, v in alert.labels)
    return f"[{state_word(alert)}] {alert.hostname}: {alert.metric}" + (
        f" {where}" if where else ""
    )


def when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def sparkline(values: list[float]) -> str:
    finite = [v for v in values if math.isfinite(v)]
    if len(finite) < 2:
        return ""
    low, high = min(finite), max(finite)
    span = high - low or 1.0
    return "".join(_BARS[min(7, int((v - low) / span * 7.999))] for v in finite)


def facts(alert: Alert) -> list[tuple[str, str]]:
    """(name, value) pairs every channel shows; values are untrusted text."""
    out = [("Host", alert.hostname), ("Metric", alert.metric)]
    if alert.analyzer != "log":
        value = f"{alert.value:.4g}"
        if alert.threshold is not None:
            value += f" (threshold {alert.threshold:.4g})"
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
    if ctx.get("still_firing"):
        out.append(("Note", "still firing"))
    return out


def _duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    if minutes < 1:
        return f"{seconds:.0f} s"
    if minutes < 120:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def log_line(alert: Alert) -> str | None:
    line = alert.context.get("line")
    return str(line) if line else None


def plain(alert: Alert) -> str:
    """The whole notification as plain text (email body, syslog message, console)."""
    lines = [title(alert), alert.message, ""]
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


# What can end a line, move a cursor or reorder text on a terminal, in a log viewer or in
# syslog: C0 (tab aside) and DEL, C1 (U+009B is a one-character CSI, U+0085 a line break),
# the line and paragraph separators, and the bidi marks, embeddings, overrides and isolates.
_UNSAFE = re.compile(
    "[\x00-\x08\x0a-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group(0))
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def single_line(text: str, limit: int | None = None) -> str:
    """Untrusted text made one harmless line: every unsafe character shown as ``\\xNN``.

    The one sanitiser for text that reaches a console, a syslog message or the
    agent's own log: a log line or a server's error body cannot forge a line,
    clear a screen or flip the text around.  Escaped rather than dropped, so the
    reader still sees that something was there.  `limit` cuts the result (on a
    character, never inside an escape) and marks the cut with an ellipsis.
    """
    text = _UNSAFE.sub(_escape, text)
    if limit is not None and len(text) > limit:
        text = text[: max(0, limit - 1)]
        cut = text.rfind("\\", max(0, len(text) - 5))
        if cut >= 0 and re.fullmatch(r"\\(x[0-9a-f]{0,1}|u[0-9a-f]{0,3})?", text[cut:]):
            text = text[:cut]  # half an escape would read as something else
        text += "…"
    return text
