"""Where each log source got to, persisted atomically in data_dir.

data_dir may be writable by someone it should not be (the daemon warns about
that elsewhere), so the file is handled as hostile: read with O_NOFOLLOW and
O_NONBLOCK (a symlink or a FIFO planted as log-positions.json is ignored, not
followed or waited on), only if it is a regular file of at most MAX_BYTES; and
written through a temp file with an unpredictable name created with O_EXCL and
O_NOFOLLOW, then renamed over the old one (rename replaces a planted symlink
itself, it never writes through it).
"""

from __future__ import annotations

import json
import logging
import os
import stat
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

MAX_BYTES = 1024 * 1024  # a few hundred bytes per tailed file: far more than ever needed
_READ_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def read_bounded(path: Path, limit: int = MAX_BYTES) -> bytes:
    """A regular file's content, at most `limit` bytes; OSError for anything else."""
    fd = os.open(path, _READ_FLAGS)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(f"{path} is not a regular file")
        if st.st_size > limit:
            raise OSError(f"{path} is larger than {limit} bytes")
        chunks: list[bytes] = []
        total = 0
        while chunk := os.read(fd, 65536):
            total += len(chunk)
            if total > limit:  # grew while we read
                raise OSError(f"{path} is larger than {limit} bytes")
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


class Positions:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._data: dict[str, Any] = {}
        self._dirty = False
        try:
            loaded = json.loads(read_bounded(path))
            if isinstance(loaded, dict):
                self._data = loaded
        except FileNotFoundError:
            pass
        except (OSError, ValueError) as exc:  # corrupt: start from the end, as on a first start
            log.warning("ignoring unreadable log positions %s: %s", path, exc)

    def get(self, key: str) -> Any:
        return self._data.get(key)

    def set(self, key: str, value: Any) -> None:
        if self._data.get(key) != value:
            self._data[key] = value
            self._dirty = True

    def save(self) -> None:
        if not self._dirty:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = json.dumps(self._data).encode()
        # An unpredictable name (tempfile would cost ~0.6 MB resident for this
        # alone), created with O_EXCL: nothing planted in advance is reused.
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.{os.urandom(6).hex()}.tmp")
        try:
            fd = os.open(tmp, _CREATE_FLAGS, 0o600)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
            finally:
                os.close(fd)
            os.replace(tmp, self.path)
        except OSError:
            tmp.unlink(missing_ok=True)
            raise
        self._dirty = False
