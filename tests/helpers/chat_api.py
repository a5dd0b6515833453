"""A local HTTP server that behaves like the Discord, Slack and Telegram APIs.

It checks every request the way the real services do (size limits, required
fields, Telegram's HTML entity parsing) and answers with their status codes
and body shapes, including their three different 429 forms.  Tests script the
answers and read what was received.
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TELEGRAM_TAGS = {
    "b",
    "strong",
    "i",
    "em",
    "u",
    "ins",
    "s",
    "strike",
    "del",
    "a",
    "code",
    "pre",
    "blockquote",
    "tg-spoiler",
    "span",
}


class _TelegramHTML(HTMLParser):
    """Telegram's HTML mode: known tags only, balanced; the text length is counted after entities."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.text_length = 0
        self.error: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in TELEGRAM_TAGS:
            self.error = f'Unsupported start tag "{tag}"'
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack.pop() != tag:
            self.error = f'Unexpected end tag "{tag}"'

    def handle_data(self, data: str) -> None:
        self.text_length += len(data)


def discord_problem(body: dict[str, Any]) -> str | None:
    if "allowed_mentions" not in body:
        return "allowed_mentions missing (the agent must always send it)"
    if not body.get("content") and not body.get("embeds"):
        return "Cannot send an empty message"
    if len(body.get("content") or "") > 2000:
        return "content: Must be 2000 or fewer in length."
    embeds = body.get("embeds") or []
    if len(embeds) > 10:
        return "embeds: Must be 10 or fewer in length."
    total = 0
    for e in embeds:
        if not isinstance(e.get("color", 0), int):
            return "color must be an integer"
        if (
            len(e.get("title", "")) > 256
            or len(e.get("description", "")) > 4096
            or len(e.get("fields", [])) > 25
        ):
            return "embed limit"
        for f in e.get("fields", []):
            if len(f["name"]) > 256 or len(f["value"]) > 1024 or not f["value"]:
                return "field limit"
            total += len(f["name"]) + len(f["value"])
        total += (
            len(e.get("title", ""))
            + len(e.get("description", ""))
            + len(e.get("footer", {}).get("text", ""))
        )
    if total > 6000:
        return "Embed size exceeds maximum size of 6000"
    return None


# Slack's undocumented total of text over a message's blocks: rejections are reported from
# 11,341 characters (slackapi/bolt-js #2509, #2867); the stand-in refuses past 11,000.
SLACK_BLOCKS_TEXT_MAX = 11_000


def slack_problem(body: dict[str, Any]) -> str | None:
    if not body.get("text"):
        return "no_text"
    blocks = body.get("blocks", [])
    if len(blocks) > 50:
        return "invalid_blocks"
    total = 0
    for b in blocks:
        texts = [b.get("text"), *b.get("fields", ()), *b.get("elements", ())]
        total += sum(len(t["text"]) for t in texts if t)
    if total > SLACK_BLOCKS_TEXT_MAX:
        return "msg_blocks_too_long"
    for b in blocks:
        if b["type"] == "header" and (
            b["text"]["type"] != "plain_text" or len(b["text"]["text"]) > 150
        ):
            return "invalid_blocks"
        if b["type"] == "section":
            if "text" in b and len(b["text"]["text"]) > 3000:
                return "invalid_blocks"
            if len(b.get("fields", [])) > 10 or any(
                len(f["text"]) > 2000 for f in b.get("fields", [])
            ):
                return "invalid_blocks"
    return None


def telegram_problem(body: dict[str, Any]) -> str | None:
    if body.get("parse_mode") != "HTML":
        return None
    parser = _TelegramHTML()
    parser.feed(body.get("text", ""))
    parser.close()
    if parser.error or parser.stack:
        return f"Bad Request: can't parse entities: {parser.error or 'unclosed tag'}"
    if not 1 <= parser.text_length <= 4096:
        return "Bad Request: message is too long"
    return None


@dataclass
class ChatApi:
    server: ThreadingHTTPServer
    received: dict[str, list[dict[str, Any]]] = field(
        default_factory=lambda: {"discord": [], "slack": [], "telegram": []}
    )
    # Scripted answers per service, consumed in order: "429", "503", "404", "migrate:<id>".
    script: dict[str, list[str]] = field(
        default_factory=lambda: {"discord": [], "slack": [], "telegram": []}
    )
    attempts: dict[str, int] = field(
        default_factory=lambda: {"discord": 0, "slack": 0, "telegram": 0}
    )
    # When each attempt came (time.monotonic()), per service.
    attempted_at: dict[str, list[float]] = field(
        default_factory=lambda: {"discord": [], "slack": [], "telegram": []}
    )
    problems: list[str] = field(default_factory=list)
    lock: threading.Condition = field(default_factory=threading.Condition)

    @property
    def base(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def wait(self, service: str, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        with self.lock:
            self.lock.wait_for(lambda: len(self.received[service]) >= count, timeout)
            return list(self.received[service])


def make_handler(api: ChatApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def _reply(
            self,
            status: int,
            body: bytes = b"",
            headers: dict[str, str] | None = None,
            ctype: str = "application/json",
        ) -> None:
            self.send_response(status)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            body = json.loads(raw)
            if re.fullmatch(r"/api/webhooks/\d+/[\w-]+", self.path):
                service = "discord"
            elif self.path.startswith("/services/"):
                service = "slack"
            elif re.fullmatch(r"/bot[\w:-]+/sendMessage", self.path):
                service = "telegram"
            else:
                self._reply(404, b"{}")
                return
            with api.lock:
                api.attempts[service] += 1
                api.attempted_at[service].append(time.monotonic())
                step = api.script[service].pop(0) if api.script[service] else ""
            if step == "429":
                if service == "discord":
                    self._reply(
                        429,
                        json.dumps(
                            {
                                "message": "You are being rate limited.",
                                "retry_after": 0.3,
                                "global": False,
                            }
                        ).encode(),
                        {"Retry-After": "1"},
                    )
                elif service == "slack":
                    self._reply(429, b"rate_limited", {"Retry-After": "0.3"}, "text/plain")
                else:
                    self._reply(
                        429,
                        json.dumps(
                            {
                                "ok": False,
                                "error_code": 429,
                                "description": "Too Many Requests: retry after 0.3",
                                "parameters": {"retry_after": 0.3},
                            }
                        ).encode(),
                    )
                return
            if step in ("503", "404"):
                self._reply(
                    int(step),
                    b"{}" if service != "slack" else b"no_service",
                    ctype="application/json" if service != "slack" else "text/plain",
                )
                return
            if step.startswith("migrate:"):
                self._reply(400, json.dumps({"ok": False, "error_code": 400, "description": "Bad Request: group chat was upgraded to a supergroup chat",
                                             "parameters": {"migrate_to_chat_id": int(step[8:])}}).encode())  # fmt: skip
                return
            problem = {
                "discord": discord_problem,
                "slack": slack_problem,
                "telegram": telegram_problem,
            }[service](body)
            if problem:
                with api.lock:
                    api.problems.append(f"{service}: {problem}")
                if service == "slack":
                    self._reply(400, problem.encode(), ctype="text/plain")
                elif service == "telegram":
                    self._reply(
                        400,
                        json.dumps(
                            {"ok": False, "error_code": 400, "description": problem}
                        ).encode(),
                    )
                else:
                    self._reply(400, json.dumps({"message": problem, "code": 50035}).encode())
                return
            with api.lock:
                api.received[service].append(body)
                api.lock.notify_all()
            if service == "discord":
                self._reply(204)
            elif service == "slack":
                self._reply(200, b"ok", ctype="text/plain")
            else:
                self._reply(
                    200,
                    json.dumps(
                        {"ok": True, "result": {"message_id": len(api.received["telegram"])}}
                    ).encode(),
                )

    return Handler


def start_chat_api() -> ChatApi:
    api = ChatApi(ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler))
    api.server.server_close()
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(api))
    api.server = server
    # A short poll interval: shutdown() returns within 0.02 s instead of 0.5 s.
    threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
    return api
