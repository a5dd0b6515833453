"""TOML configuration -> frozen, typed settings, with errors an operator can act on.

Shared by `sysops-agent` and `sysops-fleet` (each gives its own schema class, written
with `common.schema.opt`).

Every problem is reported at once, one line each, as ``FILE:LINE: key.path:
message``; a bad configuration raises `ConfigError` and the CLI exits 2.  String
values may reference ``${NAME}`` (environment) or ``${file:/path}`` (a file's
content, trailing newline removed); ``$${`` is a literal ``${``.  A value that
came from such a reference, or that belongs to a secret key, is never echoed in
an error message.  A reference that cannot be resolved (the variable is unset,
the file unreadable) is an error only where the value is used: inside a section
with ``enabled = false`` it is left unresolved and unused, so the example file
with every channel's secret referenced validates on a host that sets none.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import math
import os
import re
import stat
import tomllib
import types
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields, is_dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Union, get_args, get_origin, get_type_hints

from common import backtracking
from common.schema import choices_of
from common.secret import MASK, Secret, mask_userinfo, remember
from common.text import closest

PathPart = str | int


@dataclass(frozen=True)
class Problem:
    """One configuration problem, located as precisely as the file allows."""

    source: str
    line: int | None
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line else self.source
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


class ConfigError(Exception):
    """The configuration cannot be used; `problems` says why, line by line."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def print_problems(program: str, exc: ConfigError) -> None:
    """A configuration that cannot be used, on stderr: one line per problem (exit 2 follows)."""
    import sys

    print(f"{program}: invalid configuration ({len(exc.problems)} problem(s)):", file=sys.stderr)
    for problem in exc.problems:
        print(f"  {problem}", file=sys.stderr)


def read_config_text(path: str | os.PathLike[str], user: str = "the service's user") -> str:
    """The file's text, or `ConfigError` saying why it cannot be read."""
    source = str(path)
    try:
        raw = Path(path).read_bytes()
        # A byte-order mark (an editor on another system wrote it) is not TOML: it was
        # "1: TOML syntax error: Empty key".
        return raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError([Problem(source, line, "", f"not UTF-8 text ({exc.reason})")]) from None
    except FileNotFoundError:
        raise ConfigError([Problem(source, None, "", "file not found")]) from None
    except PermissionError:
        message = f"permission denied ({user} must be able to read it)"
        raise ConfigError([Problem(source, None, "", message)]) from None
    except OSError as exc:
        raise ConfigError([Problem(source, None, "", f"cannot read: {exc.strerror}")]) from None


# A check across sections, run once every key is valid: (settings, report) where
# report(key path, message) adds a located problem.
Check = Callable[[Any, Callable[[tuple[PathPart, ...], str], None]], None]


@dataclass(frozen=True)
class Parsed:
    """A validated settings tree, the warnings found on the way, and whether the file
    holds secrets written in clear (which makes a world-readable file a leak)."""

    settings: Any
    warnings: tuple[str, ...]
    has_literal_secrets: bool


def parse_document(
    text: str,
    root: type[Any],
    source: str = "<config>",
    environ: Mapping[str, str] | None = None,
    checks: Sequence[Check] = (),
    secrets: bool = True,
) -> Parsed:
    """Validate TOML `text` against the schema class `root`; `source` names it in messages.

    Every problem is collected before `ConfigError` is raised, sorted by line.  `checks`
    run only when every key on its own is valid.  `root` must have an internal `source`
    field, set here to `source`.  `secrets=False`, for a command that sends nothing (a
    silence, the history, a replay): a section whose references cannot be resolved (an
    environment variable the shell does not have) is switched off, not refused, and a
    secret key in a section without a switch keeps its default; any other reference that
    cannot be resolved is still refused.
    """
    # The standard library's parser on the happy path: tomlkit (about 1 MB
    # resident) is only loaded to explain a broken file.
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([_syntax_problem(exc, text, source)]) from None
    validator = _Validator(
        source, KeyLines(text), os.environ if environ is None else environ, secrets
    )
    settings = validator.section(root, document, ())
    # Outside any disabled section; a command that sends nothing never uses a secret, so a
    # secret key there (a NATS token, in a section that cannot be switched off) keeps its
    # default rather than refusing the command.
    validator.problems += [p for p, secret in validator.unresolved if secrets or not secret]
    if not validator.problems:
        for check in checks:
            check(settings, validator.problem)
    if validator.problems:
        raise ConfigError(sorted(validator.problems, key=lambda p: p.line or math.inf))
    settings = dataclasses.replace(settings, source=source)
    return Parsed(settings, tuple(validator.warnings), validator.literal_secrets)


def _syntax_problem(std: tomllib.TOMLDecodeError, text: str, source: str) -> Problem:
    """tomlkit's message (it names what was expected), at the line tomllib found."""
    found = re.search(r"\(at line (\d+), column \d+\)$", str(std))
    line = int(found.group(1)) if found else None
    import tomlkit
    from tomlkit.exceptions import ParseError, TOMLKitError

    try:
        tomlkit.parse(text)
    except ParseError as exc:
        # tomlkit appends " at line L col C"; the line is reported in front instead.
        message = re.sub(r"\s+at line \d+ col \d+$", "", str(exc))
        return Problem(source, exc.line, "", f"TOML syntax error: {message} (column {exc.col})")
    except TOMLKitError as exc:  # some (a duplicate key) come without a position
        return Problem(source, line, "", f"TOML syntax error: {exc}")
    message = re.sub(r"\s*\(at line \d+, column \d+\)$", "", str(std))
    return Problem(source, line, "", f"TOML syntax error: {message}")


def check_file_permissions(
    path: Path, has_literal_secrets: bool, group: str = "sysops-agent"
) -> list[str]:
    """Warn when the file can leak its secrets or be changed by someone but root; the fix
    names `group`, the service's own group."""
    try:
        st = path.stat()
    except OSError:
        return []
    warnings = []
    mode = stat.S_IMODE(st.st_mode)
    if has_literal_secrets and mode & stat.S_IROTH:
        warnings.append(
            f"{path}: contains secrets and is world-readable (mode {mode:04o}); fix: "
            f"chmod 640 {path} && chown root:{group} {path}"
        )
    if mode & (stat.S_IWGRP | stat.S_IWOTH):
        warnings.append(
            f"{path}: writable by group or others (mode {mode:04o}), so they could redirect "
            f"alerts; fix: chmod 640 {path} && chown root:{group} {path}"
        )
    elif st.st_uid != 0 and mode & stat.S_IWUSR:
        warnings.append(
            f"{path}: owned and writable by uid {st.st_uid}, not root; an agent running as that "
            f"user could rewrite its own configuration; fix: chown root:{group} {path}"
        )
    return warnings


# --------------------------------------------------------------------------- line index


_HEADER = re.compile(r"^\s*(\[\[|\[)(.*?)(\]\]|\])\s*(#.*)?$")
_KEY_PART = r"""[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|'[^']*'"""
_KEY = re.compile(rf"^\s*((?:{_KEY_PART})(?:\s*\.\s*(?:{_KEY_PART}))*)\s*=")


def _split_key(text: str) -> list[str]:
    parts = re.findall(_KEY_PART, text)
    return [p[1:-1] if p[:1] in "\"'" else p for p in parts]


class KeyLines:
    """Maps dotted key paths to the line they are written on.

    tomlkit keeps no positions, so this re-reads the (already valid) text: it
    follows table headers, arrays of tables and multi-line values, and records
    the line of every ``key =``.  Keys inside inline tables resolve to the
    line of their parent key.
    """

    def __init__(self, text: str) -> None:
        self._lines: dict[tuple[PathPart, ...], int] = {}
        self._index(text)

    def line_for(self, path: tuple[PathPart, ...]) -> int | None:
        while path:
            if path in self._lines:
                return self._lines[path]
            path = path[:-1]
        return None

    def _set(self, path: tuple[PathPart, ...], number: int) -> None:
        """`path` and the tables it names on the way (`[alerts.webhook]` is where `alerts`
        is written, too), each at the first line that writes it."""
        for end in range(1, len(path) + 1):
            self._lines.setdefault(path[:end], number)

    def _index(self, text: str) -> None:
        table: tuple[PathPart, ...] = ()
        aot_counts: dict[tuple[PathPart, ...], int] = {}
        depth = 0
        in_string: str | None = None
        for number, line in enumerate(text.splitlines(), start=1):
            rest = line
            if in_string is None and depth == 0:
                header = _HEADER.match(line)
                if header and len(header.group(1)) == len(header.group(3)):
                    names = tuple(_split_key(header.group(2)))
                    if header.group(1) == "[[":
                        index = aot_counts.get(names, 0)
                        aot_counts[names] = index + 1
                        table = (*names, index)
                    else:
                        table = names
                    self._set(table, number)
                    continue
                key = _KEY.match(line)
                if key:
                    self._set((*table, *_split_key(key.group(1))), number)
                    rest = line[key.end() :]
            depth, in_string = _scan_value(rest, depth, in_string)


def _scan_value(text: str, depth: int, in_string: str | None) -> tuple[int, str | None]:
    """Track bracket depth and open multi-line strings across lines."""
    i = 0
    n = len(text)
    while i < n:
        if in_string is not None:
            end = text.find(in_string, i)
            if in_string == '"""':
                while end > 0 and text[end - 1] == "\\":
                    end = text.find(in_string, end + 1)
            if end < 0:
                return depth, in_string
            i = end + len(in_string)
            in_string = None
            continue
        ch = text[i]
        if ch == "#":
            break
        if text.startswith('"""', i) or text.startswith("'''", i):
            in_string = text[i : i + 3]
            i += 3
            continue
        if ch == '"':
            i += 1
            while i < n and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
        elif ch == "'":
            close = text.find("'", i + 1)
            i = n if close < 0 else close
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth = max(0, depth - 1)
        i += 1
    return depth, in_string


# --------------------------------------------------------------------------- validation


_REFERENCE = re.compile(r"\$\$\{|\$\{([^}]*)\}")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_INVALID = object()
_LOOPBACK_NAMES = {
    "localhost",
    "localhost.localdomain",
    "ip6-localhost",
    "ip6-loopback",
    "localhost6",
}


def _render(path: tuple[PathPart, ...]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def _describe(value: Any, reveal: bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        if not reveal:
            return "a string"
        masked = mask_userinfo(value)
        shown = masked if len(masked) <= 40 else masked[:37] + "..."
        return '"' + shown.replace('"', '\\"') + '"'
    if isinstance(value, int | float):
        return repr(value) if reveal else "a number"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return type(value).__name__


_SHELL_VARIABLE = re.compile(r"\$[A-Za-z_][A-Za-z0-9_]*")
_NOT_SHOWN = (
    "the value (not shown: a secret, or a reference's) is not valid here; see this key in "
    "docs/CONFIGURATION.md"
)


def _unquoted(message: str, value: str) -> str:
    """A check's message about a value that must not be shown: its quote of the value
    replaced; a message still holding any of it (the form to write instead, "write
    udp://collector.internal:514") is not shown, and the key's documentation is named."""
    message = message.replace(repr(value), "the value")
    pieces = [piece for piece in re.split(r"[^A-Za-z0-9]+", value) if len(piece) >= 3]
    if value and (value in message or any(piece in message for piece in pieces)):
        return _NOT_SHOWN
    return message


def is_ipv6_address(text: str) -> bool:
    """Whether `text` is an IPv6 address as written without brackets (`::1`): in
    `::1:514` the port is what follows its last colon, as older releases read it."""
    import ipaddress

    try:
        return ipaddress.ip_address(text).version == 6
    except ValueError:
        return False


def is_loopback_host(host: str) -> bool:
    host = host.strip("[]").lower().rstrip(".")  # "localhost." is the same name, rooted
    if host in _LOOPBACK_NAMES:
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)  # ::ffff:127.0.0.1
    return address.is_loopback or (mapped is not None and mapped.is_loopback)


class _Validator:
    def __init__(
        self, source: str, lines: KeyLines, environ: Mapping[str, str], secrets: bool = True
    ) -> None:
        self.source = source
        self.lines = lines
        self.environ = environ
        self.secrets = secrets  # whether an enabled section's unresolvable references are refused
        self.problems: list[Problem] = []
        self.warnings: list[str] = []
        self.literal_secrets = False
        # Unresolvable references, held until their section says whether it is
        # enabled: reported if it is (or has no `enabled` key), dropped if not.
        self.unresolved: list[tuple[Problem, bool]] = []  # and whether the key is a secret

    def problem(self, path: tuple[PathPart, ...], message: str) -> None:
        self.problems.append(
            Problem(self.source, self.lines.line_for(path), _render(path), message)
        )

    def unresolved_problem(self, path: tuple[PathPart, ...], message: str, secret: bool) -> None:
        self.unresolved.append(
            (Problem(self.source, self.lines.line_for(path), _render(path), message), secret)
        )

    def warn(self, path: tuple[PathPart, ...], message: str) -> None:
        line = self.lines.line_for(path)
        where = f"{self.source}:{line}" if line else self.source
        self.warnings.append(f"{where}: {_render(path)}: {message}")

    # -- sections ------------------------------------------------------------------------

    def section(self, cls: type[Any], table: Mapping[str, Any], path: tuple[PathPart, ...]) -> Any:
        """The section's keys, then its own cross-key rules (`validate()`, if it has one)."""
        section, bad_keys = self._keys(cls, table, path)
        return self._validated(section, path, bad_keys)

    def _keys(
        self, cls: type[Any], table: Mapping[str, Any], path: tuple[PathPart, ...]
    ) -> tuple[Any, set[str]]:
        """The section built from the keys that are valid, and the keys that are not."""
        hints = get_type_hints(cls)
        by_key = {
            (f.metadata.get("key") or f.name): f
            for f in fields(cls)
            if not f.metadata.get("internal")
        }
        for key in table:
            if key not in by_key:
                guess = closest(key, by_key)
                hint = f"; did you mean '{guess}'?" if guess else ""
                where = f"in [{_render(path)}]" if path else "at the top level"
                self.problem((*path, key), f"unknown key {where}{hint}")
        kwargs: dict[str, Any] = {}
        bad_keys: set[str] = set()
        unresolved_before = len(self.unresolved)
        for key, f in by_key.items():
            if key not in table:
                continue
            value = self.value(hints[f.name], table[key], (*path, key), f.metadata)
            if value is _INVALID:
                bad_keys.add(key)
            else:
                kwargs[f.name] = value
        switch = next((f for f in fields(cls) if f.name == "enabled"), None)
        if (
            switch is not None
            and isinstance(switch.default, bool)  # not [analyzer] enabled, a list of names
            and not self.secrets
            and len(self.unresolved) > unresolved_before
        ):
            kwargs["enabled"] = False  # a command that sends nothing does without this section
        if switch is not None and not kwargs.get("enabled", switch.default):
            del self.unresolved[unresolved_before:]  # a disabled section's secrets are not needed
        if kwargs.get("enabled"):
            for key, f in by_key.items():
                missing = key not in table or (f.name in kwargs and not kwargs[f.name])
                if f.metadata.get("required_when_enabled") and missing:
                    self.problem((*path, key), f"required when [{_render(path)}] is enabled")
        return cls(**kwargs), bad_keys

    def _validated(self, section: Any, path: tuple[PathPart, ...], bad_keys: set[str]) -> Any:
        """Reports what the section's `validate()` finds; the section is unusable if anything.

        An issue about a key whose value was already reported is left out: the
        section was built without that value, so the issue says nothing new.
        """
        validate = getattr(section, "validate", None)
        if validate is None:
            return section
        issues = [(key, message) for key, message in validate() if key not in bad_keys]
        for key, message in issues:  # (a key may be dotted: a table's own key)
            self.problem((*path, *_split_key(key)) if key else path, message)
        return _INVALID if issues else section

    # -- values --------------------------------------------------------------------------

    def value(self, tp: Any, raw: Any, path: tuple[PathPart, ...], meta: Mapping[str, Any]) -> Any:
        origin = get_origin(tp)
        if origin in (Union, types.UnionType):
            choices = [arg for arg in get_args(tp) if arg is not type(None)]
            if len(choices) == 2 and float in choices:  # a number, or its table form
                tables = [c for c in choices if c is not float]
                if isinstance(raw, dict):
                    return self._levels(tables[0], raw, path, meta)
                tp = float
            else:
                (tp,) = choices
            origin = get_origin(tp)
        if isinstance(tp, type) and is_dataclass(tp):
            if not isinstance(raw, dict):
                self.problem(path, f"expected a table, got {_describe(raw, True)}")
                return _INVALID
            return self.section(tp, raw, path)
        if origin is tuple:
            return self._array(get_args(tp)[0], raw, path, meta)
        if origin is Mapping:
            if get_args(tp)[1] is str:
                return self._string_table(raw, path)
            return self._headers(raw, path)
        if tp is bool:
            if not isinstance(raw, bool):
                self.problem(path, f"expected true or false, got {_describe(raw, True)}")
                return _INVALID
            return raw
        if tp is int or tp is float:
            return self._number(tp, raw, path, meta)
        if tp is str or tp is Secret:
            return self._string(tp is Secret, raw, path, meta)
        raise TypeError(f"schema type {tp!r} at {_render(path)} is not supported")

    def _array(
        self, item_tp: Any, raw: Any, path: tuple[PathPart, ...], meta: Mapping[str, Any]
    ) -> Any:
        if not isinstance(raw, list):
            hint = ""
            if isinstance(raw, dict) and is_dataclass(item_tp):  # `[x]` where `[[x]]` is meant
                hint = f": write [[{_render(path)}]], one such table per item"
            self.problem(path, f"expected an array, got {_describe(raw, True)}{hint}")
            return _INVALID
        items = [self.value(item_tp, item, (*path, i), meta) for i, item in enumerate(raw)]
        if any(item is _INVALID for item in items):
            return _INVALID
        return tuple(items)

    def _levels(
        self,
        cls: type[Any],
        raw: dict[str, Any],
        path: tuple[PathPart, ...],
        meta: Mapping[str, Any],
    ) -> Any:
        """A Levels table: each level within the key's bounds, then the table's own rules.

        The bounds are the [thresholds] key's (a percentage stays within 0-100),
        which the Levels class cannot know.
        """
        levels, bad_keys = self._keys(cls, raw, path)
        ok = True
        for name in ("warn", "critical", "clear"):
            level = getattr(levels, name)
            if level is not None and self._number(float, level, (*path, name), meta) is _INVALID:
                ok = False
        levels = self._validated(levels, path, bad_keys)
        return levels if ok else _INVALID

    def _string_table(self, raw: Any, path: tuple[PathPart, ...]) -> Any:
        if not isinstance(raw, dict):
            self.problem(path, f"expected a table of strings, got {_describe(raw, True)}")
            return _INVALID
        out = {}
        for name, value in raw.items():
            text = self._string(False, value, (*path, name), {})
            if text is not _INVALID:
                out[name] = text
        return MappingProxyType(out)

    def _headers(self, raw: Any, path: tuple[PathPart, ...]) -> Any:
        if not isinstance(raw, dict):
            self.problem(
                path, f"expected a table of header names to values, got {_describe(raw, True)}"
            )
            return _INVALID
        out: dict[str, Secret] = {}
        for name, value in raw.items():
            if not re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", name):
                self.problem((*path, name), "not a valid HTTP header name")
                continue
            secret = self._string(True, value, (*path, name), {})
            if secret is not _INVALID:
                out[name] = secret
        return MappingProxyType(out)

    def _number(
        self, tp: type, raw: Any, path: tuple[PathPart, ...], meta: Mapping[str, Any]
    ) -> Any:
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            wanted = "an integer" if tp is int else "a number"
            hint = ""
            if isinstance(raw, str) and str(path[-1]).endswith("_secs"):  # "5m", "2h"
                hint = ": a number of seconds, without quotes (300 for five minutes)"
            elif isinstance(raw, str):
                hint = ": write it without quotes"
            self.problem(path, f"expected {wanted}, got {_describe(raw, True)}{hint}")
            return _INVALID
        if tp is int and isinstance(raw, float):
            self.problem(path, f"expected an integer, got {raw!r}")
            return _INVALID
        if isinstance(raw, float) and not math.isfinite(raw):
            self.problem(path, f"expected a finite number, got {raw!r}")
            return _INVALID
        ge, gt, le = meta.get("ge"), meta.get("gt"), meta.get("le")
        low_ok = (ge is None or raw >= ge) and (gt is None or raw > gt)
        high_ok = le is None or raw <= le
        if not (low_ok and high_ok):
            low = (
                f">= {_num(ge)}" if ge is not None else (f"> {_num(gt)}" if gt is not None else "")
            )
            high = f"<= {_num(le)}" if le is not None else ""
            bounds = " and ".join(b for b in (low, high) if b)
            self.problem(path, f"must be {bounds}, got {raw!r}")
            return _INVALID
        check = meta.get("check")
        error = check(raw) if check else None
        if error:
            self.problem(path, f"{error}, got {raw!r}")
            return _INVALID
        return tp(raw)

    def _string(
        self, secret: bool, raw: Any, path: tuple[PathPart, ...], meta: Mapping[str, Any]
    ) -> Any:
        if not isinstance(raw, str):
            # A chat id or a role id written as a number: it is text to the API (and a
            # Telegram group's -100... is past what some tools keep of a number).
            number = isinstance(raw, int | float) and not isinstance(raw, bool)
            hint = ": write it in quotes" if number else ""
            self.problem(path, f"expected a string, got {_describe(raw, not secret)}{hint}")
            return _INVALID
        expanded = self._expand(raw, path, secret)
        if expanded is None:
            return _INVALID
        value, substituted = expanded
        reveal = not (secret or substituted)
        choices = choices_of(meta)
        if choices:
            match = next((c for c in choices if c.lower() == value.lower()), None)
            if match is None:
                self.problem(
                    path, f"expected one of {', '.join(choices)}; got {_describe(value, reveal)}"
                )
                return _INVALID
            value = match
        if meta.get("regex"):
            try:
                backtracking.check(value)
            except (re.error, OverflowError) as exc:  # a{99999999999999999999}: too large
                self.problem(path, f"invalid regular expression: {exc}")
                return _INVALID
            except RecursionError:  # groups nested a thousand deep: the parser gives up
                self.problem(path, "invalid regular expression: nested too deeply")
                return _INVALID
            except ValueError as exc:  # matched against text a local user shapes
                self.problem(path, f"{value!r}: {exc}")
                return _INVALID
        if meta.get("url") and not self._check_url(value, meta["url"], path, reveal):
            return _INVALID
        pattern = meta.get("pattern")
        if pattern and not re.fullmatch(pattern[0], value):
            self.problem(path, pattern[1])
            return _INVALID
        check = meta.get("check")
        error = check(value) if check else None
        if error:
            if not reveal:  # a check quotes what it refuses: not a secret's, a reference's
                error = _unquoted(error, value)
            self.problem(path, error)
            return _INVALID
        advise = meta.get("advise")
        advice = advise(value) if advise and reveal else None
        if advice:
            self.warn(path, advice)
        if secret:
            if not substituted:
                self.literal_secrets = True
                if _SHELL_VARIABLE.fullmatch(value):
                    # Used as written: the token sent, the body signed with "$WEBHOOK_SECRET".
                    self.warn(path, "the value looks like a shell variable ($NAME) and is "
                              "used as written; a reference to the environment is ${NAME}")  # fmt: skip
            return Secret(value)
        if mask_userinfo(value) != value:  # a URL with a password, in any key (NATS url)
            if not substituted:
                self.literal_secrets = True
            for userinfo in re.findall(r"://([^/?#@\s]+)@", value):
                remember(userinfo)
                remember(userinfo.partition(":")[2])
        return value

    def _check_url(self, value: str, mode: str, path: tuple[PathPart, ...], reveal: bool) -> bool:
        from urllib.parse import urlsplit

        shown = f" {_describe(value, True)}" if reveal else ""
        try:
            parts = urlsplit(value)
            host = parts.hostname or ""
            parts.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError:
            self.problem(path, f"not a valid URL{shown}")
            return False
        if parts.scheme not in ("http", "https") or not host:
            self.problem(path, f"expected an http(s) URL with a host{shown}")
            return False
        if parts.scheme == "http" and not is_loopback_host(host):
            if mode == "strict":
                self.problem(path, "must use https (plain http is accepted only for loopback)")
                return False
            self.warn(path, "plain http sends alerts unencrypted; use https")
        return True

    def _expand(
        self, raw: str, path: tuple[PathPart, ...], secret: bool
    ) -> tuple[str, bool] | None:
        substituted = False
        failed = False

        def replace(match: re.Match[str]) -> str:
            nonlocal substituted, failed
            if match.group(0) == "$${":
                return "${"
            ref = match.group(1)
            substituted = True
            if ref.startswith("file:"):
                file_path = ref[5:]
                content, error = read_secret_file(file_path)
                if error is not None:
                    self.unresolved_problem(
                        path, f"cannot read secret file {file_path}: {error}", secret
                    )
                    failed = True
                    return ""
                return content
            if not _ENV_NAME.fullmatch(ref):
                self.problem(
                    path,
                    f"'${{{ref}}}' is not a valid reference (use ${{NAME}} or ${{file:/path}})",
                )
                failed = True
                return ""
            if ref not in self.environ:
                self.unresolved_problem(path, f"environment variable {ref} is not set", secret)
                failed = True
                return ""
            return self.environ[ref]

        value = _REFERENCE.sub(replace, raw)
        return None if failed else (value, substituted)


def check_readable_file(file_path: str) -> str | None:
    """Why `file_path` cannot be read as a regular file, or None (the open never blocks)."""
    try:
        fd = os.open(file_path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
    except OSError as exc:
        return exc.strerror or type(exc).__name__
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return "not a regular file"
    finally:
        os.close(fd)
    return None


# A token, password or key file is a few hundred bytes; a PEM bundle a few KiB.
MAX_SECRET_FILE_BYTES = 64 * 1024


def read_secret_file(file_path: str) -> tuple[str, str | None]:
    """The content of a ``${file:...}`` reference, or (``""``, why it cannot be used).

    Symlinks are followed (Kubernetes and Docker secrets are symlinks), but the
    opened handle must be a regular file of at most `MAX_SECRET_FILE_BYTES`:
    O_NONBLOCK keeps a FIFO from blocking the open, and the size bound keeps
    /dev/zero or a huge file from filling memory.
    """
    try:
        fd = os.open(file_path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
    except OSError as exc:
        return "", exc.strerror or type(exc).__name__
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return "", "not a regular file"
        if st.st_size > MAX_SECRET_FILE_BYTES:
            return "", f"larger than {MAX_SECRET_FILE_BYTES // 1024} KiB"
        data = os.read(fd, MAX_SECRET_FILE_BYTES + 1)
    except OSError as exc:
        return "", exc.strerror or type(exc).__name__
    finally:
        os.close(fd)
    if len(data) > MAX_SECRET_FILE_BYTES:  # it grew between fstat and read
        return "", f"larger than {MAX_SECRET_FILE_BYTES // 1024} KiB"
    try:
        return data.decode("utf-8").rstrip("\r\n"), None
    except UnicodeDecodeError:
        return "", "not UTF-8 text"


def _num(value: float) -> str:
    return f"{value:g}"


# --------------------------------------------------------------------------- output


def masked_dict(obj: Any) -> Any:
    """The settings as plain data with every secret replaced by ``***``."""
    if is_dataclass(obj) and not isinstance(obj, type):
        out: dict[str, Any] = {}
        for f in fields(obj):
            if f.metadata.get("internal"):
                continue
            value = masked_dict(getattr(obj, f.name))
            if value is not None:
                out[f.metadata.get("key") or f.name] = value
        return out
    if isinstance(obj, Secret):
        return MASK
    if isinstance(obj, Mapping):
        return {k: masked_dict(v) for k, v in obj.items()}
    if isinstance(obj, tuple):
        return [masked_dict(v) for v in obj]
    if isinstance(obj, str):
        return mask_userinfo(obj)
    return obj


def settings_to_toml(settings: Any) -> str:
    import tomlkit  # only for printing (--validate)

    return tomlkit.dumps(masked_dict(settings))


def iter_secrets(obj: Any) -> Iterator[Secret]:
    """Every secret inside a settings object (for tests and audits)."""
    if isinstance(obj, Secret):
        yield obj
    elif is_dataclass(obj) and not isinstance(obj, type):
        for f in fields(obj):
            yield from iter_secrets(getattr(obj, f.name))
    elif isinstance(obj, Mapping):
        for v in obj.values():
            yield from iter_secrets(v)
    elif isinstance(obj, tuple):
        for v in obj:
            yield from iter_secrets(v)
