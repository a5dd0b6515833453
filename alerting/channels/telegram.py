"""Telegram Bot API sendMessage, HTML parse mode, every text escaped.

Only <b> and <pre> tags of ours; every `<`, `>`, `&` of the alert is an entity.
Text is at most 4096 characters: longer groups are split over several
messages.  Info and warn arrive silently (`disable_notification`).  A 429 says
how long the bot must wait (`parameters.retry_after`); a group that became a
supergroup answers `migrate_to_chat_id`, which is adopted and retried.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from alerting.alert import Alert, Severity, Status
from alerting.channels.base import DeliveryError, alerts_of
from alerting.channels.http import HttpPoster, HttpResponse
from alerting.channels.registry import ChannelContext
from alerting.format import (
    EMOJI,
    facts,
    html_text,
    log_line,
    message_text,
    telegram_mentions_broken,
    telegram_text,
    title,
)

TEXT_LIMIT = 4096
SEPARATOR = "\n\n"  # between two alerts of a message
DEFAULT_API_URL = "https://api.telegram.org"


def render(alert: Alert) -> str:
    icon = "✅" if alert.status is Status.RESOLVED else EMOJI[alert.severity]
    parts = [f"{icon} <b>{telegram_text(title(alert))}</b>", telegram_text(message_text(alert)), ""]
    parts += [
        f"<b>{telegram_text(name)}:</b> {telegram_text(value)}" for name, value in facts(alert)
    ]
    line = log_line(alert)
    if line:
        parts.append(f"<pre>{telegram_text(line[:1500])}</pre>")
    return "\n".join(parts)


def _chunks(alerts: Sequence[Alert]) -> list[list[tuple[Alert, str]]]:
    """Alerts with their texts, in messages within the limit; one alert longer than the
    limit is cut at a safe place."""
    out: list[list[tuple[Alert, str]]] = []
    size = 0
    for alert in alerts:
        piece = render(alert)
        if len(piece) > TEXT_LIMIT:  # cut the escaped message body, never inside an entity or a tag
            piece = render_short(alert)
        if not out or size + len(SEPARATOR) + len(piece) > TEXT_LIMIT:
            out.append([])
            size = -len(SEPARATOR)
        out[-1].append((alert, piece))
        size += len(SEPARATOR) + len(piece)
    return out


def texts(alerts: Sequence[Alert]) -> list[str]:
    """Message texts within the limit."""
    return [SEPARATOR.join(piece for _, piece in chunk) for chunk in _chunks(alerts)]


def render_short(alert: Alert) -> str:
    head = f"<b>{telegram_text(title(alert)[:300])}</b>\n"
    room = TEXT_LIMIT - len(head) - 20
    body = ""
    for ch in telegram_mentions_broken(message_text(alert) + "\n" + (log_line(alert) or "")):
        escaped = html_text(ch)
        if len(body) + len(escaped) > room:
            body += "…"
            break
        body += escaped
    return head + body


class TelegramChannel:
    name = "telegram"
    groups = True

    def __init__(self, token: str, chat_id: str, *, api_url: str = DEFAULT_API_URL,
                 min_severity: Severity = Severity.WARN, retry_count: int = 5, timeout_secs: float = 10.0,
                 user_agent: str = "sysops-agent", send_resolved: bool = True) -> None:  # fmt: skip
        self.min_severity = min_severity
        self.retry_count = retry_count
        self.send_resolved = send_resolved
        self.chat_id = chat_id
        # One message a second in a chat; groups (negative ids) allow 20 a minute.
        self.pace_secs = 3.0 if chat_id.startswith("-") else 1.0
        self._http = HttpPoster(
            f"{api_url.rstrip('/')}/bot{token}/sendMessage", timeout_secs, user_agent
        )

    def split(self, alerts: Sequence[Alert]) -> list[Sequence[Alert]]:
        return alerts_of(_chunks(alerts))

    async def send(self, alerts: Sequence[Alert]) -> None:
        loud = any(
            a.severity >= Severity.CRITICAL and a.status is not Status.RESOLVED for a in alerts
        )
        for text in texts(alerts):
            await self._send_text(text, silent=not loud)

    async def _send_text(self, text: str, silent: bool) -> None:
        body: dict[str, Any] = {
            "chat_id": self.chat_id,
            "text": text,
            "parse_mode": "HTML",
            "disable_notification": silent,
            "link_preview_options": {"is_disabled": True},
        }
        try:
            await self._http.request(json.dumps(body).encode(), accept=_ok)
        except DeliveryError as exc:
            parameters = exc.details.get("parameters")
            migrated = (
                parameters.get("migrate_to_chat_id") if isinstance(parameters, dict) else None
            )
            if not isinstance(migrated, int):
                raise
            self.chat_id = str(migrated)
            body["chat_id"] = self.chat_id
            await self._http.request(json.dumps(body).encode(), accept=_ok)

    async def close(self) -> None:
        await self._http.close()


def _ok(response: HttpResponse) -> bool:
    try:
        return bool(response.json().get("ok"))
    except ValueError:
        return False


def build(section: Any, context: ChannelContext) -> TelegramChannel | None:
    """The channel from its settings section (alerting.channels.registry names this factory)."""
    if section.bot_token is None or not section.chat_id:
        return None
    return TelegramChannel(
        section.bot_token.reveal(),
        section.chat_id,
        api_url=section.api_url,
        min_severity=context.min_severity,
        user_agent=context.user_agent,
        send_resolved=context.send_resolved,
    )
