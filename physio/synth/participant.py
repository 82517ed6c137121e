"""Per-participant parameters of the synthetic cohort: physiology and appearance.

A :class:`Participant` is everything that stays the same across one person's sessions: skin tone
(Fitzpatrick type and skin colour vector), face shape and size, hair and clothing, resting heart and
breathing rates, heart-rate variability, pulse amplitude and respiration amplitude.
:func:`participant_sample` draws one from a seeded generator; the ranges are documented in
``docs/synthetic-data.md``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from physio.errors import InputError

__all__ = [
    "PULSE_RGB",
    "FITZPATRICK_RGB",
    "HR_RANGE_BPM",
    "BR_RANGE_BPM",
    "Participant",
    "participant_sample",
]

PULSE_RGB: tuple[float, float, float] = (0.33, 0.77, 0.53)
"""Relative pulsatile strengths of R, G, B in normalised (AC/DC) channels, the blood-volume-pulse
signature of de Haan & van Leest (2014) used for ``u_p`` of the dichromatic model."""

FITZPATRICK_RGB: dict[int, tuple[float, float, float]] = {
    1: (0.945, 0.840, 0.770),
    2: (0.910, 0.745, 0.630),
    3: (0.815, 0.630, 0.490),
    4: (0.695, 0.485, 0.345),
    5: (0.510, 0.340, 0.235),
    6: (0.330, 0.220, 0.165),
}
"""Approximate diffuse skin colour (display RGB in [0, 1]) of Fitzpatrick types I–VI (not colorimetric)."""

_FITZPATRICK_PULSE_SCALE = {1: 1.0, 2: 0.95, 3: 0.9, 4: 0.8, 5: 0.7, 6: 0.6}
"""Melanin absorbs part of the light that would have reached the blood: relative AC/DC falls with type."""

HR_RANGE_BPM: tuple[float, float] = (45.0, 150.0)
BR_RANGE_BPM: tuple[float, float] = (8.0, 30.0)

_HAIR_RGB = (
    (0.06, 0.05, 0.045),  # black
    (0.17, 0.11, 0.07),  # dark brown
    (0.33, 0.22, 0.13),  # brown
    (0.62, 0.48, 0.30),  # blonde
    (0.52, 0.25, 0.12),  # red
    (0.58, 0.57, 0.55),  # grey
)
_PATTERNS = ("plain", "stripes", "checks")


@dataclass(frozen=True)
class Participant:
    """One synthetic person.

    Attributes
    ----------
    name : str
        Participant id (``p001`` …).
    fitzpatrick : int
        Fitzpatrick skin type 1–6 (I–VI).
    skin_rgb : tuple of 3 float
        Diffuse skin colour ``u_c · c_0`` (display RGB in [0, 1]) the face photograph is recoloured to.
    hair_rgb, clothing_rgb : tuple of 3 float
        Hair and clothing base colours.
    clothing_pattern : str
        ``"plain"``, ``"stripes"`` or ``"checks"``.
    hr_bpm : float
        Resting heart rate (beats per minute); each session draws its own around it.
    br_bpm : float
        Resting breathing rate (breaths per minute); each session draws its own around it.
    rsa : float
        ``frequency_modulation`` of :func:`neurokit2.ppg_simulate` (slow beat-interval modulation).
    ibi_randomness : float
        ``ibi_randomness`` of :func:`neurokit2.ppg_simulate` (beat-to-beat interval jitter).
    pulse_amplitude : float
        RMS of the relative (AC/DC) green-channel pulsation averaged over the skin, e.g. 0.002 = 0.2 %.
    pulse_rgb : tuple of 3 float
        Relative pulsatile strengths ``u_p`` of R, G, B (AC/DC).
    resp_amplitude : float
        Peak-to-peak vertical shoulder displacement of an average breath, as a fraction of the
        frame height.
    head_resp_ratio : float
        Head displacement due to breathing divided by the shoulders'.
    head_height : float
        Hair-top-to-chin height as a fraction of the frame height.
    face_width, face_height : float
        Horizontal and vertical scale of the head relative to the photograph's proportions.
    jaw : float
        Jaw widening (+) or narrowing (−): horizontal scale grows by ``jaw`` from the eyes to the chin.
    x_offset : float
        Horizontal offset of the body from the frame centre, as a fraction of the width.
    specular : float
        Strength of the moving specular highlight (fraction of full scale).
    """

    name: str
    fitzpatrick: int
    skin_rgb: tuple[float, float, float]
    hair_rgb: tuple[float, float, float]
    clothing_rgb: tuple[float, float, float]
    clothing_pattern: str
    hr_bpm: float
    br_bpm: float
    rsa: float
    ibi_randomness: float
    pulse_amplitude: float
    pulse_rgb: tuple[float, float, float]
    resp_amplitude: float
    head_resp_ratio: float
    head_height: float
    face_width: float
    face_height: float
    jaw: float
    x_offset: float
    specular: float

    def __post_init__(self) -> None:
        if self.fitzpatrick not in FITZPATRICK_RGB:
            raise InputError(f"{self.name}: fitzpatrick must be 1..6, got {self.fitzpatrick}")
        if not HR_RANGE_BPM[0] <= self.hr_bpm <= HR_RANGE_BPM[1]:
            raise InputError(f"{self.name}: hr_bpm must be in {HR_RANGE_BPM}, got {self.hr_bpm}")
        if not BR_RANGE_BPM[0] <= self.br_bpm <= BR_RANGE_BPM[1]:
            raise InputError(f"{self.name}: br_bpm must be in {BR_RANGE_BPM}, got {self.br_bpm}")
        if self.clothing_pattern not in _PATTERNS:
            raise InputError(f"{self.name}: clothing_pattern must be one of {_PATTERNS}, got {self.clothing_pattern!r}")
        if not 0 <= self.pulse_amplitude < 0.05:
            raise InputError(f"{self.name}: pulse_amplitude must be in [0, 0.05), got {self.pulse_amplitude}")
        if not 0 <= self.resp_amplitude < 0.2:
            raise InputError(f"{self.name}: resp_amplitude must be in [0, 0.2), got {self.resp_amplitude}")
        if not 0.2 <= self.head_height <= 0.7:
            raise InputError(f"{self.name}: head_height must be in [0.2, 0.7], got {self.head_height}")

    def replace(self, **changes) -> Participant:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def attrs(self) -> dict:
        """The parameters as HDF5-friendly attributes."""
        out = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            out[f.name] = list(v) if isinstance(v, tuple) else v
        return out


def _as_generator(rng) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, np.random.SeedSequence):
        return np.random.default_rng(rng)
    if rng is None or isinstance(rng, (int, np.integer)):
        return np.random.default_rng(rng)
    raise InputError(f"rng must be an int, a SeedSequence or a numpy Generator, got {type(rng).__name__}")


def participant_sample(rng=None, name: str = "p001") -> Participant:
    """Draw a participant.

    Parameters
    ----------
    rng : int, numpy.random.SeedSequence or numpy.random.Generator, optional
        Source of randomness (an int seeds a new generator).
    name : str
        Participant id.

    Returns
    -------
    Participant
        Skin type uniform over I–VI, heart rate uniform in 45–150 bpm, breathing rate uniform in
        8–30 breaths/min, pulse amplitude 0.1–0.4 % (scaled down for darker skin), respiration
        amplitude 0.4–1.6 % of the frame height peak-to-peak; see ``docs/synthetic-data.md``.
    """
    g = _as_generator(rng)
    fitz = int(g.integers(1, 7))
    skin = np.clip(np.asarray(FITZPATRICK_RGB[fitz]) * np.exp(g.normal(0, 0.04, 3)), 0.05, 0.98)
    # hair colour: any for types I-III; black, dark brown or grey for IV-VI
    hair_choices = range(len(_HAIR_RGB)) if fitz <= 3 else (0, 0, 1, 5)
    hair = np.asarray(_HAIR_RGB[int(g.choice(list(hair_choices)))]) * np.exp(g.normal(0, 0.08, 3))
    hue = g.uniform(0, 1)
    sat = g.uniform(0.25, 0.8)
    val = g.uniform(0.25, 0.85)
    clothing = _hsv_to_rgb(hue, sat, val)
    hr = float(g.uniform(*HR_RANGE_BPM))
    br = float(g.uniform(*BR_RANGE_BPM))
    amp = float(g.uniform(0.001, 0.004)) * _FITZPATRICK_PULSE_SCALE[fitz]
    return Participant(
        name=name,
        fitzpatrick=fitz,
        skin_rgb=tuple(float(x) for x in skin),
        hair_rgb=tuple(float(x) for x in np.clip(hair, 0, 1)),
        clothing_rgb=tuple(float(x) for x in clothing),
        clothing_pattern=_PATTERNS[int(g.integers(len(_PATTERNS)))],
        hr_bpm=round(hr, 2),
        br_bpm=round(br, 2),
        rsa=round(float(g.uniform(0.02, 0.1)), 3),
        ibi_randomness=round(float(g.uniform(0.03, 0.2)), 3),
        pulse_amplitude=round(amp, 5),
        pulse_rgb=PULSE_RGB,
        resp_amplitude=round(float(g.uniform(0.004, 0.016)), 5),
        head_resp_ratio=round(float(g.uniform(0.15, 0.35)), 3),
        head_height=round(float(g.uniform(0.36, 0.46)), 3),
        face_width=round(float(g.uniform(0.88, 1.12)), 3),
        face_height=round(float(g.uniform(0.93, 1.07)), 3),
        jaw=round(float(g.uniform(-0.1, 0.1)), 3),
        x_offset=round(float(g.uniform(-0.06, 0.06)), 3),
        specular=round(float(g.uniform(0.01, 0.06)), 3),
    )


def _hsv_to_rgb(h: float, s: float, v: float) -> tuple[float, float, float]:
    i = int(h * 6) % 6
    f = h * 6 - int(h * 6)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    return [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i]
