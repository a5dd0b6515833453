"""Network interfaces: traffic and error rates from /proc/net/dev, link state from sysfs.

Every rate is over the measured interval; the error ratio is errors per packet
in that interval (rx + tx), which is what `thresholds.network_error_rate`
compares against, not a running total.  Loopback and virtual interfaces are
left out by a configurable pattern.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np

from agent.collectors.base import (
    CounterRates,
    MetricSpec,
    ParseError,
    SampleBuilder,
    Samples,
    gauge,
    labels,
    read_int,
    read_optional,
    read_text,
)
from agent.plugins import CollectorPlugin
from agent.settings import DEFAULT_EXCLUDED_INTERFACES

_DEV, _SYS = "/proc/net/dev", "/sys/class/net/*/"
_IF = ("interface",)
METRICS: tuple[MetricSpec, ...] = (
    gauge("network_receive_bytes_per_second", "bytes_per_second", _IF, _DEV, "Bytes received per second."),
    gauge("network_transmit_bytes_per_second", "bytes_per_second", _IF, _DEV, "Bytes sent per second."),
    gauge("network_receive_packets_per_second", "per_second", _IF, _DEV, "Packets received per second."),
    gauge("network_transmit_packets_per_second", "per_second", _IF, _DEV, "Packets sent per second."),
    gauge("network_receive_errors_per_second", "per_second", _IF, _DEV, "Receive errors per second."),
    gauge("network_transmit_errors_per_second", "per_second", _IF, _DEV, "Transmit errors per second."),
    gauge("network_receive_drops_per_second", "per_second", _IF, _DEV, "Received packets dropped per second."),
    gauge("network_transmit_drops_per_second", "per_second", _IF, _DEV, "Outgoing packets dropped per second."),
    gauge("network_error_ratio", "ratio", _IF, _DEV, "(rx + tx errors) / (rx + tx packets) over the interval; 0 without packets."),
    gauge("network_up", "boolean", _IF, _SYS + "operstate, carrier", "1 when the link is up (operstate up, or unknown with carrier)."),
    gauge("network_speed_bytes_per_second", "bytes_per_second", _IF, _SYS + "speed", "Negotiated link speed (absent when the driver does not say)."),
    gauge("network_mtu_bytes", "bytes", _IF, _SYS + "mtu", "MTU of the interface."),
)  # fmt: skip

# Columns of /proc/net/dev after the name: 8 receive, then 8 transmit.
_RX_BYTES, _RX_PACKETS, _RX_ERRS, _RX_DROP = 0, 1, 2, 3
_TX_BYTES, _TX_PACKETS, _TX_ERRS, _TX_DROP = 8, 9, 10, 11
_RATE_COLUMNS = [
    _RX_BYTES,
    _TX_BYTES,
    _RX_PACKETS,
    _TX_PACKETS,
    _RX_ERRS,
    _TX_ERRS,
    _RX_DROP,
    _TX_DROP,
]
_RATE_METRICS = (
    "network_receive_bytes_per_second",
    "network_transmit_bytes_per_second",
    "network_receive_packets_per_second",
    "network_transmit_packets_per_second",
    "network_receive_errors_per_second",
    "network_transmit_errors_per_second",
    "network_receive_drops_per_second",
    "network_transmit_drops_per_second",
)


def parse_net_dev(text: str) -> dict[str, np.ndarray]:
    """Interface -> its 16 counters; the two header lines are skipped."""
    out: dict[str, np.ndarray] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if number <= 2 or not line.strip():
            continue
        name, sep, rest = line.partition(":")
        fields = rest.split()
        if not sep or len(fields) != 16:
            raise ParseError(f"/proc/net/dev line {number}: expected 'iface: 16 counters'")
        try:
            values = [int(f) for f in fields]
        except ValueError:
            raise ParseError(f"/proc/net/dev line {number}: non-numeric counter") from None
        if min(values) < 0:
            raise ParseError(f"/proc/net/dev line {number}: negative counter")
        out[name.strip()] = np.array(values, dtype=np.float64)
    return out


def link_up(operstate: str | None, carrier: int | None) -> bool:
    state = (operstate or "").strip()
    return state == "up" or (state == "unknown" and carrier == 1)


class NetworkCollector:
    name = "network"
    metrics = METRICS

    def __init__(
        self, procfs: Path, sysfs: Path, excluded: str = DEFAULT_EXCLUDED_INTERFACES
    ) -> None:
        self._procfs = procfs
        self._sysfs = sysfs
        self._excluded = re.compile(excluded)
        self._rates = CounterRates()

    def collect(self) -> Samples:
        now = time.monotonic()
        interfaces = parse_net_dev(read_text(self._procfs / "net/dev"))
        out = SampleBuilder()
        seen = set()
        for name, counters in interfaces.items():
            if self._excluded.search(name):
                continue
            seen.add(name)
            if_labels = labels(interface=name)
            self._link(out, name, if_labels)
            rates = self._rates.update(name, now, counters[_RATE_COLUMNS])
            if rates is None:
                continue
            out.add_many(_RATE_METRICS, rates, if_labels)
            packets = rates[2] + rates[3]
            errors = rates[4] + rates[5]
            out.add(
                "network_error_ratio", float(errors / packets) if packets > 0 else 0.0, if_labels
            )
        self._rates.retain(seen)
        return out.build()

    def _link(self, out: SampleBuilder, name: str, if_labels: tuple[tuple[str, str], ...]) -> None:
        base = self._sysfs / "class/net" / name
        operstate = read_optional(base / "operstate")
        if operstate is None:
            return  # no sysfs entry (a container view): traffic only
        out.add(
            "network_up", 1.0 if link_up(operstate, read_int(base / "carrier")) else 0.0, if_labels
        )
        speed = read_int(base / "speed")
        if speed is not None and speed > 0:
            out.add(
                "network_speed_bytes_per_second", speed * 125_000.0, if_labels
            )  # Mb/s -> bytes/s
        mtu = read_int(base / "mtu")
        if mtu is not None:
            out.add("network_mtu_bytes", float(mtu), if_labels)


PLUGIN = CollectorPlugin(
    name="network",
    order=60,
    interval_key="collector.network_interval_secs",
    metrics=METRICS,
    build=lambda settings, _stats: NetworkCollector(
        Path(settings.agent.procfs),
        Path(settings.agent.sysfs),
        settings.collector.network_exclude_interfaces,
    ),
)
