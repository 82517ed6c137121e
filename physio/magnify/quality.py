"""Measuring magnification: gain, fidelity to a ground-truth rendering, leakage, PSNR/SSIM.

All functions take ``uint8 (T, H, W, 3)`` videos (or float arrays of that shape) and boolean region
masks ``(H, W)`` or ``(T, H, W)``; they return plain numbers and never print.  They stream over time
where a video may be long (``chunk`` frames at a time).
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
    "bandpass_time",
    "vertical_motion",
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
    a, b = _region_changes(out, orig, truth, mask, fps, band)
    if a.std() == 0 or b.std() == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


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


def leakage(out: np.ndarray, orig: np.ndarray, mask: np.ndarray) -> float:
    """Mean squared change outside ``mask`` divided by the mean squared change inside it."""
    d = (np.asarray(out, np.float32) - np.asarray(orig, np.float32)) ** 2
    d = d.sum(-1)  # over channels
    m = np.asarray(mask).astype(bool)
    if m.ndim == 2:
        m = np.broadcast_to(m, d.shape)
    inside = d[m].mean() if m.any() else np.nan
    outside = d[~m].mean() if (~m).any() else np.nan
    return float(outside / inside) if inside > 0 else float("inf")


def frame_psnr_ssim(out: np.ndarray, ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame PSNR (dB, peak 255; ``inf`` for identical frames) and SSIM (RGB) of ``out`` against ``ref``."""
    from skimage.metrics import structural_similarity  # noqa: PLC0415

    ps, ss = [], []
    for a, b in zip(np.asarray(out), np.asarray(ref)):
        mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
        ps.append(np.inf if mse == 0 else 10 * np.log10(255.0**2 / mse))
        ss.append(1.0 if mse == 0 else float(structural_similarity(b, a, channel_axis=-1, data_range=255)))
    return np.asarray(ps), np.asarray(ss)


def psnr_ssim(out: np.ndarray, orig: np.ndarray) -> tuple[float, float]:
    """Mean per-frame PSNR (dB; identical frames count as 100 dB) and SSIM of ``out`` against ``orig``."""
    ps, ss = frame_psnr_ssim(out, orig)
    return float(np.mean(np.minimum(ps, 100.0))), float(np.mean(ss))


def vertical_motion(frames: np.ndarray, box: tuple[int, int, int, int] | None = None, upsample: int = 20) -> np.ndarray:
    """Vertical position (pixels, up positive) of a region in every frame relative to the first,
    by sub-pixel phase correlation (scikit-image)."""
    from skimage.registration import phase_cross_correlation  # noqa: PLC0415

    f = np.asarray(frames)
    if box is not None:
        x0, y0, x1, y1 = box
        f = f[:, y0:y1, x0:x1]
    g = f.astype(np.float64).mean(-1)
    ref = g[0]
    out = np.empty(len(g))
    for i, img in enumerate(g):
        shift, _, _ = phase_cross_correlation(ref, img, upsample_factor=upsample, normalization=None)
        out[i] = shift[0]
    return out
