"""The agent's own files in data_dir, handled as hostile: data_dir may be writable by
someone it should not be (the daemon warns about that elsewhere).

Read with O_NOFOLLOW and O_NONBLOCK (a symlink or a FIFO planted in its place is
ignored, not followed or waited on), only if it is a regular file of at most a bound;
written through a temp file with an unpredictable name created with O_EXCL and
O_NOFOLLOW (mode 0600), synced, then renamed over the old one (rename replaces a
planted symlink itself, it never writes through it).
"""

from __future__ import annotations

import contextlib
import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

_READ_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def read_bounded(path: Path, limit: int) -> bytearray:
    """A regular file's content, at most `limit` bytes; OSError for anything else."""
    fd = os.open(path, _READ_FLAGS)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(f"{path} is not a regular file")
        if st.st_size > limit:
            raise OSError(f"{path} is larger than {limit} bytes")
        # One buffer of the file's size, read into: a large file is not held twice.
        buffer = bytearray(st.st_size)
        view, filled = memoryview(buffer), 0
        while filled < st.st_size and (got := os.readv(fd, [view[filled:]])):
            filled += got
        if filled < st.st_size or os.read(fd, 1):  # shrank or grew while we read
            raise OSError(f"{path} changed while it was read")
        return buffer
    finally:
        os.close(fd)


@contextlib.contextmanager
def opened(path: Path) -> Iterator[tuple[int, int]]:
    """(descriptor, size) of a regular file, opened never through a symlink, for a reader
    that reads it by position (`os.pread`) and bounds what it reads itself.  OSError for
    anything else."""
    fd = os.open(path, _READ_FLAGS)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(f"{path} is not a regular file")
        yield fd, st.st_size
    finally:
        os.close(fd)


class AtomicWriter:
    """A file written in parts (on any thread, one at a time), then put in place whole:
    `commit` renames it over `path`; `abort` (or an error) removes it.  Readers see the
    old file or the new, whole; `durable` syncs it first (and the folder after), so that
    a power cut leaves one of them too, not an empty file (an fsync may take long on a
    busy disk: not for what is written on the event loop every second)."""

    def __init__(self, path: Path, durable: bool = False) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path, self.durable = path, durable
        # An unpredictable name (tempfile would cost ~0.6 MB resident for this alone),
        # created with O_EXCL: nothing planted in advance is reused.
        self.tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(6).hex()}.tmp")
        self._fd: int | None = os.open(self.tmp, _CREATE_FLAGS, 0o600)
        # One step at a time: an abort from another thread (a save given up) waits for the
        # write under way, or it would close the descriptor under it (and the number may
        # be another file's by the time the write goes on).
        self._lock = threading.Lock()

    def write(self, part: bytes | memoryview) -> None:
        with self._lock:
            if self._fd is None:
                raise OSError(f"{self.tmp} is closed")
            view = memoryview(part).cast("B")
            try:
                while view:
                    view = view[os.write(self._fd, view) :]
            except OSError:
                self._abort()
                raise

    def commit(self) -> None:
        with self._lock:
            if self._fd is None:
                raise OSError(f"{self.tmp} is closed")
            try:
                if self.durable:
                    os.fsync(self._fd)
                fd, self._fd = self._fd, None  # closed even if close says EIO: never again
                os.close(fd)
                os.replace(self.tmp, self.path)
            except OSError:
                self._abort()
                raise
            if self.durable:  # in place already: a folder that cannot be synced (some FUSE)
                with contextlib.suppress(OSError):
                    folder = os.open(self.path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
                    try:
                        os.fsync(folder)
                    finally:
                        os.close(folder)

    def abort(self) -> None:
        with self._lock:
            self._abort()

    def _abort(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            with contextlib.suppress(OSError):
                os.close(fd)
        with contextlib.suppress(OSError):  # (a read-only remount: removed at the next start)
            self.tmp.unlink(missing_ok=True)


def write_atomically(path: Path, *parts: bytes | memoryview, durable: bool = False) -> None:
    """Replace `path` with `parts`, one after another (0600): see AtomicWriter."""
    out = AtomicWriter(path, durable)
    for part in parts:
        out.write(part)
    out.commit()


# -- SQLite files of ours -------------------------------------------------------------------

SIBLINGS = ("-wal", "-shm", "-journal")  # what SQLite keeps next to the database file


class UnsafeFileError(OSError):
    """A file in data_dir that the agent must not open (a symlink, a FIFO, someone else's)."""


def open_private(path: Path) -> int:
    """Open (creating it 0600 if needed) a regular file of ours at `path`, never through a symlink.

    Returns the descriptor; the caller closes it.  O_NONBLOCK keeps a FIFO planted
    there from blocking the open; it is then refused as not a regular file.
    """
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, 0o600)
    except OSError as exc:
        if os.path.islink(path):
            raise UnsafeFileError(f"{path} is a symbolic link; refusing to follow it") from exc
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UnsafeFileError(f"{path} is not a regular file")
        if info.st_uid != os.geteuid():
            raise UnsafeFileError(f"{path} belongs to uid {info.st_uid}, not to the agent")
    except BaseException:
        os.close(fd)
        raise
    return fd


def check_sibling(path: Path) -> None:
    """A SQLite sibling file that exists must be a regular file of ours (SQLite creates it otherwise)."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISREG(info.st_mode):
        raise UnsafeFileError(f"{path} is not a regular file (a symlink or a special file)")
    if info.st_uid != os.geteuid():
        raise UnsafeFileError(f"{path} belongs to uid {info.st_uid}, not to the agent")


def check_sqlite_file(path: Path) -> tuple[int, int]:
    """Before SQLite opens `path` (which it would follow through a symlink, and create the
    target of): the file and its siblings are regular files of ours, the file created 0600
    if missing.  Returns its (device, inode), for `check_same_file` once SQLite has it."""
    for suffix in SIBLINGS:
        check_sibling(Path(f"{path}{suffix}"))
    fd = open_private(path)
    try:
        info = os.fstat(fd)
    finally:
        os.close(fd)
    return info.st_dev, info.st_ino


def check_same_file(path: Path, identity: tuple[int, int]) -> None:
    """Refuse `path` if it was swapped for something else since `check_sqlite_file`."""
    now = os.lstat(path)
    if (now.st_dev, now.st_ino) != identity:
        raise UnsafeFileError(f"{path} was replaced while it was being opened")
