"""Log formatting: text or JSON, and a secret that slips into a message is scrubbed."""

from __future__ import annotations

import json
import logging

from common.logsetup import JsonFormatter, ScrubbingFormatter
from common.secret import Secret


def record(message: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord("agent.test", logging.ERROR, __file__, 1, message, args, None)


def test_text_and_json_formatters_scrub_known_secrets() -> None:
    secret = Secret("https://discord.com/api/webhooks/1/tok-XYZ-123")
    leak = record("request to %s failed", secret.reveal())
    text = ScrubbingFormatter("%(message)s").format(leak)
    assert text == "request to *** failed"
    entry = json.loads(JsonFormatter().format(leak))
    assert entry["message"] == "request to *** failed" and entry["level"] == "error"


def test_secret_formats_as_mask() -> None:
    secret = Secret("hunter2-password")
    assert f"{secret}" == "***" and str(secret) == "***" and "hunter2" not in repr(secret)


def test_a_secret_with_a_quote_or_a_backslash_is_scrubbed_in_json_too() -> None:
    """JSON escapes '"' and '\\': scrubbing the encoded line would no longer find the value."""
    secret = Secret('s3cr"et\\pass\tword')
    leak = record("login with %s refused", secret.reveal())
    entry = json.loads(JsonFormatter().format(leak))
    assert entry["message"] == "login with *** refused"
    assert ScrubbingFormatter("%(message)s").format(leak) == "login with *** refused"
