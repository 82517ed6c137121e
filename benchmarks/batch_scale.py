"""`physio rates --batch` on every clip in ../shared/data: 1 vs 2 local workers, Ray, and a killed run resumed.

Usage: python benchmarks/batch_scale.py [--data ../shared/data] [--method cnn] [--work DIR] [--runs one,two,ray,kill]

Makes a folder of links to every video of the shared data (outside git), runs the batch

* ``one``: one local worker (the reference table, and the time for one worker);
* ``two``: two local worker processes;
* ``ray``: ``--engine ray --workers 2`` on a local Ray cluster started for the run (loopback);
* ``kill``: one worker, SIGKILLed once two rows are in the results file, then run again on that file;

and prints each run's wall time, the speed-up over one worker, and whether its table (every column but
``wall_s``) equals the reference.  Exit status 1 when a table differs.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
SUFFIXES = (".mp4", ".avi", ".mov", ".mkv")


def _batch(folder: Path, out: Path, method: str, extra=()) -> list[str]:
    return [sys.executable, "-m", "physio.cli", "rates", str(folder), "--batch", "-o", str(out), "--method", method,
            "-q", *extra]


def _table(path: Path) -> pd.DataFrame:
    return pd.read_csv(path).drop(columns=["wall_s"])


def main(argv=None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--data", default=str(REPO.parent / "shared" / "data"))
    p.add_argument("--method", default="cnn")
    p.add_argument("--work", default=None)
    p.add_argument("--runs", default="one,two,ray,kill")
    args = p.parse_args(argv)
    work = Path(args.work or tempfile.mkdtemp(prefix="physio-batch-"))
    folder = work / "clips"
    folder.mkdir(parents=True, exist_ok=True)
    for v in sorted(Path(args.data).rglob("*")):
        if v.suffix.lower() in SUFFIXES and not (folder / v.name).exists():
            (folder / v.name).symlink_to(v.resolve())
    n = len(list(folder.iterdir()))
    print(f"{n} clips in {folder}; method {args.method}")
    runs = args.runs.split(",")
    ref = work / "one.csv"
    times, ok = {}, True
    plans = {"one": (), "two": ("--workers", "2"), "ray": ("--engine", "ray", "--workers", "2")}
    for name in [r for r in ("one", "two", "ray") if r in runs]:
        out = work / f"{name}.csv"
        out.unlink(missing_ok=True)
        t0 = time.perf_counter()
        r = subprocess.run(_batch(folder, out, args.method, plans[name]), capture_output=True, text=True)
        times[name] = time.perf_counter() - t0
        same = name == "one" or _table(out).equals(_table(ref))
        ok &= r.returncode == 0 and same
        speed = "" if name == "one" or "one" not in times else f", speed-up {times['one'] / times[name]:.2f}x"
        print(f"{name}: exit {r.returncode}, {times[name]:.1f} s{speed}; table {'equal' if same else 'DIFFERS'}")
    if "kill" in runs:
        out = work / "kill.csv"
        out.unlink(missing_ok=True)
        proc = subprocess.Popen(_batch(folder, out, args.method), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while proc.poll() is None:
            if out.exists() and len(pd.read_csv(out)) >= 2:
                os.kill(proc.pid, signal.SIGKILL)
                break
            time.sleep(0.2)
        proc.wait()
        rows = len(pd.read_csv(out)) if out.exists() else 0
        r = subprocess.run(_batch(folder, out, args.method), capture_output=True, text=True)
        same = _table(out).equals(_table(ref))
        ok &= r.returncode == 0 and same
        print(f"kill: SIGKILL with {rows} rows written, re-run exit {r.returncode}; table {'equal' if same else 'DIFFERS'}")
    print(f"tables in {work}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
