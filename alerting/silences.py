"""Silences (ad hoc, from the CLI) and maintenance windows (recurring, from the config).

A silence is a set of label matchers with a start, an end (always) and a
comment; it lives in `data_dir/silences.json`, which the CLI writes
atomically and the running agent re-reads when it changes, so `sysops-agent
silence add ...` works without a restart.  Matchers name a label, or one of
`metric`, `analyzer`, `severity`, `host`; `=`, `!=` and `=~` (regular
expression, anchored) compare.

silences.json is in data_dir, which a local user may be able to write to, and
root may write it (`silence add` under sudo) for a daemon that is not root.
So it is read without following a symlink and without blocking (O_NOFOLLOW,
O_NONBLOCK), only if it is a regular file, and at most `MAX_SILENCE_BYTES`: a
FIFO or a link to /dev/zero is refused with a warning, never a hang or
gigabytes of memory.  A file that cannot be read is reported (`problem`, in
the heartbeat; logged once until it is readable again) and the silences last
read stay in force; it never breaks routing.  The CLI writes the file with the
owner and group of data_dir and mode 0640, so the daemon can read it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import re
import stat
import time
from collections.abc import Collection, Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from datetime import time as dtime
from pathlib import Path
from typing import TYPE_CHECKING

from alerting.alert import Alert, Severity
from common.text import closest

if TYPE_CHECKING:
    from alerting.settings import AlertingSettings

log = logging.getLogger(__name__)

MAX_SILENCE_BYTES = 1 << 20  # 1 MiB: thousands of silences; anything bigger is not ours

_MATCHER = re.compile(r"^(?P<key>[A-Za-z_][A-Za-z0-9_]*)\s*(?P<op>=~|!=|=)\s*(?P<value>.*)$")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


_ESCAPED = re.compile(r"\\.")
_CLASS = re.compile(r"\[\^?\]?[^\]]*\]")
_REPEATED_GROUP = re.compile(r"\)(?:[*+]|\{\d*,?\d*\})")
_REPEAT = re.compile(r"[*+]|\{\d*(,\d*)?\}")
MAX_UNBOUNDED = 2
LONG_REPEAT = 64  # {m,n} up to this is a short repeat (a name's length); above, unbounded


def _unbounded(repeat: str) -> bool:
    if repeat in ("*", "+"):
        return True
    low, _, high = repeat.strip("{}").partition(",")
    return (repeat.count(",") == 1 and not high) or int(high or low or 0) > LONG_REPEAT


def check_regex(value: str) -> None:
    """A `=~` expression runs on the event loop for every alert, and Python's engine
    backtracks: a repeated group ("(.|.)*!") takes time exponential in the value's length,
    and each unbounded repeat multiplies it by the length.  Such an expression (or one that
    does not compile) raises ValueError saying why."""
    try:
        re.compile(value)
    except (re.error, OverflowError, RecursionError) as exc:  # a{99999999999999999999}, deep
        raise ValueError(f"bad regular expression in {value!r}: {exc}") from None
    bare = _CLASS.sub("x", _ESCAPED.sub("x", value))
    if _REPEATED_GROUP.search(bare):
        raise ValueError(f"{value!r}: a repeated group ((...)*, (...)+, (...){{n}}) can take "
                         "exponential time to match; repeat single characters or classes")  # fmt: skip
    if sum(_unbounded(m.group(0)) for m in _REPEAT.finditer(bare)) > MAX_UNBOUNDED:
        raise ValueError(f"{value!r}: more than {MAX_UNBOUNDED} unbounded or long repeats (*, +, "
                         f"{{n,}}, {{m,n}} over {LONG_REPEAT}) can take a long time to match")  # fmt: skip


def parse_matcher(text: str) -> tuple[str, str, str]:
    found = _MATCHER.match(text.strip())
    if found is None:
        raise ValueError(f"bad matcher {text!r}: expected key=value, key!=value or key=~regex")
    key, op, value = found.group("key"), found.group("op"), found.group("value")
    if op == "!=" and value.startswith("~"):  # "!=~x" read as "not equal to ~x" matched everything
        raise ValueError(f"bad matcher {text!r}: there is no '!=~'; use key!=value or key=~regex")
    if op == "=~":
        check_regex(value)
    return key, op, value


# What a matcher may name besides the alert's labels.
FIELDS = ("metric", "analyzer", "severity", "host")


def _field(alert: Alert, key: str) -> str:
    special = {
        "metric": alert.metric,
        "analyzer": alert.analyzer,
        "severity": alert.severity.label,
        "host": alert.hostname,
    }
    return special[key] if key in FIELDS else dict(alert.labels).get(key, "")


def did_you_mean(key: str, known: Collection[str]) -> str:
    """ " (did you mean 'x'?)" for the closest of `known`, or ""."""
    guess = closest(key, known)
    return f" (did you mean '{guess}'?)" if guess else ""


def _matches_text(op: str, value: str, actual: str) -> bool:
    if op == "=":
        return actual == value
    if op == "!=":
        return actual != value
    return re.fullmatch(value, actual) is not None


def matcher_problem(key: str, op: str, value: str, known: Collection[str]) -> str | None:
    """Why a matcher cannot be meant, or None.  Its key must be a field or in `known` (the
    labels the program's alerts can carry): a label an alert does not have reads as "", so a
    typo'd key is costly, `sevrity!=critical` or `mountpiont=~.*` matches every alert (a
    silence mutes the host), `mountpiont=/data` none (it pages through the maintenance).
    A severity is one of four words, so the same holds of `severity!=crit`."""
    severities = [s.label for s in Severity]
    if key == "severity":
        hits = [s for s in severities if _matches_text(op, value, s)]
        if 0 < len(hits) < len(severities):
            return None
        effect = "every alert" if hits else "no alert"
        return (
            f"{key}{op}{value} would match {effect}: a severity is one of {', '.join(severities)}"
        )
    if key in FIELDS or key in known:
        return None
    every = _matches_text(op, value, "")
    return (
        f"no alert carries the label {key!r}{did_you_mean(key, set(FIELDS) | set(known))}, "
        f"so {key}{op}{value} would match {'every alert' if every else 'no alert'}; keys: "
        f"{', '.join(FIELDS)}, or a label: {', '.join(sorted(set(known) - set(FIELDS)))}"
    )


def matcher_key_problems(
    alerting: AlertingSettings, known: Collection[str]
) -> list[tuple[tuple[str | int, ...], str]]:
    """(key path under [alerting], why) for each maintenance or inhibit matcher, and each
    inhibit `equal` label, that names a key no alert carries (an unknown `equal` label is ""
    on both alerts, so the rule would mute whatever the value)."""
    problems: list[tuple[tuple[str | int, ...], str]] = []
    named: list[tuple[tuple[str | int, ...], tuple[str, ...]]] = [
        (("maintenance", i, "match"), w.match) for i, w in enumerate(alerting.maintenance)
    ]
    for i, rule in enumerate(alerting.inhibit):
        named += [(("inhibit", i, "source_match"), rule.source_match),
                  (("inhibit", i, "target_match"), rule.target_match)]  # fmt: skip
        problems += [
            (("inhibit", i, "equal"), f"no alert carries the label {label!r}"
             f"{did_you_mean(label, set(FIELDS) | set(known))}: it is empty on both alerts, "
             "so the rule would mute whatever its value")
            for label in rule.equal if label not in FIELDS and label not in known
        ]  # fmt: skip
    for path, matchers in named:
        for text in matchers:
            try:
                problem = matcher_problem(*parse_matcher(text), known)
            except ValueError:  # the key's own check says so
                continue
            if problem is not None:
                problems.append((path, problem))
    return problems


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


class SilenceFileError(OSError):
    """silences.json is there but must not be read (a link, a FIFO, too big)."""


def read_bounded(path: Path, limit: int = MAX_SILENCE_BYTES) -> str:
    """The text of a regular file, opened without following a link or blocking, at most `limit` bytes."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if os.path.islink(path):
            raise SilenceFileError(f"{path} is a symbolic link; not followed") from exc
        raise
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise SilenceFileError(f"{path} is not a regular file")
        if info.st_size > limit:
            raise SilenceFileError(f"{path} is {info.st_size} bytes, more than {limit}")
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise SilenceFileError(f"{path} is more than {limit} bytes")
    return data.decode("utf-8", errors="replace")


class SilenceFile:
    """silences.json: read when it changed, written atomically."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._mtime: float | None = None
        self._silences: list[Silence] = []
        self._checked = 0.0
        self.problem: str | None = None  # why the file could not be read, while it cannot

    def current(self, check_every: float = 2.0) -> list[Silence]:
        now = time.monotonic()
        if now - self._checked >= check_every:
            self._checked = now
            self._reload()
        return self._silences

    def _reload(self) -> None:
        try:
            info = os.lstat(self.path)
        except FileNotFoundError:
            self._silences, self._mtime = [], None
            self._ok()
            return
        except OSError as exc:
            self._failed(str(exc))
            return
        if info.st_mtime == self._mtime and self.problem is None:
            return
        try:
            self._silences = self.load()
        except OSError as exc:  # the silences last read stay in force
            self._failed(str(exc))
            return
        self._mtime = info.st_mtime
        self._ok()

    def _failed(self, cause: str) -> None:
        if self.problem is None:  # once per episode, not every two seconds
            log.warning(
                "cannot read the silences in %s (%s); the silences read before stay in force",
                self.path,
                cause,
            )
        self.problem = f"silences not read: {cause}"

    def _ok(self) -> None:
        if self.problem is not None:
            log.info("the silences in %s are read again", self.path)
        self.problem = None

    def load(self) -> list[Silence]:
        """The silences in the file ([] if there is none); OSError if it cannot be read safely
        or is not a list of silences (a hand edit gone wrong): then the daemon keeps the
        silences it read before, and `silence add` does not write over the others."""
        try:
            data = json.loads(read_bounded(self.path))
        except FileNotFoundError:
            return []
        except ValueError as exc:
            raise SilenceFileError(
                f"{self.path} is not valid JSON ({exc}); mend or remove it"
            ) from None
        if not isinstance(data, list):
            raise SilenceFileError(f"{self.path} is not a list of silences; mend or remove it")
        out = []
        for item in data:
            try:
                matchers = tuple((str(k), str(op), str(v)) for k, op, v in item["matchers"])
                for _, op, value in matchers:
                    if op == "=~":  # a bad one (edited by hand) must not break or stall routing
                        check_regex(value)
                starts, ends = float(item["starts"]), float(item["ends"])
                comment, by = str(item.get("comment", "")), str(item.get("created_by", ""))
                out.append(Silence(str(item["id"]), matchers, starts, ends, comment, by))
            except (KeyError, TypeError, ValueError, re.error):
                continue
        return out

    def save(self, silences: Sequence[Silence]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        import tempfile  # the CLI writes; the agent only reads

        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".silences.")
        try:
            with os.fdopen(fd, "w") as handle:
                # The daemon may run as another user than the one running the CLI (root, with
                # sudo): the file gets data_dir's owner and group, and is readable by the group.
                os.fchmod(fd, 0o640)
                if os.geteuid() == 0:
                    owner = os.stat(self.path.parent)
                    os.fchown(fd, owner.st_uid, owner.st_gid)
                json.dump([asdict(s) for s in silences], handle, indent=1)
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

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
        if self.start < self.end:
            return day in self.weekdays and self.start <= clock < self.end
        # Over midnight (end before start, or the same: a whole day from start; `weekdays =
        # ["sat"]` alone was never open, it is all of Saturday): the evening belongs to the
        # listed day, the morning to the day after it.
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
    # Mutes only a target no more severe than the source: the source says all the target
    # would (a socket's critical while the whole CPU's alert is only a warning is news).
    as_severe: bool = False
    # The source still mutes this long after its condition ended: what it caused ebbs away
    # (a load average decays for minutes after the CPU is free).  A target that ends meanwhile
    # was never news; one still firing after it is announced then.
    linger_secs: float = 0.0

    def key(self, alert: Alert) -> tuple[str, ...]:
        """The values of the `equal` labels: a source mutes only targets with the same."""
        return tuple(_field(alert, label) for label in self.equal)

    def mutes(self, source: Alert, target: Alert) -> bool:
        if (
            source.fingerprint == target.fingerprint
            or (self.as_severe and target.severity > source.severity)
            or not matches(self.target, target)
            or not matches(self.source, source)
        ):
            return False
        return all(_field(source, label) == _field(target, label) for label in self.equal)
