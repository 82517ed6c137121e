"""Peak memory of a block of code, for the runtime columns of `physio compare` and the benchmarks."""

from __future__ import annotations

import os
import resource
import threading
import time

import torch

__all__ = ["PeakMemory", "peak_rss_mb"]


def peak_rss_mb() -> float:
    """This process's peak resident set size since its ``exec`` (MiB): ``VmHWM`` of
    ``/proc/self/status``.  Not ``ru_maxrss``: Linux carries that across ``execve``, so a child forked
    from a large parent (pytest, a benchmark holding frames) reports at least the parent's RSS.  Falls
    back to ``ru_maxrss`` where ``/proc`` is missing."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class PeakMemory:
    """Context manager: ``.peak_mb`` = peak memory added inside the block (MiB).

    On CUDA the allocator's peak (``torch.cuda.max_memory_allocated``) above its level on entry; on
    CPU the peak resident set size (sampled every 5 ms from ``/proc/self/statm``; falls back to
    ``ru_maxrss``, which cannot be reset, elsewhere) above the RSS on entry.
    """

    def __init__(self, device: str = "cpu") -> None:
        self.device = str(device)
        self.peak_mb = 0.0
        self._stop = threading.Event()

    @staticmethod
    def _rss() -> float | None:
        try:
            with open("/proc/self/statm") as fh:
                return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
        except (OSError, ValueError, IndexError):
            return None

    def _sample(self) -> None:
        while not self._stop.is_set():
            r = self._rss()
            if r is not None:
                self._max = max(self._max, r)
            time.sleep(0.005)

    def __enter__(self) -> PeakMemory:
        if self.device.startswith("cuda"):
            torch.cuda.synchronize()
            self._base = torch.cuda.memory_allocated()
            torch.cuda.reset_peak_memory_stats()
            return self
        self._base = self._rss()
        if self._base is None:
            self._ru = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            return self
        self._max = self._base
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.device.startswith("cuda"):
            torch.cuda.synchronize()
            self.peak_mb = (torch.cuda.max_memory_allocated() - self._base) / 2**20
            return
        if self._base is None:
            self.peak_mb = max(0.0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - self._ru)
            return
        self._stop.set()
        self._thread.join()
        r = self._rss()
        self.peak_mb = max(0.0, max(self._max, r or 0.0) - self._base)
