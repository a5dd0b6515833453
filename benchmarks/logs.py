"""Log matcher throughput, and what the catalogue finds in real logs.

    .venv/bin/python benchmarks/logs.py [--logs ../shared/fixtures/logs]

1. Throughput on one core, in lines per second, for lines that match nothing
   (the common case), with the full catalogue and 20 custom patterns.
   Goal: >= 100,000 lines/s.
2. The 8,000 real lines of the loghub samples (Linux, BGL, HPC, Thunderbird;
   research-only licence, so they are read from ../shared, never copied here):
   every match, by category and pattern, with the line, to check each one.
   Linux and Thunderbird are syslog files (kernel lines by their tag); BGL
   and HPC have their own formats, so their lines are offered as kernel text.
3. A storm, as a hostile log writer makes one: 100,000 distinct
   ``kernel: e1000e: eNNNNNN NIC Link is Down`` lines appended at once to a
   tailed file, read as the syslog source reads it (bounded slices) and fed to
   the alerter: wall time, lines/s, the longest slice (how long the event loop
   waits for its turn), alerts out, and the peak of Python allocations.
4. Grouping of multi-line reports: the alerter's rate on quiet lines while a
   report is held (each is tried as a follow-up line), and 20,000 four-line AER
   reports from distinct devices at once (held reports stay bounded).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import tracemalloc
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent.logs.positions import Positions
from agent.logs.syslogfile import SyslogSource, parse_syslog_line
from alerting.alert import Severity
from analyzers.logpatterns import LogAlerter, LogLine, LogMatcher, build_patterns

REPO = Path(__file__).resolve().parent.parent
CUSTOM = [
    (f"app{i}", rf"app{i}\[\d+\]: (?:FATAL|panic): (?P<what>\w+)", Severity.WARN) for i in range(20)
]


def throughput(matcher: LogMatcher, kernel: bool) -> float:
    lines = [
        LogLine(
            f"systemd[1]: Started Session {i} of user alice; unit session-{i}.scope active", kernel
        )
        for i in range(200_000)
    ]
    started = time.process_time()
    matched = sum(1 for line in lines if matcher.match(line) is not None)
    elapsed = time.process_time() - started
    assert matched == 0
    return len(lines) / elapsed


def loghub(matcher: LogMatcher, root: Path) -> None:
    by_category: Counter[str] = Counter()
    examples: dict[str, list[str]] = defaultdict(list)
    total = 0
    for name in ("Linux_2k.log", "Thunderbird_2k.log", "BGL_2k.log", "HPC_2k.log"):
        path = root / name
        if not path.exists():
            print(f"  {name}: missing")
            continue
        syslog = name in ("Linux_2k.log", "Thunderbird_2k.log")
        for raw in path.read_text(errors="replace").splitlines():
            total += 1
            if syslog:
                # Thunderbird lines start with an alert label, a timestamp and a node name before the syslog part.
                text = raw.split(" ", 4)[-1] if name.startswith("Thunderbird") else raw
                line = parse_syslog_line(text, kernel_trusted=True)
            else:
                line = LogLine(raw, kernel=True)
            found = matcher.match(line)
            if found is not None:
                key = f"{found.pattern.category}/{found.pattern.name} ({found.severity.label})"
                by_category[key] += 1
                if len(examples[key]) < 3:
                    examples[key].append(f"{name}: {raw[:160]}")
    print(f"\nloghub samples: {total} lines, {sum(by_category.values())} matches")
    for key, count in by_category.most_common():
        print(f"  {count:>5}  {key}")
        for example in examples[key]:
            print(f"         {example}")


def storm(matcher: LogMatcher, lines: int = 100_000) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "syslog"
        path.write_text("")
        source = SyslogSource([path], Positions(Path(tmp) / "pos.json"), kernel_paths=[path])
        alerter = LogAlerter(matcher)
        alerts = 0

        def emit(line: LogLine) -> None:
            nonlocal alerts
            alerts += len(alerter.process(line, time.time()))

        source.poll(emit)  # at the end of the empty file, as a running agent is
        with path.open("w") as f:
            for i in range(lines):
                f.write(f"Nov 21 10:00:00 h kernel: e1000e: e{i:06d} NIC Link is Down\n")
        size = path.stat().st_size
        for traced in (False, True):
            if traced:  # a second pass, to weigh it: tracemalloc slows everything down
                source = SyslogSource(
                    [path], Positions(Path(tmp) / "pos2.json"), kernel_paths=[path]
                )
                source.poll(emit)
                source.tails[0]._offset = 0
                tracemalloc.start()
            slices, worst = 0, 0.0
            started = time.perf_counter()
            more = True
            while more:
                t0 = time.perf_counter()
                more = source.poll(emit)
                worst = max(worst, time.perf_counter() - t0)
                slices += 1
            elapsed = time.perf_counter() - started
            if traced:
                peak = tracemalloc.get_traced_memory()[1]
                tracemalloc.stop()
                print(f"  peak Python allocations while reading it: {peak / 1e6:.2f} MB")
            else:
                print(
                    f"storm: {lines:,} distinct link-down lines ({size / 1e6:.1f} MB) in one burst:"
                )
                print(
                    f"  {elapsed:.2f} s, {lines / elapsed:,.0f} lines/s, {slices} slices, "
                    f"longest slice {worst * 1000:.0f} ms (the event loop's longest wait)"
                )
                print(f"  alerts out: {alerts} ({alerter.suppressed:,} counted into the flood summary), "
                      f"link-down table: {len(alerter._open)}")  # fmt: skip


def grouping(matcher: LogMatcher, reports: int = 20_000) -> None:
    """The grouping stage: its cost on quiet lines while a report is held, and a storm of reports."""
    alerter = LogAlerter(matcher)
    quiet = [
        LogLine(
            f"systemd[1]: Started Session {i} of user alice; unit session-{i}.scope active", True
        )
        for i in range(200_000)
    ]
    alerter.process(LogLine("nvme nvme0: I/O 1 QID 1 timeout, aborting", True), 0.0)  # held
    started = time.process_time()
    for line in quiet:
        alerter.process(line, 0.5)  # within the window: every line is tried as a follow-up
    elapsed = time.process_time() - started
    print(f"  quiet lines while a report is held: {len(quiet) / elapsed:>12,.0f} lines/s")
    alerter = LogAlerter(matcher)
    lines = []
    for i in range(reports):
        dev = f"0000:{i >> 8 & 0xFF:02x}:{i >> 3 & 0x1F:02x}.{i & 7}"
        lines += [
            LogLine(
                f"pcieport 0000:00:1c.0: AER: Corrected error message received from {dev}", True
            ),
            LogLine(
                f"igb {dev}: AER: PCIe Bus Error: severity=Correctable, type=Physical Layer, (Receiver ID)",
                True,
            ),
            LogLine(
                f"igb {dev}: AER:   device [8086:1521] error status/mask=00000001/00002000", True
            ),
            LogLine(f"igb {dev}:    [ 0] RxErr                  (First)", True),
        ]
    started = time.process_time()
    alerts = sum(len(alerter.process(line, 0.0)) for line in lines)
    alerts += len(alerter.flush(3.0)) + len(alerter.flush(1000.0))
    elapsed = time.process_time() - started
    alerter = LogAlerter(matcher)
    tracemalloc.start()  # a second pass, to weigh it: tracemalloc slows everything down
    for line in lines:
        alerter.process(line, 0.0)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(f"  {reports:,} AER reports from distinct devices ({len(lines):,} lines) at once: "
          f"{len(lines) / elapsed:,.0f} lines/s, {alerts} alerts (flood control), "
          f"held at most {alerter.max_groups} reports, peak {peak / 1e6:.2f} MB")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--logs", type=Path, default=REPO.parent / "shared/fixtures/logs")
    args = parser.parse_args()
    matcher = LogMatcher(build_patterns(segfaults=True, custom=CUSTOM))
    print("matcher throughput, non-matching lines, full catalogue + 20 custom patterns, one core:")
    print(f"  kernel lines:     {throughput(matcher, True):>12,.0f} lines/s   (goal >= 100,000)")
    print(f"  non-kernel lines: {throughput(matcher, False):>12,.0f} lines/s")
    print("grouping of multi-line reports (LogAlerter), one core:")
    grouping(LogMatcher(build_patterns()))
    loghub(matcher, args.logs)
    print()
    storm(LogMatcher(build_patterns()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
