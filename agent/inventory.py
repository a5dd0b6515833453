"""Hardware/software inventory: one JSON-ready dict in the seed's shape.

This version fills `os` and `cpu`; the other sections are present and empty so
consumers can rely on the keys.  Parsers are pure and tested on fixture trees.
"""

from __future__ import annotations

import os
import platform
import shlex
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agent import __version__
from agent.settings import Settings


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
    """Model, vendor and topology counts from /proc/cpuinfo (x86 and ARM layouts)."""
    blocks = [b for b in text.split("\n\n") if b.strip()]
    processors: list[dict[str, str]] = []
    for block in blocks:
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
    threads_per_core = total // (sockets * cores) if cores and sockets else None
    return {
        "model": first.get("model name") or first.get("Model") or first.get("Hardware") or "",
        "vendor": first.get("vendor_id") or first.get("CPU implementer") or "",
        "sockets": sockets,
        "cores_per_socket": cores,
        "threads_per_core": threads_per_core,
        "total_threads": total,
        "flags": sorted(set((first.get("flags") or first.get("Features") or "").split())),
    }


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def collect_inventory(settings: Settings) -> dict[str, Any]:
    procfs = Path(settings.agent.procfs)
    rootfs = Path(settings.agent.rootfs)
    release_text = _read(rootfs / "etc/os-release") or _read(rootfs / "usr/lib/os-release") or ""
    release = parse_os_release(release_text)
    kernel = (_read(procfs / "sys/kernel/osrelease") or platform.release()).strip()
    cpu = parse_cpuinfo(_read(procfs / "cpuinfo") or "")
    if not cpu["total_threads"]:
        cpu["total_threads"] = os.cpu_count() or 0
    return {
        "hostname": settings.agent.hostname,
        "collected_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "agent_version": __version__,
        "os": {
            "distro": release.get("NAME", ""),
            "version": release.get("VERSION", release.get("VERSION_ID", "")),
            "id": release.get("ID", ""),
            "kernel": kernel,
            "arch": platform.machine(),
        },
        "cpu": cpu,
        "gpu": [],
        "disks": [],
        "network": [],
    }
