"""Sub-commands of the ``physio`` CLI, one module each (see :mod:`physio.cli`)."""
