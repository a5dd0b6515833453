"""Slack incoming webhook: Block Kit with a `text` fallback.

Everything that is not ours goes into `plain_text` objects (no mrkdwn parsing)
after escaping &, < and > (platform-facts section 2), so neither `<!channel>`
nor formatting can come from a log line.  Limits: 50 blocks, header 150,
section text 3000, 10 fields of 2000.  Success is HTTP 200 with body `ok`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from alerting.alert import Alert, Severity, Status
from alerting.channels.http import HttpPoster, HttpResponse
from alerting.channels.registry import ChannelContext
from alerting.format import EMOJI, facts, log_line, slack_text, title, truncate

MAX_BLOCKS = 50
BLOCKS_PER_ALERT = 5


def blocks(alert: Alert) -> list[dict[str, Any]]:
    icon = "✅" if alert.status is Status.RESOLVED else EMOJI[alert.severity]
    out: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {
                "type": "plain_text",
                "text": truncate(f"{icon} {slack_text(title(alert))}", 150),
            },
        },
        {
            "type": "section",
            "text": {"type": "plain_text", "text": truncate(slack_text(alert.message), 3000)},
        },
        {
            "type": "section",
            "fields": [
                {"type": "plain_text", "text": truncate(f"{name}: {slack_text(value)}", 2000)}
                for name, value in facts(alert)[:10]
            ],
        },
    ]
    line = log_line(alert)
    if line:
        out.append(
            {
                "type": "section",
                "text": {"type": "plain_text", "text": truncate(slack_text(line), 3000)},
            }
        )
    out.append(
        {
            "type": "context",
            "elements": [{"type": "plain_text", "text": f"sysops-agent · {alert.analyzer}"}],
        }
    )
    return out


def messages(
    alerts: Sequence[Alert], mention_users: Sequence[str], channel: str | None
) -> list[dict[str, Any]]:
    bodies = []
    per_message = MAX_BLOCKS // BLOCKS_PER_ALERT
    mention = any(
        a.severity >= Severity.CRITICAL and a.status is not Status.RESOLVED for a in alerts
    )
    for start in range(0, len(alerts), per_message):
        chunk = alerts[start : start + per_message]
        items = [block for alert in chunk for block in blocks(alert)][:MAX_BLOCKS]
        summary = slack_text(
            title(chunk[0]) if len(chunk) == 1 else f"{len(chunk)} alerts on {chunk[0].hostname}"
        )
        if mention and mention_users:
            summary = " ".join(f"<@{u}>" for u in mention_users) + " " + summary
        body: dict[str, Any] = {"text": truncate(summary, 3000), "blocks": items}
        if channel:
            body["channel"] = channel
        bodies.append(body)
    return bodies


def _ok(response: HttpResponse) -> bool:
    return response.text.strip() == "ok"


class SlackChannel:
    name = "slack"
    groups = True
    pace_secs = 1.0  # about one message per second per webhook

    def __init__(self, url: str, *, channel: str | None = None, mention_users: Sequence[str] = (),
                 min_severity: Severity = Severity.WARN, retry_count: int = 5, timeout_secs: float = 10.0,
                 user_agent: str = "sysops-agent", send_resolved: bool = True) -> None:  # fmt: skip
        self.min_severity = min_severity
        self.retry_count = retry_count
        self.send_resolved = send_resolved
        self._channel = channel
        self._users = [u for u in mention_users if u.isalnum()]
        self._http = HttpPoster(url, timeout_secs, user_agent)

    async def send(self, alerts: Sequence[Alert]) -> None:
        for body in messages(alerts, self._users, self._channel):
            await self._http.request(json.dumps(body).encode(), accept=_ok)

    async def close(self) -> None:
        await self._http.close()


def build(section: Any, context: ChannelContext) -> SlackChannel | None:
    """The channel from its settings section (alerting.channels.registry names this factory)."""
    if section.webhook_url is None:
        return None
    return SlackChannel(
        section.webhook_url.reveal(),
        channel=section.channel,
        mention_users=section.mention_users,
        min_severity=context.min_severity,
        user_agent=context.user_agent,
        send_resolved=context.send_resolved,
    )
