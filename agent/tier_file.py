"""The store's history tier kept across a restart (`data_dir/history-tier.bin`).

Without it every restart (an upgrade, a configuration change that needs one, a
reboot) forgets the day of history the analyzers judge by: the next night's
backup is news again to z-score and season (they look for the same time of day
on an earlier day), a disk filling slowly needs a new hour before its trend
speaks, a leak its hour and more.  A fleet upgraded in the afternoon paged that
night for every host's nightly job.

Written at a clean stop and every `SAVE_EVERY_SECS` while running (so a kill -9,
an OOM kill or a power cut loses at most that much of it), read once at start-up
before any collector runs (`Store.restore_history`).  Only the history tier is
kept: the raw tier's last hour at 10 s is detail the analyzers learn again, and
their own state (baselines, learning time) starts afresh.

The format is ours and small, so that reading it is safe and costs no import
(numpy's .npz would bring zipfile, bz2 and lzma into the resident daemon):

    MAGIC, a little-endian uint64 header length, a UTF-8 JSON header
    {"version", "saved_at", "resolution", "rings": [{"group", "times", "keys"}]},
    then per ring its values, float32 little-endian, instants x series.

The file is handled as hostile (common/datafile.py) and checked whole before use;
anything wrong with it is logged and the agent starts without it, as before.
"""

from __future__ import annotations

import json
import logging
import math
import struct
from pathlib import Path
from typing import Any

import numpy as np

from agent.store import Store, TierCopy
from analyzers.base import SeriesKey
from common import datafile

log = logging.getLogger(__name__)

FILE_NAME = "history-tier.bin"
MAGIC = b"sysops-agent history tier\n"
VERSION = 1
SAVE_EVERY_SECS = 900.0
MAX_BYTES = 2 * 1024**3  # 90,000 series with a day of 1-minute buckets: beyond any cap
_LENGTH = struct.Struct("<Q")
_FLOAT32 = np.dtype("<f4")


def path_in(data_dir: str | Path) -> Path:
    return Path(data_dir) / FILE_NAME


def encode(copies: list[TierCopy], resolution: float, saved_at: float) -> list[bytes | memoryview]:
    """The file's parts in order (the values as views of the copies: no second copy)."""
    header = {
        "version": VERSION,
        "saved_at": saved_at,
        "resolution": resolution,
        "rings": [
            {
                "group": c.group,
                "times": c.times.tolist(),
                "keys": [[k.metric, [list(pair) for pair in k.labels]] for k in c.keys],
            }
            for c in copies
        ],
    }
    head = json.dumps(header, separators=(",", ":")).encode()
    parts: list[bytes | memoryview] = [MAGIC, _LENGTH.pack(len(head)), head]
    parts += [np.ascontiguousarray(c.values, dtype=_FLOAT32).data for c in copies]
    return parts


def decode(data: bytes) -> tuple[float, float, list[TierCopy]]:
    """(resolution, saved_at, the rings' tiers); ValueError if anything is off."""
    if not data.startswith(MAGIC):
        raise ValueError("not a history tier file")
    at = len(MAGIC)
    if len(data) < at + _LENGTH.size:
        raise ValueError("truncated header")
    (length,) = _LENGTH.unpack_from(data, at)
    at += _LENGTH.size
    if length > len(data) - at:
        raise ValueError("truncated header")
    header = json.loads(data[at : at + length])
    at += length
    if not isinstance(header, dict) or header.get("version") != VERSION:
        raise ValueError("unknown version")
    resolution, saved_at = _number(header, "resolution"), _number(header, "saved_at")
    rings = header.get("rings")
    if not isinstance(rings, list):
        raise ValueError("no rings")
    copies = []
    for ring in rings:
        if not isinstance(ring, dict) or not isinstance(ring.get("group"), str):
            raise ValueError("a ring without a group")
        times = np.array(ring.get("times"), dtype=np.float64)
        keys = [_key(k) for k in _list(ring.get("keys"))]
        if times.ndim != 1 or not np.isfinite(times).all():
            raise ValueError("bad times")
        size = times.size * len(keys) * _FLOAT32.itemsize
        if size > len(data) - at:
            raise ValueError("truncated values")
        values = np.frombuffer(data, _FLOAT32, times.size * len(keys), at)
        at += size
        copies.append(
            TierCopy(ring["group"], times, keys, values.reshape(times.size, len(keys)).copy())
        )
    if at != len(data):
        raise ValueError("trailing bytes")
    return resolution, saved_at, copies


def _number(header: dict[str, Any], name: str) -> float:
    value = header.get(name)
    if not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"bad {name}")
    return float(value)


def _list(value: object) -> list[Any]:
    if not isinstance(value, list):
        raise ValueError("a list expected")
    return value


def _key(raw: object) -> SeriesKey:
    item = _list(raw)
    if len(item) != 2 or not isinstance(item[0], str):
        raise ValueError("bad series key")
    labels = []
    for raw_pair in _list(item[1]):
        pair = _list(raw_pair)
        if len(pair) != 2 or not all(isinstance(p, str) for p in pair):
            raise ValueError("bad label")
        labels.append((pair[0], pair[1]))
    return SeriesKey(item[0], tuple(labels))


def write(path: Path, copies: list[TierCopy], resolution: float, saved_at: float) -> None:
    """Keep `copies` (`Store.history_tiers()`) in `path` (OSError if it cannot): on any
    thread, they are copies."""
    datafile.write_atomically(path, *encode(copies, resolution, saved_at))


def restore(store: Store, path: Path, now: float) -> int:
    """Take the kept history tiers back into a store nothing was written to yet; the
    series taken back (0 without a usable file, said in the log)."""
    try:
        resolution, saved_at, copies = decode(datafile.read_bounded(path, MAX_BYTES))
    except FileNotFoundError:
        return 0
    except (OSError, ValueError) as exc:
        log.warning("history kept at the last stop not used (%s): %s", path, exc)
        return 0
    if resolution != store.resolution:
        log.info("history kept at the last stop not used: its buckets are %g s, now %g s",
                 resolution, store.resolution)  # fmt: skip
        return 0
    taken = sum(store.restore_history(copy, now) for copy in copies)
    log.info("history of %d series taken back from %s (kept %.0f min ago)",
             taken, path, max(0.0, now - saved_at) / 60)  # fmt: skip
    return taken
