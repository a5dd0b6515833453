"""docs/ALERTING.md, "What the messages look like", says its examples are produced by the
code: each one is compared here with what the code writes for the same alert (the
examples had kept "91.2 (threshold 95)" after values gained their units)."""

from __future__ import annotations

import asyncio
import io
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alerting.alert import Alert, Severity, Status
from alerting.channels import discord, slack, syslog, telegram
from alerting.channels.console import ConsoleChannel
from alerting.format import plain
from alerting.settings import SyslogChannelSettings

DOC = Path(__file__).resolve().parent.parent / "docs" / "ALERTING.md"
ALERT = Alert(
    analyzer="trend", metric="disk_used_percent",
    labels=(("device", "nvme0n1p2"), ("mountpoint", "/var")), status=Status.FIRING,
    severity=Severity.CRITICAL, value=91.2, threshold=95.0,
    message="/var fills at 1.9 %/h: full in 4.6 h",
    timestamp=datetime(2026, 11, 22, tzinfo=UTC).timestamp(), hostname="db-03.example.com",
    context={"eta_hours": 4.6, "sparkline": "▁▁▂▂▃▄▅▅▆▇"},
)  # fmt: skip


def examples() -> dict[str, str]:
    """Each fenced block of the section, by the first word of the paragraph before it."""
    text = DOC.read_text(encoding="utf-8")
    section = text[text.index("## What the messages look like") :]
    section = section[: section.index("\n## ", 3)] if "\n## " in section[3:] else section
    found = re.findall(r"\n(?!```)([^\n]+)\n\n```[a-z]*\n(.*?)\n```", section, re.DOTALL)
    return {lead.split()[0].rstrip(":"): block for lead, block in found}


def test_the_plain_text_examples_are_what_the_code_writes() -> None:
    shown = examples()
    assert plain(ALERT) == shown["The"]  # "The email's text part:"
    assert telegram.render(ALERT) == shown["Telegram"]
    out = io.StringIO()
    asyncio.run(ConsoleChannel(stream=out).send([ALERT]))
    assert out.getvalue().rstrip("\n") == shown["Console"]
    defaults = SyslogChannelSettings()  # "facility and app name from [alerting.syslog]"
    line = syslog.rfc5424(ALERT, syslog.FACILITIES[defaults.facility], defaults.tag, ALERT.hostname)
    pid = re.compile(r"(sysops-agent) \d+ ")
    assert pid.sub(r"\1 PID ", line.decode()) == pid.sub(r"\1 PID ", shown["Syslog"])


def contained(part: Any, whole: Any) -> bool:
    """Whether the abbreviated example `part` is `whole` with entries left out."""
    if isinstance(part, dict):
        return isinstance(whole, dict) and all(
            k in whole and contained(v, whole[k]) for k, v in part.items()
        )
    if isinstance(part, list):
        return isinstance(whole, list) and all(any(contained(p, w) for w in whole) for p in part)
    return bool(part == whole)


def test_the_abbreviated_json_examples_are_parts_of_what_the_code_sends() -> None:
    shown = examples()
    (message,) = discord.messages([ALERT], "sysops-agent", ())
    assert contained(json.loads(shown["Discord"]), message), message
    (payload,) = slack.messages([ALERT], (), None)
    assert contained(json.loads(shown["Slack"]), payload), payload
