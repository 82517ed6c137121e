"""General learned motion magnifiers: Oh et al. (2018) and LW-MM M1/M2 (Singh et al. 2023).

* :mod:`.nets` — the networks (``nn.Module`` only); :mod:`.complexity` — parameter/FLOP counts.
* :mod:`.data` — Oh et al.'s synthetic training-data recipe (procedural + ``skimage.data``), on the
  fly or to HDF5; :mod:`.losses` — L1, edge, perceptual (VGG-16 or MS-SSIM), the two objectives.
* :mod:`.train` — resumable training (``physio train-magnifier``); :mod:`.weights` — shipped weights
  and model cards.
* :mod:`.magnifier` — :class:`LearnedMagnifier` (static, dynamic and temporal-filter modes).
* :mod:`.circles` — the thesis' circle benchmark (``physio bench-magnifiers``).

Importing this package registers ``oh``, ``lwmm-m1`` and ``lwmm-m2`` with
:mod:`physio.magnify.registry` (which imports it as a plugin), so ``physio magnify --method oh``
works once weights exist in ``models/`` (or ``--weights PATH``).
"""

from __future__ import annotations

from physio.errors import InputError
from physio.magnify.learned.magnifier import MODES, LearnedMagnifier, learned_magnify
from physio.magnify.learned.nets import ARCHS, LWMMNet, OhNet, build_net

__all__ = ["LearnedMagnifier", "learned_magnify", "MODES", "ARCHS", "OhNet", "LWMMNet", "build_net", "register_all"]

_HELP = {
    "oh": "learning-based motion magnification (Oh et al. 2018); needs models/oh2018.pt",
    "lwmm-m1": "lightweight proxy-trained magnifier M1, C=24 (Singh et al. 2023); needs models/lwmm_m1.pt",
    "lwmm-m2": "lightweight proxy-trained magnifier M2, C=8 (Singh et al. 2023); needs models/lwmm_m2.pt",
}


def _factory(arch: str):
    def make(band_hz=None, alpha: float | None = None, device=None, level=None, learned_mode: str = "dynamic",
             temporal_filter: str = "butter", order: int = 1, weights: str | None = None, batch_frames: int = 4):
        """Registry factory: ``alpha`` → ``factor`` (default 10); ``band_hz`` is used by the temporal mode only."""
        if level is not None:
            raise InputError(f"{arch}: --level does not apply to learned magnifiers")
        return LearnedMagnifier(arch, factor=10.0 if alpha is None else alpha, mode=learned_mode,
                                band_hz=band_hz if learned_mode == "temporal" else None, filter=temporal_filter,
                                order=order, weights=weights, device=device, batch_frames=batch_frames)

    make.__name__ = make.__qualname__ = f"make_{arch.replace('-', '_')}"
    make.__module__ = __name__
    return make


def register_all() -> bool:
    """Register the learned magnifiers with :mod:`physio.magnify.registry`; False when it is absent."""
    try:
        from physio.magnify import registry  # noqa: PLC0415
    except ImportError:
        return False
    from physio.magnify.registry import CliOption  # noqa: PLC0415

    options = (
        CliOption("--learned-mode", str, "learned magnifiers: dynamic (consecutive frames, default), static "
                  "(reference = first frame) or temporal (band-passed features, uses the band)",
                  choices=MODES),
        CliOption("--weights", str, "learned magnifiers: weights file (default models/<arch>.pt)"),
        CliOption("--temporal-filter", str, "temporal filter: ideal (FFT), fir (windowed sinc), butter (zero-phase), "
                  "butter-causal, iir", choices=("ideal", "fir", "butter", "butter-causal", "iir")),
        CliOption("--order", int, "Butterworth order (default 1)"),
    )
    for arch in ARCHS:
        registry.register(arch, _factory(arch), help=_HELP[arch], options=options)
    return True


register_all()
