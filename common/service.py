"""What the signal handlers of a long-running service ask of it (both `sysops-agent` and
`sysops-fleet run`): SIGTERM/SIGINT a stop, SIGHUP a reload, with systemd told."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from common.notify import Notifier

log = logging.getLogger(__name__)


class SignalRequests:
    """Mixed into a service that sets `notifier`, `_stopping` and `_background` and has an
    async `reload()`."""

    notifier: Notifier
    _stopping: asyncio.Event
    _background: set[asyncio.Task[Any]]
    # The service's own: its one-line state for systemd's STATUS=.
    status_line: Callable[[], str]

    # The service's own method: apply the configuration file again (True if applied).
    reload: Callable[[], Coroutine[Any, Any, bool]]

    def request_stop(self) -> None:
        if not self._stopping.is_set():
            log.info("stopping")
            self.notifier.stopping()
            self._stopping.set()

    def reload_refused(self, reason: str, problems: Sequence[object] = ()) -> bool:
        """Say why a reload was refused (the running configuration stays), tell systemd
        the service is ready again, and return False for `reload()` to return."""
        log.error("reload failed%s; still running on the previous configuration%s",
                  f" ({reason})" if reason else "", ":" if problems else "")  # fmt: skip
        for problem in problems:
            log.error("  %s", problem)
        self.notifier.ready(self.status_line())
        return False

    def request_reload(self) -> None:
        task = asyncio.get_running_loop().create_task(self.reload())
        self._background.add(task)
        task.add_done_callback(self._background.discard)
