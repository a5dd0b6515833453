"""Hostile input (#20): each test reproduces one finding of the red-team pass.

A local user, a log writer, a network peer or a config author controls the
input here; the agent must neither freeze, leak, crash nor say something false.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from agent.collectors.process import ProcessCollector, parse_pid_stat
from alerting.alert import Severity, Status
from analyzers.base import SeriesKey
from analyzers.threshold import ThresholdAnalyzer, ThresholdRule
from tests.test_threshold import run

# --------------------------------------------------------------------------- 13a


def test_de_escalation_names_the_level_actually_crossed() -> None:
    # warn 20, critical 30, clear 10: critical clears at 30 - (20 - 10) = 20.
    rule = ThresholdRule("disk_used_percent", warn=20, critical=30, clear=10)
    alerts = run(ThresholdAnalyzer([rule]), [35.0, 14.6], SeriesKey.of("disk_used_percent"))
    down = alerts[-1]
    assert (down.status, down.severity) == (Status.ESCALATED, Severity.WARN)
    assert "above the warn level" not in down.message
    assert down.message == (
        "disk_used_percent is now 14.6%, below 20.0% where the critical level 30.0% clears; "
        "warn until back past 10.0%"
    )
    assert down.threshold == 20.0


def test_de_escalation_of_a_below_rule_says_above() -> None:
    rule = ThresholdRule("disk_free_percent", warn=20, critical=10, clear=25, below=True)
    alerts = run(ThresholdAnalyzer([rule]), [5.0, 16.0], SeriesKey.of("disk_free_percent"))
    assert alerts[-1].message == (
        "disk_free_percent is now 16.0%, above 15.0% where the critical level 10.0% clears; "
        "warn until back past 25.0%"
    )


# --------------------------------------------------------------------------- 10


def test_stat_parsed_by_the_last_paren_over_the_whole_file() -> None:
    tail = b" ".join([b"S"] + [b"1"] * 40)
    parsed = parse_pid_stat(b"42 (a)\n) 1 2 b) " + tail + b"\n")
    assert parsed.raw_comm == b"a)\n) 1 2 b"
    assert parsed.state == b"S"


_HIDER = r"""
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(15, b"hid\ner)x", 0, 0, 0) != 0:  # PR_SET_NAME
    sys.exit("prctl failed")
big = b"\x01" * (1 << 30)  # resident, so it is the top RSS consumer
print("ready", flush=True)
sys.stdin.read()
"""


def test_a_process_with_a_newline_in_its_name_is_in_top_n() -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", _HIDER], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert child.stdout is not None and child.stdout.readline() == b"ready\n"
        comm = Path(f"/proc/{child.pid}/comm").read_bytes()
        assert comm == b"hid\ner)x\n"
        collector = ProcessCollector(Path("/proc"), top_n=5)
        samples = collector.collect()
        rss = {
            dict(k.labels)["pid"]: dict(k.labels)["comm"]
            for k in samples.keys
            if k.metric == "process_rss_bytes"
        }
        assert rss.get(str(child.pid)) == "hid\ner)x"
    finally:
        child.kill()
        child.wait()
