"""sysops-fleet: the central watcher.  Notices hosts that go silent, keeps the CMDB of
their inventories, and alerts through the same channels as the agent, all on NATS
JetStream.  Imports `alerting` and `common`, never `agent`."""
