"""Static layers of a synthetic scene: background, torso, neck, head (hair) and face.

The face is scikit-image's ``astronaut()`` photograph (public domain, NASA), cut out with polygons
from MediaPipe FaceMesh landmarks (measured once, stored below as constants — mediapipe is not
needed at run time), recoloured to the participant's skin and hair colours and scaled to the
participant's face shape.  Neck, torso (clothing) and background are procedural.

Everything here is computed once per session at the *canvas* resolution (``supersample`` × the
output size); :mod:`physio.synth.render` then moves the layers frame by frame.  Each moving layer
carries two premultiplied 4-channel stacks:

* ``stack1 = [α·c_R, α·c_G, α·c_B, α]`` — the stationary diffuse colour ``u_c·c_0`` (albedo × static
  shading) and the coverage α;
* ``stack2 = [α·s·c_R·m_R, α·s·c_G·m_G, α·s·c_B·m_B, α·s]`` — the pulsatile colour per unit of the
  pulse signal (``m_k = A · w(x) · u_p,k / u_p,G``: the relative AC/DC modulation, with ``w`` the
  spatial pulse-weight map and ``s`` the skin fraction) and the skin coverage.

So the pulse lives only where ``s > 0`` (skin: face, side of the head, neck), never on hair, eyes,
brows, mouth, clothes or background, and it moves with the skin because it is warped with it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import cv2
import numpy as np
from scipy import ndimage as ndi
from skimage.data import astronaut

from physio.errors import InputError
from physio.synth.participant import Participant, _as_generator, _hsv_to_rgb

__all__ = ["Layer", "Scene", "scene_build", "face_source"]

# ---------------------------------------------------------------------------------------------------
# The face photograph and its landmarks (MediaPipe FaceMesh on skimage.data.astronaut(), 512x512)
# ---------------------------------------------------------------------------------------------------
_SRC_Y0, _SRC_Y1, _SRC_X0, _SRC_X1 = 0, 184, 128, 328
"""Crop of astronaut() holding hair and face (chin at y = 177)."""

_OVAL = [(226, 72), (239, 73), (250, 75), (259, 78), (265, 84), (268, 91), (270, 98), (271, 107), (270, 115),
         (269, 124), (268, 134), (265, 144), (261, 153), (256, 159), (249, 165), (244, 170), (238, 174),
         (230, 177), (221, 177), (212, 176), (205, 172), (200, 167), (195, 162), (189, 155), (185, 148),
         (182, 139), (180, 129), (179, 119), (179, 110), (180, 101), (181, 93), (183, 86), (187, 79),
         (193, 75), (203, 72), (214, 71)]  # fmt: skip
_EYE_L = [(256, 104), (254, 105), (252, 106), (250, 107), (247, 107), (243, 106), (240, 106), (238, 105),
          (237, 105), (238, 104), (241, 102), (245, 100), (248, 100), (252, 101), (254, 102), (255, 103)]  # fmt: skip
_EYE_R = [(195, 101), (196, 102), (198, 103), (200, 104), (203, 104), (207, 104), (210, 104), (212, 104),
          (213, 104), (212, 102), (210, 100), (206, 98), (203, 98), (199, 98), (197, 99), (196, 100)]  # fmt: skip
_BROW_R = [(188, 91), (192, 88), (199, 87), (207, 88), (216, 90), (217, 95), (207, 91), (200, 90), (194, 91),
           (190, 93)]  # fmt: skip
_BROW_L = [(263, 96), (259, 93), (253, 91), (245, 91), (236, 92), (234, 96), (244, 94), (252, 93), (257, 95),
           (261, 97)]  # fmt: skip
_LIPS = [(202, 139), (204, 143), (207, 147), (211, 151), (216, 154), (223, 155), (229, 154), (235, 152),
         (239, 149), (242, 145), (245, 141), (243, 141), (240, 140), (236, 140), (230, 140), (224, 140),
         (217, 139), (211, 139), (207, 139), (204, 139)]  # fmt: skip
_FOREHEAD = (225.9, 82.0)
_NOSE_TIP = (223.4, 130.0)
_NOSE_BRIDGE = (224.7, 105.6)
_CHEEK_R = (194.9, 124.6)  # the subject's right cheek (image left)
_CHEEK_L = (253.2, 128.0)
_CHIN_Y = 177.4
_EYE_Y = 103.0
_FACE_CX = 225.0
_HAIR_BOTTOM_Y = 138
"""Below this row only the face oval belongs to the head (the rest is neck and suit)."""

LIGHT_RGB = np.array([1.0, 0.98, 0.95], np.float32)
"""Unit-ish colour ``u_s`` of the light source (specular reflections take this colour)."""


def _poly_mask(shape: tuple[int, int], pts, dilate: int = 0) -> np.ndarray:
    m = np.zeros(shape, np.uint8)
    p = np.round((np.asarray(pts, float) - [_SRC_X0, _SRC_Y0]) * 16).astype(np.int32)
    cv2.fillPoly(m, [p], 1, lineType=cv2.LINE_8, shift=4)
    if dilate:
        m = cv2.dilate(m, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * dilate + 1, 2 * dilate + 1)))
    return m.astype(bool)


def _gauss2(shape, centre, sigma) -> np.ndarray:
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float32)
    cx, cy = centre[0] - _SRC_X0, centre[1] - _SRC_Y0
    sx, sy = sigma
    return np.exp(-0.5 * (((xx - cx) / sx) ** 2 + ((yy - cy) / sy) ** 2)).astype(np.float32)


@dataclass(frozen=True)
class FaceSource:
    """The face photograph, segmented (source pixels, floats in [0, 1])."""

    rgb: np.ndarray  # (h, w, 3)
    head: np.ndarray  # (h, w) soft silhouette of hair + face
    oval: np.ndarray  # (h, w) soft face oval, feathered inwards
    skin: np.ndarray  # (h, w) soft skin mask inside the oval (pulse lives here)
    skin_class: np.ndarray  # (h, w) fraction coloured as skin (colour classes sum to 1)
    hair: np.ndarray  # (h, w) fringe hair fraction inside the oval
    brow: np.ndarray  # (h, w) eyebrow fraction
    feat: np.ndarray  # (h, w) eyes + mouth fraction
    skin_base: np.ndarray  # (h, w, 3) smooth skin colour without features
    pulse_w: np.ndarray  # (h, w) spatial pulse weight (forehead and cheeks strongest)
    spec: np.ndarray  # (h, w) specular map (forehead, nose, cheekbones)
    skin_mean: np.ndarray  # (3,) median colour of the photograph's skin
    hair_lum: float  # mean luminance of the photograph's hair
    brow_lum: float  # mean luminance of its eyebrows
    top_y: float  # hair top row (source crop coordinates)
    chin_y: float
    eye_y: float
    cx: float
    head_width: float  # silhouette width (source px)


@functools.lru_cache(maxsize=1)
def face_source() -> FaceSource:
    """Segment ``skimage.data.astronaut()`` once per process."""
    img = astronaut()[_SRC_Y0:_SRC_Y1, _SRC_X0:_SRC_X1]
    shape = img.shape[:2]
    hsv = cv2.cvtColor(img, cv2.COLOR_RGB2HSV)
    sat, val = hsv[..., 1].astype(int), hsv[..., 2].astype(int)
    yy = np.mgrid[0 : shape[0], 0 : shape[1]][0] + _SRC_Y0
    oval = _poly_mask(shape, _OVAL)
    # silhouette: saturated hair above the jaw, plus the face oval
    head = ((sat > 70) & (val > 40) & (yy < _HAIR_BOTTOM_Y)) | oval
    disk15 = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (15, 15))
    head = cv2.morphologyEx(head.astype(np.uint8), cv2.MORPH_CLOSE, disk15)
    head = ndi.binary_fill_holes(head)
    head = cv2.morphologyEx(head.astype(np.uint8), cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5)))
    lab, n = ndi.label(head)
    sizes = ndi.sum(head, lab, range(1, n + 1))
    head = lab == (1 + int(np.argmax(sizes)))
    head_soft = np.clip(cv2.GaussianBlur(head.astype(np.float32), (0, 0), 1.2) * 2 - 0.5, 0, 1)
    head_soft = cv2.GaussianBlur(head_soft, (0, 0), 0.6)
    # colour classes inside the oval (hard cores) and the skin mask (conservative: features dilated)
    eyes_mouth = _poly_mask(shape, _EYE_L) | _poly_mask(shape, _EYE_R) | _poly_mask(shape, _LIPS)
    brows = (_poly_mask(shape, _BROW_L) | _poly_mask(shape, _BROW_R)) & ~eyes_mouth
    edge = oval & ~cv2.erode(oval.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (13, 13))).astype(bool)
    hairlike = oval & (sat > 85) & (val < 215) & ((yy < 92) | (edge & (yy < 120)))
    hairlike = cv2.morphologyEx(hairlike.astype(np.uint8), cv2.MORPH_OPEN, np.ones((2, 2), np.uint8)).astype(bool)
    hairlike &= ~eyes_mouth & ~brows
    not_skin = (
        _poly_mask(shape, _EYE_L, 2) | _poly_mask(shape, _EYE_R, 2) | _poly_mask(shape, _LIPS, 1)
        | _poly_mask(shape, _BROW_L, 2) | _poly_mask(shape, _BROW_R, 2) | hairlike
    )  # fmt: skip
    skin = oval & ~not_skin
    classes = [~(eyes_mouth | brows | hairlike), hairlike, brows, eyes_mouth]  # skin-coloured, hair, brows, features
    soft = [cv2.GaussianBlur(m.astype(np.float32), (0, 0), 0.7) for m in classes]
    tot = np.maximum(sum(soft), 1e-6)
    skin_c, hair_c, brow_c, feat_c = (x / tot for x in soft)
    skin_s = cv2.GaussianBlur(skin.astype(np.float32), (0, 0), 0.5)
    # face-layer alpha: oval feathered inwards over 3 px
    dist = cv2.distanceTransform(oval.astype(np.uint8), cv2.DIST_L2, 3)
    oval_soft = np.clip(dist / 3.0, 0, 1).astype(np.float32)
    rgb = img.astype(np.float32) / 255.0
    skin_mean = np.median(rgb[skin], axis=0)
    # smooth skin (normalised convolution), for the side of the head under the moving face
    num = cv2.GaussianBlur(rgb * skin[..., None], (0, 0), 6)
    den = cv2.GaussianBlur(skin.astype(np.float32), (0, 0), 6)[..., None]
    skin_base = np.where(den > 0.05, num / np.maximum(den, 1e-6), skin_mean).astype(np.float32)
    hair_px = head & ~oval
    lum = rgb.mean(axis=2)
    hair_lum = float(lum[hair_px].mean())
    near_features = cv2.dilate(eyes_mouth.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    brow_lum = float(lum[brows & ~near_features].mean())
    pulse_w = (
        0.45
        + 0.9 * _gauss2(shape, _FOREHEAD, (20, 8))
        + 0.7 * _gauss2(shape, _CHEEK_R, (10, 10))
        + 0.7 * _gauss2(shape, _CHEEK_L, (10, 10))
    )
    spec = (
        _gauss2(shape, _FOREHEAD, (12, 5))
        + 0.8 * _gauss2(shape, _NOSE_TIP, (3, 4))
        + 0.6 * _gauss2(shape, _NOSE_BRIDGE, (2.5, 6))
        + 0.4 * _gauss2(shape, (_CHEEK_R[0] + 3, _CHEEK_R[1] - 8), (6, 4))
        + 0.4 * _gauss2(shape, (_CHEEK_L[0] - 3, _CHEEK_L[1] - 8), (6, 4))
    )
    rows = np.flatnonzero(head.any(axis=1))
    cols = np.flatnonzero(head.any(axis=0))
    return FaceSource(
        rgb=rgb,
        head=head_soft.astype(np.float32),
        oval=oval_soft,
        skin=skin_s.astype(np.float32),
        skin_class=skin_c.astype(np.float32),
        hair=hair_c.astype(np.float32),
        brow=brow_c.astype(np.float32),
        feat=feat_c.astype(np.float32),
        skin_base=skin_base,
        pulse_w=pulse_w.astype(np.float32),
        spec=(spec * skin).astype(np.float32),
        skin_mean=skin_mean.astype(np.float32),
        hair_lum=hair_lum,
        brow_lum=brow_lum,
        top_y=float(rows[0]),
        chin_y=_CHIN_Y - _SRC_Y0,
        eye_y=_EYE_Y - _SRC_Y0,
        cx=_FACE_CX - _SRC_X0,
        head_width=float(cols[-1] - cols[0] + 1),
    )


# ---------------------------------------------------------------------------------------------------
# Layers and scenes
# ---------------------------------------------------------------------------------------------------
@dataclass
class Layer:
    """A moving layer: premultiplied stacks in local coordinates (see the module docstring).

    Attributes
    ----------
    stack1, stack2 : numpy.ndarray
        ``(h, w, 4)`` float32.
    spec : numpy.ndarray or None
        ``(h, w)`` premultiplied specular map (added as ``spec · g(yaw) · u_s`` to the colour).
    origin : tuple of float
        Canvas position (x, y) of local pixel (0, 0) at rest.
    pivot : tuple of float
        Local (x, y) about which yaw foreshortening and scale act.
    half_width : float
        Local half-width (px) of the face, for the yaw shading gradient.
    """

    stack1: np.ndarray
    stack2: np.ndarray
    spec: np.ndarray | None
    origin: tuple[float, float]
    pivot: tuple[float, float]
    half_width: float


@dataclass
class Scene:
    """Everything static about one session, at canvas resolution.

    Attributes
    ----------
    size : tuple of int
        Output (width, height).
    supersample : int
        Canvas pixels per output pixel along each axis.
    background : numpy.ndarray
        ``(Hc, Wc, 3)`` float32 background colour.
    body1, body2 : numpy.ndarray
        ``(Hc + 2·pad, Wc, 4)`` premultiplied stacks of neck + torso composited (neck under the
        clothes), ``pad`` rows above and below the canvas so breathing can shift them.
    pad : int
        Rows of padding of the body stacks.
    backhead, face : Layer
        Hair/side-of-head layer and face layer.
    yaw_radius : float
        Canvas px the face moves sideways per unit ``sin(yaw)``.
    head_height : float
        Hair-top-to-chin height in canvas px.
    shoulders : numpy.ndarray
        ``(H, W)`` bool static band along both shoulder contours (output resolution).
    info : dict
        Geometry and appearance parameters (for the record).
    """

    size: tuple[int, int]
    supersample: int
    background: np.ndarray
    body1: np.ndarray
    body2: np.ndarray
    pad: int
    backhead: Layer
    face: Layer
    yaw_radius: float
    head_height: float
    shoulders: np.ndarray
    info: dict = field(default_factory=dict)

    @property
    def canvas_size(self) -> tuple[int, int]:
        """Canvas (width, height)."""
        return self.size[0] * self.supersample, self.size[1] * self.supersample


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def _smooth_field(shape: tuple[int, int], sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian-filtered white noise, unit standard deviation."""
    f = cv2.GaussianBlur(rng.standard_normal(shape).astype(np.float32), (0, 0), max(sigma, 0.5))
    sd = float(f.std())
    return f / sd if sd > 0 else f


def _background(kind: str, hc: int, wc: int, rng: np.random.Generator) -> np.ndarray:
    yy, xx = np.mgrid[0:hc, 0:wc].astype(np.float32)
    if kind == "dark":
        base = np.array([0.030, 0.030, 0.036], np.float32) * rng.uniform(0.7, 1.3)
        tex = 1.0 + 0.25 * _smooth_field((hc, wc), 0.08 * hc, rng)
        return np.clip(base[None, None, :] * tex[..., None], 0, 1).astype(np.float32)
    if kind != "patterned":
        raise InputError(f"background must be 'patterned' or 'dark', got {kind!r}")
    # geometric wallpaper: a rotated two-colour checkerboard with discs of a third colour
    hues = rng.uniform(0, 1, 3)
    palette = []
    for h in hues:
        palette.append(_hsv_to_rgb(float(h), rng.uniform(0.15, 0.6), rng.uniform(0.3, 0.85)))
    palette = np.asarray(palette, np.float32)
    period = rng.uniform(0.07, 0.15) * wc
    ang = np.deg2rad(rng.uniform(0, 45))
    u = (xx * np.cos(ang) + yy * np.sin(ang)) / period + rng.uniform(0, 1)
    v = (-xx * np.sin(ang) + yy * np.cos(ang)) / period + rng.uniform(0, 1)
    edge = 1.0 / period  # about one canvas pixel, for anti-aliasing
    cu = _smoothstep((np.abs(((u % 1.0) - 0.5)) - 0.25) / edge + 0.5)
    cv_ = _smoothstep((np.abs(((v % 1.0) - 0.5)) - 0.25) / edge + 0.5)
    check = cu * (1 - cv_) + cv_ * (1 - cu)  # XOR of the two square waves, soft
    r = np.hypot((u % 1.0) - 0.5, (v % 1.0) - 0.5) * period
    disc = _smoothstep((0.22 * period - r) + 0.5)
    img = palette[0] * (1 - check[..., None]) + palette[1] * check[..., None]
    img = img * (1 - disc[..., None]) + palette[2] * disc[..., None]
    light = 1.0 + 0.08 * _smooth_field((hc, wc), 0.3 * hc, rng) - 0.12 * ((yy / hc) - 0.3) ** 2
    return np.clip(img * light[..., None], 0, 1).astype(np.float32)


def _head_layers(p: Participant, src: FaceSource, head_px: float, u_rel: np.ndarray) -> tuple[Layer, Layer, dict]:
    """Recolour the photograph for the participant and resample it to canvas scale."""
    ratio = np.asarray(p.skin_rgb, np.float32) / np.maximum(src.skin_mean, 1e-3)
    rgb = src.rgb
    lum = rgb.mean(axis=2, keepdims=True)
    hair_col = np.clip(np.asarray(p.hair_rgb, np.float32) * (lum / src.hair_lum), 0, 1)
    skin_col = np.clip(rgb * ratio, 0, 1)
    feat_col = np.clip(rgb * ratio**0.4, 0, 1)
    brow_col = np.clip(np.asarray(p.hair_rgb, np.float32) * 0.7 * (lum / src.brow_lum), 0, 1)
    brow_col = np.minimum(brow_col, skin_col * 0.8)  # brows never lighter than the skin around them
    f_rgb = (src.skin_class[..., None] * skin_col + src.hair[..., None] * hair_col
             + src.brow[..., None] * brow_col + src.feat[..., None] * feat_col)  # fmt: skip
    oval_d = np.clip(cv2.GaussianBlur(src.oval, (0, 0), 1.5) * 1.5, 0, 1)  # skin under the face edge
    # under the face's fringe the side-of-head layer is hair, not skin
    fringe = np.clip(cv2.GaussianBlur(cv2.dilate(src.hair, np.ones((7, 7), np.uint8)), (0, 0), 1.0), 0, 1)
    side_skin = np.maximum(oval_d, 0) * src.head * (1 - fringe)
    xs = (np.arange(rgb.shape[1], dtype=np.float32) - src.cx) / (src.head_width / 2)
    side_shade = (0.88 * (1 - 0.45 * np.clip(xs, -1, 1) ** 2))[None, :, None]
    side_col = np.clip(src.skin_base * ratio * side_shade, 0, 1)
    bh_rgb = side_skin[..., None] * side_col + (1 - side_skin[..., None]) * hair_col
    src_stack = np.dstack(
        [f_rgb, src.oval, src.skin, src.pulse_w, src.spec, skin_col, bh_rgb, src.head, side_skin, side_col]
    ).astype(np.float32)  # 3+1+1+1+1+3+3+1+1+3 = 18 channels
    sy = head_px / (src.chin_y - src.top_y)
    sx = sy * p.face_width / p.face_height
    scale = min(sx, sy)
    if scale < 1:  # anti-alias before shrinking
        sigma = 0.5 * np.sqrt(1.0 / scale**2 - 1.0)
        src_stack = cv2.GaussianBlur(src_stack, (0, 0), sigma)
    h_src, w_src = src_stack.shape[:2]
    margin = 4
    w_l = int(np.ceil(w_src * sx * (1 + abs(p.jaw)))) + 2 * margin
    h_l = int(np.ceil((src.chin_y + 3) * sy)) + 2 * margin
    cu = w_l / 2.0
    vv, uu = np.mgrid[0:h_l, 0:w_l].astype(np.float32)
    y_src = (vv - margin) / sy
    jf = 1.0 + p.jaw * np.clip((y_src - src.eye_y) / (src.chin_y - src.eye_y), 0, 1)
    x_src = src.cx + (uu - cu) / (sx * jf)
    loc = cv2.remap(src_stack, x_src.astype(np.float32), y_src.astype(np.float32), cv2.INTER_LINEAR,
                    borderMode=cv2.BORDER_CONSTANT, borderValue=0)  # fmt: skip
    f_rgb, f_a, f_skin, f_pw, f_spec = loc[..., 0:3], loc[..., 3], loc[..., 4], loc[..., 5], loc[..., 6]
    skin_col, bh_rgb, bh_a, bh_skin = loc[..., 7:10], loc[..., 10:13], loc[..., 13], loc[..., 14]
    side_col = loc[..., 15:18]
    # compact support: blur tails below 2 % are neither skin nor head (so nothing leaks far outside)
    f_a, bh_a, f_skin, bh_skin = (np.clip((x - 0.02) / 0.98, 0, 1) for x in (f_a, bh_a, f_skin, bh_skin))
    # normalise the spatial pulse weight to mean 1 over the face's skin
    wsum = float((f_a * f_skin).sum())
    f_pw = f_pw / (float((f_a * f_skin * f_pw).sum()) / wsum if wsum > 0 else 1.0)
    amp = p.pulse_amplitude
    face = Layer(
        stack1=np.dstack([f_rgb * f_a[..., None], f_a]).astype(np.float32),
        stack2=np.dstack([skin_col * (f_a * f_skin * f_pw * amp)[..., None] * u_rel, f_a * f_skin]).astype(np.float32),
        spec=(f_spec * f_a * p.specular).astype(np.float32),
        origin=(0.0, 0.0),
        pivot=(cu, margin + src.chin_y * sy),
        half_width=float((_OVAL[7][0] - _OVAL[27][0]) / 2 * sx),
    )
    side_w = 0.6  # pulse weight of the skin at the side of the head
    backhead = Layer(
        stack1=np.dstack([bh_rgb * bh_a[..., None], bh_a]).astype(np.float32),
        stack2=np.dstack([side_col * (bh_a * bh_skin * side_w * amp)[..., None] * u_rel, bh_a * bh_skin]).astype(
            np.float32
        ),
        spec=None,
        origin=(0.0, 0.0),
        pivot=(cu, margin + src.chin_y * sy),
        half_width=float(src.head_width / 2 * sx),
    )
    geo = {
        "local_size": (w_l, h_l),
        "top_local": margin + src.top_y * sy,
        "chin_local": margin + src.chin_y * sy,
        "cu": cu,
        "head_width": src.head_width * sx,
        "sx": sx,
        "sy": sy,
    }
    return backhead, face, geo


def _body(p: Participant, hc: int, wc: int, pad: int, cx: float, chin: float, head_w: float, head_px: float,
          u_rel: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, dict]:  # fmt: skip
    """Neck and clothed torso, composited, on a canvas padded by ``pad`` rows above and below."""
    ht = hc + 2 * pad
    yy, xx = np.mgrid[0:ht, 0:wc].astype(np.float32)
    yy -= pad  # canvas row coordinates
    d = np.abs(xx - cx)
    neck_len = rng.uniform(0.07, 0.10) * hc
    y_nb = chin + neck_len  # neck base (collar line)
    nw2 = 0.21 * head_w
    # --- neck: skin cylinder flaring at the base, shadowed under the chin
    t = np.clip((yy - chin) / max(neck_len, 1), 0, 1)
    half = nw2 * (1 + 0.15 * t)
    neck_a = np.clip(half - d + 0.5, 0, 1) * np.clip(yy - (chin - 0.35 * head_px) + 0.5, 0, 1)
    neck_a *= np.clip(y_nb + 0.12 * hc - yy, 0, 1)
    xn = np.clip((xx - cx) / np.maximum(half, 1), -1, 1)
    shade = (1 - 0.3 * xn**2) * (0.55 + 0.45 * _smoothstep((yy - chin + 0.01 * hc) / (0.5 * neck_len)))
    neck_col = np.asarray(p.skin_rgb, np.float32)[None, None, :] * shade[..., None]
    neck_pw = 0.5
    # --- torso: collar line, trapezius slope, rounded shoulders, slightly widening sides
    sw2 = min(rng.uniform(1.25, 1.45) * head_w, 0.47 * wc)
    d0 = nw2 * 1.15
    r = 0.35 * (sw2 - d0)
    d1 = sw2 - r
    drop = rng.uniform(0.05, 0.08) * hc
    y1 = y_nb + drop
    ry = 1.3 * r
    top = np.where(d <= d0, y_nb, y_nb + drop * _smoothstep((d - d0) / max(d1 - d0, 1)))
    q = np.clip((d - d1) / r, 0, 1)
    top = np.where(d > d1, y1 + ry * (1 - np.sqrt(np.clip(1 - q**2, 0, 1))), top)
    side = sw2 + 0.08 * np.maximum(yy - (y1 + ry), 0)
    inside_top = np.clip(yy - top + 0.5, 0, 1)
    inside_side = np.clip(side - d + 0.5, 0, 1)
    torso_a = inside_top * inside_side
    # round neckline: an elliptical cut-out below the collar line
    depth = rng.uniform(0.03, 0.07) * hc
    ew = nw2 * 1.3
    ell = ((xx - cx) / ew) ** 2 + ((yy - y_nb) / depth) ** 2
    cut = np.clip((1 - ell) * min(ew, depth) / 2 + 0.5, 0, 1)  # ~1 px soft edge
    torso_a *= 1 - cut
    trim = np.clip(1 - np.abs(np.sqrt(ell) - 1.08) * min(ew, depth) / 1.5, 0, 1) * (yy > y_nb - depth)
    # clothing colour and texture
    base = np.asarray(p.clothing_rgb, np.float32)
    folds = 1 + 0.06 * _smooth_field((ht, wc), 0.03 * hc, rng)
    cyl = 1 - 0.25 * np.clip(d / sw2, 0, 1) ** 2
    light = 1 - 0.15 * np.clip((yy - y_nb) / hc, 0, 1)
    period = rng.uniform(0.035, 0.07) * hc
    if p.clothing_pattern == "stripes":
        pat = 1 + 0.25 * np.tanh(3 * np.sin(2 * np.pi * (yy - y_nb) / period))
    elif p.clothing_pattern == "checks":
        stripes = np.tanh(3 * np.sin(2 * np.pi * (yy - y_nb) / period))
        pat = 1 + 0.2 * stripes * np.tanh(3 * np.sin(2 * np.pi * (xx - cx) / period))
    else:
        pat = np.ones_like(yy)
    tone = folds * cyl * light * pat
    cloth = np.clip(base[None, None, :] * tone[..., None], 0, 1)
    trim_col = np.clip(base * rng.uniform(0.5, 0.75), 0, 1)
    cloth = cloth * (1 - trim[..., None]) + trim_col * trim[..., None]
    # composite: neck under clothing (premultiplied over)
    neck1 = np.dstack([neck_col * neck_a[..., None], neck_a])
    neck2 = np.dstack([neck_col * (neck_a * neck_pw * p.pulse_amplitude)[..., None] * u_rel, neck_a])
    torso1 = np.dstack([cloth * torso_a[..., None], torso_a])
    body1 = torso1 + neck1 * (1 - torso_a[..., None])
    body2 = neck2 * (1 - torso_a[..., None])  # clothing carries no pulse and no skin
    geo = {"neck_base": y_nb, "neck_half_width": nw2, "shoulder_half_width": sw2, "shoulder_y": y1,
           "shoulder_drop": drop, "d0": d0, "d1": d1}  # fmt: skip
    return body1.astype(np.float32), body2.astype(np.float32), geo


def _shoulders_mask(
    size: tuple[int, int], ss: int, cx: float, geo: dict, body_alpha: np.ndarray, pad: int
) -> np.ndarray:
    """Static (H, W) band along both shoulder contours (output resolution).

    For the columns between the neck and the outer shoulder, the rows from 4 % of the frame height
    above the clothing's top contour to 10 % below it: mostly clothing, with the moving edge.
    """
    w, h = size
    m = np.zeros((h, w), bool)
    d0, sw2 = geo["d0"], geo["shoulder_half_width"]
    inner = d0 + 0.25 * (sw2 - d0)
    outer = sw2 - 0.15 * (sw2 - d0)
    covered = body_alpha >= 0.5  # (Hc + 2 pad, Wc)
    first = np.where(covered.any(axis=0), covered.argmax(axis=0) - pad, h * ss).astype(float)
    contour = first.reshape(w, ss).mean(axis=1) / ss  # output rows
    cols = (np.arange(w) + 0.5) * ss
    dist = np.abs(cols - cx)
    sel = (dist >= inner) & (dist <= outer)
    rows = np.arange(h)[:, None]
    band = (rows >= contour[None, :] - 0.04 * h) & (rows <= contour[None, :] + 0.10 * h)
    m[:, sel] = band[:, sel]
    return m


def scene_build(
    participant: Participant,
    size: tuple[int, int],
    background: str = "patterned",
    supersample: int = 2,
    max_shift: float = 0.0,
    rng=None,
) -> Scene:
    """Build the static layers of a session.

    Parameters
    ----------
    participant : Participant
        Appearance and pulse amplitude.
    size : (int, int)
        Output (width, height), at least 32×24.
    background : str
        ``"patterned"`` (tasks A, D) or ``"dark"`` (tasks B, C).
    supersample : int
        Canvas pixels per output pixel (1–8); moving layers are warped at this resolution and
        area-averaged down.
    max_shift : float
        Largest vertical body displacement (output px) the session will render, so the body layer
        is padded enough.
    rng : int, SeedSequence or Generator, optional
        Randomness for the background, clothing texture and placement.
    """
    w, h = (int(size[0]), int(size[1]))
    if w < 32 or h < 24:
        raise InputError(f"size must be at least 32x24, got {w}x{h}")
    ss = int(supersample)
    if not 1 <= ss <= 8:
        raise InputError(f"supersample must be in 1..8, got {supersample}")
    g = _as_generator(rng)
    # independent streams, so the clothes and placement do not depend on the background kind
    g_place, g_bg, g_body = (np.random.default_rng(int(x)) for x in g.integers(0, 2**63 - 1, size=3))
    hc, wc = h * ss, w * ss
    u = np.asarray(participant.pulse_rgb, np.float32)
    u_rel = u / u[1]
    src = face_source()
    head_px = participant.head_height * participant.face_height * hc
    backhead, face, hgeo = _head_layers(participant, src, head_px, u_rel)
    cx = wc * (0.5 + participant.x_offset)
    top = g_place.uniform(0.07, 0.11) * hc
    origin = (cx - hgeo["cu"], top - hgeo["top_local"])
    backhead.origin = origin
    face.origin = origin
    chin = origin[1] + hgeo["chin_local"]
    pad = int(np.ceil(abs(max_shift) * ss)) + 2
    bg = _background(background, hc, wc, g_bg)
    body1, body2, bgeo = _body(participant, hc, wc, pad, cx, chin, hgeo["head_width"], head_px, u_rel, g_body)
    shoulders = _shoulders_mask((w, h), ss, cx, bgeo, body1[..., 3], pad)
    info = {
        "background": background,
        "supersample": ss,
        "head_height_px": head_px / ss,
        "head_width_px": hgeo["head_width"] / ss,
        "head_centre_x_px": cx / ss,
        "chin_y_px": chin / ss,
        "neck_base_y_px": bgeo["neck_base"] / ss,
        "shoulder_y_px": bgeo["shoulder_y"] / ss,
        "shoulder_half_width_px": bgeo["shoulder_half_width"] / ss,
    }
    return Scene(
        size=(w, h),
        supersample=ss,
        background=bg,
        body1=body1,
        body2=body2,
        pad=pad,
        backhead=backhead,
        face=face,
        yaw_radius=0.36 * hgeo["head_width"],
        head_height=head_px,
        shoulders=shoulders,
        info=info,
    )
