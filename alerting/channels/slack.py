"""Slack incoming webhook: Block Kit with a `text` fallback.

Everything that is not ours goes into `plain_text` objects (no mrkdwn parsing)
after escaping &, < and > (platform-facts section 2), so neither `<!channel>`
nor formatting can come from a log line.  Limits: 50 blocks, header 150,
section text 3000, 10 fields of 2000.  Success is HTTP 200 with body `ok`.

Slack also refuses a message whose blocks hold more than about 12,000 characters of
text in all (`msg_blocks_too_long`: not in its documentation, reported from 11,341,
slackapi/bolt-js #2509 and #2867), and a 400 is not retried: ten long log alerts in one
group lost them all, a real critical among them.  So one alert's blocks are cut to
`ALERT_TEXT_MAX` and a message holds alerts up to `MESSAGE_TEXT_BUDGET`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from alerting.alert import Alert, Severity, Status
from alerting.channels.base import alerts_of
from alerting.channels.http import HttpPoster, HttpResponse
from alerting.channels.registry import ChannelContext
from alerting.format import EMOJI, facts, log_line, message_text, slack_text, title, truncate

MAX_BLOCKS = 50
MESSAGE_TEXT_BUDGET = 8000  # characters of text in all of a message's blocks
# One alert's pieces: header 150, message 2000, 10 fields of 300, log line 2000, footer:
# at most ALERT_TEXT_MAX, so any alert fits a message of its own.
MESSAGE_CHARS, FIELD_CHARS, LINE_CHARS = 2000, 300, 2000
ALERT_TEXT_MAX = 150 + MESSAGE_CHARS + 10 * FIELD_CHARS + LINE_CHARS + 100


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
            "text": {
                "type": "plain_text",
                "text": truncate(slack_text(message_text(alert)), MESSAGE_CHARS),
            },
        },
        {
            "type": "section",
            "fields": [
                {
                    "type": "plain_text",
                    "text": truncate(f"{name}: {slack_text(value)}", FIELD_CHARS),
                }
                for name, value in facts(alert)[:10]
            ],
        },
    ]
    line = log_line(alert)
    if line:
        out.append(
            {
                "type": "section",
                "text": {"type": "plain_text", "text": truncate(slack_text(line), LINE_CHARS)},
            }
        )
    out.append(
        {
            "type": "context",
            "elements": [{"type": "plain_text", "text": f"sysops-agent · {alert.analyzer}"}],
        }
    )
    return out


def text_size(items: Sequence[dict[str, Any]]) -> int:
    """Characters of text in blocks, as Slack counts them against its total."""
    size = 0
    for block in items:
        texts = [block.get("text"), *block.get("fields", ()), *block.get("elements", ())]
        size += sum(len(t["text"]) for t in texts if t)
    return size


def _chunks(alerts: Sequence[Alert]) -> list[list[tuple[Alert, list[dict[str, Any]]]]]:
    """Alerts with their blocks, in messages of at most MAX_BLOCKS and MESSAGE_TEXT_BUDGET."""
    out: list[list[tuple[Alert, list[dict[str, Any]]]]] = []
    count = size = 0
    for alert in alerts:
        items = blocks(alert)
        if (
            not out
            or count + len(items) > MAX_BLOCKS
            or size + text_size(items) > MESSAGE_TEXT_BUDGET
        ):
            out.append([])
            count = size = 0
        out[-1].append((alert, items))
        count, size = count + len(items), size + text_size(items)
    return out


def messages(
    alerts: Sequence[Alert], mention_users: Sequence[str], channel: str | None
) -> list[dict[str, Any]]:
    bodies = []
    mention = any(
        a.severity >= Severity.CRITICAL and a.status is not Status.RESOLVED for a in alerts
    )
    for pieces in _chunks(alerts):
        chunk = [alert for alert, _ in pieces]
        items = [block for _, alert_blocks in pieces for block in alert_blocks]
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

    def split(self, alerts: Sequence[Alert]) -> list[Sequence[Alert]]:
        return alerts_of(_chunks(alerts))

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
