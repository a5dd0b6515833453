"""What the signal handlers of a long-running service ask of it (both `sysops-agent` and
`sysops-fleet run`): SIGTERM/SIGINT a stop, SIGHUP a reload, with systemd told."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from common.notify import Notifier

log = logging.getLogger(__name__)


class SignalRequests:
    """Mixed into a service that sets `notifier`, `_stopping` and `_background` and has an
    async `reload()`."""

    notifier: Notifier
    _stopping: asyncio.Event
    _background: set[asyncio.Task[Any]]

    async def reload(self) -> bool:
        raise NotImplementedError

    def request_stop(self) -> None:
        if not self._stopping.is_set():
            log.info("stopping")
            self.notifier.stopping()
            self._stopping.set()

    def request_reload(self) -> None:
        task = asyncio.get_running_loop().create_task(self.reload())
        self._background.add(task)
        task.add_done_callback(self._background.discard)
