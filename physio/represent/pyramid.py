"""Complex steerable pyramid and its phase differences (DeepMag motion representation, §3.3).

The pyramid is built in the Fourier domain (Portilla & Simoncelli 2000; Wadhwa et al. 2013):

* frequencies are normalised so that radius ``rho = 1`` is the Nyquist frequency (0.5 cycles/pixel)
  along an axis; angles ``theta = atan2(w_y, w_x)`` use **y pointing up** (x = columns to the right,
  y = rows upwards), i.e. counter-clockwise on a displayed image;
* radial masks are raised cosines in ``log2(rho)``: lowpass ``L_k`` falls from 1 to 0 over
  ``[b_k - s, b_k]`` with boundaries ``b_k = -k s`` (``s = 1`` octave, ``0.5`` half-octave); highpass
  residual ``sqrt(1 - L_0^2)``, band ``k`` ``sqrt(L_k^2 - L_{k+1}^2)``, lowpass residual ``L_height``,
  so the squared masks sum to exactly 1 (a tight frame);
* orientation ``k`` of ``K`` has angle ``theta_k = k pi / K`` and angular mask
  ``alpha |cos(theta - theta_k)|^(K-1)`` on the half-plane ``cos(theta - theta_k) > 0`` only (the
  analytic, complex band), ``alpha^2 = 4^(K-1) / (K binom(2K-2, K-1))``;
* band ``k`` is cropped in the Fourier domain to the box holding its support, so level ``r`` has
  about ``H 2^(-r s) x W 2^(-r s)`` pixels; values are scaled so that a level equals the
  full-resolution band sampled on the coarser grid (amplitudes in image units).

With analysis mask ``2 R A_k`` the real part of a band is the real steerable-pyramid band and its
modulus the local amplitude; reconstruction applies the synthesis mask ``R A_k`` and takes the real
part, which is exact because every band mask vanishes on the Nyquist row/column (``rho >= 1``).

Orientation 90 deg passes frequencies along y: horizontal stripes, i.e. it sees **vertical** motion.
Sign convention: a pattern translated by ``d`` pixels along ``u = (cos theta_k, sin theta_k)`` (y up)
changes the band phase by ``-2 pi d / lambda`` (``lambda`` the wavelength along ``u``), as for any
analytic signal ``exp(i w.(x - d))``.  In general a translation by the vector ``d`` changes the phase
of band k by ``-2 pi f.d``, ``f`` (cycles/pixel, y up) being the structure's frequency taken in the
band's half-plane ``f.u_k > 0`` (so the 135 deg band sees motion along +x with the opposite sign).

References
----------
.. [1] J. Portilla and E. P. Simoncelli, "A parametric texture model based on joint statistics of
   complex wavelet coefficients", IJCV 40(1), 2000.
.. [2] N. Wadhwa, M. Rubinstein, F. Durand and W. T. Freeman, "Phase-based video motion processing",
   ACM TOG 32(4), 2013.
.. [3] W. Chen and D. McDuff, "DeepMag", ACM TOG 40(1), 2020, eqs. 18-22.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from physio.errors import InputError

__all__ = [
    "BANDWIDTHS",
    "Pyramid",
    "PhaseDifferences",
    "SteerablePyramid",
    "phase_differences",
    "wrap_phase",
    "rgb_to_yiq",
    "yiq_to_rgb",
]

BANDWIDTHS: dict[str, float] = {"octave": 1.0, "half-octave": 0.5}
"""Radial step ``s`` between levels, in octaves (also the width of each raised-cosine transition)."""

_RGB_TO_YIQ = torch.tensor(
    [[0.299, 0.587, 0.114], [0.595716, -0.274453, -0.321263], [0.211456, -0.522591, 0.311135]],
    dtype=torch.float64,
)
_YIQ_TO_RGB = torch.linalg.inv(_RGB_TO_YIQ)
_COMPLEX = {torch.float32: torch.complex64, torch.float64: torch.complex128}


class Pyramid(NamedTuple):
    """A complex steerable pyramid of a batch of images.

    Attributes
    ----------
    highpass : Tensor, shape (..., C, H, W), real
        Residual above the finest band.
    levels : list of Tensor, each (..., C, K, h_r, w_r), complex
        Oriented bands, finest first; ``abs`` is the amplitude, ``angle`` the phase (radians).
    lowpass : Tensor, shape (..., C, h, w), real
        Residual below the coarsest band.
    """

    highpass: Tensor
    levels: list[Tensor]
    lowpass: Tensor


class PhaseDifferences(NamedTuple):
    """Output of :func:`phase_differences`.

    Attributes
    ----------
    x : Tensor, shape (B, T-1, C*K, S, S), real, radians in (-pi, pi]
        Phase differences ``phi(t+1) - phi(t)`` at the chosen level, resampled; channel
        ``c * K + k`` is colour channel ``c``, orientation ``k``.
    bands : Tensor, shape (B, T, C, K, h, w), complex
        The level's oriented bands at its native size.
    amplitude : Tensor, shape (B, T, C, K, h, w)
        Band amplitudes at the level's native size (computed when asked for).
    phase : Tensor, shape (B, T, C, K, h, w)
        Band phases in (-pi, pi] at the level's native size (computed when asked for).
    """

    x: Tensor
    bands: Tensor

    @property
    def amplitude(self) -> Tensor:
        return self.bands.abs()

    @property
    def phase(self) -> Tensor:
        return wrap_phase(torch.angle(self.bands))


def _check(x: object, name: str, ndims: tuple[int, ...], shape: str) -> Tensor:
    if not isinstance(x, Tensor):
        raise InputError(f"{name}: expected a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise InputError(f"{name}: expected a real floating-point tensor, got dtype {x.dtype}")
    if x.ndim not in ndims:
        raise InputError(f"{name}: expected shape {shape}, got {tuple(x.shape)} ({x.ndim}-D)")
    return x


def wrap_phase(x: Tensor) -> Tensor:
    """Wrap angles (radians) to (-pi, pi]."""
    y = torch.remainder(x + math.pi, 2 * math.pi) - math.pi
    return torch.where(y <= -math.pi, y + 2 * math.pi, y)


def _colour(x: Tensor, m: Tensor, name: str) -> Tensor:
    _check(x, name, tuple(range(3, 9)), "(..., 3, H, W)")
    if x.shape[-3] != 3:
        raise InputError(f"{name}: expected 3 channels at dim -3, got {x.shape[-3]}")
    return torch.einsum("ij,...jhw->...ihw", m.to(x.device, x.dtype), x)


def rgb_to_yiq(rgb: Tensor) -> Tensor:
    """NTSC RGB -> YIQ on dim -3: (..., 3, H, W) -> (..., 3, H, W); Y is luminance (same units)."""
    return _colour(rgb, _RGB_TO_YIQ, "rgb_to_yiq: rgb")


def yiq_to_rgb(yiq: Tensor) -> Tensor:
    """Inverse of :func:`rgb_to_yiq` (exact matrix inverse)."""
    return _colour(yiq, _YIQ_TO_RGB, "yiq_to_rgb: yiq")


def _raised_cosine_lowpass(log_rho: Tensor, boundary: float, width: float) -> Tensor:
    t = ((log_rho - (boundary - width)) / width).clamp(0.0, 1.0)
    return torch.where(t >= 1.0, torch.zeros_like(t), torch.cos(0.5 * math.pi * t))


def _crop_size(n: int, boundary: float) -> int:
    return max(1, min(n, math.ceil(n * 2.0**boundary - 1e-9)))


def _half_index(idx: Tensor, h: int, w: int) -> tuple[Tensor, Tensor]:
    """Where the full-spectrum entries ``idx`` (flat, ``h × w``) of a real image lie in its ``rfft2``
    half-spectrum (flat, ``h × (w//2 + 1)``): ``(index, conjugate)``; entries right of the half are the
    conjugates of their point mirror ``(-y, -x)``."""
    y, x = idx // w, idx % w
    conj = x > w // 2
    my, mx = torch.where(conj, (-y) % h, y), torch.where(conj, (-x) % w, x)
    return my * (w // 2 + 1) + mx, conj


def _crop_index(h: int, w: int, ch: int, cw: int) -> Tensor:
    rows = torch.remainder(torch.round(torch.fft.fftfreq(ch) * ch).long(), h)
    cols = torch.remainder(torch.round(torch.fft.fftfreq(cw) * cw).long(), w)
    return (rows[:, None] * w + cols[None, :]).reshape(-1)


class SteerablePyramid(nn.Module):
    """Complex steerable pyramid, batched, in the Fourier domain; CPU/CUDA, differentiable.

    Masks are computed lazily (in float64) for each image size (H, W) and kept as non-persistent
    complex buffers (not in ``state_dict``), so ``.to(device)`` moves them; an input of another dtype
    or device rebuilds them for that size (float32 -> complex64, float64 -> complex128).

    Parameters
    ----------
    height : int or None
        Number of band levels; None uses the most the image allows,
        ``floor((log2(min(H, W)) - 2) / s)`` (lowpass residual at least 4 pixels).
    orientations : int
        K, number of orientations, at angles ``k * 180 / K`` degrees (default 0, 45, 90, 135).
    bandwidth : {"octave", "half-octave"}
        Radial step ``s`` between levels (1 or 0.5 octave; DeepMag uses octave).

    Examples
    --------
    >>> pyr = SteerablePyramid(height=3)
    >>> img = torch.rand(2, 1, 64, 48)
    >>> p = pyr.build(img)
    >>> [tuple(b.shape) for b in p.levels]
    [(2, 1, 4, 64, 48), (2, 1, 4, 32, 24), (2, 1, 4, 16, 12)]
    >>> bool((pyr.reconstruct(p) - img).abs().max() < 1e-4)
    True
    """

    CACHED_SIZES = 4
    """Masks are kept for this many image sizes (least recently used dropped first)."""

    def __init__(self, height: int | None = None, orientations: int = 4, bandwidth: str = "octave") -> None:
        super().__init__()
        if height is not None and (not isinstance(height, int) or height < 1):
            raise InputError(f"SteerablePyramid: height: expected an int >= 1 or None, got {height!r}")
        if not isinstance(orientations, int) or not 1 <= orientations <= 16:
            raise InputError(
                f"SteerablePyramid: orientations: expected an int in [1, 16], got {orientations!r}")
        if bandwidth not in BANDWIDTHS:
            raise InputError(
                f"SteerablePyramid: bandwidth: expected one of {sorted(BANDWIDTHS)}, got {bandwidth!r}")
        self.height = height
        self.orientations = orientations
        self.bandwidth = bandwidth
        self.step = BANDWIDTHS[bandwidth]
        self._sizes: dict[tuple[int, int], tuple[int, torch.dtype]] = {}

    def extra_repr(self) -> str:
        return f"height={self.height}, orientations={self.orientations}, bandwidth={self.bandwidth!r}"

    @property
    def angles_deg(self) -> list[float]:
        """Orientation angles in degrees (y up, counter-clockwise from +x)."""
        return [180.0 * k / self.orientations for k in range(self.orientations)]

    def max_height(self, h: int, w: int) -> int:
        """Largest number of levels for an h x w image (lowpass residual >= 4 pixels)."""
        return max(0, math.floor((math.log2(min(h, w)) - 2) / self.step + 1e-9))

    def height_for(self, h: int, w: int) -> int:
        """Number of levels used for an h x w image; raises InputError when it does not fit."""
        most = self.max_height(h, w)
        if most < 1:
            raise InputError(
                f"SteerablePyramid: image {h}x{w} too small: need min(H, W) >= {2 ** (2 + self.step):g}")
        if self.height is not None and self.height > most:
            raise InputError(
                f"SteerablePyramid: height={self.height} too large for a {h}x{w} image: at most {most} "
                f"({self.bandwidth} bandwidth)"
            )
        return most if self.height is None else self.height

    def level_size(self, h: int, w: int, level: int) -> tuple[int, int]:
        """(h_r, w_r) of level ``level`` (0 = finest) for an h x w image."""
        b = -level * self.step
        return _crop_size(h, b), _crop_size(w, b)

    # -- masks ---------------------------------------------------------------------------------
    def _plan(self, h: int, w: int, like: Tensor) -> int:
        """Build (once per size, dtype and device) the masks for h x w images; returns the height."""
        height = self.height_for(h, w)
        cdtype = _COMPLEX.get(like.dtype)
        if cdtype is None:
            raise InputError(f"SteerablePyramid: expected float32 or float64 images, got {like.dtype}")
        prefix = f"_m{h}x{w}_"
        if self._sizes.get((h, w)) == (height, like.dtype):
            hi = getattr(self, prefix + "hi")
            if hi.dtype == cdtype and hi.device == like.device:
                self._sizes[(h, w)] = self._sizes.pop((h, w))  # most recently used last
                return height
        self._sizes.pop((h, w), None)
        while len(self._sizes) >= self.CACHED_SIZES:  # forget the least recently used size
            old = "_m{}x{}_".format(*next(iter(self._sizes)))
            del self._sizes[next(iter(self._sizes))]
            for name in [n for n in self._buffers if n.startswith(old)]:
                delattr(self, name)
        s, k_or = self.step, self.orientations
        fy = torch.fft.fftfreq(h, dtype=torch.float64) * 2.0
        fx = torch.fft.fftfreq(w, dtype=torch.float64) * 2.0
        wx, wy = fx[None, :].expand(h, w), (-fy)[:, None].expand(h, w)  # y up
        log_rho = torch.log2(torch.hypot(wx, wy).clamp_min(1e-30))
        theta = torch.atan2(wy, wx)
        lows = [_raised_cosine_lowpass(log_rho, -k * s, s) for k in range(height + 1)]
        order = k_or - 1
        alpha = math.sqrt(4.0**order / (k_or * math.comb(2 * order, order)))
        cos = torch.stack([torch.cos(theta - math.pi * k / k_or) for k in range(k_or)])
        ang = alpha * torch.where(cos > 0, cos, torch.zeros_like(cos)) ** order

        def keep(name: str, t: Tensor) -> None:
            dtype = cdtype if t.is_floating_point() else t.dtype
            self.register_buffer(prefix + name, t.to(like.device, dtype), persistent=False)

        # highpass residual mask on the rfft half-plane (it is symmetric)
        keep("hi", (1 - lows[0] ** 2).clamp_min(0).sqrt()[:, : w // 2 + 1])
        for r in range(height + 1):
            ch, cw = self.level_size(h, w, r)
            idx = _crop_index(h, w, ch, cw)
            keep(f"idx{r}", idx)
            half, conj = _half_index(idx, h, w)
            keep(f"hidx{r}", half)
            keep(f"hconj{r}", conj)
            scale = ch * cw / (h * w)  # level values = full-resolution band sampled on the coarse grid
            if r == height:
                lo = lows[r].reshape(-1)[idx].reshape(ch, cw)
                keep("lo_ana", lo * scale)
                keep("lo_syn", lo / scale)
            else:
                radial = (lows[r] ** 2 - lows[r + 1] ** 2).clamp_min(0).sqrt()
                band = (radial * ang).reshape(k_or, -1)[:, idx].reshape(k_or, ch, cw)
                keep(f"ana{r}", 2.0 * scale * band)
                keep(f"syn{r}", band / scale)
        self._sizes[(h, w)] = (height, like.dtype)
        return height

    def _get(self, h: int, w: int, name: str) -> Tensor:
        return getattr(self, f"_m{h}x{w}_{name}")

    def _crop(self, half: Tensor, h: int, w: int, r: int, shape: tuple[int, ...]) -> Tensor:
        """The (..., ch, cw) spectrum box of level r, from a real image's flat ``rfft2`` half-spectrum
        (..., h*(w//2+1)): entries right of the half are the conjugates of their point mirror."""
        box = half.index_select(-1, self._get(h, w, f"hidx{r}"))
        box = torch.where(self._get(h, w, f"hconj{r}"), box.conj(), box)
        return box.reshape(*box.shape[:-1], *shape[-2:])

    def _uncrop(self, flat: Tensor | None, part: Tensor, h: int, w: int, r: int) -> Tensor:
        """Add the (..., ch, cw) box of level r into the spectrum (..., h*w) (created when None)."""
        part = part.reshape(*part.shape[:-2], -1)
        if part.shape[-1] == h * w:
            return part if flat is None else flat + part
        if flat is None:
            flat = part.new_zeros(*part.shape[:-1], h * w)
        return flat.index_add(-1, self._get(h, w, f"idx{r}"), part)

    # -- analysis / synthesis ------------------------------------------------------------------
    def _input(self, img: Tensor, name: str) -> Tensor:
        return _check(img, name, (4, 5), "(B, C, H, W) or (B, T, C, H, W)")

    def _band(self, half: Tensor, h: int, w: int, r: int) -> Tensor:
        mask = self._get(h, w, f"ana{r}")
        return torch.fft.ifft2(self._crop(half, h, w, r, mask.shape).unsqueeze(-3) * mask)

    @staticmethod
    def _half(img: Tensor) -> tuple[Tensor, Tensor]:
        """``rfft2`` of real images (half the work of ``fft2``): (half-spectrum, its flat view)."""
        half = torch.fft.rfft2(img)
        return half, half.reshape(*half.shape[:-2], -1)

    def build(self, img: Tensor) -> Pyramid:
        """Decompose images into highpass, oriented complex levels and lowpass.

        Parameters
        ----------
        img : Tensor, shape (B, C, H, W) or (B, T, C, H, W)
            Real float32/float64 images (e.g. luminance in [0, 1]); any H, W (odd included) with
            min(H, W) >= 8.

        Returns
        -------
        Pyramid
            Levels of shape (..., C, K, h_r, w_r), complex64 for float32 input (complex128 for float64).
        """
        self._input(img, "SteerablePyramid.build: img")
        h, w = img.shape[-2:]
        height = self._plan(h, w, img)
        half, flat = self._half(img)
        highpass = torch.fft.irfft2(half * self._get(h, w, "hi"), s=(h, w))
        levels = [self._band(flat, h, w, r) for r in range(height)]
        lo = self._get(h, w, "lo_ana")
        lowpass = torch.fft.ifft2(self._crop(flat, h, w, height, lo.shape) * lo).real
        return Pyramid(highpass, levels, lowpass)

    def build_level(self, img: Tensor, level: int) -> Tensor:
        """Only level ``level`` of :meth:`build` (cheaper).

        (B, C, H, W) or (B, T, C, H, W) real -> (..., C, K, h_r, w_r) complex.
        """
        self._input(img, "SteerablePyramid.build_level: img")
        h, w = img.shape[-2:]
        height = self._plan(h, w, img)
        if not isinstance(level, int) or not 0 <= level < height:
            raise InputError(
                f"SteerablePyramid.build_level: level: expected an int in [0, {height - 1}], got {level!r}")
        return self._band(self._half(img)[1], h, w, level)

    def forward(self, img: Tensor) -> Pyramid:
        """Same as :meth:`build`."""
        return self.build(img)

    def reconstruct(self, pyr: Pyramid, phase_offsets: list[Tensor | None] | None = None) -> Tensor:
        """Rebuild images from a pyramid, optionally shifting the band phases.

        Each level is used as ``A exp(i (phi + dphi))`` = ``band * exp(i dphi)``; the residuals are
        left unchanged.  The output is the real part of the synthesis (exact, see module docstring).

        Parameters
        ----------
        pyr : Pyramid
            From :meth:`build` (possibly modified), levels (..., C, K, h_r, w_r).
        phase_offsets : list of (Tensor or None), optional
            One per level, radians, broadcastable to that level, e.g. (..., C, K, h_r, w_r) from
            :meth:`spread_phase`; None entries leave a level untouched.

        Returns
        -------
        Tensor, shape (..., C, H, W), real
        """
        self._input(pyr.highpass, "SteerablePyramid.reconstruct: highpass")
        h, w = pyr.highpass.shape[-2:]
        height = self._plan(h, w, pyr.highpass)
        if len(pyr.levels) != height:
            raise InputError(
                f"SteerablePyramid.reconstruct: expected {height} levels for {h}x{w}, got {len(pyr.levels)}")
        if phase_offsets is not None and len(phase_offsets) != height:
            raise InputError(
                f"SteerablePyramid.reconstruct: phase_offsets: expected {height} entries, "
                f"got {len(phase_offsets)}"
            )
        lo = self._get(h, w, "lo_syn")
        if pyr.lowpass.shape[-2:] != lo.shape:
            raise InputError(
                f"SteerablePyramid.reconstruct: lowpass: expected (..., {lo.shape[0]}, {lo.shape[1]}), "
                f"got {tuple(pyr.lowpass.shape)}")
        flat: Tensor | None = None
        for r, band in enumerate(pyr.levels):
            mask = self._get(h, w, f"syn{r}")
            if band.shape[-3:] != mask.shape:
                raise InputError(
                    f"SteerablePyramid.reconstruct: level {r}: "
                    f"expected (..., {', '.join(map(str, mask.shape))}), "
                    f"got {tuple(band.shape)}"
                )
            if phase_offsets is not None and phase_offsets[r] is not None:
                band = band * torch.polar(torch.ones_like(phase_offsets[r]), phase_offsets[r])
            flat = self._uncrop(flat, (torch.fft.fft2(band) * mask).sum(-3), h, w, r)
        flat = self._uncrop(flat, torch.fft.fft2(pyr.lowpass) * lo, h, w, height)
        out = torch.fft.ifft2(flat.reshape(*flat.shape[:-1], h, w)).real
        hi = torch.fft.rfft2(pyr.highpass) * self._get(h, w, "hi")
        return out + torch.fft.irfft2(hi, s=(h, w))

    def spread_phase(self, delta: Tensor, pyr: Pyramid, level: int) -> list[Tensor]:
        """Carry a phase change measured at ``level`` to every level (DeepMag eq. 22).

        A displacement shifts the phase of level r by ``2^(-s (r - level))`` times that of ``level``
        (``0.5^(r - r0)`` for octave bands), because its centre frequency scales that way.

        Parameters
        ----------
        delta : Tensor, shape (..., C, K, h', w'), real, radians
            Phase change at ``level``, any spatial size (resized bilinearly to each level).
        pyr : Pyramid
            Gives the level sizes.
        level : int
            r0.

        Returns
        -------
        list of Tensor, each (..., C, K, h_r, w_r)
            Offsets for :meth:`reconstruct`.
        """
        _check(delta, "SteerablePyramid.spread_phase: delta", tuple(range(4, 9)), "(..., C, K, h, w)")
        if not isinstance(level, int) or not 0 <= level < len(pyr.levels):
            raise InputError(
                f"SteerablePyramid.spread_phase: level: expected an int in [0, {len(pyr.levels) - 1}], "
                f"got {level!r}")
        lead = delta.shape[:-2]
        flat = delta.reshape(-1, 1, *delta.shape[-2:])
        out = []
        for r, band in enumerate(pyr.levels):
            size = tuple(band.shape[-2:])
            resized = flat if size == tuple(flat.shape[-2:]) else F.interpolate(
                flat, size=size, mode="bilinear", align_corners=False, antialias=True)
            out.append(resized.reshape(*lead, *size) * 2.0 ** (-self.step * (r - level)))
        return out


def phase_differences(
    frames: Tensor,
    pyramid: SteerablePyramid | None = None,
    level: int = 2,
    size: int | None = 123,
    luminance: bool = True,
    chunk: int = 32,
) -> PhaseDifferences:
    r"""Local phase differences at one pyramid level, DeepMag eq. 19.

    .. math:: X(r_0, \theta, t) = \mathrm{wrap}(\phi(r_0, \theta, t+1) - \phi(r_0, \theta, t))

    computed as ``angle(c(t+1) conj(c(t)))`` (exact wrapping to (-pi, pi]).  Resampling to
    ``size`` x ``size`` interpolates the complex product ``c(t+1) conj(c(t))`` (real and imaginary
    parts, bilinear, antialiased) and then takes its angle, so pixels are amplitude-weighted and no
    wrap artefacts appear.  A displacement ``d`` (pixels, along the orientation, y up) of structure
    of wavelength ``lambda`` gives ``X = -2 pi d / lambda``.

    Defaults follow DeepMag: octave pyramid, 4 orientations, level 2 (123 = 492 / 4 rows for their
    658 x 492 video), 123 x 123 output.

    Parameters
    ----------
    frames : Tensor, shape (B, T, C, H, W), T >= 2
        Float frames.  With ``luminance`` and C == 3 (RGB) only the Y (luminance) channel of YIQ is
        used (C becomes 1), the usual choice for motion; otherwise every channel is processed.
    pyramid : SteerablePyramid, optional
        Default ``SteerablePyramid()``; pass one to reuse its cached masks.
    level : int
        r0, 0 = finest.
    size : int or None
        Output side S in pixels; None keeps the level's native size (h, w).
    luminance : bool
        Convert RGB to Y first.
    chunk : int
        Frames per FFT batch (bounds memory: one complex copy of ``chunk`` full frames).

    Returns
    -------
    PhaseDifferences
        ``x`` (B, T-1, C*K, S, S) radians, ``amplitude`` and ``phase`` (B, T, C, K, h, w).
    """
    _check(frames, "phase_differences: frames", (5,), "(B, T, C, H, W)")
    if frames.shape[1] < 2:
        raise InputError(
            f"phase_differences: frames: expected at least 2 frames (dim 1), got {frames.shape[1]}")
    if size is not None and (not isinstance(size, int) or size < 1):
        raise InputError(f"phase_differences: size: expected a positive int or None, got {size!r}")
    pyramid = SteerablePyramid() if pyramid is None else pyramid
    if luminance and frames.shape[2] == 3:
        y_row = _RGB_TO_YIQ[0].to(frames.device, frames.dtype)
        frames = torch.einsum("j,btjhw->bthw", y_row, frames)[:, :, None]
    b, t = frames.shape[:2]
    flat = frames.reshape(b * t, *frames.shape[2:])
    bands = torch.cat([pyramid.build_level(flat[i:i + chunk], level) for i in range(0, b * t, max(1, chunk))])
    bands = bands.reshape(b, t, *bands.shape[1:])  # (B, T, C, K, h, w)
    prod = bands[:, 1:] * bands[:, :-1].conj()
    if size is not None:
        lead = prod.shape[:-2]
        ri = torch.view_as_real(prod).movedim(-1, -3).reshape(-1, 2, *prod.shape[-2:])
        ri = F.interpolate(ri, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
        prod = torch.complex(ri[:, 0], ri[:, 1]).reshape(*lead, size, size)
    x = wrap_phase(torch.angle(prod))
    x = x.reshape(b, t - 1, -1, *x.shape[-2:])
    return PhaseDifferences(x, bands)
