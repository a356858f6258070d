import sys

from streamlogs.cli import main

sys.exit(main())
