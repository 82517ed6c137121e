"""Measuring magnification: gain, fidelity to a ground-truth rendering, leakage, PSNR/SSIM, correlation.

All functions take ``uint8 (T, H, W, 3)`` videos (or float arrays of that shape) and boolean region
masks ``(H, W)`` or ``(T, H, W)``; they return plain numbers and never print.  These are the only
definitions in physio: the streaming scorer of `physio compare`
(:class:`physio.evaluation.scoring.ClipScorer`), the circle benchmark and the benchmarks accumulate
the same quantities chunk by chunk.

PSNR (peak 255) is ``10 log10(255² / MSE)`` (:func:`psnr_from_mse`); identical frames have infinite
PSNR, and a mean over frames (:func:`mean_psnr`) leaves them out (it is infinite only when every
frame is identical).  Leakage is the mean squared change (summed over channels) outside a region over
that inside it (:func:`leakage_ratio`).
"""

from __future__ import annotations

import numpy as np
from scipy import signal as sps

from physio.errors import InputError

__all__ = [
    "region_trace",
    "band_rms",
    "band_power_at",
    "change_correlation",
    "projected_gain",
    "leakage",
    "psnr_ssim",
    "frame_psnr_ssim",
    "frame_ssim",
    "bandpass_time",
    "psnr_from_mse",
    "mean_psnr",
    "leakage_ratio",
    "rms_from_sums",
    "pearson",
    "per_pixel_correlation",
    "PixelCorrelation",
    "correlation_summary",
    "static_offset",
]


def _mask_t(mask: np.ndarray, t: int) -> np.ndarray:
    m = np.asarray(mask).astype(bool)
    return m if m.ndim == 2 else m[t]


def region_trace(frames: np.ndarray, mask: np.ndarray, channel: int | None = 1) -> np.ndarray:
    """Mean over ``mask`` per frame of one channel (``None``: all three → ``(T, 3)``)."""
    f = np.asarray(frames)
    m = np.asarray(mask).astype(bool)
    out = []
    for t in range(len(f)):
        mt = m if m.ndim == 2 else m[t]
        if not mt.any():
            out.append(np.full(3, np.nan))
            continue
        out.append(f[t][mt].reshape(-1, 3).mean(0))
    arr = np.asarray(out, dtype=np.float64)
    return arr if channel is None else arr[:, channel]


def bandpass_time(x: np.ndarray, fps: float, band: tuple[float, float]) -> np.ndarray:
    """Zero-phase band-pass along axis 0 (6th-order Butterworth, mean removed; NaNs interpolated)."""
    sos = sps.butter(3, band, btype="bandpass", fs=fps, output="sos")
    x = np.asarray(x, dtype=np.float64)
    ok = np.isfinite(x)
    if not ok.all():
        x = np.interp(np.arange(len(x)), np.flatnonzero(ok), x[ok])
    return sps.sosfiltfilt(sos, x - x.mean(0), axis=0)


def band_rms(trace: np.ndarray, fps: float, band: tuple[float, float]) -> float:
    """RMS of a trace after a zero-phase band-pass (the in-band amplitude)."""
    return float(np.sqrt(np.mean(bandpass_time(trace, fps, band) ** 2)))


def band_power_at(trace: np.ndarray, fps: float, rate_per_min: float, halfwidth_per_min: float = 6.0) -> float:
    """Periodogram power of a (detrended) trace within ±``halfwidth`` of ``rate`` (per minute)."""
    x = np.asarray(trace, dtype=np.float64)
    x = sps.detrend(x)
    f, p = sps.periodogram(x, fs=fps, nfft=max(4096, len(x)))
    sel = np.abs(f * 60.0 - rate_per_min) <= halfwidth_per_min
    return float(p[sel].sum())


def _region_changes(out, orig, truth, mask, fps, band) -> tuple[np.ndarray, np.ndarray]:
    """``out − orig`` and ``truth − orig`` inside ``mask`` (flattened, float64), band-passed in time first
    when ``fps`` and ``band`` are given."""
    o = np.asarray(out, np.float32) - np.asarray(orig, np.float32)
    g = np.asarray(truth, np.float32) - np.asarray(orig, np.float32)
    if o.shape != g.shape:
        raise InputError(f"shapes differ: {o.shape} vs {g.shape}")
    if band is not None and fps is not None:
        sos = sps.butter(3, band, btype="bandpass", fs=fps, output="sos")
        o = sps.sosfiltfilt(sos, o, axis=0).astype(np.float32)
        g = sps.sosfiltfilt(sos, g, axis=0).astype(np.float32)
    m = np.asarray(mask).astype(bool)
    if m.ndim == 2:
        a, b = o[:, m], g[:, m]
    else:
        a, b = o[m], g[m]
    return a.ravel().astype(np.float64), b.ravel().astype(np.float64)


def change_correlation(out: np.ndarray, orig: np.ndarray, truth: np.ndarray, mask: np.ndarray,
                       fps: float | None = None, band: tuple[float, float] | None = None) -> float:
    """Pearson r between a method's change and the true change, over the pixels of ``mask`` and time.

    ``out − orig`` and ``truth − orig`` are compared channel by channel inside the region (per frame
    when the mask moves).  With ``fps`` and ``band`` both changes are first band-passed in time per
    pixel (so slow drifts that are not magnification do not count).
    """
    return pearson(*_region_changes(out, orig, truth, mask, fps, band))


def static_offset(out: np.ndarray, orig: np.ndarray, mask: np.ndarray, fps: float,
                  band: tuple[float, float]) -> float:
    """How much of a method's change is a constant rather than a magnified signal.

    Over the pixels of a fixed ``mask`` (2-D; channels separately): the mean over pixels of
    ``|temporal mean of (out − orig)|``, divided by the mean over pixels of the change's in-band RMS (per
    pixel, band-passed in time).  A band-passed magnification has no temporal mean (≈ 0); a change that
    sits on the frame as a constant pattern gives ≫ 1.
    """
    m = np.asarray(mask).astype(bool)
    if m.ndim != 2 or not m.any():
        raise InputError("static_offset needs a non-empty 2-D mask")
    # mask first, then float, and filter a block of pixels at a time: whole-video float copies and one
    # sosfiltfilt over every pixel put the test suite's peak at 4.7 GB on face.mp4
    change = np.asarray(out)[:, m].astype(np.float32) - np.asarray(orig)[:, m].astype(np.float32)  # (T, P, C)
    if len(change) < 2:
        raise InputError("static_offset needs at least two frames")
    sos = sps.butter(3, band, btype="bandpass", fs=fps, output="sos")
    step = 8192
    rms = np.concatenate([np.sqrt((sps.sosfiltfilt(sos, change[:, i : i + step].astype(np.float64), axis=0) ** 2)
                                  .mean(0)) for i in range(0, change.shape[1], step)])
    denom = float(rms.mean())
    return float(np.abs(change.mean(0, dtype=np.float64)).mean() / denom) if denom > 0 else float("inf")


def projected_gain(out: np.ndarray, orig: np.ndarray, truth: np.ndarray, alpha: float, mask: np.ndarray,
                   fps: float | None = None, band: tuple[float, float] | None = None) -> float:
    """Magnification factor of the part of a method's change that is the true one.

    ``truth`` is the source magnified ``alpha`` times, so ``truth − orig`` is ``alpha − 1`` times the
    source's own change (to first order).  The least-squares coefficient ``k`` of ``out − orig`` on
    ``truth − orig`` (inside ``mask``, band-passed as in :func:`change_correlation`) makes the output
    ``1 + k(alpha − 1)`` times the source, whatever else it adds: changes orthogonal to the true one —
    noise, static background, other motion — do not count.  1 for an unchanged output, ``alpha`` for
    ``truth`` itself.
    """
    a, b = _region_changes(out, orig, truth, mask, fps, band)
    bb = float(b @ b)
    if bb == 0:
        raise InputError("the ground-truth rendering does not differ from the original inside the region")
    return 1.0 + float(a @ b) / bb * (float(alpha) - 1.0)


def leakage_ratio(sum_in: float, n_in: float, sum_out: float, n_out: float) -> float:
    """``(sum_out / n_out) / (sum_in / n_in)`` of squared changes (summed over channels) outside and inside
    a region; ``inf`` when nothing changes inside, NaN when either side has no pixels."""
    if not n_in or not n_out:
        return float("nan")
    return float((sum_out / n_out) / (sum_in / n_in)) if sum_in > 0 else float("inf")


def leakage(out: np.ndarray, orig: np.ndarray, mask: np.ndarray) -> float:
    """Mean squared change outside ``mask`` divided by the mean squared change inside it."""
    d = (np.asarray(out, np.float32) - np.asarray(orig, np.float32)) ** 2
    d = d.sum(-1)  # over channels
    m = np.asarray(mask).astype(bool)
    if m.ndim == 2:
        m = np.broadcast_to(m, d.shape)
    return leakage_ratio(float(d[m].sum()), int(m.sum()), float(d[~m].sum()), int((~m).sum()))


def rms_from_sums(sum_sq: float, n: float) -> float | None:
    """Root mean square from a sum of squares over ``n`` values (None when there are none)."""
    return float(np.sqrt(sum_sq / n)) if n else None


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson r of two flattened arrays; NaN when either is constant."""
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    if a.std() == 0 or b.std() == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def psnr_from_mse(mse: float, peak: float = 255.0) -> float:
    """PSNR in dB of a mean squared error (``inf`` for 0)."""
    return float("inf") if mse == 0 else float(10.0 * np.log10(peak**2 / mse))


def mean_psnr(values) -> float:
    """Mean of per-frame PSNRs, leaving out identical frames (infinite PSNR); ``inf`` when all are."""
    v = np.asarray(list(values), dtype=np.float64)
    finite = v[np.isfinite(v)]
    return float(finite.mean()) if finite.size else float("inf")


_SSIM_WIN = 7  # scikit-image's default: a uniform 7 × 7 window
_SSIM_K1, _SSIM_K2 = 0.01, 0.03


def _ssim_mean(x: np.ndarray, y: np.ndarray, c1: float, c2: float) -> float:
    """Mean SSIM of two float64 ``(H, W, C)`` images over pixels and channels (all channels are the same
    size, so this is the mean of scikit-image's per-channel means): its uniform window and sample
    covariance, its border of (win − 1)/2 left out, the arithmetic done in place."""
    import cv2  # noqa: PLC0415

    def box(z):
        return cv2.boxFilter(z, -1, (_SSIM_WIN, _SSIM_WIN), normalize=True, borderType=cv2.BORDER_REFLECT)

    n = _SSIM_WIN * _SSIM_WIN
    cov_norm = n / (n - 1.0)
    ux, uy = box(x), box(y)
    uxx, uyy, uxy = box(x * x), box(y * y), box(x * y)
    uxy -= ux * uy  # 2 vxy + C2
    uxy *= 2.0 * cov_norm
    uxy += c2
    uxx -= ux * ux  # vx + vy + C2
    uyy -= uy * uy
    uxx += uyy
    uxx *= cov_norm
    uxx += c2
    uy2 = uy * uy
    uy *= ux  # 2 ux uy + C1
    uy *= 2.0
    uy += c1
    ux *= ux  # ux² + uy² + C1
    ux += uy2
    ux += c1
    uy *= uxy
    ux *= uxx
    uy /= ux
    p = (_SSIM_WIN - 1) // 2
    return float(uy[p:-p, p:-p].mean(dtype=np.float64))


def frame_ssim(out: np.ndarray, ref: np.ndarray, data_range: float = 255.0) -> np.ndarray:
    """Per-frame SSIM of ``out`` against ``ref`` (``(T, H, W, C)``), averaged over the channels.  The
    one SSIM of physio (comparisons, circle benchmark).

    It is scikit-image's ``structural_similarity`` with its defaults (uniform 7 × 7 window, sample
    covariance, K1 0.01, K2 0.03, the (7 − 1)/2-pixel border left out of the mean), computed in float64
    with OpenCV's box filter and in-place arithmetic over the whole frame: equal to scikit-image's to
    1e-12 (tested; 1.4e-14 on real frames) and 2.2× faster (scikit-image's ``uniform_filter`` and its
    temporaries were 8 of the 24 s of a 300-frame ``physio compare`` on a video).  Inputs of any dtype
    are compared in float64 (scikit-image would work in float32 for float32 inputs)."""
    a, b = np.asarray(out), np.asarray(ref)
    if a.shape != b.shape:
        raise InputError(f"frame_ssim: shapes differ: {a.shape} vs {b.shape}")
    if a.ndim != 4 or min(a.shape[1:3]) < _SSIM_WIN:
        raise InputError(f"frame_ssim: expected (T, H, W, C) frames at least {_SSIM_WIN}×{_SSIM_WIN}, got {a.shape}")
    c1, c2 = (_SSIM_K1 * data_range) ** 2, (_SSIM_K2 * data_range) ** 2
    return np.array([_ssim_mean(x.astype(np.float64), y.astype(np.float64), c1, c2) for x, y in zip(a, b)])


def frame_psnr_ssim(out: np.ndarray, ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame PSNR (dB, peak 255; ``inf`` for identical frames) and SSIM (RGB; :func:`frame_ssim`)
    of ``out`` against ``ref``."""
    a, b = np.asarray(out), np.asarray(ref)
    if a.dtype == np.uint8 and b.dtype == np.uint8 and a.size:  # OpenCV's sum of squares: exact for 8-bit
        import cv2  # noqa: PLC0415

        mse = np.array([cv2.norm(x, y, cv2.NORM_L2SQR) / x.size for x, y in zip(a, b)])
    else:
        mse = np.array([float(np.mean((x.astype(np.float64) - y.astype(np.float64)) ** 2)) for x, y in zip(a, b)])
    ps = np.array([psnr_from_mse(v) for v in mse])
    ss = np.ones(len(a))
    diff = mse > 0
    if diff.any():
        ss[diff] = frame_ssim(a[diff], b[diff])
    return ps, ss


def psnr_ssim(out: np.ndarray, orig: np.ndarray) -> tuple[float, float]:
    """Mean per-frame PSNR (dB; :func:`mean_psnr`) and mean SSIM of ``out`` against ``orig``."""
    ps, ss = frame_psnr_ssim(out, orig)
    return mean_psnr(ps), float(np.mean(ss))


# -- correlation ----------------------------------------------------------------------------------


def _float64(x, name: str) -> np.ndarray:
    arr = x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)
    if arr.ndim < 1:
        raise InputError(f"{name} must have a time axis first, got a scalar")
    return arr.astype(np.float64, copy=False)


def per_pixel_correlation(a, b, *, constant: float = np.nan) -> np.ndarray:
    """Pearson correlation over time (axis 0) for every element: ``(T, ...)`` × ``(T, ...)`` → ``(...)``.

    Parameters
    ----------
    a, b : array_like or Tensor, same shape ``(T, ...)``, ``T ≥ 2``
        E.g. the band-passed input and magnified representations ``(T, H, W)`` (Fig. 11).
    constant : float
        Value for elements where ``a`` or ``b`` is constant over time (correlation undefined):
        NaN by default (0 if you prefer to count them as uncorrelated).

    Returns
    -------
    ndarray, float64, in ``[-1, 1]`` (or ``constant``/NaN)
        NaN wherever an input has a NaN.  No warnings are emitted.

    Notes
    -----
    Computed in float64 from the mean-removed series; "constant" means exactly constant (peak-to-peak
    zero).  For videos too long to hold, use :class:`PixelCorrelation`.
    """
    x, y = _float64(a, "a"), _float64(b, "b")
    if x.shape != y.shape:
        raise InputError(f"a and b must have the same shape, got {x.shape} and {y.shape}")
    if x.shape[0] < 2:
        raise InputError(f"need at least 2 time points, got {x.shape[0]}")
    const = (x.max(axis=0) == x.min(axis=0)) | (y.max(axis=0) == y.min(axis=0))
    dx = x - x.mean(axis=0)
    dy = y - y.mean(axis=0)
    num = np.einsum("t...,t...->...", dx, dy)
    den = np.sqrt(np.einsum("t...,t...->...", dx, dx) * np.einsum("t...,t...->...", dy, dy))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.clip(num / den, -1.0, 1.0)
    r = np.asarray(r, dtype=np.float64)
    r[np.asarray(const)] = constant
    return r


class PixelCorrelation:
    """Streaming :func:`per_pixel_correlation`: feed chunk pairs ``(t, ...)``, read :meth:`result`.

    Keeps six float64 sums and two extremes per element (sums are taken about the first frame's
    values, which avoids the cancellation of raw second moments).  Same result as
    :func:`per_pixel_correlation` on the concatenated chunks, to rounding.
    """

    def __init__(self, *, constant: float = np.nan) -> None:
        self.constant = constant
        self.n = 0
        self._s: dict[str, np.ndarray] | None = None

    def update(self, a, b) -> None:
        x, y = _float64(a, "a"), _float64(b, "b")
        if x.shape != y.shape:
            raise InputError(f"a and b chunks must have the same shape, got {x.shape} and {y.shape}")
        if not len(x):
            return
        if self._s is None:
            z = np.zeros(x.shape[1:])
            self._s = {"x0": x[0].copy(), "y0": y[0].copy(), "sx": z.copy(), "sy": z.copy(), "sxx": z.copy(),
                       "syy": z.copy(), "sxy": z.copy(), "xmin": x[0].copy(), "xmax": x[0].copy(),
                       "ymin": y[0].copy(), "ymax": y[0].copy()}
        s = self._s
        if x.shape[1:] != s["x0"].shape:
            raise InputError(f"chunk element shape {x.shape[1:]} differs from {s['x0'].shape}")
        dx, dy = x - s["x0"], y - s["y0"]
        s["sx"] += dx.sum(axis=0)
        s["sy"] += dy.sum(axis=0)
        s["sxx"] += np.einsum("t...,t...->...", dx, dx)
        s["syy"] += np.einsum("t...,t...->...", dy, dy)
        s["sxy"] += np.einsum("t...,t...->...", dx, dy)
        s["xmin"] = np.minimum(s["xmin"], x.min(axis=0))  # NaN propagates: never "constant"
        s["xmax"] = np.maximum(s["xmax"], x.max(axis=0))
        s["ymin"] = np.minimum(s["ymin"], y.min(axis=0))
        s["ymax"] = np.maximum(s["ymax"], y.max(axis=0))
        self.n += len(x)

    def result(self) -> np.ndarray:
        if self._s is None or self.n < 2:
            raise InputError(f"need at least 2 time points, got {self.n}")
        s, n = self._s, self.n
        cov = s["sxy"] - s["sx"] * s["sy"] / n
        vx = s["sxx"] - s["sx"] ** 2 / n
        vy = s["syy"] - s["sy"] ** 2 / n
        with np.errstate(invalid="ignore", divide="ignore"):
            r = np.clip(cov / np.sqrt(np.clip(vx, 0, None) * np.clip(vy, 0, None)), -1.0, 1.0)
        r = np.asarray(r, dtype=np.float64)
        r[np.asarray((s["xmin"] == s["xmax"]) | (s["ymin"] == s["ymax"]))] = self.constant
        return r


def correlation_summary(corr, mask=None) -> dict:
    """Summarise a correlation map for the sign-correction check (Fig. 11).

    Parameters
    ----------
    corr : array_like
        From :func:`per_pixel_correlation`.
    mask : array_like of bool, optional
        Same shape; only ``True`` elements count (e.g. the body, not the background).

    Returns
    -------
    dict
        ``n`` (elements counted), ``n_valid`` (not NaN), ``fraction_positive``, ``fraction_negative``
        (of the valid ones), ``mean``, ``median``, ``min`` (NaN when none is valid).  With sign
        correction, ``fraction_negative`` should be 0 wherever the source moves.
    """
    c = np.asarray(corr, dtype=np.float64)
    if mask is not None:
        m = np.asarray(mask, dtype=bool)
        if m.shape != c.shape:
            raise InputError(f"mask shape {m.shape} differs from the correlation map's {c.shape}")
        c = c[m]
    c = c.reshape(-1)
    v = c[~np.isnan(c)]
    nan = float("nan")
    return {
        "n": int(c.size),
        "n_valid": int(v.size),
        "fraction_positive": float((v > 0).mean()) if v.size else nan,
        "fraction_negative": float((v < 0).mean()) if v.size else nan,
        "mean": float(v.mean()) if v.size else nan,
        "median": float(np.median(v)) if v.size else nan,
        "min": float(v.min()) if v.size else nan,
    }
