"""``python -m fmlgrade.harness`` is the same as the ``fmlgrade`` command."""

import sys

from .cli import main

sys.exit(main())
