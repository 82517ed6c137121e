"""Measure DeepMag's bars to clear (issue: DeepMag) on synthetic sessions with ground-truth renderings.

Usage::

    python benchmarks/deepmag_bars.py --cohort COHORT.h5 [--sessions p001/task_A,p001/task_D] [--alpha 10]
        [--gammas 0.5,1,2,4] [--pulse-gamma 6e-4] [--out docs/deepmag-bars.json]

For each session it runs DeepMag (pulse, on the session's face box; respiration, on its torso box) and
prints, as JSON and a markdown table:

1. gain vs γ: in-band RMS of the skin-mean green (pulse) / shoulder vertical motion (resp) of the output
   over the input's, for 0.5γ, γ, 2γ, 4γ; and ``gain_projected``: the magnification factor of the part of
   the change that is the true one (``physio.metrics.magnification.projected_gain`` against ``*_x{α}``, inside
   the skin / the dilated shoulder line, band-passed);
2. fidelity: Pearson r between DeepMag's change and the ground-truth change (``pulse_x{α}`` − original)
   (respiration also ``fidelity_motion``: r between the shoulders' band-passed vertical motion added by
   DeepMag and the one the ground truth adds, the shoulder-motion reading of the bar)
   inside the skin (pulse) / the shoulder band (resp), both band-passed — per pixel and channel
   (``fidelity_r``, the strict reading) and, for pulse, of the skin-mean R, G, B change traces
   (``fidelity_trace_r``: is the magnified pulse waveform the true one, wherever in the skin it lands);
3. specificity: leakage (change energy outside / inside the region) and PSNR/SSIM against the original,
   for DeepMag and for EVM at the same in-band gain;
4. sign correction: share of skin pixels whose input and magnified representation correlate positively
   over time, with and without sign correction.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
import torch


def _run(mag, frames, fps):
    return np.concatenate(list(mag.stream(iter([frames[i : i + 64] for i in range(0, len(frames), 64)]), fps)))


def main(argv=None) -> int:
    from physio.cohort import Cohort
    from physio.magnify.deepmag import DeepMag
    from physio.metrics.magnification import (
        band_rms,
        bandpass_time,
        change_correlation,
        leakage,
        projected_gain,
        psnr_ssim,
        region_trace,
    )
    from physio.roi.crop import detect_box
    from physio.nets.weights import load_net
    from physio.represent.compute import box_from_mask

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cohort", required=True)
    p.add_argument("--sessions", default="p001/task_A,p001/task_D")
    p.add_argument("--alpha", type=float, default=10.0)
    p.add_argument("--gammas", default="0.5,1,2,4")
    p.add_argument("--pulse-gamma", type=float, default=6e-5)
    p.add_argument("--frames", type=int, default=450, help="frames per session (from the start)")
    p.add_argument("--evm", action="store_true", help="also run EVM at DeepMag's gain (needs physio.magnify.registry)")
    p.add_argument("--out")
    p.add_argument("--source", default="pulse", choices=("pulse", "resp"))
    p.add_argument("--resp-gamma", type=float, default=3.6e-3)
    p.add_argument("--phase-clip", default="on", choices=("on", "off"),
                   help="respiration: eq. 21's 2π clipping (on) or none (ablation); rows also report the phase "
                   "update's RMS (update_rms, radians) and the share of its elements at or beyond 2π (clipped)")
    p.add_argument("--sign-correct", default="on", choices=("on", "off", "sample"),
                   help="the paper's element-wise sign correction (on), none (off, §5.4 ablation) or per sample")
    p.add_argument("--sign-from", default="x", choices=("x", "band", "pooled", "net"),
                   help="respiration: the sign correction's reference (x: the paper's; net: the coherent variant's)")
    p.add_argument("--smooth", type=float, default=0.0, help="respiration: smoothing of F(Δ), cells (coherent: 1)")
    p.add_argument("--gains", help="respiration: sweep the gain target (e.g. 2.5,5,10,20) at --resp-gamma instead of γ")
    args = p.parse_args(argv)
    torch.manual_seed(0)
    sign = {"on": True, "off": False, "sample": "sample"}[args.sign_correct]
    if args.source == "resp":
        return _resp(args, sign)
    net, ckpt = load_net("pulse_cnn")
    rep = ckpt["representation"]
    mults = [float(g) for g in args.gammas.split(",")]
    results = []
    t0 = time.time()
    with Cohort(args.cohort) as c:
        for key in args.sessions.split(","):
            s = c[key]
            n = min(args.frames, s.n_frames)
            frames = s.read_frames(0, n)
            fps = s.fps
            skin = s.mask("skin")[:n]
            name = f"pulse_x{args.alpha:g}"
            truth = s.read_frames(0, n, video=name) if name in s.video_names else None
            kind, _, region = rep["roi"].partition(":")
            if kind == "mask":  # the box the network was trained on: the mask's, or the detector's
                box = box_from_mask(s.mask(region)[:n], rep.get("margin", 0.1))
            else:
                box = detect_box(frames, fps, region, rep.get("margin")) if kind == "detect" else None
            base = band_rms(region_trace(frames, skin), fps, (0.7, 2.5))
            row = {"session": key, "task": s.task, "frames": n, "box": box, "gain": {}, "gain_projected": {}}
            for m in mults:
                g = args.pulse_gamma * m
                mag = DeepMag(net, "pulse", gamma=g, size=int(rep["size"]), box=box, device="cpu", sign_correct=sign)
                out = _run(mag, frames, fps)
                gain = band_rms(region_trace(out, skin), fps, (0.7, 2.5)) / base
                row["gain"][f"{m:g}x"] = round(gain, 3)
                if truth is not None:
                    row["gain_projected"][f"{m:g}x"] = round(projected_gain(out, frames, truth, args.alpha, skin, fps, (0.7, 2.5)), 3)
                if m == 1.0:
                    ps, ss = psnr_ssim(out, frames)
                    row.update(psnr=round(ps, 2), ssim=round(ss, 4), leakage=round(leakage(out, frames, skin), 4))
                    if truth is not None:
                        row["fidelity_r"] = round(change_correlation(out, frames, truth, skin, fps, (0.7, 2.5)), 3)
                        orig = region_trace(frames, skin, None)
                        d_out = bandpass_time(region_trace(out, skin, None) - orig, fps, (0.7, 2.5))
                        d_gt = bandpass_time(region_trace(truth, skin, None) - orig, fps, (0.7, 2.5))
                        row["fidelity_trace_r"] = round(float(np.corrcoef(d_out.ravel(), d_gt.ravel())[0, 1]), 3)
                        row["truth_gain"] = round(band_rms(region_trace(truth, skin), fps, (0.7, 2.5)) / base, 3)
            results.append(row)
            print(json.dumps(row), file=sys.stderr)
    summary = {"cohort": args.cohort, "pulse_gamma": args.pulse_gamma, "alpha_truth": args.alpha,
               "sign_correct": args.sign_correct,
               "results": results, "wall_s": round(time.time() - t0, 1), "torch": torch.__version__}
    text = json.dumps(summary, indent=1)
    print(text)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(text + "\n")
    return 0


def _resp(args, sign) -> int:
    """Respiration: gain = in-band RMS of the shoulders' vertical motion, output over input; fidelity =
    r between DeepMag's change and `resp_x{α}` − original inside the shoulder band (dilated)."""
    import cv2

    from physio.cohort import Cohort
    from physio.magnify.deepmag import DeepMag
    from physio.metrics.magnification import band_rms, bandpass_time, change_correlation, projected_gain, psnr_ssim
    from physio.rates.motion import vertical_position as vertical_motion
    from physio.nets.weights import load_net
    from physio.represent.compute import box_from_mask

    net, ckpt = load_net("resp_cnn")
    rep = ckpt["representation"]
    band = (0.16, 0.5)
    results = []
    with Cohort(args.cohort) as c:
        for key in args.sessions.split(","):
            s = c[key]
            n = min(args.frames, s.n_frames)
            frames = s.read_frames(0, n)
            fps = s.fps
            sh = s.mask("shoulders")
            sh = cv2.dilate(sh.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
            sbox = box_from_mask(sh, 0.2)
            box = box_from_mask(s.mask("torso")[:n], rep.get("margin", 0.0))
            name = f"resp_x{args.alpha:g}"
            truth = s.read_frames(0, n, video=name) if name in s.video_names else None
            v_in = bandpass_time(vertical_motion(frames, sbox), fps, band)
            v_gt = bandpass_time(vertical_motion(truth, sbox), fps, band) if truth is not None else None
            base = band_rms(vertical_motion(frames, sbox), fps, band)
            row = {"session": key, "task": s.task, "frames": n, "box": box, "phase_clip": args.phase_clip,
                   "sign_from": args.sign_from, "smooth": args.smooth, "gain": {},
                   "gain_projected": {}, "update_rms": {}, "clipped": {}, "fidelity": {}, "fidelity_motion": {},
                   "psnr_at": {}}
            if args.gains:  # the gain target swept at one γ
                points = [(f"gain {a:g}", args.resp_gamma, float(a)) for a in args.gains.split(",")]
            else:
                points = [(f"{float(m):g}x", args.resp_gamma * float(m), None) for m in args.gammas.split(",")]
            for label, gamma, target in points:
                mag = DeepMag(net, "resp", gamma=gamma, size=int(rep["size"]),
                              level=int(rep["level"]), box=box, device="cpu", sign_correct=sign,
                              phase_clip=args.phase_clip == "on", sign_from=args.sign_from,
                              smooth_cells=args.smooth, gain=target)
                out = _run(mag, frames, fps)
                row["update_rms"][label] = round(mag.phase_stats["rms"], 3)
                row["clipped"][label] = round(mag.phase_stats["clipped"], 4)
                row["gain"][label] = round(band_rms(vertical_motion(out, sbox), fps, band) / base, 3)
                if truth is not None:
                    row["gain_projected"][label] = round(projected_gain(out, frames, truth, args.alpha, sh, fps, band), 3)
                    row["fidelity"][label] = round(change_correlation(out, frames, truth, sh, fps, band), 3)
                    v_out = bandpass_time(vertical_motion(out, sbox), fps, band)
                    cut = slice(int(2 * fps), -int(2 * fps))  # the filter's edges
                    row["fidelity_motion"][label] = round(float(np.corrcoef((v_out - v_in)[cut], (v_gt - v_in)[cut])[0, 1]), 3)
                ps, ss = psnr_ssim(out, frames)
                row["psnr_at"][label] = [round(ps, 2), round(ss, 4)]
                if label in ("1x", points[len(points) // 2][0]) and "psnr" not in row:
                    row.update(psnr=round(ps, 2), ssim=round(ss, 4))
                    if truth is not None:
                        row["fidelity_r"] = row["fidelity"][label]
                        row["truth_gain"] = round(band_rms(vertical_motion(truth, sbox), fps, band) / base, 3)
            results.append(row)
            print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
