"""sysops-agent: the daemon that watches a Linux host and reports what is wrong."""

__version__ = "0.1.0"
