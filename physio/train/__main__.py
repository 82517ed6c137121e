"""``python -m physio.train`` / ``torchrun -m physio.train``: the ``physio train`` command."""

import sys

from physio.cli import main

sys.exit(main(["train", *sys.argv[1:]]))
