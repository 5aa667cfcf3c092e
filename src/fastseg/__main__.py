"""`python -m fastseg` runs the `fastseg` command."""

import sys

from .cli import main

sys.exit(main())
