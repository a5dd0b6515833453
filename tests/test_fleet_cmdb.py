"""The CMDB's comparison (fleet/cmdb.py) over inventories the agent itself writes.

The base document is what agent/inventory.py collects from the captured node_exporter
machine (tests/fixtures), with DIMMs parsed by the agent's own dmidecode parser, GPUs
through the NVML stand-in and the physical NIC and disks of the procfs capture: the
exact shape the watcher receives.  Each test edits it as a real event would.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from agent.inventory import (
    Notes,
    collect_inventory,
    disks_section,
    network_section,
    parse_dmidecode_memory,
)
from alerting.alert import Severity, Status
from alerting.router import Router
from fleet.cmdb import (
    HARDWARE_ADDED,
    HARDWARE_CHANGED,
    HARDWARE_LOST,
    SOFTWARE,
    VOLATILE,
    Change,
    change_alert,
    compare,
)
from fleet.settings import FleetSection
from tests.conftest import FIXTURES
from tests.fake_nvml import FakeGpu, build
from tests.test_inventory import fixture_settings

SLOTS = [f"P{cpu}-DIMM{bank}1" for cpu in (1, 2) for bank in "ABCD"]
SERIALS = ["4A3B2C1D", "4A3B2C1E", "4A3B2C1F", "4A3B2C20", "4A3B2C21", "4A3B2C22", "4A3B2C23",
           "4A3B2C24"]  # fmt: skip


def dmidecode_text() -> str:
    """`dmidecode -t memory` of a two-socket server: eight 32 GB RDIMMs, eight empty slots."""
    blocks = [
        "# dmidecode 3.4\nGetting SMBIOS data from sysfs.\nSMBIOS 3.3.0 present.",
        "Handle 0x1000, DMI type 16, 23 bytes\nPhysical Memory Array\n\tLocation: System Board "
        "Or Motherboard\n\tUse: System Memory\n\tError Correction Type: Multi-bit ECC\n"
        "\tMaximum Capacity: 2 TB\n\tNumber Of Devices: 16",
    ]
    for i, slot in enumerate(SLOTS):
        blocks.append(
            f"Handle 0x11{i:02x}, DMI type 17, 92 bytes\nMemory Device\n\tSize: 32 GB\n"
            f"\tLocator: {slot}\n\tType: DDR4\n\tSpeed: 3200 MT/s\n\tManufacturer: Samsung\n"
            f"\tSerial Number: {SERIALS[i]}\n\tPart Number: M393A4K40DB3-CWE  \n"
            "\tConfigured Memory Speed: 2933 MT/s"
        )
        blocks.append(
            f"Handle 0x12{i:02x}, DMI type 17, 92 bytes\nMemory Device\n"
            f"\tSize: No Module Installed\n\tLocator: {slot[:-1]}2"
        )
    return "\n\n".join(blocks) + "\n"


@pytest.fixture(scope="module")
def captured(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp_path = tmp_path_factory.mktemp("inventory")
    gpus = [FakeGpu(), FakeGpu(name="NVIDIA A100-SXM4-40GB", memory_total=40 * 1024**3)]
    document = collect_inventory(fixture_settings(tmp_path), nvml=build(gpus))  # type: ignore[arg-type]
    dimms, ecc = parse_dmidecode_memory(dmidecode_text())
    for dimm in dimms:
        dimm["ecc"] = ecc not in (None, "None", "Unknown")
    # The agent's DIMMs carry no serial yet: one as a newer agent would write it.
    for dimm, serial in zip(dimms, SERIALS, strict=True):
        dimm["serial"] = serial
    # MemTotal of eight 32 GiB DIMMs, less what the firmware and the kernel keep.
    document["memory"].update(dimms=dimms, dimm_count=len(dimms), total_gb=251.54)
    sys = FIXTURES / "procfs/sys"
    document["network"] += network_section(sys, Notes(), addresses=False)
    document["network"][-1].update(driver="ixgbe", firmware="0x800009e0", addresses=["10.0.0.5/24"])
    disks = disks_section(sys, Notes())[:2]
    disks[0].update(model="SAMSUNG MZ7L31T9HBLT-00A07", serial="S6ESNA0T512345",
                    firmware="JXTC404Q", smart_healthy=True)  # fmt: skip
    disks[1].update(model="SAMSUNG MZ7L31T9HBLT-00A07", serial="S6ESNA0T512346",
                    firmware="JXTC404Q", capacity_gb=1920.4, smart_healthy=True)  # fmt: skip
    document["disks"] = disks
    json.dumps(document)  # as it travels
    return document


@pytest.fixture
def doc(captured: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(captured)


def edited(document: dict[str, Any]) -> dict[str, Any]:
    """The next collection of the same machine: a new time (and so a new hash), nothing else."""
    new = copy.deepcopy(document)
    new["collected_at"] = "2030-01-01T00:05:00Z"
    new["content_hash"] = "f" * 64
    return new


def test_the_shape_under_test_is_the_agents(doc: dict[str, Any]) -> None:
    """The base document has what each test edits, as the agent writes it."""
    assert [d["slot"] for d in doc["memory"]["dimms"]] == SLOTS
    assert doc["memory"]["dimms"][0]["part_number"] == "M393A4K40DB3-CWE"
    assert [g["uuid"] for g in doc["gpu"]] == ["GPU-80GB", "GPU-40GB"]
    assert [n["virtual"] for n in doc["network"]] == [True, True, True, False]
    assert doc["os"]["kernel"] and doc["bios"]["version"] == "2.2.4"


def test_an_unchanged_machine_is_no_change(doc: dict[str, Any]) -> None:
    assert compare(doc, edited(doc)) == []
    assert compare(doc, doc) == []


def test_one_dimm_fewer_is_hardware_lost_naming_the_dimm(doc: dict[str, Any]) -> None:
    new = edited(doc)
    new["memory"]["dimms"] = [d for d in new["memory"]["dimms"] if d["slot"] != "P1-DIMMB1"]
    new["memory"]["dimm_count"] = 7
    new["memory"]["total_gb"] = 219.54
    changes = compare(doc, new)
    assert [(c.path, c.kind, c.category) for c in changes] == [
        ("memory.total_gb", "changed", HARDWARE_LOST),
        ("memory.dimms[P1-DIMMB1]", "removed", HARDWARE_LOST),
    ]
    assert changes[0].describe() == "memory.total_gb 251.54 GiB -> 219.54 GiB"
    assert changes[1].describe() == (
        "memory.dimms[P1-DIMMB1] removed: 32 GiB DDR4 Samsung M393A4K40DB3-CWE serial 4A3B2C1E"
    )
    assert changes[1].old["serial"] == "4A3B2C1E" and changes[1].new is None


def test_a_dimm_added_and_one_replaced_in_its_slot(doc: dict[str, Any]) -> None:
    new = edited(doc)
    new["memory"]["dimms"][2].update(serial="8F00AA11", part_number="HMA84GR7CJR4N-XN",
                                     manufacturer="SK Hynix")  # fmt: skip
    new["memory"]["dimms"].append({**new["memory"]["dimms"][0], "slot": "P1-DIMMA2",
                                   "serial": "4A3B2CFF"})  # fmt: skip
    changes = compare(doc, new)
    assert [(c.path, c.kind, c.category) for c in changes] == [
        ("memory.dimms[P1-DIMMC1]", "changed", HARDWARE_CHANGED),
        ("memory.dimms[P1-DIMMA2]", "added", HARDWARE_ADDED),
    ]
    assert changes[0].describe() == (
        "memory.dimms[P1-DIMMC1] replaced: 32 GiB DDR4 Samsung M393A4K40DB3-CWE serial 4A3B2C1F"
        " -> 32 GiB DDR4 SK Hynix HMA84GR7CJR4N-XN serial 8F00AA11"
    )
    smaller = edited(doc)
    smaller["memory"]["dimms"][2].update(serial="8F00AA11", size_gb=16.0)
    (change,) = compare(doc, smaller)
    assert change.category == HARDWARE_LOST and "replaced" in change.describe()


def test_a_gpu_gone_is_lost_whatever_the_indexes_became(doc: dict[str, Any]) -> None:
    new = edited(doc)
    del new["gpu"][0]
    new["gpu"][0]["index"] = 0  # NVML numbers what is left from 0
    (change,) = compare(doc, new)
    assert (change.path, change.kind, change.category) == (
        "gpu[GPU-80GB]",
        "removed",
        HARDWARE_LOST,
    )
    assert change.describe() == "gpu[GPU-80GB] removed: NVIDIA A100-SXM4-80GB 80 GiB"


def test_a_gpu_driver_upgrade_is_software(doc: dict[str, Any]) -> None:
    new = edited(doc)
    for gpu in new["gpu"]:
        gpu.update(driver="550.54.15", cuda="12.4")
    changes = compare(doc, new)
    assert {c.category for c in changes} == {SOFTWARE} and len(changes) == 4
    assert changes[0].describe() == "gpu[GPU-80GB].driver 535.129.03 -> 550.54.15"


def test_a_disk_replaced_in_its_bay(doc: dict[str, Any]) -> None:
    new = edited(doc)
    new["disks"][1].update(serial="PHYF1234567", model="INTEL SSDSC2KB019T8", firmware="XCV10132")
    (change,) = compare(doc, new)
    assert (change.path, change.kind, change.category) == (
        "disks[sdb]", "changed", HARDWARE_CHANGED,
    )  # fmt: skip
    assert change.describe() == (
        "disks[sdb] replaced: SAMSUNG MZ7L31T9HBLT-00A07 1920.4 GB serial S6ESNA0T512346"
        " -> INTEL SSDSC2KB019T8 1920.4 GB serial PHYF1234567"
    )


def test_a_disk_gone_and_smart_failing(doc: dict[str, Any]) -> None:
    new = edited(doc)
    new["disks"][0]["smart_healthy"] = False
    del new["disks"][1]
    changes = compare(doc, new)
    assert [(c.path, c.kind, c.category, c.item) for c in changes] == [
        ("disks[S6ESNA0T512345].smart_healthy", "changed", HARDWARE_LOST, "sda"),
        ("disks[S6ESNA0T512346]", "removed", HARDWARE_LOST, "sdb"),
    ]
    assert changes[0].describe() == "disks[S6ESNA0T512345].smart_healthy (sda) PASSED -> FAILING"
    assert changes[1].describe() == (
        "disks[S6ESNA0T512346] (sdb) removed: SAMSUNG MZ7L31T9HBLT-00A07 1920.4 GB"
    )


def test_kernel_os_bios_microcode_and_agent_upgrades_are_software(doc: dict[str, Any]) -> None:
    new = edited(doc)
    new["os"]["kernel"] = "6.8.0-45-generic"
    new["os"]["version"] = "24.04.1 LTS (Noble Numbat)"
    new["bios"]["version"] = "2.3.6"
    new["cpu"]["microcode"] = "0xf0"
    upgraded = doc["agent_version"] + ".1"  # whatever this version is
    new["agent_version"] = new["os"]["agent_version"] = upgraded
    new["network"][-1]["firmware"] = "0x80000aee"
    changes = compare(doc, new)
    assert {c.category for c in changes} == {SOFTWARE}
    paths = [c.path for c in changes]
    assert paths == ["agent_version", "os.version", "os.kernel", "cpu.microcode",
                     "network[01:01:01:01:01:01].firmware", "bios.version"]  # fmt: skip
    assert changes[2].describe() == f"os.kernel {doc['os']['kernel']} -> 6.8.0-45-generic"


def test_cpu_and_nic_capacity(doc: dict[str, Any]) -> None:
    new = edited(doc)
    new["cpu"].update(total_threads=4, sockets=1)
    new["network"][-1]["speed_mbps"] = 100
    new["cpu"]["flags"] = [f for f in doc["cpu"]["flags"] if f != "avx2"] + ["avx512f"]
    changes = {c.path: c for c in compare(doc, new)}
    assert changes["cpu.total_threads"].category == HARDWARE_LOST
    assert changes["cpu.sockets"].category == HARDWARE_LOST
    assert changes["network[01:01:01:01:01:01].speed_mbps"].describe() == (
        "network[01:01:01:01:01:01].speed_mbps (eth0) 1000 Mb/s -> 100 Mb/s"
    )
    assert changes["cpu.flags"].category == SOFTWARE
    assert changes["cpu.flags"].describe() == "cpu.flags -avx2 +avx512f"
    new = edited(doc)
    new["gpu"][0]["pcie_width"] = 8  # a riser going bad: less of the GPU's link
    for dimm in new["memory"]["dimms"]:
        dimm["speed_mhz"] = 2666  # a BIOS setting, or more DIMMs per channel: a clock
    changes = {c.path: c for c in compare(doc, new)}
    assert changes["gpu[GPU-80GB].pcie_width"].category == HARDWARE_LOST
    assert changes["memory.dimms[P1-DIMMA1].speed_mhz"].category == HARDWARE_CHANGED
    assert changes["memory.dimms[P1-DIMMA1].speed_mhz"].describe() == (
        "memory.dimms[P1-DIMMA1].speed_mhz 2933 MHz -> 2666 MHz"
    )


def test_reordered_lists_are_no_change(doc: dict[str, Any]) -> None:
    new = edited(doc)
    for path in (("memory", "dimms"), ("numa", "topology"), ("cpu", "flags")):
        new[path[0]][path[1]].reverse()
    for key in ("gpu", "disks", "network"):
        new[key].reverse()
    # Device names move between boots: sda is now sdb and the other way round.
    new["disks"][0]["name"], new["disks"][1]["name"] = "sda", "sdb"
    assert compare(doc, new) == []


@pytest.mark.parametrize(
    "edit",
    [
        lambda d: d.update(collected_at="2031-05-05T05:05:05Z"),
        lambda d: d.update(content_hash="0" * 64),
        lambda d: d["cpu"].update(mhz=3499.7),
        lambda d: d["os"].update(boot_time="2030-01-01T00:00:01Z"),
        lambda d: d["network"][-1].update(addresses=["10.0.0.6/24", "fe80::1/64"]),
        lambda d: [g.update(pcie_gen=1) for g in d["gpu"]],
        lambda d: d["memory"].update(total_gb=251.31),  # a kernel's reservation moved
        lambda d: d["numa"]["topology"][0].update(memory_mb=130900),
        lambda d: d["network"].append(
            {"name": "veth3f2a", "mac": "02:42:ac:11:00:02", "virtual": True, "mtu": 1500}
        ),
        lambda d: d["unavailable"].update({"network.eth0.firmware": "ethtool did not answer"}),
        lambda d: d["gpu"][0].update(temperature_celsius=71),  # a future volatile field
        lambda d: d["gpu"][0].update(uptime_secs=12),
    ],
    ids=[
        "collected_at",
        "content_hash",
        "cpu.mhz",
        "boot_time",
        "addresses",
        "pcie_gen",
        "memory_reservation",
        "numa_reservation",
        "veth",
        "unavailable",
        "temperature",
        "uptime",
    ],
)
def test_volatile_fields_are_no_change(doc: dict[str, Any], edit: Any) -> None:
    new = edited(doc)
    edit(new)
    assert compare(doc, new) == []


def test_every_volatile_field_says_why() -> None:
    assert all(len(reason) > 20 for reason in VOLATILE.values())
    assert {"collected_at", "content_hash", "cpu.mhz", "os.boot_time"} <= set(VOLATILE)


def test_unknown_is_not_removed(doc: dict[str, Any]) -> None:
    # dmidecode did not run this time (not installed, or not root): no DIMM is "gone".
    new = edited(doc)
    new["memory"].update(dimms=[], dimm_count=None)
    new["unavailable"]["memory.dimms"] = "dmidecode is not installed"
    assert compare(doc, new) == [] and compare(new, doc) == []
    # NVML failed half-way: the GPUs it did not list are unknown, not gone.
    new = edited(doc)
    del new["gpu"][1]
    new["unavailable"]["gpu"] = "NVML: GPU is lost"
    assert compare(doc, new) == []
    # Fields the agent could not read are null: no change either way.
    new = edited(doc)
    new["disks"][0].update(serial=None, model=None, smart_healthy=None)
    new["bios"]["product_serial"] = None
    assert compare(doc, new) == [] and compare(new, doc) == []
    # The BIOS section is not collected (inventory.include_bios = false).
    new = edited(doc)
    del new["bios"]
    assert compare(doc, new) == []


def test_an_unknown_field_still_compares(doc: dict[str, Any]) -> None:
    new = edited(doc)
    new["chassis"] = {"serial": "CZ2D1F0ABC", "psus": 2}
    new["gpu"][0]["vbios"] = "92.00.45.00.03"
    old = copy.deepcopy(doc)
    old["power_supplies"] = [{"slot": "PSU1", "watts": 1100}, {"slot": "PSU2", "watts": 1100}]
    new["power_supplies"] = [{"slot": "PSU1", "watts": 1100}]
    old["bios"]["tpm_version"], new["bios"]["tpm_version"] = "1.2", "2.0"
    changes = compare(old, new)
    assert [(c.path, c.kind, c.category) for c in changes] == [
        ("gpu[GPU-80GB].vbios", "added", SOFTWARE),
        ("bios.tpm_version", "changed", SOFTWARE),
        ("chassis", "added", HARDWARE_ADDED),
        ("power_supplies[PSU2]", "removed", HARDWARE_LOST),
    ]
    assert changes[2].describe() == "chassis added: serial=CZ2D1F0ABC psus=2"
    assert changes[3].describe() == "power_supplies[PSU2] removed: watts=1100"


@pytest.mark.parametrize(
    "bad",
    [
        {},
        {"hostname": "x", "memory": "lots", "gpu": {"0": 1}, "disks": [1, "x", None, {"name": 3}]},
        {"hostname": "x", "network": [{"mac": None}, {"mac": None}], "cpu": None},
        {"hostname": "x", "deep": json.loads("[" * 200 + "]" * 200)},
    ],
)
def test_malformed_documents_compare_without_raising(doc: dict[str, Any], bad: Any) -> None:
    compare(doc, bad)
    compare(bad, doc)
    compare(bad, bad)
    assert compare(doc, [1, 2]) == [] and compare("x", doc) == []  # type: ignore[arg-type]


def test_a_record_reads_back_and_is_json(doc: dict[str, Any]) -> None:
    new = edited(doc)
    del new["gpu"][0]
    (change,) = compare(doc, new)
    record = change.to_record(hostname="gpu-server-01", timestamp=1_900_000_000.0)
    assert record["time"] == "2030-03-17T17:46:40Z" and record["hostname"] == "gpu-server-01"
    assert record["description"] == change.describe()
    assert Change.from_record(json.loads(json.dumps(record))) == change


def test_a_hostile_value_is_one_line() -> None:
    change = Change("bios.version", "changed", "1.0", "2.0\n[CRITICAL] forged\x1b[2J", SOFTWARE)
    assert "\n" not in change.describe() and "\x1b" not in change.describe()


# -- the alert ---------------------------------------------------------------------------


def dimm_gone(doc: dict[str, Any]) -> list[Change]:
    new = edited(doc)
    new["memory"]["dimms"].pop(1)
    new["memory"]["dimm_count"] = 7
    new["memory"]["total_gb"] = 219.54
    new["os"]["kernel"] = "6.8.0-45-generic"
    return compare(doc, new)


def test_the_alert_of_a_dimm_gone_is_warn_and_names_it(doc: dict[str, Any]) -> None:
    changes = dimm_gone(doc)
    alert = change_alert("gpu-server-01", changes, FleetSection(), 1_900_000_000.0)
    assert alert is not None
    assert alert.severity is Severity.WARN and alert.status is Status.FIRING
    assert alert.hostname == "gpu-server-01" and alert.labels == (
        ("host", "gpu-server-01"),
        ("change", HARDWARE_LOST),
    )
    assert alert.message.startswith("3 inventory changes: memory.total_gb 251.54 GiB -> 219.54")
    assert "memory.dimms[P1-DIMMB1] removed: 32 GiB" in alert.message
    assert alert.message.endswith(f"os.kernel {doc['os']['kernel']} -> 6.8.0-45-generic")
    assert alert.context["event"] is True and alert.value == 3.0


def test_the_alert_severity_follows_the_options(doc: dict[str, Any]) -> None:
    changes = dimm_gone(doc)
    software = [c for c in changes if c.category == SOFTWARE]
    alert = change_alert("h", software, FleetSection(), 0.0)
    assert alert is not None and alert.severity is Severity.INFO
    loud = FleetSection(software_change_severity="critical")
    alert = change_alert("h", changes, loud, 0.0)
    assert alert is not None and alert.severity is Severity.CRITICAL
    quiet_software = FleetSection(software_change_severity="none")
    assert change_alert("h", software, quiet_software, 0.0) is None
    alert = change_alert("h", changes, quiet_software, 0.0)
    assert alert is not None and alert.severity is Severity.WARN
    assert "kernel" not in alert.message and alert.message.endswith(
        "(1 more recorded, not announced)"
    )
    silent = FleetSection(software_change_severity="none", hardware_lost_severity="none",
                          hardware_added_severity="none")  # fmt: skip
    assert change_alert("h", changes, silent, 0.0) is None
    assert change_alert("h", [], FleetSection(), 0.0) is None
    replaced = [Change("disks[sdb]", "changed", {"serial": "A"}, {"serial": "B"}, HARDWARE_CHANGED)]
    alert = change_alert("h", replaced, FleetSection(hardware_added_severity="warn"), 0.0)
    assert alert is not None and alert.severity is Severity.WARN


def test_a_long_list_is_cut_with_a_count() -> None:
    changes = [Change(f"disks[S{i}]", "removed", {"name": f"sd{i}"}, None, HARDWARE_LOST)
               for i in range(25)]  # fmt: skip
    alert = change_alert("h", changes, FleetSection(), 0.0, limit=10)
    assert alert is not None
    assert alert.message.count("removed") == 10 and alert.message.endswith("; and 15 more")


def test_the_router_sends_a_change_once_and_never_repeats_it(doc: dict[str, Any]) -> None:
    alert = change_alert("gpu-server-01", dimm_gone(doc), FleetSection(), 1000.0)
    assert alert is not None
    router = Router("watcher", [], min_interval_secs=300.0)
    assert router.route(alert) is not None
    assert router.repeat_due(1000.0 + 4 * 3600) == []  # a state would be repeated by now
    assert router.route(alert) is not None  # a new change is news again (its own event)


def test_the_alert_is_recorded_as_the_alert_schema_says(
    tmp_path: Path, doc: dict[str, Any]
) -> None:
    import jsonschema

    from tests.conftest import REPO

    schema = json.loads((REPO / "docs/schemas/alert.schema.json").read_text())
    alert = change_alert("gpu-server-01", dimm_gone(doc), FleetSection(), 1000.0)
    assert alert is not None
    jsonschema.validate(alert.to_record(), schema)
