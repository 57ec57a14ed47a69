"""``python -m testbed.core.upf``: run the UPF process (see :mod:`testbed.core.upf.process`)."""

import sys

from .process import main

sys.exit(main())
