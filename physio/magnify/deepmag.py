"""DeepMag: source-specific magnification by gradient ascent (Chen & McDuff, ACM TOG 2020).

The data path, for a stream of frames ``C(t)``:

* **pulse (colour)** — frames → bicubic ``L×L`` (``C_l``) → normalised frame difference ``X_1`` (eq. 14)
  → gradient ascent through PulseNet (Algorithm 1) → ``X_N`` → denoise the change,
  ``X̄_N = X_1 + F(X_N − X_1)`` with ``F`` a zero-phase 6th-order Butterworth band-pass (eq. 15) →
  inverse of eq. 14 (eq. 16) → ``C̃_l`` → add the upsampled change to the full-resolution frames,
  ``C̃ = C − U(C_l) + U(C̃_l)`` (eq. 17), clipped to [0, 1].
* **respiration (motion)** — luminance (Y of YIQ) → complex steerable pyramid (octave, 4
  orientations) → phase differences at level ``r0``, resampled to ``S×S`` (eq. 19) → gradient ascent
  through RespNet → ``X_N`` → integrate the change over time (eq. 20) → zero-phase band-pass with 2π
  clipping (eq. 21) → carry it to every level with the factor ``0.5^(r−r0)`` (eq. 22) → rebuild the
  luminance from the pyramid with the updated phases; the chrominance (I, Q) is kept.

Streaming: frames arrive in chunks; the gradient ascent is per time point, the integration (eq. 16
and eq. 20) is a carried state, and the band-pass runs block-wise with ``margin`` samples of context on
both sides (:class:`StreamingBandpass`), so the result equals whole-video processing (up to the
filter's decay within the margin) and memory is bounded by the margin plus one block of frames.

Documented readings of the paper (see ``docs/deepmag.md``):

* ‖G‖₁ is taken per element (``l1="mean"``) so the paper's γ values magnify as reported.
* Colour: cells darker than :data:`DARK_FLOOR` in either frame are not magnified and restart from the
  original (eq. 16 is singular there and would carry the error into every later frame).
* Eq. 21 as printed adds ``F(φ̃)`` — the band-passed *magnified phase* — to the original phase, which
  would double the original in-band motion even with γ = 0.  The default (``phase_update="change"``)
  adds only the band-passed accumulated *change* ``F(φ̃ − φ)``, mirroring eq. 15 for colour; the
  literal form is ``phase_update="literal"``.
* The 2π clipping factor ``(sgn(2π − |·|) + 1)/2`` is applied to the filtered update (an update whose
  magnitude reaches 2π is dropped), since the wrapped phase ``φ`` itself never reaches 2π;
  ``phase_clip=False`` leaves it out (an ablation: it showed that the clipping is not what limits the
  respiration gain at large γ).  After a respiration run :attr:`DeepMag.phase_stats` holds the RMS of
  the applied phase update and the share of its elements the clipping dropped.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np
import torch
from scipy import signal as sps

from physio import PULSE_BAND_HZ, RESP_BAND_HZ
from physio.device import resolve_device
from physio.errors import InputError
from physio.magnify.ascent import PRECISIONS, gradient_ascent
from physio.magnify.base import Magnifier, frame_chunks, to_tensor, to_uint8
from physio.magnify.window import FrameQueue
from physio.nets.weights import load_net
from physio.represent.nfd import (
    NFD_EPS,
    downsample_frames,
    downsample_uint8,
    nfd,
    upsample_frames,
)
from physio.represent.pyramid import (
    SteerablePyramid,
    phase_differences,
    rgb_to_yiq,
    yiq_to_rgb,
)
from physio.roi.crop import detect_box

__all__ = ["DeepMag", "StreamingBandpass", "DEFAULT_GAMMA", "feather_window", "SIGN_FROM", "VARIANTS"]

SIGN_FROM = ("x", "band", "pooled", "net")
"""References for the element-wise sign correction (see :class:`DeepMag`)."""

DEFAULT_GAMMA = {"pulse": 6e-5, "resp": 3.6e-3}
"""The paper's step sizes (§5.1, §5.2) with N = 20."""


def butter_bandpass_sos(band_hz: tuple[float, float], fs: float, order: int = 6) -> np.ndarray:
    """Second-order sections of an ``order``-th order Butterworth band-pass (``order`` even)."""
    lo, hi = band_hz
    nyq = fs / 2.0
    if not 0 < lo < hi:
        raise InputError(f"band must satisfy 0 < low < high, got {band_hz}")
    if hi >= nyq:
        raise InputError(f"band {band_hz} Hz reaches the Nyquist frequency of {fs:g} fps")
    if order < 2 or order % 2:
        raise InputError(f"band-pass order must be even and ≥ 2, got {order}")
    return sps.butter(order // 2, [lo, hi], btype="bandpass", fs=fs, output="sos")


DARK_FLOOR = 0.02
"""Colour: a downsampled cell darker than this (fraction of full scale, ~5 grey levels) in either frame of a
pair is not magnified and its reconstruction restarts from the original (see ``docs/deepmag.md``)."""

RECON_FRAMES = 8
"""Frames rebuilt at full resolution at a time: the band-pass hands over whole blocks (the last one with
its margin: up to ~1000 frames for respiration), and full-resolution float frames, their upsampled
change and pyramids are what take the memory."""

RECON_BYTES = 32 << 20
"""…and fewer when their float frames exceed this (8 at 640 × 480, 1 at 1080p: at 2, the rebuild's
float copies put ``magnify --method deepmag`` at 1,246 MB peak on a 1080p clip, at 1 at 1,060 MB)."""


def _recon_frames(h: int, w: int) -> int:
    """Frames rebuilt at a time for ``h × w`` video (:data:`RECON_FRAMES`, :data:`RECON_BYTES`)."""
    return int(max(1, min(RECON_FRAMES, RECON_BYTES // (12 * h * w))))


def _pieces(filtered: list[np.ndarray], k: int = RECON_FRAMES) -> Iterator[np.ndarray]:
    """The band-passed blocks in consecutive pieces of at most ``k`` time points."""
    for block in filtered:
        for s in range(0, len(block), k):
            yield block[s : s + k]


def _reported(chunks, progress):
    """Yield chunks, telling ``progress`` (if any) how many frames each holds."""
    for out in chunks:
        if progress is not None:
            progress(len(out))
        yield out


def feather_window(h: int, w: int, frac: float, device=None) -> torch.Tensor:
    """``(h, w)`` weights: 1 inside, a raised-cosine taper to 0 over ``frac × min(h, w)`` at the edges."""
    n = max(1, int(round(frac * min(h, w))))

    def ramp(m: int) -> torch.Tensor:
        r = torch.ones(m, dtype=torch.float32)
        k = min(n, m // 2)
        if k > 0:
            t = (torch.arange(k, dtype=torch.float32) + 0.5) / k
            edge = 0.5 - 0.5 * torch.cos(np.pi * t)
            r[:k] = edge
            r[m - k :] = edge.flip(0)
        return r

    return (ramp(h)[:, None] * ramp(w)[None, :]).to(device)


def _paste(full: torch.Tensor, change: torch.Tensor, box, weight: torch.Tensor | None) -> torch.Tensor:
    """Add ``change`` (…, h, w) into ``full`` (…, H, W) at ``box`` with ``weight``; whole frame if box None."""
    if box is None:
        return full + change
    x0, y0, x1, y1 = box
    out = full.clone()
    out[..., y0:y1, x0:x1] = out[..., y0:y1, x0:x1] + change * weight
    return out


def _paste_u8(frames: np.ndarray, change: torch.Tensor, box, weight: torch.Tensor | None) -> np.ndarray:
    """:func:`_paste` in the frames' own layout: ``change`` (``(n, 3, h, w)``, intensities in [0, 1]) is
    added to ``uint8 (n, H, W, 3)`` frames inside ``box`` only and rounded there; the pixels outside the
    box are copied, not converted to float and back (equal to ``to_uint8(_paste(to_tensor(frames), …))``
    up to a rare one-level rounding difference at a half: ``f + 255·c`` vs ``(f/255 + c)·255``)."""
    out = np.array(frames, copy=True)
    region = out if box is None else out[:, box[1] : box[3], box[0] : box[2]]
    c = change if weight is None or box is None else change * weight
    r = torch.from_numpy(region).to(c.device, torch.float32).add_(c.permute(0, 2, 3, 1), alpha=255.0)
    region[...] = r.clamp_(0.0, 255.0).round_().to(torch.uint8).cpu().numpy()
    return out


def _check_box(box, h: int, w: int) -> None:
    if box is None:
        return
    x0, y0, x1, y1 = box
    if not (0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h) or min(x1 - x0, y1 - y0) < 8:
        raise InputError(f"box {box} must lie inside the {w}x{h} frame and be at least 8 px on each side")


class StreamingBandpass:
    """Zero-phase IIR band-pass of a growing sequence, block by block, with context margins.

    Samples (arrays ``(n, ...)``) are :meth:`push`-ed in order; :meth:`pop` returns the filtered samples
    that are ready (``block`` at a time, each filtered with ``margin`` samples of context on both sides
    by ``sosfiltfilt``), and everything left once ``final=True``.  Only ``margin + block`` samples are
    kept in memory.
    """

    def __init__(self, sos: np.ndarray, margin: int, block: int) -> None:
        self.sos, self.margin, self.block = sos, int(margin), int(block)
        self.buf: np.ndarray | None = None
        self.buf_start = 0  # global index of buf[0]
        self.total = 0
        self.done = 0

    def push(self, x: np.ndarray) -> None:
        x = np.asarray(x, dtype=np.float64)
        self.buf = x if self.buf is None else np.concatenate([self.buf, x], axis=0)
        self.total += len(x)

    def pop(self, final: bool = False) -> list[np.ndarray]:
        out = []
        while self.buf is not None and (
            self.total - self.done >= self.block + self.margin or (final and self.total > self.done)
        ):
            core = min(self.block, self.total - self.done)
            lo = max(self.buf_start, self.done - self.margin)
            hi = min(self.total, self.done + core + self.margin)
            window = self.buf[lo - self.buf_start : hi - self.buf_start]
            padlen = min(3 * (2 * len(self.sos) + 1), len(window) - 1)
            y = sps.sosfiltfilt(self.sos, window, axis=0, padlen=padlen)
            out.append(y[self.done - lo : self.done - lo + core].copy())  # not a view: frees the window
            self.done += core
            keep = max(self.buf_start, self.done - self.margin)
            self.buf = self.buf[keep - self.buf_start :]
            self.buf_start = keep
        return out


class DeepMag(Magnifier):
    """DeepMag magnification of one source (pulse colour or respiration motion).

    Parameters
    ----------
    net : nn.Module
        Trained PulseNet (``source="pulse"``) or RespNet (``source="resp"``).
    source : {"pulse", "resp"}
    gamma : float, optional
        Step size γ (default: the paper's, :data:`DEFAULT_GAMMA`); negative attenuates.
    iterations : int
        N (default 20).
    band_hz : (float, float), optional
        Denoising band of eq. 15/21 (default: 0.7–2.5 Hz pulse, 0.16–0.5 Hz respiration).
    size : int
        Representation side: L for pulse (36), S for respiration (the network's input size).
    level : int
        Pyramid level r0 for respiration (0 = finest).
    l1, l1_normalize, sign_correct : see :func:`physio.magnify.ascent.gradient_ascent`.
    phase_update : {"change", "literal"}
        Eq. 21 reading (module docstring).
    phase_clip : bool
        Eq. 21's 2π clipping of the phase update (default True; False is an ablation).
    input_scale : float, optional
        Standardisation scale of ``X`` for the network (default: RMS of ``X_1`` over the first block,
        as the networks were trained on per-session standardised inputs).
    filter_order : int
        Band-pass order (6: the paper's sixth-order Butterworth).
    margin_s : float, optional
        Filter context on each side of a block (default: 4 periods of the band's low edge).
    block_frames : int
        Frames per processed block.
    batch : int
        Time points per gradient-ascent batch.
    device : str, optional
        "cpu", "cuda" or None (CUDA when available).
    box : (x0, y0, x1, y1), optional
        Compute the representation on this region only (e.g. the face or torso box the network was
        trained on) and paste the change back with a feathered edge (:func:`feather_window`); None
        uses the whole frame, as in the paper.
    feather : float
        Width of the paste-back taper as a fraction of the box's smaller side.
    dark_floor : float
        Colour: cells darker than this in either frame are left unmagnified (:data:`DARK_FLOOR`; 0 turns
        the guard off).
    colour_update : {"paper", "integrated"}
        Colour reconstruction.  ``"paper"``: band-pass the change of ``X`` (eq. 15), then integrate it
        (eq. 16).  ``"integrated"`` (not the paper's): integrate the change of the log intensity that
        eq. 16 implies, ``Σ 2·(artanh X_N − artanh X_1)``, *then* band-pass it (as eq. 20–21 do for
        the phase), so the change has no temporal mean and no drift: the paper's order leaves each cell
        the constant its integral started from (``docs/deepmag.md``, *Static offset*).
    sign_from : {"x", "band", "pooled", "net"}
        The reference of the element-wise sign correction (eq. 3).  ``"x"``: ``X_n`` itself (the paper);
        ``"band"``: ``F(X_1)``, each cell's representation band-passed in time; ``"pooled"``: the box
        mean of ``F(X_1)`` per channel (one sign per time point and channel); ``"net"``: the network's
        own waveform, ``y(F(X_1))(t) · sgn ρ``, with ``ρ`` each element's correlation with that waveform
        accumulated over the blocks so far (the source's waveform, with each cell's polarity).  Not the paper's; all three
        delay the ascent by the band-pass's margin.
    smooth_cells : float
        ``colour_update="integrated"``: Gaussian σ (in cells of the ``L×L`` grid) of a spatial smoothing
        of the band-passed change before reconstruction; 0 = none.  Respiration: the same on the
        band-passed phase update ``F(Δ)`` (cells of the ``S×S`` grid, each orientation on its own).
    precision : {"fp32", "bf16"}
        Arithmetic of the ascent's network passes (:func:`physio.magnify.ascent.gradient_ascent`);
        ``"bf16"`` is faster on CPUs with BF16 units, not the paper's.
    gain : float, optional
        ``colour_update="integrated"``: scale the change so that the in-band RMS of the changed cells'
        mean log green is ``gain`` × the original's, measured on the first block (γ then sets only the
        ascent, not the amplitude); :attr:`gain_scale` holds the factor.  Respiration: the same for
        the phase, with the elements (orientation, cell) weighted by their RMS change and aligned by
        the sign of their change's correlation with their own phase (:meth:`_gain_scale_motion`).

    Respiration with ``sign_from``, ``smooth_cells`` or ``gain`` runs :meth:`_stream_motion_coherent`
    (not the paper's); without them, eq. 18–22 as published (:meth:`_stream_motion`).
    """

    needs_grad = True

    def __init__(
        self,
        net: torch.nn.Module,
        source: str = "pulse",
        gamma: float | None = None,
        iterations: int = 20,
        band_hz: tuple[float, float] | None = None,
        size: int | None = None,
        level: int = 1,
        l1: str = "mean",
        l1_normalize: bool = True,
        sign_correct: bool | str = True,
        phase_update: str = "change",
        phase_clip: bool = True,
        input_scale: float | None = None,
        filter_order: int = 6,
        margin_s: float | None = None,
        block_frames: int = 256,
        batch: int = 128,
        device: str | None = None,
        box: tuple[int, int, int, int] | None = None,
        feather: float = 0.1,
        dark_floor: float = DARK_FLOOR,
        colour_update: str = "paper",
        sign_from: str = "x",
        smooth_cells: float = 0.0,
        gain: float | None = None,
        precision: str = "fp32",
    ) -> None:
        if precision not in PRECISIONS:
            raise InputError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        if source not in ("pulse", "resp"):
            raise InputError(f"source must be 'pulse' or 'resp', got {source!r}")
        if phase_update not in ("change", "literal"):
            raise InputError(f"phase_update must be 'change' or 'literal', got {phase_update!r}")
        if colour_update not in ("paper", "integrated"):
            raise InputError(f"colour_update must be 'paper' or 'integrated', got {colour_update!r}")
        if sign_from not in SIGN_FROM:
            raise InputError(f"sign_from must be one of {', '.join(SIGN_FROM)}, got {sign_from!r}")
        if sign_from != "x" and sign_correct is not True:
            raise InputError("sign_from other than 'x' needs the element-wise sign correction (sign_correct=True)")
        if not (np.isfinite(smooth_cells) and smooth_cells >= 0):
            raise InputError(f"smooth_cells must be ≥ 0, got {smooth_cells}")
        if gain is not None and not (np.isfinite(gain) and gain > 1):
            raise InputError(f"gain must be > 1, got {gain}")
        if source == "pulse" and colour_update == "paper" and (smooth_cells or gain is not None or sign_from != "x"):
            raise InputError("gain, sign_from and smooth_cells are options of the pulse's integrated colour update "
                             "(colour_update='integrated') or of the respiration")
        if source == "resp" and colour_update != "paper":
            raise InputError("colour_update applies to the pulse (colour) only")
        if source == "resp" and phase_update != "change" and (smooth_cells or gain is not None or sign_from != "x"):
            raise InputError("sign_from, smooth_cells and gain need phase_update='change' (the literal reading "
                             "adds the original phase to the update)")
        self.name = "deepmag"
        self.source = source
        self.gamma = float(DEFAULT_GAMMA[source] if gamma is None else gamma)
        self.iterations = int(iterations)
        self.band_hz = tuple(band_hz) if band_hz is not None else (PULSE_BAND_HZ if source == "pulse" else RESP_BAND_HZ)
        self.size = int(size if size is not None else getattr(net, "size", 36 if source == "pulse" else 123))
        self.level = int(level)
        if sign_correct not in (True, False, "sample"):
            raise InputError(f"sign_correct must be True, False or 'sample', got {sign_correct!r}")
        self.l1, self.l1_normalize, self.sign_correct = l1, bool(l1_normalize), sign_correct
        self.phase_update = phase_update
        self.phase_clip = bool(phase_clip)
        self._phase_sums = np.zeros(3)  # Σ u², elements, elements ≥ 2π (respiration, last run)
        self.input_scale = input_scale
        self.filter_order = int(filter_order)
        self.margin_s = margin_s
        self.block_frames = int(block_frames)
        self.batch = int(batch)
        self.device = resolve_device(device)
        self.net = net.to(self.device).eval()
        self.box = None if box is None else tuple(int(v) for v in box)
        self.feather = float(feather)
        self.dark_floor = float(dark_floor)
        self.colour_update, self.sign_from = colour_update, sign_from
        self.smooth_cells = float(smooth_cells)
        self.gain = None if gain is None else float(gain)
        self.precision = precision
        self.gain_scale: float | None = None  # the factor the change was scaled by to reach ``gain`` (last run)
        self._rho: torch.Tensor | None = None
        self._pyramid = None
        self.last_scale: float | None = None
        self.objective_history: list[np.ndarray] = []

    @property
    def phase_stats(self) -> dict | None:
        """Respiration, last run: ``{"rms": RMS of the filtered phase update at level r0 (radians, before
        clipping), "clipped": share of its elements at or beyond 2π}``; None before a respiration run."""
        sq, n, big = self._phase_sums
        return {"rms": float(np.sqrt(sq / n)), "clipped": float(big / n)} if n else None

    # -- Magnifier interface --------------------------------------------------------------------
    def margin_frames(self, fps: float) -> int:
        margin_s = self.margin_s if self.margin_s is not None else 4.0 / self.band_hz[0]
        return int(np.ceil(margin_s * fps))

    def process(self, frames: torch.Tensor, fps: float) -> torch.Tensor:
        """Magnify a whole block ``(T, 3, H, W)`` in [0, 1] (runs the streaming pipeline on it)."""
        out = np.concatenate(list(self.stream([to_uint8(frames)], fps)), axis=0)
        return to_tensor(out, frames.device)

    def describe(self) -> dict:
        d = super().describe()
        d.pop("net", None)
        return d

    # -- shared pieces --------------------------------------------------------------------------
    def _ascend(self, x1: torch.Tensor, record: bool = False, ref: torch.Tensor | None = None) -> torch.Tensor:
        """Gradient ascent in batches; returns ``X_N − X_1`` (same shape).  Needs ``last_scale`` set.
        ``ref``: the sign correction's reference (``sign_from``), aligned with ``x1``."""
        out = []
        for s in range(0, len(x1), self.batch):
            res = gradient_ascent(
                self.net, x1[s : s + self.batch], self.gamma, self.iterations,
                l1_normalize=self.l1_normalize, sign_correct=self.sign_correct, l1=self.l1,
                input_scale=self.last_scale, record=record,
                sign_reference=None if ref is None else ref[s : s + self.batch], precision=self.precision,
            )
            if record and res.objective:
                self.objective_history.append(torch.stack(res.objective).numpy())
            out.append(res.x - x1[s : s + self.batch])
        return torch.cat(out)

    def _scaled_ascent(self, pending: list, x1: torch.Tensor | None, record: bool, final: bool) -> torch.Tensor | None:
        """Queue ``x1``; once the input scale is known (given, or the RMS of the first ``block_frames``
        samples), run the ascent on everything queued and return the changes (else None)."""
        if x1 is not None and len(x1):
            pending.append(x1)
        if not pending:
            return None
        if self.last_scale is None:
            queued = sum(len(p) for p in pending)
            if self.input_scale is not None:
                self.last_scale = float(self.input_scale)
            elif queued >= self.block_frames or final:
                allx = torch.cat(pending)
                rms = float(allx.pow(2).mean().sqrt())
                self.last_scale = rms if rms > 0 else 1.0
            else:
                return None
        allx = torch.cat(pending)
        pending.clear()
        return self._ascend(allx, record)

    rereads = True
    """The stream decodes the frames again for the reconstruction (``again``) instead of holding them
    for the band-pass's margin and block (~450 frames, 420 MB at 640 × 480)."""

    def stream(self, chunks: Iterable[np.ndarray], fps: float, progress=None, record: bool = False,
               block_frames: int | None = None, again=None) -> Iterator[np.ndarray]:
        """Magnify a stream of ``uint8 (t, H, W, 3)`` chunks; yields magnified uint8 chunks.  ``again``:
        returns a fresh iterator over the same chunks (the frames are then decoded a second time for
        the reconstruction instead of being held)."""
        if not (np.isfinite(fps) and fps > 0):
            raise InputError(f"fps must be positive, got {fps}")
        self.last_scale = None
        self.objective_history = []
        sos = butter_bandpass_sos(self.band_hz, fps, self.filter_order)
        frames = FrameQueue(again)
        self._recon = RECON_FRAMES  # set from the frame size by the first chunk
        if self.source == "pulse" and self.colour_update == "integrated":
            yield from self._stream_colour_integrated(chunks, fps, sos, progress, record, frames)
        elif self.source == "pulse":
            yield from self._stream_colour(chunks, fps, sos, progress, record, frames)
        elif self.sign_from != "x" or self.smooth_cells > 0 or self.gain is not None:
            yield from self._stream_motion_coherent(chunks, fps, sos, progress, record, frames)
        else:
            yield from self._stream_motion(chunks, fps, sos, progress, record, frames)

    # -- colour (eq. 14–17) ---------------------------------------------------------------------
    def _stream_colour(self, chunks, fps, sos, progress, record, frames: FrameQueue) -> Iterator[np.ndarray]:
        bp = StreamingBandpass(sos, self.margin_frames(fps), self.block_frames)
        small_q: list[torch.Tensor] = []  # C_l of those frames
        x1_q: list[torch.Tensor] = []  # X_1 samples not yet reconstructed
        orig_prev: torch.Tensor | None = None  # C_l of the last emitted frame
        log_gain: torch.Tensor | None = None  # log((C̃_l + ε/2) / (C_l + ε/2)) of the last emitted frame
        emitted = 0
        size_hw = None
        weight = None
        pending: list[torch.Tensor] = []

        def emit(filtered: list[np.ndarray]):
            nonlocal orig_prev, log_gain, emitted
            for fd in filtered:
                n = len(fd)
                xbar = torch.stack(x1_q[:n]) + torch.from_numpy(np.ascontiguousarray(fd)).to(self.device, torch.float32)
                del x1_q[:n]
                if orig_prev is None:  # frame 0: C̃_l(1) = C_l(1)
                    orig_prev = small_q[0]
                    log_gain = torch.zeros_like(orig_prev, dtype=torch.float64)
                    first = frames.take(1)
                    small_q.pop(0)
                    emitted += 1
                    yield first
                # frames emitted … emitted + n − 1 are rebuilt from samples emitted−1 … emitted+n−2
                xbar = xbar.clamp(-1 + 1e-6, 1 - 1e-6)
                orig_small = torch.stack(small_q[:n])
                del small_q[:n]
                # eq. 16, C̃(t+1) = (1 + X̄)/(1 − X̄)·C̃(t), as the gain over the original, in logs and batched:
                # log G(t) = log G(t−1) + 2·artanh X̄(t) − log r(t), r(t) = C(t+1)/C(t) the original's ratio
                # (both on C + ε/2, as nfd's inverse).  Cells dark in either frame are not magnified and
                # restart from the original (G = 1): there (1 + X)/(1 − X) is singular, and the recursion
                # would carry the error into every later frame.
                half_eps = NFD_EPS / 2
                before = torch.cat([orig_prev[None], orig_small[:-1]])
                dark = torch.minimum(orig_small, before) < self.dark_floor
                step = 2 * torch.atanh(xbar.double()) - torch.log((orig_small.double() + half_eps)
                                                                  / (before.double() + half_eps))
                cum = torch.cumsum(step.masked_fill(dark, 0.0), 0) + log_gain
                t_idx = torch.arange(n, device=cum.device).view(-1, 1, 1, 1).expand_as(cum)
                last_reset = torch.where(dark, t_idx, -1).cummax(0).values
                at_reset = cum.gather(0, last_reset.clamp_min(0))
                gain = cum - torch.where(last_reset >= 0, at_reset, torch.zeros_like(at_reset))
                log_gain, orig_prev = gain[-1], orig_small[-1]
                # intensities stay non-negative
                rec = ((orig_small.double() + half_eps) * gain.exp() - half_eps).clamp_min(0).float()
                change = upsample_frames(rec - orig_small, size_hw)
                emitted += n
                yield _paste_u8(frames.take(n), change, self.box, weight)

        for c, small, seq, size_hw, weight in self._colour_chunks(chunks):
            frames.keep(c)
            small_q.extend(list(small))
            if len(seq) < 2:
                continue
            x1 = nfd(seq)
            x1_q.extend(list(x1))
            dx = self._scaled_ascent(pending, x1, record, final=False)
            if dx is None:
                continue
            bp.push(dx.cpu().numpy())
            yield from _reported(emit(_pieces(bp.pop(), self._recon)), progress)
        dx = self._scaled_ascent(pending, None, record, final=True)
        if dx is not None:
            bp.push(dx.cpu().numpy())
        if bp.total == 0:  # a single frame: nothing to magnify
            yield frames.take(1)
            return
        yield from _reported(emit(_pieces(bp.pop(final=True), self._recon)), progress)

    def _region_chunks(self, chunks) -> Iterator[tuple[np.ndarray, np.ndarray, torch.Tensor | None]]:
        """The stream's chunks as ``(frames (t, H, W, 3), the box's region of them, feather weight)``;
        checks the box and sets ``_recon`` on the first chunk.  :class:`InputError` when there is no frame."""
        weight, started = None, False
        for c in frame_chunks(chunks):
            if not started:
                started = True
                _check_box(self.box, *c.shape[1:3])
                self._recon = _recon_frames(*c.shape[1:3])
                if self.box is not None:
                    x0, y0, x1, y1 = self.box
                    weight = feather_window(y1 - y0, x1 - x0, self.feather, self.device)
            region = c if self.box is None else c[:, self.box[1] : self.box[3], self.box[0] : self.box[2]]
            yield c, region, weight
        if not started:
            raise InputError("no frames to magnify")

    def _colour_chunks(self, chunks) -> Iterator[tuple[np.ndarray, torch.Tensor, torch.Tensor, tuple[int, int],
                                                      torch.Tensor | None]]:
        """Colour input, chunk by chunk: ``(frames, C_l (t, 3, L, L), seq, region size, feather
        weight)``, where ``seq`` is ``C_l`` with the previous chunk's last frame in front (the frames
        whose consecutive pairs make this chunk's ``X_1``; ``seq is C_l`` for the first chunk).
        :class:`InputError` when the stream has no frame."""
        prev = None
        for c, region, weight in self._region_chunks(chunks):
            with torch.no_grad():
                small = downsample_uint8(region, self.size, self.device)  # (t, 3, L, L), bounded float
            seq = small if prev is None else torch.cat([prev[None], small])
            prev = small[-1]
            yield c, small, seq, region.shape[1:3], weight

    # -- colour, the integrated update (not the paper's; see colour_update / sign_from) ---------------
    def _reference(self, fx1: np.ndarray) -> torch.Tensor:
        """The sign correction's reference from band-passed ``X_1`` samples ``(n, 3, L, L)``."""
        ref = torch.from_numpy(np.ascontiguousarray(fx1)).to(self.device, torch.float32)
        if self.sign_from == "pooled":
            ref = ref.mean(dim=(2, 3), keepdim=True)
        elif self.sign_from == "net":
            with torch.no_grad():
                y = torch.cat([self.net(ref[s : s + self.batch] / self.last_scale).reshape(-1)
                               for s in range(0, len(ref), self.batch)])
            y = y - y.mean()
            rho = torch.einsum("t,tchw->chw", y, ref)  # accumulated over the blocks so far
            self._rho = rho if self._rho is None else self._rho + rho
            ref = y.view(-1, 1, 1, 1) * torch.sign(self._rho)[None]
        return ref

    def _smooth(self, x: torch.Tensor) -> torch.Tensor:
        """Separable Gaussian (σ = ``smooth_cells``) over the last two axes, reflected at the edges."""
        if self.smooth_cells <= 0:
            return x
        r = max(1, int(np.ceil(3 * self.smooth_cells)))
        k = torch.exp(-0.5 * (torch.arange(-r, r + 1, dtype=x.dtype, device=x.device) / self.smooth_cells) ** 2)
        k = k / k.sum()
        n, c, h, w = x.shape
        y = x.reshape(n * c, 1, h, w)
        pad_h, pad_w = min(r, h - 1), min(r, w - 1)
        y = torch.nn.functional.pad(y, (pad_w, pad_w, pad_h, pad_h), mode="reflect")
        kh, kw = k[r - pad_h : r + pad_h + 1], k[r - pad_w : r + pad_w + 1]
        y = torch.nn.functional.conv2d(y, (kh / kh.sum()).view(1, 1, -1, 1))
        y = torch.nn.functional.conv2d(y, (kw / kw.sum()).view(1, 1, 1, -1))
        return y.reshape(n, c, h, w)

    def _set_scale(self, scale_buf: list, final: bool) -> bool:
        """Set ``last_scale`` (given, or the RMS of the first ``block_frames`` samples queued in
        ``scale_buf``) once enough samples are there; True when it is set."""
        if self.last_scale is None:
            if self.input_scale is not None:
                self.last_scale = float(self.input_scale)
            elif sum(len(b) for b in scale_buf) >= self.block_frames or (final and scale_buf):
                rms = float(torch.cat(scale_buf)[: self.block_frames].pow(2).mean().sqrt())
                self.last_scale = rms if rms > 0 else 1.0
                scale_buf.clear()
        return self.last_scale is not None

    def _run_ascents(self, scale_buf: list, x1_q: list, bp_x, ascend, final: bool) -> None:
        """Run ``ascend(n, reference)`` on the queued ``X_1`` samples: all of them at once without a sign
        reference, else block by block as the band-passed ``X_1`` (``bp_x``) comes out of its filter."""
        if not self._set_scale(scale_buf, final):
            return
        if bp_x is None:
            if x1_q:
                ascend(len(x1_q), None)
            return
        for fx in bp_x.pop(final=final):
            ascend(len(fx), self._reference(fx))

    def _solve_gain(self, c: torch.Tensor, o: torch.Tensor) -> float:
        """The factor ``k`` for which ``‖o + k·c‖ = gain · ‖o‖`` (``c``, ``o``: 1-D time series)."""
        cc, oc, oo = float(c @ c), float(o @ c), float(o @ o)
        if not (cc > 0 and oo > 0):
            return 1.0
        return (-oc + np.sqrt(oc * oc + cc * oo * (self.gain**2 - 1))) / cc

    def _gain_scale(self, change: torch.Tensor, orig: torch.Tensor) -> float:
        """The factor ``k`` for which the in-band RMS of ``o + k·c`` is ``gain`` × that of ``o``, where
        ``c`` and ``o`` are the band-passed log-green change and original, averaged over the cells the
        change lands on (weights: each cell's RMS change)."""
        g_c, g_o = change[:, 1].double(), orig[:, 1].double()
        w = g_c.pow(2).mean(0).sqrt()
        if not float(w.sum()) > 0:
            return 1.0
        w = w / w.sum()
        return self._solve_gain((g_c * w).sum(dim=(1, 2)), (g_o * w).sum(dim=(1, 2)))

    def _gain_scale_motion(self, change: torch.Tensor, orig: torch.Tensor) -> float:
        """Respiration's :meth:`_gain_scale`: ``c`` and ``o`` are the band-passed phase update ``F(Δ)``
        and the band-passed original phase ``F(Σ X_1)`` ``(n, orientations, S, S)``, averaged over the
        elements with weights ``w_e · sgn(Σ_t c_e o_e)`` (``w_e``: the element's RMS change) — an
        element's phase moves with or against its neighbours' depending on its orientation, so the
        elements are aligned by the sign of their change's correlation with their own phase before they
        are averaged (an unaligned mean would cancel)."""
        c, o = change.double(), orig.double()
        w = c.pow(2).mean(0).sqrt() * torch.sign((c * o).sum(0))
        if not float(w.abs().sum()) > 0:
            return 1.0
        w = w / w.abs().sum()
        return self._solve_gain((c * w).sum(dim=(1, 2, 3)), (o * w).sum(dim=(1, 2, 3)))

    def _stream_colour_integrated(self, chunks, fps, sos, progress, record, frames: FrameQueue) -> Iterator[np.ndarray]:
        """Colour with ``colour_update="integrated"`` and/or a ``sign_from`` reference.

        Per frame ``t``: ``L(t) = Σ_{t'<t} 2·(artanh X_N(t') − artanh X_1(t'))`` (0 in cells dark in either
        frame), band-passed in time, optionally smoothed and scaled to ``gain``;
        ``C̃_l = (C_l + ε/2)·exp(F(L)) − ε/2`` (eq. 16 with the change integrated before it is filtered),
        then eq. 17.
        """
        margin = self.margin_frames(fps)
        bp_x = StreamingBandpass(sos, margin, self.block_frames) if self.sign_from != "x" else None
        bp = StreamingBandpass(sos, margin, self.block_frames)  # L(t), one sample per frame
        bp_o = StreamingBandpass(sos, margin, self.block_frames) if self.gain is not None else None
        small_q: list[torch.Tensor] = []
        x1_q: list[torch.Tensor] = []  # X_1 samples waiting for their ascent
        dark_q: list[torch.Tensor] = []
        scale_buf: list[torch.Tensor] = []
        cum: torch.Tensor | None = None
        size_hw, weight = None, None
        half_eps = NFD_EPS / 2
        self.gain_scale = None
        self._rho = None  # sign_from="net": each element's correlation with the waveform, so far

        def ascend(n: int, ref: torch.Tensor | None) -> None:
            nonlocal cum
            x1 = torch.stack(x1_q[:n])
            dark = torch.stack(dark_q[:n])
            del x1_q[:n], dark_q[:n]
            xn = (x1 + self._ascend(x1, record, ref)).clamp(-1 + 1e-6, 1 - 1e-6)
            d = 2 * (torch.atanh(xn.double()) - torch.atanh(x1.double()))
            c = torch.cumsum(d.masked_fill(dark, 0.0), 0) + (cum if cum is not None else 0)
            cum = c[-1]
            bp.push(c.cpu().numpy())

        def run_ascents(final: bool) -> None:
            self._run_ascents(scale_buf, x1_q, bp_x, ascend, final)

        o_blocks: list[np.ndarray] = []  # band-passed log C_l blocks (gain calibration; ahead of bp's)

        def emit(final: bool):
            if bp_o is not None and self.gain_scale is None:
                o_blocks.extend(bp_o.pop(final=final))
            for fl in bp.pop(final=final):
                fo = o_blocks.pop(0) if o_blocks else None
                for s in range(0, len(fl), self._recon):
                    n = len(fl[s : s + self._recon])
                    u = torch.from_numpy(np.ascontiguousarray(fl[s : s + n])).to(self.device, torch.float64)
                    u = self._smooth(u)
                    if self.gain is not None:
                        if self.gain_scale is None:
                            o = torch.from_numpy(np.ascontiguousarray(fo)).to(self.device, torch.float64)
                            self.gain_scale = float(self._gain_scale(self._smooth(
                                torch.from_numpy(np.ascontiguousarray(fl)).to(self.device, torch.float64)), o))
                        u = u * self.gain_scale
                    orig_small = torch.stack(small_q[:n]).double()
                    del small_q[:n]
                    rec = ((orig_small + half_eps) * u.exp() - half_eps).clamp_min(0)
                    change = upsample_frames((rec - orig_small).float(), size_hw)
                    yield _paste_u8(frames.take(n), change, self.box, weight)

        for c, small, seq, size_hw, weight in self._colour_chunks(chunks):
            frames.keep(c)
            small_q.extend(list(small))
            if bp_o is not None and self.gain_scale is None:
                bp_o.push(torch.log(small.double() + half_eps).cpu().numpy())
            if seq is small:  # the first chunk; frame 0: no change
                bp.push(np.zeros((1, *small.shape[1:])))
            if len(seq) < 2:
                continue
            x1 = nfd(seq)
            x1_q.extend(list(x1))
            dark_q.extend(list(torch.minimum(seq[1:], seq[:-1]) < self.dark_floor))
            if self.last_scale is None:
                scale_buf.append(x1)
            if bp_x is not None:
                bp_x.push(x1.cpu().numpy())
            run_ascents(final=False)
            yield from _reported(emit(final=False), progress)
        run_ascents(final=True)
        yield from _reported(emit(final=True), progress)

    # -- motion (eq. 18–22) ---------------------------------------------------------------------
    def _rebuild_motion(self, upd: torch.Tensor, frames_u8: np.ndarray, weight) -> np.ndarray:
        """Eq. 21 (2π clipping) and 22 on a filtered phase update ``(n, orientations, S, S)`` (radians):
        the luminance rebuilt from the pyramid with every band shifted, I and Q kept; uint8 frames."""
        n = len(upd)
        pyr = self._pyramid
        full = to_tensor(frames_u8, self.device)  # (n, 3, H, W)
        u = upd.to(self.device, torch.float32)
        keep = u.abs() < 2 * np.pi
        self._phase_sums += (float(u.square().sum()), u.numel(), float(u.numel() - keep.sum()))
        if self.phase_clip:
            u = u * keep  # 2π clipping (eq. 21)
        yiq = rgb_to_yiq(full)
        y = yiq[:, :1]
        if self.box is not None:
            x0, y0, x1, y1 = self.box
            y = y[..., y0:y1, x0:x1]
        p = pyr.build(y)
        delta = u.reshape(n, 1, pyr.orientations, *u.shape[-2:])
        offsets = pyr.spread_phase(delta, p, self.level)
        y_change = pyr.reconstruct(p, offsets) - y
        y_new = _paste(yiq[:, :1], y_change, self.box, weight)
        return to_uint8(yiq_to_rgb(torch.cat([y_new, yiq[:, 1:]], dim=1)))

    def _motion_x1(self, chunks, frames: FrameQueue) -> Iterator[tuple[torch.Tensor | None, object]]:
        """Per chunk (after keeping its frames in ``frames``): ``X_1`` of the chunk's frame pairs at
        ``S×S`` (the previous chunk's last frame paired with this chunk's first; None for a first chunk
        of one frame) and the paste-back weight.  Sets up the pyramid, ``_recon`` and the box."""
        if self._pyramid is None:
            self._pyramid = SteerablePyramid().to(self.device)
        prev = None
        for c, region, weight in self._region_chunks(chunks):
            frames.keep(c)
            seq = region if prev is None else np.concatenate([prev[None], region])
            prev = region[-1]
            if len(seq) < 2:
                yield None, weight
                continue
            with torch.no_grad():
                x1 = phase_differences(to_tensor(seq, self.device)[None], self._pyramid, level=self.level,
                                       size=self.size, luminance=True).x[0]  # (t-1, 4, S, S)
            yield x1, weight

    def _stream_motion_coherent(self, chunks, fps, sos, progress, record, frames: FrameQueue) -> Iterator[np.ndarray]:
        """Respiration with a sign reference (``sign_from``), smoothing and/or a gain target (not the
        paper's): the same ascent and eq. 20–22 (``Δ`` integrated, band-passed, clipped, spread over the
        levels); the ascent takes its sign from the reference, ``F(Δ)`` is smoothed over the ``S×S`` grid
        and scaled once, on the first block, so that the shoulders' in-band phase is ``gain`` × the
        original's (:meth:`_gain_scale_motion`).  ``phase_update`` is ``"change"`` (the literal reading
        adds the original phase and has no gain to set)."""
        margin = self.margin_frames(fps)
        bp_x = StreamingBandpass(sos, margin, self.block_frames) if self.sign_from != "x" else None
        bp = StreamingBandpass(sos, margin, self.block_frames)  # Δ(t), one sample per frame
        bp_o = StreamingBandpass(sos, margin, self.block_frames) if self.gain is not None else None  # Σ X_1
        x1_q: list[torch.Tensor] = []
        scale_buf: list[torch.Tensor] = []
        o_blocks: list[np.ndarray] = []
        cum: torch.Tensor | None = None
        o_cum: torch.Tensor | None = None
        self._phase_sums = np.zeros(3)
        self.gain_scale = None
        self._rho = None
        weight = None

        def ascend(n: int, ref: torch.Tensor | None) -> None:
            nonlocal cum
            x1 = torch.stack(x1_q[:n])
            del x1_q[:n]
            c = torch.cumsum(self._ascend(x1, record, ref).double(), 0) + (cum if cum is not None else 0)
            cum = c[-1]
            bp.push(c.detach().cpu().numpy())

        def emit(final: bool):
            if bp_o is not None and self.gain_scale is None:
                o_blocks.extend(bp_o.pop(final=final))
            for fl in bp.pop(final=final):
                fo = o_blocks.pop(0) if o_blocks else None
                u = self._smooth(torch.from_numpy(np.ascontiguousarray(fl)).to(self.device, torch.float64))
                if self.gain is not None:
                    if self.gain_scale is None:
                        o = torch.from_numpy(np.ascontiguousarray(fo)).to(self.device, torch.float64)
                        self.gain_scale = float(self._gain_scale_motion(u, o))
                    u = u * self.gain_scale
                for s in range(0, len(u), self._recon):
                    piece = u[s : s + self._recon]
                    yield self._rebuild_motion(piece, frames.take(len(piece)), weight)

        zero = None
        for x1, weight in self._motion_x1(chunks, frames):
            if zero is None:  # frame 0: φ̃(1) = φ(1): zero change
                zero = np.zeros((1, self._pyramid.orientations, self.size, self.size))
                bp.push(zero)
                if bp_o is not None:
                    bp_o.push(zero)
            if x1 is None:
                continue
            x1_q.extend(list(x1))
            if self.last_scale is None:
                scale_buf.append(x1)
            if bp_x is not None:
                bp_x.push(x1.cpu().numpy())
            if bp_o is not None and self.gain_scale is None:
                oc = torch.cumsum(x1.double(), 0) + (o_cum if o_cum is not None else 0)
                o_cum = oc[-1]
                bp_o.push(oc.cpu().numpy())
            self._run_ascents(scale_buf, x1_q, bp_x, ascend, final=False)
            yield from _reported(emit(final=False), progress)
        self._run_ascents(scale_buf, x1_q, bp_x, ascend, final=True)
        yield from _reported(emit(final=True), progress)

    def _stream_motion(self, chunks, fps, sos, progress, record, frames: FrameQueue) -> Iterator[np.ndarray]:
        """Respiration, eq. 18–22 as published (with the readings in ``docs/deepmag.md``)."""
        bp = StreamingBandpass(sos, self.margin_frames(fps), self.block_frames)
        cum: torch.Tensor | None = None  # Σ (X_N − X_1): the integrated change (eq. 20) at S×S
        x1_cum: torch.Tensor | None = None  # Σ X_1: the unwrapped original phase change (literal eq. 21)
        pending: list[torch.Tensor] = []
        x1_pending: list[torch.Tensor] = []
        self._phase_sums = np.zeros(3)
        started = False
        weight = None

        def integrate(dx: torch.Tensor, x1: torch.Tensor) -> np.ndarray:
            nonlocal cum, x1_cum
            c_dx = torch.cumsum(dx, 0) + (cum if cum is not None else 0)
            cum = c_dx[-1]
            if self.phase_update == "literal":
                c_x1 = torch.cumsum(x1, 0) + (x1_cum if x1_cum is not None else 0)
                x1_cum = c_x1[-1]
                c_dx = c_dx + c_x1
            return c_dx.detach().cpu().numpy()

        def emit(filtered: list[np.ndarray]):
            for upd in filtered:
                full = frames.take(len(upd))
                yield self._rebuild_motion(torch.from_numpy(np.ascontiguousarray(upd)), full, weight)

        for x1, weight in self._motion_x1(chunks, frames):
            if not started:  # frame 0: φ̃(1) = φ(1): zero change
                started = True
                bp.push(np.zeros((1, self._pyramid.orientations, self.size, self.size)))
            if x1 is None:
                continue
            x1_pending.append(x1)
            dx = self._scaled_ascent(pending, x1, record, final=False)
            if dx is None:
                continue
            bp.push(integrate(dx, torch.cat(x1_pending)))
            x1_pending.clear()
            yield from _reported(emit(_pieces(bp.pop(), self._recon)), progress)
        dx = self._scaled_ascent(pending, None, record, final=True)
        if dx is not None:
            bp.push(integrate(dx, torch.cat(x1_pending)))
        yield from _reported(emit(_pieces(bp.pop(final=True), self._recon)), progress)


# ---------------------------------------------------------------------------------------------------
# factory for `physio magnify --method deepmag` (registered in physio.magnify.registry)
# ---------------------------------------------------------------------------------------------------
DEFAULT_GAIN = 10.0
"""``coherent`` variant without ``--gamma``: the change is scaled so that the skin's in-band colour is 10× the
original's (the ×10 of the paper's and the synthetic cohorts' ground-truth renderings)."""

VARIANTS = {
    "paper": {"pulse": {}, "resp": {}},
    "coherent": {"pulse": {"colour_update": "integrated", "sign_from": "net", "smooth_cells": 1.0}, "resp": {}},
}
"""``physio magnify --method deepmag --variant NAME``: ``paper`` is Algorithm 1 and eq. 14–22 as published
(with the readings in ``docs/deepmag.md``); ``coherent`` is physio's variant (same ascent, the change
integrated before it is band-passed, the sign from the network's own waveform with each cell's polarity,
spatially smoothed; chosen by the ablation in ``docs/evaluation.md``)."""

ROI_FROM_REPRESENTATION = {"mask:face": "face", "mask:skin": "face", "mask:torso": "torso", "mask:shoulders": "torso",
                           "detect:face": "face", "detect:torso": "torso"}


class _AutoBoxDeepMag(DeepMag):
    """DeepMag whose region (face or torso) is detected on the first seconds of the stream."""

    def __init__(self, *args, region: str = "face", detect_s: float = 3.0, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.region = region
        self.detect_s = float(detect_s)

    def stream(self, chunks, fps, progress=None, record: bool = False, block_frames: int | None = None, again=None):
        if self.box is not None:
            yield from super().stream(chunks, fps, progress=progress, record=record, again=again)
            return
        need = max(2, int(round(self.detect_s * fps)))
        if again is not None:  # detect on a reading of its own: no frame is held (560 MB at 1080p)
            def first():
                n = 0
                for c in again():
                    c = np.asarray(c)
                    yield c if c.ndim == 4 else c[None]
                    n += len(c) if c.ndim == 4 else 1
                    if n >= need:
                        return
                if n == 0:
                    raise InputError("no frames to magnify")

            self.box = detect_box(first(), fps, self.region)
            yield from super().stream(chunks, fps, progress=progress, record=record, again=again)
            return
        it = iter(chunks)
        head: list[np.ndarray] = []
        for c in it:
            c = np.asarray(c)
            head.append(c if c.ndim == 4 else c[None])
            if sum(len(h) for h in head) >= need:
                break
        if not head:
            raise InputError("no frames to magnify")

        self.box = detect_box(list(head), fps, self.region)  # streamed over the chunks, not concatenated

        def chained():  # the detection frames are released as they are consumed (not held for the whole run)
            while head:
                yield head.pop(0)
            yield from it

        yield from super().stream(chained(), fps, progress=progress, record=record, again=again)


def deepmag_magnifier(
    band_hz=None,
    source: str = "pulse",
    gamma: float | None = None,
    iterations: int = 20,
    model: str | None = None,
    roi: str = "auto",
    l1: str = "mean",
    sign_correction: str = "on",
    phase_update: str = "change",
    phase_clip: str = "on",
    device: str | None = None,
    alpha: float | None = None,
    level: int | None = None,
    block_frames: int = 256,
    variant: str = "coherent",
    colour_update: str | None = None,
    sign_from: str | None = None,
    smooth_cells: float | None = None,
    gain: float | None = None,
    precision: str = "fp32",
) -> DeepMag:
    """Build DeepMag for ``physio magnify``: loads the shipped (or given) network for ``source``.

    ``variant``: ``"coherent"`` (default; :data:`VARIANTS`) or ``"paper"``; ``colour_update``, ``sign_from``
    and ``smooth_cells`` override the variant's choices (ablations).  ``gain``: target gain of the
    integrated colour update (default :data:`DEFAULT_GAIN` when neither ``gain`` nor ``gamma`` is given).
    ``roi="auto"`` uses the region the network was trained on (its checkpoint's representation):
    the face for the shipped PulseNet, the torso for the shipped RespNet, detected on the video's first
    3 s; ``"full"`` is the whole frame (the paper's setting).  ``l1="off"`` and
    ``sign_correction="off"`` are the §5.4 ablations.
    """
    if alpha is not None:
        raise InputError("DeepMag's magnification is set by --gamma (step size) and --iterations, not --alpha")
    if source not in ("pulse", "resp"):
        raise InputError(f"source must be pulse or resp, got {source!r}")
    if sign_correction not in ("on", "off", "sample"):
        raise InputError(f"sign_correction must be on, off or sample, got {sign_correction!r}")
    if phase_clip not in ("on", "off"):
        raise InputError(f"phase_clip must be on or off, got {phase_clip!r}")
    dev = resolve_device(device)
    net, ckpt = load_net(model or f"{source}_cnn", dev)
    if ckpt.get("source") != source:
        raise InputError(f"model {model or source + '_cnn'} predicts {ckpt.get('source')!r}, not {source!r}")
    rep = ckpt["representation"]
    if level is not None and source == "resp" and int(level) != int(rep.get("level", level)):
        raise InputError(f"the network was trained on pyramid level {rep.get('level')}; --level {level} does not match")
    if roi == "auto":
        roi = ROI_FROM_REPRESENTATION.get(rep.get("roi", "full"), "full")
    if roi not in ("full", "face", "torso"):
        raise InputError(f"roi must be auto, full, face or torso, got {roi!r}")
    kwargs = dict(
        gamma=gamma, iterations=iterations, band_hz=band_hz, size=int(rep["size"]), level=int(rep.get("level", 1)),
        l1="mean" if l1 == "off" else l1, l1_normalize=(l1 != "off"),
        sign_correct={"on": True, "off": False, "sample": "sample"}[sign_correction],
        phase_update=phase_update, phase_clip=phase_clip == "on", block_frames=block_frames, device=str(dev),
        precision=precision,
    )
    if variant not in VARIANTS:
        raise InputError(f"variant must be one of {', '.join(VARIANTS)}, got {variant!r}")
    preset = dict(VARIANTS[variant][source])
    for k, v in (("colour_update", colour_update), ("sign_from", sign_from), ("smooth_cells", smooth_cells)):
        if v is not None:
            preset[k] = v
    if variant == "paper" and source == "resp" and (preset or gain is not None):
        raise InputError("--sign-from, --smooth and --gain are not options of the paper's variant (drop --variant paper)")
    if gain is None and gamma is None and (preset.get("colour_update") == "integrated" or (source == "resp" and preset)):
        gain = DEFAULT_GAIN  # no step size given: a visible magnification, whatever the video's own signal
    if gain is not None:
        preset["gain"] = gain
    kwargs.update(preset)
    if roi == "full":
        return DeepMag(net, source, **kwargs)
    return _AutoBoxDeepMag(net, source, region=roi, **kwargs)
