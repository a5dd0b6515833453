"""Logging to stderr (journald picks it up), as text or one JSON object per line.

Every formatted record passes through `common.secret.scrub`, so a secret that a
library quotes in an exception still never reaches the log.  Every message is
also made one safe line (`common.text.single_line`): a server's error body
or a log line quoted in a message cannot forge a log line of its own or drive
the terminal.  A traceback keeps its lines; it is ours.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from common.secret import scrub
from common.text import single_line

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class ScrubbingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return scrub(super().format(record))

    def formatMessage(self, record: logging.LogRecord) -> str:  # logging's own name
        record.message = single_line(scrub(record.message))  # a secret before its escapes
        return super().formatMessage(record)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        # Scrubbed before the encoding: JSON escapes a secret's quote or backslash, and the
        # escaped form would no longer be found (and masked) in the encoded line.
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": single_line(scrub(record.getMessage())),
        }
        if record.exc_info:
            entry["exception"] = scrub(self.formatException(record.exc_info))
        return scrub(json.dumps(entry, ensure_ascii=False))


def setup_logging(level: str, fmt: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else ScrubbingFormatter(TEXT_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    set_level(level)
    logging.captureWarnings(True)  # a library's warning becomes a log line in the chosen format
    # httpx logs every request URL at INFO, and our URLs hold webhook tokens.
    for noisy in ("httpx", "httpcore", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # nats-py logs a traceback for every failed reconnect; the telemetry's error callback says it once.
    logging.getLogger("nats").setLevel(logging.CRITICAL)


def set_level(level: str) -> None:
    logging.getLogger().setLevel(level.upper())
