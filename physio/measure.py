"""Measuring heart and breathing rates from a video: ROI → representation → network (or rPPG) → rates.

The building blocks here take frame chunks and regions; :func:`measure_rates` strings them together
for ``physio rates``.  Everything streams: a video is read chunk by chunk (twice at most: once for the
regions, once for the signals), and only per-frame scalars or small representations are kept.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import torch

from physio.errors import InputError
from physio.represent.compute import RepresentationSpec, crop

__all__ = ["cnn_signal", "RatesReport", "SCALE_SAMPLES"]

SCALE_SAMPLES = 512
"""Samples of the representation used to estimate its standardisation scale (≈ 17 s at 30 fps)."""


def cnn_signal(
    chunks: Iterable[np.ndarray],
    net: torch.nn.Module,
    spec: RepresentationSpec,
    box: tuple[int, int, int, int] | None = None,
    device: str | torch.device = "cpu",
    batch: int = 256,
    progress: Callable[[int], None] | None = None,
) -> np.ndarray:
    """Run a derivative-predicting network over a video; returns its output, one value per frame pair.

    Parameters
    ----------
    chunks : iterable of uint8 (t, H, W, 3)
        The video.
    net : nn.Module
        PulseNet/RespNet in eval mode.
    spec : RepresentationSpec
        The representation the network was trained on (from its checkpoint).
    box : (x0, y0, x1, y1), optional
        Fixed crop (None: the whole frame).
    progress : callable, optional
        Called with the number of frames consumed.

    Returns
    -------
    ndarray, shape (T-1,)
        The predicted derivative.  The input is standardised by the RMS of its first
        :data:`SCALE_SAMPLES` samples (networks are trained on per-session standardised inputs).
    """
    from physio.represent.compute import iter_representation  # noqa: PLC0415

    net = net.to(device).eval()
    pending: list[np.ndarray] = []
    scale: float | None = None
    out: list[np.ndarray] = []

    def run(xs: list[np.ndarray]) -> None:
        x = np.concatenate(xs)
        with torch.no_grad():
            for s in range(0, len(x), batch):
                xb = torch.from_numpy(x[s : s + batch] / scale).to(device)
                out.append(net(xb).float().cpu().numpy())

    def counted(it):
        for c in it:
            if progress is not None:
                progress(len(c))
            yield c

    for rep in iter_representation(counted(chunks), spec, box, device):
        if scale is None:
            pending.append(rep)
            if sum(len(p) for p in pending) >= SCALE_SAMPLES:
                allx = np.concatenate(pending)
                scale = float(np.sqrt(np.mean(np.square(allx, dtype=np.float64)))) or 1.0
                if not spec.standardize:
                    scale = 1.0
                run(pending)
                pending = []
        else:
            run([rep])
    if scale is None:
        if not pending:
            raise InputError("video too short: no frame pairs to measure")
        allx = np.concatenate(pending)
        scale = float(np.sqrt(np.mean(np.square(allx, dtype=np.float64)))) or 1.0
        if not spec.standardize:
            scale = 1.0
        run(pending)
    return np.concatenate(out)


@dataclass
class RatesReport:
    """What ``physio rates`` reports (its ``--json`` keys are a public contract)."""

    hr_bpm: float | None
    br_bpm: float | None
    hr_series: list = field(default_factory=list)
    br_series: list = field(default_factory=list)
    method: str = "cnn"
    fps: float = 0.0
    extra: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {
            "hr_bpm": self.hr_bpm,
            "br_bpm": self.br_bpm,
            "hr_series": [{"t": round(float(t), 3), "value": round(float(v), 3)} for t, v in self.hr_series],
            "br_series": [{"t": round(float(t), 3), "value": round(float(v), 3)} for t, v in self.br_series],
            "method": self.method,
            "fps": self.fps,
            **self.extra,
        }


def crop_box_union(boxes: np.ndarray, shape_hw: tuple[int, int], margin: float = 0.1) -> tuple[int, int, int, int]:
    """One fixed box covering per-frame boxes ``(T, 4)`` (NaN rows ignored), grown by ``margin``."""
    b = np.asarray(boxes, dtype=float)
    b = b[np.all(np.isfinite(b), axis=1)]
    if not len(b):
        raise InputError("no region boxes to combine")
    x0, y0 = np.percentile(b[:, 0], 5), np.percentile(b[:, 1], 5)
    x1, y1 = np.percentile(b[:, 2], 95), np.percentile(b[:, 3], 95)
    dx, dy = (x1 - x0) * margin, (y1 - y0) * margin
    h, w = shape_hw
    return (int(max(0, np.floor(x0 - dx))), int(max(0, np.floor(y0 - dy))),
            int(min(w, np.ceil(x1 + dx))), int(min(h, np.ceil(y1 + dy))))


__all__ += ["crop_box_union", "crop"]
