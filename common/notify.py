"""sd_notify without libsystemd: one datagram per message to $NOTIFY_SOCKET.

READY=1 after the first successful collection, STATUS= with a one-line health
summary (made one line whatever names it quotes), WATCHDOG=1 from the event loop itself (a stuck loop stops the pings
and systemd restarts the agent), STOPPING=1 and RELOADING=1.  Without
NOTIFY_SOCKET (not started by systemd) every call is a no-op.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

from common.text import single_line

log = logging.getLogger(__name__)

# The status quotes names others chose (a tailed file's symlink target, a mount point): a
# newline in one would end the assignment, and the next line of the datagram would be read
# as one of its own ("WATCHDOG=trigger": systemd aborts and restarts the agent).
STATUS_CHARS = 1024


def _one_line(text: str) -> str:
    return single_line(text, limit=STATUS_CHARS)


class Notifier:
    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        path = env.get("NOTIFY_SOCKET", "")
        self.address = "\0" + path[1:] if path.startswith("@") else path
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        self.watchdog_secs = (
            int(usec) / 1e6 if usec.isdigit() and (not pid or pid == str(os.getpid())) else None
        )
        self._socket: socket.socket | None = None
        self._failed = False

    @property
    def enabled(self) -> bool:
        return bool(self.address)

    def send(self, *lines: str) -> None:
        if not self.address or self._failed:
            return
        try:
            if self._socket is None:
                self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                self._socket.setblocking(False)  # a full socket must never stall the event loop
            # A name that is not UTF-8 (surrogates) is shown escaped, never an exception.
            self._socket.sendto("\n".join(lines).encode("utf-8", "backslashreplace"), self.address)
        except BlockingIOError:
            pass  # the receiver is behind: this message is dropped, the next one will do
        except OSError as exc:
            self._failed = True
            log.warning("cannot notify systemd on %s: %s", self.address, exc)

    def ready(self, status: str) -> None:
        self.send("READY=1", f"STATUS={_one_line(status)}")

    def status(self, text: str) -> None:
        self.send(f"STATUS={_one_line(text)}")

    def watchdog(self) -> None:
        self.send("WATCHDOG=1")

    def stopping(self) -> None:
        self.send("STOPPING=1")

    def reloading(self) -> None:
        self.send("RELOADING=1")
