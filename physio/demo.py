"""The embedded default run of ``physio demo``: synthetic session → rates → DeepMag videos."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from physio.atomic import atomic_write_json
from physio.device import resolve_device
from physio.errors import InputError
from physio.figures.session import session_signals_figure
from physio.io import VideoWriter, video_write
from physio.magnify.deepmag import deepmag_magnifier
from physio.magnify.outputs import pair_with_input
from physio.magnify.run_outputs import RunOutputs
from physio.nets.weights import load_net, models_dir
from physio.rates.measure import cnn_signal
from physio.rates.rppg import rppg_pulse, skin_rgb_means
from physio.rates.waveform import estimate_rate
from physio.represent.compute import RepresentationSpec, box_from_mask
from physio.roi.crop import detect_box
from physio.synth import synth_session

__all__ = ["run_demo"]


def _parse_size(size) -> tuple[int, int]:
    if isinstance(size, str):
        try:
            w, h = (int(v) for v in size.lower().split("x"))
        except ValueError:
            raise InputError(f"size must be WxH, e.g. 320x240, got {size!r}") from None
        return w, h
    return tuple(size)


def run_demo(
    out_dir: Path,
    task: str = "A",
    duration_s: float = 20.0,
    size="320x240",
    fps: float = 30.0,
    seed: int = 7,
    device: str = "auto",
    magnify: bool = True,
    log: Callable[[str], None] = print,
) -> dict:
    """Run the demo; returns a summary dict (also written to ``out_dir/summary.json``)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    dev = resolve_device(None if device == "auto" else device)
    t0 = time.time()
    log(f"[1/4] generating a synthetic session (task {task}, {duration_s:g} s, {size}, {fps:g} fps, seed {seed}) …")
    sess = synth_session(task=task, duration_s=duration_s, size=_parse_size(size), fps=fps, seed=seed)
    video_write(out / "session.mp4", sess.frames, fps=sess.fps)
    session_signals_figure(sess, out / "signals.png")
    summary: dict = {
        "session": {"task": task, "frames": len(sess.frames), "fps": fps, "size": list(sess.frames.shape[2:0:-1]),
                    "true_hr_bpm": round(sess.hr_bpm, 2), "true_br_bpm": round(sess.br_bpm, 2)},
        "files": ["session.mp4", "signals.png"],
        "device": str(dev),
    }
    log(f"      wrote {out / 'session.mp4'} and {out / 'signals.png'} (true HR {sess.hr_bpm:.1f} bpm, "
        f"BR {sess.br_bpm:.1f} breaths/min)")

    log("[2/4] measuring HR and BR …")
    summary["rates"] = _demo_rates(sess, dev, models_dir(), log)

    if magnify:
        log("[3/4] DeepMag: magnifying the pulse and the breathing …")
        summary["magnified"] = _demo_magnify(sess, dev, models_dir(), out, log)
        summary["files"] += summary["magnified"].pop("files", [])
    summary["wall_s"] = round(time.time() - t0, 1)
    atomic_write_json(out / "summary.json", summary)
    log(f"[4/4] done in {summary['wall_s']} s; everything is in {out}/")
    return summary


def _demo_rates(sess, dev, mdir: Path, log) -> dict:
    res: dict = {}
    rgb = skin_rgb_means(sess.frames, sess.masks["skin"])
    pos = rppg_pulse(rgb, sess.fps, "pos")
    hr_pos = estimate_rate(pos, sess.fps, "pulse", derivative=False).rate_per_min
    res["pos_hr_bpm"] = round(hr_pos, 2)
    log(f"      POS (skin mask): HR {hr_pos:.1f} bpm   (truth {sess.hr_bpm:.1f})")
    for source, name, mask in (("pulse", "pulse_cnn", "skin"), ("resp", "resp_cnn", "torso")):
        path = mdir / f"{name}.pt"
        if not path.exists():
            log(f"      {name}: no shipped weights at {path}; skipped")
            continue

        net, ckpt = load_net(path, dev)
        spec = RepresentationSpec.from_dict(ckpt["representation"])
        box = None
        if spec.roi.startswith("mask:"):
            mname = spec.roi.split(":", 1)[1]
            box = box_from_mask(sess.masks[mname], spec.margin)
        elif spec.roi.startswith("detect:"):  # the detector's box, as `physio rates` gives the network
            box = detect_box(sess.frames, sess.fps, spec.roi.split(":", 1)[1], spec.margin)
        y = cnn_signal(iter([sess.frames]), net, spec, box, dev)
        rate = estimate_rate(y, sess.fps, source, derivative=True).rate_per_min
        truth = sess.hr_bpm if source == "pulse" else sess.br_bpm
        key = "cnn_hr_bpm" if source == "pulse" else "cnn_br_bpm"
        res[key] = round(rate, 2)
        unit = "bpm" if source == "pulse" else "breaths/min"
        log(f"      {name}: {'HR' if source == 'pulse' else 'BR'} {rate:.1f} {unit}   (truth {truth:.1f})")
    return res


def _demo_magnify(sess, dev, mdir: Path, out: Path, log) -> dict:
    res: dict = {"files": []}
    face = box_from_mask(sess.masks["face"], 0.0)
    for source, name in (("pulse", "pulse_cnn"), ("resp", "resp_cnn")):
        path = mdir / f"{name}.pt"
        if not path.exists():
            log(f"      {name}: no shipped weights; {source} magnification skipped")
            continue
        gamma = None if source == "pulse" else 3.6e-2
        # as `physio magnify --method deepmag` runs by default: on the region the network was trained on
        # (the face or torso box, detected on the first 3 s), pasted back with a feathered edge; the pulse
        # with the coherent variant's default gain target, the respiration at 10x the paper's step
        mag = deepmag_magnifier(source=source, gamma=gamma, model=str(path), device=str(dev))
        setting = f"gain {mag.gain:g}" if mag.gain is not None else f"gamma {mag.gamma:g}"
        y = (face[1] + face[3]) // 2 if source == "pulse" else int(np.median(np.nonzero(sess.masks["shoulders"])[0]))
        stem = f"deepmag_{source}"
        files = [f"{stem}.mp4", f"{stem}_side_by_side.mp4", f"{stem}_scanline.png", f"{stem}_traces.png",
                 f"{stem}_learning_curve.png"]
        extra = RunOutputs(sess.fps, side_by_side=out / files[1], scanline=out / files[2], line=("h", y),
                           traces=out / files[3], learning_curve=out / files[4],
                           label=f"DeepMag {source} ({setting})")
        chunks = (sess.frames[i : i + 64] for i in range(0, len(sess.frames), 64))
        total = 0.0
        with VideoWriter(out / files[0], sess.fps) as writer:
            for orig, magnified in pair_with_input(chunks, lambda c, m=mag: m.stream(c, sess.fps, record=True)):
                writer.write(magnified)
                extra.update(orig, magnified, mag.box)
                total += float(np.abs(magnified.astype(np.float32) - orig).sum())
        extra.finish(mag)
        res[source] = {"gamma": mag.gamma, "gain": mag.gain, "box": list(mag.box),
                       "mean_abs_change": round(total / sess.frames.size, 3)}
        res["files"] += files
        log(f"      wrote {stem}.mp4, its side-by-side, scan line, pixel traces and learning curve "
            f"({setting}, {source} box {tuple(mag.box)})")
    return res
