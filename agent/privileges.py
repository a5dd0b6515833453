"""What this process may read, checked once at start instead of discovered later.

The agent is meant to run as an unprivileged user holding exactly
CAP_DAC_READ_SEARCH (other users' /proc/[pid]/fd, root-only files such as the
DMI table) and CAP_SYSLOG (/dev/kmsg).  Missing either does not stop it: the
sources it closes are named in the log and as `degraded` reasons in the
heartbeat.  Running as root works but is more than the agent needs, and a
configuration file the agent itself may rewrite defeats the point of least
privilege; both are warned about.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from agent.settings import Settings

log = logging.getLogger(__name__)

# Linux capability numbers (include/uapi/linux/capability.h); stable ABI.
CAPABILITY_NAMES = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
]
NEEDED = ("CAP_DAC_READ_SEARCH", "CAP_SYSLOG")


def capability_names(mask: int) -> list[str]:
    return [
        CAPABILITY_NAMES[bit] if bit < len(CAPABILITY_NAMES) else f"cap_{bit}"
        for bit in range(mask.bit_length())
        if mask >> bit & 1
    ]


def effective_capabilities(procfs: str = "/proc") -> list[str] | None:
    """Names of this process's effective capabilities; None if /proc/self/status says nothing."""
    try:
        for line in Path(procfs, "self/status").read_text().splitlines():
            if line.startswith("CapEff:"):
                return capability_names(int(line.split()[1], 16))
    except (OSError, ValueError, IndexError):
        pass
    return None


@dataclass
class PrivilegeReport:
    uid: int
    capabilities: list[str] | None
    unreadable: dict[str, str] = field(default_factory=dict)  # source -> why, for `degraded`
    warnings: list[str] = field(default_factory=list)

    def describe(self) -> str:
        caps = "unknown" if self.capabilities is None else ", ".join(self.capabilities) or "none"
        return f"running as uid {self.uid} with capabilities: {caps}"


def _denied(exc: OSError) -> bool:
    return exc.errno in (errno.EACCES, errno.EPERM)


def probe_kmsg(device: Path = Path("/dev/kmsg")) -> str | None:
    try:
        fd = os.open(device, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        return None  # no such device here (a container): nothing a privilege would change
    except OSError as exc:
        return f"cannot read {device}: {exc.strerror} (needs CAP_SYSLOG)" if _denied(exc) else None
    os.close(fd)
    return None


def probe_foreign_fds(procfs: str, my_uid: int) -> str | None:
    """Can we count another user's open files?  Try the first process not owned by us."""
    try:
        pids = [entry for entry in os.scandir(procfs) if entry.name.isdigit()]
    except OSError:
        return None
    for entry in pids:
        try:
            if entry.stat().st_uid == my_uid:
                continue
            os.listdir(os.path.join(entry.path, "fd"))
            return None
        except OSError as exc:
            if _denied(exc):
                return (
                    f"cannot read other users' {procfs}/[pid]/fd: open-file counts cover only "
                    "this user's processes (needs CAP_DAC_READ_SEARCH)"
                )
            continue  # the process exited meanwhile: try the next one
    return None  # every process is ours: nothing to be denied


def probe_dmi_table(sysfs: str) -> str | None:
    table = Path(sysfs, "firmware/dmi/tables/DMI")  # what dmidecode reads; root-only (0400)
    try:
        with table.open("rb") as handle:
            handle.read(1)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if _denied(exc):
            return (
                f"cannot read {table}: no DIMM details in the inventory (needs CAP_DAC_READ_SEARCH)"
            )
    return None


def config_writable_by_us(path: str) -> bool:
    """True if this (non-root) process could rewrite its own configuration."""
    try:
        st = os.stat(path)
    except OSError:
        return False
    mode = st.st_mode
    if st.st_uid == os.geteuid() and mode & stat.S_IWUSR:
        return True
    if st.st_gid in {os.getegid(), *os.getgroups()} and mode & stat.S_IWGRP:
        return True
    if mode & stat.S_IWOTH:
        return True
    # A directory we may write lets us replace the file even if the file is read-only.
    return os.access(os.path.dirname(os.path.abspath(path)), os.W_OK)


def check_privileges(settings: Settings, config_path: str | None) -> PrivilegeReport:
    uid = os.geteuid()
    report = PrivilegeReport(uid=uid, capabilities=effective_capabilities(settings.agent.procfs))
    procfs, sysfs = settings.agent.procfs, settings.agent.sysfs
    reads_kmsg = {"dmesg", "kmsg"} & set(settings.log_analyzer.sources)
    if settings.log_analyzer.enabled and reads_kmsg and (reason := probe_kmsg()):
        report.unreadable["kmsg"] = reason
    domains = set(settings.collector.disabled)
    if not {"fd", "process"} <= domains and (reason := probe_foreign_fds(procfs, uid)):
        report.unreadable["proc_fd"] = reason
    inventory = settings.inventory
    if inventory.enabled and inventory.include_dimm_details and (reason := probe_dmi_table(sysfs)):
        report.unreadable["dmi"] = reason
    if uid == 0:
        report.warnings.append(
            "running as root: the agent needs only CAP_DAC_READ_SEARCH and CAP_SYSLOG "
            "(see deploy/systemd/sysops-agent.service)"
        )
    elif config_path is not None and config_writable_by_us(config_path):
        report.warnings.append(
            f"{config_path} is writable by the agent's own user (uid {uid}): make it "
            "root-owned and read-only for the agent (e.g. root:sysops-agent 0640 in a "
            "root-owned directory)"
        )
    return report


def log_report(report: PrivilegeReport) -> None:
    log.info("%s", report.describe())
    if report.capabilities is not None and report.uid != 0:
        missing = [cap for cap in NEEDED if cap not in report.capabilities]
        if missing:
            log.info("without %s some sources are closed to the agent", " and ".join(missing))
    for reason in report.unreadable.values():
        log.warning("%s", reason)
    for warning in report.warnings:
        log.warning("%s", warning)
