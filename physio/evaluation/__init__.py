"""Evaluation harnesses: they run the library over cohorts or videos and collect the metrics.

* :mod:`physio.evaluation.cohort` — rate estimators on a cohort with ground truth (`physio evaluate`);
* :mod:`physio.evaluation.compare` — every magnifier on the same clips and device (`physio compare`),
  scored by :mod:`physio.evaluation.scoring` and reported by :mod:`physio.evaluation.report`;
* :mod:`physio.evaluation.circles` — the thesis' circle benchmark of the learned magnifiers
  (`physio bench-magnifiers`);
* :mod:`physio.evaluation.memory` — peak memory of a block of code.
"""
