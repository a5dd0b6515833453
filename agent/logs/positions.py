"""Where each log source got to, persisted atomically in data_dir.

Handled as hostile (common/datafile.py): read only if it is a regular file of at
most MAX_BYTES, never through a symlink; written through a temp file renamed over it.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from common import datafile

log = logging.getLogger(__name__)

MAX_BYTES = 1024 * 1024  # a few hundred bytes per tailed file: far more than ever needed


class Positions:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._data: dict[str, Any] = {}
        self._dirty = False
        try:
            loaded = json.loads(datafile.read_bounded(path, MAX_BYTES))
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
        datafile.write_atomically(self.path, json.dumps(self._data).encode())
        self._dirty = False
