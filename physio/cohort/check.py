"""Validation of cohort files: report every problem, with the participant/session it concerns."""

from __future__ import annotations

import os
from pathlib import Path

import h5py

from physio.cohort.format import FORMAT_NAME, Problem, _decode_attr, session_problems

__all__ = ["Problem", "cohort_check"]

def cohort_check(path: str | os.PathLike) -> list[Problem]:
    """Validate a cohort file; return every problem found (empty list ⇒ valid).

    Checks the format attributes, every participant and session: required attributes and datasets,
    frame counts against ``n_frames`` and ``frame_times``, signal/timestamp lengths, NaN/inf values,
    ``fs`` attributes against timestamps, signal coverage of the frames' time span, external video
    checksums, extra renderings' and masks' shapes, and empty sessions/participants.
    """
    p = Path(path)
    if not p.exists():
        return [Problem(str(p), "no such file")]
    try:
        h5 = h5py.File(p, "r")
    except OSError as exc:
        return [Problem(str(p), f"not a readable HDF5 file ({exc})")]
    out: list[Problem] = []
    with h5:
        fmt = _decode_attr(h5.attrs.get("format", None))
        if fmt != FORMAT_NAME:
            out.append(Problem(str(p), f"format attribute is {fmt!r}, expected {FORMAT_NAME!r}"))
        if "format_version" not in h5.attrs:
            out.append(Problem(str(p), "missing format_version attribute"))
        if "participants" not in h5:
            out.append(Problem(str(p), "missing /participants group"))
            return out
        if len(h5["participants"]) == 0:
            out.append(Problem(str(p), "cohort has no participants"))
        for pname, pgrp in h5["participants"].items():
            if "sessions" not in pgrp or len(pgrp["sessions"]) == 0:
                out.append(Problem(pname, "participant has no sessions"))
                continue
            for sname, sgrp in pgrp["sessions"].items():
                session_problems(p, sgrp, f"{pname}/{sname}", out)
    return out
