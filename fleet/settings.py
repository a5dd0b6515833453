"""The fleet watcher's configuration schema: `[fleet]`, the server part of `[nats]`,
and `[alerting]` exactly as the agent reads it (alerting/settings.py).

Written with the same conventions as the agent's (`common.schema.opt`), validated
by the same code (`common.config`), documented by the same generator.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field

from alerting.settings import AlertingSettings, NatsServerSettings, channel_plugins
from common.schema import LOG_LEVELS, SEVERITIES, opt

_BUCKET = (r"[A-Za-z0-9_-]{1,32}", "1-32 of A-Z a-z 0-9 _ -")


@dataclass(frozen=True)
class FleetSection:
    instance: str = opt(
        factory=socket.gethostname,
        doc="Name of this watcher instance (in the leader lease and the logs).",
        default_doc="the machine's hostname",
    )
    data_dir: str = opt(
        "/var/lib/sysops-fleet", "Outbox and silences of this instance's alert channels."
    )
    log_level: str = opt("info", "Logging level.", choices=LOG_LEVELS)
    log_format: str = opt("text", "Log line format.", choices=("text", "json"))
    silent_after_intervals: float = opt(
        3.0,
        "A host is silent when no heartbeat came for this many of its own heartbeat intervals.",
        ge=1,
        le=1000,
    )
    default_heartbeat_interval_secs: float = opt(
        60.0,
        "Interval assumed for heartbeats without heartbeat_interval_secs (older agents).",
        gt=0,
        le=86400,
    )
    silent_severity: str = opt("critical", "Severity of a host gone silent.", choices=SEVERITIES)
    stopped_severity: str = opt(
        "info",
        "Severity of a host whose agent stopped cleanly (its last heartbeat said stopping); "
        '"none": no alert.',
        choices=(*SEVERITIES, "none"),
    )
    mass_silence_fraction: float = opt(
        0.2,
        "More than this fraction of the hosts going silent within one interval is one "
        "fleet-wide alert, not one per host.",
        gt=0,
        le=1,
    )
    mass_silence_min_hosts: int = opt(
        5,
        "The fleet-wide rule applies only when at least this many hosts went silent together.",
        ge=2,
        le=1_000_000,
    )
    forget_after_days: float = opt(
        7.0,
        "A host silent (or stopped) this long is dropped from the watch (0: never).",
        ge=0,
        le=3650,
    )
    nats_lost_alert_secs: float = opt(
        60.0,
        "The watcher cannot reach NATS this long (a wrong URL, the server down): one critical "
        "alert through this instance's channels, since no host is watched meanwhile; resolved "
        "when it reaches NATS again.  Shorter losses (a failover, a server restart) are not told.",
        ge=1,
        le=86400,
    )
    lease_secs: float = opt(
        10.0,
        "Leader lease: one instance judges silence; another takes over within two leases "
        "when it dies.",
        ge=1,
        le=3600,
    )
    bucket_prefix: str = opt(
        "SYSOPS_FLEET",
        "JetStream names the watcher creates: {prefix}_HOSTS, {prefix}_LEADER, {prefix}_CMDB "
        "(key-value buckets) and {prefix}_CHANGES (a stream).",
        pattern=_BUCKET,
    )
    inventory_stream: str = opt(
        "SYSOPS_INVENTORY",
        "Stream of the agents' inventories over {prefix}.*.inventory (the agent's "
        "{jetstream_stream}_INVENTORY; created if missing).",
        pattern=_BUCKET,
    )
    heartbeat_stream: str = opt(
        "SYSOPS_HEARTBEAT",
        "Stream holding the latest heartbeat of each host over {prefix}.*.heartbeat (created "
        "if missing).",
        pattern=_BUCKET,
    )
    inventory_history: int = opt(5, "Inventories kept per host in the CMDB bucket.", ge=1, le=64)
    changes_per_host: int = opt(
        1000, "Recorded changes kept per host (the oldest go first).", ge=1, le=1_000_000
    )
    software_change_severity: str = opt(
        "info",
        "Severity of a software change (kernel, OS, BIOS, microcode, firmware).",
        choices=(*SEVERITIES, "none"),
    )
    hardware_added_severity: str = opt(
        "info", "Severity of hardware that appeared or grew.", choices=(*SEVERITIES, "none")
    )
    hardware_lost_severity: str = opt(
        "warn",
        "Severity of hardware that disappeared or shrank (a DIMM or GPU gone, less memory, a "
        "disk gone or failing SMART).",
        choices=(*SEVERITIES, "none"),
    )


@dataclass(frozen=True)
class FleetSettings:
    fleet: FleetSection = opt(factory=FleetSection)
    nats: NatsServerSettings = opt(factory=NatsServerSettings)
    alerting: AlertingSettings = opt(factory=AlertingSettings)

    # Where the settings came from; set by the loader, not a TOML key.
    source: str = field(default="<defaults>", compare=False, metadata={"internal": True})


# The watcher's channel table: the [alerting.*] sections, as the agent's.
CHANNELS = channel_plugins(FleetSettings)
