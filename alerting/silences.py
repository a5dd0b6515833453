"""Silences (ad hoc, from the CLI) and maintenance windows (recurring, from the config).

A silence is a set of label matchers with a start, an end (always) and a
comment; it lives in `data_dir/silences.json`, which the CLI writes
atomically and the running agent re-reads when it changes, so `sysops-agent
silence add ...` works without a restart.  Matchers name a label, or one of
`metric`, `analyzer`, `severity`, `host`; `=`, `!=` and `=~` (regular
expression, anchored) compare.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from datetime import time as dtime
from pathlib import Path

from alerting.alert import Alert

_MATCHER = re.compile(r"^(?P<key>[A-Za-z_][A-Za-z0-9_]*)\s*(?P<op>=~|!=|=)\s*(?P<value>.*)$")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def parse_matcher(text: str) -> tuple[str, str, str]:
    found = _MATCHER.match(text.strip())
    if found is None:
        raise ValueError(f"bad matcher {text!r}: expected key=value, key!=value or key=~regex")
    key, op, value = found.group("key"), found.group("op"), found.group("value")
    if op == "=~":
        re.compile(value)
    return key, op, value


def _field(alert: Alert, key: str) -> str:
    special = {
        "metric": alert.metric,
        "analyzer": alert.analyzer,
        "severity": alert.severity.label,
        "host": alert.hostname,
    }
    return special[key] if key in special else dict(alert.labels).get(key, "")


def matches(matchers: Iterable[tuple[str, str, str]], alert: Alert) -> bool:
    for key, op, value in matchers:
        actual = _field(alert, key)
        if op == "=" and actual != value:
            return False
        if op == "!=" and actual == value:
            return False
        if op == "=~" and re.fullmatch(value, actual) is None:
            return False
    return True


def parse_duration(text: str) -> float:
    """`90s`, `30m`, `2h`, `1d`, or combinations like `1h30m`."""
    parts = re.findall(r"(\d+(?:\.\d+)?)([smhd])", text.strip())
    if not parts or "".join(n + u for n, u in parts) != text.strip():
        raise ValueError(f"bad duration {text!r}: use e.g. 30m, 2h, 1d, 1h30m")
    return sum(float(n) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[u] for n, u in parts)


@dataclass(frozen=True)
class Silence:
    id: str
    matchers: tuple[tuple[str, str, str], ...]
    starts: float
    ends: float
    comment: str
    created_by: str = ""

    def active(self, now: float) -> bool:
        return self.starts <= now < self.ends

    def silences(self, alert: Alert, now: float) -> bool:
        return self.active(now) and matches(self.matchers, alert)


class SilenceFile:
    """silences.json: read when it changed, written atomically."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._mtime: float | None = None
        self._silences: list[Silence] = []
        self._checked = 0.0

    def current(self, check_every: float = 2.0) -> list[Silence]:
        now = time.monotonic()
        if now - self._checked >= check_every:
            self._checked = now
            self._reload()
        return self._silences

    def _reload(self) -> None:
        try:
            mtime = self.path.stat().st_mtime
        except FileNotFoundError:
            self._silences, self._mtime = [], None
            return
        if mtime == self._mtime:
            return
        self._mtime = mtime
        self._silences = self.load()

    def load(self) -> list[Silence]:
        try:
            data = json.loads(self.path.read_text())
        except (FileNotFoundError, ValueError):
            return []
        out = []
        for item in data if isinstance(data, list) else []:
            try:
                matchers = tuple((str(k), str(op), str(v)) for k, op, v in item["matchers"])
                starts, ends = float(item["starts"]), float(item["ends"])
                comment, by = str(item.get("comment", "")), str(item.get("created_by", ""))
                out.append(Silence(str(item["id"]), matchers, starts, ends, comment, by))
            except (KeyError, TypeError, ValueError):
                continue
        return out

    def save(self, silences: Sequence[Silence]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        import tempfile  # the CLI writes; the agent only reads

        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".silences.")
        with os.fdopen(fd, "w") as handle:
            json.dump([asdict(s) for s in silences], handle, indent=1)
        os.replace(tmp, self.path)

    def add(
        self,
        matchers: Sequence[tuple[str, str, str]],
        duration: float,
        comment: str,
        created_by: str = "",
    ) -> Silence:
        import uuid  # the CLI adds silences; the agent only reads them

        now = time.time()
        silence = Silence(
            uuid.uuid4().hex[:12], tuple(matchers), now, now + duration, comment, created_by
        )
        kept = [s for s in self.load() if s.ends > now]  # expired ones are cleaned up on the way
        self.save([*kept, silence])
        return silence

    def expire(self, silence_id: str) -> bool:
        now = time.time()
        found = False
        updated = []
        for silence in self.load():
            if silence.id == silence_id and silence.ends > now:
                updated.append(dataclasses.replace(silence, ends=now))
                found = True
            else:
                updated.append(silence)
        self.save(updated)
        return found


@dataclass(frozen=True)
class MaintenanceWindow:
    """Every `weekdays` from `start` to `end` (local time in `timezone`), alerts matching are silenced."""

    weekdays: tuple[str, ...]
    start: dtime
    end: dtime
    timezone: str
    matchers: tuple[tuple[str, str, str], ...]
    name: str = ""

    def active(self, now: float) -> bool:
        from zoneinfo import ZoneInfo  # only with maintenance windows

        local = datetime.fromtimestamp(now, ZoneInfo(self.timezone))
        day = WEEKDAYS[local.weekday()]
        clock = local.time()
        if self.start <= self.end:
            return day in self.weekdays and self.start <= clock < self.end
        # Over midnight: the evening belongs to the listed day, the morning to the day after it.
        yesterday = WEEKDAYS[(local.weekday() - 1) % 7]
        return (day in self.weekdays and clock >= self.start) or (
            yesterday in self.weekdays and clock < self.end
        )

    def silences(self, alert: Alert, now: float) -> bool:
        return self.active(now) and matches(self.matchers, alert)


@dataclass(frozen=True)
class InhibitRule:
    """While a firing alert matches `source`, alerts matching `target` with equal `equal` labels are muted."""

    source: tuple[tuple[str, str, str], ...]
    target: tuple[tuple[str, str, str], ...]
    equal: tuple[str, ...]

    def mutes(self, source: Alert, target: Alert) -> bool:
        if (
            source.fingerprint == target.fingerprint
            or not matches(self.target, target)
            or not matches(self.source, source)
        ):
            return False
        return all(_field(source, label) == _field(target, label) for label in self.equal)
