"""Log sources: /dev/kmsg, journald (through journalctl) and syslog files.

Each source is an asyncio task that hands `LogLine`s to a callback and keeps
its position in `Positions` (a JSON file in data_dir), so a restart neither
repeats nor misses lines.  On the very first start a source begins at the end:
installing the agent does not replay old history.
"""
