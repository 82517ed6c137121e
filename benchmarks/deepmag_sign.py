"""DeepMag bar 4 (paper Fig. 11): per-pixel correlation over time between the input representation X_1
and the magnified X_N, with and without sign correction.

Usage: python benchmarks/deepmag_sign.py --cohort COHORT.h5 [--session p001/task_A] [--gamma 6e-5]
Representation cells inside the session's skin mask (downsampled to 36x36, > 50 % skin) are counted.
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np
import torch


def main(argv=None) -> int:
    from physio.cohort import Cohort
    from physio.magnify.ascent import gradient_ascent
    from physio.metrics.magnification import per_pixel_correlation
    from physio.nets.weights import load_net
    from physio.represent.compute import RepresentationSpec, box_from_mask, iter_representation

    p = argparse.ArgumentParser()
    p.add_argument("--cohort", required=True)
    p.add_argument("--session", default="p001/task_A")
    p.add_argument("--gamma", type=float, default=6e-5)
    p.add_argument("--frames", type=int, default=450)
    args = p.parse_args(argv)
    net, ckpt = load_net("pulse_cnn")
    spec = RepresentationSpec.from_dict(ckpt["representation"])
    with Cohort(args.cohort) as c:
        s = c[args.session]
        frames = s.read_frames(0, args.frames)
        skin = s.mask("skin")[: args.frames]
        box = box_from_mask(s.mask("face")[: args.frames], spec.margin)
    x1 = torch.from_numpy(np.concatenate(list(iter_representation(iter([frames]), spec, box))))
    x0, y0, x1b, y1b = box
    sk = torch.from_numpy(skin[:, y0:y1b, x0:x1b].mean(0).astype(np.float32))[None, None]
    cell_skin = torch.nn.functional.interpolate(sk, size=(spec.size, spec.size), mode="area")[0, 0].numpy() > 0.5
    scale = float(x1.pow(2).mean().sqrt())
    out = {"session": args.session, "gamma": args.gamma, "skin_cells": int(cell_skin.sum())}
    for sign in (True, False):
        xn = gradient_ascent(net, x1, args.gamma, 20, sign_correct=sign, input_scale=scale).x
        corr = per_pixel_correlation(x1.numpy(), xn.numpy())  # (3, S, S)
        vals = corr[:, cell_skin]
        out[f"positive_share_sign_{'on' if sign else 'off'}"] = round(float(np.nanmean(vals > 0)), 4)
        out[f"median_r_sign_{'on' if sign else 'off'}"] = round(float(np.nanmedian(vals)), 4)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
