import sys

from backside_caldav.cli import main

sys.exit(main())
