"""Synthetic sessions and cohorts: :func:`synth_session` (in memory) and :func:`synth_cohort` (HDF5).

Randomness is organised so that every piece depends only on ``(seed, participant index, task)``:
participant ``i`` is drawn from ``SeedSequence(seed, spawn_key=(i, 0))`` and its session of task
``X`` from ``SeedSequence(seed, spawn_key=(i, 1 + "ABCD".index(X)))``.  A cohort is therefore the
same whatever the number of workers, and participant ``p003`` is the same person in a 5- and a
20-participant cohort.
"""

from __future__ import annotations

import math
import multiprocessing as mp
import os
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import h5py
import numpy as np
from scipy.signal import find_peaks
from tqdm import tqdm

from physio import __version__
from physio.atomic import scratch_dir
from physio.cohort.format import CohortWriter
from physio.errors import InputError
from physio.io import VideoReader, VideoWriter
from physio.synth.motion import TASK_BACKGROUND, TASKS, head_motion
from physio.synth.participant import (
    BR_RANGE_BPM,
    HR_RANGE_BPM,
    Participant,
    participant_sample,
)
from physio.synth.render import Camera, NoiseBank, Timeline, render_session
from physio.synth.scene import scene_build
from physio.synth.signals import camera_drift, illumination_simulate, pulse_simulate, resp_simulate

__all__ = [
    "SIGNAL_OVERSAMPLING",
    "SynthSession",
    "SessionPlan",
    "session_plan",
    "synth_session",
    "synth_cohort",
    "participant_name",
    "variant_names",
]

SIGNAL_OVERSAMPLING = 4
"""Signals are stored at ``4 × fps``: sample ``4k`` is at the time of frame ``k``."""

_TASK_ORDER = "ABCD"


def participant_name(index: int) -> str:
    """``p001`` for index 0."""
    return f"p{index + 1:03d}"


def _gain_name(a: float) -> str:
    return f"{float(a):g}"


def variant_names(magnified: Sequence[float]) -> list[tuple[str, float, float]]:
    """``[("frames", 1, 1), ("pulse_x10", 10, 1), ("resp_x10", 1, 10), …]`` for ``magnified=(10, …)``."""
    factors: list[float] = []
    for a in magnified:
        a = float(a)
        if not (math.isfinite(a) and a > 0) or a == 1.0:
            raise InputError(f"magnification factors must be positive and not 1, got {a}")
        if a not in factors:
            factors.append(a)
    out = [("frames", 1.0, 1.0)]
    out += [(f"pulse_x{_gain_name(a)}", a, 1.0) for a in factors]
    out += [(f"resp_x{_gain_name(a)}", 1.0, a) for a in factors]
    return out


def _participant_seq(seed: int, index: int) -> np.random.SeedSequence:
    return np.random.SeedSequence(int(seed), spawn_key=(int(index), 0))


def _session_seq(seed: int, index: int, task: str) -> np.random.SeedSequence:
    return np.random.SeedSequence(int(seed), spawn_key=(int(index), 1 + _TASK_ORDER.index(task)))


def _check_task(task: str) -> str:
    t = str(task).strip().upper()
    if t not in TASKS:
        raise InputError(f"task must be one of {', '.join(TASKS)}, got {task!r}")
    return t


def _check_size(size) -> tuple[int, int]:
    if isinstance(size, str):
        try:
            w, h = (int(x) for x in size.lower().split("x"))
        except ValueError:
            raise InputError(f"size must look like 160x120, got {size!r}") from None
    else:
        w, h = (int(x) for x in size)
    if w < 32 or h < 24:
        raise InputError(f"size must be at least 32x24, got {w}x{h}")
    return w, h


@dataclass(frozen=True)
class SessionPlan:
    """Everything needed to render one session (cheap to build; rendering is separate)."""

    participant: Participant
    participant_index: int
    task: str
    size: tuple[int, int]
    fps: float
    n_frames: int
    seed: int
    supersample: int
    magnified: tuple[float, ...]
    hr_bpm: float
    br_bpm: float
    hr_bpm_nominal: float
    br_bpm_nominal: float
    hr_bpm_spectral: float
    br_bpm_spectral: float
    pulse: np.ndarray  # (N,) at fs = 4·fps
    resp: np.ndarray  # (N,) unit peak-to-peak
    timeline: Timeline
    camera: Camera
    noise: bool
    seq: np.random.SeedSequence = field(repr=False)
    beat_times: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)  # s, systolic maxima
    camera_info: dict = field(default_factory=dict)  # the realistic camera's draws (empty: the basic camera)

    @property
    def signal_fs(self) -> float:
        return SIGNAL_OVERSAMPLING * self.fps

    @property
    def variants(self) -> list[tuple[str, float, float]]:
        return variant_names(self.magnified)

    def attrs(self) -> dict:
        """Session attributes stored in the cohort."""
        tl = self.timeline
        return {
            "hr_bpm": self.hr_bpm,
            "br_bpm": self.br_bpm,
            "hr_bpm_nominal": self.hr_bpm_nominal,
            "br_bpm_nominal": self.br_bpm_nominal,
            "hr_bpm_spectral": self.hr_bpm_spectral,
            "br_bpm_spectral": self.br_bpm_spectral,
            "background": TASK_BACKGROUND[self.task],
            "task_description": TASKS[self.task],
            "synthetic": True,
            "generator": f"physio.synth {__version__}",
            "seed": int(self.seed),
            "participant_index": int(self.participant_index),
            "supersample": int(self.supersample),
            "magnified": [float(a) for a in self.magnified],
            "pulse_amplitude": self.participant.pulse_amplitude,
            "pulse_rgb": list(self.participant.pulse_rgb),
            "resp_amplitude_px": float(tl.resp_px),
            "head_resp_ratio": float(tl.head_resp_ratio),
            "light_yaw_deg": float(tl.light_yaw_deg),
            "exposure": self.camera.exposure,
            "noise_shot": self.camera.noise_shot if self.noise else 0.0,
            "noise_read": self.camera.noise_read if self.noise else 0.0,
            "crf": -1 if self.camera.crf is None else int(self.camera.crf),
            "yaw_min_deg": float(tl.motion.yaw_deg.min()),
            "yaw_max_deg": float(tl.motion.yaw_deg.max()),
            **self.camera_info,
        }


def _dominant_rate(x: np.ndarray, fs: float, band_per_min: tuple[float, float]) -> float:
    """Frequency (per minute) of the largest spectral peak within ``band_per_min`` (Hann, 16× zero-padding)."""
    y = (x - x.mean()) * np.hanning(len(x))
    n = 16 * len(y)
    f = np.fft.rfftfreq(n, 1.0 / fs) * 60.0
    mag = np.abs(np.fft.rfft(y, n))
    sel = (f >= band_per_min[0]) & (f <= band_per_min[1])
    return float(f[sel][np.argmax(mag[sel])])


def _rate_from_onsets(x: np.ndarray, fs: float, nominal_per_min: float, hysteresis: float = 0.1) -> float:
    """Mean breathing rate from inhalation onsets (upward crossings with hysteresis of a zero-mean,
    unit peak-to-peak signal); the nominal rate if fewer than 3 onsets."""
    onsets = []
    armed = False
    for i, v in enumerate(x):
        if v < -hysteresis:
            armed = True
        elif armed and v > hysteresis:
            onsets.append(i)
            armed = False
    if len(onsets) < 3:
        return float(nominal_per_min)
    return float(60.0 * (len(onsets) - 1) / ((onsets[-1] - onsets[0]) / fs))


def _rate_from_peaks(x: np.ndarray, fs: float, nominal_per_min: float) -> float:
    """Mean rate (per minute) from the peaks of a clean signal; the nominal rate if too few peaks."""
    period = 60.0 / nominal_per_min
    peaks, _ = find_peaks(x, distance=max(1, int(0.6 * period * fs)), prominence=0.3 * (x.max() - x.min()))
    if len(peaks) < 3:
        return float(nominal_per_min)
    return float(60.0 * (len(peaks) - 1) / ((peaks[-1] - peaks[0]) / fs))


CAMERAS = ("basic", "realistic")
"""Camera models of ``physio synth --camera``: ``basic`` (fixed Gaussian sensor noise, the cohorts of the
first wave and the shipped networks' training data) and ``realistic`` (:func:`_realistic_camera`)."""

REALISTIC_CAMERA = {"noise_read": (0.3, 1.0), "noise_shot": (0.002, 0.01), "crf": (14, 23), "ae": (0.005, 0.03),
                    "wb": (0.002, 0.01), "exposure_time": (0.25, 0.9)}
"""Ranges the realistic camera draws from, uniformly per session: read noise (DN) and shot-noise gain
(DN per DN), chosen so that the skin's temporal noise after compression spans the real clips'
(docs/synthetic-data.md, "A realistic camera"); the H.264 CRF (at most 23: at 320 × 240 x264's quantiser
erases a 0.1–0.4 % pulse above it — measured: a session read 66 bpm at CRF 14–20, 81–83 bpm at 26,
with either camera); the auto-exposure and white-balance
drift amplitudes (relative, :func:`physio.synth.signals.camera_drift`); the exposure time as a fraction
of the frame interval (motion blur)."""


def _realistic_camera(seq, cam: Camera, timeline: Timeline, n: int, fps: float, crf: int | None):
    """The realistic camera of a session: sensor noise like the real clips', H.264 at a drawn CRF (unless
    given), auto-exposure / white-balance drift and motion blur over the exposure time; drawn from a
    stream of its own (``spawn_key + (7,)``).  Returns the camera, the timeline with ``gains`` and ``blur``,
    and the session attributes that record the draws."""
    g = np.random.default_rng(np.random.SeedSequence(seq.entropy, spawn_key=seq.spawn_key + (7,)))
    r = REALISTIC_CAMERA
    read, shot = g.uniform(*r["noise_read"]), g.uniform(*r["noise_shot"])
    drawn_crf = int(g.integers(r["crf"][0], r["crf"][1] + 1))
    ae, wb, frac = g.uniform(*r["ae"]), g.uniform(*r["wb"]), g.uniform(*r["exposure_time"])
    gains = camera_drift(n, fps, ae, wb, rng=g)
    mo = timeline.motion
    blur = frac * np.stack([np.gradient(mo.dx), np.gradient(mo.dy), np.gradient(np.deg2rad(mo.yaw_deg))], axis=1)
    cam = Camera(exposure=cam.exposure, noise_shot=float(shot), noise_read=float(read),
                 crf=drawn_crf if crf is None else crf)
    info = {"camera_model": "realistic", "ae_drift": round(float(ae), 5), "wb_drift": round(float(wb), 5),
            "exposure_time_fraction": round(float(frac), 4)}
    return cam, replace(timeline, gains=gains, blur=blur.astype(np.float32)), info


def session_plan(
    participant: Participant | int | None = None,
    task: str = "A",
    duration_s: float = 10.0,
    size=(160, 120),
    fps: float = 30.0,
    seed: int = 0,
    magnified: Sequence[float] = (),
    supersample: int = 2,
    noise: bool = True,
    illumination_drift: float = 0.005,
    flicker: float = 0.0,
    flicker_hz: float = 3.0,
    natural_motion: float = 1.0,
    crf: int | None = None,
    camera: str = "basic",
) -> SessionPlan:
    """Draw the signals, motion and camera of a session (see :func:`synth_session` for parameters)."""
    task = _check_task(task)
    if camera not in CAMERAS:
        raise InputError(f"camera must be one of {', '.join(CAMERAS)}, got {camera!r}")
    w, h = _check_size(size)
    if not (math.isfinite(fps) and fps > 0):
        raise InputError(f"fps must be positive, got {fps}")
    if not (math.isfinite(duration_s) and duration_s > 0):
        raise InputError(f"duration_s must be positive, got {duration_s}")
    n = int(round(duration_s * fps))
    if n < 2:
        raise InputError(f"duration_s × fps must give at least 2 frames, got {n}")
    if participant is None:
        participant = 0
    if isinstance(participant, (int, np.integer)):
        index = int(participant)
        participant = participant_sample(_participant_seq(seed, index), participant_name(index))
    elif isinstance(participant, Participant):
        index = 0
    else:
        raise InputError(f"participant must be a Participant, an index or None, got {type(participant).__name__}")
    seq = _session_seq(seed, index, task)
    kids = seq.spawn(5)
    g = np.random.default_rng(kids[0])
    hr_nom = float(np.clip(participant.hr_bpm + g.normal(0, 3.0), *HR_RANGE_BPM))
    br_nom = float(np.clip(participant.br_bpm + g.normal(0, 1.0), *BR_RANGE_BPM))
    exposure = float(g.uniform(0.72, 0.9))
    noise_scale = float(g.uniform(0.7, 1.3))
    light_yaw = float(g.uniform(-15, 15))
    fs = SIGNAL_OVERSAMPLING * float(fps)
    N = SIGNAL_OVERSAMPLING * n
    pulse, beats = pulse_simulate(N, fs, hr_nom, participant.rsa, participant.ibi_randomness, rng=kids[1],
                                  return_beats=True)
    resp = resp_simulate(N, fs, br_nom, rng=kids[2])
    illum = illumination_simulate(n, fps, drift=illumination_drift, flicker=flicker, flicker_hz=flicker_hz, rng=kids[3])
    motion = head_motion(task, n, fps, rng=kids[4], natural=natural_motion)
    timeline = Timeline(
        pulse=pulse[::SIGNAL_OVERSAMPLING].copy(),
        resp=resp[::SIGNAL_OVERSAMPLING].copy(),
        illumination=illum,
        motion=motion,
        resp_px=participant.resp_amplitude * h,
        head_resp_ratio=participant.head_resp_ratio,
        light_yaw_deg=light_yaw,
    )
    cam = Camera(exposure=exposure, noise_shot=0.02 * noise_scale, noise_read=1.0 * noise_scale, crf=crf)
    camera_info: dict = {}
    if camera == "realistic":  # its own random stream: the basic camera's sessions are unchanged
        cam, timeline, camera_info = _realistic_camera(seq, cam, timeline, n, fps, crf)
    plan = SessionPlan(
        participant=participant,
        participant_index=index,
        task=task,
        size=(w, h),
        fps=float(fps),
        n_frames=n,
        seed=int(seed),
        supersample=int(supersample),
        magnified=tuple(float(a) for a in magnified),
        hr_bpm=round(_rate_from_peaks(pulse, fs, hr_nom), 3),
        br_bpm=round(_rate_from_onsets(resp, fs, br_nom), 3),
        hr_bpm_spectral=round(_dominant_rate(pulse, fs, (HR_RANGE_BPM[0] - 5, HR_RANGE_BPM[1] + 10)), 3),
        br_bpm_spectral=round(_dominant_rate(resp, fs, (BR_RANGE_BPM[0] - 2, BR_RANGE_BPM[1] + 4)), 3),
        hr_bpm_nominal=round(hr_nom, 3),
        br_bpm_nominal=round(br_nom, 3),
        pulse=pulse,
        resp=resp,
        timeline=timeline,
        camera=cam,
        noise=bool(noise),
        seq=seq,
        beat_times=beats,
        camera_info=camera_info,
    )
    variant_names(plan.magnified)  # validate early
    return plan


def _render_plan(plan: SessionPlan, chunk: int = 32, pulse_term: bool = False):
    """Build the scene and yield render chunks (see :func:`physio.synth.render.render_session`)."""
    # the scene (clothes, room, placement) belongs to the participant; the noise to the session
    scene_rng = np.random.default_rng(np.random.SeedSequence(plan.seed, spawn_key=(plan.participant_index, 0, 1)))
    noise_rng = np.random.default_rng(np.random.SeedSequence(plan.seq.entropy, spawn_key=plan.seq.spawn_key + (5,)))
    max_gain = max([1.0] + [float(a) for a in plan.magnified])
    max_shift = plan.timeline.resp_px * float(np.abs(plan.timeline.resp).max()) * max_gain + 1.0
    scene = scene_build(
        plan.participant,
        plan.size,
        TASK_BACKGROUND[plan.task],
        supersample=plan.supersample,
        max_shift=max_shift,
        rng=scene_rng,
    )
    w, h = plan.size
    bank = NoiseBank((h, w, 3), plan.n_frames, noise_rng) if plan.noise else None
    frames = render_session(scene, plan.timeline, plan.variants, plan.camera, bank, chunk=chunk, pulse_term=pulse_term)
    return scene, frames


def _h264_roundtrip(frames: np.ndarray, fps: float, crf: int, workdir: str) -> np.ndarray:
    path = Path(workdir) / f"rt-{os.getpid()}.mp4"
    with VideoWriter(path, fps=fps, crf=int(crf), preset="veryfast") as wr:
        wr.write(frames)
    out = VideoReader(path, fps=fps).read_all()
    path.unlink()
    if len(out) != len(frames):
        raise InputError(f"H.264 round trip returned {len(out)} of {len(frames)} frames")
    return out


@dataclass
class SynthSession:
    """A rendered synthetic session, in memory.

    Attributes
    ----------
    participant : Participant
    task : str
    fps : float
    frames : numpy.ndarray
        ``(T, H, W, 3)`` uint8 RGB.
    videos : dict
        Ground-truth magnified renderings ``pulse_x{α}``, ``resp_x{α}`` (same shape as frames).
    masks : dict
        ``skin``, ``face``, ``torso``, ``background``: ``(T, H, W)`` bool; ``shoulders``: ``(H, W)``.
    pulse, resp : numpy.ndarray
        Ground-truth signals at ``signal_fs = 4 × fps`` (sample ``4k`` at frame ``k``): the
        z-scored pulse ``p(t)`` and the upward shoulder displacement in output pixels.
    signal_fs : float
    attrs : dict
        Session attributes (true HR/BR, amplitudes, camera …).
    timeline : Timeline
        Per-frame pulse, breathing, illumination and head motion.
    pulse_term : numpy.ndarray or None
        ``(T, H, W, 3)`` float32 pulsatile term in DN of ``frames`` (``I(t) · u_c c0 ⊙ m · p(t)``),
        when asked for.
    scene_info : dict
        Geometry of the rendered person (output px).
    beat_times : numpy.ndarray
        ``(B,)`` s: the systolic maxima of the simulated pulse (the truth of heart-rate variability).
    """

    participant: Participant
    task: str
    fps: float
    frames: np.ndarray
    videos: dict
    masks: dict
    pulse: np.ndarray
    resp: np.ndarray
    signal_fs: float
    attrs: dict
    timeline: Timeline
    pulse_term: np.ndarray | None = None
    scene_info: dict = field(default_factory=dict)
    beat_times: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @property
    def hr_bpm(self) -> float:
        return float(self.attrs["hr_bpm"])

    @property
    def br_bpm(self) -> float:
        return float(self.attrs["br_bpm"])

    @property
    def frame_times(self) -> np.ndarray:
        return np.arange(len(self.frames)) / self.fps

    @property
    def signal_times(self) -> np.ndarray:
        return np.arange(len(self.pulse)) / self.signal_fs


def synth_session(
    participant: Participant | int | None = None,
    task: str = "A",
    duration_s: float = 10.0,
    size=(160, 120),
    fps: float = 30.0,
    seed: int = 0,
    magnified: Sequence[float] = (),
    supersample: int = 2,
    noise: bool = True,
    illumination_drift: float = 0.005,
    flicker: float = 0.0,
    flicker_hz: float = 3.0,
    natural_motion: float = 1.0,
    crf: int | None = None,
    pulse_term: bool = False,
    camera: str = "basic",
) -> SynthSession:
    """Render one short synthetic session in memory.

    Parameters
    ----------
    participant : Participant, int or None
        A participant, or the index of the participant to draw from ``seed`` (None: index 0, i.e.
        ``p001`` of the cohort with this seed).
    task : str
        ``"A"`` (still), ``"B"`` (10°/s yaw sweeps), ``"C"`` (30°/s), ``"D"`` (random 1 Hz turns).
    duration_s : float
        Length in seconds (``round(duration_s · fps)`` frames).
    size : (int, int) or str
        Output (width, height), e.g. ``(160, 120)`` or ``"320x240"``.
    fps : float
        Frame rate.
    seed : int
        Seed of everything random.
    magnified : sequence of float
        Factors α for which the ground-truth renderings ``pulse_x{α}`` and ``resp_x{α}`` are made.
    supersample : int
        Canvas pixels per output pixel for sub-pixel motion (2 is plenty; 4 for tiny sizes).
    noise : bool
        Add Poisson–Gaussian sensor noise.
    illumination_drift, flicker, flicker_hz : float
        Illumination variation ``i(t)``: slow drift std, sinusoidal flicker amplitude and frequency.
    natural_motion : float
        Scale of the natural head motion (0: none).
    crf : int or None
        H.264 round trip of every rendering at this CRF (None: raw frames; the realistic camera draws one).
    pulse_term : bool
        Also return the pulsatile term of ``frames`` (float32, DN).
    camera : {"basic", "realistic"}
        ``basic``: Gaussian sensor noise (shot 0.02, read 1 DN, × 0.7–1.3), no compression unless ``crf``;
        ``realistic``: noise like the real clips', H.264 at a drawn CRF, auto-exposure / white-balance
        drift and motion blur (:data:`REALISTIC_CAMERA`).

    Returns
    -------
    SynthSession
    """
    plan = session_plan(participant, task, duration_s, size, fps, seed, magnified, supersample, noise,
                        illumination_drift, flicker, flicker_hz, natural_motion, crf, camera)  # fmt: skip
    scene, chunks = _render_plan(plan, pulse_term=pulse_term)
    w, h = plan.size
    n = plan.n_frames
    vids = {name: np.empty((n, h, w, 3), np.uint8) for name, _, _ in plan.variants}
    masks = {m: np.empty((n, h, w), bool) for m in ("skin", "face", "torso", "background")}
    term = np.empty((n, h, w, 3), np.float32) if pulse_term else None
    for ch in chunks:
        s = ch["start"]
        for name, arr in ch["videos"].items():
            vids[name][s : s + len(arr)] = arr
        for name, arr in ch["masks"].items():
            masks[name][s : s + len(arr)] = arr
        if term is not None:
            term[s : s + len(ch["pulse_term"])] = ch["pulse_term"]
    if plan.camera.crf is not None:
        with tempfile.TemporaryDirectory(prefix="physio-synth-") as tmp:
            vids = {k: _h264_roundtrip(v, plan.fps, plan.camera.crf, tmp) for k, v in vids.items()}
    masks["shoulders"] = scene.shoulders.copy()
    frames = vids.pop("frames")
    return SynthSession(
        participant=plan.participant,
        task=plan.task,
        fps=plan.fps,
        frames=frames,
        videos=vids,
        masks=masks,
        pulse=plan.pulse,
        resp=plan.resp * plan.timeline.resp_px,
        signal_fs=plan.signal_fs,
        attrs=plan.attrs(),
        timeline=plan.timeline,
        pulse_term=term,
        scene_info=dict(scene.info),
        beat_times=plan.beat_times,
    )


# ---------------------------------------------------------------------------------------------------
# Cohorts
# ---------------------------------------------------------------------------------------------------
def _parse_tasks(tasks) -> list[str]:
    if isinstance(tasks, str):
        tasks = [t for t in tasks.replace(",", " ").split() if t] if ("," in tasks or " " in tasks) else list(tasks)
    out = [_check_task(t) for t in tasks]
    if not out:
        raise InputError("no tasks given")
    if len(set(out)) != len(out):
        raise InputError(f"tasks repeat: {out}")
    return out


def _session_name(task: str) -> str:
    return f"task_{task}"


def _write_shard(job: dict) -> str:
    """Worker: render one session into its own single-session cohort file; return its path."""
    cv2.setNumThreads(1)
    plan = session_plan(**job["plan"])
    shard = Path(job["shard"])
    w, h = plan.size
    n = plan.n_frames
    scratch = Path(job["scratch"])
    scratch.mkdir(parents=True, exist_ok=True)
    names = [v[0] for v in plan.variants]
    vid_mm = {
        name: np.lib.format.open_memmap(scratch / f"{name}.npy", mode="w+", dtype=np.uint8, shape=(n, h, w, 3))
        for name in names
    }
    mask_mm = {
        m: np.lib.format.open_memmap(scratch / f"mask_{m}.npy", mode="w+", dtype=np.uint8, shape=(n, h, w))
        for m in ("skin", "face", "torso", "background")
    }
    scene, chunks = _render_plan(plan)
    for ch in chunks:
        s = ch["start"]
        for name, arr in ch["videos"].items():
            vid_mm[name][s : s + len(arr)] = arr
        for name, arr in ch["masks"].items():
            mask_mm[name][s : s + len(arr)] = arr.view(np.uint8) * np.uint8(255)
    if plan.camera.crf is not None:
        for name in names:
            vid_mm[name][:] = _h264_roundtrip(np.asarray(vid_mm[name]), plan.fps, plan.camera.crf, str(scratch))
    masks = dict(mask_mm)
    masks["shoulders"] = scene.shoulders.astype(np.uint8) * 255

    def chunked(arr, step=64):
        for s in range(0, len(arr), step):
            yield np.asarray(arr[s : s + step])

    p = plan.participant
    attrs = plan.attrs()
    attrs.update({f"scene_{k}": v for k, v in scene.info.items() if k not in ("background", "supersample")})
    with CohortWriter(shard, description="shard", compression=job["compression"]) as wr:
        grp = wr.add_session(
            p.name,
            _session_name(plan.task),
            fps=plan.fps,
            task=plan.task,
            frames=chunked(vid_mm["frames"]),
            pulse=plan.pulse,
            pulse_fs=plan.signal_fs,
            pulse_kind="ppg",
            resp=plan.resp * plan.timeline.resp_px,
            resp_fs=plan.signal_fs,
            resp_kind="respiration",
            participant_attrs=p.attrs(),
            attrs=attrs,
            videos={name: chunked(vid_mm[name]) for name in names if name != "frames"},
            masks=masks,
        )
        grp["pulse"].attrs["unit"] = "z-score of the rendered pulsatile term p(t)"
        grp["resp"].attrs["unit"] = "px, upward shoulder displacement"
        mo = plan.timeline.motion
        sg = grp.create_group("synth")
        sg.attrs["description"] = "per-frame ground truth of the renderer (frame clock)"
        sg.create_dataset("head_yaw_deg", data=mo.yaw_deg.astype(np.float32))
        hh = scene.head_height / scene.supersample
        sg.create_dataset("head_dx_px", data=(mo.dx * hh).astype(np.float32))
        sg.create_dataset("head_dy_px", data=(mo.dy * hh).astype(np.float32))
        sg.create_dataset("head_scale", data=mo.scale.astype(np.float32))
        sg.create_dataset("illumination", data=plan.timeline.illumination.astype(np.float32))
        bt = sg.create_dataset("beat_times", data=np.asarray(plan.beat_times, np.float64))
        bt.attrs["unit"] = "s, session clock: systolic maxima of the simulated pulse (heart-rate variability truth)"
    del vid_mm, mask_mm, masks
    shutil.rmtree(scratch, ignore_errors=True)
    return str(shard)


def synth_cohort(
    out_path: str | os.PathLike,
    participants: int = 20,
    tasks: str | Iterable[str] = "ABCD",
    duration_s: float = 30.0,
    size=(160, 120),
    fps: float = 30.0,
    seed: int = 0,
    magnified: Sequence[float] = (),
    workers: int | None = None,
    supersample: int = 2,
    noise: bool = True,
    illumination_drift: float = 0.005,
    flicker: float = 0.0,
    flicker_hz: float = 3.0,
    crf: int | None = None,
    compression: str | None = "lzf",
    progress: bool = True,
    camera: str = "basic",
) -> Path:
    """Generate a synthetic cohort file.

    Parameters
    ----------
    out_path : path
        Destination ``.h5`` (written atomically).
    participants : int
        Number of participants (``p001`` …).
    tasks : str or iterable of str
        Tasks per participant, e.g. ``"ABCD"`` or ``"A,C"``; sessions are named ``task_A`` ….
    duration_s, size, fps, seed, magnified, supersample, noise, illumination_drift, flicker,
    flicker_hz, crf, camera :
        As in :func:`synth_session`.
    workers : int, optional
        Parallel processes rendering sessions (default ``min(2, cpu count)``; 1 renders in-process).
    compression : str or None
        HDF5 filter for frames and masks: ``"lzf"`` (default; fast, h5py-only), ``"gzip"`` (about
        20 % smaller, readable by every HDF5 tool, about 30 % slower to generate), or None.
    progress : bool
        Show a tqdm bar on stderr.

    Returns
    -------
    pathlib.Path
        The cohort file.
    """
    n_p = int(participants)
    if n_p < 1:
        raise InputError(f"participants must be >= 1, got {participants}")
    task_list = _parse_tasks(tasks)
    w, h = _check_size(size)
    if workers is None:
        workers = min(2, os.cpu_count() or 1)
    workers = max(1, int(workers))
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    mags = tuple(float(a) for a in magnified)
    variant_names(mags)
    plan_kw = dict(duration_s=float(duration_s), size=(w, h), fps=float(fps), seed=int(seed), magnified=mags,
                   supersample=int(supersample), noise=bool(noise), illumination_drift=float(illumination_drift),
                   flicker=float(flicker), flicker_hz=float(flicker_hz), crf=crf, camera=camera)  # fmt: skip
    root_attrs = {
        "generator": f"physio.synth {__version__}",
        "synthetic": True,
        "seed": int(seed),
        "participants_n": n_p,
        "tasks": "".join(task_list),
        "duration_s": float(duration_s),
        "size": [w, h],
        "fps": float(fps),
        "magnified": [float(a) for a in mags],
        "signal_fs": SIGNAL_OVERSAMPLING * float(fps),
        "supersample": int(supersample),
        "noise": bool(noise),
        "crf": -1 if crf is None else int(crf),
        "camera_model": camera,
    }
    tmpdir = scratch_dir(out_path, "shards")
    jobs = [{"plan": dict(plan_kw, participant=i, task=t), "shard": str(tmpdir / f"{i:04d}_{t}.h5"),
             "scratch": str(tmpdir / f"scratch_{i:04d}_{t}"), "compression": compression}
            for i in range(n_p) for t in task_list]
    desc = f"synthetic cohort: {n_p} participants x tasks {''.join(task_list)}, {duration_s:g} s, {w}x{h} @ {fps:g} fps"
    try:
        bar = tqdm(total=len(jobs), desc="physio synth", unit="session", disable=not progress)
        with CohortWriter(out_path, description=desc, compression=compression, attrs=root_attrs) as writer:
            _render_jobs(jobs, workers, writer, bar)
        bar.close()
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    return out_path


def _render_jobs(jobs: list[dict], workers: int, writer, bar) -> None:
    """Render every session into its shard (in ``workers`` processes) and merge the shards in order."""
    pool = None
    if workers == 1 or len(jobs) == 1:
        results = map(_write_shard, jobs)
    else:
        ctx = mp.get_context("spawn") if os.name == "nt" else mp.get_context("forkserver")
        pool = ctx.Pool(processes=min(workers, len(jobs)))
        results = pool.imap(_write_shard, jobs)
    try:
        for shard in results:
            _merge_shard(writer, shard)
            Path(shard).unlink()
            bar.update(1)
        if pool is not None:
            pool.close()
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()


def _merge_shard(writer, shard: str) -> None:
    """Copy the session of a single-session shard into the cohort being written (raw chunk copy)."""
    with h5py.File(shard, "r") as src:
        for pname, pgrp in src["participants"].items():
            attrs = {k: v for k, v in pgrp.attrs.items()}
            dst_p = writer.h5["participants"].require_group(pname)
            dst_p.require_group("sessions")
            for k, v in attrs.items():
                dst_p.attrs[k] = v
            for sname in pgrp["sessions"]:
                src.copy(pgrp["sessions"][sname], dst_p["sessions"], name=sname)
