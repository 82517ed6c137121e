"""``physio magnify``: magnify pulse colour or respiration motion in a video with any registered method."""

from __future__ import annotations

import argparse
import ast
import sys

from physio import DEFAULT_PRESET, PULSE_BAND_HZ, RESP_BAND_HZ, X264_PRESETS
from physio.atomic import check_output
from physio.errors import InputError

NAME = "magnify"
HELP = "magnify pulse colour or respiration motion in a video (deepmag, evm, phase, vam, oh, lwmm, …)"
DESCRIPTION = (
    "Magnify a video with a registered method, streamed in overlapping temporal blocks (memory bounded "
    "by --block-frames, not by the video's length). --source picks the DeepMag paper's band (pulse "
    "0.7-2.5 Hz, respiration 0.16-0.5 Hz) so that every method works on the same band; --band overrides "
    "it. Method-specific options are listed below; --set KEY=VALUE passes any other factory argument."
)

SOURCES = {"pulse": PULSE_BAND_HZ, "resp": RESP_BAND_HZ}


def _pair(cast, what: str, example: str):
    """An argparse type for two comma-separated numbers ``A,B``."""
    def parse(text: str) -> tuple:
        try:
            a, b = (cast(v) for v in text.split(","))
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what} (e.g. {example}), got {text!r}") from None
        return a, b
    return parse


_band = _pair(float, "LO,HI in Hz", "0.7,2.5")
_pixel = _pair(int, "X,Y in pixels", "240,110")


def _line(text: str) -> tuple[str, int]:
    kind, sep, pos = text.partition(":")
    if not sep or kind not in ("h", "v") or not pos.strip().lstrip("-").isdigit():
        raise argparse.ArgumentTypeError(f"expected h:Y (a row) or v:X (a column), got {text!r}")
    return kind, int(pos)


def _registered_options() -> dict:
    """flag -> (CliOption, [methods]) over every registered method."""
    from physio.magnify.registry import specs  # noqa: PLC0415

    flags: dict = {}
    for method, spec in specs().items():
        for opt in spec.options:
            flags.setdefault(opt.flag, (opt, []))[1].append(method)
    return flags


def _dest(flag: str) -> str:
    return "mopt_" + flag.lstrip("-").replace("-", "_")


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("video", help="input video file")
    p.add_argument("-o", "--output", required=True, metavar="OUT.mp4", help="output video (.mp4, .mkv, .mov)")
    p.add_argument("--method", default="evm", help="magnification method (default evm); unknown names list the valid ones")
    p.add_argument("--source", choices=sorted(SOURCES), default="pulse",
                   help="signal to magnify: pulse (0.7-2.5 Hz, colour) or resp (0.16-0.5 Hz, motion); default pulse")
    p.add_argument("--band", type=_band, metavar="LO,HI", help="temporal band in Hz, overrides --source's band")
    p.add_argument("--alpha", type=float, help="amplification factor (method default when omitted)")
    p.add_argument("--level", type=int,
                   help="pyramid depth: the Gaussian level amplified (colour EVM, default 4) or the number of levels")
    p.add_argument("--mode", choices=("color", "motion"),
                   help="EVM mode (default: color for --source pulse, motion for resp)")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default)")
    p.add_argument("--fps", type=float, help="frame-rate override (for files with a wrong or missing rate)")
    p.add_argument("--start", type=float, metavar="S", help="first second to process")
    p.add_argument("--end", type=float, metavar="S", help="second to stop at")
    p.add_argument("--block-frames", type=int, metavar="N", help="core frames per processed block (memory bound)")
    p.add_argument("--crf", type=int, default=18, help="H.264 quality, 0-51 (default 18)")
    p.add_argument("--preset", choices=X264_PRESETS, default=DEFAULT_PRESET,
                   help="x264 speed preset (default veryfast: ~2.4x faster than medium at 640x480, 0.5 dB lower "
                        "PSNR at crf 18; medium or slower for archiving)")
    p.add_argument("--set", dest="extra", action="append", default=[], metavar="KEY=VALUE",
                   help="extra keyword for the method's factory (repeatable), e.g. --set sigma=0")
    p.add_argument("--overwrite", action="store_true", help="replace output files that exist (default: refuse)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    out = p.add_argument_group("more outputs (made in the same pass; see docs/magnification-outputs.md)")
    out.add_argument("--side-by-side", metavar="SBS.mp4", help="also write original | magnified side by side")
    out.add_argument("--scanline", metavar="FIG.png",
                     help="scan-line figure (paper Fig. 5/6): one line through every frame, original vs magnified")
    out.add_argument("--line", type=_line, metavar="h:Y|v:X",
                     help="the scan line (default: horizontal for pulse, vertical for resp, through the centre of "
                          "the method's region, else of the frame)")
    out.add_argument("--traces", metavar="FIG.png", help="pixel traces (Fig. 7/8): a 5x5 window's colour over time")
    out.add_argument("--pixel", type=_pixel, metavar="X,Y",
                     help="the traced pixel (default: centre of the method's region, else of the frame)")
    out.add_argument("--learning-curve", metavar="FIG.png",
                     help="DeepMag's learning curve (Fig. 9): |y(X_n)| against the iteration n")
    group = p.add_argument_group("method-specific options")
    for flag, (opt, methods) in sorted(_registered_options().items()):
        kw = {"type": opt.type, "dest": _dest(flag), "default": None, "metavar": None if opt.choices else "X",
              "help": f"{opt.help} [{', '.join(sorted(methods))}]"}
        if opt.choices:
            kw["choices"] = opt.choices
        group.add_argument(flag, **kw)


def _literal(text: str):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return {"true": True, "false": False, "none": None}.get(text.lower(), text)


def build_kwargs(args: argparse.Namespace) -> dict:
    """Factory keyword arguments from the parsed command line (errors for options of other methods)."""
    from physio.magnify.registry import available, method_parameters, specs  # noqa: PLC0415

    method = args.method
    registered = specs()
    if method not in registered:
        raise InputError(f"unknown magnification method {method!r}; valid: {', '.join(available())}")
    accepted = method_parameters(method)  # None: the factory takes **kwargs

    kwargs: dict = {"band_hz": args.band if args.band is not None else SOURCES[args.source]}
    if args.alpha is not None:
        kwargs["alpha"] = args.alpha
    if args.level is not None:
        kwargs["level"] = args.level
    if args.device != "auto":
        kwargs["device"] = args.device
    if accepted is not None and "source" in accepted:
        kwargs["source"] = args.source
    if accepted is not None and "mode" in accepted:
        kwargs["mode"] = args.mode or ("color" if args.source == "pulse" else "motion")
    elif args.mode is not None and accepted is None:
        kwargs["mode"] = args.mode
    elif args.mode == "color":
        raise InputError(f"method {method!r} magnifies motion only; --mode color is an EVM option")
    own = {opt.flag: opt for opt in registered[method].options}
    for flag, (opt, methods) in _registered_options().items():
        value = getattr(args, _dest(flag), None)
        if value is None:
            continue
        if flag not in own:
            raise InputError(f"{flag} is not an option of method {method!r} (it belongs to {', '.join(sorted(methods))})")
        kwargs[own[flag].name] = value
    for item in args.extra:
        key, sep, value = item.partition("=")
        if not sep or not key.strip().isidentifier():
            raise InputError(f"--set expects KEY=VALUE with KEY a Python identifier, got {item!r}")
        kwargs[key.strip()] = _literal(value.strip())
    return kwargs


def _factor_text(magnifier) -> str:
    """The magnification factor a run uses, as it is printed and put in figure titles."""
    if getattr(magnifier, "gamma", None) is not None:
        gain = getattr(magnifier, "gain", None)
        return f"gamma {magnifier.gamma:.3g}" + (f", gain target {gain:g}" if gain is not None else "")
    alpha = getattr(magnifier, "alpha", None)
    if alpha is None:
        alpha = getattr(magnifier, "factor", None)  # the learned magnifiers' magnification factor
    return "" if alpha is None else f"alpha {alpha:g}"


def run(args: argparse.Namespace) -> int:
    from physio.io import video_info  # noqa: PLC0415
    from physio.magnify.registry import get_magnifier
    from physio.magnify.run_outputs import RunOutputs  # noqa: PLC0415
    from physio.magnify.video import magnify_video  # noqa: PLC0415

    if args.block_frames is not None and args.block_frames < 1:
        raise InputError(f"--block-frames must be >= 1, got {args.block_frames}")
    if args.line is not None and args.scanline is None:
        raise InputError("--line chooses the scan line of --scanline, which was not given")
    if args.pixel is not None and args.traces is None:
        raise InputError("--pixel chooses the traced pixel of --traces, which was not given")
    for out, what in ((args.output, "output video"), (args.side_by_side, "side-by-side video"),
                      (args.scanline, "scan-line figure"), (args.traces, "pixel-trace figure"),
                      (args.learning_curve, "learning-curve figure")):
        if out is not None:
            check_output(out, inputs=[args.video], overwrite=args.overwrite, what=what,
                         suffixes=(".mp4", ".mkv", ".mov") if "video" in what else None)
    kwargs = build_kwargs(args)
    magnifier = get_magnifier(args.method, **kwargs)
    if hasattr(magnifier, "band_hz") and magnifier.band_hz is None:  # learned nets outside temporal mode
        band_text = f"{getattr(magnifier, 'mode', '')} mode, no temporal band".strip()
    else:
        band = getattr(magnifier, "band_hz", None) or kwargs["band_hz"]
        band_text = f"band {band[0]:g}-{band[1]:g} Hz"
    info = video_info(args.video, fps=args.fps)
    factor = _factor_text(magnifier)
    outputs = RunOutputs(info.fps, side_by_side=args.side_by_side, scanline=args.scanline, traces=args.traces,
                         learning_curve=args.learning_curve, line=args.line, pixel=args.pixel,
                         orientation="h" if args.source == "pulse" else "v",
                         label=f"{args.method} ({', '.join(t for t in (factor, band_text) if t)})", crf=args.crf, preset=args.preset)
    start = 0.0 if args.start is None else args.start
    end = info.duration_s if args.end is None else min(args.end, info.duration_s)
    total = max(0, round(end * info.fps) - round(start * info.fps))
    from tqdm import tqdm  # noqa: PLC0415

    # each frame counts twice: read into the magnifier, then written (magnify_video's progress)
    with tqdm(total=2 * total, unit="frame", file=sys.stderr, disable=args.quiet,
              desc=f"magnify ({args.method}; frames read + written)") as bar:
        result = magnify_video(
            magnifier, args.video, args.output, fps=args.fps, start_s=args.start, end_s=args.end,
            block_frames=args.block_frames, crf=args.crf, preset=args.preset, progress=bar.update, outputs=outputs,
        )
    print(
        f"wrote {result['output']}: {result['frames']} frames, {result['width']}x{result['height']}, "
        f"{result['fps']:g} fps ({args.method}, {band_text}, margin {result['margin_frames']} frames)"
    )
    box = getattr(magnifier, "box", None)
    region = "whole frame" if box is None else f"box x {box[0]}-{box[2]}, y {box[1]}-{box[3]} px"
    print(f"settings: {factor or 'no factor'}; {band_text}; region {region}")
    if getattr(magnifier, "gain_scale", None) is not None:
        print(f"gain target {magnifier.gain:g}: the change at gamma {magnifier.gamma:.3g} was scaled by "
              f"{magnifier.gain_scale:.3g} (measured on the first {magnifier.block_frames} frames)")
    for path in result["extra_outputs"]:
        print(f"wrote {path}")
    return 0
