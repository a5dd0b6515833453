"""`sysops-fleet`: the fleet watcher's command line.

    sysops-fleet [--config F] [--validate] [--version] [--log-level L] COMMAND
      run                                   the watcher (a long-running service)
      hosts [--format table|json] [--status healthy|degraded|silent|stopped]
      show HOST                             latest heartbeat, record and inventory
      changes HOST                          hardware/software changes recorded
      silence add|list|expire               silences the running watcher reads from data_dir

hosts, show and changes read JetStream (they work while `run` is active elsewhere)
and are bounded in time: NATS unreachable within `ONE_SHOT_CONNECT_SECS` x 2 is exit 1.

Exit codes: 0 success, 1 runtime failure (NATS unreachable, a host not found),
2 bad configuration or usage.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

from alerting import silence_cli
from common import __version__
from common.config import ConfigError, print_problems, settings_to_toml
from common.logsetup import setup_logging
from fleet.config import DEFAULT_CONFIG, LoadedConfig, load_config
from fleet.hosts import DEGRADED, HEALTHY, SILENT, STATUSES, STOPPED

EXIT_OK, EXIT_FAILURE, EXIT_CONFIG = 0, 1, 2
ONE_SHOT_CONNECT_SECS = 2.0  # nats-py's connect timeout; the connection is bounded at twice it
ONE_SHOT_SECS = 30.0  # a one-shot command's reads (connecting and closing are bounded apart)

log = logging.getLogger("fleet")


def _at_least_one(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if number < 1:  # 0 printed "no change recorded" for a host that has changes
        raise argparse.ArgumentTypeError(f"at least 1, not {number}")
    return number


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sysops-fleet",
        description="Fleet watcher: notices hosts that go silent, keeps the CMDB of their "
        "inventories, alerts through the agent's channels; all on NATS JetStream.",
        epilog="Exit codes: 0 success, 1 runtime failure, 2 bad configuration or usage.",
    )
    parser.add_argument(
        "--config", default=DEFAULT_CONFIG, metavar="PATH",
        help=f"TOML configuration (default {DEFAULT_CONFIG})",
    )  # fmt: skip
    parser.add_argument(
        "--validate", action="store_true",
        help="check the configuration, print the effective settings (secrets masked) and exit",
    )  # fmt: skip
    parser.add_argument("--version", action="version", version=f"sysops-fleet {__version__}")
    parser.add_argument(
        "--log-level", choices=("debug", "info", "warning", "error", "critical"),
        help="log verbosity (overrides fleet.log_level)",
    )  # fmt: skip
    parser.add_argument(
        "--log-format",
        choices=("text", "json"),
        help="log line format (overrides fleet.log_format)",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("run", help="watch the fleet (the long-running service)")
    hosts = commands.add_parser("hosts", help="one row per host: status, last heartbeat, ...")
    hosts.add_argument("--format", choices=("table", "json"), default="table")
    hosts.add_argument("--status", choices=STATUSES, help="only hosts with this status")
    show = commands.add_parser("show", help="a host's latest heartbeat, record and inventory")
    show.add_argument("host", help="hostname (or its subject token)")
    changes = commands.add_parser("changes", help="the changes recorded for a host")
    changes.add_argument("host", help="hostname (or its subject token)")
    changes.add_argument(
        "--limit", type=_at_least_one, default=100, help="at most this many (newest)"
    )
    silence_cli.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:  # `sysops-fleet hosts | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None and not args.validate:
        parser.error("a command is required (run, hosts, show, changes or silence), or --validate")
    if args.command is not None and args.validate:
        parser.error("--validate takes no command")
    setup_logging(args.log_level or "warning", args.log_format or "text")
    try:
        # silence sends nothing: a secret this shell does not have must not stop it.
        loaded = load_config(args.config, secrets=args.command != "silence")
    except ConfigError as exc:
        print_problems("sysops-fleet", exc)
        return EXIT_CONFIG
    f = loaded.settings.fleet
    setup_logging(args.log_level or f.log_level, args.log_format or f.log_format)
    if args.validate:
        return validate(loaded)
    if args.command == "run":
        return run(loaded, args.config, args.log_level)
    if args.command == "silence":
        from alerting.assembly import silence_file
        from fleet.config import FLEET_ALERT_LABELS

        store = silence_file(loaded.settings.fleet.data_dir)
        return silence_cli.run(store, args, FLEET_ALERT_LABELS, "sysops-fleet")
    for warning in loaded.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return one_shot(loaded, args)


def validate(loaded: LoadedConfig) -> int:
    from alerting.assembly import enabled_channels
    from fleet.settings import CHANNELS

    for warning in loaded.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    channels = enabled_channels(loaded.settings, CHANNELS)
    print(f"# {loaded.settings.source}: valid")
    print("# channels: " + (", ".join(p.name for p in channels) or "none"))
    unavailable = [p.name for p in channels if not p.available()]
    if unavailable:
        print("# enabled but not available in this version: " + ", ".join(unavailable))
    print("# effective settings (secrets shown as ***):")
    print(settings_to_toml(loaded.settings), end="")
    return EXIT_OK


def run(loaded: LoadedConfig, config_path: str, log_level: str | None) -> int:
    from common.runner import run_bounded
    from fleet.watcher import Watcher

    try:
        watcher = Watcher(loaded, config_path, log_level)
    except OSError as exc:  # data_dir, a channel's file
        log.critical("cannot run: %s", exc)
        return EXIT_FAILURE
    return run_bounded(watcher.run(), grace=2.0)


# -- the one-shot commands ------------------------------------------------------------


class Failure(Exception):
    """A one-shot command cannot answer: said on stderr, exit 1."""


def one_shot(loaded: LoadedConfig, args: argparse.Namespace) -> int:
    nats_log = logging.getLogger("alerting.channels.nats")
    level = nats_log.level
    if logging.getLogger().level > logging.DEBUG:  # a failure is said once, as the answer
        nats_log.setLevel(logging.ERROR)
    try:
        out = asyncio.run(_one_shot(loaded, args))
    except Failure as exc:
        print(f"sysops-fleet {args.command}: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    finally:  # as it was (a caller in the same process, the tests, logs on)
        nats_log.setLevel(level)
    sys.stdout.write(out)
    sys.stdout.flush()
    return EXIT_OK


async def _one_shot(loaded: LoadedConfig, args: argparse.Namespace) -> str:
    from alerting.channels.nats import connection_from, describe

    connection = connection_from(
        loaded.settings.nats, name="sysops-fleet " + args.command,
        connect_timeout=ONE_SHOT_CONNECT_SECS,
    )  # fmt: skip
    try:
        try:
            client = await connection.get()
        except Exception as exc:
            raise Failure(f"cannot reach NATS: {describe(exc, ONE_SHOT_CONNECT_SECS)}") from None
        try:
            async with asyncio.timeout(ONE_SHOT_SECS) as budget:
                return str(await _answer(client, loaded, args))
        except TimeoutError as exc:
            from nats.errors import TimeoutError as NatsTimeout

            if budget.expired() or isinstance(exc, NatsTimeout) or not str(exc):
                raise Failure(f"JetStream did not answer within {ONE_SHOT_SECS:g} s") from None
            # A read that says what it waited for (a delivery that stalled): its own words.
            raise Failure(str(exc)) from None
        except Failure:
            raise
        except Exception as exc:
            from fleet.store import explain

            raise Failure(explain(exc)) from None
    finally:
        await connection.close()


async def _answer(client: Any, loaded: LoadedConfig, args: argparse.Namespace) -> str:
    # Each request may take the command's whole budget: with nats-py's 5 s a request, one
    # slow answer of a busy server failed the command, and as "did not answer within 30 s"
    # (nats-py's timeout is a TimeoutError too).
    js = client.jetstream(timeout=ONE_SHOT_SECS)
    if args.command == "hosts":
        rows = await host_rows(js, loaded)
        if args.status:
            rows = [r for r in rows if r["status"] == args.status]
        if args.format == "json":
            return json.dumps(rows, indent=2, ensure_ascii=False) + "\n"
        return hosts_table(rows)
    if args.command == "show":
        return json.dumps(await show(js, loaded, args.host), indent=2, ensure_ascii=False) + "\n"
    records = await changes(js, loaded, args.host, args.limit)
    if not records:  # said, so that nothing printed does not look like a failed read
        print(f"sysops-fleet changes: no change recorded for {args.host}", file=sys.stderr)
    return "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records)


async def host_rows(js: Any, loaded: LoadedConfig) -> list[dict[str, Any]]:
    """Every host: its record (the leader's judgment) merged with its latest heartbeat."""
    from alerting.channels.nats import subject_token
    from fleet import store

    settings = loaded.settings
    names = store.Names.of(settings)
    records = await store.records(js, names.hosts_bucket, ONE_SHOT_SECS)
    beats = {
        subject_token(str(doc.get("hostname", ""))): (doc, stored)
        for doc, stored in await store.heartbeats(js, settings, ONE_SHOT_SECS)
        if doc.get("hostname")
    }
    rows = []
    now = time.time()
    for token in sorted((set(records) | set(beats)) - {store.MASS_KEY}):
        record = records[token][1] if token in records else {}
        doc, stored = beats.get(token, ({}, None))
        rows.append(host_row(token, record, doc, stored, loaded, now))
    return rows


def host_row(
    token: str,
    record: dict[str, Any],
    doc: dict[str, Any],
    stored: float | None,
    loaded: LoadedConfig,
    now: float,
) -> dict[str, Any]:
    """The record's status unless the heartbeat is newer than the record; then the
    heartbeat's own (stopped, or silent when it is older than the silence period)."""
    from fleet import store
    from fleet.hosts import MAX_INTERVAL_SECS, MIN_INTERVAL_SECS

    f = loaded.settings.fleet
    recorded = store.epoch_of(record.get("last_heartbeat"))
    interval = f.default_heartbeat_interval_secs  # what the judge takes a bogus one for
    for given in (doc.get("heartbeat_interval_secs"), record.get("heartbeat_interval_secs")):
        number = _number(given)
        if number is not None and MIN_INTERVAL_SECS <= number <= MAX_INTERVAL_SECS:
            interval = number
            break
    newer = stored is not None and (recorded is None or stored > recorded + interval / 2)
    status = str(record.get("status") or "")
    if newer or status not in STATUSES:
        reported = doc.get("status")
        if reported == "stopping":
            status = STOPPED
        elif stored is not None and now - stored >= f.silent_after_intervals * interval:
            status = SILENT
        else:
            status = DEGRADED if reported == DEGRADED else HEALTHY
    source = doc if doc else record
    last = doc.get("timestamp") if doc else record.get("last_heartbeat")
    hostname = source.get("hostname")
    reasons = source.get("reasons")
    version = source.get("agent_version")
    return {
        # Each field as the schema says or None (shown "-"): one malformed heartbeat
        # must not break the listing of the whole fleet.
        "hostname": hostname if isinstance(hostname, str) and hostname else token,
        "status": status,
        "last_heartbeat": last if isinstance(last, str) else None,
        "agent_version": version if isinstance(version, str) else None,
        "uptime_secs": _number(source.get("uptime_secs")),
        "reasons": [str(r) for r in reasons] if isinstance(reasons, list) else [],
        "heartbeat_interval_secs": interval,
        "since": record.get("since") if isinstance(record.get("since"), str) else None,
        "alerted": bool(record.get("alerted")),
        # The alert fires and nobody was told (a silence on the leader): `hosts` said
        # "silent" as if the channels had heard of it.
        "muted": bool(record.get("alerted")) and bool(record.get("muted")),
    }


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def hosts_table(rows: list[dict[str, Any]]) -> str:
    header = ("HOST", "STATUS", "LAST HEARTBEAT", "VERSION", "UPTIME", "REASONS")
    table = [header] + [
        (
            str(r["hostname"]),
            str(r["status"]) + ("/muted" if r.get("muted") else ""),  # one word: a column
            str(r["last_heartbeat"] or "-"),
            str(r["agent_version"] or "-"),
            uptime_text(r["uptime_secs"]),
            "; ".join(r["reasons"]) or "-",
        )
        for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(header) - 1)]
    return "".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row[:-1], widths, strict=True))
        + "  "
        + row[-1]
        + "\n"
        for row in table
    )


def uptime_text(seconds: Any) -> str:
    if not isinstance(seconds, int | float):
        return "-"
    days, rest = divmod(int(seconds), 86400)
    return f"{days}d{rest // 3600:02d}h" if days else f"{rest // 3600}h{rest % 3600 // 60:02d}m"


def _cmdb(js: Any, loaded: LoadedConfig) -> Any:
    from fleet.watcher import make_cmdb

    return make_cmdb(js, loaded.settings)


async def show(js: Any, loaded: LoadedConfig, host: str) -> dict[str, Any]:
    from alerting.channels.nats import subject_token
    from fleet import store

    token = subject_token(host)
    rows = {subject_token(str(r["hostname"])): r for r in await host_rows(js, loaded)}
    if token not in rows:
        raise Failure(f"no host {host} in the heartbeats or the records")
    hostname = str(rows[token]["hostname"])
    heartbeat = None
    for doc, _ in await store.heartbeats(js, loaded.settings, ONE_SHOT_SECS):
        if subject_token(str(doc.get("hostname", ""))) == token:
            heartbeat = doc
    inventory = await _cmdb(js, loaded).latest(hostname)
    return {"host": rows[token], "heartbeat": heartbeat, "inventory": inventory}


async def changes(js: Any, loaded: LoadedConfig, host: str, limit: int) -> list[dict[str, Any]]:
    from alerting.channels.nats import subject_token

    records = list(await _cmdb(js, loaded).changes(host, limit))
    if not records:  # none recorded, or no such host: said as `show` says it
        known = {subject_token(str(r["hostname"])) for r in await host_rows(js, loaded)}
        if subject_token(host) not in known:
            raise Failure(f"no host {host} in the heartbeats or the records")
    return records
