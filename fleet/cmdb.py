"""What changed between two inventories of one host, and the alert that announces it.

`compare(old, new)` walks two agent inventories (docs/schemas/inventory.schema.json,
written by agent/inventory.py) field by field and returns one `Change` per difference
that a person would want to know about; `change_alert` turns them into one Alert.

Rules, in the order they apply:

* **Noise is not a change.**  The fields in `VOLATILE` differ between two collections
  of an unchanged machine and are never compared (each entry says why); so are the
  copies in `COPIES` (one change, one line).  A field whose name says it is volatile
  (`_VOLATILE_NAME`: a time, an uptime, a temperature, free or used space, a counter...)
  is skipped too, so a future schema addition of that kind does not page anyone.
* **Unknown is not removed.**  The agent writes null (or "") for what it could not
  read this time and names it under `unavailable`; a null on either side is no change,
  a list named in `unavailable` (the GPUs when NVML failed half-way) reports what
  appeared and what changed but never what is missing, and the DIMMs are compared
  only when both documents read them (`memory.dimm_count` is not null: dmidecode ran).
  The `bios` section exists only with `inventory.include_bios`: absent is "not collected".
* **Lists are matched by identity, not position** (`IDENTITY`): DIMMs by slot, GPUs
  by UUID (then serial, then index), disks by serial (then device name), NICs by MAC
  (then name), NUMA nodes by number.  Matching goes key by key: what the strongest key
  pairs first, the next key pairs what is left, so a disk whose serial became readable
  is still the same disk, and a new disk under an old device name is "the same slot,
  another serial" (hardware_changed).  A reordered list is no change.  Virtual NICs
  (veth, bridges, bonds, VLANs: `virtual` true) come and go with containers and are
  not hardware: they are left out.  A list of plain values (cpu.flags) is a set.
* **Everything else compares**, known or not: a field the schema does not know yet
  is compared like any other (and reported when it appears or disappears), so a
  schema addition is not silently ignored.

Categories: "software" (kernel, OS, BIOS/firmware/driver/microcode versions, the agent,
configuration such as MTU or a GPU power limit), "hardware_lost" (an item gone, a size
or count smaller, a disk's SMART health turned failing), "hardware_added" (an item
new, a size or count larger), "hardware_changed" (the same slot or item with another
model, part or serial).  Memory totals move by a few hundred MiB with kernel
reservations (crashkernel, a new kernel's own size): differences within
`MEMORY_TOLERANCE` are not changes.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from alerting.alert import Alert, Severity, Status
from common.text import single_line
from fleet.settings import FleetSection

SOFTWARE = "software"
HARDWARE_LOST = "hardware_lost"
HARDWARE_ADDED = "hardware_added"
HARDWARE_CHANGED = "hardware_changed"
# Most alarming first: the order an alert lists changes in.
CATEGORIES = (HARDWARE_LOST, HARDWARE_CHANGED, HARDWARE_ADDED, SOFTWARE)

# Paths are patterns: a list item is `[]` ("gpu[].pcie_gen" is every GPU's).
VOLATILE: Mapping[str, str] = {
    "collected_at": "the collection time: new in every document",
    "content_hash": "covers the volatile fields too (cpu.mhz, addresses): it differs when "
    "nothing that matters did",
    "unavailable": "why a field could not be read this time (a tool timing out): used to tell "
    "unknown from removed, not a property of the host",
    "os.boot_time": "new at every reboot, and moves by a second when the clock is stepped "
    "(it is derived from btime)",
    "cpu.mhz": "the current clock of CPU 0: frequency scaling changes it every collection",
    "gpu[].pcie_gen": "the current PCIe link generation: an idle GPU drops to gen 1",
    "network[].addresses": "IP addresses come and go (DHCP, virtual IPs moving between hosts); "
    "not hardware or software",
}
COPIES: Mapping[str, str] = {
    "os.agent_version": "the same as agent_version",
    "os.hostname": "the same as hostname",
    "memory.dimm_count": "derived from memory.dimms; null says the DIMMs were not read",
}
# Sections the agent writes only when configured to: absent means "not collected".
OPTIONAL_SECTIONS: Mapping[str, str] = {"bios": "only with inventory.include_bios"}
# How the items of a list are recognised, strongest key first.
IDENTITY: Mapping[str, tuple[str, ...]] = {
    "memory.dimms": ("slot", "locator"),
    "gpu": ("uuid", "serial", "index"),
    "disks": ("serial", "wwn", "name"),
    "network": ("mac", "name"),
    "numa.topology": ("node",),
}
# For lists the schema does not describe: the first of these keys the items carry.
GENERIC_IDENTITY = ("uuid", "serial", "wwn", "mac", "slot", "locator", "name", "id", "index")
# Items left out of a list before matching, and why.
SKIP_ITEMS: Mapping[str, tuple[Callable[[Mapping[str, Any]], bool], str]] = {
    "network": (
        lambda nic: nic.get("virtual") is True,
        "virtual interfaces (veth, bridges, bonds, VLANs, tunnels) come and go with containers",
    ),
}
SOFTWARE_FIELDS = frozenset({
    "hostname", "agent_version", "cpu.microcode", "cpu.flags", "memory.swap_gb",
    "memory.ecc_edac", "bios.vendor", "bios.version", "bios.date", "gpu[].driver",
    "gpu[].cuda", "gpu[].power_limit_w", "gpu[].ecc", "disks[].firmware", "network[].driver",
    "network[].firmware", "network[].mtu",
})  # fmt: skip
_SOFTWARE_NAME = re.compile(r"version|firmware|driver|microcode|kernel|vbios|cuda|release")
# A number that is an amount of hardware (a size, a count, a link width or speed): smaller
# is hardware_lost, larger hardware_added.  Other numbers (a DIMM's clock) are "changed".
_CAPACITY_NAME = re.compile(
    r"(_gb|_mb|_kb|_tb|_bytes|_mbps|_gbps)$|(^|_)(sockets|threads|cores|nodes|count|width|size)"
    r"($|_)"
)
_VOLATILE_NAME = re.compile(
    r"(^|_)(at|time|timestamp|uptime|secs|seconds|temp|temperature|celsius|free|used|usage|"
    r"available|util|utilization|load|percent|errors|counter|counters)($|_)"
)
# (absolute, relative) differences within which a memory figure has not changed.
MEMORY_TOLERANCE: Mapping[str, tuple[float, float]] = {
    "memory.total_gb": (0.25, 0.005),
    "numa.topology[].memory_mb": (256.0, 0.005),
}
UNITS: Mapping[str, str] = {
    "memory.total_gb": "GiB",
    "memory.swap_gb": "GiB",
    "memory.dimms[].size_gb": "GiB",
    "memory.dimms[].speed_mhz": "MHz",
    "gpu[].vram_gb": "GiB",
    "gpu[].power_limit_w": "W",
    "disks[].capacity_gb": "GB",
    "numa.topology[].memory_mb": "MiB",
    "network[].speed_mbps": "Mb/s",
    "cpu.cache_l3_mb": "MiB",
}
_UNIT_SUFFIX = (("_gb", "GB"), ("_mb", "MB"), ("_kb", "KiB"), ("_mhz", "MHz"), ("_mbps", "Mb/s"))
# What an added or removed item is shown as: its fields, in this order.
SUMMARY_FIELDS: Mapping[str, tuple[str, ...]] = {
    "memory.dimms": ("size_gb", "type", "manufacturer", "part_number", "serial"),
    "gpu": ("model", "vram_gb", "serial", "uuid"),
    "disks": ("model", "capacity_gb", "interface", "serial", "name"),
    "network": ("name", "mac", "driver", "speed_mbps"),
}
_LABELLED = ("serial", "uuid", "mac")  # shown as "serial X", not just "X"
# A matched item whose one of these differs is another part in the same place: one change.
REPLACEMENT_FIELDS = ("uuid", "serial", "wwn", "mac", "part_number", "model")
MAX_DEPTH = 24  # deeper than any inventory: compared as whole values beyond it
DESCRIBE_LIMIT = 400


@dataclass(frozen=True)
class Change:
    """One difference between two inventories of a host.

    `path` names the field, list items by their identity: "memory.dimms[P1-DIMMA2]",
    "gpu[GPU-8b3c...].driver", "os.kernel".  `item` is the everyday name of the item
    when the path names it otherwise (a disk's device name when the path has its serial).
    """

    path: str
    kind: str  # "added" | "removed" | "changed"
    old: Any
    new: Any
    category: str  # "software" | "hardware_added" | "hardware_lost" | "hardware_changed"
    item: str = ""

    def describe(self) -> str:
        """One line a person reads in a chat: what, and from what to what."""
        where = self.path + (f" ({self.item})" if self.item else "")
        pattern = _pattern_of(self.path)
        found = _ITEM.findall(self.path)
        named = {found[-1][1:-1], self.item} if found else {self.item}
        if self.kind in ("added", "removed"):
            summary = _summary(pattern, self.new if self.kind == "added" else self.old, named)
            text = f"{where} {self.kind}" + (f": {summary}" if summary else "")
        elif isinstance(self.old, Mapping) and isinstance(self.new, Mapping):
            before, after = _summary(pattern, self.old, named), _summary(pattern, self.new, named)
            text = f"{where} replaced: {before} -> {after}"
        elif isinstance(self.old, list) and isinstance(self.new, list):
            gone = [v for v in self.old if v not in self.new]
            came = [v for v in self.new if v not in self.old]
            parts = [f"-{_text(v)}" for v in gone] + [f"+{_text(v)}" for v in came]
            text = f"{where} {' '.join(parts)}"
        else:
            text = f"{where} {_value(pattern, self.old)} -> {_value(pattern, self.new)}"
        return single_line(text, DESCRIBE_LIMIT)

    def to_record(
        self, *, hostname: str | None = None, timestamp: float | None = None
    ) -> dict[str, Any]:
        """The JSON record of the changes stream (docs/TELEMETRY.md, "The CMDB")."""
        record: dict[str, Any] = {}
        if hostname is not None:
            record["hostname"] = hostname
        if timestamp is not None:
            record["time"] = (
                datetime.fromtimestamp(timestamp, UTC)
                .isoformat(timespec="seconds")
                .replace("+00:00", "Z")
            )
            record["epoch"] = timestamp
        record.update({
            "path": self.path, "kind": self.kind, "category": self.category,
            "old": self.old, "new": self.new, "description": self.describe(),
        })  # fmt: skip
        if self.item:
            record["item"] = self.item
        return record

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Change:
        """The change a `to_record()` describes; KeyError or TypeError if it is not one."""
        return cls(
            path=str(record["path"]),
            kind=str(record["kind"]),
            old=record.get("old"),
            new=record.get("new"),
            category=str(record["category"]),
            item=str(record.get("item") or ""),
        )


def compare(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Change]:
    """The changes from `old` to `new` (two inventories of one host), in document order.

    Never raises on a malformed document: what is not a mapping compares as nothing,
    a field of an unexpected type compares as a plain value.
    """
    documents: tuple[object, object] = (old, new)  # from the wire: typed, not trusted
    if not all(isinstance(document, Mapping) for document in documents):
        return []
    walk = _Walk(_unavailable(old) | _unavailable(new), _dimms_read(old) and _dimms_read(new))
    walk.mapping(old, new, "", "", "", 0)
    return walk.changes


def severity_of(category: str, section: FleetSection) -> str:
    """The configured severity of a category ("none": recorded, not announced).

    A hardware_changed item (the same slot, another part or serial) has no option of its
    own: it is announced at `hardware_added_severity` (a part that shrank is hardware_lost).
    """
    return {
        SOFTWARE: section.software_change_severity,
        HARDWARE_LOST: section.hardware_lost_severity,
        HARDWARE_ADDED: section.hardware_added_severity,
        HARDWARE_CHANGED: section.hardware_added_severity,
    }.get(category, section.hardware_added_severity)


def change_alert(
    hostname: str,
    changes: Sequence[Change],
    section: FleetSection,
    timestamp: float,
    *,
    limit: int = 10,
) -> Alert | None:
    """One alert listing `changes` (the first `limit`, then how many more), or None when
    every category present is configured "none" (they are recorded, not announced).

    Its severity is the highest configured one among the categories present.  A change
    is an event, not a state: nothing will ever resolve it, and a firing alert that never
    resolves would be repeated by the router every `min_interval_secs` for good.  So the
    alert carries `context["event"] = True`, the router's one-off (as a log line): sent
    once, never tracked, never repeated, no resolve expected.  Each inventory change is
    thus announced exactly once per call; a re-delivered inventory gives no changes
    (`Cmdb.ingest` compares it with itself), so no second alert.
    """
    announced = [c for c in changes if severity_of(c.category, section) != "none"]
    if not announced:
        return None
    rank = {category: i for i, category in enumerate(CATEGORIES)}
    announced.sort(key=lambda c: rank.get(c.category, len(CATEGORIES)))
    severity = max(Severity.parse(severity_of(c.category, section)) for c in announced)
    present = [c for c in CATEGORIES if any(x.category == c for x in announced)]
    shown = [c.describe() for c in announced[:limit]]
    more = len(announced) - len(shown)
    quiet = len(changes) - len(announced)
    noun = "change" if len(announced) == 1 else "changes"
    message = f"{len(announced)} inventory {noun}: " + "; ".join(shown)
    if more:
        message += f"; and {more} more"
    if quiet:
        message += f" ({quiet} more recorded, not announced)"
    return Alert(
        analyzer="fleet",
        metric="inventory_changes",
        # The host in the labels too: the fingerprint (and so each notification's `id`)
        # differs between two hosts whose changes were seen in the same second.
        labels=(("host", hostname), ("change", present[0])),
        status=Status.FIRING,
        severity=severity,
        value=float(len(announced)),
        threshold=None,
        message=message,
        timestamp=timestamp,
        hostname=hostname,
        context={
            "event": True,
            "categories": ",".join(present),
            "changes": len(changes),
        },
    )


# -- the walk ----------------------------------------------------------------------------


def _unavailable(document: Mapping[str, Any]) -> frozenset[str]:
    notes = document.get("unavailable")
    return frozenset(str(k) for k in notes) if isinstance(notes, Mapping) else frozenset()


def _dimms_read(document: Mapping[str, Any]) -> bool:
    memory = document.get("memory")
    return not isinstance(memory, Mapping) or memory.get("dimm_count") is not None


def _unknown(value: Any) -> bool:
    """The agent's "could not read this": null, or an empty string."""
    return value is None or value == ""


def _join(base: str, key: str) -> str:
    return f"{base}.{key}" if base else key


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _name_of(pattern: str) -> str:
    """The field's own name: "speed_mbps" of "network[].speed_mbps"."""
    return pattern.rsplit(".", 1)[-1].removesuffix("[]")


def _is_software(pattern: str) -> bool:
    if pattern in SOFTWARE_FIELDS or pattern.startswith("os.") or pattern == "os":
        return True
    return _SOFTWARE_NAME.search(_name_of(pattern)) is not None


def _skipped(pattern: str) -> bool:
    name = _name_of(pattern)
    return (
        pattern in VOLATILE
        or pattern in COPIES
        or (_VOLATILE_NAME.search(name) is not None and pattern not in SOFTWARE_FIELDS)
    )


class _Walk:
    def __init__(self, unavailable: frozenset[str], dimms_read: bool) -> None:
        self.unavailable = unavailable
        self.dimms_read = dimms_read
        self.changes: list[Change] = []
        self.item = ""  # the everyday name of the list item being compared

    def add(self, path: str, kind: str, old: Any, new: Any, category: str) -> None:
        self.changes.append(Change(path, kind, old, new, category, self.item))

    def mapping(
        self,
        old: Mapping[str, Any],
        new: Mapping[str, Any],
        pattern: str,
        path: str,
        note: str,
        depth: int,
    ) -> None:
        keys = list(new) + [k for k in old if k not in new]
        for key in keys:
            p, d, n = _join(pattern, str(key)), _join(path, str(key)), _join(note, str(key))
            if _skipped(p) or (n in self.unavailable and not isinstance(new.get(key), list)):
                continue
            if key not in old or key not in new:
                if p in OPTIONAL_SECTIONS:
                    continue
                present = new.get(key) if key in new else old.get(key)
                if _unknown(present) or present in ({}, []):
                    continue
                software = _is_software(p)
                if key in new:
                    self.add(d, "added", None, present, SOFTWARE if software else HARDWARE_ADDED)
                else:
                    self.add(d, "removed", present, None, SOFTWARE if software else HARDWARE_LOST)
                continue
            self.value(old[key], new[key], p, d, n, depth + 1)

    def value(self, old: Any, new: Any, pattern: str, path: str, note: str, depth: int) -> None:
        if _unknown(old) or _unknown(new) or old == new:
            return
        if depth > MAX_DEPTH:
            self.leaf(old, new, pattern, path)
        elif isinstance(old, Mapping) and isinstance(new, Mapping):
            self.mapping(old, new, pattern, path, note, depth)
        elif isinstance(old, list) and isinstance(new, list):
            self.sequence(old, new, pattern, path, note, depth)
        else:
            self.leaf(old, new, pattern, path)

    def leaf(self, old: Any, new: Any, pattern: str, path: str) -> None:
        if _number(old) and _number(new):
            tolerance = MEMORY_TOLERANCE.get(pattern)
            if tolerance is not None:
                absolute, relative = tolerance
                if abs(new - old) <= max(absolute, relative * abs(old)):
                    return
            if not (math.isfinite(old) and math.isfinite(new)):
                return
        if _is_software(pattern):
            category = SOFTWARE
        elif pattern.endswith("smart_healthy") and old is True and new is False:
            category = HARDWARE_LOST
        elif _number(old) and _number(new) and _CAPACITY_NAME.search(_name_of(pattern)):
            category = HARDWARE_LOST if new < old else HARDWARE_ADDED
        else:
            category = HARDWARE_CHANGED
        self.add(path, "changed", old, new, category)

    def sequence(
        self, old: list[Any], new: list[Any], pattern: str, path: str, note: str, depth: int
    ) -> None:
        if pattern == "memory.dimms" and not self.dimms_read:
            return  # dmidecode did not run on one side: unknown, not removed
        if all(not isinstance(v, Mapping) for v in (*old, *new)):
            self.scalars(old, new, pattern, path)
            return
        skip = SKIP_ITEMS.get(pattern)
        olds = [v for v in old if not (skip and isinstance(v, Mapping) and skip[0](v))]
        news = [v for v in new if not (skip and isinstance(v, Mapping) and skip[0](v))]
        keys = IDENTITY.get(pattern) or _generic_keys([*olds, *news])
        pairs, gone, came = _match(olds, news, keys)
        item = f"{pattern}[]"
        outer = self.item
        for key, o, n in pairs:
            label = _text(o[key]) if key else _label(o, keys)
            self.item = _everyday(o, n, label)
            weaker = keys[keys.index(key) + 1 :] if key in keys else ()
            o_rest = {k: v for k, v in o.items() if k not in weaker}
            n_rest = {k: v for k, v in n.items() if k not in weaker}
            name = _text(n.get("name") or o.get("name") or label)
            where = f"{path}[{label}]"
            if _replaced(o, n, key):
                inner = _Walk(self.unavailable, self.dimms_read)
                inner.mapping(o_rest, n_rest, item, where, f"{note}.{name}", depth)
                lost = any(c.category == HARDWARE_LOST for c in inner.changes)
                self.add(where, "changed", o, n, HARDWARE_LOST if lost else HARDWARE_CHANGED)
                continue
            self.mapping(o_rest, n_rest, item, where, f"{note}.{name}", depth)
        software = _is_software(pattern)
        partial = note in self.unavailable  # a list read only in part: missing is unknown
        for kind, items, category in (
            ("removed", [] if partial else gone, SOFTWARE if software else HARDWARE_LOST),
            ("added", came, SOFTWARE if software else HARDWARE_ADDED),
        ):
            for whole in items:
                label = _label(whole, keys)
                self.item = _everyday(whole, whole, label)
                before, after = (whole, None) if kind == "removed" else (None, whole)
                self.add(f"{path}[{label}]", kind, before, after, category)
        self.item = outer

    def scalars(self, old: list[Any], new: list[Any], pattern: str, path: str) -> None:
        """A list of plain values is a set: order and repeats do not matter."""
        if not old or not new:
            return  # an empty side: not read
        before, after = _canonical_set(old), _canonical_set(new)
        if before == after:
            return
        category = SOFTWARE if _is_software(pattern) else HARDWARE_CHANGED
        self.add(path, "changed", [before[k] for k in sorted(before)],
                 [after[k] for k in sorted(after)], category)  # fmt: skip


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _canonical_set(values: list[Any]) -> dict[str, Any]:
    return {_canonical(v): v for v in values}


def _generic_keys(items: list[Any]) -> tuple[str, ...]:
    present = {k for v in items if isinstance(v, Mapping) for k in v}
    return tuple(k for k in GENERIC_IDENTITY if k in present)


def _match(
    old: list[Any], new: list[Any], keys: tuple[str, ...]
) -> tuple[list[tuple[str, dict[str, Any], dict[str, Any]]], list[Any], list[Any]]:
    """Pairs (key they matched on, old, new), then the old items unmatched, the new ones.

    Key by key, strongest first, over what is still unmatched; then whole equal items
    (key ""), so items without any identity are matched by their content.
    """
    left_old = [v for v in old if isinstance(v, Mapping)]
    left_new = [v for v in new if isinstance(v, Mapping)]
    pairs: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
    for key in keys:
        by_value: dict[str, list[int]] = {}
        for i, n in enumerate(left_new):
            if not _unknown(n.get(key)):
                by_value.setdefault(_canonical(n[key]), []).append(i)
        taken: set[int] = set()
        still: list[Any] = []
        for o in left_old:
            slots = None if _unknown(o.get(key)) else by_value.get(_canonical(o[key]))
            if slots:
                i = slots.pop(0)
                taken.add(i)
                pairs.append((key, dict(o), dict(left_new[i])))
            else:
                still.append(o)
        left_old = still
        left_new = [n for i, n in enumerate(left_new) if i not in taken]
    by_content: dict[str, list[int]] = {}
    for i, n in enumerate(left_new):
        by_content.setdefault(_canonical(n), []).append(i)
    taken = set()
    gone = []
    for o in left_old:
        slots = by_content.get(_canonical(o))
        if slots:
            taken.add(slots.pop(0))
        else:
            gone.append(o)
    came = [n for i, n in enumerate(left_new) if i not in taken]
    others_old = [v for v in old if not isinstance(v, Mapping)]
    others_new = [v for v in new if not isinstance(v, Mapping)]
    gone += [v for v in others_old if v not in others_new]
    came += [v for v in others_new if v not in others_old]
    return pairs, gone, came


def _replaced(old: Mapping[str, Any], new: Mapping[str, Any], matched_on: str) -> bool:
    """Another part in the same place: a serial, UUID, MAC, part number or model differs."""
    return any(
        key != matched_on
        and not _unknown(old.get(key))
        and not _unknown(new.get(key))
        and _canonical(old[key]) != _canonical(new[key])
        for key in REPLACEMENT_FIELDS
    )


def _label(item: Any, keys: tuple[str, ...]) -> str:
    if isinstance(item, Mapping):
        for key in keys:
            if not _unknown(item.get(key)):
                return _text(item[key])
    return _text(item)[:60]


def _everyday(old: Any, new: Any, label: str) -> str:
    """A disk's or NIC's name when the path names it by serial or MAC ("" if the same)."""
    for item in (new, old):
        name = item.get("name") if isinstance(item, Mapping) else None
        if not _unknown(name) and _text(name) != label:
            return _text(name)
    return ""


# -- words ---------------------------------------------------------------------------------


_ITEM = re.compile(r"\[[^\]]*\]")


def _pattern_of(path: str) -> str:
    return _ITEM.sub("[]", path)


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, int | float | bool) or value is None:
        return str(value)
    return _canonical(value)


def _unit(pattern: str) -> str:
    unit = UNITS.get(pattern)
    if unit is not None:
        return unit
    name = pattern.rsplit(".", 1)[-1]
    return next((u for suffix, u in _UNIT_SUFFIX if name.endswith(suffix)), "")


def _value(pattern: str, value: Any) -> str:
    if pattern.endswith("smart_healthy") and isinstance(value, bool):
        return "PASSED" if value else "FAILING"
    unit = _unit(pattern)
    if unit and _number(value):
        return f"{_text(value)} {unit}"
    return _text(value)


def _summary(pattern: str, value: Any, named: set[str]) -> str:
    """An item in a few words, without what its path already says (`named`):
    "32 GiB DDR4 Samsung M393A4K40DB3-CWE serial 4A3B2C1D"."""
    if isinstance(value, list):
        return ", ".join(_summary(f"{pattern}[]", v, named) for v in value)
    if not isinstance(value, Mapping):
        return _value(pattern, value)
    base = pattern.removesuffix("[]")
    fields = SUMMARY_FIELDS.get(base)
    if fields is None:
        fields = tuple(k for k, v in value.items() if not isinstance(v, Mapping | list))
    return " ".join(_words(base, value, fields, named))


def _words(
    base: str, item: Mapping[str, Any], fields: tuple[str, ...], named: set[str]
) -> Iterator[str]:
    known = base in SUMMARY_FIELDS
    for key in fields:
        value = item.get(key)
        if _unknown(value) or isinstance(value, Mapping | list) or _text(value) in named:
            continue
        shown = _value(f"{base}[].{key}", value)
        if key in _LABELLED and known:
            yield f"{key} {shown}"
        elif known:
            yield shown
        else:
            yield f"{key}={shown}"
