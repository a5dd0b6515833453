"""`silence add|list|expire`: the one command both programs (sysops-agent, sysops-fleet)
give for the silences their running daemon reads from its data_dir.

Each program passes the labels its own alerts can carry, so a matcher key that none
of them carries (a typo: it would match every alert or none) is refused before
anything is written (`silences.matcher_problem`).
"""

from __future__ import annotations

import argparse
import getpass
import sys
import time
from collections.abc import Callable, Collection
from typing import Any

from alerting.silences import SilenceFile, matcher_problem, parse_duration, parse_matcher

EXIT_OK, EXIT_FAILURE, EXIT_CONFIG = 0, 1, 2
# The longest silence: a year.  Past it, a silence is a check turned off and forgotten
# (and 99999999999999d was written, then no date could show its end: `list` failed for good).
MAX_SILENCE_SECS = 366 * 86400.0


def add_parser(
    commands: argparse._SubParsersAction[Any],
    common_options: Callable[[argparse.ArgumentParser], None] = lambda _: None,
) -> None:
    """The `silence` command and its three actions; `common_options` adds what every
    (sub)command of the program accepts (--config...)."""
    silence = commands.add_parser(
        "silence", help="add, list or expire silences (the running daemon picks them up)"
    )
    actions = silence.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = actions.add_parser("add", help="silence alerts matching every --match for a while")
    add.add_argument("--match", action="append", required=True, metavar="KEY=VALUE",
                     help="label (or metric, analyzer, severity, host) matcher: k=v, k!=v or k=~regex; "
                          "repeatable; a label no alert carries is refused")  # fmt: skip
    add.add_argument("--for", dest="duration", required=True, help="how long: 30m, 2h, 1d, 1h30m")
    add.add_argument("--comment", required=True, help="why (shown by `silence list`)")
    actions.add_parser("list", help="active and future silences")
    expire = actions.add_parser("expire", help="end a silence now")
    expire.add_argument("id")
    for sub in (silence, add, actions.choices["list"], expire):
        common_options(sub)


def run(store: SilenceFile, args: argparse.Namespace, known: Collection[str], program: str) -> int:
    """Carry out `args.action`; `known`: the labels the program's alerts can carry."""
    try:
        return _action(store, args, known, program)
    except OSError as exc:  # an unsafe or unreadable silences.json: said, not a traceback
        print(f"{program} silence: {exc}", file=sys.stderr)
        return EXIT_FAILURE


def _action(
    store: SilenceFile, args: argparse.Namespace, known: Collection[str], program: str
) -> int:
    if args.action == "add":
        try:
            matchers = [parse_matcher(m) for m in args.match]
            duration = parse_duration(args.duration)
            if not 0 < duration <= MAX_SILENCE_SECS:
                raise ValueError(
                    f"--for {args.duration}: a silence lasts more than 0 s and at most 366 days "
                    "(for longer, a maintenance window or the check turned off says so in the "
                    "configuration)"
                )
        except ValueError as exc:
            print(f"{program} silence: {exc}", file=sys.stderr)
            return EXIT_CONFIG
        problems = [p for m in matchers if (p := matcher_problem(*m, known)) is not None]
        if problems:  # a typo'd key matches every alert or none: refused, not written
            for problem in problems:
                print(f"{program} silence: {problem}", file=sys.stderr)
            return EXIT_CONFIG
        # A data_dir that does not exist is one no running daemon uses: a silence written there
        # (a --config that is not the daemon's, another machine) mutes nothing.  Said, not refused.
        new_dir = not store.path.parent.is_dir()
        silence = store.add(matchers, duration, args.comment, getpass.getuser())
        until = local_time(silence.ends, "%Y-%m-%d %H:%M:%S %Z")
        print(f"{silence.id} until {until} (in {store.path})")
        if new_dir:
            print(f"{program} silence: warning: {store.path.parent} did not exist, so no running "
                  "daemon reads silences there: is this its --config, and its machine?",
                  file=sys.stderr)  # fmt: skip
        return EXIT_OK
    if args.action == "expire":
        if store.expire(args.id):
            print(f"{args.id} expired")
            return EXIT_OK
        print(f"{program} silence: no active silence {args.id}", file=sys.stderr)
        return EXIT_FAILURE
    now = time.time()
    active = [s for s in store.load() if s.ends > now]
    if not active:
        print("no active silences", file=sys.stderr)
    for s in sorted(active, key=lambda s: s.ends):
        match = " ".join(f"{k}{op}{v}" for k, op, v in s.matchers)
        until = local_time(s.ends, "%Y-%m-%d %H:%M")
        print(f"{s.id}  until {until}  {match}  # {s.comment} ({s.created_by})")
    return EXIT_OK


def local_time(epoch: float, form: str) -> str:
    """`epoch` in local time; one no calendar can show (a hand-edited file) as a number."""
    try:
        return time.strftime(form, time.localtime(epoch))
    except (OverflowError, OSError, ValueError):
        return f"{epoch:.0f} (epoch)"
