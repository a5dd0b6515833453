"""The configuration schema: every key, its type, default, bounds and meaning.

Each section is a frozen dataclass; each field carries its documentation and
validation rules in `metadata` (built with `opt`).  `agent.config` walks these
classes to validate a TOML file, and `tools/gen_docs.py` walks them to
write docs/CONFIGURATION.md, so the schema, the validator and the docs cannot
drift apart.  Rules across keys of one section (levels in order, a key required
by another) are the section's `validate()` method, which the validator calls
on every section that has one.  Lists of plug-ins (collector domains,
analyzers) are not repeated here: their choices are read from the plug-in
tables when first needed, since those tables import this module.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import ClassVar

from alerting.channels.registry import ChannelPlugin
from alerting.settings import AlertingSettings, NatsServerSettings, channel_plugins
from common.config import is_ipv6_address
from common.schema import LOG_LEVELS, SEVERITIES, Issue, level_issues, opt, refused_by
from common.secret import Secret


# Each returns names a plug-in table declares; imported late, the tables import this module.
def collector_names() -> tuple[str, ...]:
    from agent.collectors import NAMES

    return NAMES


def analyzer_names() -> tuple[str, ...]:
    from analyzers.registry import names

    return names()


def default_analyzers() -> tuple[str, ...]:
    """Every analyzer but EMA: on a step it notifies what z-score already did (one
    condition, two notifications), so it is there for the operator who wants it."""
    return tuple(n for n in analyzer_names() if n != "ema")


DEFAULT_EXCLUDED_FS_TYPES = (
    "autofs", "binfmt_misc", "bpf", "cgroup", "cgroup2", "configfs", "debugfs", "devpts",
    "devtmpfs", "efivarfs", "fusectl", "hugetlbfs", "mqueue", "nsfs", "overlay", "proc",
    "procfs", "pstore", "ramfs", "rpc_pipefs", "securityfs", "selinuxfs", "squashfs", "sysfs",
    "tracefs", "tmpfs", "iso9660", "fuse.lxcfs", "fuse.portal", "fuse.gvfsd-fuse",
)  # fmt: skip
DEFAULT_EXCLUDED_MOUNTPOINTS = (
    r"^/(dev|proc|sys|run/credentials/.+|var/lib/docker/.+|var/lib/containers/storage/.+"
    r"|var/lib/kubelet/pods/.+|snap/.+)($|/)"
)
DEFAULT_EXCLUDED_DEVICES = r"^(loop|ram|zram)\d+$"
# Dropped entirely: loopback and interfaces whose traffic is counted elsewhere too.
DEFAULT_EXCLUDED_INTERFACES = r"^(lo|tun\d+|ifb\d+|dummy\d+)$"
# Virtual/container interface families: family -> regex of its members.  Their
# members come and go with containers and VMs (hundreds on a busy host), so each
# family is one summed aggregate, labelled interface="<family>*", not a series per
# member; the family names are the members' prefixes so that label reads as a glob.
DEFAULT_INTERFACE_FAMILIES: Mapping[str, str] = MappingProxyType(
    {
        "lxc": r"^lxc",  # Cilium endpoints
        "vnet": r"^vnet\d+$",  # libvirt guests
        "qvo": r"^qvo",  # OpenStack OVS side of a port
        "qvb": r"^qvb",  # OpenStack bridge side of a port
        "tap": r"^tap",  # OpenStack/KVM guest taps
        "qbr": r"^qbr",  # OpenStack per-port bridges
        "cali": r"^cali",  # Calico endpoints
        "flannel": r"^flannel",
        "cni": r"^cni",
        "docker": r"^docker\d+$",
        "br-": r"^br-",  # Docker user networks
        "veth": r"^veth",
        "virbr": r"^virbr",
    }
)


def _empty_mapping() -> Mapping[str, Secret]:
    return MappingProxyType({})


@dataclass(frozen=True)
class AgentSettings:
    hostname: str = opt(
        factory=socket.gethostname,
        doc="Name this host reports in alerts, subjects and inventory.",
        default_doc="the system host name",
        pattern=(
            r"[^\s/\x00-\x1f]{1,253}",
            "must be 1-253 characters without spaces, '/' or control characters",
        ),
    )
    collect_interval_secs: float = opt(
        10.0,
        "Interval for collector domains that have no interval key of their own.",
        ge=0.1,
        le=86400,
    )
    log_level: str = opt("info", "Log verbosity (the CLI's --log-level wins).", choices=LOG_LEVELS)
    data_dir: str = opt(
        "/var/lib/sysops-agent",
        "Directory for the agent's state. Relative paths are relative to the working directory.",
    )
    pid_file: str | None = opt(None, "Write the process id here at start and remove it at exit.")
    procfs: str = opt("/proc", "Mount point of procfs (point it at /host/proc in a container).")
    sysfs: str = opt("/sys", "Mount point of sysfs.")
    rootfs: str = opt("/", "Root of the host file system (for /etc/os-release and mounts).")
    shutdown_timeout_secs: float = opt(
        3.0, "How long SIGTERM waits for pending deliveries before exiting.", gt=0, le=60
    )


@dataclass(frozen=True)
class CollectorSettings:
    cpu_interval_secs: float = opt(10.0, "CPU collection interval.", ge=0.1, le=86400)
    memory_interval_secs: float = opt(10.0, "Memory collection interval.", ge=0.1, le=86400)
    disk_interval_secs: float = opt(
        60.0, "Disk usage and I/O collection interval.", ge=0.1, le=86400
    )
    network_interval_secs: float = opt(10.0, "Network collection interval.", ge=0.1, le=86400)
    process_interval_secs: float = opt(30.0, "Process collection interval.", ge=0.1, le=86400)
    fd_interval_secs: float = opt(30.0, "File descriptor collection interval.", ge=0.1, le=86400)
    gpu_interval_secs: float = opt(10.0, "GPU collection interval.", ge=0.1, le=86400)
    edac_interval_secs: float = opt(
        60.0,
        "ECC (EDAC) collection interval: memory error counters change slowly.",
        ge=0.1,
        le=86400,
    )
    disabled: tuple[str, ...] = opt(
        (),
        "Collector domains not to run (numa and pressure run every agent.collect_interval_secs).",
        choices=collector_names,
    )
    disk_exclude_fs_types: tuple[str, ...] = opt(
        DEFAULT_EXCLUDED_FS_TYPES,
        "File system types without usage metrics (pseudo file systems).",
        default_doc="pseudo file systems: proc, sysfs, tmpfs, overlay, squashfs, ... (see disk.py)",
    )
    disk_exclude_mountpoints: str = opt(
        DEFAULT_EXCLUDED_MOUNTPOINTS,
        "Regular expression of mount points without usage metrics.",
        regex=True,
        default_doc="/dev, /proc, /sys, container and snap internals",
    )
    disk_exclude_devices: str = opt(
        DEFAULT_EXCLUDED_DEVICES,
        "Regular expression of block devices without I/O metrics.",
        regex=True,
    )
    disk_statvfs_timeout_secs: float = opt(
        2.0, "How long statvfs may take before a mount is skipped as hung.", gt=0, le=30
    )
    network_exclude_interfaces: str = opt(
        DEFAULT_EXCLUDED_INTERFACES,
        "Regular expression of interfaces left out entirely (loopback, tunnels counted "
        "on their underlying link).",
        regex=True,
        default_doc="lo, tun*, ifb*, dummy*",
    )
    network_interface_families: Mapping[str, str] = opt(
        factory=lambda: DEFAULT_INTERFACE_FAMILIES,
        doc="Virtual/container interface families, name -> regular expression of its "
        "members (interfaces excluded above are dropped first).  Members get no series "
        "of their own: with `network_aggregate_families` their traffic is summed into "
        'one series per family labelled `interface="<name>*"` (rates, error ratio, member '
        "count; no link state), otherwise they are left out.",
        default_doc="lxc (Cilium), vnet (libvirt), qvo, qvb, tap, qbr (OpenStack), cali "
        "(Calico), flannel, cni, docker, br- (Docker), veth, virbr: each `^<name>` "
        "(vnet and docker followed by digits)",
    )
    network_aggregate_families: bool = opt(
        True,
        "Sum the traffic of each interface family into one series (false: leave the "
        "members out entirely).",
    )
    process_top_n: int = opt(5, "Processes reported by CPU and, separately, by RSS.", ge=0, le=100)
    process_track_patterns: tuple[str, ...] = opt(
        (),
        "Regular expressions on the process name (comm): matching processes are always "
        "reported, with their open fds (for leak detection).",
        regex=True,
    )

    def validate(self) -> list[Issue]:
        # A table's values are not checked as regexes by the generic validator.
        issues: list[Issue] = []
        for name, pattern in self.network_interface_families.items():
            try:
                re.compile(pattern)
            except (re.error, OverflowError, RecursionError) as exc:
                issues.append(
                    (f"network_interface_families.{name}", f"invalid regular expression: {exc}")
                )
        return issues


@dataclass(frozen=True)
class InventorySettings:
    enabled: bool = opt(True, "Collect the hardware/software inventory.")
    collect_interval_secs: float = opt(
        300.0, "How often the inventory is rebuilt.", ge=0.1, le=86400
    )
    include_dimm_details: bool = opt(True, "Include per-DIMM details (needs dmidecode data).")
    include_smart: bool = opt(False, "Include SMART health per disk.")
    include_bios: bool = opt(True, "Include BIOS/board identity from DMI.")


@dataclass(frozen=True)
class Levels:
    """The table form of a threshold: full control over levels, hysteresis and duration."""

    warn: float | None = opt(None, "Level that raises a warning.", ge=-1e15, le=1e15)
    critical: float | None = opt(None, "Level that raises a critical alert.", ge=-1e15, le=1e15)
    clear: float | None = opt(
        None,
        "A firing alert resolves only once the value is back past this level (hysteresis).",
        default_doc="the lowest level set",
        ge=-1e15,
        le=1e15,
    )
    for_secs: float = opt(0.0, "How long a level must hold before the alert fires.", ge=0, le=86400)

    def validate(self) -> list[Issue]:
        return level_issues(self.warn, self.critical, self.clear)


@dataclass(frozen=True)
class CustomThreshold:
    metric: str = opt(
        "",
        "Metric name the rule applies to: one name (docs/METRICS.md, or a replayed series'), "
        "not a pattern.",
        required_when_enabled=False,
    )
    labels: Mapping[str, str] = opt(
        factory=_empty_mapping,
        doc="Labels a series must have (exact match) for the rule to apply; on a metric a "
        "collector declares, a label its series do not carry (a typo) is refused.",
        default_doc="{} (every series of the metric)",
    )
    warn: float | None = opt(None, "Level that raises a warning.", ge=-1e15, le=1e15)
    critical: float | None = opt(None, "Level that raises a critical alert.", ge=-1e15, le=1e15)
    clear: float | None = opt(
        None,
        "Resolve only once back past this level.",
        default_doc="the lowest level set",
        ge=-1e15,
        le=1e15,
    )
    for_secs: float = opt(0.0, "How long a level must hold before the alert fires.", ge=0, le=86400)
    direction: str = opt(
        "above",
        "`above`: high values are bad; `below`: low values are bad (free space, say).",
        choices=("above", "below"),
    )

    def validate(self) -> list[Issue]:
        issues: list[Issue] = []
        if not self.metric:
            issues.append(("metric", "required: the metric the rule applies to"))
        levels = level_issues(self.warn, self.critical, self.clear, self.direction == "below")
        return issues + levels


Threshold = float | Levels


@dataclass(frozen=True)
class ThresholdSettings:
    """Each key is a number (the warn level, as in the seed) or a Levels table.

    From a number, critical and clear are derived (docs/CONFIGURATION.md says how).
    """

    cpu_percent: Threshold = opt(90.0, "Total CPU usage % (`cpu_usage_percent`).", ge=0, le=100)
    cpu_per_socket_percent: Threshold = opt(
        95.0, "Per-socket CPU usage % (`cpu_socket_usage_percent`).", ge=0, le=100
    )
    memory_percent: Threshold = opt(85.0, "Memory used % (`memory_used_percent`).", ge=0, le=100)
    disk_percent: Threshold = opt(
        90.0, "Disk used % per mount (`disk_used_percent`).", ge=0, le=100
    )
    disk_inode_percent: Threshold = opt(
        85.0, "Inodes used % per mount (`disk_inodes_used_percent`).", ge=0, le=100
    )
    fd_percent: Threshold = opt(
        80.0, "File handles used % of fs.file-max (`fd_used_percent`).", ge=0, le=100
    )
    load_avg_multiplier: Threshold = opt(
        2.0,
        "Load1 per online CPU (`cpu_load1_per_core`): fires when load1 > cores x this.",
        gt=0,
        le=1000,
    )
    network_error_rate: Threshold = opt(
        0.01,
        "Errors per packet over an interval, per interface (`network_error_ratio`).",
        ge=0,
        le=1,
    )
    gpu_utilization_percent: Threshold = opt(
        95.0, "GPU utilisation % (`gpu_utilization_percent`).", ge=0, le=100
    )
    gpu_memory_percent: Threshold = opt(
        90.0, "GPU memory used % (`gpu_memory_used_percent`).", ge=0, le=100
    )
    gpu_temperature_celsius: Threshold = opt(
        85.0, "GPU temperature (`gpu_temperature_celsius`).", gt=0, le=150
    )
    gpu_power_percent: Threshold = opt(
        95.0, "GPU power % of its limit (`gpu_power_percent`).", ge=0, le=100
    )
    rules: tuple[CustomThreshold, ...] = opt(
        (), "Thresholds on any metric: [[thresholds.rules]] tables."
    )


@dataclass(frozen=True)
class CpuSettings:
    per_socket_monitoring: bool = opt(
        True, "Report and alert on usage per CPU socket (on hosts with two sockets or more)."
    )
    numa_monitoring: bool = opt(True, "Report per-NUMA-node memory.")
    ecc_monitoring: bool = opt(True, "Report EDAC ECC error counters.")


@dataclass(frozen=True)
class FamilyRule:
    metric: str = opt("", "Metric name or shell-style pattern (`app_*`) the rule applies to.")
    labels: Mapping[str, str] = opt(
        factory=_empty_mapping,
        doc="Labels a series must have (exact match) for the rule to apply; on a metric a "
        "collector declares, a label its series do not carry (a typo) is refused.",
        default_doc="{} (every series of the metric)",
    )
    floor: float = opt(
        0.0,
        "Smallest deviation from the baseline that may be an anomaly, in the metric's unit "
        "(or a fraction of its own scale with `relative`).",
        ge=0,
        le=1e18,
    )
    direction: str = opt(
        "up",
        "`up`: only a rise alerts (usage, errors, latency); `down`: only a fall; `both`.",
        choices=("up", "down", "both"),
    )
    unit: str = opt("", "Unit the floor is in, for messages and docs.")
    relative: bool = opt(
        False,
        "The floor is a fraction of the series' own scale: the larger of its baseline level "
        "and the range it has covered since the agent started watching it.",
    )

    def validate(self) -> list[Issue]:
        return [] if self.metric else [("metric", "required: the metric the rule applies to")]


@dataclass(frozen=True)
class AnalyzerSettings:
    enabled: tuple[str, ...] = opt(
        factory=default_analyzers,
        doc="Analyzers that run. `ema` is off by default: on a step it notifies what "
        "`zscore` already did; enable it for slowly wandering series that z-score's "
        "one-hour window blurs.",
        choices=analyzer_names,
    )
    anomaly_metrics: tuple[str, ...] = opt(
        ("cpu_usage_percent", "cpu_iowait_percent", "cpu_load1", "memory_used_percent",
         "network_receive_bytes_per_second", "network_transmit_bytes_per_second",
         "disk_read_bytes_per_second", "disk_write_bytes_per_second"),
        "Metrics (shell-style patterns) the z-score, season and EMA analyzers watch.",
    )  # fmt: skip
    anomaly_min_samples: int = opt(
        30, "Samples a series needs before z-score, season or EMA give a verdict.", ge=2, le=100_000
    )
    anomaly_record_hours: float = opt(
        24.0,
        "Seasonality: a z-score, season or EMA alert is not news when the series reached the "
        "same level at the same time of day (within anomaly_season_tolerance_secs) on one of "
        "the earlier days the history tier holds, up to a week, compared at the tier's "
        "resolution (the mean of the anomalous stretch against the bucket means): a nightly "
        "backup pages once, on its first night. The tier keeps at least these hours and "
        "the tolerance (the oldest day is looked at that much before the same time); it "
        "keeps a number of buckets, so it reaches further on sparser series (5.2 days at "
        "5-minute samples), and a job that runs on weekdays pages once, not every Monday, "
        "where it holds a week (168 here: 34 KB more per watched series at 1-minute "
        "buckets). Below 24 (or 0) turns this off.",
        ge=0,
        le=24 * 31,
    )
    anomaly_season_tolerance_secs: float = opt(
        3600.0,
        "How far around the same time of day the seasonality check looks (jobs drift).",
        ge=0,
        le=12 * 3600,
    )
    anomaly_recurring_runs: int = opt(
        3,
        "A z-score or EMA alert is not news when it is the next run of a job that comes "
        "back at a steady period shorter than a day (a job every two hours): the history "
        "tier holds this many earlier runs alike in length, each starting a period before "
        "the next (within a tenth of it, at most 10 minutes), and this one starts where "
        "their spacing puts the next, lasts no longer and goes no further than they did. "
        "Such a job pages on its first runs, then only when a run goes further or lasts "
        "longer. 0 turns this off; 1 is refused (one run shows no period).",
        ge=0,
        le=10,
        check=lambda runs: "0 (off) or at least 2: one run shows no period" if runs == 1 else None,
    )
    anomaly_learning_secs: float = opt(
        3600.0,
        "A series is *learning* (no z-score or EMA alert) until it has been seen this long; "
        "`--once` and the heartbeat show how many are; the samples of the hour before a "
        'restart, taken back by the next start (docs/DEPLOYMENT.md, "Upgrade"), count. Season '
        "needs two days at least, and three earlier days in the history tier.",
        ge=0,
        le=31 * 86400,
    )
    anomaly_persist_secs: float = opt(
        300.0,
        "A z-score, season or EMA anomaly must hold this long (every sample beyond the band, and at "
        "least three samples) before it fires: pure noise never does, a 3-minute spike is "
        "the thresholds' business. At sampling intervals of half this or more, one or two "
        "samples cover it (each is the mean of its interval): such a stretch fires if its "
        "mean is beyond 6σ, 3 noise floors and every earlier raw sample (docs/DESIGN.md).",
        ge=0,
        le=86400,
    )
    families: tuple[FamilyRule, ...] = opt(
        (),
        "Noise floor and direction per metric family or series: [[analyzer.families]] "
        "tables, tried before the built-in families (docs/METRICS.md lists them).",
    )
    anomaly_cooldown_secs: float = opt(
        3600.0,
        "After a z-score, season or EMA alert resolves, that series raises no new one for this "
        "long.",
        ge=0,
        le=31 * 86400,
    )
    zscore_window: int = opt(
        360,
        "Samples in the z-score baseline window (the current one excluded), at most 12 hours "
        "of them at the series' sampling interval (144 at 5 minutes).",
        ge=10,
        le=100_000,
    )
    zscore_threshold: float = opt(
        3.0,
        "Standard deviations of z-score's band (the family's noise floor is the least); a "
        "stretch beyond it for anomaly_persist_secs is a warning, critical only if EMA's "
        "shift detector confirms it (ema_threshold).",
        gt=0,
        le=1000,
    )
    ema_alpha: float = opt(0.1, "EMA smoothing factor, in (0, 1].", gt=0, le=1)
    ema_threshold: float = opt(
        6.0,
        "EW standard deviations of EMA's band (the family's noise floor is the least); also "
        "z-score's second signal: a lasting z-score anomaly this many EW deviations and three "
        "noise floors from the EMA baseline is critical.",
        gt=0,
        le=1000,
    )
    ema_shift_threshold: float = opt(
        2.0,
        "EW standard deviations at which a sample's pull on the EMA baseline is clipped.",
        gt=0,
        le=1000,
    )
    trend_window_hours: float = opt(
        6.0, "Window of the time-to-exhaustion regression (history tier).", gt=0, le=24 * 31
    )
    trend_min_span_hours: float = opt(
        1.0, "History a trend needs before it may fire.", gt=0, le=24 * 31
    )
    trend_min_r_squared: float = opt(0.8, "R^2 a trend must reach to fire.", gt=0, le=1)
    leak_min_observation_hours: float = opt(
        1.0, "Minimum history before a leak verdict.", gt=0, le=24 * 31
    )
    leak_r_squared_threshold: float = opt(
        0.8, "R^2 a growth must reach to be a leak candidate.", gt=0, le=1
    )
    leak_min_growth_bytes_per_hour: float = opt(
        1048576.0,
        "Slower RSS growth is never a leak.",
        ge=0,
        default_doc="1048576 (1 MiB/h)",
        le=1e15,
    )
    leak_min_growth_fds_per_hour: float = opt(
        2.0, "Slower growth of open files is never a leak.", ge=0, le=1e9
    )


@dataclass(frozen=True)
class StorageSettings:
    ring_buffer_capacity: int = opt(
        360,
        "Raw samples kept per series (360 x 10 s = 1 h); at least analyzer.zscore_window + 1 are "
        "kept. Older data lives in the history tier.",
        ge=16,
        le=1_000_000,
    )
    history_resolution_secs: float = opt(
        60.0,
        "Bucket of the history tier: one mean per series per bucket. The tier holds the "
        "longest of history_hours, the trend and leak windows and anomaly_record_hours in "
        "buckets, with anomaly_season_tolerance_secs more where seasonality looks a day back "
        "(1,500 at the defaults, 6,000 bytes per series that keeps history): shorter "
        "buckets cost proportionally more memory.",
        le=3600,
        ge=1,
    )
    history_hours: float = opt(
        24.0,
        "Hours the history tier keeps (at least the trend window). The season analyzer judges "
        "a daily cycle from 72 (three earlier days) and a weekly one from 504 (three weeks); "
        "each hour costs 240 bytes per series that keeps history at one-minute buckets.",
        gt=0,
        le=24 * 31,
    )
    history_metrics: tuple[str, ...] = opt(
        (),
        "Metrics (shell-style patterns) whose series keep the history tier besides those an "
        "enabled analyzer reads (trend: disk, memory, swap, fd and GPU fill; leak: process RSS "
        "and open files, system file handles; z-score, season and EMA: analyzer.anomaly_metrics). "
        "Other series keep only the raw tier: 1,472 bytes each at the defaults instead of "
        "7,476. SQLite (sqlite_enabled) gets every series either way.",
    )
    sqlite_enabled: bool = opt(
        False,
        "Keep 1-minute mean/min/max of every series in SQLite (needs the `sqlite` extra; "
        "about 1.7 MB per series per 30 days). Read it with `sysops-agent history`. A row is "
        "one history_resolution_secs bucket (a minute at the default).",
    )
    sqlite_path: str | None = opt(None, "SQLite file.", default_doc="<data_dir>/history.db")
    sqlite_retention_days: int = opt(30, "Days of history kept in SQLite.", ge=1, le=3650)
    max_series: int = opt(
        20_000,
        "Series the store holds at most (1.5 to 7.3 kB each at the defaults, by whether "
        "they keep history: at most 145 MB when full, inside the unit's MemoryMax=256M). Past "
        "it, new series "
        "are dropped and counted (agent_series_dropped_total, a degraded reason); above 80 % "
        "series not written for two intervals are retired instead of after 10 minutes.",
        ge=100,
        le=1_000_000,
    )
    max_series_per_collector: int = opt(
        10_000,
        "Series one collector may hold (interface, mount and process names come from the "
        "host), with the same drop and early retirement as max_series.",
        ge=100,
        le=1_000_000,
    )


@dataclass(frozen=True)
class CustomPattern:
    pattern: str = opt(
        "",
        "Regular expression matched against each log line.  One that can take exponential "
        "time on a line a local user writes (a repeat or an alternative inside a repeated "
        "group, `(\\w+\\s?)+`) is refused: write the group atomic, `(?>...)`, or its repeat "
        "possessive, `++`.  Two unbounded pieces that can take the same characters "
        "(`\\w+\\s?\\w+:`) cost seconds on a long line made for them: a search is stopped "
        "at 50 ms of CPU and all of them share 10 % of a core, so such a line is left unread, "
        "counted in `agent_log_lines_unread_total` and said in the heartbeat: keep to one.",
        regex=True,
    )
    severity: str = opt("warn", "Severity of the alert it raises.", choices=SEVERITIES)
    name: str = opt("", "Name of the pattern (used in the alert fingerprint).")

    def validate(self) -> list[Issue]:
        if not self.pattern:  # an empty expression would match every line
            return [("pattern", "required: the regular expression to match")]
        return []


@dataclass(frozen=True)
class LogAnalyzerSettings:
    enabled: bool = opt(True, "Watch kernel and system logs.")
    sources: tuple[str, ...] = opt(
        ("dmesg", "syslog", "pstore"),
        "Log sources: dmesg (/dev/kmsg), journald, syslog (a file), pstore (the crash records of the "
        "previous boot, read once at start; with journald also the end of the previous boot's journal).",
        choices=("dmesg", "kmsg", "journald", "syslog", "pstore"),
    )
    syslog_path: str = opt(
        "",
        "Syslog file tailed by the syslog source.",
        default_doc="auto: /var/log/syslog, else /var/log/messages (under agent.rootfs)",
    )
    files: tuple[str, ...] = opt(
        (), "More log files tailed like the syslog file (custom patterns only, never kernel ones)."
    )
    journalctl_path: str = opt("journalctl", "The journalctl program the journald source runs.")
    gpu_xid_monitoring: bool = opt(True, "Alert on NVIDIA Xid errors in the kernel log.")
    segfaults: bool = opt(False, "Report user-space segfaults the kernel logs (info).")
    aggregate_secs: float = opt(
        120.0,
        "Repeats of one log alert within this window are counted and sent as one follow-up.",
        gt=0,
        le=86400,
    )
    flood_limit: int = opt(
        20,
        "Flood control: at most this many alerts of one log pattern go out within aggregate_secs; "
        "the rest are counted in one summary (a higher severity always goes out).",
        ge=1,
        le=10_000,
    )
    max_line_bytes: int = opt(8192, "Longer log lines are cut.", ge=256, le=1_048_576)
    poll_interval_secs: float = opt(
        1.0, "How often log files are checked for new lines.", gt=0, le=60
    )
    custom_patterns: tuple[CustomPattern, ...] = opt(
        (), "Extra patterns: {pattern, severity, name}; they apply to every line, kernel or not."
    )
    unclean_reboot_alert: bool = opt(
        True,
        "At start, warn once if the agent's last run ended without a clean stop and the host rebooted since.",
    )


@dataclass(frozen=True)
class NatsSettings(NatsServerSettings):
    # NATS alerts ride on the telemetry section: on when [nats] is and include_alerts is.
    CHANNEL: ClassVar[ChannelPlugin] = ChannelPlugin(
        "nats",
        "alerting.channels.nats:build",
        enabled_keys=("enabled", "include_alerts"),
        requires=("nats",),
    )
    enabled: bool = opt(False, "Publish telemetry to NATS.")
    metrics_interval_secs: float = opt(
        30.0, "How often metric batches are published.", ge=0.1, le=86400
    )
    inventory_interval_secs: float = opt(
        300.0, "How often the inventory is published.", ge=0.1, le=86400
    )
    heartbeat_interval_secs: float = opt(
        60.0, "How often a heartbeat is published.", ge=0.1, le=86400
    )
    include_alerts: bool = opt(True, "Publish alerts to {prefix}.{host}.alerts.")
    batch_size: int = opt(100, "Metric samples per published message.", ge=1, le=100_000)
    compression: bool = opt(
        False, "Compress every payload, alerts included (zstd, marked in a header)."
    )
    jetstream: bool = opt(
        False,
        "Publish alerts and inventory through JetStream (acknowledged, deduplicated by Nats-Msg-Id).",
    )
    jetstream_stream: str = opt(
        "SYSOPS",
        "Stream created (if missing) over {prefix}.*.alerts when jetstream is on; the "
        "inventory goes to {jetstream_stream}_INVENTORY (the latest per host).",
        pattern=(r"[A-Za-z0-9_-]{1,32}", "1-32 of A-Z a-z 0-9 _ -"),
    )
    jetstream_max_age_secs: float = opt(
        7 * 86400.0,  # alerting.channels.nats.STREAM_MAX_AGE_SECS (not imported: ~0.1 MB)
        "Alerts older than this leave the stream the agent creates (0: no age limit).",
        ge=0,
        le=10 * 365 * 86400,
    )
    jetstream_max_bytes: int = opt(
        256 * 1024 * 1024,  # alerting.channels.nats.STREAM_MAX_BYTES
        "Size limit of each stream the agent creates; the oldest messages go first (-1: none).",
        ge=-1,
        le=2**50,
    )


def parse_bind(bind: str) -> tuple[str, int]:
    """(host, port) of a `host:port` to listen on (`[::1]:19273`; `:19273` is loopback);
    ValueError saying what to write."""
    host, colon, port = bind.rpartition(":")
    if not colon or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{bind!r}: write host:port, a port from 1 to 65535 (127.0.0.1:19273)")
    bracketed = host.startswith("[") and host.endswith("]")
    if ":" in host and not bracketed and not is_ipv6_address(host):
        raise ValueError(f"{bind!r}: an IPv6 address goes in brackets ([::1]:19273)")
    return host.strip("[]") or "127.0.0.1", int(port)


@dataclass(frozen=True)
class PrometheusSettings:
    enabled: bool = opt(
        False, "Serve a Prometheus endpoint (opens a listening port; needs the `prometheus` extra)."
    )
    bind: str = opt(
        "127.0.0.1:19273",
        "Address and port to listen on. The default port is outside the ranges of Prometheus' "
        "default port allocations (9100-9999 taken, the overflow above 10000) and no well-known "
        "exporter's: 9100 is node_exporter's.",
        check=refused_by(parse_bind),
    )
    path: str = opt("/metrics", "HTTP path of the endpoint.")


@dataclass(frozen=True)
class Settings:
    agent: AgentSettings = opt(factory=AgentSettings)
    collector: CollectorSettings = opt(factory=CollectorSettings)
    inventory: InventorySettings = opt(factory=InventorySettings)
    thresholds: ThresholdSettings = opt(factory=ThresholdSettings)
    cpu: CpuSettings = opt(factory=CpuSettings)
    analyzer: AnalyzerSettings = opt(factory=AnalyzerSettings)
    storage: StorageSettings = opt(factory=StorageSettings)
    log_analyzer: LogAnalyzerSettings = opt(factory=LogAnalyzerSettings)
    nats: NatsSettings = opt(factory=NatsSettings)
    prometheus: PrometheusSettings = opt(factory=PrometheusSettings)
    alerting: AlertingSettings = opt(factory=AlertingSettings)

    # Where the settings came from; set by the loader, not a TOML key.
    source: str = field(default="<defaults>", compare=False, metadata={"internal": True})


# The agent's channel table: every section of its settings that declares a CHANNEL.
CHANNELS: tuple[ChannelPlugin, ...] = channel_plugins(Settings)


def history_tier_hours(settings: Settings) -> float:
    """Hours the history tier keeps: the longest of storage.history_hours and what the
    analyzers read back (trend and leak windows, anomaly_record_hours).  One place, so the
    store and the configuration check size the same tier.

    Seasonality looks at the same time of day on earlier days, give or take
    anomaly_season_tolerance_secs: the record's oldest day is read up to that much before
    it, so the tier keeps that too.  At exactly 24 h the half of yesterday's window before
    the same time had rolled out, and a nightly job that started a little later or ran a
    little longer than the night before paged again once the buckets of its start were gone.
    """
    st, an = settings.storage, settings.analyzer
    record = an.anomaly_record_hours
    if record >= 24:  # below 24 seasonality is off (analyzers.base.build_gate)
        record += an.anomaly_season_tolerance_secs / 3600
    return max(
        st.history_hours, an.trend_window_hours, an.leak_min_observation_hours, record,
    )  # fmt: skip
