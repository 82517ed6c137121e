"""Regions of interest: detectors, skin masks, tracking/filling, the no-face error, ``physio roi``.

Real numbers come from the clips in ``../shared/data`` (skipped when absent) and from
``skimage.data.astronaut()``; measured values are printed (``pytest -s``) and listed in docs/roi.md.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from physio.errors import InputError, RoiNotFoundError
from physio.io import VideoReader, VideoWriter, video_info
from physio.roi.tracking import MEASURED
from physio.roi import (
    MESH_LOOPS,
    MESH_POINT_INDICES,
    OneEuroFilter,
    RoiTracker,
    box_jitter,
    frame_ranges,
    make_face_detector,
    roi_detect,
    skin_gate,
)

CSV_COLUMNS = ["frame", "time_s", "face_x0", "face_y0", "face_x1", "face_y1", "face_conf", "face_detector",
               "face_status", "torso_x0", "torso_y0", "torso_x1", "torso_y1", "torso_conf", "torso_detector",
               "torso_status"]


# --- fixtures -----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    skimage_data = pytest.importorskip("skimage.data")
    return skimage_data.astronaut()


@pytest.fixture(scope="module")
def astronaut_landmarks(astronaut) -> np.ndarray:
    """All 468 FaceMesh landmarks of the astronaut (pixels), from an independent static FaceMesh run."""
    import mediapipe as mp

    with mp.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1) as mesh:
        res = mesh.process(astronaut)
    assert res.multi_face_landmarks, "FaceMesh finds no face on skimage's astronaut"
    h, w = astronaut.shape[:2]
    return np.array([(p.x * w, p.y * h) for p in res.multi_face_landmarks[0].landmark])


@pytest.fixture(scope="module")
def face_clip(shared_data):
    path = shared_data / "evm_mit" / "face.mp4"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    return path


@pytest.fixture(scope="module")
def face_track(face_clip):
    """The default tracker (mesh, every frame) over all 301 frames of face.mp4 (Pose every 5th frame)."""
    reader = VideoReader(face_clip)
    return roi_detect(reader.chunks(), reader.fps, every=1, torso_every=5, source=str(face_clip))


@pytest.fixture(scope="module")
def face_frames(face_clip) -> np.ndarray:
    """The first 25 frames of face.mp4."""
    return VideoReader(face_clip, end_s=25 / 30).read_all()


def _jitter_stats(boxes: np.ndarray) -> tuple[float, float]:
    j = box_jitter(boxes)
    return float(np.median(j)), float(np.max(j))


# --- landmark topology --------------------------------------------------------------------------------
def _edges(loop, closed=True):
    pairs = list(zip(loop[:-1], loop[1:], strict=True)) + ([(loop[-1], loop[0])] if closed else [])
    return {frozenset(p) for p in pairs}


def test_mesh_loops_follow_mediapipe_connections():
    from mediapipe.python.solutions import face_mesh_connections as c

    def conn(s):
        return {frozenset(e) for e in s}

    assert _edges(MESH_LOOPS["face_oval"]) == conn(c.FACEMESH_FACE_OVAL)
    assert _edges(MESH_LOOPS["right_eye"]) == conn(c.FACEMESH_RIGHT_EYE)
    assert _edges(MESH_LOOPS["left_eye"]) == conn(c.FACEMESH_LEFT_EYE)
    assert _edges(MESH_LOOPS["lips"]) <= conn(c.FACEMESH_LIPS)
    assert len(MESH_LOOPS["lips"]) == 20  # the outer of FACEMESH_LIPS's two loops
    # eyebrows: MediaPipe's two open polylines, closed into one loop by the two joining edges
    for side, brow in (("right", c.FACEMESH_RIGHT_EYEBROW), ("left", c.FACEMESH_LEFT_EYEBROW)):
        loop = MESH_LOOPS[f"{side}_eyebrow"]
        assert conn(brow) <= _edges(loop) and len(_edges(loop) - conn(brow)) == 2
    assert len(MESH_POINT_INDICES) == 124 and MESH_POINT_INDICES.max() < 468


# --- astronaut: one image, all detectors ---------------------------------------------------------------
def test_astronaut_face_and_skin_mask(astronaut, astronaut_landmarks):
    track = roi_detect([astronaut[None]], fps=1.0, source="astronaut")
    assert track.face_status[0] == "detected" and track.face_detector[0] == "mesh"
    lm = astronaut_landmarks
    x0, y0, x1, y1 = track.face_boxes[0]
    # the box is the face oval's bounding box (FaceMesh in tracking mode vs. the static run: ≤ 3 px)
    oval = lm[list(MESH_LOOPS["face_oval"])]
    assert np.allclose([x0, y0, x1, y1], [*oval.min(0), *oval.max(0)], atol=3)
    mask = track.face_mask(0)
    assert mask.shape == astronaut.shape[:2] and mask.dtype == bool
    # skin: cheeks (50, 280, 205, 425), forehead (151, 108, 337), chin (199) are inside the mask
    for k in (50, 280, 205, 425, 151, 108, 337, 199):
        x, y = np.round(lm[k]).astype(int)
        assert mask[y, x], f"landmark {k} ({x}, {y}) should be skin"
    # eyes are not: mean mask value inside each eye's landmark box ≈ 0
    for name in ("right_eye", "left_eye"):
        pts = lm[list(MESH_LOOPS[name])]
        (ex0, ey0), (ex1, ey1) = np.floor(pts.min(0)).astype(int), np.ceil(pts.max(0)).astype(int)
        frac = mask[ey0:ey1 + 1, ex0:ex1 + 1].mean()
        print(f"astronaut {name}: mean mask inside its landmark box = {frac:.3f}")
        assert frac < 0.02, name
    # nor the eyebrows and lips: mean mask value inside their landmark polygons ≈ 0
    import cv2

    for name in ("right_eyebrow", "left_eyebrow", "lips"):
        poly = np.zeros(mask.shape, np.uint8)
        cv2.fillPoly(poly, [np.round(lm[list(MESH_LOOPS[name])]).astype(np.int32)], 1)
        frac = mask[poly.astype(bool)].mean()
        print(f"astronaut {name}: mean mask inside its landmark polygon = {frac:.3f}")
        assert frac < 0.02, name
    for k in (52, 105, 282, 334, 79, 309, 2):  # brows (lower, upper edge), nostrils, subnasale
        x, y = np.round(lm[k]).astype(int)
        assert not mask[y, x], f"landmark {k} should be excluded"
    # and the mask is a substantial part of the face box
    cover = mask[y0:y1, x0:x1].mean()
    print(f"astronaut mesh mask covers {cover:.2f} of the face box")
    assert 0.35 < cover < 0.8


@pytest.mark.parametrize("name", ["detection", "haar"])
def test_fallback_detectors_on_astronaut(astronaut, astronaut_landmarks, name):
    det = make_face_detector(name)
    try:
        d = det.detect(astronaut)
    finally:
        det.close()
    assert d is not None and d.detector == name and 0 < d.confidence <= 1
    oval = astronaut_landmarks[list(MESH_LOOPS["face_oval"])]
    ref = np.array([*oval.min(0), *oval.max(0)])
    # calibrated onto the face-oval convention: within 8 % of the face width at every edge
    err = np.abs(d.box - ref) / (ref[2] - ref[0])
    print(f"{name} box vs face-oval box: edge errors {np.round(err, 3)} face widths")
    assert np.all(err < 0.08)
    track = roi_detect([astronaut[None]], fps=1.0, detector=name, fallbacks=None, torso=False)
    assert track.face_detector[0] == name
    mask = track.face_mask(0)
    lm = astronaut_landmarks
    for k in (50, 280, 151):  # cheeks, forehead
        x, y = np.round(lm[k]).astype(int)
        assert mask[y, x], f"{name}: landmark {k} should be skin"
    for k in (159, 386, 13):  # right-eye upper lid, left-eye upper lid, inner upper lip
        x, y = np.round(lm[k]).astype(int)
        assert not mask[y, x], f"{name}: landmark {k} should be excluded"


def test_torso_below_face_on_astronaut(astronaut):
    track = roi_detect([astronaut[None]], fps=1.0)
    assert track.torso_status[0] == "detected" and track.torso_detector[0] == "pose"
    fx0, fy0, fx1, fy1 = track.face_boxes[0]
    tx0, ty0, tx1, ty1 = track.torso_boxes[0]
    assert ty0 >= fy1 - 1 and ty1 > ty0 + 20  # starts at the chin or lower
    assert tx0 < (fx0 + fx1) / 2 < tx1  # spans the shoulders under the face
    assert tx1 - tx0 > 1.5 * (fx1 - fx0)
    assert track.torso_mask(0).sum() == (tx1 - tx0) * (ty1 - ty0)


# --- real clips ------------------------------------------------------------------------------------------
def test_face_mp4_detection_rate_and_jitter(face_track):
    t = face_track
    n = len(t)
    assert n == 301
    rate = float(np.mean(t.face_status == "detected"))
    med, mx = _jitter_stats(t.face_boxes_float)
    med_i, mx_i = _jitter_stats(t.face_boxes)
    print(f"face.mp4: face detected in {100 * rate:.1f}% of {n} frames ({set(t.face_detector)}); "
          f"box-centre jitter median {med:.3f} px, max {mx:.3f} px (integer boxes: {med_i:.2f}, {mx_i:.2f}); "
          f"face width {np.median(t.face_boxes[:, 2] - t.face_boxes[:, 0]):.0f} px")
    assert rate >= 0.95 and t.face_found_fraction >= 0.95
    assert med < 1.0 and mx < 4.0
    # every frame has a box of a plausible size, inside the frame
    w, h = t.frame_size
    fw = t.face_boxes[:, 2] - t.face_boxes[:, 0]
    assert np.all(fw > 0.5 * w) and np.all(t.face_boxes[:, 3] <= h)
    assert all(p.nbytes <= 1024 for p in t.points)  # compact per-frame storage, no masks kept


def test_face_mp4_torso_below_face(face_track):
    t = face_track
    ok = t.torso_status != "missing"
    print(f"face.mp4 torso: {t.summary()['torso_status']}")
    assert ok.mean() > 0.95
    assert np.all(t.torso_boxes[ok, 1] >= t.face_boxes[ok, 3] - 1)


def test_woman_torso_below_face(shared_data):
    path = shared_data / "motion_mag_other" / "woman.mp4"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    reader = VideoReader(path, end_s=1.0)
    t = roi_detect(reader.chunks(), reader.fps, source=str(path))
    print(f"woman.mp4 (1 s): {t.summary()}")
    assert np.mean(np.isin(t.torso_status, MEASURED)) > 0.9
    assert np.all(t.torso_boxes[:, 1] >= t.face_boxes[:, 3] - 1)
    assert np.all(t.torso_boxes[:, 3] > t.face_boxes[:, 3] + 50)
    assert np.mean(np.isin(t.face_status, MEASURED)) > 0.95


# --- failure behaviour, full frame ----------------------------------------------------------------------
def test_noise_has_no_face(rng):
    noise = rng.integers(0, 256, (12, 120, 160, 3), dtype=np.uint8)
    with pytest.raises(RoiNotFoundError, match=r"noise: no face in 1[12] of 12 frames .*frames 0–") as err:
        roi_detect([noise[:6], noise[6:]], fps=30, source="noise", torso=False)
    assert isinstance(err.value, RuntimeError)
    assert "\n" not in str(err.value) and "--roi full" in str(err.value)
    print(f"noise: {err.value}")


def test_roi_full_is_explicit_whole_frame(rng):
    noise = rng.integers(0, 256, (5, 48, 64, 3), dtype=np.uint8)
    t = roi_detect([noise], fps=10, roi="full")
    assert np.all(t.face_boxes == [0, 0, 64, 48]) and np.all(t.torso_boxes == [0, 0, 64, 48])
    assert set(t.face_status) == {"full"} and set(t.face_detector) == {"full"}
    assert t.face_mask(3).all() and t.face_mask(3).shape == (48, 64)


def test_gap_is_interpolated_and_marked(face_frames):
    clip = face_frames.copy()
    clip[10:15] = 0  # five black frames: nothing to detect
    t = roi_detect([clip[:8], clip[8:]], fps=30, torso=False, source="gap")
    assert list(t.face_status[10:15]) == ["interpolated"] * 5
    assert set(t.face_status[:10]) | set(t.face_status[15:]) == set(MEASURED)
    assert t.face_status[15] == "detected"  # the face is searched for on every frame of the gap
    assert t.face_found_fraction == pytest.approx(20 / 25)
    assert np.all(t.face_confidence[10:15] < t.face_confidence[9])
    assert t.face_confidence[12] < t.face_confidence[11]  # decays away from a detection
    lo, hi = np.minimum(t.face_boxes[9], t.face_boxes[15]), np.maximum(t.face_boxes[9], t.face_boxes[15])
    assert np.all((t.face_boxes[12] >= lo - 1) & (t.face_boxes[12] <= hi + 1))
    assert t.face_mask(12).sum() > 0.5 * t.face_mask(9).sum()
    # a stricter minimum fraction turns the same clip into an error naming the gap
    with pytest.raises(RoiNotFoundError, match="frames 10–14 of 0–24"):
        roi_detect([clip], fps=30, torso=False, min_face_fraction=0.9, source="gap")


def test_every_k_runs_detector_every_k_frames(face_frames):
    t = roi_detect([face_frames], fps=30, every=5, torso=False)
    runs = np.flatnonzero(t.face_status == "detected")
    # FaceMesh settles on its first frames (it runs until it agrees with the flow), then every 5th frame
    assert runs[0] == 0 and runs[1] == 1 and len(runs) >= 5 and set(np.diff(runs[-4:])) == {5}
    assert set(t.face_status) == {"detected", "tracked"}


def _moving(image: np.ndarray, n: int, step_px: float, zoom: float = 1.0, jump_at: int | None = None,
            jump_px: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` frames of ``image`` moving right by ``step_px`` a frame and zooming by ``zoom`` a frame about
    its centre (plus a jump at frame ``jump_at``); returns the frames and their 2x3 transforms."""
    import cv2

    h, w = image.shape[:2]
    frames, ms = [], []
    for k in range(n):
        s = zoom ** k
        dx = step_px * k + (jump_px if jump_at is not None and k >= jump_at else 0.0)
        m = np.array([[s, 0, (1 - s) * w / 2 + dx], [0, s, (1 - s) * h / 2]])
        frames.append(cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT))
        ms.append(m)
    return np.stack(frames), np.stack(ms)


def test_flow_follows_a_moving_face_between_detections(astronaut, monkeypatch):
    from physio.roi import tracking
    from physio.roi.flow import box_similarity

    frames, ms = _moving(astronaut, 20, step_px=1.5, zoom=1.005)
    # by default a face that moved > 5 % of its width since the last detection is detected again
    with RoiTracker("mesh", fallbacks=None, torso=False, fps=30, every=50, min_cutoff_hz=None) as tracker:
        runs = sum(tracker.update(f).face_status == "detected" for f in frames)
    print(f"astronaut moving 1.5 px + 0.5 % a frame (20 frames, ~30 % of its width): {runs} detector runs")
    assert 3 <= runs <= 12
    # the flow alone (no re-detection on motion) follows the true motion
    monkeypatch.setattr(tracking, "DRIFT_FRACTION", 10.0)
    with RoiTracker("mesh", fallbacks=None, torso=False, fps=30, every=50, min_cutoff_hz=None) as tracker:
        rois = [tracker.update(f) for f in frames]
    status = [r.face_status for r in rois]
    k = status.index("tracked")  # the first frames settle the detector (it ran until it agreed with the flow)
    assert k <= 3 and status[k:] == ["tracked"] * (20 - k)
    inv = np.linalg.inv(np.vstack([ms[k - 1], [0, 0, 1]]))[:2]
    b0 = box_similarity(inv, rois[k - 1].face_box_float)  # the last detection, taken back to frame 0
    truth = np.stack([box_similarity(m, b0) for m in ms])[k:]  # ... and carried by the true motion
    got = np.stack([r.face_box_float for r in rois])[k:]
    err = np.abs(got - truth)
    print(f"astronaut moving 1.5 px + 0.5 % a frame, {20 - k} tracked frames: box error mean {err.mean():.3f} px, "
          f"max {err.max():.3f} px (total motion {truth[-1, 0] - truth[0, 0]:.1f} px)")
    assert err.max() < 1.0
    # the skin mask follows: the last mask is the first one moved, not left behind
    first, last = rois[k].face_mask(), rois[-1].face_mask()
    cx0, cx1 = np.nonzero(first)[1].mean(), np.nonzero(last)[1].mean()
    assert cx1 - cx0 == pytest.approx((truth[-1, 0] + truth[-1, 2] - truth[0, 0] - truth[0, 2]) / 2, abs=1.5)


def test_flow_loss_redetects_at_once(astronaut):
    frames, _ = _moving(astronaut, 24, step_px=0.5, jump_at=8, jump_px=70.0)
    with RoiTracker("mesh", fallbacks=None, torso=False, fps=30, every=50, min_cutoff_hz=None) as tracker:
        rois = [tracker.update(f) for f in frames]
    status = [r.face_status for r in rois]
    assert status[7] == "tracked" and status[8] == "detected"  # the jump loses the flow: detect there
    # MediaPipe's own landmark tracking takes a few frames to catch up; the detector runs until it agrees
    # with the flow, then the flow takes over again
    k = status.index("tracked", 9)
    print(f"70 px jump at frame 8: detector ran on frames 8-{k - 1}, then tracked")
    assert k <= 16 and set(status[k:]) == {"tracked"}
    before = rois[7].face_box_float[0] + 0.5 * 16  # where the face would be at frame 23 without the jump
    assert rois[-1].face_box_float[0] - before == pytest.approx(70.0, abs=4.0)


def test_streaming_tracker_holds_then_loses(face_frames):
    black = np.zeros_like(face_frames[:4])
    with RoiTracker("mesh", fallbacks=None, torso=False, fps=30, max_hold_s=2 / 30) as tracker:
        rois = [tracker.update(f) for f in np.concatenate([face_frames[:3], black])]
    assert [r.face_status for r in rois][3:] == ["held", "held", "missing", "missing"]
    assert set(r.face_status for r in rois[:3]) <= {"detected", "tracked"}
    assert rois[3].face_box == rois[2].face_box and rois[5].face_box is None
    assert [r.index for r in rois] == list(range(7)) and rois[1].time_s == pytest.approx(1 / 30)
    assert rois[0].face_mask().any() and not rois[6].face_mask().any()


# --- small pieces ---------------------------------------------------------------------------------------
def test_one_euro_filter():
    f = OneEuroFilter(min_cutoff_hz=1.0, beta=0.0)
    assert np.allclose(f(np.array([5.0, 7.0]), 1 / 30), [5.0, 7.0])
    # a still input stays still; a step is followed with the first-order low-pass gain
    assert np.allclose(f(np.array([5.0, 7.0]), 1 / 30), [5.0, 7.0])
    out = f(np.array([6.0, 7.0]), 1 / 30)
    alpha = 1 / (1 + (1 / (2 * np.pi)) / (1 / 30))
    assert out[0] == pytest.approx(5 + alpha) and out[1] == 7.0


def test_frame_ranges_and_jitter():
    assert frame_ranges([0, 1, 2, 5, 7, 8]) == "0–2, 5, 7–8"
    assert frame_ranges(range(0, 20, 2), limit=2).endswith("(8 more ranges)")
    b = np.array([[0, 0, 10, 10], [3, 4, 13, 14]])
    assert box_jitter(b) == pytest.approx([5.0])


def test_skin_gate(astronaut):
    t = roi_detect([astronaut[None]], fps=1.0, torso=False)
    mask = t.face_mask(0)
    adaptive = t.face_mask(0, astronaut, "adaptive")
    assert not np.any(adaptive & ~mask)
    assert adaptive.sum() > 0.8 * mask.sum()
    with pytest.raises(InputError, match="needs the frame"):
        t.face_mask(0, None, "adaptive")
    with pytest.raises(InputError, match="unknown skin gate"):
        skin_gate(mask, astronaut, "hsv")


def test_bad_arguments(rng):
    frames = rng.integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    with pytest.raises(InputError, match="unknown face detector"):
        roi_detect([frames], fps=30, detector="dlib")
    with pytest.raises(InputError, match="every"):
        roi_detect([frames], fps=30, every=0)
    with pytest.raises(InputError, match="min_face_fraction"):
        roi_detect([frames], fps=30, min_face_fraction=1.5)
    with pytest.raises(InputError, match="uint8"):
        roi_detect([frames.astype(np.float32)], fps=30, roi="full")
    with pytest.raises(InputError, match="no frames"):
        roi_detect([], fps=30, roi="full")


# --- CLI ------------------------------------------------------------------------------------------------
def test_cli_writes_overlay_and_csv(face_clip, tmp_path, capsys):
    from physio.cli import main

    out = tmp_path / "roi"
    code = main(["roi", str(face_clip), "--start", "0.5", "--end", "1.0", "--torso-every", "3", "-o", str(out),
                 "--quiet"])
    assert code == 0
    info = video_info(out / "overlay.mp4")
    assert info.frame_count == 15 and (info.width, info.height) == (528, 592) and info.fps == 30
    df = pd.read_csv(out / "roi.csv")
    assert list(df.columns) == CSV_COLUMNS and len(df) == 15
    assert list(df["frame"]) == list(range(15, 30)) and df["time_s"].iloc[0] == pytest.approx(0.5)
    assert set(df["face_status"]) == {"detected", "tracked"} and set(df["face_detector"]) == {"mesh"}
    assert (df["face_status"] == "detected").sum() < 8  # the detector ran on a few frames only
    assert (df["face_x1"] > df["face_x0"]).all() and (df["torso_y0"] >= df["face_y1"] - 1).all()
    # the overlay shows the tinted mask: the cheek pixels changed, the top-right corner did not
    first = VideoReader(out / "overlay.mp4", end_s=1 / 30).read_all()[0].astype(int)
    orig = VideoReader(face_clip, start_s=0.5, end_s=0.5 + 1 / 30).read_all()[0].astype(int)
    assert np.abs(first[300:330, 120:150] - orig[300:330, 120:150]).mean() > 10
    assert np.abs(first[:10, -10:] - orig[:10, -10:]).mean() < 6
    assert "face found in 100.0%" in capsys.readouterr().out


def test_cli_full_roi_to_mp4_path(face_clip, tmp_path):
    from physio.cli import main

    out = tmp_path / "full.mp4"
    assert main(["roi", str(face_clip), "--end", "0.2", "--roi", "full", "-o", str(out), "--quiet"]) == 0
    df = pd.read_csv(tmp_path / "full.csv")
    assert len(df) == 6 and set(df["face_status"]) == {"full"}
    assert (df[["face_x0", "face_y0", "face_x1", "face_y1"]].to_numpy() == [0, 0, 528, 592]).all()
    assert video_info(out).frame_count == 6


def test_cli_noise_video_fails_with_one_line(tmp_path, rng, capsys):
    from physio.cli import main

    video = tmp_path / "noise.mp4"
    with VideoWriter(video, fps=15, lossless=True) as w:
        w.write(rng.integers(0, 256, (10, 96, 128, 3), dtype=np.uint8))
    out = tmp_path / "out"
    code = main(["roi", str(video), "-o", str(out), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and err[0].startswith("physio: error: ") and "no face in" in err[0]
    assert "noise.mp4" in err[0] and "--roi full" in err[0]
    assert not (out / "overlay.mp4").exists() and not (out / "roi.csv").exists()
