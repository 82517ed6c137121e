"""Registry factories of the learned magnifiers (``physio magnify --method NAME``, NAME in
:data:`.catalog.LEARNED`).

:mod:`physio.magnify.registry` names these functions as ``"physio.magnify.learned.factory:make_oh"``
…; each maps the shared options (``alpha`` → ``factor``, default 10; ``band_hz`` used by the temporal
mode only) onto :class:`~physio.magnify.learned.magnifier.LearnedMagnifier`.
"""

from __future__ import annotations

from physio.errors import InputError
from physio.magnify.learned.catalog import LEARNED
from physio.magnify.learned.magnifier import LearnedMagnifier

__all__ = [f"make_{name.replace('-', '_')}" for name in LEARNED]


def _factory(arch: str):
    def make(band_hz=None, alpha: float | None = None, device=None, level=None, learned_mode: str = "dynamic",
             temporal_filter: str = "butter", order: int = 1, weights: str | None = None,
             batch_frames: int = 4) -> LearnedMagnifier:
        if level is not None:
            raise InputError(f"{arch}: --level does not apply to learned magnifiers")
        return LearnedMagnifier(arch, factor=10.0 if alpha is None else alpha, mode=learned_mode,
                                band_hz=band_hz if learned_mode == "temporal" else None, filter=temporal_filter,
                                order=order, weights=weights, device=device, batch_frames=batch_frames)

    make.__name__ = make.__qualname__ = f"make_{arch.replace('-', '_')}"
    make.__doc__ = f"{LEARNED[arch].label}: {LEARNED[arch].help}."
    return make


for _name in LEARNED:
    globals()[f"make_{_name.replace('-', '_')}"] = _factory(_name)
del _name
