"""The agent's own files in data_dir, handled as hostile: data_dir may be writable by
someone it should not be (the daemon warns about that elsewhere).

Read with O_NOFOLLOW and O_NONBLOCK (a symlink or a FIFO planted in its place is
ignored, not followed or waited on), only if it is a regular file of at most a bound;
written through a temp file with an unpredictable name created with O_EXCL and
O_NOFOLLOW (mode 0600), then renamed over the old one (rename replaces a planted
symlink itself, it never writes through it).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

_READ_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def read_bounded(path: Path, limit: int) -> bytes:
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


def write_atomically(path: Path, *parts: bytes | memoryview) -> None:
    """Replace `path` with `parts`, one after another (0600): readers see the old file or
    the new, whole.  Parts, not one bytes: a large file is not copied whole first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # An unpredictable name (tempfile would cost ~0.6 MB resident for this alone),
    # created with O_EXCL: nothing planted in advance is reused.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(6).hex()}.tmp")
    try:
        fd = os.open(tmp, _CREATE_FLAGS, 0o600)
        try:
            for part in parts:
                view = memoryview(part).cast("B")
                while view:
                    view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise
