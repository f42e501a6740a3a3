"""Stand-in for the `mock` backport, which upstream's test_base.py imports: the standard
library's unittest.mock is the same API."""

from unittest.mock import *  # noqa: F403
