"""``python -m lesionmap``: see :mod:`lesionmap.cli`."""

import sys

from lesionmap.cli import main

sys.exit(main())
