"""HR of the real clips in ../shared/data with each pulse method (report, do not tune).

Usage: python benchmarks/real_clips_hr.py [--data ../shared/data] [--methods cnn,pos,chrom,green]
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
    args = p.parse_args(argv)
    data = Path(args.data)
    methods = args.methods.split(",")
    truth = {r["video"]: float(r["hr_bpm"]) for r in csv.DictReader(open(data / "rppg_bias_eval" / "ground_truth.csv"))}
    clips = [("evm_mit/face.mp4", "face", "50-60 (MIT band)", None)]
    for f in sorted((data / "rppg_bias_eval").glob("*.avi")):
        vid = f.stem.rsplit("_", 1)[0]
        clips.append((f"rppg_bias_eval/{f.name}", "full", f"{truth[vid]:.1f}", truth[vid]))
    print("| clip | ROI | reference HR | " + " | ".join(methods) + " |")
    print("|---|---|---|" + "---|" * len(methods))
    for rel, roi, ref, ref_v in clips:
        row = []
        for m in methods:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", PhysioWarning)
                    rep, _ = measure_rates(data / rel, method=m, resp_method="motion", roi=roi, progress=False)
            except PhysioError as exc:  # reported, e.g. frames with a black channel break POS/CHROM
                row.append(f"error: {str(exc).split(':')[-1].strip()[:60]}")
                continue
            v = rep.hr_bpm
            row.append(f"{v:.1f}" + ("" if ref_v is None else f" ({v - ref_v:+.1f})"))
        print(f"| {rel} | {roi} | {ref} | " + " | ".join(row) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
