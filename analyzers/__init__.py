"""Pure numeric analyzers: no I/O, no clock, no asyncio.

They are fed batches of samples and return alert events; the runtime decides
when to call them and where the events go.
"""
