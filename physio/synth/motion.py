"""Head-motion tasks of the synthetic cohort, after the DeepMag dataset (Estepp et al. 2014).

* **A** — still, with small natural motion (sway, micro-motion, small yaw jitter).
* **B** — a 120° yaw sweep (±60°) at 10°/s, back and forth.
* **C** — the same sweep at 30°/s.
* **D** — once per second the head turns to a random target on a 120° arc in 20° steps
  (minimum-jerk turns), then holds.

Every task also carries the natural motion of task A.  Yaw is rendered by :mod:`physio.synth.render`
as a horizontal translation of the face, horizontal foreshortening by ``cos(yaw)`` and a shading
gradient (no 3-D head model).  The sweeps' triangle waves and the 1 Hz reorientations have harmonics
inside the pulse band (0.7–2.5 Hz), and the natural micro-motion is broadband (0.5–4 Hz), so, as in
the paper's data, motion overlaps the pulse band in frequency.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from physio.errors import InputError
from physio.synth.participant import _as_generator
from physio.synth.signals import smooth_noise

__all__ = ["TASKS", "TASK_BACKGROUND", "HeadMotion", "head_motion"]

TASKS: dict[str, str] = {
    "A": "still, small natural motion",
    "B": "120 degree yaw sweep at 10 deg/s",
    "C": "120 degree yaw sweep at 30 deg/s",
    "D": "reorientation once per second to a random target, 20 degree steps over 120 degrees",
}
TASK_BACKGROUND: dict[str, str] = {"A": "patterned", "B": "dark", "C": "dark", "D": "patterned"}

YAW_RANGE_DEG = 60.0
"""Half the 120° arc."""


@dataclass(frozen=True)
class HeadMotion:
    """Rigid head motion sampled at the frame times.

    Attributes
    ----------
    yaw_deg : numpy.ndarray
        ``(T,)`` head yaw in degrees (positive: the face turns towards image right).
    dx, dy : numpy.ndarray
        ``(T,)`` head translation in units of the head height (image x right, y down), excluding
        breathing (added by the renderer from the respiration signal).
    scale : numpy.ndarray
        ``(T,)`` relative head size (leaning towards/away from the camera), around 1.
    """

    yaw_deg: np.ndarray
    dx: np.ndarray
    dy: np.ndarray
    scale: np.ndarray

    def __len__(self) -> int:
        return len(self.yaw_deg)


def _sweep(t: np.ndarray, speed_dps: float, rng: np.random.Generator) -> np.ndarray:
    """Triangle wave ±60° at ``speed_dps``, starting at 0° in a random direction, turns smoothed."""
    amp = YAW_RANGE_DEG
    period = 4 * amp / speed_dps
    phase = t / period + (0.0 if rng.random() < 0.5 else 0.5)
    tri = 4 * np.abs(((phase + 0.25) % 1.0) - 0.5) - 1  # 0 at t=0, slope ±4/period
    yaw = amp * tri
    # round the turning points: moving average over 0.25 s of motion (raised cosine)
    fs = 1.0 / (t[1] - t[0]) if len(t) > 1 else 1.0
    w = max(1, int(round(0.25 * fs)))
    if w > 1:
        k = np.hanning(2 * w + 1)
        k /= k.sum()
        pad = np.pad(yaw, w, mode="reflect", reflect_type="odd")
        yaw = np.convolve(pad, k, mode="same")[w:-w]
    return yaw


def _reorient(t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Task D: each second a minimum-jerk turn to a new random target in {-60, -40, ..., 60}."""
    targets = np.arange(-YAW_RANGE_DEG, YAW_RANGE_DEG + 1, 20.0)
    yaw = np.zeros_like(t)
    current = 0.0
    n_moves = int(np.ceil(t[-1])) + 1 if len(t) else 0
    for k in range(n_moves):
        start = float(k) + rng.uniform(0.0, 0.1)  # reaction-time jitter
        choices = targets[targets != current]
        new = float(rng.choice(choices))
        dur = 0.3 + 0.004 * abs(new - current)  # 0.38–0.78 s
        s = np.clip((t - start) / dur, 0.0, 1.0)
        profile = 10 * s**3 - 15 * s**4 + 6 * s**5  # minimum jerk
        seg = t >= start
        yaw[seg] = current + (new - current) * profile[seg]
        current = new
    return yaw


def head_motion(task: str, n_frames: int, fps: float, rng=None, natural: float = 1.0) -> HeadMotion:
    """Head motion of one session.

    Parameters
    ----------
    task : str
        ``"A"``, ``"B"``, ``"C"`` or ``"D"`` (see :data:`TASKS`).
    n_frames : int
        Number of frames.
    fps : float
        Frame rate (frames at ``k / fps`` seconds).
    rng : int, SeedSequence or Generator, optional
        Randomness.
    natural : float
        Scale of the natural motion (sway, micro-motion, yaw jitter); 0 makes task A perfectly still.

    Returns
    -------
    HeadMotion
        Natural motion: sway 0.8 % of the head height (< 0.4 Hz), micro-motion 0.15 % (0.5–4 Hz),
        yaw jitter 1.5° (< 0.5 Hz), scale ±0.5 % (< 0.2 Hz), each times ``natural``.
    """
    task = str(task).upper()
    if task not in TASKS:
        raise InputError(f"task must be one of {', '.join(TASKS)}, got {task!r}")
    if int(n_frames) < 2:
        raise InputError(f"n_frames must be at least 2, got {n_frames}")
    g = _as_generator(rng)
    n = int(n_frames)
    t = np.arange(n) / float(fps)
    fs = float(fps)
    hi_micro = min(4.0, 0.45 * fs)
    dx = natural * (0.008 * smooth_noise(n, fs, (0.0, 0.4), g) + 0.0015 * smooth_noise(n, fs, (0.5, hi_micro), g))
    dy = natural * (0.006 * smooth_noise(n, fs, (0.0, 0.4), g) + 0.0015 * smooth_noise(n, fs, (0.5, hi_micro), g))
    yaw = natural * 1.5 * smooth_noise(n, fs, (0.0, 0.5), g)
    scale = 1.0 + natural * 0.005 * smooth_noise(n, fs, (0.0, 0.2), g)
    if task == "B":
        yaw = yaw + _sweep(t, 10.0, g)
    elif task == "C":
        yaw = yaw + _sweep(t, 30.0, g)
    elif task == "D":
        yaw = yaw + _reorient(t, g)
    yaw = np.clip(yaw, -YAW_RANGE_DEG - 5, YAW_RANGE_DEG + 5)
    return HeadMotion(yaw_deg=yaw, dx=dx, dy=dy, scale=scale)
