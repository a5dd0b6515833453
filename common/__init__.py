"""What sysops-agent and sysops-fleet share: configuration conventions, secrets, systemd notify,
logging, and the NATS subjects and buckets they meet on.  Imports nothing of either."""

__version__ = "0.3.0"
