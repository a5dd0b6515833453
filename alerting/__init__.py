"""The Alert type and everything that delivers it.  Never imports `agent`."""
