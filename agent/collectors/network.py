"""Network interfaces: traffic and error rates from /proc/net/dev, link state from sysfs.

Every rate is over the measured interval; the error ratio is errors per packet
in that interval (rx + tx), which is what `thresholds.network_error_rate`
compares against, not a running total.  Loopback and a few others are left out
by a configurable pattern.

Virtual/container interfaces (veth, Cilium lxc*, Calico cali*, libvirt vnet*,
OpenStack qvo*/qvb*/tap*/qbr*, ...) come and go with containers and VMs; a
busy host has thousands.  A series per member would cost memory and sysfs
reads for names nobody will look at again, and dropping them would hide a
saturated host, so each family is one aggregate, `interface="<family>*"`: the
sum of its members' per-interval deltas (a member that disappears takes its
counters with it without making the sum go backwards), the error ratio over the
summed counters, and the member count.  Aggregates have no link state.

Link state is cheap on purpose: `operstate` and `carrier_changes` are read
every tick (two small reads); `carrier`, `speed` and `mtu` only when one of
those changed, and otherwise every `_REFRESH_TICKS` ticks (the first time after
one to two periods, spread by name).  The kernel's
sysfs-class-net ABI documents `carrier_changes` as the count of link up/down
transitions, and a renegotiated speed is such a transition; an MTU change has
no change signal in sysfs, hence the slow refresh.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from agent.collectors.base import (
    MetricSpec,
    ParseError,
    SampleBuilder,
    Samples,
    counter_delta,
    gauge,
    labels,
    read_text,
)
from agent.plugins import CollectorPlugin
from agent.settings import DEFAULT_EXCLUDED_INTERFACES, DEFAULT_INTERFACE_FAMILIES

_DEV, _SYS = "/proc/net/dev", "/sys/class/net/*/"
_IF = ("interface",)
# The link state, also read by the runtime to end a link down whose "link is up" line was lost.
LINK_STATE_METRIC = "network_up"
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
    gauge("network_aggregate_interfaces", "count", _IF, _DEV, "Members of an interface family aggregate (interface=\"<family>*\") present now."),
    gauge(LINK_STATE_METRIC, "boolean", _IF, _SYS + "operstate, carrier", "1 when the link is up (operstate up, or unknown with carrier)."),
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


# Link attributes are re-read at least this often (in ticks: 5 min at the 10 s
# default), spread over the ticks by interface name, for what has no change signal.
_REFRESH_TICKS = 30

# A sysfs attribute's path -> its text, or None.  Plain strings and os.read: on
# 2,000 interfaces pathlib's object churn cost more than the reads themselves.
Reader = Callable[[str], "str | None"]


def read_attribute(path: str) -> str | None:
    """A sysfs attribute's text, or None when absent or unreadable (EINVAL: `speed` of a down link)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        return os.read(fd, 4096).decode("utf-8", "replace")
    except OSError:
        return None
    finally:
        os.close(fd)


def _int(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(text.strip())
    except ValueError:
        return None


def parse_net_dev_rows(text: str) -> tuple[list[str], npt.NDArray[np.float64]]:
    """Interface names and their 16 counters as one (n, 16) array; the two header lines are skipped."""
    names: list[str] = []
    rows: list[list[int]] = []
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
        names.append(name.strip())
        rows.append(values)
    return names, np.array(rows, dtype=np.float64).reshape(len(rows), 16)


def parse_net_dev(text: str) -> dict[str, npt.NDArray[np.float64]]:
    """Interface -> its 16 counters."""
    names, rows = parse_net_dev_rows(text)
    return dict(zip(names, rows, strict=True))


def link_up(operstate: str | None, carrier: int | None) -> bool:
    state = (operstate or "").strip()
    return state == "up" or (state == "unknown" and carrier == 1)


@dataclass
class _Link:
    """What was last read of one interface's link attributes, and the signals it was read at."""

    operstate: str
    carrier_changes: str | None
    up: bool
    speed: int | None
    mtu: int | None
    read_at: int  # tick of the last full read (the first one shifted by name)


# What an interface is: left out, one of its own, or a member of a family (its name).
_EXCLUDED, _OWN = 0, 1


class NetworkCollector:
    name = "network"
    metrics = METRICS

    def __init__(
        self,
        procfs: Path,
        sysfs: Path,
        excluded: str = DEFAULT_EXCLUDED_INTERFACES,
        families: Mapping[str, str] = DEFAULT_INTERFACE_FAMILIES,
        aggregate: bool = True,
        read: Reader = read_attribute,
    ) -> None:
        self._procfs = procfs
        self._net = str(sysfs / "class/net")
        self._excluded = re.compile(excluded)
        self._families = [(name, re.compile(pattern)) for name, pattern in families.items()]
        self._aggregate = aggregate
        # The narrowest boundary: every sysfs read goes through it (tests count reads).
        self._read = read
        self._kinds: dict[str, int | str] = {}
        self._previous: tuple[float, dict[str, int], npt.NDArray[np.float64]] | None = None
        self._links: dict[str, _Link] = {}
        self._tick = 0

    def _kind(self, name: str) -> int | str:
        """Cached: a regex per family per interface per tick would cost more than the tick."""
        kind = self._kinds.get(name)
        if kind is None:
            kind = _OWN
            if self._excluded.search(name):
                kind = _EXCLUDED
            else:
                for family, pattern in self._families:
                    if pattern.search(name):
                        kind = family if self._aggregate else _EXCLUDED
                        break
            self._kinds[name] = kind
        return kind

    def collect(self) -> Samples:
        now = time.monotonic()
        self._tick += 1
        names, counters = parse_net_dev_rows(read_text(self._procfs / "net/dev"))
        counters = counters[:, _RATE_COLUMNS]
        kinds = [self._kind(name) for name in names]
        if len(self._kinds) > 2 * len(names) + 64:  # forget names gone long ago
            self._kinds = dict(zip(names, kinds, strict=True))
        rates = self._rates(now, names, counters)
        out = SampleBuilder()
        sums: dict[str, npt.NDArray[np.float64]] = {}
        members: dict[str, int] = {}
        own: set[str] = set()
        for row, (name, kind) in enumerate(zip(names, kinds, strict=True)):
            if kind == _EXCLUDED:
                continue
            if isinstance(kind, str):
                members[kind] = members.get(kind, 0) + 1
                if rates is not None and not np.isnan(rates[row, 0]):
                    total = sums.get(kind)
                    sums[kind] = rates[row].copy() if total is None else total + rates[row]
                continue
            own.add(name)
            if_labels = labels(interface=name)
            self._link(out, name, if_labels)
            if rates is not None and not np.isnan(rates[row, 0]):
                self._add_rates(out, rates[row], if_labels)
        for family, count in members.items():
            family_labels = labels(interface=f"{family}*")
            out.add("network_aggregate_interfaces", float(count), family_labels)
            # A family whose members are all new this tick has no interval yet: no rates.
            if family in sums:
                self._add_rates(out, sums[family], family_labels)
        for gone in set(self._links) - own:
            del self._links[gone]
        return out.build()

    def _rates(
        self, now: float, names: list[str], counters: npt.NDArray[np.float64]
    ) -> npt.NDArray[np.float64] | None:
        """Per-second rates of each row since the previous tick; NaN rows for new interfaces."""
        previous, self._previous = (
            self._previous,
            (now, {n: i for i, n in enumerate(names)}, counters),
        )
        if previous is None or now <= previous[0]:
            return None
        before_time, before_rows, before = previous
        rows = np.array([before_rows.get(name, -1) for name in names], dtype=np.intp)
        known = rows >= 0
        out = np.full(counters.shape, np.nan)
        # A counter that went backwards (a re-created interface) counts as 0 for the interval.
        out[known] = counter_delta(before[rows[known]], counters[known]) / (now - before_time)
        return out

    @staticmethod
    def _add_rates(
        out: SampleBuilder, rates: npt.NDArray[np.float64], if_labels: tuple[tuple[str, str], ...]
    ) -> None:
        out.add_many(_RATE_METRICS, rates, if_labels)
        packets = rates[2] + rates[3]
        errors = rates[4] + rates[5]
        out.add("network_error_ratio", float(errors / packets) if packets > 0 else 0.0, if_labels)

    def _link(self, out: SampleBuilder, name: str, if_labels: tuple[tuple[str, str], ...]) -> None:
        base = f"{self._net}/{name}/"
        operstate = self._read(base + "operstate")
        if operstate is None:
            self._links.pop(name, None)
            return  # no sysfs entry (a container view): traffic only
        changes = self._read(base + "carrier_changes")
        link = self._links.get(name)
        if (
            link is None
            or link.operstate != operstate
            or changes is None  # kernels before 3.15: no signal, read every tick
            or link.carrier_changes != changes
            or self._tick - link.read_at >= _REFRESH_TICKS
        ):
            # After the first read the next refresh is put off by a per-name amount
            # (up to one more period) so that the refreshes of a thousand
            # interfaces do not all fall on one tick.
            read_at = self._tick + (
                sum(name.encode())
                % _REFRESH_TICKS  # spread by name, stable across runs if link is None else 0
            )
            speed = _int(self._read(base + "speed"))
            link = _Link(
                operstate=operstate,
                carrier_changes=changes,
                up=link_up(operstate, _int(self._read(base + "carrier"))),
                speed=speed if speed is not None and speed > 0 else None,
                mtu=_int(self._read(base + "mtu")),
                read_at=read_at,
            )
            self._links[name] = link
        out.add(LINK_STATE_METRIC, 1.0 if link.up else 0.0, if_labels)
        if link.speed is not None:
            out.add("network_speed_bytes_per_second", link.speed * 125_000.0, if_labels)  # Mb/s
        if link.mtu is not None:
            out.add("network_mtu_bytes", float(link.mtu), if_labels)


PLUGIN = CollectorPlugin(
    name="network",
    order=60,
    interval_key="collector.network_interval_secs",
    metrics=METRICS,
    build=lambda settings, _stats: NetworkCollector(
        Path(settings.agent.procfs),
        Path(settings.agent.sysfs),
        settings.collector.network_exclude_interfaces,
        settings.collector.network_interface_families,
        settings.collector.network_aggregate_families,
    ),
)
