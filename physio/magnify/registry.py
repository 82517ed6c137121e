"""Magnification methods by name (magnifying a file with one: :mod:`physio.magnify.video`).

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
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from physio.errors import InputError, PhysioWarning
from physio.magnify.learned.catalog import LEARNED

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

LEARNED_MODES = ("dynamic", "static", "temporal")
"""Modes of the learned magnifiers (:data:`physio.magnify.learned.magnifier.MODES`; kept here as names so
that the command line needs no torch)."""

_LEARNED_OPTIONS = (
    CliOption("--learned-mode", str, "learned magnifiers: dynamic (consecutive frames, default), static "
              "(reference = first frame) or temporal (band-passed features, uses the band)", choices=LEARNED_MODES),
    CliOption("--weights", str, "learned magnifiers: weights file (default models/<arch>.pt)"),
    CliOption("--temporal-filter", str, _FILTER_HELP, choices=("ideal", "fir", "butter", "butter-causal", "iir")),
    CliOption("--order", int, "Butterworth order (default 1)"),
)

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
    "deepmag": MethodSpec(
        "physio.magnify.deepmag:deepmag_magnifier",
        "DeepMag (Chen & McDuff 2020): source-specific magnification by gradient ascent through PulseNet/RespNet",
        (
            CliOption("--gamma", float, "step size γ (default 6e-5 pulse, 3.6e-3 respiration; negative attenuates)"),
            CliOption("--iterations", int, "N, gradient-ascent iterations (default 20)"),
            CliOption("--model", str, "network: shipped name or checkpoint path (default <source>_cnn)"),
            CliOption("--roi", str, "region: auto (what the network was trained on), full, face, torso",
                      choices=("auto", "full", "face", "torso")),
            CliOption("--l1", str, "L1 normalisation: mean (default), sum (literal), off (ablation)",
                      choices=("mean", "sum", "off")),
            CliOption("--sign-correction", str, "on (default, the paper's element-wise eq. 3), off (ablation) or "
                      "sample (one sign per time point; not the paper's)", choices=("on", "off", "sample")),
            CliOption("--phase-update", str, "eq. 21 reading: change (default) or literal", choices=("change", "literal")),
            CliOption("--phase-clip", str, "eq. 21's 2π clipping of the phase update: on (default) or off (ablation)",
                      choices=("on", "off")),
            CliOption("--variant", str, "coherent (default: physio's pulse variant, docs/deepmag.md; respiration runs "
                      "the paper's unless --sign-from/--smooth/--gain are given) or paper "
                      "(Algorithm 1 and eq. 14-22 as published)", choices=("coherent", "paper")),
            CliOption("--sign-from", str, "reference of the sign correction: x (the paper's X_n), band (X_1 band-passed "
                      "in time), pooled (its box mean), net (the network's waveform with each cell's polarity; the coherent variant's default)",
                      choices=("x", "band", "pooled", "net")),
            CliOption("--smooth", float, "Gaussian sigma, in cells of the LxL (pulse) or SxS (respiration) grid, of the "
                      "change's spatial smoothing (coherent pulse variant; default 1)", kwarg="smooth_cells"),
            CliOption("--gain", float, "target gain of the skin's in-band colour, or of the torso's in-band phase for "
                      "respiration (coherent variant; default 10 unless --gamma is given): the change is scaled to "
                      "it on the first block"),
            CliOption("--precision", str, "arithmetic of the gradient ascent's network passes: fp32 (default) or bf16 "
                      "(bfloat16 autocast: ~3.7x faster on CPUs with AMX/AVX-512 BF16, change within r 0.9996; "
                      "slower where the CPU has no BF16 units)", choices=("fp32", "bf16")),
        ),
    ),
    **{
        arch: MethodSpec(f"physio.magnify.learned.factory:make_{arch.replace('-', '_')}",
                         f"{entry.help}; needs models/{entry.file}", _LEARNED_OPTIONS)
        for arch, entry in LEARNED.items()
    },
}
"""Registered methods.  Factories are ``"module:attribute"`` strings imported on first use, so listing
the methods (and building the command line from their options) imports no torch."""

PLUGINS: list[str] = []
"""Modules of other packages imported (once, on first lookup) so that they can :func:`register` their
methods.  A module that does not exist is skipped; one that fails to import is skipped with a
:class:`PhysioWarning`."""

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
    from physio.magnify.base import Magnifier  # noqa: PLC0415 - deferred: the registry must not import torch

    if not isinstance(mag, Magnifier):
        raise InputError(f"factory of {name!r} returned {type(mag).__name__}, not a Magnifier")
    return mag
