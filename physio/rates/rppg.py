"""Classical rPPG baselines on RGB traces: GREEN, CHROM, POS.

Input is an RGB trace, shape (T, 3): per-frame spatial means of the skin ROI in R, G, B order
(any positive scale: [0, 255] or [0, 1]; see :func:`skin_rgb_means`).  Output is a pulse
*waveform* (not a derivative), shape (T,), to be post-processed like a network output with
``physio.rates.waveform.pulse_waveform(wave, fs_hz, derivative=False)``.  The sign and scale of the output
are arbitrary (rate estimation does not depend on them).

References
----------
Verkruysse, Svaasand & Nelson (2008), "Remote plethysmographic imaging using ambient light",
Optics Express 16(26) — GREEN.
de Haan & Jeanne (2013), "Robust pulse rate from chrominance-based rPPG", IEEE TBME 60(10) — CHROM.
Wang, den Brinker, Stuijk & de Haan (2017), "Algorithmic principles of remote PPG",
IEEE TBME 64(7) — POS.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import scipy.ndimage
from numpy.lib.stride_tricks import sliding_window_view

from physio import PULSE_BAND_HZ
from physio.errors import InputError
from physio.rates.methods import RPPG_METHODS, rppg_function
from physio.rates.waveform import _check_fs, bandpass_zero_phase

__all__ = ["RPPG_METHODS", "rppg_pulse", "rppg_green", "rppg_chrom", "rppg_pos", "skin_rgb_means", "masked_mean"]

_WINDOW_S = 1.6  # de Haan & Jeanne 2013 / Wang et al. 2017 / rPPG-Toolbox


def _check_rgb(rgb, fs_hz: float, window_s: float | None) -> tuple[np.ndarray, int]:
    """Validate an RGB trace; return it as float64 (T, 3) and the window length in samples."""
    x = np.asarray(rgb)
    if x.ndim != 2 or x.shape[1] != 3:
        raise InputError(f"rgb must have shape (T, 3), got {x.shape}")
    if not np.issubdtype(x.dtype, np.number) or np.iscomplexobj(x):
        raise InputError(f"rgb must be real numeric, got dtype {x.dtype}")
    x = x.astype(np.float64)
    bad = ~np.isfinite(x)
    if bad.any():
        frames = np.flatnonzero(bad.any(axis=1))
        raise InputError(f"rgb has non-finite values in {frames.size} frame(s), first at frame {frames[0]}")
    if (x <= 0).any():
        frames = np.flatnonzero((x <= 0).any(axis=1))
        raise InputError(
            f"rgb must be > 0 (skin reflects light in every channel); {frames.size} frame(s) have a "
            f"channel <= 0, first at frame {frames[0]}"
        )
    if window_s is None:  # no windowing (GREEN): only the filtfilt minimum
        if x.shape[0] < 9:
            raise InputError(f"rgb has {x.shape[0]} frames; need at least 9")
        return x, 0
    if not (math.isfinite(window_s) and window_s > 0):
        raise InputError(f"window_s must be > 0, got {window_s!r}")
    win = int(math.ceil(window_s * fs_hz))
    win += win % 2  # even, so a half-window hop tiles exactly
    if win < 4:
        raise InputError(f"window_s={window_s:g} s is {win} samples at {fs_hz:g} Hz; need >= 4")
    if x.shape[0] < 2 * win:
        raise InputError(
            f"rgb has {x.shape[0]} frames ({x.shape[0] / fs_hz:.2f} s); need at least {2 * win} "
            f"(two {window_s:g} s windows at {fs_hz:g} Hz)"
        )
    return x, win


def rppg_green(rgb, fs_hz: float) -> np.ndarray:
    """GREEN (Verkruysse et al. 2008): the relative green-channel variation ``G / mean(G) - 1``.

    Parameters
    ----------
    rgb : array_like, shape (T, 3)
        Per-frame skin-ROI mean R, G, B (> 0).
    fs_hz : float
        Frame rate, Hz.

    Returns
    -------
    numpy.ndarray, shape (T,), float64
    """
    fs = _check_fs(fs_hz)
    x, _ = _check_rgb(rgb, fs, None)
    g = x[:, 1]
    return g / g.mean() - 1.0


def _window_starts(n: int, win: int, hop: int) -> np.ndarray:
    starts = np.arange(0, n - win + 1, hop)
    if starts[-1] != n - win:  # cover the tail with one last window ending at the final frame
        starts = np.append(starts, n - win)
    return starts


def rppg_chrom(
    rgb, fs_hz: float, window_s: float = _WINDOW_S, band_hz: tuple[float, float] = PULSE_BAND_HZ
) -> np.ndarray:
    """CHROM (de Haan & Jeanne 2013) with windowed α-tuning and Hann overlap-add.

    Each channel is normalised by its running mean over ``window_s``; chrominance signals
    ``X = 3R - 2G`` and ``Y = 1.5R + G - 1.5B`` are band-passed (3rd-order zero-phase Butterworth,
    ``band_hz``); in each window (``window_s``, half-window hop) ``S = X - (σX/σY)·Y`` is
    Hann-weighted and overlap-added.

    Parameters
    ----------
    rgb : array_like, shape (T, 3)
        Per-frame skin-ROI mean R, G, B (> 0), T >= two windows.
    fs_hz : float
        Frame rate, Hz.
    window_s : float
        Window length, s (paper and rPPG-Toolbox: 1.6 s).
    band_hz : (float, float)
        Band-pass applied to X and Y, Hz.

    Returns
    -------
    numpy.ndarray, shape (T,), float64
        Pulse waveform.
    """
    fs = _check_fs(fs_hz)
    x, win = _check_rgb(rgb, fs, window_s)
    norm = x / scipy.ndimage.uniform_filter1d(x, size=win, axis=0, mode="nearest")
    r, g, b = norm.T
    xf = bandpass_zero_phase(3.0 * r - 2.0 * g, fs, band_hz, order=3)
    yf = bandpass_zero_phase(1.5 * r + g - 1.5 * b, fs, band_hz, order=3)
    hop = win // 2
    taper = np.hanning(win)
    out = np.zeros(x.shape[0])
    for s in _window_starts(x.shape[0], win, hop):
        xw, yw = xf[s : s + win], yf[s : s + win]
        sy = yw.std()
        alpha = xw.std() / sy if sy > 0 else 0.0
        seg = xw - alpha * yw
        out[s : s + win] += taper * (seg - seg.mean())
    return out


def rppg_pos(rgb, fs_hz: float, window_s: float = _WINDOW_S) -> np.ndarray:
    """POS, plane-orthogonal-to-skin (Wang et al. 2017), with one-sample-hop overlap-add.

    In every window of ``window_s`` (hop one frame, as in the paper's algorithm 1) the
    channels are divided by their window mean, projected on ``S1 = G - B`` and
    ``S2 = -2R + G + B`` (both orthogonal to the intensity direction [1, 1, 1]), combined as
    ``h = S1 + (σS1/σS2)·S2``, made zero-mean and added into the output.

    Parameters
    ----------
    rgb : array_like, shape (T, 3)
        Per-frame skin-ROI mean R, G, B (> 0), T >= two windows.
    fs_hz : float
        Frame rate, Hz.
    window_s : float
        Window length, s (paper and rPPG-Toolbox: 1.6 s).

    Returns
    -------
    numpy.ndarray, shape (T,), float64
        Pulse waveform (the first and last ``window_s`` get fewer overlapping windows).
    """
    fs = _check_fs(fs_hz)
    x, win = _check_rgb(rgb, fs, window_s)
    windows = sliding_window_view(x, win, axis=0)  # (T-win+1, 3, win)
    cn = windows / windows.mean(axis=2, keepdims=True)
    s1 = cn[:, 1] - cn[:, 2]
    s2 = -2.0 * cn[:, 0] + cn[:, 1] + cn[:, 2]
    sd2 = s2.std(axis=1, keepdims=True)
    alpha = np.divide(s1.std(axis=1, keepdims=True), sd2, out=np.zeros_like(sd2), where=sd2 > 0)
    h = s1 + alpha * s2
    h -= h.mean(axis=1, keepdims=True)
    n_win = h.shape[0]
    out = np.zeros(x.shape[0])
    for k in range(win):  # overlap-add: sample (start + k) receives h[start, k]
        out[k : k + n_win] += h[:, k]
    return out


def rppg_pulse(rgb, fs_hz: float, method: str = "pos", **kwargs) -> np.ndarray:
    """Pulse waveform from an RGB trace with a classical method.

    Parameters
    ----------
    rgb : array_like, shape (T, 3)
        Per-frame skin-ROI mean R, G, B (> 0).
    fs_hz : float
        Frame rate, Hz.
    method : {"pos", "chrom", "green"}
        Case-insensitive.
    **kwargs
        Passed to the method (``window_s``; ``band_hz`` for CHROM).

    Returns
    -------
    numpy.ndarray, shape (T,), float64
        Pulse waveform (not a derivative).

    Raises
    ------
    InputError
        Unknown method (the message lists valid names) or invalid input.
    """
    return rppg_function(method)(rgb, fs_hz, **kwargs)


def masked_mean(frame: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mean R, G, B ``(3,)`` float64 of one ``(H, W, 3)`` uint8 frame over a bool ``(H, W)`` mask; NaN where
    the mask is empty.  OpenCV's masked mean (double precision): the same values as gathering the
    pixels, ~10× faster per frame (0.7 vs 6.9 ms on face.mp4's 528 × 592 frames)."""
    m = np.ascontiguousarray(mask, dtype=bool).view(np.uint8)
    if not cv2.countNonZero(m):
        return np.full(3, np.nan)
    return np.asarray(cv2.mean(np.ascontiguousarray(frame), mask=m)[:3], dtype=np.float64)


def skin_rgb_means(frames, mask) -> np.ndarray:
    """Per-frame mean colour over a skin mask.

    Parameters
    ----------
    frames : numpy.ndarray, shape (T, H, W, 3), uint8 (or any real dtype)
        Video frames, RGB.
    mask : numpy.ndarray, shape (H, W) or (T, H, W), bool
        Pixels to average (one mask for all frames, or one per frame).

    Returns
    -------
    numpy.ndarray, shape (T, 3), float64
        Mean R, G, B per frame, in the frames' units.

    Raises
    ------
    InputError
        Shape mismatch, a non-boolean mask, or a frame whose mask is empty.
    """
    f = np.asarray(frames)
    m = np.asarray(mask)
    if f.ndim != 4 or f.shape[-1] != 3:
        raise InputError(f"frames must have shape (T, H, W, 3), got {f.shape}")
    if not np.issubdtype(f.dtype, np.number) or np.iscomplexobj(f):
        raise InputError(f"frames must be real numeric, got dtype {f.dtype}")
    if m.dtype != bool:
        raise InputError(f"mask must be boolean, got dtype {m.dtype}")
    t, h, w, _ = f.shape
    if m.shape == (h, w):
        count = int(m.sum())
        if count == 0:
            raise InputError("mask is empty (no pixel selected)")
        return f[:, m, :].sum(axis=1, dtype=np.float64) / count
    if m.shape == (t, h, w):
        counts = m.sum(axis=(1, 2))
        if (counts == 0).any():
            empty = np.flatnonzero(counts == 0)
            raise InputError(f"mask is empty in {empty.size} frame(s), first at frame {empty[0]}")
        sums = np.einsum("thwc,thw->tc", f, m, dtype=np.float64)
        return sums / counts[:, None]
    raise InputError(f"mask must have shape (H, W)={h, w} or (T, H, W)={t, h, w}, got {m.shape}")
