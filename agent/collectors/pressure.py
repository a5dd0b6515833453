"""Pressure stall information (PSI) from /proc/pressure/{cpu,memory,io,irq}.

avg10 is the kernel's own 10-second average of the share of time some (or
all) tasks were stalled; the stall rate is the `total` microsecond counter
turned into seconds of stall per second over our interval.  A kernel without
PSI (psi=0, or older than 4.20) has no /proc/pressure: the domain is absent.
"""

from __future__ import annotations

import time
from pathlib import Path

from agent.collectors.base import (
    CounterRates,
    MetricSpec,
    ParseError,
    SampleBuilder,
    Samples,
    SourceMissing,
    gauge,
    read_optional,
)
from agent.plugins import CollectorPlugin

RESOURCES = ("cpu", "memory", "io", "irq")
KINDS = ("some", "full")


def _specs() -> tuple[MetricSpec, ...]:
    specs = []
    for resource in RESOURCES:
        source = f"/proc/pressure/{resource}"
        for kind in KINDS:
            who = "some tasks" if kind == "some" else "all non-idle tasks"
            specs.append(gauge(
                f"pressure_{resource}_{kind}_avg10_percent", "percent", (), source,
                f"Share of the last 10 s in which {who} were stalled on {resource} (kernel average).",
            ))  # fmt: skip
            specs.append(gauge(
                f"pressure_{resource}_{kind}_stall_seconds_per_second", "seconds_per_second", (), source,
                f"Seconds per second in which {who} were stalled on {resource}, over the interval.",
            ))  # fmt: skip
    return tuple(specs)


METRICS = _specs()


def parse_pressure(text: str) -> dict[str, tuple[float, int]]:
    """`some avg10=1.5 avg60=.. avg300=.. total=123` lines -> kind: (avg10, total µs)."""
    out: dict[str, tuple[float, int]] = {}
    for line in text.splitlines():
        parts = line.split()
        if not parts:
            continue
        kind, fields = parts[0], dict(p.split("=", 1) for p in parts[1:] if "=" in p)
        if kind not in KINDS:
            raise ParseError(f"pressure: unknown line kind {kind!r}")
        try:
            avg10, total = float(fields["avg10"]), int(fields["total"])
        except (KeyError, ValueError):
            raise ParseError(f"pressure: cannot parse {line[:80]!r}") from None
        if total < 0 or not 0 <= avg10 <= 100:
            raise ParseError(f"pressure: value out of range in {line[:80]!r}")
        out[kind] = (avg10, total)
    return out


class PressureCollector:
    name = "pressure"
    metrics = METRICS

    def __init__(self, procfs: Path) -> None:
        self._dir = procfs / "pressure"
        self._rates = CounterRates()

    def collect(self) -> Samples:
        now = time.monotonic()
        out = SampleBuilder()
        found = False
        for resource in RESOURCES:
            try:
                text = read_optional(self._dir / resource)
            except OSError as exc:  # EOPNOTSUPP when PSI is compiled in but disabled
                if resource == "cpu":
                    raise SourceMissing(f"PSI is disabled ({exc.strerror})") from None
                continue
            if text is None:
                continue
            found = True
            for kind, (avg10, total) in parse_pressure(text).items():
                out.add(f"pressure_{resource}_{kind}_avg10_percent", avg10)
                rate = self._rates.update(f"{resource}.{kind}", now, [total])
                if rate is not None:
                    out.add(
                        f"pressure_{resource}_{kind}_stall_seconds_per_second", float(rate[0]) / 1e6
                    )
        if not found:
            raise SourceMissing(f"the kernel has no PSI ({self._dir} is missing)")
        return out.build()


PLUGIN = CollectorPlugin(
    name="pressure",
    order=90,
    interval_key="agent.collect_interval_secs",
    metrics=METRICS,
    build=lambda settings, _stats: PressureCollector(Path(settings.agent.procfs)),
)
