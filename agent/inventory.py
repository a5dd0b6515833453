"""Hardware/software inventory: one JSON-ready document in the seed's shape.

Every section reads procfs/sysfs/rootfs (so it runs on fixture trees) or runs
an external tool with a fixed argv, a timeout and no shell.  A missing tool or
a file only root can read leaves the field null and says why under
`unavailable`; nothing here raises.  `content_hash` covers everything but the
collection time, so subscribers can skip an unchanged document.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shlex
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from agent import __version__
from agent.collectors.base import ParseError
from agent.collectors.gpu import DRIVER_MARKER
from agent.collectors.memory import parse_meminfo
from agent.settings import Settings

TOOL_TIMEOUT_SECS = 5.0
INTERESTING_FLAGS = ("sse4_2", "avx", "avx2", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "amx_tile",
                     "aes", "sha_ni", "vmx", "svm", "hypervisor", "ht", "constant_tsc", "asimd", "sve")  # fmt: skip


class Notes:
    """Collects the reasons fields are missing."""

    def __init__(self) -> None:
        self.reasons: dict[str, str] = {}

    def missing(self, field: str, reason: str) -> None:
        self.reasons[field] = reason


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return None


def _meminfo(path: Path) -> tuple[dict[str, int], str | None]:
    """A meminfo file through the memory collector's parser (bytes): {} and why, if unreadable."""
    text = _read(path)
    if text is None:
        return {}, f"{path} cannot be read"
    try:
        return parse_meminfo(text), None
    except ParseError as exc:
        return {}, str(exc)


def _read_noted(path: Path, field: str, notes: Notes) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip()
    except PermissionError:
        notes.missing(field, f"{path} is readable by root only")
    except OSError:
        pass
    return None


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def run_tool(argv: list[str], field: str, notes: Notes, any_exit: bool = False) -> str | None:
    """A fixed argv, no shell, a timeout; None (and a reason) when it cannot give an answer.

    `any_exit`: the tool reports findings in its exit status (smartctl), so its output counts anyway.
    """
    try:
        result = subprocess.run(
            argv, capture_output=True, text=True, timeout=TOOL_TIMEOUT_SECS, check=False
        )
    except FileNotFoundError:
        notes.missing(field, f"{argv[0]} is not installed")
        return None
    except OSError as exc:  # not executable for this user, or a PATH entry it cannot enter
        notes.missing(field, f"cannot run {argv[0]}: {exc.strerror}")
        return None
    except subprocess.TimeoutExpired:
        notes.missing(field, f"{argv[0]} did not answer in {TOOL_TIMEOUT_SECS:g} s")
        return None
    if result.returncode != 0 and not (any_exit and result.stdout.strip()):
        detail = (result.stderr or "").strip().splitlines()[:1]
        notes.missing(
            field,
            f"{argv[0]} failed ({result.returncode}): {detail[0] if detail else 'no message'}",
        )
        return None
    return result.stdout


# -- parsers (pure) ------------------------------------------------------------------------


def parse_os_release(text: str) -> dict[str, str]:
    """/etc/os-release: KEY=value lines, values possibly shell-quoted."""
    out: dict[str, str] = {}
    for raw_line in text.splitlines():
        line = raw_line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        try:
            parts = shlex.split(value)
        except ValueError:  # unbalanced quote: keep the raw text
            parts = [value.strip("\"'")]
        out[key.strip()] = parts[0] if parts else ""
    return out


def parse_cpuinfo(text: str) -> dict[str, Any]:
    """Model, vendor, topology counts, MHz, microcode and selected flags from /proc/cpuinfo."""
    processors: list[dict[str, str]] = []
    for block in (b for b in text.split("\n\n") if b.strip()):
        entry: dict[str, str] = {}
        for line in block.splitlines():
            key, sep, value = line.partition(":")
            if sep:
                entry[key.strip()] = value.strip()
        if "processor" in entry:
            processors.append(entry)
    first = processors[0] if processors else {}
    total = len(processors)
    packages = {p.get("physical id") for p in processors if "physical id" in p}
    sockets = len(packages) or (1 if total else 0)
    cores = int(first["cpu cores"]) if first.get("cpu cores", "").isdigit() else None
    flags = set((first.get("flags") or first.get("Features") or "").split())
    try:
        mhz: float | None = round(float(first["cpu MHz"]), 1)
    except (KeyError, ValueError):
        mhz = None
    return {
        "model": first.get("model name") or first.get("Model") or first.get("Hardware") or "",
        "vendor": first.get("vendor_id") or first.get("CPU implementer") or "",
        "sockets": sockets,
        "cores_per_socket": cores,
        "threads_per_core": total // (sockets * cores) if cores and sockets else None,
        "total_threads": total,
        "mhz": mhz,
        "microcode": first.get("microcode"),
        "flags": sorted(flags & set(INTERESTING_FLAGS)),
    }


def parse_cache_size(text: str | None) -> int | None:
    """`32K`, `1024K`, `36M` -> KiB."""
    if not text:
        return None
    found = re.fullmatch(r"(\d+)([KMG]?)", text.strip())
    if found is None:
        return None
    return int(found.group(1)) * {"": 1, "K": 1, "M": 1024, "G": 1024 * 1024}[found.group(2)]


def parse_dmidecode_memory(text: str) -> tuple[list[dict[str, Any]], str | None]:
    """(DIMMs, ECC type of the memory array) from `dmidecode -t memory`."""
    dimms: list[dict[str, Any]] = []
    ecc: str | None = None
    for block in re.split(r"\n\s*\n", text):
        lines = [line.strip() for line in block.splitlines()]
        fields = dict(line.split(": ", 1) for line in lines if ": " in line)
        if "Physical Memory Array" in lines:
            ecc = fields.get("Error Correction Type")
        if "Memory Device" not in lines:
            continue
        size_text = fields.get("Size", "")
        if not size_text or size_text.startswith("No Module"):
            continue
        size_mb = None
        found = re.match(r"(\d+)\s*(MB|GB|TB)", size_text)
        if found:
            size_mb = int(found.group(1)) * {"MB": 1, "GB": 1024, "TB": 1024 * 1024}[found.group(2)]
        speed = re.match(
            r"(\d+)", fields.get("Configured Memory Speed") or fields.get("Speed") or ""
        )
        dimms.append({
            "slot": fields.get("Locator"),
            "size_gb": round(size_mb / 1024, 2) if size_mb else None,
            "type": fields.get("Type"),
            "speed_mhz": int(speed.group(1)) if speed else None,
            "manufacturer": fields.get("Manufacturer"),
            "part_number": (fields.get("Part Number") or "").strip() or None,
        })  # fmt: skip
    return dimms, ecc


# -- sections -----------------------------------------------------------------------------


def os_section(procfs: Path, rootfs: Path, hostname: str) -> dict[str, Any]:
    release = parse_os_release(
        _read(rootfs / "etc/os-release") or _read(rootfs / "usr/lib/os-release") or ""
    )
    btime = next(
        (
            int(line.split()[1])
            for line in (_read(procfs / "stat") or "").splitlines()
            if line.startswith("btime ")
        ),
        None,
    )
    return {
        "distro": release.get("NAME", ""),
        "version": release.get("VERSION", release.get("VERSION_ID", "")),
        "id": release.get("ID", ""),
        "kernel": (_read(procfs / "sys/kernel/osrelease") or platform.release()).strip(),
        "arch": platform.machine(),
        "hostname": hostname,
        "boot_time": datetime.fromtimestamp(btime, UTC).isoformat().replace("+00:00", "Z")
        if btime
        else None,
        "agent_version": __version__,
    }


def cpu_section(procfs: Path, sysfs: Path) -> dict[str, Any]:
    cpu = parse_cpuinfo(_read(procfs / "cpuinfo") or "")
    if not cpu["total_threads"]:
        cpu["total_threads"] = os.cpu_count() or 0
    packages = {
        t
        for t in (
            _read(p)
            for p in sysfs.glob("devices/system/cpu/cpu[0-9]*/topology/physical_package_id")
        )
        if t
    }
    if packages:
        cpu["sockets"] = len(packages)
    caches: dict[str, int | None] = {}
    for index in sorted(sysfs.glob("devices/system/cpu/cpu0/cache/index*")):
        level, kind = _read(index / "level"), _read(index / "type")
        name = (
            f"cache_l{level}_kb"
            if kind == "Unified" or level != "1"
            else f"cache_l1{(kind or 'x')[0].lower()}_kb"
        )
        caches[name] = parse_cache_size(_read(index / "size"))
    cpu.update(caches)
    if caches.get("cache_l3_kb"):
        cpu["cache_l3_mb"] = round((caches["cache_l3_kb"] or 0) / 1024, 1)
    return cpu


def numa_section(sysfs: Path) -> dict[str, Any]:
    topology = []
    for node in sorted(sysfs.glob("devices/system/node/node[0-9]*"), key=lambda p: int(p.name[4:])):
        # A node's lines are "Node 0 MemTotal: ... kB": the same format behind a prefix.
        info, _ = _meminfo(node / "meminfo")
        total = next((v for k, v in info.items() if k.endswith(" MemTotal")), None)
        topology.append(
            {
                "node": int(node.name[4:]),
                "cpus": _read(node / "cpulist") or "",
                "memory_mb": total // 2**20 if total else None,
            }
        )
    return {"nodes": len(topology), "topology": topology}


def memory_section(procfs: Path, sysfs: Path, include_dimms: bool, notes: Notes) -> dict[str, Any]:
    info, problem = _meminfo(procfs / "meminfo")
    if problem is not None:
        notes.missing("memory.total_gb", problem)
    edac = (sysfs / "devices/system/edac/mc").is_dir()
    out: dict[str, Any] = {
        "total_gb": round(info["MemTotal"] / 2**30, 2) if "MemTotal" in info else None,
        "swap_gb": round(info.get("SwapTotal", 0) / 2**30, 2),
        "ecc_edac": edac,
        "dimm_count": None,
        "dimms": [],
    }
    if include_dimms:
        text = run_tool(["dmidecode", "-t", "memory"], "memory.dimms", notes)
        if text is not None:
            dimms, ecc = parse_dmidecode_memory(text)
            out["dimms"], out["dimm_count"] = dimms, len(dimms)
            for dimm in dimms:
                dimm["ecc"] = ecc not in (None, "None", "Unknown")
    return out


def gpu_section(
    notes: Notes, module: ModuleType | None = None, driver_marker: Path | None = None
) -> list[dict[str, Any]]:
    if module is None:
        if driver_marker is not None and not driver_marker.exists():
            notes.missing("gpu", f"no NVIDIA driver loaded (no {driver_marker})")
            return []
        try:
            import pynvml
        except ImportError:
            notes.missing("gpu", "nvidia-ml-py is not installed")
            return []
        module = pynvml
    nvml: ModuleType = module
    try:
        nvml.nvmlInit()
    except nvml.NVMLError as exc:
        notes.missing("gpu", f"NVML: {exc}")
        return []
    gpus = []
    try:
        driver = _nvml_text(nvml.nvmlSystemGetDriverVersion())
        cuda_raw = _try(nvml, nvml.nvmlSystemGetCudaDriverVersion)
        cuda = (
            f"{cuda_raw // 1000}.{(cuda_raw % 1000) // 10}" if isinstance(cuda_raw, int) else None
        )
        for index in range(nvml.nvmlDeviceGetCount()):
            h = nvml.nvmlDeviceGetHandleByIndex(index)
            memory = _try(nvml, nvml.nvmlDeviceGetMemoryInfo, h)
            limit = _try(nvml, nvml.nvmlDeviceGetEnforcedPowerLimit, h)
            ecc = _try(nvml, nvml.nvmlDeviceGetEccMode, h)
            gpus.append({
                "index": index,
                "model": _nvml_text(nvml.nvmlDeviceGetName(h)),
                "uuid": _nvml_text(_try(nvml, nvml.nvmlDeviceGetUUID, h)),
                "vram_gb": round(memory.total / 2**30, 1) if memory is not None else None,
                "driver": driver, "cuda": cuda,
                "pcie_gen": _try(nvml, nvml.nvmlDeviceGetCurrPcieLinkGeneration, h),
                "pcie_width": _try(nvml, nvml.nvmlDeviceGetCurrPcieLinkWidth, h),
                "power_limit_w": limit / 1000 if limit else None,
                "ecc": bool(ecc[0]) if ecc else None,
            })  # fmt: skip
    except nvml.NVMLError as exc:
        notes.missing("gpu", f"NVML: {exc}")
    finally:
        nvml.nvmlShutdown()
    return gpus


def _try(nvml: ModuleType, call: Any, *args: Any) -> Any:
    try:
        return call(*args)
    except nvml.NVMLError:
        return None


def _nvml_text(value: Any) -> str | None:
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)


_VIRTUAL_DISK = re.compile(r"^(loop|ram|zram|dm-|md|sr|fd)\d*")


def smart_health(name: str, notes: Notes) -> bool | None:
    """SMART overall health from `smartctl --json -H`; None (with the reason) when unknown."""
    text = run_tool(
        ["smartctl", "--json", "-H", f"/dev/{name}"],
        f"disks.{name}.smart_healthy",
        notes,
        any_exit=True,
    )
    if text is None:
        return None
    try:
        document = json.loads(text)
    except ValueError:
        notes.missing(f"disks.{name}.smart_healthy", "smartctl gave output that is not JSON")
        return None
    passed = (document.get("smart_status") or {}).get("passed")
    if not isinstance(passed, bool):
        messages = [
            m.get("string", "") for m in (document.get("smartctl") or {}).get("messages", [])
        ]
        notes.missing(
            f"disks.{name}.smart_healthy", "; ".join(m for m in messages if m) or "no SMART status"
        )
        return None
    return passed


def ethtool_info(name: str, notes: Notes) -> dict[str, str]:
    """driver, version and firmware-version from `ethtool -i`."""
    text = run_tool(["ethtool", "-i", name], f"network.{name}.firmware", notes)
    out: dict[str, str] = {}
    for line in (text or "").splitlines():
        key, sep, value = line.partition(":")
        if sep:
            out[key.strip()] = value.strip()
    return out


def disks_section(sysfs: Path, notes: Notes, smart: bool = False) -> list[dict[str, Any]]:
    disks = []
    for block in sorted((sysfs / "block").glob("*")):
        name = block.name
        if _VIRTUAL_DISK.match(name):
            continue
        device = block / "device"
        sectors = _int(_read(block / "size"))
        if name.startswith("nvme"):
            interface = "NVMe"
        elif name.startswith("vd"):
            interface = "virtio"
        elif (
            (device / "scsi_disk").exists()
            or (device / "vpd_pg80").exists()
            or _read(device / "vendor") is not None
        ):
            interface = "SCSI/SATA/SAS"
        else:
            interface = None
        disks.append({
            "name": name,
            "model": _read(device / "model"),
            "serial": _read_noted(device / "serial", f"disks.{name}.serial", notes),
            "firmware": _read(device / "firmware_rev") or _read(device / "rev"),
            "capacity_gb": round(sectors * 512 / 1e9, 1) if sectors else None,
            "interface": interface,
            "rotational": (_read(block / "queue/rotational") == "1") if (block / "queue/rotational").exists() else None,
            "smart_healthy": smart_health(name, notes) if smart else None,
        })  # fmt: skip
    return disks


def network_section(sysfs: Path, notes: Notes, addresses: bool = True) -> list[dict[str, Any]]:
    by_name: dict[str, list[str]] = {}
    if addresses:
        text = run_tool(["ip", "-j", "addr", "show"], "network.addresses", notes)
        try:
            for entry in json.loads(text) if text else []:
                by_name[entry.get("ifname", "")] = [
                    f"{a['local']}/{a['prefixlen']}" for a in entry.get("addr_info", [])
                ]
        except (ValueError, KeyError, TypeError):
            notes.missing(
                "network.addresses", "ip -j addr gave output that is not the documented JSON"
            )
    out = []
    for iface in sorted((sysfs / "class/net").glob("*")):
        name = iface.name
        if name == "lo" or not (iface / "address").exists():
            continue
        driver_link = iface / "device/driver"
        speed = _int(_read(iface / "speed"))
        tool = ethtool_info(name, notes) if addresses and (iface / "device").exists() else {}
        out.append({
            "name": name,
            "mac": _read(iface / "address"),
            "speed_mbps": speed if speed and speed > 0 else None,
            "mtu": _int(_read(iface / "mtu")),
            "driver": os.path.basename(os.readlink(driver_link)) if driver_link.is_symlink() else tool.get("driver"),
            "firmware": tool.get("firmware-version") or None,
            "virtual": not (iface / "device").exists(),
            "addresses": by_name.get(name, []),
        })  # fmt: skip
    return out


def bios_section(sysfs: Path, notes: Notes) -> dict[str, Any]:
    dmi = sysfs / "class/dmi/id"
    if not dmi.is_dir():
        notes.missing("bios", "no DMI information (/sys/class/dmi/id)")
        return {}
    return {
        "vendor": _read(dmi / "bios_vendor"),
        "version": _read(dmi / "bios_version"),
        "date": _read(dmi / "bios_date"),
        "system_vendor": _read(dmi / "sys_vendor"),
        "product_name": _read(dmi / "product_name"),
        "board_vendor": _read(dmi / "board_vendor"),
        "board_name": _read(dmi / "board_name"),
        "product_serial": _read_noted(dmi / "product_serial", "bios.product_serial", notes),
        "board_serial": _read_noted(dmi / "board_serial", "bios.board_serial", notes),
        "product_uuid": _read_noted(dmi / "product_uuid", "bios.product_uuid", notes),
    }


def content_hash(document: dict[str, Any]) -> str:
    stable = {k: v for k, v in document.items() if k not in ("collected_at", "content_hash")}
    return hashlib.sha256(json.dumps(stable, sort_keys=True, default=str).encode()).hexdigest()


def collect_inventory(settings: Settings, nvml: ModuleType | None = None) -> dict[str, Any]:
    procfs, sysfs, rootfs = (
        Path(settings.agent.procfs),
        Path(settings.agent.sysfs),
        Path(settings.agent.rootfs),
    )
    inv = settings.inventory
    notes = Notes()
    document: dict[str, Any] = {
        "hostname": settings.agent.hostname,
        "collected_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "agent_version": __version__,
        "os": os_section(procfs, rootfs, settings.agent.hostname),
        "cpu": cpu_section(procfs, sysfs),
        "numa": numa_section(sysfs),
        "memory": memory_section(procfs, sysfs, inv.include_dimm_details, notes),
        "gpu": gpu_section(notes, nvml, procfs / DRIVER_MARKER)
        if "gpu" not in settings.collector.disabled
        else [],
        "disks": disks_section(sysfs, notes, smart=inv.include_smart),
        "network": network_section(sysfs, notes, addresses=rootfs == Path("/")),
    }
    if inv.include_bios:
        document["bios"] = bios_section(sysfs, notes)
    document["unavailable"] = notes.reasons
    document["content_hash"] = content_hash(document)
    return document
