"""`python -m tests.standin.agent ...` runs the stand-in `nomad` command."""

import sys

from .main import main

sys.exit(main())
