"""physio: reveal and measure the body's subtle signals (pulse, respiration) in ordinary video."""

from __future__ import annotations

__version__ = "0.1.0"

PULSE_BAND_HZ: tuple[float, float] = (0.7, 2.5)
"""Default pulse band (DeepMag paper): 42–150 bpm."""

RESP_BAND_HZ: tuple[float, float] = (0.16, 0.5)
"""Default respiration band (DeepMag paper): 9.6–30 breaths/min."""

X264_PRESETS: tuple[str, ...] = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower",
                                 "veryslow", "placebo")
"""x264's speed presets (every H.264 file physio writes: :class:`physio.io.VideoWriter`)."""

DEFAULT_PRESET = "veryfast"
"""~2.4x faster than x264's own "medium" at 640x480, crf 18, smaller files, 0.5 dB lower PSNR (docs/performance.md)."""

__all__ = ["__version__", "PULSE_BAND_HZ", "RESP_BAND_HZ", "X264_PRESETS", "DEFAULT_PRESET"]
