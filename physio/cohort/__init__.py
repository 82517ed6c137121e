"""HDF5 cohorts: the format (participants → sessions), validation, splits, importers and export.

See ``docs/cohort-format.md`` for the exact layout.
"""

from physio.cohort.check import Problem, cohort_check
from physio.cohort.export import cohort_export
from physio.cohort.format import (
    FORMAT_NAME,
    FORMAT_VERSION,
    Cohort,
    CohortWriter,
    Session,
    file_sha256,
)
from physio.cohort.importers.mtts import import_mtts
from physio.cohort.importers.ubfc import import_ubfc
from physio.cohort.info import cohort_info
from physio.cohort.splits import Split, split_by_time, split_holdout, split_kfold

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "Cohort",
    "CohortWriter",
    "Session",
    "Problem",
    "Split",
    "cohort_check",
    "cohort_export",
    "cohort_info",
    "file_sha256",
    "import_mtts",
    "import_ubfc",
    "split_by_time",
    "split_holdout",
    "split_kfold",
]
