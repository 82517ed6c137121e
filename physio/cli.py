"""The ``physio`` command line: one program, one sub-command per module of :mod:`physio.commands`.

Each module in ``physio/commands/`` defines

* ``NAME`` – the sub-command (``"cohort"``, ``"synth"`` …),
* ``HELP`` – a one-line description shown by ``physio --help``,
* ``configure(parser)`` – adds its arguments to an :class:`argparse.ArgumentParser`,
* ``run(args) -> int`` – does the work by calling library functions; returns the exit code.

Sub-commands parse, call one library function and write outputs; algorithms live in the library.
Any :class:`physio.errors.PhysioError` becomes a one-line ``physio: error: …`` on stderr and exit
code 2; Ctrl-C exits with 130.
"""

from __future__ import annotations

import argparse
import ctypes
import importlib
import os
import pkgutil
import re
import signal
import sys
import threading
import warnings
from collections.abc import Sequence

from physio import __version__
from physio.errors import PhysioError, PhysioWarning

EXIT_ERROR = 2

_NUMBER = re.compile(r"^-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (``physio magnify: error: … (see physio magnify --help)``)."""

    def error(self, message: str):  # noqa: D401 - argparse's hook
        self.exit(EXIT_ERROR, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _join_negative_values(argv: list[str]) -> list[str]:
    """``--gamma -6e-5`` → ``--gamma=-6e-5``: argparse reads a token like ``-6e-5`` as an option, not as the
    value of the option before it (it recognises ``-5`` and ``-.5`` only)."""
    out: list[str] = []
    for tok in argv:
        prev = out[-1] if out else ""
        if _NUMBER.match(tok) and prev.startswith("--") and "=" not in prev and prev != "--":
            out[-1] = f"{prev}={tok}"
        else:
            out.append(tok)
    return out


def _command_modules() -> list:
    import physio.commands as pkg

    mods = []
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        mod = importlib.import_module(f"physio.commands.{info.name}")
        if hasattr(mod, "NAME") and hasattr(mod, "run"):
            mods.append(mod)
    return mods


def _bound_heap() -> None:
    """Ask glibc to serve large blocks (≥ 64 KiB) by mmap and return them at once: by default its mmap
    threshold grows to 32 MiB after the first large free, after which the frame-sized buffers of a
    streaming run are carved from the heap and fragment it, so the resident size creeps up with the
    video's length (measured: colour EVM on 640 × 480 frames, +778 MiB → +467 MiB peak for 20 s)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 64 * 1024)  # M_MMAP_THRESHOLD (also stops its dynamic growth)
        libc.mallopt(-1, 128 * 1024)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):  # not glibc: nothing to tune
        pass


def _chosen(argv: Sequence[str], names: set[str]) -> str | None:
    """The sub-command named on the command line (the first word that is one), if any."""
    return next((a for a in argv if a in names), None)


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The ``physio`` parser.  With ``argv``, only the sub-command it names gets its arguments (the
    others are listed with their one-line help), so that ``physio --help`` and ``physio roi …`` never
    import what other commands need; without, every sub-command is configured."""
    parser = _Parser(
        prog="physio",
        description="Reveal and measure pulse and respiration in ordinary video.",
    )
    parser.add_argument("--version", action="version", version=f"physio {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    mods = _command_modules()
    chosen = None if argv is None else _chosen(argv, {m.NAME for m in mods})
    for mod in mods:
        p = sub.add_parser(mod.NAME, help=mod.HELP, description=getattr(mod, "DESCRIPTION", mod.HELP))
        if argv is None or mod.NAME == chosen:
            mod.configure(p)
        p.set_defaults(_run=mod.run)
    return parser


def _format_warning(message, category, filename, lineno, line=None):  # pragma: no cover - cosmetic
    return f"physio: warning: {message}\n"


class _Terminated(KeyboardInterrupt):
    """SIGTERM (a scheduler's or `kill`'s stop), raised in the main thread so that every ``finally``
    runs: temporary files, shards and partial outputs are removed as on Ctrl-C."""


def _on_sigterm(signum, frame) -> None:
    raise _Terminated()


def main(argv: Sequence[str] | None = None) -> int:
    _bound_heap()
    args_list = _join_negative_values(list(sys.argv[1:] if argv is None else argv))
    parser = build_parser(args_list)
    args = parser.parse_args(args_list)
    if getattr(args, "_run", None) is None:
        parser.print_help()
        return EXIT_ERROR if argv is None and len(sys.argv) <= 1 else 0
    warnings.formatwarning = _format_warning
    warnings.simplefilter("default", PhysioWarning)
    on_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if on_main_thread else None
    try:
        return int(args._run(args) or 0)
    except PhysioError as exc:
        print(f"physio: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except BrokenPipeError:  # `physio ... | head`: the reader left; stop quietly, as a killed-by-SIGPIPE tool
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so the interpreter's final flush does not raise again
        return 141
    except _Terminated:
        print("physio: terminated", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print("physio: interrupted", file=sys.stderr)
        return 130
    finally:
        if on_main_thread:
            signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
