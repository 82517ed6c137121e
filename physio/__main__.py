import sys

from physio.cli import main

sys.exit(main())
