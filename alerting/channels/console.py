"""The embedded default channel: one line per alert on standard output.

Logs go to stderr, alerts to stdout, so `sysops-agent | tee alerts.log` keeps
only the alerts.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any, TextIO

from alerting.alert import Alert, Severity
from alerting.channels.base import DeliveryError, OneMessage, plain_text
from alerting.channels.registry import ChannelContext
from alerting.format import undelivered_note


class ConsoleChannel(OneMessage):
    name = "console"
    retry_count = 0
    groups = False
    pace_secs = 0.0

    def __init__(
        self,
        min_severity: Severity = Severity.INFO,
        stream: TextIO | None = None,
        send_resolved: bool = True,
    ) -> None:
        self.min_severity = min_severity
        self.send_resolved = send_resolved
        self._stream = stream

    async def send(self, alerts: Sequence[Alert]) -> None:
        stream = self._stream or sys.stdout
        for alert in alerts:
            state = "TEST" if alert.context.get("test") else alert.status.value.upper()
            # A repeat the daemon refreshed says so itself ("..., still firing since ...").
            still = alert.context.get("still_firing") and "still firing" not in alert.message
            suffix = " (still firing)" if still else ""
            suffix += plain_text(undelivered_note(alert))
            line = (
                f"{alert.iso_timestamp} {alert.severity.label.upper():<9} {state:<8} "
                f"{plain_text(alert.hostname)}: {plain_text(alert.message)}{suffix}\n"
            )
            try:
                stream.write(line)
                stream.flush()
            except OSError as exc:  # a closed pipe or full disk behind stdout
                raise DeliveryError(
                    f"cannot write to stdout: {exc.strerror}", retryable=False
                ) from None

    async def close(self) -> None:
        return None


def build(section: Any, context: ChannelContext) -> ConsoleChannel | None:
    """The channel from its settings section (alerting.channels.registry names this factory)."""
    return ConsoleChannel(context.min_severity, send_resolved=context.send_resolved)
