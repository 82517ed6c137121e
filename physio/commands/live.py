"""``physio live``: heart and breathing rates as the frames come (camera, stream, or a file played live)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

NAME = "live"
HELP = "live HR/BR from a camera, a stream or a file played at its frame rate (estimates every second)"
DESCRIPTION = (
    "Reads frames as they come (--camera N, --stream URL, or --file VIDEO [--realtime]), tracks the face and "
    "torso, and every second prints the heart rate from the last --hr-window seconds (rPPG on the skin, POS "
    "by default) and the breathing rate from the last --br-window seconds (torso motion), each with its "
    "quality (spectral-peak SNR, dB). --json prints one JSON object a line (t, hr_bpm, br_bpm, quality, "
    "face_box, valid_fraction, status, br_status, latency_ms; with several people, faces: one entry per face with "
    "its stable id). An OpenCV window shows the face boxes, the "
    "numbers and the pulse waveform unless --headless. Memory is bounded (ring buffers); a lost face gives "
    "'no face' and is found again. Stop with Ctrl-C or q in the window. See docs/live.md."
)


def configure(p: argparse.ArgumentParser) -> None:
    from physio.rates.methods import RPPG_METHODS  # noqa: PLC0415 - light module

    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--camera", type=int, metavar="N", help="camera index (OpenCV)")
    src.add_argument("--stream", metavar="URL", help="a network stream FFmpeg reads (rtsp://, http://, …)")
    src.add_argument("--file", metavar="VIDEO", help="a video file, as a live source")
    p.add_argument("--realtime", action="store_true",
                   help="--file: release each frame at its time (as a camera would), not as fast as possible")
    p.add_argument("--method", default="pos", choices=RPPG_METHODS, help="pulse estimator (default pos)")
    p.add_argument("--hr-window", type=float, default=10.0, metavar="S", help="HR window, s (default 10)")
    p.add_argument("--br-window", type=float, default=30.0, metavar="S", help="BR window, s (default 30)")
    p.add_argument("--subject", default="adult", choices=("adult", "child", "infant"), help="rate bands")
    p.add_argument("--detector", default="mesh", choices=("mesh", "detection", "haar"))
    p.add_argument("--face", default="all", choices=("all", "largest"),
                   help="all = one estimate per person (each line: the largest face's numbers, plus faces: "
                        "[...] with stable ids); largest = one face, on the whole frame")
    p.add_argument("--fps", type=float, default=None, help="frame-rate override (a camera that does not say)")
    p.add_argument("--duration", type=float, default=None, metavar="S", help="stop after S seconds of video")
    p.add_argument("--headless", action="store_true", help="no window (servers, scripts, tests)")
    p.add_argument("--json", action="store_true", help="one JSON object a line on stdout")
    p.add_argument("-q", "--quiet", action="store_true", help="no summary on stderr at the end")


def _source(args):
    from physio.rates.live import capture_frames, file_frames, stream_frames  # noqa: PLC0415

    if args.file is not None:
        return file_frames(args.file, realtime=args.realtime, fps=args.fps)
    if args.realtime:
        from physio.errors import InputError  # noqa: PLC0415

        raise InputError("--realtime applies to --file (a camera or a stream is live already)")
    if args.stream is not None:
        return stream_frames(args.stream, fps=args.fps)
    return capture_frames(args.camera, f"camera {args.camera}", fps=args.fps)


def _window_ok() -> None:
    from physio.errors import InputError  # noqa: PLC0415

    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise InputError("no display to open a window on (DISPLAY is not set): use --headless")


def run(args: argparse.Namespace) -> int:
    import cv2  # noqa: PLC0415

    from physio.rates.live import LiveFaces, LiveRates  # noqa: PLC0415
    from physio.roi.overlay import live_faces_overlay, live_overlay  # noqa: PLC0415

    if not args.headless:
        _window_ok()
    fps, frames = _source(args)
    bands = "deepmag" if args.subject == "adult" else args.subject
    latencies, count, last = [], 0, None
    kind = LiveFaces if args.face == "all" else LiveRates
    with kind(fps, method=args.method, hr_window_s=args.hr_window, br_window_s=args.br_window, bands=bands,
              detector=args.detector) as live:
        try:
            for frame in frames:
                if args.duration is not None and frame.t >= args.duration:
                    break
                est = live.push(frame)
                if est is not None:
                    last = est
                    count += 1
                    latencies.append(est["latency_ms"])
                    if args.json:
                        print(json.dumps(est), flush=True)
                    else:
                        hr = "no face" if est["hr_bpm"] is None else f"HR {est['hr_bpm']:.1f} bpm ({est['quality']['hr_db']:+.1f} dB)"
                        br = ("BR " + est["br_status"]) if est["br_bpm"] is None else \
                            f"BR {est['br_bpm']:.1f} breaths/min ({est['quality']['br_db']:+.1f} dB)"
                        faces = est.get("faces", [])
                        more = "" if len(faces) < 2 else "  | " + "  ".join(
                            f"#{f['id']}: " + ("no face" if f["hr_bpm"] is None else f"{f['hr_bpm']:.1f} bpm")
                            for f in faces)
                        print(f"t {est['t']:7.1f} s  {hr}  {br}{more}", flush=True)
                if not args.headless:
                    if isinstance(live, LiveFaces):
                        top = next(iter(live.members.values()), (None, None))[1] if live.members else None
                        img = live_faces_overlay(frame.image, last, None if top is None else top.last_wave)
                    else:
                        img = live_overlay(frame.image, live.last_roi, last, live.last_wave)
                    cv2.imshow("physio live", cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
                    if cv2.waitKey(1) & 0xFF in (ord("q"), 27):
                        break
        finally:
            if not args.headless:
                cv2.destroyAllWindows()
    if not args.quiet:
        lat = f", latency median {sorted(latencies)[len(latencies) // 2]:.0f} ms" if latencies else ""
        print(f"physio live: {count} estimates{lat}", file=sys.stderr)
    if count == 0 and not args.quiet:
        print(f"physio: warning: no estimate: the source ended before the first {args.hr_window:g} s window",
              file=sys.stderr)
    return 0
