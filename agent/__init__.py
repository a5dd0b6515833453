"""sysops-agent: the daemon that watches a Linux host and reports what is wrong."""

import os

from common import __version__ as __version__

# numpy's OpenBLAS starts a worker thread per core when it is imported (up to 64
# on a big GPU host). The agent's arrays are small: one thread does the work,
# without an idle pool. Set here, before anything imports numpy.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
