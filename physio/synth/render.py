"""Per-frame rendering: move the scene's layers, composite, light, add sensor noise, quantise.

For a skin pixel the rendered colour follows the dichromatic reflection model of the DeepMag paper
(eq. 5–9)::

    C_k(t) = I0 · (1 + i(t)) · ( u_c·c0(x) ⊙ (1 + m(x) · p(t)) + u_s · s(x, yaw) ) + v_n(t)

with ``u_c·c0`` the stationary skin colour (albedo × static shading × yaw shading),
``m_k(x) = A · w(x) · u_p,k / u_p,G`` the relative pulsatile strength (so ``u_p·p(t)`` of eq. 6 is
``u_c·c0 ⊙ m · p(t)``), ``u_s·s`` a specular highlight that moves with the head, ``i(t)`` the
illumination variation and ``v_n`` Poisson–Gaussian sensor noise.  Non-skin pixels have ``m = 0``.

Geometry: each moving layer is warped (bilinear, ``cv2.warpAffine``) at the canvas resolution
(``supersample`` × output) and area-averaged down (``cv2.resize(INTER_AREA)``), so motions are
rendered with sub-pixel accuracy; the layers are then composited ("over", premultiplied alpha) at the
output resolution.  The body (neck + clothes) only moves vertically (breathing): it is area-averaged
at every sub-pixel phase of the canvas once, so a shift by an integer number of canvas rows is a
slice, and a fractional shift is the linear interpolation of two such slices (exactly bilinear
warping at the canvas resolution).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from physio.errors import InputError
from physio.synth.motion import HeadMotion
from physio.synth.participant import _as_generator
from physio.synth.scene import LIGHT_RGB, Layer, Scene

__all__ = ["Camera", "Timeline", "Composite", "Compositor", "NoiseBank", "expose", "motion_blur", "render_session"]

FACE_SHIFT_BACKHEAD = 0.12
"""The hair/side-of-head layer moves this fraction of the face's sideways yaw displacement."""


@dataclass(frozen=True)
class Camera:
    """Exposure, sensor noise and compression.

    Attributes
    ----------
    exposure : float
        ``I0``: the scene value 1.0 maps to ``255 · exposure`` digital numbers (DN).
    noise_shot : float
        Poisson part of the noise variance, DN per DN of signal (``var = shot · x + read²``).
    noise_read : float
        Gaussian read-noise standard deviation (DN).
    crf : int or None
        When set, every rendering is H.264-encoded at this constant rate factor and decoded back
        (yuv420p for even sizes); None keeps the raw frames.
    """

    exposure: float = 0.85
    noise_shot: float = 0.02
    noise_read: float = 1.0
    crf: int | None = None

    def __post_init__(self) -> None:
        if not 0 < self.exposure <= 2:
            raise InputError(f"exposure must be in (0, 2], got {self.exposure}")
        if self.noise_shot < 0 or self.noise_read < 0:
            raise InputError(f"noise parameters must be >= 0, got {self.noise_shot}, {self.noise_read}")
        if self.crf is not None and not 0 <= int(self.crf) <= 51:
            raise InputError(f"crf must be in 0..51 or None, got {self.crf}")


@dataclass(frozen=True)
class Timeline:
    """Everything that changes over a session, sampled at the frame times ``k / fps``.

    Attributes
    ----------
    pulse : numpy.ndarray
        ``(T,)`` z-scored blood-volume pulse ``p(t)``.
    resp : numpy.ndarray
        ``(T,)`` breathing, unit robust peak-to-peak (inhalation positive).
    illumination : numpy.ndarray
        ``(T,)`` relative illumination variation ``i(t)``.
    motion : HeadMotion
        Head yaw/translation/scale (translations in head heights).
    resp_px : float
        Peak-to-peak shoulder displacement of a unit breath, output px (upwards on inhalation).
    head_resp_ratio : float
        Head breathing displacement / shoulder breathing displacement.
    light_yaw_deg : float
        Yaw at which the specular highlight peaks.
    gains : numpy.ndarray or None
        ``(T, 3)`` per-channel camera gain (auto-exposure × white balance) of the realistic camera
        (:func:`camera_drift`); None: 1.
    blur : numpy.ndarray or None
        ``(T, 3)`` the head's motion during the exposure — ``(dx, dy)`` in head heights and yaw in
        radians, already × the exposure time's fraction of the frame interval — for motion blur
        (:func:`motion_blur`); None: no blur.
    """

    pulse: np.ndarray
    resp: np.ndarray
    illumination: np.ndarray
    motion: HeadMotion
    resp_px: float
    head_resp_ratio: float
    light_yaw_deg: float = 0.0
    gains: np.ndarray | None = None
    blur: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.pulse)


@dataclass
class Composite:
    """One frame before lighting and noise, at output resolution (scene units, float32).

    ``color`` is the stationary colour (diffuse + specular), ``pulse`` the pulsatile colour per unit
    ``p(t)``; ``skin``/``alpha``/``head``/``face`` are coverages in [0, 1] of skin, the whole person,
    the head (hair and face) and the face layer.
    """

    color: np.ndarray
    pulse: np.ndarray
    skin: np.ndarray
    alpha: np.ndarray
    head: np.ndarray
    face: np.ndarray


def _area_down(img: np.ndarray, ss: int) -> np.ndarray:
    if ss == 1:
        return img
    h, w = img.shape[:2]
    return cv2.resize(img, (w // ss, h // ss), interpolation=cv2.INTER_AREA)


class Compositor:
    """Composite a scene for given pose parameters (caches the body at integer shifts)."""

    def __init__(self, scene: Scene) -> None:
        self.scene = scene
        self.ss = ss = scene.supersample
        self.wc, self.hc = scene.canvas_size
        w, h = scene.size
        self._bg1 = np.dstack([_area_down(scene.background, ss), np.zeros((h, w), np.float32)])
        # the body stacks shifted down by r = 0..ss-1 canvas rows, area-averaged: a shift of
        # n = ss·q + r canvas rows is then an integer shift of q output rows of version r
        pad = scene.pad
        padq = -(-pad // ss) + 1  # padding in output rows
        top = padq * ss - pad  # extra canvas rows so the padded height is a multiple of ss
        rows = padq * 2 * ss + scene.body1.shape[0] - 2 * pad  # = (h + 2·padq)·ss
        self._padq = padq
        self._body = []
        for r in range(ss):
            b1 = np.zeros((rows, self.wc, 4), np.float32)
            b2 = np.zeros((rows, self.wc, 4), np.float32)
            # canvas row Y of the padded frame holds body row Y - r (body row index offset by pad)
            src0 = 0
            dst0 = top + r
            n = min(scene.body1.shape[0], rows - dst0)
            b1[dst0 : dst0 + n] = scene.body1[src0 : src0 + n]
            b2[dst0 : dst0 + n] = scene.body2[src0 : src0 + n]
            self._body.append((_area_down(b1, ss), _area_down(b2, ss)))
        self._h = h
        self._cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._xn = {}
        self._buf = {}
        self._spec4 = {}
        for name in ("backhead", "face"):
            layer: Layer = getattr(scene, name)
            w_l = layer.stack1.shape[1]
            self._xn[name] = (np.arange(w_l, dtype=np.float32) - layer.pivot[0]) / max(layer.half_width, 1.0)
            self._buf[name] = (np.empty_like(layer.stack1), np.empty_like(layer.stack2))
            if layer.spec is not None:  # [spec·u_s, 0] so adding the highlight is one pass
                s4 = np.zeros(layer.spec.shape + (4,), np.float32)
                s4[..., :3] = layer.spec[..., None] * LIGHT_RGB
                self._spec4[name] = s4

    # -- body ------------------------------------------------------------------------------------
    def _scene_at(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Background with the body moved down by ``n`` canvas rows composited over it (cached)."""
        hit = self._cache.get(n)
        if hit is not None:
            return hit
        b1, b2 = self._body_at(n)
        z1 = b1 + self._bg1 * (1.0 - b1[..., 3:4])
        if len(self._cache) >= 64:
            self._cache.pop(next(iter(self._cache)))
        self._cache[n] = (z1, np.ascontiguousarray(b2))
        return self._cache[n]

    def _body_at(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Body stacks (output resolution) moved down by ``n`` canvas rows."""
        q, r = divmod(int(n), self.ss)
        i0 = self._padq - q
        if i0 < 0 or i0 + self._h > self._body[r][0].shape[0] or abs(n) > self.scene.pad:
            raise InputError(
                f"body shift of {n / self.ss:.1f} px exceeds the scene's padding ({self.scene.pad / self.ss:.1f} px); "
                "build the scene with a larger max_shift"
            )
        b1, b2 = self._body[r]
        return b1[i0 : i0 + self._h], b2[i0 : i0 + self._h]

    # -- head layers -------------------------------------------------------------------------------
    def _warp(self, name: str, yaw_rad: float, scale: float, shift: tuple[float, float], xscale: float,
              shade: tuple[float, float], spec_gain: float):  # fmt: skip
        layer: Layer = getattr(self.scene, name)
        buf1, buf2 = self._buf[name]
        sh = np.clip(shade[0] - shade[1] * self._xn[name], 0.25, 1.3).astype(np.float32)
        row = np.ones((len(sh), 4), np.float32)
        row[:, :3] = sh[:, None]
        np.multiply(layer.stack1, row, out=buf1)
        np.multiply(layer.stack2, row, out=buf2)
        if name in self._spec4 and spec_gain > 1e-4:
            cv2.scaleAdd(self._spec4[name], spec_gain, buf1, dst=buf1)
        ox, oy = layer.origin
        px, py = layer.pivot
        a, b = scale * xscale, scale
        tx = ox + px + shift[0] - a * px
        ty = oy + py + shift[1] - b * py
        h_l, w_l = layer.stack1.shape[:2]
        xs = (tx, tx + a * w_l)
        ys = (ty, ty + b * h_l)
        ss = self.ss
        x0 = max(0, int(np.floor(min(xs) / ss)) * ss)
        x1 = min(self.wc, int(np.ceil(max(xs) / ss)) * ss)
        y0 = max(0, int(np.floor(min(ys) / ss)) * ss)
        y1 = min(self.hc, int(np.ceil(max(ys) / ss)) * ss)
        if x1 <= x0 or y1 <= y0:
            return None
        m = np.array([[a, 0.0, tx - x0], [0.0, b, ty - y0]], np.float64)
        dsize = (x1 - x0, y1 - y0)
        w1 = cv2.warpAffine(buf1, m, dsize, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        w2 = cv2.warpAffine(buf2, m, dsize, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        return (x0, y0, x1, y1), w1, w2

    def compose(self, yaw_deg: float, dx: float, dy: float, scale: float, body_dy: float,
                light_yaw_deg: float = 0.0) -> Composite:  # fmt: skip
        """Composite one frame.

        Parameters
        ----------
        yaw_deg : float
            Head yaw (degrees).
        dx, dy : float
            Head translation in output px (including the head's breathing displacement).
        scale : float
            Relative head size.
        body_dy : float
            Vertical body (neck + torso) displacement in output px, positive downwards.
        light_yaw_deg : float
            Yaw of maximal specular reflection.
        """
        ss = self.ss
        sc = self.scene
        bd = body_dy * ss
        n = int(np.floor(bd))
        f = float(bd - n)
        # body over the static background: compositing is linear in the body, so interpolating two
        # composites at integer canvas shifts equals compositing the bilinearly shifted body
        a1, a2 = self._scene_at(n)
        if f > 1e-6:
            b1, b2 = self._scene_at(n + 1)
            z1 = cv2.addWeighted(a1, 1.0 - f, b1, f, 0.0)
            z2 = cv2.addWeighted(a2, 1.0 - f, b2, f, 0.0)
        else:
            z1, z2 = a1.copy(), a2.copy()
        h, w = z1.shape[:2]
        head = np.zeros((h, w), np.float32)
        face = np.zeros((h, w), np.float32)
        th = np.deg2rad(yaw_deg)
        sin_t, cos_t = float(np.sin(th)), float(np.cos(th))
        r = sc.yaw_radius
        spec_gain = float(np.exp(-(((yaw_deg - light_yaw_deg) / 20.0) ** 2)))
        bh = self._warp("backhead", th, scale, (FACE_SHIFT_BACKHEAD * r * sin_t + dx * ss, dy * ss), 1.0,
                        (1 - 0.1 * (1 - cos_t), 0.15 * sin_t), 0.0)  # fmt: skip
        fc = self._warp("face", th, scale, (r * sin_t + dx * ss, dy * ss), max(cos_t, 0.2),
                        (1 - 0.25 * (1 - cos_t), 0.35 * sin_t), spec_gain)  # fmt: skip
        if fc is not None:
            # the face never leaves the head's silhouette
            (fx0, fy0, fx1, fy1), f1, f2 = fc
            clip = np.zeros((fy1 - fy0, fx1 - fx0), np.float32)
            if bh is not None:
                (bx0, by0, bx1, by1), h1, _ = bh
                ix0, iy0, ix1, iy1 = max(fx0, bx0), max(fy0, by0), min(fx1, bx1), min(fy1, by1)
                if ix1 > ix0 and iy1 > iy0:
                    src_alpha = h1[iy0 - by0 : iy1 - by0, ix0 - bx0 : ix1 - bx0, 3]
                    clip[iy0 - fy0 : iy1 - fy0, ix0 - fx0 : ix1 - fx0] = src_alpha
            clip4 = cv2.merge([clip, clip, clip, clip])
            cv2.multiply(f1, clip4, dst=f1)
            cv2.multiply(f2, clip4, dst=f2)
            fc = ((fx0, fy0, fx1, fy1), f1, f2)
        for which, warped in (("head", bh), ("face", fc)):
            if warped is None:
                continue
            (x0, y0, x1, y1), l1, l2 = warped
            d1 = _area_down(l1, ss)
            d2 = _area_down(l2, ss)
            r0, c0 = y0 // ss, x0 // ss
            sl = (slice(r0, r0 + d1.shape[0]), slice(c0, c0 + d1.shape[1]))
            keep = 1.0 - d1[..., 3:4]
            for z, d in ((z1, d1), (z2, d2)):
                zs = z[sl]
                np.multiply(zs, keep, out=zs)
                zs += d
            if which == "head":
                head[sl] = d1[..., 3]
            else:
                face[sl] = d1[..., 3]
        return Composite(color=z1[..., :3], pulse=z2[..., :3], skin=z2[..., 3], alpha=z1[..., 3], head=head, face=face)


class NoiseBank:
    """Unit Gaussian noise frames for a session: windows at random offsets into one i.i.d. bank.

    Drawing a fresh normal field per frame costs more than the rest of the rendering; a bank of
    ``max(2**22, 8·H·W·3)`` samples read at per-frame random offsets gives pixel-wise independent
    noise across frames (two frames share a value at the same pixel only if their offsets coincide).
    """

    def __init__(self, shape: tuple[int, int, int], n_frames: int, rng=None) -> None:
        g = _as_generator(rng)
        self.shape = tuple(shape)
        size = int(np.prod(shape))
        self.bank = g.standard_normal(max(1 << 22, 8 * size), dtype=np.float32)
        self.offsets = g.integers(0, len(self.bank) - size, int(n_frames))

    def __getitem__(self, k: int) -> np.ndarray:
        o = int(self.offsets[k])
        return self.bank[o : o + int(np.prod(self.shape))].reshape(self.shape)


def expose(comp: Composite, p: float, gains: Sequence[float], illumination: float, camera: Camera,
           z: np.ndarray | None, want_term: bool = False,
           rgb_gain: np.ndarray | None = None) -> tuple[list[np.ndarray], np.ndarray | None]:  # fmt: skip
    """Light, add noise and quantise a composite for several pulse gains.

    ``DN = 255 · exposure · (1 + i) · g_c · (color + gain · p · pulse) + σ · z`` with
    ``σ² = noise_shot · DN_plain + noise_read²`` computed from the gain-1 image, so every gain gets the
    *same* additive noise; ``g_c`` is the camera's per-channel gain ``rgb_gain`` (auto-exposure and
    white balance of the realistic camera; 1 without).  Returns the uint8 frames (rounded, saturated)
    and, if ``want_term``, the pulsatile term ``255 · exposure · (1 + i) · g_c · p · pulse`` in DN (float32).
    """
    k = 255.0 * camera.exposure * (1.0 + illumination)
    color, pulse = comp.color, comp.pulse
    if rgb_gain is not None:  # per-channel gain: scale the scene, then expose as usual
        g = np.asarray(rgb_gain, np.float32).reshape(1, 1, 3)
        color, pulse = color * g, pulse * g
    plain = cv2.addWeighted(color, k, pulse, k * p, 0.0)
    noise = None
    if z is not None and (camera.noise_shot > 0 or camera.noise_read > 0):
        var = cv2.addWeighted(plain, camera.noise_shot, plain, 0.0, camera.noise_read**2)
        noise = cv2.multiply(cv2.sqrt(cv2.max(var, 0.0)), z)
    outs = []
    for g in gains:
        x = plain if g == 1.0 else cv2.addWeighted(color, k, pulse, k * p * g, 0.0)
        outs.append(cv2.add(x, noise, dtype=cv2.CV_8U) if noise is not None else cv2.add(x, 0.0, dtype=cv2.CV_8U))
    term = pulse * np.float32(k * p) if want_term else None
    return outs, term


FACE_HALF_WIDTH = 0.4
"""Half the face's width in head heights: how far a yaw of one radian moves the face's side, for blur."""


def motion_blur(comp: Composite, blur: np.ndarray, head_px: float) -> Composite:
    """The composite as the sensor integrates it while the head moves: the person's colour and pulse
    smeared along the head's motion during the exposure (a line kernel of that length), the static
    background kept sharp outside the smeared person.  ``blur``: one row of :attr:`Timeline.blur`;
    ``head_px``: the head height in output pixels.  The coverage masks (ground truth) are not blurred."""
    vx = (float(blur[0]) + FACE_HALF_WIDTH * float(blur[2])) * head_px
    vy = float(blur[1]) * head_px
    length = float(np.hypot(vx, vy))
    if length < 0.5:
        return comp
    half = int(np.ceil(length / 2))
    ker = np.zeros((2 * half + 1, 2 * half + 1), np.float32)
    c0 = float(half)
    ends = [(int(round((c0 + sgn * vx / 2) * 16)), int(round((c0 + sgn * vy / 2) * 16))) for sgn in (-1, 1)]
    cv2.line(ker, ends[0], ends[1], 1.0, 1, cv2.LINE_AA, shift=4)  # sub-pixel end points (4 fractional bits)
    ker /= ker.sum()
    m = np.clip(cv2.filter2D(comp.alpha, -1, ker, borderType=cv2.BORDER_REPLICATE), 0.0, 1.0)[..., None]
    color = m * cv2.filter2D(comp.color, -1, ker, borderType=cv2.BORDER_REPLICATE) + (1 - m) * comp.color
    pulse = m * cv2.filter2D(comp.pulse, -1, ker, borderType=cv2.BORDER_REPLICATE) + (1 - m) * comp.pulse
    return Composite(color=color.astype(np.float32), pulse=pulse.astype(np.float32), skin=comp.skin,
                     alpha=comp.alpha, head=comp.head, face=comp.face)


def render_session(
    scene: Scene,
    timeline: Timeline,
    variants: Sequence[tuple[str, float, float]],
    camera: Camera,
    noise: NoiseBank | None,
    chunk: int = 32,
    pulse_term: bool = False,
) -> Iterator[dict]:
    """Render a session in chunks.

    Parameters
    ----------
    variants : sequence of (name, pulse_gain, resp_gain)
        Renderings to produce, e.g. ``[("frames", 1, 1), ("pulse_x10", 10, 1), ("resp_x10", 1, 10)]``.
        Exactly one must be ``(…, 1, 1)``: masks and the pulsatile term refer to it.
    noise : NoiseBank or None
        Per-frame unit noise (None: noise-free).

    Yields
    ------
    dict
        ``{"start": int, "videos": {name: (t, H, W, 3) uint8}, "masks": {name: (t, H, W) bool},
        "pulse_term": (t, H, W, 3) float32 (only if asked)}``.
    """
    plain = [v for v in variants if float(v[1]) == 1.0 and float(v[2]) == 1.0]
    if len(plain) != 1:
        raise InputError(f"exactly one variant must have pulse and respiration gain 1, got {list(variants)}")
    by_resp: dict[float, list[tuple[str, float]]] = {}
    for name, pg, rg in variants:
        by_resp.setdefault(float(rg), []).append((name, float(pg)))
    comp = Compositor(scene)
    comp_resp = {rg: (comp if rg == 1.0 else Compositor(scene)) for rg in by_resp}
    mo = timeline.motion
    hh = scene.head_height / scene.supersample  # head height in output px
    w, h = scene.size
    T = len(timeline)
    for start in range(0, T, chunk):
        stop = min(T, start + chunk)
        t = stop - start
        vids = {name: np.empty((t, h, w, 3), np.uint8) for name, _, _ in variants}
        masks = {m: np.empty((t, h, w), bool) for m in ("skin", "face", "torso", "background")}
        terms = np.empty((t, h, w, 3), np.float32) if pulse_term else None
        for j in range(t):
            k = start + j
            z = noise[k] if noise is not None else None
            for rg, items in by_resp.items():
                breath = -timeline.resp_px * float(timeline.resp[k]) * rg  # px, negative = up
                c = comp_resp[rg].compose(
                    float(mo.yaw_deg[k]),
                    float(mo.dx[k]) * hh,
                    float(mo.dy[k]) * hh + breath * timeline.head_resp_ratio,
                    float(mo.scale[k]),
                    breath,
                    timeline.light_yaw_deg,
                )
                shown = c if timeline.blur is None else motion_blur(c, timeline.blur[k], hh)
                frames, term = expose(
                    shown,
                    float(timeline.pulse[k]),
                    [g for _, g in items],
                    float(timeline.illumination[k]),
                    camera,
                    z,
                    want_term=terms is not None and rg == 1.0,
                    rgb_gain=None if timeline.gains is None else timeline.gains[k],
                )
                for (name, _), fr in zip(items, frames):
                    vids[name][j] = fr
                if rg == 1.0:
                    masks["skin"][j] = c.skin >= 0.5
                    masks["face"][j] = c.face >= 0.5
                    masks["torso"][j] = (c.alpha - c.head) >= 0.5
                    masks["background"][j] = c.alpha < 0.5
                    if terms is not None:
                        terms[j] = term
        out = {"start": start, "videos": vids, "masks": masks}
        if terms is not None:
            out["pulse_term"] = terms
        yield out
