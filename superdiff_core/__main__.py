"""``python -m superdiff_core`` is the ``superdiff`` command."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
