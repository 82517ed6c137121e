"""Synthetic training data for learned motion magnification, after Oh et al.'s (2018) recipe.

Oh et al.'s 100,000 pairs (COCO backgrounds, PASCAL VOC objects) cannot be downloaded here, so this
module regenerates the recipe from what is on disk:

* **Backgrounds** — procedural textures (fractal noise, gratings, checkers, Voronoi cells, ellipse
  collages, gradients) and the real photographs scikit-image ships (``skimage.data``; only the
  :data:`TRAIN_IMAGES` — the :data:`BENCH_IMAGES` are held out for the circle benchmark).
* **Foreground** — 7–15 objects per sample: procedural or photographic texture inside a random alpha
  mask (ellipse, polygon/star, smooth blob, ring, glyph, the ``skimage`` horse silhouette), size up to
  ``max_object_scale`` × a base size, pasted in random depth order so they occlude each other.
* **Motion** — every layer gets a random direction and a sub-pixel amount ``d``; the magnification
  factor ``alpha`` ≤ ``max_factor`` (100) and the magnified motion ``alpha·|d|`` ≤
  ``max_magnified_px`` (30 px), ``|d|`` ≤ ``max_input_px`` (10 px).  Frames are rendered at
  ``supersample`` × the output size (sprites and background warped to their sub-pixel positions) and
  downsampled with antialiased bicubic interpolation.
* **Subsets** — regular (background and objects move independently), blurred background (low
  contrast: motion cues only at object edges), background-only motion, and static scenes
  (``a = b = y``: noise must not be magnified).  Probabilities in :class:`SynthConfig`.
* **Frames** per sample: ``a`` (reference), ``b`` (current: layers moved by ``d``), ``y`` (layers
  moved by ``alpha·d`` from ``a``), and colour-perturbed copies ``b_pert``, ``y_pert`` (one random
  per-channel gain/offset shared by both, for Oh et al.'s regularisers), all quantised to ``uint8``.
* **Noise** — added to the *inputs only* at training time by :func:`add_input_noise` (Gaussian,
  Poisson/shot or a mix, then 8-bit quantisation), so noise-free frames stay available for the
  proxy model and the appearance loss.

Every sample is a pure function of ``(seed, index)`` (:meth:`SynthPairs.sample`), so training that
draws samples by index is reproducible and resumes exactly.  :func:`dataset_write` stores samples in
an HDF5 file (:class:`H5Pairs` reads it back) for runs that prefer a fixed data set.

References
----------
.. [1] T.-H. Oh et al., "Learning-based video motion magnification", ECCV 2018, §3.2.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import h5py
import numpy as np
import skimage.data
import torch
import torch.nn.functional as F
from scipy.spatial import cKDTree

from physio.atomic import AtomicFile
from physio.errors import InputError

__all__ = [
    "SynthConfig",
    "NoiseConfig",
    "SUBSETS",
    "TRAIN_IMAGES",
    "BENCH_IMAGES",
    "texture",
    "SynthPairs",
    "H5Pairs",
    "dataset_write",
    "add_input_noise",
    "make_batch",
    "open_pairs",
]

SUBSETS = ("regular", "blurred_background", "background_only", "static")
TRAIN_IMAGES = ("brick", "camera", "cell", "clock", "coins", "grass", "gravel", "hubble_deep_field",
                "immunohistochemistry", "moon", "page", "retina", "text", "colorwheel", "microaneurysms")
"""``skimage.data`` images used for training textures (shipped with scikit-image, no download)."""
BENCH_IMAGES = ("astronaut", "cat", "chelsea", "coffee", "rocket")
"""``skimage.data`` images reserved for the circle benchmark (never used in training)."""

H5_FORMAT = "physio-magnification-pairs"
FRAME_KEYS = ("a", "b", "y", "b_pert", "y_pert")


@dataclass
class SynthConfig:
    """Generator settings (``data:`` in ``configs/oh2018.yaml`` etc.).  Lengths in output pixels."""

    size: int = 64
    supersample: int = 4
    objects: tuple[int, int] = (7, 15)
    object_size: tuple[float, float] = (0.12, 0.3)  # base side as a fraction of `size`
    max_object_scale: float = 2.0
    max_factor: float = 100.0
    min_factor: float = 1.0
    max_input_px: float = 10.0
    max_magnified_px: float = 30.0
    p_blurred_background: float = 0.15
    p_background_only: float = 0.15
    p_static: float = 0.1
    p_image_texture: float = 0.4
    colour_gain: float = 0.3  # perturbation: per-channel gain in 1 ± colour_gain
    colour_offset: float = 0.1

    def __post_init__(self) -> None:
        self.objects = tuple(int(v) for v in self.objects)
        self.object_size = tuple(float(v) for v in self.object_size)
        if self.size < 16 or self.size % 4:
            raise InputError(f"data size must be a multiple of 4 and ≥ 16, got {self.size}")
        if not 1 <= self.supersample <= 16:
            raise InputError(f"supersample must be in [1, 16], got {self.supersample}")
        if len(self.objects) != 2 or not 0 <= self.objects[0] <= self.objects[1]:
            raise InputError(f"objects must be (min, max) with 0 ≤ min ≤ max, got {self.objects}")
        if not 1.0 <= self.min_factor <= self.max_factor:
            raise InputError(f"need 1 ≤ min_factor ≤ max_factor, got {self.min_factor}, {self.max_factor}")
        if self.max_input_px <= 0 or self.max_magnified_px <= 0:
            raise InputError("max_input_px and max_magnified_px must be > 0")
        ps = (self.p_blurred_background, self.p_background_only, self.p_static)
        if min(ps) < 0 or sum(ps) > 1:
            raise InputError(f"subset probabilities must be ≥ 0 and sum to ≤ 1, got {ps}")


@dataclass
class NoiseConfig:
    """Input noise added at training time (``noise:`` in the configs); intensities in ``[0, 1]`` units.

    ``kind``: ``"none"``, ``"gaussian"`` (σ ~ U(0, ``gaussian_sigma``)), ``"poisson"`` (shot noise
    with a photon count ~ log-U(``poisson_photons``)) or ``"mixed"`` (either, per sample).  With
    probability ``p_clean`` a sample gets no noise.  ``quantize`` rounds the noisy input to 8 bits.
    """

    kind: str = "mixed"
    gaussian_sigma: float = 0.04
    poisson_photons: tuple[float, float] = (300.0, 30000.0)
    p_clean: float = 0.1
    quantize: bool = True

    def __post_init__(self) -> None:
        self.poisson_photons = tuple(float(v) for v in self.poisson_photons)
        if self.kind not in ("none", "gaussian", "poisson", "mixed"):
            raise InputError(f"noise kind must be none, gaussian, poisson or mixed, got {self.kind!r}")
        if self.gaussian_sigma < 0 or not 0 <= self.p_clean <= 1 or min(self.poisson_photons) <= 0:
            raise InputError("noise: gaussian_sigma ≥ 0, 0 ≤ p_clean ≤ 1 and poisson_photons > 0 required")


# --------------------------------------------------------------------------------------------------
# textures


@lru_cache(maxsize=None)
def _skimage_image(name: str) -> np.ndarray:
    """A ``skimage.data`` image as float32 ``(H, W, 3)`` in [0, 1] (grey images repeated)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            im = getattr(skimage.data, name)()
        except Exception as exc:  # pragma: no cover - depends on the installed scikit-image
            raise InputError(f"skimage.data.{name} is not available offline: {exc}") from None
    im = np.asarray(im)
    if im.dtype == bool:
        im = im.astype(np.float32)
    elif im.dtype == np.uint8:
        im = im.astype(np.float32) / 255.0
    else:
        im = im.astype(np.float32)
        im = (im - im.min()) / max(float(im.max() - im.min()), 1e-6)
    if im.ndim == 2:
        im = np.repeat(im[..., None], 3, axis=2)
    return np.ascontiguousarray(im[..., :3])


@lru_cache(maxsize=None)
def _is_grey(name: str) -> bool:
    im = _skimage_image(name)
    return bool(np.allclose(im[..., 0], im[..., 1]) and np.allclose(im[..., 1], im[..., 2]))


def _random_colour(rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(0.0, 1.0, 3).astype(np.float32)


def _palette(v: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Map a scalar field in [0, 1] through a random colour ramp of 2–4 colours."""
    n = int(rng.integers(2, 5))
    stops = np.sort(np.concatenate([[0.0, 1.0], rng.uniform(0, 1, n - 2)]))
    cols = np.stack([_random_colour(rng) for _ in range(n)])
    out = np.empty(v.shape + (3,), np.float32)
    for c in range(3):
        out[..., c] = np.interp(v, stops, cols[:, c])
    return out


def _normalise(v: np.ndarray) -> np.ndarray:
    lo, hi = np.percentile(v, 1), np.percentile(v, 99)
    return np.clip((v - lo) / max(hi - lo, 1e-6), 0, 1).astype(np.float32)


def _fractal(rng, h, w) -> np.ndarray:
    beta = rng.uniform(0.6, 2.2)
    acc = np.zeros((h, w), np.float32)
    n = max(h, w)
    k = 0
    while 2**k <= n:
        cells = 2**k + 1
        grid = rng.standard_normal((cells, cells)).astype(np.float32)
        acc += cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC) * (2.0 ** (-k * beta / 2))
        k += 1
    return _normalise(acc)


def _coords(rng, h, w):
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    th = rng.uniform(0, np.pi)
    return xx * np.cos(th) + yy * np.sin(th), -xx * np.sin(th) + yy * np.cos(th)


def texture(rng: np.random.Generator, h: int, w: int, images: tuple[str, ...] = TRAIN_IMAGES,
            p_image: float = 0.4, kind: str | None = None) -> np.ndarray:
    """A random colour texture, float32 ``(h, w, 3)`` in [0, 1].

    ``kind`` forces one of ``"image"``, ``"fractal"``, ``"grating"``, ``"checker"``, ``"voronoi"``,
    ``"ellipses"``, ``"gradient"``; otherwise ``"image"`` with probability ``p_image`` (when
    ``images`` is not empty) and a procedural kind else.
    """
    if kind is None:
        if images and rng.random() < p_image:
            kind = "image"
        else:
            kind = str(rng.choice(["fractal", "grating", "checker", "voronoi", "ellipses", "gradient"]))
    if kind == "image":
        name = str(rng.choice(list(images)))
        src = _skimage_image(name)
        sh, sw = src.shape[:2]
        zoom = rng.uniform(0.5, 2.0)
        ch, cw = min(sh, max(8, int(h / zoom))), min(sw, max(8, int(w / zoom)))
        y0, x0 = int(rng.integers(0, sh - ch + 1)), int(rng.integers(0, sw - cw + 1))
        t = cv2.resize(src[y0 : y0 + ch, x0 : x0 + cw], (w, h), interpolation=cv2.INTER_CUBIC)
        if rng.random() < 0.5:
            t = t[:, ::-1]
        if _is_grey(name) or rng.random() < 0.3:  # tint grey images / recolour
            t = _palette(t.mean(axis=2), rng)
        return np.clip(t, 0, 1).astype(np.float32)
    if kind == "fractal":
        if rng.random() < 0.5:
            return _palette(_fractal(rng, h, w), rng)
        return np.stack([_fractal(rng, h, w) for _ in range(3)], axis=2)
    if kind == "grating":
        u, _ = _coords(rng, h, w)
        period = rng.uniform(4.0, max(6.0, min(h, w) / 2))
        v = 0.5 + 0.5 * np.sin(2 * np.pi * u / period + rng.uniform(0, 2 * np.pi))
        if rng.random() < 0.4:
            v = (v > 0.5).astype(np.float32)
        return _palette(v, rng)
    if kind == "checker":
        u, v = _coords(rng, h, w)
        s = rng.uniform(3.0, max(4.0, min(h, w) / 3))
        m = ((np.floor(u / s) + np.floor(v / s)) % 2).astype(np.float32)
        c0, c1 = _random_colour(rng), _random_colour(rng)
        return (c0 * (1 - m[..., None]) + c1 * m[..., None]).astype(np.float32)
    if kind == "voronoi":
        n = int(rng.integers(6, 60))
        pts = rng.uniform(0, 1, (n, 2)) * [h, w]
        yy, xx = np.mgrid[0:h, 0:w]
        _, lab = cKDTree(pts).query(np.stack([yy.ravel(), xx.ravel()], 1))
        cols = rng.uniform(0, 1, (n, 3)).astype(np.float32)
        return cols[lab].reshape(h, w, 3)
    if kind == "ellipses":
        img = np.empty((h, w, 3), np.float32)
        img[:] = _random_colour(rng)
        for _ in range(int(rng.integers(10, 40))):
            c = (int(rng.integers(0, w)), int(rng.integers(0, h)))
            ax = (int(rng.integers(2, max(3, w // 4))), int(rng.integers(2, max(3, h // 4))))
            cv2.ellipse(img, c, ax, float(rng.uniform(0, 180)), 0, 360, _random_colour(rng).tolist(), -1, cv2.LINE_AA)
        return img
    if kind == "gradient":
        u, _ = _coords(rng, h, w)
        v = _normalise(u) * rng.uniform(0.3, 1.0) + 0.3 * _fractal(rng, h, w)
        return _palette(np.clip(v, 0, 1), rng)
    raise InputError(f"unknown texture kind {kind!r}")


# --------------------------------------------------------------------------------------------------
# foreground objects


def _mask(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A random alpha mask, float32 ``(h, w)`` in [0, 1], drawn at the given (high) resolution."""
    m = np.zeros((h, w), np.float32)
    kind = rng.choice(["ellipse", "polygon", "blob", "ring", "glyph", "horse"], p=[0.25, 0.25, 0.2, 0.1, 0.1, 0.1])
    cx, cy = w / 2, h / 2
    if kind == "ellipse":
        cv2.ellipse(m, (int(cx), int(cy)), (int(w * rng.uniform(0.25, 0.5)), int(h * rng.uniform(0.25, 0.5))),
                    float(rng.uniform(0, 180)), 0, 360, 1.0, -1, cv2.LINE_AA)
    elif kind == "polygon":
        n = int(rng.integers(3, 10))
        ang = np.sort(rng.uniform(0, 2 * np.pi, n))
        rad = rng.uniform(0.2, 0.5, n) if rng.random() < 0.5 else np.full(n, 0.45)
        pts = np.stack([cx + rad * w * np.cos(ang), cy + rad * h * np.sin(ang)], 1)
        cv2.fillPoly(m, [np.round(pts).astype(np.int32)], 1.0, cv2.LINE_AA)
    elif kind == "blob":
        f = _fractal(rng, max(4, h // 4), max(4, w // 4))
        yy, xx = np.mgrid[0 : f.shape[0], 0 : f.shape[1]]
        r = np.hypot((yy - f.shape[0] / 2) / f.shape[0], (xx - f.shape[1] / 2) / f.shape[1])
        f = cv2.resize(f - 1.6 * r, (w, h), interpolation=cv2.INTER_CUBIC)
        m = (f > np.percentile(f, rng.uniform(40, 70))).astype(np.float32)
    elif kind == "ring":
        r_out = min(h, w) * rng.uniform(0.35, 0.5)
        cv2.circle(m, (int(cx), int(cy)), int(r_out), 1.0, -1, cv2.LINE_AA)
        cv2.circle(m, (int(cx), int(cy)), int(r_out * rng.uniform(0.3, 0.8)), 0.0, -1, cv2.LINE_AA)
    elif kind == "glyph":
        ch = chr(int(rng.integers(ord("A"), ord("Z") + 1)))
        scale = min(h, w) / 30.0
        cv2.putText(m, ch, (int(w * 0.1), int(h * 0.85)), cv2.FONT_HERSHEY_SIMPLEX, scale, 1.0,
                    max(1, int(scale * 3)), cv2.LINE_AA)
    else:
        horse = _skimage_image("horse")[..., 0] < 0.5  # the silhouette is dark on white
        m = cv2.resize(horse.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA)
        if rng.random() < 0.5:
            m = m[:, ::-1]
    return np.clip(m, 0, 1).astype(np.float32)


@dataclass
class _Sprite:
    rgb: np.ndarray  # (h, w, 3) high resolution
    alpha: np.ndarray  # (h, w)
    x: float  # top-left, high-resolution pixels, in the reference frame
    y: float
    d: np.ndarray  # motion (dx, dy) in output pixels


def _paste(canvas: np.ndarray, sp: _Sprite, x: float, y: float) -> None:
    """Alpha-composite ``sp`` over ``canvas`` (in place) with its top-left at sub-pixel ``(x, y)``."""
    h, w = sp.alpha.shape
    ix, iy = math.floor(x), math.floor(y)
    fx, fy = x - ix, y - iy
    M = np.float32([[1, 0, fx], [0, 1, fy]])
    size = (w + 2, h + 2)
    premult = cv2.warpAffine(sp.rgb * sp.alpha[..., None], M, size, flags=cv2.INTER_LINEAR, borderValue=0)
    alpha = cv2.warpAffine(sp.alpha, M, size, flags=cv2.INTER_LINEAR, borderValue=0)
    H, W = canvas.shape[:2]
    x0, y0 = max(ix, 0), max(iy, 0)
    x1, y1 = min(ix + w + 2, W), min(iy + h + 2, H)
    if x1 <= x0 or y1 <= y0:
        return
    sx, sy = x0 - ix, y0 - iy
    a = alpha[sy : sy + y1 - y0, sx : sx + x1 - x0, None]
    region = canvas[y0:y1, x0:x1]
    region *= 1.0 - a
    region += premult[sy : sy + y1 - y0, sx : sx + x1 - x0]


def _shift_crop(img: np.ndarray, dx: float, dy: float, margin: int, out_hw: tuple[int, int]) -> np.ndarray:
    """Crop ``out_hw`` from ``img`` starting at ``(margin, margin)``, content moved by ``(dx, dy)``."""
    M = np.float32([[1, 0, dx - margin], [0, 1, dy - margin]])
    return cv2.warpAffine(img, M, (out_hw[1], out_hw[0]), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)


def _downsample(frames_hi: list[np.ndarray], size: int) -> list[np.ndarray]:
    """Antialiased bicubic downsampling of high-resolution float frames to ``size × size``."""
    t = torch.from_numpy(np.stack(frames_hi)).permute(0, 3, 1, 2)
    out = F.interpolate(t, size=(size, size), mode="bicubic", antialias=True, align_corners=False)
    return [np.clip(f, 0, 1) for f in out.permute(0, 2, 3, 1).numpy()]


def _quantise(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x * 255.0), 0, 255).astype(np.uint8)


class SynthPairs:
    """On-the-fly generator: ``sample(i)`` is a pure function of ``(seed, i)``.

    Parameters
    ----------
    cfg : SynthConfig
    seed : int
    images : tuple of str
        ``skimage.data`` images textures may come from (default :data:`TRAIN_IMAGES`).
    """

    def __init__(self, cfg: SynthConfig | None = None, seed: int = 0, images: tuple[str, ...] = TRAIN_IMAGES) -> None:
        self.cfg = cfg or SynthConfig()
        self.seed = int(seed)
        self.images = tuple(images)
        bad = [n for n in self.images if n in BENCH_IMAGES]
        if bad:
            raise InputError(f"training images {bad} are reserved for the circle benchmark")

    def __len__(self) -> int:
        return 2**62  # effectively infinite; indices are wrapped by nobody

    def __getitem__(self, index: int) -> dict:
        return self.sample(index)

    def _subset(self, rng) -> str:
        c = self.cfg
        u = rng.random()
        for name, p in (("blurred_background", c.p_blurred_background), ("background_only", c.p_background_only),
                        ("static", c.p_static)):
            if u < p:
                return name
            u -= p
        return "regular"

    def _motion(self, rng, alpha: float) -> np.ndarray:
        c = self.cfg
        mag = rng.uniform(0.0, c.max_magnified_px) / alpha
        mag = min(mag, c.max_input_px)
        th = rng.uniform(0, 2 * np.pi)
        return np.array([mag * np.cos(th), mag * np.sin(th)])

    def sample(self, index: int, subset: str | None = None) -> dict:
        """Sample ``index``: ``uint8 (H, W, 3)`` frames ``a, b, y, b_pert, y_pert`` and metadata.

        Metadata: ``alpha`` (float), ``subset`` (name), ``motion_px`` (largest input motion of any
        layer, output pixels) and ``magnified_px`` (``alpha × motion_px``), ``displacements`` (each
        layer's input motion (dx, dy); background first).
        """
        c = self.cfg
        rng = np.random.default_rng([self.seed, int(index)])
        subset = subset or self._subset(rng)
        if subset not in SUBSETS:
            raise InputError(f"unknown subset {subset!r}; valid: {', '.join(SUBSETS)}")
        alpha = float(rng.uniform(c.min_factor, c.max_factor))
        S, n = c.supersample, c.size
        hi = n * S
        margin = int(math.ceil(c.max_magnified_px * S)) + 4

        # background, large enough to move by the magnified motion
        bg_lo = texture(rng, (hi + 2 * margin) // S + 2, (hi + 2 * margin) // S + 2, self.images, c.p_image_texture)
        bg = cv2.resize(bg_lo, (hi + 2 * margin, hi + 2 * margin), interpolation=cv2.INTER_CUBIC)
        if subset == "blurred_background":
            sigma = rng.uniform(2.0, 6.0) * S
            bg = cv2.GaussianBlur(bg, (0, 0), sigma)
            bg = (bg - bg.mean((0, 1))) * rng.uniform(0.2, 0.6) + bg.mean((0, 1))
        d_bg = np.zeros(2) if subset == "static" else self._motion(rng, alpha)

        sprites: list[_Sprite] = []
        for _ in range(int(rng.integers(c.objects[0], c.objects[1] + 1))):
            side = n * rng.uniform(*c.object_size) * rng.uniform(0.5, c.max_object_scale)
            aspect = rng.uniform(0.6, 1.6)
            h_s = max(4, int(side * S * math.sqrt(aspect)))
            w_s = max(4, int(side * S / math.sqrt(aspect)))
            tex = texture(rng, max(4, h_s // S + 1), max(4, w_s // S + 1), self.images, c.p_image_texture)
            rgb = cv2.resize(tex, (w_s, h_s), interpolation=cv2.INTER_CUBIC)
            alpha_m = _mask(rng, h_s, w_s)
            x = rng.uniform(-0.1 * hi, 1.1 * hi) - w_s / 2
            y = rng.uniform(-0.1 * hi, 1.1 * hi) - h_s / 2
            d = np.zeros(2) if subset in ("static", "background_only") else self._motion(rng, alpha)
            sprites.append(_Sprite(np.clip(rgb, 0, 1).astype(np.float32), alpha_m, x, y, d))

        def render(scale: float) -> np.ndarray:
            canvas = _shift_crop(bg, d_bg[0] * scale * S, d_bg[1] * scale * S, margin, (hi, hi)).copy()
            for sp in sprites:
                _paste(canvas, sp, sp.x + sp.d[0] * scale * S, sp.y + sp.d[1] * scale * S)
            return canvas

        fa, fb, fy = _downsample([render(0.0), render(1.0), render(alpha)], n)
        gain = 1.0 + rng.uniform(-c.colour_gain, c.colour_gain, 3)
        offset = rng.uniform(-c.colour_offset, c.colour_offset, 3)
        disp = np.array([d_bg] + [sp.d for sp in sprites], dtype=np.float32)
        motion = float(np.hypot(disp[:, 0], disp[:, 1]).max())
        return {
            "a": _quantise(fa), "b": _quantise(fb), "y": _quantise(fy),
            "b_pert": _quantise(fb * gain + offset), "y_pert": _quantise(fy * gain + offset),
            "alpha": alpha, "subset": subset, "motion_px": motion, "magnified_px": alpha * motion,
            "displacements": disp,
        }


# --------------------------------------------------------------------------------------------------
# HDF5 storage


def dataset_write(path: str | os.PathLike, n: int, cfg: SynthConfig | None = None, seed: int = 0,
                  progress=None) -> Path:
    """Generate ``n`` samples of :class:`SynthPairs` (indices ``0..n-1``) into HDF5 file ``path``.

    Written to a hidden temporary file and renamed on success.  Layout: ``a``, ``b``, ``y``,
    ``b_pert``, ``y_pert`` (``uint8 (n, H, W, 3)``), ``alpha``, ``motion_px``, ``magnified_px``
    (``float32 (n,)``), ``subset`` (``int8`` index into :data:`SUBSETS`); attributes ``format``,
    ``config`` (JSON), ``seed``.  ``progress`` is called with 1 after each sample.
    """
    cfg = cfg or SynthConfig()
    if n < 1:
        raise InputError(f"number of samples must be ≥ 1, got {n}")
    gen = SynthPairs(cfg, seed)
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    s = cfg.size
    with AtomicFile(p) as af, h5py.File(af.tmp, "w") as f:
        f.attrs["format"] = H5_FORMAT
        f.attrs["config"] = json.dumps(dataclasses.asdict(cfg))
        f.attrs["seed"] = seed
        ds = {k: f.create_dataset(k, (n, s, s, 3), np.uint8, chunks=(1, s, s, 3), compression="lzf")
              for k in FRAME_KEYS}
        meta = {k: f.create_dataset(k, (n,), np.float32) for k in ("alpha", "motion_px", "magnified_px")}
        sub = f.create_dataset("subset", (n,), np.int8)
        for i in range(n):
            smp = gen.sample(i)
            for k in FRAME_KEYS:
                ds[k][i] = smp[k]
            for k in meta:
                meta[k][i] = smp[k]
            sub[i] = SUBSETS.index(smp["subset"])
            if progress is not None:
                progress(1)
    return p


class H5Pairs:
    """Samples stored by :func:`dataset_write`; ``sample(i)`` wraps ``i`` modulo the file's length."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise InputError(f"{self.path}: training data file not found")
        self._f = h5py.File(self.path, "r")
        if self._f.attrs.get("format") != H5_FORMAT:
            raise InputError(f"{self.path}: not a {H5_FORMAT} file (format={self._f.attrs.get('format')!r})")
        self.n = int(self._f["alpha"].shape[0])
        self.cfg = SynthConfig(**json.loads(self._f.attrs["config"]))

    def __len__(self) -> int:
        return self.n

    def sample(self, index: int) -> dict:
        i = int(index) % self.n
        f = self._f
        out = {k: f[k][i] for k in FRAME_KEYS}
        out.update(alpha=float(f["alpha"][i]), motion_px=float(f["motion_px"][i]),
                   magnified_px=float(f["magnified_px"][i]), subset=SUBSETS[int(f["subset"][i])])
        return out

    def close(self) -> None:
        self._f.close()


def open_pairs(data_file: str | None, cfg: SynthConfig, seed: int):
    """:class:`H5Pairs` on ``data_file`` when given, else :class:`SynthPairs` (on the fly)."""
    return H5Pairs(data_file) if data_file else SynthPairs(cfg, seed)


# --------------------------------------------------------------------------------------------------
# batches and noise


def add_input_noise(x01: torch.Tensor, cfg: NoiseConfig, gen: torch.Generator) -> torch.Tensor:
    """Noisy copy of ``x01`` ``(B, ...)`` in [0, 1]: per-sample noise kind and level, then quantised."""
    if cfg.kind == "none":
        return x01.clone()
    b = x01.shape[0]
    u = torch.rand(b, generator=gen)
    level = torch.rand(b, generator=gen)
    pick_poisson = torch.rand(b, generator=gen) < 0.5
    eps = torch.randn(x01.shape, generator=gen)
    out = x01.clone()
    lo, hi = math.log(cfg.poisson_photons[0]), math.log(cfg.poisson_photons[1])
    for i in range(b):
        if u[i] < cfg.p_clean:
            continue
        poisson = cfg.kind == "poisson" or (cfg.kind == "mixed" and bool(pick_poisson[i]))
        if poisson:
            photons = math.exp(lo + float(level[i]) * (hi - lo))
            out[i] = x01[i] + eps[i] * torch.sqrt(x01[i].clamp(min=0) / photons)
        else:
            out[i] = x01[i] + eps[i] * float(level[i]) * cfg.gaussian_sigma
    out = out.clamp(0, 1)
    if cfg.quantize:
        out = torch.round(out * 255.0) / 255.0
    return out


def _to_pm1(frames: list[np.ndarray]) -> torch.Tensor:
    t = torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).float() / 255.0
    return t


def make_batch(samples: list[dict], noise: NoiseConfig, gen: torch.Generator) -> dict:
    """Samples → a training batch of float tensors in [-1, 1] (see :mod:`.losses`), inputs noised."""
    batch = {}
    clean = {k: _to_pm1([s[k] for s in samples]) for k in FRAME_KEYS}
    for k in ("a", "b", "b_pert"):
        batch[k] = add_input_noise(clean[k], noise, gen) * 2 - 1
    batch["a_clean"], batch["b_clean"] = clean["a"] * 2 - 1, clean["b"] * 2 - 1
    batch["y"], batch["y_pert"] = clean["y"] * 2 - 1, clean["y_pert"] * 2 - 1
    batch["alpha"] = torch.tensor([s["alpha"] for s in samples], dtype=torch.float32)
    return batch
