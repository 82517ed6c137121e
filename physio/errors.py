"""Exception and warning family of physio.

Every error physio raises on purpose derives from :class:`PhysioError`; the subclasses also inherit
the builtin exception they refine, so ``except ValueError`` keeps working for callers that do not know
physio.  The command-line interface turns any :class:`PhysioError` into its one-line message and exit
code 2.  Messages name the file, frame or key they concern.
"""

from __future__ import annotations

__all__ = [
    "PhysioError",
    "InputError",
    "VideoReadError",
    "VideoWriteError",
    "CohortSchemaError",
    "RoiNotFoundError",
    "DivergenceError",
    "PhysioWarning",
]


class PhysioError(Exception):
    """Base class of every deliberate physio error."""


class InputError(PhysioError, ValueError):
    """An argument or an input file has the wrong shape, type, range or content."""


class VideoReadError(PhysioError, OSError):
    """A video cannot be opened or decoded (missing, unreadable, corrupt, no frames, no fps)."""


class VideoWriteError(PhysioError, OSError):
    """A video cannot be written (unsupported container, unwritable folder, encoder failure)."""


class CohortSchemaError(PhysioError, ValueError):
    """An HDF5 cohort file does not follow the documented format."""


class RoiNotFoundError(PhysioError, RuntimeError):
    """No face/torso region could be found in enough frames."""


class DivergenceError(PhysioError, FloatingPointError):
    """An iterative algorithm produced NaN or inf."""


class PhysioWarning(UserWarning):
    """A recoverable problem worth telling the user about."""
