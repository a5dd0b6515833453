#!/usr/bin/env python3
"""A stand-in for `journalctl --follow --output=json` on machines without a journal.

It serves the entries of the JSON-lines file named by $FAKE_JOURNAL with the
real program's cursor semantics: `--lines=0` starts at the end,
`--after-cursor=C` starts after the entry whose __CURSOR is C, and `--follow`
keeps printing entries appended to the file.  Output is one JSON object per
line, flushed, exactly as journalctl prints it.  Once it has chosen where to
start it creates $FAKE_JOURNAL.following, so a test knows when an appended
entry must be seen (the real journalctl gives no such sign; tests need one).
"""

import json
import os
import sys
import time

args = sys.argv[1:]
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
