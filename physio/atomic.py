"""The one way physio writes an output file: under a temporary name beside it, renamed into place.

Every output (videos, HDF5 cohorts, CSV/JSON, figures, checkpoints, reports) goes through
:class:`AtomicFile`: the bytes are written to ``.STEM.partial-PID.SUFFIX`` in the destination's
folder (same file system, so the final :func:`os.replace` is atomic; the real suffix is kept because
some writers choose their format from it), flushed to disk (``fsync``) and renamed over the
destination only when the writer finishes without error.  On any exception the temporary file is
removed; the command line turns SIGTERM into an exception (:mod:`physio.cli`), so a stopped run
cleans up the same way, and a temporary file still open at interpreter exit is removed too.  A
SIGKILL cannot be caught: the temporary file it leaves is named after its destination, so the next
writer of the same destination finds it and removes it when the process that made it is gone
(:func:`remove_stale`).

Examples
--------
>>> from pathlib import Path; import tempfile
>>> d = Path(tempfile.mkdtemp())
>>> atomic_write_text(d / "a.txt", "hello")  # doctest: +ELLIPSIS
PosixPath('...a.txt')
>>> with AtomicFile(d / "b.csv") as f:
...     _ = f.tmp.write_text("x,y\\n")
>>> sorted(p.name for p in d.iterdir())
['a.txt', 'b.csv']
"""

from __future__ import annotations

import atexit
import json
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from physio.errors import InputError, VideoWriteError

__all__ = ["AtomicFile", "atomic_write_bytes", "atomic_write_text", "atomic_write_json", "atomic_torch_save",
           "plain", "partial_name", "remove_stale", "scratch_dir", "output_folder", "check_output", "check_output_folder"]

_OPEN: set[Path] = set()
"""Temporary files of writers that have neither committed nor aborted (removed at interpreter exit)."""


def partial_name(path: Path, pid: int | None = None) -> Path:
    """The temporary name of ``path`` for process ``pid``: ``.STEM.partial-PID.SUFFIX`` beside it."""
    return path.with_name(f".{path.stem}.partial-{os.getpid() if pid is None else pid}{path.suffix}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def remove_stale(path: str | os.PathLike) -> list[Path]:
    """Remove temporary files of ``path`` left by processes that no longer run (a SIGKILL'd writer);
    returns what was removed.  A live process's temporary file (a concurrent writer) is left alone."""
    p = Path(path)
    pattern = re.compile(rf"^\.{re.escape(p.stem)}\.partial-(\d+){re.escape(p.suffix)}$")
    removed = []
    try:
        siblings = list(p.parent.iterdir())
    except OSError:
        return removed
    for q in siblings:
        m = pattern.match(q.name)
        if m and int(m.group(1)) != os.getpid() and not _alive(int(m.group(1))):
            try:
                q.unlink()
                removed.append(q)
            except OSError:
                pass
    return removed


def scratch_dir(path: str | os.PathLike, tag: str = "scratch") -> Path:
    """A fresh scratch folder ``.NAME.TAG-PID`` beside ``path`` (e.g. the shards of `physio synth`);
    scratch folders of the same destination left by processes that no longer run are removed first.
    The caller removes the folder when done."""
    p = Path(path)
    pattern = re.compile(rf"^\.{re.escape(p.name)}\.{re.escape(tag)}-(\d+)$")
    for q in p.parent.iterdir() if p.parent.is_dir() else ():
        m = pattern.match(q.name)
        if m and q.is_dir() and (int(m.group(1)) == os.getpid() or not _alive(int(m.group(1)))):
            shutil.rmtree(q, ignore_errors=True)
    d = p.with_name(f".{p.name}.{tag}-{os.getpid()}")
    d.mkdir(parents=True)
    return d


def _fsync(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems refuse fsync on folders
        pass
    finally:
        os.close(fd)


class AtomicFile:
    """A destination written under :attr:`tmp` and moved into place by :meth:`commit`.

    Parameters
    ----------
    path : str or path-like
        The destination.  Its folder must exist (callers create it, so that a failed run does not
        leave an empty folder behind).

    Use as a context manager (commit on success, abort on an exception) or call :meth:`commit` /
    :meth:`abort` yourself (writers that stay open across calls, e.g. :class:`physio.io.VideoWriter`).
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        remove_stale(self.path)
        self.tmp = partial_name(self.path)
        self.done = False
        _OPEN.add(self.tmp)

    def commit(self) -> Path:
        """fsync the temporary file, rename it over the destination, fsync the folder."""
        if self.done:
            return self.path
        _fsync(self.tmp)
        os.replace(self.tmp, self.path)
        _fsync(self.path.parent)
        self.done = True
        _OPEN.discard(self.tmp)
        return self.path

    def abort(self) -> None:
        """Remove the temporary file; the destination is left as it was."""
        self.done = True
        _OPEN.discard(self.tmp)
        try:
            self.tmp.unlink()
        except FileNotFoundError:
            pass
        except IsADirectoryError:  # pragma: no cover - never made by physio
            pass

    def __enter__(self) -> AtomicFile:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            try:
                self.commit()
            except BaseException:
                self.abort()
                raise
        else:
            self.abort()


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; returns the path."""
    with AtomicFile(path) as f:
        f.tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; returns the path."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj, indent: int | None = 1) -> Path:
    """Write ``obj`` as JSON (with a final newline) to ``path`` atomically; returns the path."""
    return atomic_write_text(path, json.dumps(obj, indent=indent) + "\n")


def plain(obj):
    """``obj`` with only what ``torch.load(weights_only=True)`` accepts: tensors, numbers, strings, None,
    and dicts/lists/tuples of them.  NumPy arrays become tensors, NumPy scalars Python numbers, other
    ``str`` subclasses (``torch.__version__``) plain strings; anything else is a :class:`TypeError`."""
    import numpy as np  # noqa: PLC0415 - deferred with torch below
    import torch  # noqa: PLC0415 - deferred: torch is heavy and most writers do not need it

    if obj is None or type(obj) in (bool, int, float, str, torch.Tensor) or isinstance(obj, torch.Tensor):
        return obj
    if isinstance(obj, str):
        return str(obj)
    if isinstance(obj, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(obj))
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, dict):
        return {plain(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(plain(v) for v in obj) if type(obj) in (list, tuple) else [plain(v) for v in obj]
    if isinstance(obj, (torch.dtype, torch.device, torch.Size)):
        return obj
    raise TypeError(f"cannot store {type(obj).__name__} in a physio checkpoint (tensors and plain data only)")


def atomic_torch_save(obj, path: str | os.PathLike) -> Path:
    """``torch.save(plain(obj))`` to ``path`` atomically; the file loads with ``weights_only=True``."""
    import torch  # noqa: PLC0415 - deferred: torch is heavy and most writers do not need it

    with AtomicFile(path) as f:
        torch.save(plain(obj), f.tmp)
    return Path(path)


@atexit.register
def _remove_open() -> None:  # pragma: no cover - exercised by the kill tests in subprocesses
    for tmp in list(_OPEN):
        try:
            tmp.unlink()
        except OSError:
            pass


@contextmanager
def output_folder(path: str | os.PathLike) -> Iterator[Path]:
    """Create the output folder ``path`` (and missing parents) for the block; when the block fails, the
    folders it created are removed again if they are still empty — a failed run leaves no empty folder."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise InputError(f"{p}: exists and is not a folder")
    created = []
    q = p
    while not q.exists():
        created.append(q)
        q = q.parent
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise VideoWriteError(f"{p}: cannot create the output folder ({exc.strerror or exc})") from None
    try:
        yield p
    except BaseException:
        for d in created:  # deepest first
            try:
                d.rmdir()
            except OSError:
                break
        raise


def check_output(path: str | os.PathLike, *, inputs=(), overwrite: bool = True, suffixes=None,
                 what: str = "output") -> Path:
    """Check an output file before any work starts: not a folder, a supported suffix, not one of the
    ``inputs``, not an existing file unless ``overwrite``, and a folder that exists and is writable (or
    can be created).  Returns the path; raises a one-line :class:`~physio.errors.InputError`."""
    p = Path(path)
    if p.is_dir():
        raise InputError(f"{p}: {what} is a folder; give a file name")
    if suffixes is not None and p.suffix.lower() not in suffixes:
        raise InputError(f"{what} {p}: unsupported file type {p.suffix or '(none)'!r}; use {', '.join(suffixes)}")
    for i in inputs:
        if i is None:
            continue
        q = Path(i)
        if p.resolve() == q.resolve() or (p.exists() and q.exists() and os.path.samefile(p, q)):
            raise InputError(f"{p}: {what} would overwrite the input {q}; choose another name")
    if p.exists() and not overwrite:
        raise InputError(f"{p}: exists; pass --overwrite to replace it")
    parent = _writable_ancestor(p.parent)
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"{p}: cannot write in {parent} (permission denied)")
    return p


def _writable_ancestor(p: Path) -> Path:
    parent = p.resolve()
    while not parent.exists():
        parent = parent.parent
    return parent


def check_output_folder(path: str | os.PathLike, *, inputs=(), what: str = "output folder") -> Path:
    """Check an output folder before any work starts: not an existing file, not one of the ``inputs``,
    and writable (or creatable in a writable folder).  Files physio writes into it replace its own."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise InputError(f"{p}: {what} exists and is a file; give a folder")
    for i in inputs:
        if i is not None and Path(i).resolve() == p.resolve():
            raise InputError(f"{p}: {what} is the input {i}")
    anc = _writable_ancestor(p)
    if not os.access(anc, os.W_OK | os.X_OK):
        raise InputError(f"{p}: cannot write in {anc} (permission denied)")
    return p
