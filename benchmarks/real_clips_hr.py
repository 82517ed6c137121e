"""HR of the real clips in ../shared/data with each pulse method (report, do not tune).

Usage: python benchmarks/real_clips_hr.py [--data ../shared/data] [--methods cnn,pos,chrom,green]
                                         [--pulse-models A.pt,B.pt]   (extra cnn columns: candidate checkpoints)
Prints one markdown table: evm_mit/face.mp4 (MIT pulse band 50-60 bpm; face ROI) and the
rppg_bias_eval skin crops (whole frame: they are 200x200 crops with no face; oximeter mean HR).
"""

from __future__ import annotations

import argparse
import csv
import sys
import warnings
from pathlib import Path

from physio.errors import PhysioError, PhysioWarning
from physio.rates.measure import measure_rates


def main(argv=None) -> int:
    repo = Path(__file__).resolve().parents[1]
    p = argparse.ArgumentParser()
    p.add_argument("--data", default=str(repo.parent / "shared" / "data"))
    p.add_argument("--methods", default="cnn,pos,chrom,green")
    p.add_argument("--pulse-models", default="", help="comma-separated checkpoints, each an extra 'cnn' column")
    args = p.parse_args(argv)
    data = Path(args.data)
    runs = [(m, m, "pulse_cnn") for m in args.methods.split(",") if m]
    runs += [(f"cnn:{Path(c).parent.name}/{Path(c).stem}", "cnn", c) for c in args.pulse_models.split(",") if c]
    methods = [r[0] for r in runs]
    maes: dict[str, list[float]] = {m: [] for m in methods}
    truth = {r["video"]: float(r["hr_bpm"]) for r in csv.DictReader(open(data / "rppg_bias_eval" / "ground_truth.csv"))}
    clips = [("evm_mit/face.mp4", "face", "50-60 (MIT band)", None)]
    for f in sorted((data / "rppg_bias_eval").glob("*.avi")):
        vid = f.stem.rsplit("_", 1)[0]
        clips.append((f"rppg_bias_eval/{f.name}", "full", f"{truth[vid]:.1f}", truth[vid]))
    print("| clip | ROI | reference HR | " + " | ".join(methods) + " |")
    print("|---|---|---|" + "---|" * len(methods))
    for rel, roi, ref, ref_v in clips:
        row = []
        for label, m, model in runs:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", PhysioWarning)
                    rep, _ = measure_rates(data / rel, method=m, resp_method="motion", roi=roi, progress=False,
                                           pulse_model=model)
            except PhysioError as exc:  # reported, e.g. frames with a black channel break POS/CHROM
                row.append(f"error: {str(exc).split(':')[-1].strip()[:60]}")
                continue
            v = rep.hr_bpm
            if ref_v is not None and v is not None:
                maes[label].append(abs(v - ref_v))
            row.append(f"{v:.1f}" + ("" if ref_v is None else f" ({v - ref_v:+.1f})"))
        print(f"| {rel} | {roi} | {ref} | " + " | ".join(row) + " |", flush=True)
    print("| MAE (clips with a reference) | | | " + " | ".join(
        f"{sum(v) / len(v):.1f} (n={len(v)})" if v else "-" for v in maes.values()) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
