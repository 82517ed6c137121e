"""The slow reliability cases of issue #24 (the fast ones are tests/test_reliability.py).

    python benchmarks/reliability.py [--cases kill,resume,concurrent,memory] [--video V] [--seconds 10]

* ``kill``: SIGTERM, SIGINT and SIGKILL at the start and in the middle of `physio magnify` and `physio
  synth`; after each, no partial file is left (SIGTERM/SIGINT) or the next run on the same output
  removes it (SIGKILL), and the input's SHA-256 is unchanged.
* ``resume``: `physio train` killed (SIGKILL) after its first epoch, then `--resume`: the final weights
  equal an uninterrupted run's bit for bit.
* ``concurrent``: two `physio synth` runs on the same output at once: both exit 0 and the file left is
  one complete, valid cohort.
* ``memory``: peak RSS of `physio magnify --method M` (every registered method) on the first
  ``--seconds`` and twice that of a 640 × 480 clip (``--size 1920x1080``: the same clip upscaled;
  bar 1 GB at 640 × 480, 2 GB above).

Prints one line per case and a JSON summary; exit status 1 when a case fails.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("PHYSIO_SHARED_DATA", REPO.parent / "shared" / "data"))
PHYSIO = [sys.executable, "-m", "physio.cli"]


def sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def leftovers(d: Path) -> list[str]:
    return sorted(q.name for q in d.iterdir() if ".partial-" in q.name or ".shards-" in q.name)


def _wait_started(proc, folder: Path, prefix: str, timeout=120.0) -> bool:
    t0 = time.time()
    while time.time() - t0 < timeout:
        if proc.poll() is not None:
            return False
        if any(q.name.startswith(prefix) for q in folder.iterdir()):
            return True
        time.sleep(0.05)
    return False


def case_kill(video: Path, work: Path) -> list[dict]:
    rows = []
    before = sha(video)
    jobs = {
        "magnify": (lambda out: PHYSIO + ["magnify", str(video), "-o", str(out / "m.mp4"), "--method", "evm", "-q"],
                    ".m.partial-"),
        "synth": (lambda out: PHYSIO + ["synth", str(out / "c.h5"), "--participants", "2", "--tasks", "A", "--duration",
                                        "20", "--workers", "1", "-q"], ".c.h5.shards-"),
    }
    for name, (argv, prefix) in jobs.items():
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGKILL):
            for when in ("start", "mid-write"):
                out = Path(tempfile.mkdtemp(dir=work))
                proc = subprocess.Popen(argv(out), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                if when == "start":
                    time.sleep(0.3)
                else:
                    _wait_started(proc, out, prefix)
                    time.sleep(0.5)
                proc.send_signal(sig)
                proc.wait(timeout=120)
                left = leftovers(out)
                ok = proc.returncode in ({-9} if sig == signal.SIGKILL else {130, 143, 2, -2, -15}) or proc.returncode == 0
                cleaned = True
                if sig == signal.SIGKILL and left:  # the next run on the same output removes them
                    rerun = subprocess.run(argv(out), capture_output=True, text=True, timeout=900)
                    cleaned = rerun.returncode == 0 and leftovers(out) == []
                elif sig != signal.SIGKILL:
                    cleaned = left == []
                row = {"case": f"kill {name} {signal.Signals(sig).name} at {when}", "exit": proc.returncode,
                       "left": left, "ok": bool(ok and cleaned and sha(video) == before)}
                print(("PASS " if row["ok"] else "FAIL ") + row["case"] + f" (exit {proc.returncode}, left {left})")
                rows.append(row)
    return rows


def _weights(run: Path) -> str:
    import torch  # noqa: PLC0415

    ck = torch.load(run / "pulse_cnn.last.pt", weights_only=True)
    return hashlib.sha256(b"".join(v.numpy().tobytes() for v in ck["state_dict"].values())).hexdigest()


def case_resume(work: Path) -> list[dict]:
    cohort = work / "train.h5"
    subprocess.run(PHYSIO + ["synth", str(cohort), "--participants", "5", "--tasks", "A", "--duration", "10", "-q"],
                   check=True)
    base = PHYSIO + ["train", "--config", str(REPO / "configs" / "pulse.yaml"), "--cohort", str(cohort), "--epochs", "3",
                     "--set", "representation.roi=full", "--no-progress"]
    subprocess.run(base + ["-o", str(work / "full")], check=True, capture_output=True)
    run = work / "killed"
    proc = subprocess.Popen(base + ["-o", str(run)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while proc.poll() is None and not (run / "pulse_cnn.last.pt").exists():
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    subprocess.run(base + ["-o", str(run), "--resume"], check=True, capture_output=True)
    ok = _weights(run) == _weights(work / "full")
    print(("PASS " if ok else "FAIL ") + "kill training after epoch 1, resume: weights identical")
    return [{"case": "kill-and-resume training", "ok": ok}]


def case_concurrent(work: Path) -> list[dict]:
    out = work / "same.h5"
    argv = PHYSIO + ["synth", str(out), "--participants", "2", "--tasks", "A", "--duration", "4", "-q", "--overwrite"]
    procs = [subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    codes = [p.wait(timeout=600) for p in procs]
    check = subprocess.run(PHYSIO + ["cohort", "check", str(out)], capture_output=True, text=True)
    ok = codes == [0, 0] and check.returncode == 0 and leftovers(work) == []
    print(("PASS " if ok else "FAIL ") + f"two synth runs on one output (exits {codes}, check {check.returncode})")
    return [{"case": "two runs on the same output", "exits": codes, "ok": ok}]


def _peak_rss_mb(argv) -> tuple[float, float, int]:
    t0 = time.time()
    r = subprocess.run(["/usr/bin/time", "-f", "MAXRSS %M"] + argv, capture_output=True, text=True)
    m = re.search(r"MAXRSS (\d+)", r.stderr)
    return (int(m.group(1)) / 1024 if m else float("nan")), time.time() - t0, r.returncode


def case_memory(video: Path, work: Path, seconds: float, bar_mb: float = 1024) -> list[dict]:
    from physio.magnify.registry import available  # noqa: PLC0415

    rows = []
    extra = {"oh": ["--learned-mode", "temporal"], "lwmm-m1": ["--learned-mode", "temporal"],
             "lwmm-m2": ["--learned-mode", "temporal"]}
    for method in available():
        res = {}
        for s in (seconds, 2 * seconds):
            argv = PHYSIO + ["magnify", str(video), "-o", str(work / f"{method}_{s:g}.mp4"), "--method", method,
                             "--end", f"{s:g}", "-q", "--overwrite", *extra.get(method, [])]
            res[s] = _peak_rss_mb(argv)
        (m1, t1, c1), (m2, t2, c2) = res[seconds], res[2 * seconds]
        ok = c1 == c2 == 0 and m2 < bar_mb and m2 - m1 < 100
        row = {"case": f"memory {method}", "peak_mb": [round(m1), round(m2)], "wall_s": [round(t1, 1), round(t2, 1)],
               "ok": ok}
        print(("PASS " if ok else "FAIL ") + f"memory {method}: {m1:.0f} MB ({seconds:g} s), {m2:.0f} MB "
              f"({2 * seconds:g} s); {t1:.0f} / {t2:.0f} s")
        rows.append(row)
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", default="kill,resume,concurrent,memory")
    ap.add_argument("--video", type=Path, help="a 640x480 clip (default: woman.mp4 re-timed to 30 fps)")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--size", default="640x480",
                    help="memory: frame size of the generated clip (bar: 1 GB at 640x480, 2 GB above)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="physio-reliability-"))
    video = args.video
    if video is None:
        from physio.io import VideoReader, video_write  # noqa: PLC0415

        import cv2  # noqa: PLC0415
        import numpy as np  # noqa: PLC0415

        w, h = (int(v) for v in args.size.lower().split("x"))
        video = work / f"clip{w}x{h}.mp4"
        reader = VideoReader(SHARED / "motion_mag_other" / "woman.mp4", chunk_size=16)
        resized = (c if c.shape[1:3] == (h, w) else
                   np.stack([cv2.resize(f, (w, h), interpolation=cv2.INTER_CUBIC) for f in c])
                   for c in reader.chunks())
        video_write(video, resized, fps=30.0)  # 20 s of woman.mp4 at 30 fps
    rows: list[dict] = []
    cases = args.cases.split(",")
    if "kill" in cases:
        rows += case_kill(video, work)
    if "resume" in cases:
        rows += case_resume(work)
    if "concurrent" in cases:
        rows += case_concurrent(work)
    if "memory" in cases:
        from physio.io import video_info  # noqa: PLC0415

        info = video_info(video)
        rows += case_memory(video, work, args.seconds, 1024 if info.width * info.height <= 640 * 480 else 2048)
    print(json.dumps(rows, indent=1))
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
