#!/usr/bin/env python3
"""A stand-in for `journalctl --follow --output=json` on machines without a journal.

It serves the entries of the JSON-lines file named by $FAKE_JOURNAL with the
real program's cursor semantics: `--lines=0` starts at the end,
`--after-cursor=C` starts after the entry whose __CURSOR is C, and `--follow`
keeps printing entries appended to the file.  Output is one JSON object per
line, flushed, exactly as journalctl prints it.  Once it has chosen where to
start it creates $FAKE_JOURNAL.following, so a test knows when an appended
entry must be seen (the real journalctl gives no such sign; tests need one).

`-b -1` serves the previous boot from $FAKE_JOURNAL_PREVIOUS instead (with
`-k` only kernel entries, `-n N` the last N); without that file it fails as
journalctl does when the journal holds no earlier boot.
"""

import json
import os
import sys
import time

args = sys.argv[1:]
if "-b" in args and args[args.index("-b") + 1 : args.index("-b") + 2] == ["-1"]:
    previous = os.environ.get("FAKE_JOURNAL_PREVIOUS", "")
    if not previous or not os.path.exists(previous):
        sys.stderr.write(
            "Specifying boot ID or boot offset has no effect, no persistent journal was found.\n"
        )
        sys.exit(1)
    with open(previous) as handle:
        kept = [line for line in handle.read().splitlines() if line.strip()]
    if "-k" in args:
        kept = [line for line in kept if json.loads(line).get("_TRANSPORT") == "kernel"]
    if "-n" in args:
        kept = kept[-int(args[args.index("-n") + 1]) :]
    sys.stdout.write("".join(line + "\n" for line in kept))
    sys.exit(0)
path = os.environ["FAKE_JOURNAL"]
after = next((a.split("=", 1)[1] for a in args if a.startswith("--after-cursor=")), None)
from_end = "--lines=0" in args
follow = "--follow" in args


def entries():
    try:
        with open(path) as handle:
            return [line for line in handle.read().splitlines() if line.strip()]
    except FileNotFoundError:
        return []


lines = entries()
if from_end:
    start = len(lines)
elif after is not None:
    cursors = [json.loads(line).get("__CURSOR") for line in lines]
    start = cursors.index(after) + 1 if after in cursors else 0
else:
    start = 0
position = start
with open(path + ".following", "w"):
    pass
while True:
    lines = entries()
    for line in lines[position:]:
        sys.stdout.write(line + "\n")
    sys.stdout.flush()
    position = len(lines)
    if not follow:
        break
    time.sleep(0.1)
