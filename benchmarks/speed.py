"""Speed and memory of physio, stage by stage and end to end (docs/performance.md).

Makes its own inputs outside git (in ``--work``, default ``/tmp/physio-speed``): a 640x480 clip of
``--seconds`` (default 30) built from MIT's face.mp4 in ``../shared/data`` (resized, played forward and
back), and with ``--long`` a 1920x1080 clip of ``--long-minutes`` (default 10) from the same frames.
Every measurement runs in its own subprocess, so that its peak RSS is its own:

* stages of ``physio rates``, timed inside the process (imports and model loading excluded): decode
  alone (the floor), decode with the reader thread, ROI (face/torso tracking at the default
  ``every``, and detecting on every frame), the PulseNet representation (NFD of the face box) and
  network, the RespNet representation (phase differences of the torso box) and network, and
  ``measure_rates`` whole;
* commands end to end (``python -m physio ...``: start-up, decoding, writing included): ``rates``,
  ``magnify`` with EVM (colour), phase and VAM (respiration band), DeepMag pulse and respiration, each
  learned magnifier; ``--help``.

    python benchmarks/speed.py                       # 30 s 640x480, every stage and command
    python benchmarks/speed.py --only rates,decode   # a subset (names as printed)
    python benchmarks/speed.py --long --only rates   # also the 10-minute 1080p clip (memory bar)

Prints a Markdown table (frames/s, seconds, peak RSS, time relative to decoding) and one JSON line per
row with ``--json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
SOURCE = SHARED / "evm_mit" / "face.mp4"

STAGES = ("decode", "decode-prefetch", "roi", "roi-every1", "pulse-rep", "pulse-net", "resp-rep", "resp-net",
          "measure")
COMMANDS = {
    "help": ["--help"],
    "rates": ["rates", "{video}", "--json", "-q"],
    "evm": ["magnify", "{video}", "-o", "{out}", "--method", "evm", "-q", "--overwrite"],
    "phase": ["magnify", "{video}", "-o", "{out}", "--method", "phase", "--source", "resp", "-q", "--overwrite"],
    "vam": ["magnify", "{video}", "-o", "{out}", "--method", "vam", "--source", "resp", "-q", "--overwrite"],
    "deepmag-pulse": ["magnify", "{video}", "-o", "{out}", "--method", "deepmag", "-q", "--overwrite"],
    # face.mp4 shows no shoulders: the respiration runs on the whole frame (the auto torso box would fail)
    "deepmag-resp": ["magnify", "{video}", "-o", "{out}", "--method", "deepmag", "--source", "resp", "--roi", "full",
                     "-q", "--overwrite"],
    "deepmag-pulse-bf16": ["magnify", "{video}", "-o", "{out}", "--method", "deepmag", "--precision", "bf16", "-q",
                           "--overwrite"],
    "deepmag-resp-bf16": ["magnify", "{video}", "-o", "{out}", "--method", "deepmag", "--source", "resp", "--roi", "full",
                          "--precision", "bf16", "-q", "--overwrite"],
    "oh": ["magnify", "{video}", "-o", "{out}", "--method", "oh", "--source", "resp", "-q", "--overwrite"],
    "lwmm-m1": ["magnify", "{video}", "-o", "{out}", "--method", "lwmm-m1", "--source", "resp", "-q", "--overwrite"],
    "lwmm-m2": ["magnify", "{video}", "-o", "{out}", "--method", "lwmm-m2", "--source", "resp", "-q", "--overwrite"],
}


# --- inputs ------------------------------------------------------------------------------------------------
def make_clip(path: Path, size: tuple[int, int], seconds: float, fps: float = 30.0) -> Path:
    """Write ``seconds`` of face.mp4 resized to ``size``, played forward and back (H.264, crf 20; the
    301 source frames are held, each output frame is resized as it is written)."""
    import cv2  # noqa: PLC0415

    from physio.io import VideoReader, VideoWriter  # noqa: PLC0415

    if path.is_file():
        return path
    if not SOURCE.is_file():
        raise SystemExit(f"speed.py: {SOURCE} not found (the shared real clips)")
    src = [f for c in VideoReader(SOURCE, chunk_size=64).chunks() for f in c]
    order = list(range(len(src))) + list(range(len(src) - 2, 0, -1))  # forward and back: no jump
    interp = cv2.INTER_AREA if size[0] * size[1] <= src[0].shape[0] * src[0].shape[1] else cv2.INTER_CUBIC
    n = int(round(seconds * fps))
    with VideoWriter(path, fps=fps, crf=20, preset="veryfast") as w:  # atomic: no partial clip is left
        for k in range(n):
            w.write(cv2.resize(src[order[k % len(order)]], size, interpolation=interp)[None])
    return path


# --- one stage (child process) -------------------------------------------------------------------------
def _boxes(video: str):
    """The face and torso crops physio rates would use (from the tracker, cached beside the clip)."""
    from physio.io import VideoReader  # noqa: PLC0415
    from physio.roi.crop import track_crop  # noqa: PLC0415
    from physio.roi.tracking import roi_detect  # noqa: PLC0415

    cache = Path(video).with_suffix(".boxes.json")
    if cache.is_file():
        d = json.loads(cache.read_text())
        return tuple(d["face"]), (None if d["torso"] is None else tuple(d["torso"]))
    r = VideoReader(video, end_s=10.0)
    t = roi_detect(r.chunks(), r.fps)
    hw = (r.height, r.width)
    face = track_crop(t, "face", hw)
    torso = track_crop(t, "torso", hw) if (t.torso_status != "missing").any() else None
    cache.write_text(json.dumps({"face": face, "torso": torso}))
    return face, torso


def run_stage(name: str, video: str, device: str) -> dict:
    import torch  # noqa: PLC0415

    from physio.evaluation.memory import peak_rss_mb  # noqa: PLC0415
    from physio.io import VideoReader  # noqa: PLC0415
    from physio.nets.weights import load_net  # noqa: PLC0415
    from physio.represent.compute import RepresentationSpec, RepresentationStream  # noqa: PLC0415

    reader = VideoReader(video, chunk_size=64)
    n = reader.frame_count
    note = ""
    if name in ("pulse-rep", "pulse-net", "resp-rep", "resp-net"):
        face, torso = _boxes(video)
        model = "pulse_cnn" if name.startswith("pulse") else "resp_cnn"
        box = face if name.startswith("pulse") else (torso or (0, reader.height // 2, reader.width, reader.height))
        net, ckpt = load_net(model, device)
        spec = RepresentationSpec.from_dict(ckpt["representation"])
        note = f"box {box[2] - box[0]}x{box[3] - box[1]}, {spec.kind} {spec.size}"
        if name.endswith("-net"):
            x = torch.randn(n - 1, spec.channels, spec.size, spec.size, device=device)
            t0 = time.perf_counter()
            with torch.no_grad():
                for s in range(0, len(x), 256):
                    net(x[s:s + 256])
            dt = time.perf_counter() - t0
        else:
            chunks = list(reader.chunks())  # decoded first: the representation alone is timed
            stream = RepresentationStream(spec, box, device)
            t0 = time.perf_counter()
            for c in chunks:
                stream.push(c)
            dt = time.perf_counter() - t0
    elif name.startswith("decode"):
        t0 = time.perf_counter()
        count = sum(len(c) for c in reader.chunks(prefetch=name == "decode-prefetch"))
        dt = time.perf_counter() - t0
        assert count == n
    elif name.startswith("roi"):
        from physio.roi.tracking import roi_detect  # noqa: PLC0415

        chunks = list(reader.chunks())
        t0 = time.perf_counter()
        every = dict(every=1, torso_every=1) if name == "roi-every1" else {}  # every1: detectors on every frame
        track = roi_detect(iter(chunks), reader.fps, **every)
        dt = time.perf_counter() - t0
        s = track.summary()
        note = f"face {s['face_status']}, torso {s['torso_status']}"
    elif name == "measure":
        from physio.rates.measure import measure_rates  # noqa: PLC0415

        measure_rates(video, progress=False, device=device, end_s=3.0)  # load the models and detectors once
        t0 = time.perf_counter()
        report, _ = measure_rates(video, progress=False, device=device)
        dt = time.perf_counter() - t0
        note = f"HR {report.hr_bpm} bpm, BR {report.br_bpm}"
    else:
        raise SystemExit(f"unknown stage {name!r}")
    return {"seconds": dt, "frames": n, "note": note,
            "peak_rss_mb": peak_rss_mb()}


# --- parent ------------------------------------------------------------------------------------------------
_WRAPPER = ("import json, resource, subprocess, sys; rc = subprocess.call(sys.argv[2:]); "
            "open(sys.argv[1], 'w').write(json.dumps([rc, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss]))")


def run_measured(args: list[str], work: Path) -> tuple[float, float, str, int]:
    """Run ``args``; returns (wall seconds, the child's own peak RSS in MB, stdout, exit code).

    The peak RSS is taken by a small wrapper interpreter around the child (a child forked straight from
    this process would count this process's pages until its exec)."""
    report = work / f".rusage-{os.getpid()}.json"
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-c", _WRAPPER, str(report), *args], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, cwd=REPO)
    wall = time.perf_counter() - t0
    rc, maxrss_kb = json.loads(report.read_text())
    report.unlink()
    if rc:
        sys.stderr.write(p.stderr.decode(errors="replace")[-2000:])
    return wall, maxrss_kb / 1024, p.stdout.decode(errors="replace"), rc


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", default="/tmp/physio-speed", help="folder for the generated clips and outputs")
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--long", action="store_true", help="also the 1920x1080 clip")
    ap.add_argument("--long-minutes", type=float, default=10.0)
    ap.add_argument("--only", default="", help="comma-separated stage/command names (default all)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--stage", help=argparse.SUPPRESS)
    ap.add_argument("--video", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    sys.path.insert(0, str(REPO))
    if a.stage:
        print(json.dumps(run_stage(a.stage, a.video, a.device)))
        return 0
    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    clips = [("640x480", make_clip(work / f"face_640x480_{a.seconds:g}s.mp4", (640, 480), a.seconds))]
    if a.long:
        clips.append(("1920x1080", make_clip(work / f"face_1920x1080_{a.long_minutes:g}min.mp4", (1920, 1080),
                                             60 * a.long_minutes)))
    only = {s for s in a.only.split(",") if s}
    rows = []
    for label, clip in clips:
        from physio.io import video_info  # noqa: PLC0415

        n = video_info(clip).frame_count
        decode_s = None
        for name in STAGES:
            if only and name not in only:
                continue
            wall, rss, out, rc = run_measured([sys.executable, str(Path(__file__).resolve()), "--stage", name,
                                               "--video", str(clip), "--device", a.device], work)
            if rc:
                rows.append({"clip": label, "what": name, "kind": "stage", "error": f"exit {rc}"})
                continue
            r = json.loads(out.strip().splitlines()[-1])
            if name == "decode":
                decode_s = r["seconds"]
            rows.append({"clip": label, "what": name, "kind": "stage", "frames": r["frames"],
                         "seconds": r["seconds"], "fps": r["frames"] / r["seconds"], "peak_rss_mb": r["peak_rss_mb"],
                         "x_decode": None if decode_s is None else r["seconds"] / decode_s, "note": r["note"]})
            _print(rows[-1], a.json)
        for name, cmd in COMMANDS.items():
            if only and name not in only:
                continue
            if name == "help" and label != clips[0][0]:
                continue
            out_path = work / f"out_{name}_{label}.mp4"
            args = [sys.executable, "-m", "physio", *[c.format(video=clip, out=out_path) for c in cmd]]
            wall, rss, out, rc = run_measured(args, work)
            row = {"clip": label, "what": f"physio {cmd[0]}" + ("" if name in ("help", "rates") else f" {name}"),
                   "kind": "command", "frames": None if name == "help" else n, "seconds": wall,
                   "fps": None if name == "help" else n / wall, "peak_rss_mb": rss,
                   "x_decode": None if decode_s is None or name == "help" else wall / decode_s,
                   "note": "" if rc == 0 else f"exit {rc}"}
            if name == "rates" and rc == 0:
                rep = json.loads(out)
                row["note"] = f"HR {rep['hr_bpm']} bpm"
            rows.append(row)
            _print(row, a.json)
            out_path.unlink(missing_ok=True)
    print()
    print(_table(rows))
    print(f"\n{platform.node()} · {os.cpu_count()} CPUs · device {a.device} · python {platform.python_version()}")
    return 0


def _print(row: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(row))
    else:
        fps = "" if row.get("fps") is None else f"{row['fps']:.1f} frames/s"
        print(f"{row['clip']} {row['what']}: {row.get('seconds', float('nan')):.2f} s {fps} "
              f"{row.get('peak_rss_mb', float('nan')):.0f} MB {row.get('note', row.get('error', ''))}", flush=True)


def _table(rows: list[dict]) -> str:
    lines = ["| clip | what | frames/s | seconds | peak RSS MB | × decode | note |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['clip']} | {r['what']} | – | – | – | – | {r['error']} |")
            continue
        fps = "–" if r["fps"] is None else f"{r['fps']:.0f}"
        xd = "–" if r["x_decode"] is None else f"{r['x_decode']:.1f}"
        lines.append(f"| {r['clip']} | {r['what']} | {fps} | {r['seconds']:.2f} | {r['peak_rss_mb']:.0f} | {xd} | "
                     f"{r['note']} |")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
