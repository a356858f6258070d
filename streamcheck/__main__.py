"""`python -m streamcheck URL`: see `python -m streamcheck --help`."""

import sys

from streamcheck.cli import main

sys.exit(main())
