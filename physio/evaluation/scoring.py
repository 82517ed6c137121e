"""Scoring a magnified video against its original while both stream past (``physio compare``).

:class:`ClipScorer` takes aligned ``(original, magnified[, ground truth])`` chunks and keeps only
per-frame numbers and a bounded set of per-pixel traces, so a long video is never held in memory.
At the end it reports, for one clip and one method:

* ``psnr``, ``ssim`` — per-frame PSNR/SSIM of the output against the original, averaged (the
  paper's Table 1); ``fidelity_psnr``, ``fidelity_ssim`` against the ground-truth rendering;
* ``gain`` — in-band amplitude ratio, output over original, in the source region:
  pulse: RMS of the band-passed skin-mean green; respiration: the root-mean in-band variance of the
  luma of the shoulder pixels (a local motion amplitude: for sub-pixel motion an edge pixel's intensity
  change is proportional to the displacement);
* ``fidelity_r`` — Pearson r between the method's change and the true change over the source
  region's pixels and time, both band-passed per pixel;
* ``leakage`` — mean squared change outside the source region over that inside it;
* ``change_out`` — RMS change (grey levels, over pixels, channels and frames) outside the source region,
  and ``change_edges`` — the same on *moving edges*: pixels anywhere in the frame whose original luma
  moved by more than :data:`MOVING_EDGE_LEVELS` grey levels since the previous frame. At matched gain
  these answer "how much does a method change where it should not" in absolute terms; ``leakage``
  divides by the change inside the region, which for an Eulerian method includes its magnified head
  motion and so flatters it on moving tasks;
* ``hr_bpm`` (POS on the skin-mean colour) and ``br_bpm`` (vertical phase-correlation motion of the
  torso box) of the *output*, with the same estimators for every method.

The per-frame and per-pixel measures are those of :mod:`physio.metrics.magnification` (one PSNR, one
leakage for the whole package), accumulated over chunks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from physio.errors import InputError
from physio.metrics.magnification import band_rms, bandpass_time, frame_psnr_ssim
from physio.rates.motion import TorsoMotion
from physio.rates.rppg import rppg_pulse
from physio.rates.waveform import estimate_rate

__all__ = ["ClipRegions", "ClipScorer", "MAX_TRACE_PIXELS", "MOVING_EDGE_LEVELS"]

MAX_TRACE_PIXELS = 20000
"""Per-pixel traces (gain for respiration, fidelity) keep at most this many pixels (evenly subsampled)."""

MOVING_EDGE_LEVELS = 12.0
"""A pixel is on a moving edge in a frame when its original luma changed by more than this (0-255 scale)
since the previous frame: far above sensor noise (on the static background of the 320 × 240 test cohort
the frame-to-frame luma difference has σ ≈ 1.6 levels and exceeds 12 for < 0.01 % of pixels), reached
where an edge or texture moves."""

_LUMA = np.array([0.299, 0.587, 0.114], np.float32)


@dataclass
class ClipRegions:
    """Where to measure in one clip.

    skin : callable ``(start, stop) -> (t, H, W) bool``
        Per-frame skin region (pulse gain, leakage, HR).
    skin_fixed, shoulders_fixed : ``(H, W) bool``
        Fixed pixel sets for per-pixel traces (fidelity; respiration gain).
    torso_box : (x0, y0, x1, y1) or None
        Region whose vertical motion gives BR.
    """

    skin: object
    skin_fixed: np.ndarray
    shoulders_fixed: np.ndarray
    torso_box: tuple[int, int, int, int] | None


def _subsample(mask: np.ndarray) -> np.ndarray:
    idx = np.flatnonzero(np.asarray(mask, bool).ravel())
    if idx.size > MAX_TRACE_PIXELS:
        idx = idx[np.linspace(0, idx.size - 1, MAX_TRACE_PIXELS).round().astype(int)]
    return idx


class ClipScorer:
    """Accumulate the scores of one output stream; see the module notes.

    Parameters
    ----------
    source : {"pulse", "resp"}
    fps : float
    band : (lo, hi)
        The source's band, Hz (gain, fidelity).
    regions : ClipRegions
    light : bool
        Gain only (calibration): no PSNR/SSIM, fidelity, leakage or rates.
    """

    def __init__(self, source: str, fps: float, band, regions: ClipRegions, light: bool = False) -> None:
        if source not in ("pulse", "resp"):
            raise InputError(f"source must be pulse or resp, got {source!r}")
        self.source, self.fps, self.band, self.regions, self.light = source, float(fps), tuple(band), regions, light
        fixed = regions.skin_fixed if source == "pulse" else regions.shoulders_fixed
        if not np.asarray(fixed).any():
            raise InputError(f"the {'skin' if source == 'pulse' else 'shoulder'} region is empty")
        self._idx = _subsample(fixed)
        self._n = 0
        self._psnr: list[float] = []
        self._ssim: list[float] = []
        self._fpsnr: list[float] = []
        self._fssim: list[float] = []
        self._rgb_out: list[np.ndarray] = []
        self._green_in: list[np.ndarray] = []
        self._pix_out: list[np.ndarray] = []
        self._pix_in: list[np.ndarray] = []
        self._chg: list[np.ndarray] = []
        self._true_chg: list[np.ndarray] = []
        self._leak = np.zeros(4)  # sum in, count in, sum out, count out
        self._edges = np.zeros(2)  # sum, count of the squared change on moving edges
        self._prev_luma = None  # the last original frame's luma (moving edges across chunk borders)
        self._map_sq: np.ndarray | None = None  # Σ_t of the squared change per pixel (summed over channels)
        self._motion = None  # physio.rates.motion.TorsoMotion of the output (BR)

    # -- accumulation -------------------------------------------------------------------------------
    def update(self, orig: np.ndarray, out: np.ndarray, truth: np.ndarray | None = None) -> None:
        orig, out = np.asarray(orig), np.asarray(out)
        if orig.shape != out.shape:
            raise InputError(f"original and output chunks differ in shape: {orig.shape} vs {out.shape}")
        t = len(orig)
        skin = np.asarray(self.regions.skin(self._n, self._n + t), bool)
        self._n += t
        if self.source == "pulse" or not self.light:
            counts = np.maximum(skin.sum(axis=(1, 2)), 1)
            # per-frame masked sums (exact in float64 for 8-bit frames; ~9× faster than an einsum over the mask)
            sums = np.stack([out[i][skin[i]].sum(axis=0, dtype=np.float64) for i in range(t)])
            green = np.array([orig[i, ..., 1][skin[i]].sum(dtype=np.float64) for i in range(t)])
            self._rgb_out.append(sums / counts[:, None])
            self._green_in.append(green / counts)
        if self.source == "resp":
            self._pix_out.append(self._pixels(out))
            self._pix_in.append(self._pixels(orig))
        if self.light:
            return
        self._frame_quality(orig, out, self._psnr, self._ssim)
        if truth is not None:
            truth = np.asarray(truth)
            if truth.shape != orig.shape:
                raise InputError(f"ground-truth chunk shape {truth.shape} differs from {orig.shape}")
            self._frame_quality(truth, out, self._fpsnr, self._fssim)
            self._chg.append(self._pixels(out, orig))
            self._true_chg.append(self._pixels(truth, orig))
        d = ((out.astype(np.float32) - orig.astype(np.float32)) ** 2).sum(-1)
        self._map_sq = d.sum(0, dtype=np.float64) + (0.0 if self._map_sq is None else self._map_sq)
        region = skin if self.source == "pulse" else np.broadcast_to(self.regions.shoulders_fixed, d.shape)
        self._leak += (d[region].sum(), region.sum(), d[~region].sum(), (~region).sum())
        luma = orig.astype(np.float32) @ _LUMA
        prev = np.concatenate([luma[:1] if self._prev_luma is None else self._prev_luma[None], luma[:-1]])
        moving = np.abs(luma - prev) > MOVING_EDGE_LEVELS
        self._edges += (d[moving].sum(), moving.sum())
        self._prev_luma = luma[-1]
        self._torso_motion(out)

    def _pixels(self, a: np.ndarray, ref: np.ndarray | None = None) -> np.ndarray:
        x = a.reshape(len(a), -1, 3)[:, self._idx].astype(np.float32)
        if ref is not None:
            x = x - ref.reshape(len(ref), -1, 3)[:, self._idx].astype(np.float32)
        return x @ _LUMA if self.source == "resp" else x

    @staticmethod
    def _frame_quality(ref: np.ndarray, out: np.ndarray, ps: list, ss: list) -> None:
        p, q = frame_psnr_ssim(out, ref)
        ps.extend(p.tolist())
        ss.extend(q.tolist())

    def _torso_motion(self, out: np.ndarray) -> None:
        if self._motion is None and self.regions.torso_box is not None:
            self._motion = TorsoMotion(self.regions.torso_box)
        if self._motion is not None:
            self._motion.push(out)

    # -- results ------------------------------------------------------------------------------------
    def _bandpass(self, x) -> np.ndarray:
        return bandpass_time(np.asarray(x, np.float64), self.fps, self.band)

    def gain(self) -> float:
        """In-band amplitude ratio, output over original, in the source region."""
        if self._n < 16:
            raise InputError(f"clip too short to measure ({self._n} frames)")
        if self.source == "pulse":
            out, ref = np.concatenate(self._rgb_out)[:, 1], np.concatenate(self._green_in)
        else:
            out, ref = np.concatenate(self._pix_out), np.concatenate(self._pix_in)
        num, den = band_rms(out, self.fps, self.band), band_rms(ref, self.fps, self.band)
        return float(num / den) if den > 0 else float("nan")

    def change_map(self) -> np.ndarray | None:
        """RMS change per pixel over the frames so far (grey levels, over channels); None in light mode."""
        return None if self._map_sq is None else np.sqrt(self._map_sq / (3 * self._n))

    def result(self) -> dict:
        res: dict = {"frames": self._n, "gain": self.gain()}
        if self.light:
            return res
        finite = [p for p in self._psnr if np.isfinite(p)]  # identical frames have infinite PSNR: left out
        res["psnr"] = float(np.mean(finite)) if finite else float("inf")
        res["ssim"] = float(np.mean(self._ssim))
        res["fidelity_psnr"] = float(np.mean(self._fpsnr)) if self._fpsnr else None
        res["fidelity_ssim"] = float(np.mean(self._fssim)) if self._fssim else None
        res["fidelity_r"] = None
        if self._chg:
            a = self._bandpass(np.concatenate(self._chg)).ravel()
            b = self._bandpass(np.concatenate(self._true_chg)).ravel()
            res["fidelity_r"] = float(np.corrcoef(a, b)[0, 1]) if a.std() > 0 and b.std() > 0 else float("nan")
        s_in, n_in, s_out, n_out = self._leak
        res["leakage"] = float((s_out / max(n_out, 1)) / (s_in / n_in)) if n_in and s_in > 0 else None
        res["change_out"] = float(np.sqrt(s_out / (3 * n_out))) if n_out else None
        e_sum, e_n = self._edges
        res["change_edges"] = float(np.sqrt(e_sum / (3 * e_n))) if e_n else None
        res["hr_bpm"] = res["br_bpm"] = None
        rgb = np.concatenate(self._rgb_out)
        if (rgb > 0).all():
            try:
                wave = rppg_pulse(rgb, self.fps, "pos")
                res["hr_bpm"] = float(estimate_rate(wave, self.fps, "pulse", derivative=False, with_series=False).rate_per_min)
            except InputError:
                pass
        if self._motion is not None and self._n > 16:
            try:
                res["br_bpm"] = float(estimate_rate(self._motion.result(), self.fps, "resp", derivative=True,
                                                    with_series=False).rate_per_min)
            except InputError:
                pass
        return res
