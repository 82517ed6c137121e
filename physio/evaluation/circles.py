"""The circle benchmark of the thesis (§3.2.3, reused in ch. 4–7), rebuilt: ``physio bench-magnifiers``.

Each of ``n_videos`` synthetic videos has its own background (the 5 ``skimage.data`` photographs held
out of training, :data:`.data.BENCH_IMAGES`, then procedural textures of 6 kinds) and three textured
circles of radius 40 px that oscillate horizontally, vertically and diagonally (both axes) by
``A · (−1)^j`` in frame ``j``: ``A = 0.1`` px in the input, ``A = 10`` px in the ground truth.

Sub-pixel motion is rendered as the thesis describes — *upsample, move, downsample*: the frame is
(nearest-)upsampled by ``S`` (the smallest integer ≥ 10 with ``A·S`` integral), the circle is moved by
``A·S`` whole high-resolution pixels and the result is box-downsampled.  Only the circles move, so this
is computed exactly per circle patch.  Input frames get additive Gaussian noise of ``noise_sigma``
(8-bit units) and are quantised to ``uint8``; ground truth frames are noise-free.

Factor calibration — each method's factor is tuned so that its *measured* output motion matches the
ground truth: starting from its nominal factor (learned nets in dynamic mode: ``(A_gt + A_in) /
(2 A_in)`` = 50.5, since consecutive input frames differ by ``2 A_in``), the benchmark renders
``calibration_videos`` noise-free videos, measures the circles' oscillation amplitude in the output
(:func:`measure_amplitude`: 1-D search along each circle's direction for the displacement whose
rendering best matches the output, parabola-refined) and updates the factor by a proportional step
then secant steps.  The measured amplitude and the trace are reported.

Reported per method: MSE (8-bit units, averaged over frames then videos, as in the thesis), PSNR (dB,
from each video's MSE) and SSIM (``skimage``, averaged) per video and on average, plus

* noise sweep — ``noise_sigma`` ∈ ``noise_sweep``;
* sub-pixel sweep — input amplitude ∈ ``subpixel_sweep``, factor scaled to keep the output motion;
* magnification-factor sweep — factor × ``m`` for ``m`` ∈ ``factor_sweep``, ground truth ``m · A_gt``;
* no-motion test — static circles, noisy input, ground truth = the input itself.

Every frame ``0..T-1`` is scored.  Each method also gets its ``margin_frames`` (at most
:data:`MAX_CONTEXT_FRAMES`) of context on both sides — the oscillation goes on outside the scored
frames — so dynamic-mode networks have a previous frame for frame 0 and temporal filters run in their
steady state.  Classical baselines (from :mod:`physio.magnify.registry`: ``evm`` motion, ``phase``,
``vam``) use the highest band their filters accept, ``(fps/6, 0.497·fps)``: the ``(−1)^j`` oscillation
sits exactly at the Nyquist frequency, which band-pass filters pass at reduced gain (the calibration
compensates); their nominal factor is ``A_gt / A_in − 1``.  The thesis' numbers
(mean MSE: Oh 38.8, M1 23.07, M2 27.8, acceleration 68.0) come from *their* 25 videos, whose
backgrounds, noise level and frame count are not published: compare orderings, not values.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np

from physio.errors import InputError
from physio.magnify.base import Magnifier, magnify_stream
from physio.magnify.learned.data import BENCH_IMAGES, _skimage_image, texture
from physio.magnify.learned.magnifier import LearnedMagnifier
from physio.magnify.learned.weights import default_weights_path, load_weights
from physio.magnify.registry import available, get_magnifier
from physio.metrics.magnification import frame_ssim

__all__ = [
    "CircleBenchConfig",
    "CircleVideo",
    "BenchMethod",
    "IdentityMagnifier",
    "circle_video",
    "render_circles",
    "measure_amplitude",
    "score_video",
    "calibrate_factor",
    "circle_benchmark",
    "format_results",
    "THESIS_MSE",
    "nominal_learned_factor",
    "learned_bench_method",
    "classical_bench_methods",
]

THESIS_MSE = {"anisotropy": 36.4, "jerk": 55.3, "acceleration": 68.0, "oh": 38.8, "lwmm-m1": 23.07, "lwmm-m2": 27.8}
"""Thesis Table 3.5 (their 25 videos; not comparable in value with ours)."""

_PROCEDURAL = ("fractal", "grating", "checker", "voronoi", "ellipses", "gradient")
_DIRECTIONS = (np.array([1.0, 0.0]), np.array([0.0, 1.0]), np.array([1.0, 1.0]))  # (dx, dy) per unit A
_CENTRES = ((0.25, 0.25), (0.75, 0.25), (0.5, 0.72))  # (x, y) fractions of the frame


def nominal_learned_factor(amp_in_px: float, amp_gt_px: float) -> float:
    """Dynamic-mode alpha that maps ``±amp_in`` oscillation to ``±amp_gt``: ``(gt + in) / (2 in)``."""
    return (amp_gt_px + amp_in_px) / (2.0 * amp_in_px)


@dataclass
class CircleBenchConfig:
    """Benchmark settings (lengths in pixels, noise in 8-bit grey levels)."""

    n_videos: int = 25
    size: int = 256
    frames: int = 10
    radius_px: float = 40.0
    amp_in_px: float = 0.1
    amp_gt_px: float = 10.0
    noise_sigma: float = 2.0
    fps: float = 30.0
    seed: int = 0
    sweep_videos: int = 5
    sweep_frames: int = 8
    noise_sweep: tuple[float, ...] = (0.0, 1.0, 2.0, 4.0, 8.0, 16.0)
    subpixel_sweep: tuple[float, ...] = (0.1, 0.05, 0.025)
    factor_sweep: tuple[float, ...] = (0.2, 0.5, 1.0, 2.0)
    calibrate: bool = True
    calibration_videos: int = 2
    calibration_frames: int = 6
    calibration_iters: int = 4
    calibration_tol: float = 0.05

    def __post_init__(self) -> None:
        for k in ("noise_sweep", "subpixel_sweep", "factor_sweep"):
            setattr(self, k, tuple(float(v) for v in getattr(self, k)))
        if self.n_videos < 1 or self.frames < 3 or self.sweep_frames < 3 or self.calibration_frames < 3:
            raise InputError("need n_videos ≥ 1 and at least 3 frames per video")
        if self.size < 4 * self.radius_px:
            raise InputError(f"frame size {self.size} px is too small for circles of radius {self.radius_px} px "
                             f"(need ≥ {4 * self.radius_px:g})")
        reach = self.radius_px + max(self.amp_gt_px * max(self.factor_sweep + (1.0,)), self.amp_gt_px)
        if reach > 0.25 * self.size:
            raise InputError(f"circles of radius {self.radius_px:g} px moving up to {reach - self.radius_px:g} px "
                             f"leave a {self.size}-px frame; enlarge size or shrink factor_sweep")
        if self.amp_in_px <= 0 or self.amp_gt_px <= 0 or min(self.subpixel_sweep, default=1) <= 0:
            raise InputError("amplitudes must be > 0")

    @classmethod
    def quick(cls, **overrides) -> "CircleBenchConfig":
        """Small and fast: 128-px frames, radius 20 px, 3 videos, short sweeps."""
        base = dict(n_videos=3, size=128, frames=5, radius_px=20.0, sweep_videos=2, sweep_frames=4,
                    noise_sweep=(0.0, 4.0, 16.0), subpixel_sweep=(0.1, 0.05), factor_sweep=(0.5, 1.0),
                    calibration_videos=1, calibration_frames=4, calibration_iters=3)
        base.update(overrides)
        return cls(**base)


@dataclass
class CircleVideo:
    """One benchmark video: inputs, ground truth and what is needed to re-render it.

    Frame ``j`` (any integer, also before 0 or after ``T - 1``: the oscillation goes on) is
    :meth:`input_frames`; its noise depends only on ``(seed, index, sigma, j)``.
    """

    index: int
    background_name: str
    inputs: np.ndarray  # uint8 (T, H, W, 3), frames 0..T-1
    truth: np.ndarray  # uint8 (T, H, W, 3)
    background: np.ndarray = field(repr=False)  # float32 (H, W, 3)
    textures: list = field(repr=False)  # per circle float32 (2r+1, 2r+1, 3)
    centres: list = field(repr=False)  # per circle (cx, cy)
    radius_px: float = 40.0
    amp_in_px: float = 0.1
    amp_gt_px: float = 10.0
    noise_sigma: float = 0.0
    states_in: list = field(default_factory=list, repr=False)  # float32 frames for (-1)^j = +1, -1
    noise_key: tuple = ()

    def input_frames(self, start: int, stop: int) -> np.ndarray:
        """Noisy ``uint8`` input frames ``start ≤ j < stop``."""
        out = np.empty((stop - start,) + self.background.shape, np.uint8)
        for i, j in enumerate(range(start, stop)):
            f = self.states_in[j % 2] * 255.0
            if self.noise_sigma > 0:
                rng = np.random.default_rng(list(self.noise_key) + [j + 1_000_000])
                f = f + rng.normal(0.0, self.noise_sigma, f.shape)
            out[i] = np.clip(np.round(f), 0, 255).astype(np.uint8)
        return out


def _supersample(*amps: float, minimum: int = 10, maximum: int = 400) -> int:
    """Smallest ``S ≥ minimum`` with every ``amp · S`` an integer (to 1e-6)."""
    for s in range(minimum, maximum + 1):
        if all(abs(a * s - round(a * s)) < 1e-6 for a in amps):
            return s
    raise InputError(f"no supersampling factor ≤ {maximum} makes {amps} whole high-resolution pixels")


def render_circles(background: np.ndarray, textures, centres, radius: float, offset_px: float, supersample: int,
                   directions=_DIRECTIONS) -> np.ndarray:
    """The background with every circle displaced by ``offset_px`` along its direction (float32).

    Upsample (nearest) by ``supersample``, move each circle by ``offset_px · supersample`` whole
    high-resolution pixels (must be integral), box-downsample; computed exactly per circle patch.
    ``directions`` are ``(dx, dy)`` per unit offset (horizontal, vertical, diagonal by default).
    """
    S = int(supersample)
    out = background.copy()
    H, W = background.shape[:2]
    for tex, (cx, cy), direction in zip(textures, centres, directions):
        d = direction * offset_px
        k = d * S
        if np.any(np.abs(k - np.round(k)) > 1e-6):
            raise InputError(f"offset {offset_px} px × supersample {S} is not a whole number of pixels")
        kx, ky = int(round(k[0])), int(round(k[1]))
        r = radius
        x0, x1 = max(0, int(math.floor(cx + d[0] - r)) - 1), min(W, int(math.ceil(cx + d[0] + r)) + 2)
        y0, y1 = max(0, int(math.floor(cy + d[1] - r)) - 1), min(H, int(math.ceil(cy + d[1] + r)) + 2)
        th, tw = tex.shape[:2]
        tox, toy = cx - tw / 2.0, cy - th / 2.0  # texture's top-left (low-res units) before the move
        xs = (np.arange(x0 * S, x1 * S) + 0.5) / S  # high-res pixel centres, low-res units
        cov_cols = []
        rows = max(1, int(4_000_000 // max(1, (x1 - x0) * S * S)))
        for ry in range(y0, y1, rows):
            ry1 = min(y1, ry + rows)
            ys = (np.arange(ry * S, ry1 * S) + 0.5) / S
            X, Y = np.meshgrid(xs, ys)
            inside = (X - (cx + kx / S)) ** 2 + (Y - (cy + ky / S)) ** 2 <= r * r
            ti = np.clip(np.floor(Y - toy - ky / S).astype(int), 0, th - 1)
            tj = np.clip(np.floor(X - tox - kx / S).astype(int), 0, tw - 1)
            a = inside.astype(np.float32)
            fg = tex[ti, tj] * a[..., None]
            nb_y, nb_x = ry1 - ry, x1 - x0
            a_lo = a.reshape(nb_y, S, nb_x, S).mean(axis=(1, 3))
            fg_lo = fg.reshape(nb_y, S, nb_x, S, 3).mean(axis=(1, 3))
            cov_cols.append((ry, ry1, a_lo, fg_lo))
        for ry, ry1, a_lo, fg_lo in cov_cols:
            region = out[ry:ry1, x0:x1]
            out[ry:ry1, x0:x1] = region * (1.0 - a_lo[..., None]) + fg_lo
    return out


def _background(v: int, size: int, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    if v < len(BENCH_IMAGES):
        name = BENCH_IMAGES[v]
        im = _skimage_image(name)
        side = min(im.shape[:2])
        y0, x0 = (im.shape[0] - side) // 2, (im.shape[1] - side) // 2
        sq = im[y0 : y0 + side, x0 : x0 + side]
        return cv2.resize(sq, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32), f"skimage:{name}"
    kind = _PROCEDURAL[(v - len(BENCH_IMAGES)) % len(_PROCEDURAL)]
    return texture(rng, size, size, images=(), kind=kind), f"procedural:{kind}"


def circle_video(cfg: CircleBenchConfig, index: int, frames: int | None = None, noise_sigma: float | None = None,
                 amp_in_px: float | None = None, amp_gt_px: float | None = None) -> CircleVideo:
    """Render benchmark video ``index`` (deterministic in ``cfg.seed`` and ``index``).

    ``amp_in_px = 0`` gives the no-motion test: static circles, ground truth = the (noisy) input.
    """
    T = cfg.frames if frames is None else int(frames)
    sigma = cfg.noise_sigma if noise_sigma is None else float(noise_sigma)
    a_in = cfg.amp_in_px if amp_in_px is None else float(amp_in_px)
    a_gt = cfg.amp_gt_px if amp_gt_px is None else float(amp_gt_px)
    rng = np.random.default_rng([cfg.seed, 7919, index])
    bg, name = _background(index, cfg.size, rng)
    r = cfg.radius_px
    side = int(2 * math.ceil(r) + 1)
    textures, centres = [], []
    for fx, fy in _CENTRES:
        tex = texture(rng, side, side, images=(), kind=str(rng.choice(_PROCEDURAL)))
        cx, cy = fx * cfg.size, fy * cfg.size
        patch = bg[int(cy - r) : int(cy + r), int(cx - r) : int(cx + r)]
        if abs(float(tex.mean()) - float(patch.mean())) < 0.2:  # keep the circle visible against its background
            tex = np.clip(1.0 - tex, 0, 1) if patch.mean() > 0.5 or tex.mean() < 0.5 else tex * 0.4
        textures.append(tex.astype(np.float32))
        centres.append((cx, cy))
    amps = [a for a in (a_in, a_gt) if a > 0]
    S = _supersample(*amps) if amps else 1
    states_in = [render_circles(bg, textures, centres, r, s * a_in, S) for s in (1.0, -1.0)]
    video = CircleVideo(index, name, None, None, bg, textures, centres, r, a_in, a_gt, sigma, states_in,
                        (cfg.seed, 104729, index, int(round(sigma * 1000))))
    video.inputs = video.input_frames(0, T)
    if a_in == 0:
        video.truth = video.inputs.copy()
    else:
        states_gt = [render_circles(bg, textures, centres, r, s * a_gt, S) for s in (1.0, -1.0)]
        video.truth = np.stack([np.clip(np.round(states_gt[j % 2] * 255.0), 0, 255).astype(np.uint8) for j in range(T)])
    return video


# --------------------------------------------------------------------------------------------------
# motion measurement and factor calibration


def measure_amplitude(video: CircleVideo, frames: np.ndarray, max_px: float | None = None, step_px: float = 0.5) -> dict:
    """Oscillation amplitude of the circles in ``frames`` (uint8 ``(T, H, W, 3)``, e.g. a method's output).

    For every frame ``j ≥ 1`` and circle, the displacement ``s`` along the circle's direction whose
    noise-free rendering best matches the frame (MSE over the circle's search box; grid of
    ``step_px``, parabola-refined) is found; the amplitude is the mean of ``s_j · (−1)^j``.
    Returns ``{"amp_px": float, "per_circle": [..], "per_frame": [[..] per circle]}``.
    """
    max_px = max_px if max_px is not None else 2.0 * video.amp_gt_px + 4.0
    grid = np.arange(-max_px, max_px + step_px / 2, step_px)
    S = _supersample(step_px, minimum=2)
    r, H, W = video.radius_px, video.background.shape[0], video.background.shape[1]
    f = frames.astype(np.float32) / 255.0
    per_circle, per_frame = [], []
    for c, ((cx, cy), direction) in enumerate(zip(video.centres, _DIRECTIONS)):
        reach = r + max_px * float(np.abs(direction).max()) + 2
        x0, x1 = max(0, int(cx - reach)), min(W, int(cx + reach) + 1)
        y0, y1 = max(0, int(cy - reach)), min(H, int(cy + reach) + 1)
        bg = video.background[y0:y1, x0:x1]
        local = [(cx - x0, cy - y0)]
        cands = np.stack([render_circles(bg, [video.textures[c]], local, r, s, S, (direction,)) for s in grid])
        shifts = []
        for j in range(1, len(f)):
            err = ((cands - f[j, y0:y1, x0:x1][None]) ** 2).mean(axis=(1, 2, 3))
            i = int(np.argmin(err))
            s = float(grid[i])
            if 0 < i < len(grid) - 1:
                e0, e1, e2 = err[i - 1], err[i], err[i + 1]
                den = e0 - 2 * e1 + e2
                if den > 0:
                    s += step_px * 0.5 * (e0 - e2) / den
            shifts.append(s * (1.0 if j % 2 == 0 else -1.0))
        per_frame.append(shifts)
        per_circle.append(float(np.mean(shifts)))
    return {"amp_px": float(np.mean(per_circle)), "per_circle": per_circle, "per_frame": per_frame}


@dataclass
class BenchMethod:
    """A method under test: ``make(factor) → Magnifier``, its nominal factor, and whether to calibrate."""

    name: str
    make: Callable[[float], Magnifier]
    factor: float = 1.0
    calibrate: bool = True


class IdentityMagnifier(Magnifier):
    """Returns the input (the benchmark's do-nothing reference)."""

    name = "identity"

    def process(self, frames, fps):
        return frames


def learned_bench_method(arch: str, weights=None, net=None, device=None, cfg: "CircleBenchConfig | None" = None) -> BenchMethod:
    """A learned magnifier in dynamic mode as a :class:`BenchMethod` (nominal factor 50.5 by default).

    The network is loaded once and shared by every factor the benchmark tries.
    """
    cfg = cfg or CircleBenchConfig()
    if net is None:
        path = weights or default_weights_path(arch)
        net, info = load_weights(path)
        if info["arch"] != arch:
            raise InputError(f"{path}: holds {info['arch']} weights, not {arch}")

    def make(factor: float) -> Magnifier:
        return LearnedMagnifier(arch, factor=factor, mode="dynamic", net=net, device=device)

    return BenchMethod(arch, make, nominal_learned_factor(cfg.amp_in_px, cfg.amp_gt_px), True)


CLASSICAL_BENCH = {
    "evm": {"mode": "motion", "temporal_filter": "fir"},
    "phase": {"temporal_filter": "fir"},
    "vam": {"temporal_filter": "int"},
}
"""Registry methods the benchmark runs as classical baselines, with their settings."""


def classical_bench_methods(cfg: "CircleBenchConfig | None" = None, device: str = "cpu") -> dict[str, BenchMethod]:
    """The classical magnifiers of :mod:`physio.magnify.registry` as benchmark methods."""
    cfg = cfg or CircleBenchConfig()
    band = (cfg.fps / 6.0, 0.497 * cfg.fps)
    out = {}
    for name, kw in CLASSICAL_BENCH.items():
        if name not in available():
            continue
        extra = dict(kw) | ({"freq_hz": band[1]} if name == "vam" else {})

        def make(factor: float, _name=name, _extra=extra) -> Magnifier:
            return get_magnifier(_name, alpha=factor, band_hz=band, device=device, **_extra)

        out[name] = BenchMethod(name, make, cfg.amp_gt_px / cfg.amp_in_px - 1.0, True)
    return out


MAX_CONTEXT_FRAMES = 32
"""Context frames given to a method on each side of a video (its margin, at most this)."""


def _run(method: Magnifier, video: "CircleVideo | np.ndarray", fps: float) -> np.ndarray:
    """Magnify ``video``'s frames 0..T-1, with up to :data:`MAX_CONTEXT_FRAMES` of context on each side."""
    if hasattr(method, "reset"):
        method.reset()
    if isinstance(video, np.ndarray):
        frames, m = video, 0
    else:
        T = len(video.inputs)
        m = min(int(method.margin_frames(fps)), MAX_CONTEXT_FRAMES)
        frames = video.inputs if m == 0 else video.input_frames(-m, T + m)
    out = np.concatenate(list(magnify_stream(method, [frames], fps, block_frames=len(frames))))
    return out[m : len(out) - m] if m else out


def calibrate_factor(method: BenchMethod, videos: list[CircleVideo], fps: float, target_px: float,
                     iters: int = 4, tol: float = 0.05) -> tuple[float, list[dict]]:
    """Tune ``method.factor`` until the measured output amplitude on ``videos`` is ``target_px``."""
    trace: list[dict] = []
    f = float(method.factor)
    for _ in range(max(1, iters)):
        amps = [measure_amplitude(v, _run(method.make(f), v, fps))["amp_px"] for v in videos]
        a = float(np.mean(amps))
        trace.append({"factor": f, "amp_px": a})
        if abs(a - target_px) <= tol * target_px:
            break
        if len(trace) == 1 or abs(trace[-1]["amp_px"] - trace[-2]["amp_px"]) < 1e-3:
            if a <= 1.2 * max(v.amp_in_px for v in videos):  # no more motion than the input: unusable
                trace[-1]["note"] = "output motion too small to calibrate; nominal factor kept"
                return float(method.factor), trace
            nxt = f * target_px / a
        else:
            (f1, a1), (f2, a2) = (trace[-2]["factor"], trace[-2]["amp_px"]), (f, a)
            nxt = f2 + (target_px - a2) * (f2 - f1) / (a2 - a1)
        f = float(np.clip(nxt, f / 4, f * 4))
        f = float(np.clip(f, 1e-3, 1e4))
    best = min(trace, key=lambda t: abs(t["amp_px"] - target_px))
    return best["factor"], trace


# --------------------------------------------------------------------------------------------------
# scoring


def score_video(output: np.ndarray, truth: np.ndarray, skip: int = 0) -> dict:
    """MSE (8-bit units), PSNR (dB, from the MSE) and mean SSIM over frames ``skip..T-1``."""
    if output.shape != truth.shape:
        raise InputError(f"output shape {output.shape} differs from ground truth {truth.shape}")
    o, t = output[skip:].astype(np.float64), truth[skip:].astype(np.float64)
    mse = float(((o - t) ** 2).mean())
    psnr = float("inf") if mse == 0 else 10.0 * math.log10(255.0**2 / mse)
    ssim = float(np.mean(frame_ssim(o, t)))
    return {"mse": mse, "psnr": psnr, "ssim": ssim}


def _mean_scores(rows: list[dict]) -> dict:
    mse = float(np.mean([r["mse"] for r in rows]))
    return {"mse": mse, "psnr": float(np.mean([min(r["psnr"], 100.0) for r in rows])),
            "ssim": float(np.mean([r["ssim"] for r in rows])), "n_videos": len(rows)}


def _evaluate(mag_factory, factor, videos, fps) -> dict:
    rows = []
    for v in videos:
        out = _run(mag_factory(factor), v, fps)
        rows.append({"video": v.index, "background": v.background_name} | score_video(out, v.truth))
    return {"factor": factor, "per_video": rows, "mean": _mean_scores(rows)}


def circle_benchmark(methods: list[BenchMethod], cfg: CircleBenchConfig | None = None, sweeps: bool = True,
                     progress: Callable[[str], None] | None = None) -> dict:
    """Run the circle benchmark for ``methods``; returns a JSON-serialisable dict (see module notes)."""
    cfg = cfg or CircleBenchConfig()
    say = progress or (lambda msg: None)
    t0 = time.perf_counter()
    names = [m.name for m in methods]
    if len(set(names)) != len(names):
        raise InputError(f"duplicate method names: {names}")
    fps = cfg.fps
    res: dict = {"config": dataclasses.asdict(cfg), "methods": {}, "main": {}, "thesis_mse": THESIS_MSE}
    say(f"rendering {cfg.n_videos} videos")
    videos = [circle_video(cfg, i) for i in range(cfg.n_videos)]
    cal_videos = [circle_video(cfg, i, frames=cfg.calibration_frames, noise_sigma=0.0)
                  for i in range(min(cfg.calibration_videos, cfg.n_videos))]
    factors = {}
    for m in methods:
        if cfg.calibrate and m.calibrate:
            say(f"{m.name}: calibrating the factor")
            f, trace = calibrate_factor(m, cal_videos, fps, cfg.amp_gt_px, cfg.calibration_iters, cfg.calibration_tol)
        else:
            f = m.factor
            trace = [{"factor": f, "amp_px": float(np.mean([measure_amplitude(v, _run(m.make(f), v, fps))["amp_px"]
                                                            for v in cal_videos]))}]
        factors[m.name] = f
        res["methods"][m.name] = {"nominal_factor": m.factor, "factor": f, "calibration": trace,
                                  "measured_amp_px": min(trace, key=lambda t: abs(t["amp_px"] - cfg.amp_gt_px))["amp_px"]
                                  if cfg.calibrate and m.calibrate else trace[0]["amp_px"]}
        say(f"{m.name}: main table ({cfg.n_videos} videos, factor {f:.3g})")
        res["main"][m.name] = _evaluate(m.make, f, videos, fps)
    if sweeps:
        nv = min(cfg.sweep_videos, cfg.n_videos)
        T = cfg.sweep_frames
        for key in ("noise_sweep", "subpixel_sweep", "factor_sweep"):
            res[key] = {m.name: [] for m in methods}
        say(f"sweeps on {nv} videos × {T} frames")
        for s in cfg.noise_sweep:
            vids = [circle_video(cfg, i, T, noise_sigma=s) for i in range(nv)]
            for m in methods:
                res["noise_sweep"][m.name].append({"sigma": s} | _evaluate(m.make, factors[m.name], vids, fps)["mean"])
        for a in cfg.subpixel_sweep:
            vids = [circle_video(cfg, i, T, amp_in_px=a) for i in range(nv)]
            for m in methods:
                fa = factors[m.name] * cfg.amp_in_px / a if m.calibrate else factors[m.name]
                res["subpixel_sweep"][m.name].append({"amp_in_px": a, "factor": fa} | _evaluate(m.make, fa, vids, fps)["mean"])
        for mult in cfg.factor_sweep:
            vids = [circle_video(cfg, i, T, amp_gt_px=cfg.amp_gt_px * mult) for i in range(nv)]
            for m in methods:
                fm = factors[m.name] * mult if m.calibrate else factors[m.name]
                res["factor_sweep"][m.name].append({"multiplier": mult, "factor": fm, "amp_gt_px": cfg.amp_gt_px * mult}
                                                   | _evaluate(m.make, fm, vids, fps)["mean"])
        vids = [circle_video(cfg, i, T, amp_in_px=0.0) for i in range(nv)]
        res["no_motion"] = {m.name: {"factor": factors[m.name]} | _evaluate(m.make, factors[m.name], vids, fps)["mean"]
                            for m in methods}
    res["wall_s"] = time.perf_counter() - t0
    return res


def format_results(res: dict) -> str:
    """Markdown tables of a :func:`circle_benchmark` result."""
    out = []
    cfg = res["config"]
    out.append(f"Circle benchmark: {cfg['n_videos']} videos, {cfg['size']}² px, {cfg['frames']} frames, radius "
               f"{cfg['radius_px']:g} px, input ±{cfg['amp_in_px']:g} px → truth ±{cfg['amp_gt_px']:g} px, "
               f"noise σ = {cfg['noise_sigma']:g}")
    out.append("")
    out.append("| method | factor | measured amp (px) | MSE | PSNR (dB) | SSIM | thesis MSE* |")
    out.append("|---|---|---|---|---|---|---|")
    for name, r in res["main"].items():
        m = r["mean"]
        meta = res["methods"][name]
        th = res.get("thesis_mse", {}).get(name)
        out.append(f"| {name} | {meta['factor']:.3g} | {meta['measured_amp_px']:.2f} | {m['mse']:.2f} | {m['psnr']:.2f} | "
                   f"{m['ssim']:.4f} | {'' if th is None else th} |")
    out.append("")
    out.append("*thesis Table 3.5, on the thesis' own videos (not comparable in value).")
    for key, label, col in (("noise_sweep", "noise sweep (MSE)", "sigma"), ("subpixel_sweep", "sub-pixel sweep (MSE)", "amp_in_px"),
                            ("factor_sweep", "factor sweep (MSE)", "multiplier")):
        if key not in res:
            continue
        names = list(res[key])
        if not names:
            continue
        vals = [row[col] for row in res[key][names[0]]]
        out.append("")
        out.append(f"{label}: " + ", ".join(f"{col}={v:g}" for v in vals))
        out.append("")
        out.append("| method | " + " | ".join(f"{v:g}" for v in vals) + " |")
        out.append("|---" * (len(vals) + 1) + "|")
        for n in names:
            out.append(f"| {n} | " + " | ".join(f"{row['mse']:.2f}" for row in res[key][n]) + " |")
    if "no_motion" in res:
        out.append("")
        out.append("no-motion test (static circles, truth = input):")
        out.append("")
        out.append("| method | MSE | PSNR (dB) | SSIM |")
        out.append("|---|---|---|---|")
        for n, r in res["no_motion"].items():
            out.append(f"| {n} | {r['mse']:.2f} | {r['psnr']:.2f} | {r['ssim']:.4f} |")
    return "\n".join(out)
