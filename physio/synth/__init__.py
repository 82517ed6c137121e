"""Synthetic physiological video with ground truth (DeepMag-style pulse colour and breathing motion).

``synth_session`` renders a short session in memory; ``synth_cohort`` writes a cohort file with the
ground-truth magnified renderings ``pulse_x{α}`` / ``resp_x{α}`` and region masks.  The model, its
parameters and its gaps are described in ``docs/synthetic-data.md``.
"""

from physio.synth.cohort import (
    SynthSession,
    participant_name,
    session_plan,
    synth_cohort,
    synth_session,
    variant_names,
)
from physio.synth.motion import TASK_BACKGROUND, TASKS, HeadMotion, head_motion
from physio.synth.participant import (
    FITZPATRICK_RGB,
    PULSE_RGB,
    Participant,
    participant_sample,
)
from physio.synth.render import Camera, Timeline
from physio.synth.scene import scene_build
from physio.synth.signals import (
    illumination_simulate,
    pulse_simulate,
    resp_simulate,
    smooth_noise,
)

__all__ = [
    "Camera",
    "FITZPATRICK_RGB",
    "HeadMotion",
    "PULSE_RGB",
    "Participant",
    "SynthSession",
    "TASKS",
    "TASK_BACKGROUND",
    "Timeline",
    "head_motion",
    "illumination_simulate",
    "participant_name",
    "participant_sample",
    "pulse_simulate",
    "resp_simulate",
    "scene_build",
    "session_plan",
    "smooth_noise",
    "synth_cohort",
    "synth_session",
    "variant_names",
]
