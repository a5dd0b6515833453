"""Discord webhook: one embed per alert, up to 10 per message, every limit respected.

Limits (platform-facts section 1): title 256, description 4096, 25 fields of
name 256 / value 1024, footer 2048, at most 6000 characters across all embeds
of a message, content 2000.  `allowed_mentions` is always sent: only the
configured roles, only for critical and emergency alerts; everything else in
the text (log lines, process names) has its markdown and mentions neutralised.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from alerting.alert import Alert, Severity, Status
from alerting.channels.base import alerts_of
from alerting.channels.http import HttpPoster
from alerting.channels.registry import ChannelContext
from alerting.format import (
    COLOURS,
    RESOLVED_COLOUR,
    discord_text,
    facts,
    log_line,
    message_text,
    title,
    truncate,
)

EMBEDS_PER_MESSAGE = 10
TOTAL_LIMIT = 6000


def embed(alert: Alert) -> dict[str, Any]:
    description = discord_text(message_text(alert))
    line = log_line(alert)
    if line:
        description += "\n\nLog line:\n" + discord_text(line)
    fields = [
        {
            "name": truncate(name, 256),
            "value": truncate(discord_text(value), 1024) or "-",
            "inline": name != "Labels",
        }
        for name, value in facts(alert)
    ][:25]
    return {
        "title": truncate(discord_text(title(alert)), 256),
        "description": truncate(description, 2000),
        "color": RESOLVED_COLOUR if alert.status is Status.RESOLVED else COLOURS[alert.severity],
        "fields": fields,
        "timestamp": alert.iso_timestamp,
        "footer": {"text": f"sysops-agent · {alert.analyzer}"},
    }


def embed_size(item: dict[str, Any]) -> int:
    size = len(item["title"]) + len(item["description"]) + len(item["footer"]["text"])
    return size + sum(len(f["name"]) + len(f["value"]) for f in item["fields"])


def _chunks(alerts: Sequence[Alert]) -> list[list[tuple[Alert, dict[str, Any]]]]:
    """Alerts with their embeds, in messages of at most 10 embeds and 6000 characters."""
    out: list[list[tuple[Alert, dict[str, Any]]]] = []
    size = 0
    for alert in alerts:
        item = embed(alert)
        item_size = embed_size(item)
        if not out or len(out[-1]) == EMBEDS_PER_MESSAGE or size + item_size > TOTAL_LIMIT:
            out.append([])
            size = 0
        out[-1].append((alert, item))
        size += item_size
    return out


def messages(alerts: Sequence[Alert], username: str, roles: Sequence[str]) -> list[dict[str, Any]]:
    """Bodies for these alerts: at most 10 embeds and 6000 characters each."""
    bodies: list[dict[str, Any]] = [
        {"embeds": [item for _, item in chunk]} for chunk in _chunks(alerts)
    ]
    mention = any(
        a.severity >= Severity.CRITICAL and a.status is not Status.RESOLVED for a in alerts
    )
    for body in bodies:
        body["username"] = username
        body["allowed_mentions"] = {"parse": [], "roles": list(roles) if mention else []}
        if mention and roles:
            body["content"] = " ".join(f"<@&{r}>" for r in roles)
        elif len(alerts) > 1:
            body["content"] = f"{len(alerts)} alerts on {discord_text(alerts[0].hostname)}"
    return bodies


class DiscordChannel:
    name = "discord"
    groups = True
    pace_secs = 0.5  # well inside the per-webhook bucket; 429s still pause the channel

    def __init__(self, url: str, *, username: str = "sysops-agent", mention_roles: Sequence[str] = (),
                 min_severity: Severity = Severity.WARN, retry_count: int = 5, timeout_secs: float = 10.0,
                 user_agent: str = "sysops-agent", send_resolved: bool = True) -> None:  # fmt: skip
        self.min_severity = min_severity
        self.retry_count = retry_count
        self.send_resolved = send_resolved
        self._username = username
        self._roles = [r for r in mention_roles if r.isdigit()]
        self._http = HttpPoster(url, timeout_secs, user_agent)

    def split(self, alerts: Sequence[Alert]) -> list[Sequence[Alert]]:
        return alerts_of(_chunks(alerts))

    async def send(self, alerts: Sequence[Alert]) -> None:
        for body in messages(alerts, self._username, self._roles):
            await self._http.request(json.dumps(body).encode())

    async def close(self) -> None:
        await self._http.close()


def build(section: Any, context: ChannelContext) -> DiscordChannel | None:
    """The channel from its settings section (alerting.channels.registry names this factory)."""
    if section.webhook_url is None:
        return None
    return DiscordChannel(
        section.webhook_url.reveal(),
        username=section.username,
        mention_roles=section.mention_roles,
        min_severity=context.min_severity,
        user_agent=context.user_agent,
        send_resolved=context.send_resolved,
    )
