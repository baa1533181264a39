"""`python -m helpers serve|bench|notebooks`: the command line in helpers.tools.cli."""

import sys

from helpers.tools.cli import main

sys.exit(main())
