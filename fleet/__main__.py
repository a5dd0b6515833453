"""`python -m fleet`: the same as the `sysops-fleet` console script."""

import sys

from fleet.cli import main

sys.exit(main())
