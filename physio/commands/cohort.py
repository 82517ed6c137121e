"""``physio cohort``: check, summarise, import and export HDF5 cohorts."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from physio.atomic import check_output, check_output_folder

NAME = "cohort"
HELP = "check, summarise, import and export HDF5 cohorts"


def configure(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="cohort_command", metavar="ACTION", required=True)

    c = sub.add_parser("check", help="validate a cohort file; exit 0 only when valid")
    c.add_argument("file")
    c.add_argument("-q", "--quiet", action="store_true", help="print nothing: the exit status says it (0 valid, 1 not)")
    c.set_defaults(_action=_check)

    i = sub.add_parser("info", help="summarise a cohort (participants, sessions, tasks, hours)")
    i.add_argument("file")
    i.add_argument("--json", action="store_true", help="print one JSON object (with a 'sessions' list)")
    i.set_defaults(_action=_info)

    e = sub.add_parser("export", help="write one session as video.mp4 + signals.csv")
    e.add_argument("file")
    e.add_argument("session", metavar="PARTICIPANT/SESSION")
    e.add_argument("outdir")
    e.add_argument("--crf", type=int, default=18, help="H.264 quality (0–51, lower is better)")
    e.add_argument("--lossless", action="store_true", help="lossless RGB H.264")
    e.add_argument("--overwrite", action="store_true", help="replace video.mp4/signals.csv in OUTDIR")
    e.add_argument("-q", "--quiet", action="store_true", help="no summary line")
    e.set_defaults(_action=_export)

    m = sub.add_parser("merge", help="merge cohorts into one (participant names must be unique, or --prefix)")
    m.add_argument("files", nargs="+", metavar="COHORT.h5", help="two or more cohort files")
    m.add_argument("-o", "--out", required=True, metavar="OUT.h5", help="cohort file to write (atomically)")
    m.add_argument("--prefix", default=None, metavar="P1,P2,...",
                   help="one prefix per input: its participants become PREFIX-NAME")
    m.add_argument("--drop-videos", action="store_true",
                   help="leave out the sessions' extra renderings (videos/, e.g. ground-truth magnified)")
    m.add_argument("--overwrite", action="store_true", help="replace OUT.h5 if it exists")
    m.add_argument("-q", "--quiet", action="store_true", help="no summary line")
    m.set_defaults(_action=_merge)

    from physio.cohort.importers import IMPORTERS, importer  # noqa: PLC0415 - importers load h5py/SciPy

    for name in IMPORTERS:
        mod = importer(name)
        q = sub.add_parser(f"import-{name}", help=mod.HELP)
        mod.configure(q)
        q.add_argument("--overwrite", action="store_true", help="replace the output cohort if it exists")
        q.add_argument("-q", "--quiet", action="store_true", help="no summary line")
        q.set_defaults(_action=_import, _importer=mod)


def run(args: argparse.Namespace) -> int:
    return args._action(args)


def _check(args) -> int:
    from physio.cohort import cohort_check  # noqa: PLC0415

    problems = cohort_check(args.file)
    if args.quiet:
        return 1 if problems else 0
    for pr in problems:
        print(pr)
    if problems:
        print(f"{args.file}: INVALID ({len(problems)} problem{'s' if len(problems) != 1 else ''})", file=sys.stderr)
        return 1
    print(f"{args.file}: valid")
    return 0


def _info(args) -> int:
    from physio.cohort import cohort_info  # noqa: PLC0415

    info = cohort_info(args.file)
    if args.json:
        print(json.dumps(info))
        return 0
    print(f"{info['path']}  (physio-cohort {info['format_version']})")
    print(f"participants: {info['n_participants']}   sessions: {info['n_sessions']}   hours: {info['hours']:.3f}")
    print("tasks: " + (", ".join(f"{t or '(none)'}: {n}" for t, n in info["tasks"].items()) or "-"))
    print(f"{'participant':<14}{'session':<14}{'task':<8}{'frames':>8}{'fps':>8}{'size':>11}  signals  extra")
    for s in info["sessions"]:
        sig = ("P" if s["has_pulse"] else "-") + ("R" if s["has_resp"] else "-")
        print(
            f"{s['participant']:<14}{s['session']:<14}{s['task']:<8}{s['frames']:>8}{s['fps']:>8.2f}"
            f"{str(s['width']) + 'x' + str(s['height']):>11}  {sig:<7}  {','.join(s['videos']) or '-'}"
        )
    return 0


def _export(args) -> int:
    from physio.cohort import cohort_export  # noqa: PLC0415

    check_output_folder(args.outdir, inputs=[args.file])
    for name in ("video.mp4", "signals.csv"):
        check_output(Path(args.outdir) / name, inputs=[args.file], overwrite=args.overwrite)
    out = cohort_export(args.file, args.session, args.outdir, crf=args.crf, lossless=args.lossless)
    if not args.quiet:
        print(f"wrote {out['video']} and {out['signals']}")
    return 0


def _merge(args) -> int:
    from physio.cohort.merge import merge_cohorts  # noqa: PLC0415

    check_output(args.out, inputs=args.files, overwrite=args.overwrite, what="cohort file")
    prefixes = args.prefix.split(",") if args.prefix else None
    info = merge_cohorts(args.files, args.out, prefixes=prefixes, drop_videos=args.drop_videos)
    if not args.quiet:
        print(f"wrote {info['out']}: {info['participants']} participants, {info['sessions']} sessions "
              f"from {len(info['inputs'])} cohorts")
    return 0


def _import(args) -> int:
    out = args.out
    check_output(out, inputs=[getattr(args, "folder", None), *getattr(args, "files", [])], overwrite=args.overwrite,
                 what="cohort file")
    keys = args._importer.run(args)
    if not args.quiet:
        print(f"wrote {out}: {len(keys)} sessions")
    return 0
