"""The learned magnifiers as :class:`physio.magnify.base.Magnifier` s: static, dynamic and temporal modes.

``LearnedMagnifier(arch, factor, mode, ...)`` runs a trained :class:`.nets.OhNet` / :class:`.nets.LWMMNet`
on a video.  With ``factor = alpha``, motion between the frame pair the network sees is multiplied by
``alpha`` (see :mod:`.nets`):

* ``"dynamic"`` (default) — pairs of consecutive frames ``(t-1, t)``: the *velocity* is magnified, so
  large slow motions are amplified too (Oh et al.'s dynamic mode; how the thesis evaluates).  The
  first frame of a video has no predecessor and is returned unchanged.  Stateless: one frame of
  context per block (``margin_frames = 1``).
* ``"static"`` — pairs ``(reference, t)`` with the reference = the first frame of the video (the first
  frame this magnifier sees after construction or :meth:`LearnedMagnifier.reset`), so displacements
  from the reference are magnified.  Stateful: call :meth:`~LearnedMagnifier.reset` between videos.
* ``"temporal"`` — the manipulator's input features are band-passed over time instead of taken as a
  frame difference (as Oh et al.'s code does for its shape representation), so only motion inside
  ``band_hz`` is magnified.  Oh: per-frame shape ``S_t``; the manipulator gets ``bp(S)_t`` in place
  of ``S_cur − S_ref`` and adds its output to ``S_t``.  LW-MM, whose two encoder streams see each
  other and so have no per-frame code: each frame is encoded as the pair ``(F_t, F_t)``, and the
  manipulator gets ``(E_a − E_b)_t + bp((E_a + E_b)/2)_t`` — the band-passed code plus the no-motion
  offset (zero with the default shared-weight encoder; the unshared variant's streams differ).  The
  networks of thesis ch. 4–7 (:class:`~.blocks.ThesisNet`) give their own code, by default the frame
  itself: the pair ``(F_t − bp(F)_t, F_t)`` (see :mod:`.blocks`).  The
  band-pass is a :class:`physio.magnify.temporal.TemporalFilter` (``filter``: ``"butter"`` zero-phase
  by default, ``"ideal"``, ``"iir"`` …); it needs the filter's margin of context.  Memory: one
  feature map ``(2C or 32) × H/2 × W/2`` floats per frame of the temporal window (≈ 10–15 MB per
  640×480 frame; :meth:`LearnedMagnifier.stream` keeps only the window, whatever the video's length).

Frames are padded (reflect) to the network's size multiple and cropped back.  The network was
never trained with temporal filtering; Oh et al. and the thesis both note that filtering its
intermediate features can misbehave for bands far from the training distribution.
"""

from __future__ import annotations

import math
import os

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from physio.device import resolve_device
from physio.errors import InputError
from physio.magnify.base import Magnifier, blocked_stream
from physio.magnify.learned.nets import ARCHS, LWMMNet, OhNet, ThesisNet
from physio.magnify.learned.weights import default_weights_path, load_weights
from physio.magnify.temporal import BANDPASS_KINDS, TemporalFilter
from physio.magnify.window import filter_rows, window_stream

__all__ = ["LearnedMagnifier", "MODES", "learned_magnify"]

MODES = ("dynamic", "static", "temporal")

NET_PASS_PIXELS = 2_100_000
"""Most pixels the streamed temporal mode puts through the network at once (one 1920 × 1080 frame;
four 640 × 480 frames, as ``batch_frames``)."""

TILE_PIXELS = 800_000
"""A frame larger than this goes through the network in horizontal bands (:meth:`LearnedMagnifier._bands`):
the full-resolution layers' activations of one 1080p frame took 1.6 GB (LW-MM M1)."""

TILE_HALO = 64
"""Rows of context above and below each band, beyond the networks' receptive field (so the bands'
cores equal the whole frame's result; tested)."""


def _check_frames(frames: object, who: str) -> Tensor:
    if not isinstance(frames, Tensor) or not frames.is_floating_point():
        raise InputError(f"{who}: frames must be a float tensor (T, 3, H, W) in [0, 1]")
    if frames.ndim != 4 or frames.shape[1] != 3 or frames.shape[0] < 1:
        raise InputError(f"{who}: frames must have shape (T, 3, H, W) with T ≥ 1, got {tuple(frames.shape)}")
    return frames


class LearnedMagnifier(Magnifier):
    """Oh et al. (2018) or LW-MM M1/M2 as a :class:`~physio.magnify.base.Magnifier`.

    Parameters
    ----------
    arch : str
        ``"oh"``, ``"lwmm-m1"`` or ``"lwmm-m2"``.
    factor : float
        Magnification factor alpha (≥ 0; 1 = unchanged).  The thesis' circle benchmark uses ≈ 50 in
        dynamic mode (±0.1 px → ±10 px).
    mode : str
        ``"dynamic"``, ``"static"`` or ``"temporal"`` (see the module notes).
    band_hz : (float, float), optional
        Pass band of the temporal mode (required there, ignored otherwise).
    filter : str
        Temporal filter kind of the temporal mode (``physio.magnify.temporal.FILTER_KINDS`` band-passes).
    order : int
        Butterworth order (temporal mode).
    weights : path, optional
        Weights file; default ``models/<arch file>`` (:func:`.weights.default_weights_path`).
    net : nn.Module, optional
        A network to use instead of loading weights (tests, freshly trained models).
    device : str, optional
        ``"cpu"``, ``"cuda"`` or ``None``/``"auto"``.
    batch_frames : int
        Frames pushed through the network at once.
    """

    def __init__(
        self,
        arch: str = "lwmm-m1",
        factor: float = 10.0,
        mode: str = "dynamic",
        band_hz: tuple[float, float] | None = None,
        filter: str = "butter",  # noqa: A002 - the user-facing name
        order: int = 1,
        weights: str | os.PathLike | None = None,
        net: nn.Module | None = None,
        device: str | torch.device | None = None,
        batch_frames: int = 4,
    ) -> None:
        if arch not in ARCHS:
            raise InputError(f"unknown learned magnifier {arch!r}; valid: {', '.join(ARCHS)}")
        if mode not in MODES:
            raise InputError(f"unknown mode {mode!r} for {arch}; valid: {', '.join(MODES)}")
        try:
            factor = float(factor)
        except (TypeError, ValueError):
            raise InputError(f"{arch}: factor must be a number, got {factor!r}") from None
        if not (math.isfinite(factor) and factor >= 0):
            raise InputError(f"{arch}: factor must be a finite number ≥ 0, got {factor}")
        if batch_frames < 1:
            raise InputError(f"batch_frames must be ≥ 1, got {batch_frames}")
        self.name = arch
        self.arch = arch
        self.factor = factor
        self.mode = mode
        self.device = resolve_device(device)
        self.batch_frames = int(batch_frames)
        self._filter = None
        self.band_hz = None
        self.filter = filter
        self.order = order
        if mode == "temporal":
            if band_hz is None:
                raise InputError(f"{arch}: the temporal mode needs band_hz=(lo, hi) in Hz")

            if filter not in BANDPASS_KINDS:
                raise InputError(f"{arch}: temporal filter must be one of {', '.join(BANDPASS_KINDS)}, got {filter!r}")
            self._filter = TemporalFilter(filter, tuple(band_hz), order=order)
            self.band_hz = tuple(float(b) for b in band_hz)
        if net is None:
            path = weights if weights is not None else default_weights_path(arch)
            if not os.path.exists(path):
                raise InputError(
                    f"{arch}: no trained weights at {path}; train them with `physio train-magnifier train "
                    f"--config configs/<arch>.yaml` and export it, or pass --weights PATH (weights=PATH in Python)")
            net, info = load_weights(path, map_location=self.device)
            if info["arch"] != arch:
                raise InputError(f"{path}: holds {info['arch']} weights, not {arch}")
            self.weights = str(path)
        else:
            expected = ARCHS[arch][0]
            if not isinstance(net, expected):
                raise InputError(f"{arch}: net must be a {expected.__name__}, got {type(net).__name__}")
            self.weights = "(given network)"
        self._net = net.to(self.device).eval()
        self._ref: Tensor | None = None

    # -- Magnifier interface ----------------------------------------------------------------------
    def margin_frames(self, fps: float) -> int:
        if self.mode == "dynamic":
            return 1
        if self.mode == "temporal":
            return int(self._filter.margin_frames(fps))
        return 0

    def reset(self) -> None:
        """Forget the static mode's reference frame (start of a new video)."""
        self._ref = None

    def describe(self) -> dict:
        d = super().describe()
        d["net"] = type(self._net).__name__
        return d

    def process(self, frames: Tensor, fps: float) -> Tensor:
        frames = _check_frames(frames, self.name)
        if not (isinstance(fps, (int, float)) and math.isfinite(fps) and fps > 0):
            raise InputError(f"{self.name}: fps must be a positive number, got {fps!r}")
        x, crop = self._pad(frames.to(self.device, torch.float32) * 2 - 1)
        with torch.no_grad():
            if self.mode == "dynamic":
                y = self._dynamic(x)
            elif self.mode == "static":
                if self._ref is None:
                    self._ref = x[:1].clone()
                elif self._ref.shape[1:] != x.shape[1:]:
                    raise InputError(f"{self.name}: frame size changed from {tuple(self._ref.shape[-2:])} to "
                                     f"{tuple(x.shape[-2:])}; call reset() between videos")
                y = self._pairs(self._ref.expand(len(x), -1, -1, -1), x)
            else:
                y = self._temporal(x, fps)
        h, w = crop
        return ((y[..., :h, :w] + 1) / 2).to(frames.dtype)

    # -- helpers --------------------------------------------------------------------------------
    def _pad(self, x: Tensor) -> tuple[Tensor, tuple[int, int]]:
        m = self._net.multiple
        h, w = x.shape[-2:]
        ph, pw = (-h) % m, (-w) % m
        if ph or pw:
            mode = "reflect" if h > ph and w > pw else "replicate"
            x = F.pad(x, (0, pw, 0, ph), mode=mode)
        return x, (h, w)

    def _pairs(self, ref: Tensor, cur: Tensor) -> Tensor:
        out = torch.empty_like(cur)
        for i in range(0, len(cur), self.batch_frames):
            sl = slice(i, i + self.batch_frames)
            out[sl] = self._net(ref[sl], cur[sl], self.factor)
        return out

    def _dynamic(self, x: Tensor) -> Tensor:
        out = torch.empty_like(x)
        out[0] = x[0]
        if len(x) > 1:
            out[1:] = self._pairs(x[:-1], x[1:])
        return out

    def _temporal(self, x: Tensor, fps: float) -> Tensor:
        b = self.batch_frames
        band = self._filter(torch.cat([self._codes(x[i : i + b]) for i in range(0, len(x), b)]), fps).to(x.dtype)
        out = torch.empty_like(x)
        for i in range(0, len(x), b):
            out[i : i + b] = self._from_band(x[i : i + b], band[i : i + b])
        return out

    def _codes(self, x: Tensor) -> Tensor:
        """The per-frame features the temporal mode band-passes (Oh: the shape; LW-MM: the pair code)."""
        net = self._net
        if isinstance(net, OhNet):
            return net.encode(x)[1]
        if isinstance(net, LWMMNet):
            ea, eb, _, _ = net.encode(x, x)
            return (ea + eb) / 2
        if isinstance(net, ThesisNet):
            return net.codes(x)
        raise InputError(f"{self.name}: temporal mode does not support {type(net).__name__}")  # pragma: no cover

    def _from_band(self, x: Tensor, band: Tensor) -> Tensor:
        """Magnified frames (network range) from frames ``x`` and their band-passed features."""
        net = self._net
        if isinstance(net, OhNet):
            texture, shape = net.encode(x)
            return net.decode(texture, net.manipulate(shape, band, self.factor))
        if isinstance(net, ThesisNet):
            return net.from_band(x, band, self.factor)
        ea, eb, ta, tb = net.encode(x, x)
        return net.decoder(net.appear(ta, tb) + net.manipulate((ea - eb) + band, self.factor))

    # -- streaming (temporal mode; see physio.magnify.window) ------------------------------------------
    rereads = True
    """The stream can decode the frames again for the synthesis (``again``) instead of keeping them."""

    def stream(self, chunks, fps: float, progress=None, block_frames: int | None = None, again=None):
        """Stream ``uint8`` chunks.  Temporal mode: in a bounded window of the band-passed features (one
        feature map a frame for ``2 × margin + block_frames`` frames; the encoder runs again on each output
        frame instead of keeping its texture), equal to the block driver with the same ``block_frames``;
        the other modes use the block driver."""
        if not (isinstance(fps, (int, float)) and math.isfinite(fps) and fps > 0):
            raise InputError(f"{self.name}: fps must be a positive number, got {fps!r}")
        if self.mode != "temporal":
            yield from blocked_stream(self, chunks, fps, block_frames, progress)
            return
        yield from window_stream(self, chunks, fps, self.margin_frames(fps), block_frames, progress, again)

    def _stream_setup(self, h: int, w: int, x: Tensor) -> None:
        pass

    def _passes(self, x: Tensor):
        """``x`` in slices the network takes at once: at most ``batch_frames`` frames and
        :data:`NET_PASS_PIXELS` pixels (one 1080p frame: the activations of the full-resolution layers
        are what bound memory there; measured, LW-MM M1 at 1920 × 1080 two frames a pass: 2,064 MB)."""
        h, w = x.shape[-2:]
        step = max(1, min(self.batch_frames, NET_PASS_PIXELS // max(1, h * w)))
        return (x[i : i + step] for i in range(0, len(x), step))

    def _bands(self, h: int, w: int) -> list[tuple[int, int, int, int]]:
        """Row bands ``(lo, a, b, hi)`` of a padded ``h × w`` frame: cores ``[a, b)`` cover the frame, each
        read with :data:`TILE_HALO` rows of context ``[lo, hi)`` (or the network's own ``halo``); all multiples of the network's multiple
        (its strides).  One band for a frame of at most :data:`TILE_PIXELS`, or for a network that is not
        ``local`` (MD-MM: a Fourier transform of the whole frame)."""
        m = 4 * self._net.multiple  # the features' rows stay whole at every stride
        n = math.ceil(h * w / TILE_PIXELS)
        if n <= 1 or not getattr(self._net, "local", True):
            return [(0, 0, h, h)]
        core = math.ceil(h / n / m) * m
        halo = math.ceil(getattr(self._net, "halo", TILE_HALO) / m) * m
        return [(max(0, a - halo), a, min(h, a + core), min(h, a + core + halo)) for a in range(0, h, core)]

    def _banded_codes(self, xp: Tensor) -> Tensor:
        parts = []
        for lo, a, b, hi in self._bands(*xp.shape[-2:]):
            c = self._codes(xp[..., lo:hi, :])
            s = (hi - lo) // c.shape[-2]
            parts.append(c[..., (a - lo) // s : (b - lo) // s, :])
        return torch.cat(parts, dim=-2)

    def _banded_from_band(self, xp: Tensor, band: Tensor) -> Tensor:
        s = xp.shape[-2] // band.shape[-2]
        return torch.cat([self._from_band(xp[..., lo:hi, :], band[..., lo // s : hi // s, :])[..., a - lo : b - lo, :]
                          for lo, a, b, hi in self._bands(*xp.shape[-2:])], dim=-2)

    def _analyse(self, x: Tensor) -> list[Tensor]:
        return [torch.cat([self._banded_codes(self._pad(xs * 2 - 1)[0]) for xs in self._passes(x)])]

    def _filter_rows(self, window, fps, start, stop):
        return filter_rows(self._filter, window, fps, start, stop)

    def _synthesise(self, x: Tensor, filtered: list[Tensor]) -> Tensor:
        out, i = [], 0
        for xs in self._passes(x):
            xp, (h, w) = self._pad(xs * 2 - 1)
            out.append((self._banded_from_band(xp, filtered[0][i : i + len(xs)].to(xp.dtype))[..., :h, :w] + 1) / 2)
            i += len(xs)
        return torch.cat(out)


def learned_magnify(frames: Tensor, fps: float, **kwargs) -> Tensor:
    """Functional form: ``LearnedMagnifier(**kwargs).process(frames, fps)`` (a fresh static reference)."""
    return LearnedMagnifier(**kwargs).process(frames, fps)
