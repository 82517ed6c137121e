"""Video acceleration magnification (Zhang, Pintea and van Gemert, CVPR 2017).

The phase-based pipeline of :mod:`physio.magnify.phase` with a *second-order* temporal filter on the
band phases instead of a band-pass: the INT kernel (negated second difference ``-0.5, 1, -0.5`` with
taps a quarter period apart) or a difference of Gaussians, both centred on one frequency ``f_c``
(:func:`physio.magnify.temporal.int_kernel`, :func:`~physio.magnify.temporal.dog_kernel`).  Only the
non-linear (accelerating) part of a motion at the scale of ``f_c`` is amplified: a constant-velocity
drift has zero second derivative and passes unchanged.

``f_c`` defaults to the band's geometric centre, so the paper's bands give the DeepMag paper's values:
``sqrt(0.7 * 2.5) ≈ 1.32 Hz`` for pulse and ``sqrt(0.16 * 0.5) ≈ 0.28 Hz`` for respiration.  The
kernels are scaled to unit gain at ``f_c``, so a sinusoidal motion at ``f_c`` grows ``(1 + alpha)``-fold
exactly as with the other methods.  The authors' phase-correction step for large motions is not
implemented.  Kernels have finite support, so block-wise processing is exactly seamless with a margin
of half the kernel length.

References
----------
.. [1] Y. Zhang, S. L. Pintea and J. C. van Gemert, "Video acceleration magnification", CVPR 2017.
"""

from __future__ import annotations

from torch import Tensor

from physio.magnify.phase import PhaseMagnifier
from physio.magnify.temporal import SECOND_ORDER_KINDS

__all__ = ["AccelerationMagnifier", "vam_magnify"]


class AccelerationMagnifier(PhaseMagnifier):
    """Acceleration magnification: :class:`PhaseMagnifier` with ``temporal_filter`` ``"int"`` or ``"dog"``.

    Parameters are those of :class:`PhaseMagnifier`; ``temporal_filter`` defaults to ``"dog"`` and
    ``freq_hz`` to ``sqrt(lo * hi)`` of ``band_hz``; ``alpha`` defaults to 8.
    """

    name = "vam"
    _default_alpha = 8.0
    _default_filter = "dog"
    _filter_kinds = SECOND_ORDER_KINDS

    @property
    def centre_hz(self) -> float:
        """Centre frequency of the second-order kernel (Hz)."""
        return self._filter.centre_hz

    def describe(self) -> dict:
        d = super().describe()
        d["centre_hz"] = self.centre_hz
        return d


def vam_magnify(frames: Tensor, fps: float, **kwargs) -> Tensor:
    """Functional form: ``AccelerationMagnifier(**kwargs).process(frames, fps)``."""
    return AccelerationMagnifier(**kwargs).process(frames, fps)
