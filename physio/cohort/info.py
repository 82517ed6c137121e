"""Summaries of a cohort file (``physio cohort info``)."""

from __future__ import annotations

import os
from collections import Counter

from physio.cohort.format import Cohort

__all__ = ["cohort_info"]


def cohort_info(path: str | os.PathLike) -> dict:
    """Summarise a cohort: participants, sessions, tasks, hours of video.

    Returns
    -------
    dict
        ``{"path", "format_version", "participants", "n_participants", "n_sessions", "tasks"
        (task → session count), "hours", "sessions": [{"participant", "session", "task", "frames",
        "fps", "duration_s", "width", "height", "has_pulse", "has_resp", "pulse_fs", "resp_fs",
        "videos", "masks", "storage"}]}``.  The ``sessions`` items' keys are a stable contract.
    """
    with Cohort(path) as c:
        sessions = []
        for s in c.sessions():
            sessions.append(
                {
                    "participant": s.participant,
                    "session": s.session,
                    "task": s.task,
                    "frames": s.n_frames,
                    "fps": s.fps,
                    "duration_s": round(s.duration_s, 3),
                    "width": s.frame_size[0],
                    "height": s.frame_size[1],
                    "has_pulse": "pulse" in s.group,
                    "has_resp": "resp" in s.group,
                    "pulse_fs": s.pulse_fs,
                    "resp_fs": s.resp_fs,
                    "videos": s.video_names,
                    "masks": s.mask_names,
                    "storage": "embedded" if s.has_embedded_frames else ("video" if s.video_path else "none"),
                }
            )
        tasks = Counter(s["task"] for s in sessions)
        return {
            "path": str(c.path),
            "format_version": c.format_version,
            "participants": c.participants,
            "n_participants": len(c.participants),
            "n_sessions": len(sessions),
            "tasks": dict(sorted(tasks.items())),
            "hours": round(sum(s["duration_s"] for s in sessions) / 3600.0, 4),
            "sessions": sessions,
        }
