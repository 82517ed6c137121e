"""Importers that build physio cohorts from other datasets' layouts, one module per dataset.

:data:`IMPORTERS` maps a dataset name to its module; ``physio cohort import-NAME`` is made from it.
Each module defines ``NAME``, ``HELP``, ``configure(parser)`` (its command-line arguments),
``run(args) -> list of session keys`` and the library function (``import_ubfc``, ``import_mtts``).
Adding a dataset is one module here plus one line in :data:`IMPORTERS`.
"""

from __future__ import annotations

import importlib

__all__ = ["IMPORTERS", "importer"]

IMPORTERS: dict[str, str] = {
    "ubfc": "physio.cohort.importers.ubfc",
    "mtts": "physio.cohort.importers.mtts",
}
"""Dataset name → importer module."""


def importer(name: str):
    """The importer module of dataset ``name``."""
    return importlib.import_module(IMPORTERS[name])
