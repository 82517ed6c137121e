"""Magnification methods by name, and magnifying a video file with one of them.

:data:`MAGNIFIERS` maps a method name to a :class:`MethodSpec`: the factory (a class or function
returning a :class:`~physio.magnify.base.Magnifier`, or a lazy ``"module:attribute"`` string), a
one-line description and the extra command-line options the method takes.  Add a method by adding an
entry to the dict or by calling :func:`register`; ``physio magnify --method NAME`` then finds it, and
its options (e.g. DeepMag's ``--gamma`` and ``--iterations``) appear on the command line and are
forwarded to the factory as keyword arguments.

Every factory must accept ``band_hz`` (Hz) and should accept ``alpha``, ``level`` and ``device``.

Examples
--------
>>> mag = get_magnifier("evm", alpha=50, band_hz=(50 / 60, 1.0), mode="color", level=4)
>>> mag.name
'evm'
>>> register("my-evm", "physio.magnify.eulerian:EulerianMagnifier", help="EVM again")
>>> sorted(available())[:3]
['evm', 'my-evm', 'phase']
>>> unregister("my-evm")
"""

from __future__ import annotations

import importlib
import inspect
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from physio.errors import InputError, PhysioWarning

if TYPE_CHECKING:  # pragma: no cover
    from physio.magnify.base import Magnifier

__all__ = [
    "CliOption",
    "MethodSpec",
    "MAGNIFIERS",
    "register",
    "unregister",
    "PLUGINS",
    "available",
    "specs",
    "get_magnifier",
    "method_parameters",
    "magnify_video",
]


@dataclass(frozen=True)
class CliOption:
    """An extra command-line option of a method, forwarded to its factory as ``kwarg``.

    Parameters
    ----------
    flag : str
        ``"--gamma"``.  Methods may share a flag; its ``type`` must then agree.
    type : callable
        Converts the command-line string (``float``, ``int``, ``str`` …).
    help : str
    kwarg : str, optional
        Factory keyword (default: the flag without leading dashes, ``-`` → ``_``).
    choices : tuple, optional
    """

    flag: str
    type: Callable = float
    help: str = ""
    kwarg: str | None = None
    choices: tuple | None = None

    @property
    def name(self) -> str:
        return self.kwarg or self.flag.lstrip("-").replace("-", "_")


@dataclass(frozen=True)
class MethodSpec:
    """A registered method: factory (callable or lazy ``"module:attr"``), description, CLI options."""

    factory: Callable[..., Magnifier] | str
    help: str = ""
    options: tuple[CliOption, ...] = field(default_factory=tuple)

    def resolve(self) -> Callable[..., Magnifier]:
        if callable(self.factory):
            return self.factory
        module, _, attr = str(self.factory).partition(":")
        return getattr(importlib.import_module(module), attr)


_FILTER_HELP = "temporal filter: ideal (FFT), fir (windowed sinc), butter (zero-phase), butter-causal, iir"

MAGNIFIERS: dict[str, MethodSpec] = {
    "evm": MethodSpec(
        "physio.magnify.eulerian:EulerianMagnifier",
        "Eulerian video magnification (Wu et al. 2012): colour (Gaussian level) or motion (Laplacian)",
        (
            CliOption("--temporal-filter", str, _FILTER_HELP, choices=("ideal", "fir", "butter", "butter-causal", "iir")),
            CliOption("--order", int, "Butterworth order (default 1)"),
            CliOption("--chroma-attenuation", float, "factor on the I/Q change (default 1 colour, 0.1 motion)"),
            CliOption("--lambda-c", float, "motion EVM spatial cut-off wavelength, pixels (default 16)"),
        ),
    ),
    "phase": MethodSpec(
        "physio.magnify.phase:PhaseMagnifier",
        "phase-based motion magnification (Wadhwa et al. 2013), complex steerable pyramid",
        (
            CliOption("--temporal-filter", str, _FILTER_HELP, choices=("ideal", "fir", "butter", "butter-causal", "iir")),
            CliOption("--order", int, "Butterworth order (default 1)"),
            CliOption("--sigma", float, "amplitude-weighted phase smoothing, pixels per level (default 2)"),
            CliOption("--bandwidth", str, "pyramid bandwidth (default octave)", choices=("octave", "half-octave")),
            CliOption("--orientations", int, "pyramid orientations (default 4)"),
        ),
    ),
    "vam": MethodSpec(
        "physio.magnify.acceleration:AccelerationMagnifier",
        "video acceleration magnification (Zhang et al. 2017): INT or DoG second-order phase filter",
        (
            CliOption("--kernel", str, "second-order kernel (default dog)", kwarg="temporal_filter", choices=("int", "dog")),
            CliOption("--freq", float, "centre frequency in Hz (default sqrt(lo*hi) of the band)", kwarg="freq_hz"),
            CliOption("--sigma", float, "amplitude-weighted phase smoothing, pixels per level (default 2)"),
            CliOption("--bandwidth", str, "pyramid bandwidth (default octave)", choices=("octave", "half-octave")),
            CliOption("--orientations", int, "pyramid orientations (default 4)"),
        ),
    ),
}
"""Registered methods; "deepmag", "oh", "lwmm-m1" are added by their modules (see :data:`PLUGINS`)."""

PLUGINS: list[str] = ["physio.magnify.learned", "physio.magnify.deepmag"]
"""Modules imported (once, on first lookup) so that they can :func:`register` their methods.  A module
that does not exist is skipped; one that fails to import is skipped with a :class:`PhysioWarning`."""

_plugins_loaded = False


def _load_plugins() -> None:
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for module in list(PLUGINS):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name and (module == exc.name or module.startswith(exc.name + ".")):
                continue
            warnings.warn(f"magnifier plugin {module} failed to import: {exc}", PhysioWarning, stacklevel=2)
        except Exception as exc:  # noqa: BLE001 - a broken plugin must not disable the other methods
            warnings.warn(f"magnifier plugin {module} failed to import: {type(exc).__name__}: {exc}",
                          PhysioWarning, stacklevel=2)


def register(
    name: str,
    factory: Callable[..., Magnifier] | str,
    *,
    help: str = "",  # noqa: A002 - mirrors argparse
    options: tuple[CliOption, ...] | list[CliOption] = (),
    replace: bool = False,
) -> None:
    """Add a method under ``name`` (lower case, no spaces); ``replace`` to overwrite an existing one."""
    if not isinstance(name, str) or not name or name != name.strip().lower() or " " in name:
        raise InputError(f"magnifier name must be a non-empty lower-case word, got {name!r}")
    if name in MAGNIFIERS and not replace and not _same_factory(MAGNIFIERS[name].factory, factory):
        raise InputError(f"magnifier {name!r} is already registered (pass replace=True to overwrite)")
    if not (callable(factory) or (isinstance(factory, str) and ":" in factory)):
        raise InputError(f"magnifier {name!r}: factory must be callable or 'module:attribute', got {factory!r}")
    MAGNIFIERS[name] = MethodSpec(factory, help, tuple(options))


def _same_factory(a, b) -> bool:
    """Re-registering the same factory (e.g. a module imported twice) is allowed."""
    if a is b or (isinstance(a, str) and a == b):
        return True
    key = lambda f: (getattr(f, "__module__", None), getattr(f, "__qualname__", None), getattr(f, "__name__", None))  # noqa: E731
    return callable(a) and callable(b) and key(a) == key(b)


def unregister(name: str) -> None:
    """Remove a registered method (no error if absent)."""
    MAGNIFIERS.pop(name, None)


def available() -> list[str]:
    """Registered method names, sorted (plugins imported first)."""
    _load_plugins()
    return sorted(MAGNIFIERS)


def specs() -> dict[str, MethodSpec]:
    """All registered methods (plugins imported first)."""
    _load_plugins()
    return dict(MAGNIFIERS)


def _spec(name: str) -> MethodSpec:
    _load_plugins()
    if name not in MAGNIFIERS:
        raise InputError(f"unknown magnification method {name!r}; valid: {', '.join(available())}")
    return MAGNIFIERS[name]


def method_parameters(name: str) -> list[str] | None:
    """Keyword arguments the method's factory accepts (None if it takes ``**kwargs``)."""
    factory = _spec(name).resolve()
    params = inspect.signature(factory).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    return [p.name for p in params if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)]


def get_magnifier(name: str, **kwargs) -> Magnifier:
    """Create the magnifier registered as ``name`` with keyword arguments ``kwargs``.

    Raises
    ------
    InputError
        Unknown method (the message lists the valid ones), or an option the method does not take
        (the message lists the ones it does).
    """
    accepted = method_parameters(name)
    if accepted is not None:
        unknown = sorted(set(kwargs) - set(accepted))
        if unknown:
            raise InputError(
                f"method {name!r} does not take option{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
                f"it takes: {', '.join(accepted)}"
            )
    try:
        mag = _spec(name).resolve()(**kwargs)
    except TypeError as exc:
        if "keyword argument" not in str(exc):
            raise
        raise InputError(f"method {name!r} rejected its options: {exc}") from None
    from physio.magnify.base import Magnifier  # noqa: PLC0415

    if not isinstance(mag, Magnifier):
        raise InputError(f"factory of {name!r} returned {type(mag).__name__}, not a Magnifier")
    return mag


def magnify_video(
    magnifier: Magnifier,
    video: str | os.PathLike,
    output: str | os.PathLike,
    *,
    fps: float | None = None,
    start_s: float | None = None,
    end_s: float | None = None,
    block_frames: int | None = None,
    chunk_size: int = 32,
    crf: int = 18,
    progress: Callable[[int], object] | None = None,
    outputs=None,
) -> dict:
    """Stream ``video`` through ``magnifier`` into ``output`` (H.264, same fps and size, atomic).

    Memory is bounded by the block size (see :func:`physio.magnify.base.magnify_stream`), whatever the
    video's length.  ``outputs``: a :class:`physio.magnify.run_outputs.RunOutputs` that receives every
    ``(original, magnified)`` chunk pair of the same pass (side-by-side video, scan line, pixel traces,
    learning curve) and writes them after the video.  Returns ``{"output", "frames", "fps", "width",
    "height", "margin_frames", "extra_outputs"}``.
    """
    from physio.io import VideoReader, VideoWriter  # noqa: PLC0415
    from physio.magnify.base import magnify_stream  # noqa: PLC0415
    from physio.magnify.outputs import pair_with_input  # noqa: PLC0415

    reader = VideoReader(video, chunk_size=chunk_size, start_s=start_s, end_s=end_s, fps=fps)
    out = Path(output)
    if out.resolve() == Path(video).resolve():
        raise InputError(f"{out}: output would overwrite the input video")
    extra = outputs if outputs is not None and outputs.wanted else None
    if extra is not None:
        extra.check_against(video, out)
        if extra.record and not hasattr(magnifier, "objective_history"):
            raise InputError(f"--learning-curve needs --method deepmag: {magnifier.name!r} does no gradient ascent")

    def transform(chunks):
        if extra is not None and extra.record:  # DeepMag, keeping the ascent's objective (Fig. 9)
            return magnifier.stream(chunks, reader.fps, progress=progress, record=True)
        return magnify_stream(magnifier, chunks, reader.fps, block_frames, progress)

    n = 0
    pairs = pair_with_input(reader.chunks(), transform) if extra is not None else \
        ((None, chunk) for chunk in transform(reader.chunks()))
    with VideoWriter(out, reader.fps, crf=crf) as writer:
        try:
            for orig, chunk in pairs:
                writer.write(chunk)
                if extra is not None:
                    extra.update(orig, chunk, getattr(magnifier, "box", None))
                n += len(chunk)
        except BaseException:
            if extra is not None:
                extra.abort()
            raise
    written = extra.finish(magnifier) if extra is not None else []
    return {
        "output": str(out),
        "frames": n,
        "fps": reader.fps,
        "width": reader.width,
        "height": reader.height,
        "margin_frames": int(magnifier.margin_frames(reader.fps)),
        "extra_outputs": written,
    }
