"""Inventory on captured trees, with reasons for what cannot be read, and a stable content hash."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agent.config import parse_config_text
from agent.inventory import (
    Notes,
    collect_inventory,
    gpu_section,
    parse_cache_size,
    parse_dmidecode_memory,
)
from tests.conftest import FIXTURES, NODE_EXPORTER_PROC
from tests.fake_nvml import FakeGpu, build

DMIDECODE = """# dmidecode 3.4
Getting SMBIOS data from sysfs.
SMBIOS 3.3.0 present.

Handle 0x1000, DMI type 16, 23 bytes
Physical Memory Array
\tLocation: System Board Or Motherboard
\tUse: System Memory
\tError Correction Type: Multi-bit ECC
\tMaximum Capacity: 2 TB
\tNumber Of Devices: 16

Handle 0x1100, DMI type 17, 92 bytes
Memory Device
\tSize: 32 GB
\tLocator: DIMM_A1
\tType: DDR4
\tSpeed: 3200 MT/s
\tManufacturer: Samsung
\tPart Number: M393A4K40DB3-CWE\x20\x20
\tConfigured Memory Speed: 2933 MT/s

Handle 0x1101, DMI type 17, 92 bytes
Memory Device
\tSize: No Module Installed
\tLocator: DIMM_A2
"""


def test_dmidecode_memory() -> None:
    dimms, ecc = parse_dmidecode_memory(DMIDECODE)
    assert ecc == "Multi-bit ECC"
    assert dimms == [{"slot": "DIMM_A1", "size_gb": 32.0, "type": "DDR4", "speed_mhz": 2933, "manufacturer": "Samsung",
                      "part_number": "M393A4K40DB3-CWE"}]  # fmt: skip
    assert (
        parse_cache_size("32K") == 32
        and parse_cache_size("36M") == 36864
        and parse_cache_size("x") is None
    )


def fixture_settings(tmp_path: Path, extra: str = "") -> object:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc/os-release").write_text(
        'NAME="Ubuntu"\nVERSION="22.04.4 LTS (Jammy Jellyfish)"\nID=ubuntu\n'
    )
    text = f"""
[agent]
hostname = "gpu-server-01"
procfs = "{NODE_EXPORTER_PROC}"
sysfs = "{FIXTURES / "node_exporter/sys"}"
rootfs = "{root}"
[inventory]
{extra or "include_dimm_details = false"}
"""
    return parse_config_text(text, "t.toml").settings


def test_inventory_on_a_captured_machine(tmp_path: Path) -> None:
    document = collect_inventory(fixture_settings(tmp_path), nvml=build([]))  # type: ignore[arg-type]
    json.dumps(document)  # serialisable as it is
    assert document["os"]["distro"] == "Ubuntu" and document["os"]["version"].startswith("22.04.4")
    btime = next(
        int(line.split()[1])
        for line in (NODE_EXPORTER_PROC / "stat").read_text().splitlines()
        if line.startswith("btime")
    )
    assert document["os"]["boot_time"] == datetime.fromtimestamp(btime, UTC).isoformat().replace(
        "+00:00", "Z"
    )
    assert (
        document["cpu"]["total_threads"] == 8 and document["cpu"]["sockets"] == 2
    )  # two physical_package_ids
    assert document["numa"]["nodes"] == 3 and document["numa"]["topology"][1]["cpus"] == "2-3"
    assert document["numa"]["topology"][1]["memory_mb"] == 134217728 // 1024
    assert (
        document["memory"]["total_gb"] == round(3742148 / 1024 / 1024, 2)
        and document["memory"]["ecc_edac"] is True
    )
    assert (
        document["bios"]["vendor"] == "Dell Inc."
        and document["bios"]["product_name"] == "PowerEdge R6515"
    )
    assert {d["name"] for d in document["disks"]} >= {"sda"} and not any(
        d["name"].startswith("dm-") for d in document["disks"]
    )
    assert document["gpu"] == [] and "gpu" not in document["unavailable"]  # no GPU is not an error


def test_dimm_details_without_dmidecode_say_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no dmidecode (nor anything else) to run
    document = collect_inventory(
        fixture_settings(tmp_path, "include_dimm_details = true"), nvml=build([])
    )  # type: ignore[arg-type]
    assert document["memory"]["dimms"] == [] and document["memory"]["dimm_count"] is None
    assert document["unavailable"]["memory.dimms"] == "dmidecode is not installed"


def test_content_hash_ignores_the_time_and_follows_the_content(tmp_path: Path) -> None:
    settings = fixture_settings(tmp_path)
    first = collect_inventory(settings, nvml=build([]))  # type: ignore[arg-type]
    second = collect_inventory(settings, nvml=build([]))  # type: ignore[arg-type]
    assert first["content_hash"] == second["content_hash"]
    (tmp_path / "root/etc/os-release").write_text(
        'NAME="Debian GNU/Linux"\nVERSION="12 (bookworm)"\n'
    )
    assert collect_inventory(settings, nvml=build([]))["content_hash"] != first["content_hash"]  # type: ignore[arg-type]


def test_gpu_section_from_nvml() -> None:
    notes = Notes()
    (gpu,) = gpu_section(notes, build([FakeGpu(unsupported={"nvmlDeviceGetEnforcedPowerLimit"})]))
    assert gpu == {"index": 0, "model": "NVIDIA A100-SXM4-80GB", "uuid": "GPU-80GB", "vram_gb": 80.0, "driver": "535.129.03",
                   "cuda": "12.2", "pcie_gen": 4, "pcie_width": 16, "power_limit_w": None, "ecc": True}  # fmt: skip
    assert notes.reasons == {}


def test_inventory_dump_matches_its_schema(tmp_path: Path) -> None:
    import jsonschema

    from tests.conftest import REPO, run_agent, write_config

    schema = json.loads((REPO / "docs/schemas/inventory.schema.json").read_text())
    for text in (
        "",
        f'[agent]\nprocfs = "{NODE_EXPORTER_PROC}"\nsysfs = "{FIXTURES / "node_exporter/sys"}"\n',
    ):
        result = run_agent("--config", str(write_config(tmp_path, text)), "--inventory-dump")
        assert result.returncode == 0 and "Traceback" not in result.stderr
        jsonschema.validate(json.loads(result.stdout), schema)


def _stand_in(directory: Path, name: str, body: str) -> None:
    """A stand-in executable that prints what the real tool documents (no disks with SMART here)."""
    script = directory / name
    script.write_text("#!/bin/sh\n" + body)
    script.chmod(0o755)


def test_smart_and_ethtool_through_their_documented_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    smart = {
        "smartctl": {"exit_status": 8},
        "device": {"name": "/dev/x"},
        "smart_status": {"passed": False},
    }
    _stand_in(
        bin_dir, "smartctl", f"echo '{json.dumps(smart)}'\nexit 8\n"
    )  # bit 3: the disk is failing
    _stand_in(
        bin_dir,
        "ethtool",
        'printf "driver: e1000e\\nversion: 6.1\\nfirmware-version: 0.13-4\\nbus-info: 0000:00:19.0\\n"\n',
    )
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    settings = parse_config_text(
        "[inventory]\ninclude_smart = true\ninclude_dimm_details = false\n", "t"
    ).settings
    document = collect_inventory(settings, nvml=build([]))  # type: ignore[arg-type]
    assert document["disks"] and all(d["smart_healthy"] is False for d in document["disks"])
    physical = [n for n in document["network"] if not n["virtual"]]
    assert physical and all(n["firmware"] == "0.13-4" for n in physical)


def test_smartctl_without_a_status_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    answer = {
        "smartctl": {
            "messages": [
                {"string": "Read Device Identity failed: Unknown error", "severity": "error"}
            ],
            "exit_status": 4,
        }
    }
    _stand_in(bin_dir, "smartctl", f"echo '{json.dumps(answer)}'\nexit 4\n")
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    notes = Notes()
    from agent.inventory import smart_health

    assert smart_health("vda", notes) is None
    assert notes.reasons == {
        "disks.vda.smart_healthy": "Read Device Identity failed: Unknown error"
    }


SYSTEM_PYTHON = Path("/usr/bin/python3")


@pytest.mark.skipif(
    __import__("os").geteuid() != 0
    or not SYSTEM_PYTHON.exists()
    or __import__("shutil").which("setpriv") is None,
    reason="needs root to switch to nobody, and the system python3 (this interpreter may live where nobody cannot enter)",
)
def test_inventory_dump_as_nobody(tmp_path: Path) -> None:
    """The installation check operators run must work unprivileged: reasons, not tracebacks."""
    import subprocess
    import sys

    import jsonschema

    from tests.conftest import REPO

    version = subprocess.run(
        [str(SYSTEM_PYTHON), "-c", "import sys; print(sys.version_info[:2])"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    if version.stdout.strip() != str(tuple(sys.version_info[:2])):
        pytest.skip(
            "the system python3 is another version than the one the dependencies were installed for"
        )
    import tempfile

    shared = Path(
        tempfile.mkdtemp(prefix="sysops-nobody-", dir="/tmp")
    )  # pytest's tmp_path is root-only
    shared.chmod(0o755)
    config = shared / "inv.toml"
    config.write_text('[agent]\nhostname = "unprivileged"\n')
    config.chmod(0o644)
    site = next(Path(p) for p in sys.path if p.endswith("site-packages"))
    result = subprocess.run(
        ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "env", f"PYTHONPATH={REPO}:{site}",
         str(SYSTEM_PYTHON), "-m", "agent", "--config", str(config), "--inventory-dump"],
        capture_output=True, text=True, timeout=60, cwd="/",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    document = json.loads(result.stdout)
    jsonschema.validate(
        document, json.loads((REPO / "docs/schemas/inventory.schema.json").read_text())
    )
    assert document["hostname"] == "unprivileged" and document["cpu"]["total_threads"] >= 1


def test_a_malformed_meminfo_is_a_reason_not_an_exception(tmp_path: Path) -> None:
    from agent.inventory import memory_section, numa_section

    proc, sys_tree = tmp_path / "proc", tmp_path / "sys"
    node = sys_tree / "devices/system/node/node0"
    node.mkdir(parents=True)
    proc.mkdir()
    (proc / "meminfo").write_text("MemTotal: lots kB\nSwapTotal: 1048576 kB\n")
    (node / "meminfo").write_text("Node 0 MemTotal:\n")
    notes = Notes()
    memory = memory_section(proc, sys_tree, include_dimms=False, notes=notes)
    assert (
        memory["total_gb"] is None
        and "MemTotal is not a number" in notes.reasons["memory.total_gb"]
    )
    assert numa_section(sys_tree)["topology"] == [{"node": 0, "cpus": "", "memory_mb": None}]
    (proc / "meminfo").write_text("MemTotal: 2097152 kB\nSwapTotal: 1048576 kB\n")
    (node / "meminfo").write_text("Node 0 MemTotal:       2097152 kB\nNode 0 MemFree: 1 kB\n")
    assert memory_section(proc, sys_tree, include_dimms=False, notes=Notes())["total_gb"] == 2.0
    assert numa_section(sys_tree)["topology"][0]["memory_mb"] == 2048
