"""Registry factories of the learned magnifiers (``physio magnify --method oh|lwmm-m1|lwmm-m2``).

:mod:`physio.magnify.registry` names these functions as ``"physio.magnify.learned.factory:make_oh"``
…; each maps the shared options (``alpha`` → ``factor``, default 10; ``band_hz`` used by the temporal
mode only) onto :class:`~physio.magnify.learned.magnifier.LearnedMagnifier`.
"""

from __future__ import annotations

from physio.errors import InputError
from physio.magnify.learned.magnifier import LearnedMagnifier

__all__ = ["make_oh", "make_lwmm_m1", "make_lwmm_m2"]


def _make(arch: str, band_hz=None, alpha: float | None = None, device=None, level=None, learned_mode: str = "dynamic",
          temporal_filter: str = "butter", order: int = 1, weights: str | None = None,
          batch_frames: int = 4) -> LearnedMagnifier:
    if level is not None:
        raise InputError(f"{arch}: --level does not apply to learned magnifiers")
    return LearnedMagnifier(arch, factor=10.0 if alpha is None else alpha, mode=learned_mode,
                            band_hz=band_hz if learned_mode == "temporal" else None, filter=temporal_filter,
                            order=order, weights=weights, device=device, batch_frames=batch_frames)


def make_oh(band_hz=None, alpha: float | None = None, device=None, level=None, learned_mode: str = "dynamic",
            temporal_filter: str = "butter", order: int = 1, weights: str | None = None,
            batch_frames: int = 4) -> LearnedMagnifier:
    """Oh et al. (2018)."""
    return _make("oh", band_hz, alpha, device, level, learned_mode, temporal_filter, order, weights, batch_frames)


def make_lwmm_m1(band_hz=None, alpha: float | None = None, device=None, level=None, learned_mode: str = "dynamic",
                 temporal_filter: str = "butter", order: int = 1, weights: str | None = None,
                 batch_frames: int = 4) -> LearnedMagnifier:
    """LW-MM M1 (C = 24)."""
    return _make("lwmm-m1", band_hz, alpha, device, level, learned_mode, temporal_filter, order, weights, batch_frames)


def make_lwmm_m2(band_hz=None, alpha: float | None = None, device=None, level=None, learned_mode: str = "dynamic",
                 temporal_filter: str = "butter", order: int = 1, weights: str | None = None,
                 batch_frames: int = 4) -> LearnedMagnifier:
    """LW-MM M2 (C = 8)."""
    return _make("lwmm-m2", band_hz, alpha, device, level, learned_mode, temporal_filter, order, weights, batch_frames)
