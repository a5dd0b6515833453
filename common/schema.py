"""How a configuration schema is written: `opt` fields with their documentation and rules.

A section is a frozen dataclass whose fields are built with `opt`; the field's
`metadata` carries its documentation, bounds and choices.  `common.config`
walks such classes to validate a TOML file, and `tools/gen_docs.py` walks them
(`schema_keys`) to write docs/CONFIGURATION.md, so the schema, the validator and
the docs cannot drift apart.  Rules across keys of one section are the
section's `validate()` method, which returns a list of `Issue`.

Shared by `sysops-agent` and `sysops-fleet`: neither imports the other.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

SEVERITIES = ("info", "warn", "critical", "emergency")
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
SYSLOG_FACILITIES = (
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron",
    "authpriv", "ftp", "local0", "local1", "local2", "local3", "local4", "local5",
    "local6", "local7",
)  # fmt: skip


def opt(
    default: Any = None,
    doc: str = "",
    *,
    factory: Any = None,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    choices: tuple[str, ...] | Callable[[], tuple[str, ...]] | None = None,
    url: str | None = None,
    key: str | None = None,
    regex: bool = False,
    pattern: tuple[str, str] | None = None,
    required_when_enabled: bool = False,
    default_doc: str | None = None,
    check: Any = None,
    advise: Any = None,
) -> Any:
    """A schema field.

    `url` is "strict" (https, or http to loopback only: chat APIs) or "lenient"
    (http anywhere, with a warning off loopback).  `key` is the TOML key when
    it is not a valid Python name (`from`).  `choices` may be a function, called
    when the choices are first needed (`choices_of`): the plug-in tables it
    reads import this module.  `pattern` is (regex the whole
    value must match, what to say when it does not).  `required_when_enabled` makes the
    key mandatory when the section's `enabled` is true.
    """
    metadata = {
        "doc": doc,
        "ge": ge,
        "gt": gt,
        "le": le,
        "choices": choices,
        "url": url,
        "key": key,
        "regex": regex,
        "pattern": pattern,
        "required_when_enabled": required_when_enabled,
        "default_doc": default_doc,
        "check": check,  # value -> error message or None, for rules a type cannot say
        "advise": advise,  # value -> warning or None: taken, but likely not as meant
    }
    if factory is not None:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


def refused_by(parse: Callable[[str], object]) -> Callable[[str], str | None]:
    """A field's `check` from the parser that reads the value where it is used: its
    ValueError (which says what to write) is the refusal, so the two cannot disagree."""

    def check(value: str) -> str | None:
        try:
            parse(value)
        except ValueError as exc:
            return str(exc)
        return None

    return check


def choices_of(metadata: Mapping[str, Any]) -> tuple[str, ...] | None:
    """A field's choices, calling the function that lists them if it is one."""
    choices = metadata.get("choices")
    return tuple(choices()) if callable(choices) else choices


# What a section's `validate()` returns: (key in the section, or "" for the
# section itself; the message).  The validator adds the file, line and path.
Issue = tuple[str, str]


def level_issues(
    warn: float | None, critical: float | None, clear: float | None, below: bool = False
) -> list[Issue]:
    """Levels that cannot work: none set, critical milder than warn, clear past the mildest.

    For "below" rules (low is bad) every comparison turns around.  At most one
    issue: each check assumes the ones before it passed.
    """
    if warn is None and critical is None:
        return [("", "needs at least one of warn or critical")]
    sign = -1.0 if below else 1.0
    worse, better = ("<=", ">=") if below else (">=", "<=")
    if warn is not None and critical is not None and sign * critical < sign * warn:
        return [("critical", f"must be {worse} warn ({warn:g})")]
    set_levels = [v for v in (warn, critical) if v is not None]
    mildest = max(set_levels) if below else min(set_levels)
    if clear is not None and sign * clear > sign * mildest:
        return [("clear", f"must be {better} {mildest:g} (the mildest level)")]
    return []


@dataclass(frozen=True)
class SchemaKey:
    """One documented key: its dotted path, Python type, and `opt` metadata."""

    path: str
    type: Any
    default: Any
    metadata: Mapping[str, Any]
    in_array: bool = False  # a key of the tables in an array of tables


def schema_keys(cls: type[Any], prefix: str = "", in_array: bool = False) -> list[SchemaKey]:
    """Every leaf key of the schema, depth first, in declaration order.

    Nested sections recurse; an array of tables (custom_patterns) is listed as
    its item keys under the array's path.
    """
    from dataclasses import MISSING, fields, is_dataclass
    from typing import get_args, get_origin, get_type_hints

    out: list[SchemaKey] = []
    hints = get_type_hints(cls)
    for f in fields(cls):
        if f.metadata.get("internal"):
            continue
        path = f"{prefix}{f.metadata.get('key') or f.name}"
        tp = hints[f.name]
        default = f.default_factory() if f.default_factory is not MISSING else f.default
        if isinstance(tp, type) and is_dataclass(tp):
            out.extend(schema_keys(tp, path + ".", in_array))
        elif get_origin(tp) is tuple and is_dataclass(get_args(tp)[0]):
            out.extend(schema_keys(get_args(tp)[0], path + ".", in_array=True))
        else:
            out.append(SchemaKey(path, tp, default, f.metadata, in_array))
    return out
