"""physio: reveal and measure the body's subtle signals (pulse, respiration) in ordinary video."""

from __future__ import annotations

__version__ = "0.1.0"

PULSE_BAND_HZ: tuple[float, float] = (0.7, 2.5)
"""Default pulse band (DeepMag paper): 42–150 bpm."""

RESP_BAND_HZ: tuple[float, float] = (0.16, 0.5)
"""Default respiration band (DeepMag paper): 9.6–30 breaths/min."""

__all__ = ["__version__", "PULSE_BAND_HZ", "RESP_BAND_HZ"]
