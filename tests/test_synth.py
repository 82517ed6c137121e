"""Tests for physio.synth: the rendered physics is measured back from the pixels.

* pulse: the skin-ROI green mean peaks at the true heart rate, the background's does not, and the
  R:G:B pulsatile strengths follow ``u_p``;
* respiration: phase correlation of the shoulder band peaks at the true breathing rate;
* ground-truth magnification: ``pulse_x{α} − frames = (α−1) × pulsatile term`` on skin, exactly 0
  elsewhere; ``resp_x{α}`` moves the shoulders α times as far and leaves the far background untouched;
* determinism per seed, cohort format validity, the CLI, input errors.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi
from scipy.signal import butter, sosfiltfilt

from physio.errors import InputError
from physio.synth import (
    PULSE_RGB,
    head_motion,
    participant_sample,
    pulse_simulate,
    resp_simulate,
    synth_cohort,
    synth_session,
)

FPS = 30.0


def _participant(index: int = 1, seed: int = 0, **changes):
    p = participant_sample(np.random.SeedSequence(seed, spawn_key=(index, 0)), f"p{index + 1:03d}")
    return p.replace(**changes) if changes else p


def _spectral_peak_per_min(x: np.ndarray, fs: float, lo_hz: float, hi_hz: float) -> float:
    y = (x - x.mean()) * np.hanning(len(x))
    n = 16 * len(y)
    f = np.fft.rfftfreq(n, 1.0 / fs)
    mag = np.abs(np.fft.rfft(y, n))
    sel = (f >= lo_hz) & (f <= hi_hz)
    return float(f[sel][np.argmax(mag[sel])] * 60.0)


def _snr_db(x: np.ndarray, fs: float, rate_per_min: float, lo_hz: float = 0.7, hi_hz: float = 3.0) -> float:
    """Power within ±6 /min of the rate and its first harmonic over the rest of the band (rPPG SNR)."""
    y = (x - x.mean()) * np.hanning(len(x))
    n = 8 * len(y)
    f = np.fft.rfftfreq(n, 1.0 / fs) * 60.0
    pw = np.abs(np.fft.rfft(y, n)) ** 2
    band = (f >= lo_hz * 60) & (f <= hi_hz * 60)
    sig = band & ((np.abs(f - rate_per_min) <= 6) | (np.abs(f - 2 * rate_per_min) <= 6))
    return float(10 * np.log10(pw[sig].sum() / pw[band & ~sig].sum()))


def _roi_means(frames: np.ndarray, masks: np.ndarray) -> np.ndarray:
    return np.array([frames[k][masks[k]].mean(axis=0) for k in range(len(frames))], dtype=np.float64)


# ---------------------------------------------------------------------------------------------------
# Pulse
# ---------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def still_session():
    """Task A, 20 s at 96x72: low RSA so the spectral peak sits at the mean heart rate."""
    p = _participant(1, rsa=0.02, ibi_randomness=0.05, pulse_amplitude=0.003, hr_bpm=72.0, resp_amplitude=0.012)
    return synth_session(p, "A", duration_s=20.0, size=(96, 72), fps=FPS, seed=3)


def test_skin_green_peaks_at_true_hr_background_does_not(still_session):
    s = still_session
    sos = butter(3, [0.7, 3.0], btype="band", fs=FPS, output="sos")
    skin_g = sosfiltfilt(sos, _roi_means(s.frames, s.masks["skin"])[:, 1])
    # background away from the person's outline (mixed pixels there hold a little skin)
    background = np.stack([ndi.binary_erosion(m, iterations=2) for m in s.masks["background"]])
    bg_g = sosfiltfilt(sos, _roi_means(s.frames, background)[:, 1])
    hr = s.hr_bpm
    assert _spectral_peak_per_min(skin_g, FPS, 0.7, 3.0) == pytest.approx(hr, abs=2.0)
    assert _snr_db(skin_g, FPS, hr) > 2.0
    assert _snr_db(bg_g, FPS, hr) < -3.0  # white: 24 of 138 /min in the signal bins gives -6.8 dB
    assert bg_g.std() < 0.1 * skin_g.std()
    # the pulse is a fraction of a percent of the skin's DC level
    dc = _roi_means(s.frames, s.masks["skin"])[:, 1].mean()
    assert 0.0005 < skin_g.std() / dc < 0.01


def test_pulse_strengths_follow_u_p():
    # a motionless head: with natural motion, sub-pixel texture motion in the pulse band biases a
    # 20-s estimate of the weak red amplitude by up to ~30 % (the confound DeepMag is about)
    p = _participant(1, rsa=0.02, ibi_randomness=0.05, pulse_amplitude=0.003, hr_bpm=72.0)
    s = synth_session(p, "A", duration_s=15.0, size=(96, 72), fps=FPS, seed=3, natural_motion=0.0)
    rgb = _roi_means(s.frames, s.masks["skin"])
    sos = butter(3, [0.7, 3.0], btype="band", fs=FPS, output="sos")
    p_bp = sosfiltfilt(sos, s.timeline.pulse)
    ac = np.array([np.dot(sosfiltfilt(sos, rgb[:, k]), p_bp) / np.dot(p_bp, p_bp) for k in range(3)])
    rel = ac / rgb.mean(axis=0)  # AC/DC per channel
    u = np.asarray(PULSE_RGB)
    assert rel[1] / rel[0] == pytest.approx(u[1] / u[0], rel=0.1)
    assert rel[1] / rel[2] == pytest.approx(u[1] / u[2], rel=0.1)
    # and the relative green amplitude is the participant's (mask and spatial weights average out)
    assert rel[1] == pytest.approx(s.participant.pulse_amplitude, rel=0.35)
    assert rel[1] > 0.0005  # a fraction of a percent


def test_pulse_only_on_skin_and_magnified_difference_is_exact():
    p = _participant(2, pulse_amplitude=0.004)
    s = synth_session(p, "D", duration_s=3.0, size=(96, 72), fps=FPS, seed=5, magnified=(10,), pulse_term=True)
    alpha = 10.0
    plain = s.frames.astype(np.float64)
    mag = s.videos["pulse_x10"].astype(np.float64)
    diff = mag - plain
    term = s.pulse_term.astype(np.float64)
    unclipped = (s.frames > 0) & (s.frames < 255) & (s.videos["pulse_x10"] > 0) & (s.videos["pulse_x10"] < 255)
    # on skin: (α−1) × the pulsatile term, up to the two roundings to integers
    err = np.abs(diff - (alpha - 1) * term)[unclipped]
    assert err.max() <= 1.0 + 1e-6
    assert err.mean() < 0.1
    # off skin: nothing at all (no pulse, identical noise)
    support = np.abs(term).max(axis=-1) > 0
    assert not np.any(diff[~support])
    skin = s.masks["skin"]
    assert support[skin].mean() > 0.99
    # the pulse lives on skin pixels; outside the skin mask (coverage >= 0.5) only on mixed pixels
    # of the outline and the hairline, which hold < 10 % of it
    assert np.abs(term)[~skin].sum() < 0.1 * np.abs(term).sum()
    near = np.stack([ndi.binary_dilation(m, iterations=3) for m in skin])
    assert np.abs(term)[~near].max() < 0.02 * np.abs(term).max()
    background = np.stack([ndi.binary_erosion(m, iterations=2) for m in s.masks["background"]])
    assert not np.any(term[background])
    # the magnified pulse is visible: on skin the difference follows p(t)
    dg = np.array([diff[k, ..., 1][s.masks["skin"][k]].mean() for k in range(len(diff))])
    assert np.corrcoef(dg, s.timeline.pulse)[0, 1] > 0.99


# ---------------------------------------------------------------------------------------------------
# Respiration
# ---------------------------------------------------------------------------------------------------
def test_shoulder_motion_peaks_at_true_br(still_session):
    from skimage.registration import phase_cross_correlation

    s = still_session
    g = s.frames[..., 1].astype(np.float64)
    band = s.masks["shoulders"]
    lab, n = ndi.label(band)
    assert n == 2  # left and right shoulder
    tracks = []
    for i in (1, 2):
        ys, xs = np.nonzero(lab == i)
        r0, r1, c0, c1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
        win = np.outer(np.hanning(r1 - r0 + 2)[1:-1], np.hanning(c1 - c0 + 2)[1:-1]) * band[r0:r1, c0:c1]
        ref = (g[0, r0:r1, c0:c1] - g[0, r0:r1, c0:c1].mean()) * win
        d = []
        for k in range(len(g)):
            cur = (g[k, r0:r1, c0:c1] - g[k, r0:r1, c0:c1].mean()) * win
            d.append(phase_cross_correlation(ref, cur, upsample_factor=50, normalization=None)[0][0])
        tracks.append(d)
    dy = np.mean(tracks, axis=0)
    br = s.attrs["br_bpm_spectral"]
    assert _spectral_peak_per_min(dy, FPS, 0.1, 0.7) == pytest.approx(br, abs=1.0)
    assert np.corrcoef(dy, s.resp[:: 4])[0, 1] > 0.9
    # sub-pixel: the whole breath is about a pixel at this size
    assert 0.3 < np.ptp(s.resp) < 3.0


def _edge_rows(frames: np.ndarray, cols: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Sub-pixel row of the dark-background → clothing edge, averaged over columns, per frame."""
    g = frames[..., 1].astype(np.float64)
    out = []
    for k in range(len(g)):
        rows = []
        for c in cols:
            prof = g[k, lo:hi, c]
            level = 0.5 * (prof[:3].mean() + prof[-3:].mean())
            i = np.flatnonzero((prof[:-1] < level) & (prof[1:] >= level))
            if len(i):
                i = i[0]
                rows.append(lo + i + (level - prof[i]) / (prof[i + 1] - prof[i]))
        out.append(np.mean(rows))
    return np.array(out)


def test_resp_magnified_moves_shoulders_alpha_times_and_nothing_else():
    p = _participant(1, clothing_pattern="plain", resp_amplitude=0.01)
    s = synth_session(p, "B", duration_s=12.0, size=(96, 72), fps=FPS, seed=4, magnified=(10,))
    resp = s.resp[::4]  # upward shoulder displacement (px) at the frames
    band = s.masks["shoulders"]
    cols = np.flatnonzero(band.any(axis=0))
    rows = np.flatnonzero(band.any(axis=1))
    lo, hi = max(0, rows.min() - 6), min(s.frames.shape[1], rows.max() + 6)
    k1 = np.polyfit(resp, _edge_rows(s.frames, cols, lo, hi), 1)[0]
    k10 = np.polyfit(resp, _edge_rows(s.videos["resp_x10"], cols, lo, hi), 1)[0]
    assert k1 == pytest.approx(-1.0, rel=0.1)  # the edge rises by the stored displacement
    assert k10 == pytest.approx(-10.0, rel=0.1)
    far = ndi.binary_erosion(s.masks["background"].all(axis=0), iterations=12)
    assert far.sum() > 100
    assert np.array_equal(s.frames[:, far], s.videos["resp_x10"][:, far])


# ---------------------------------------------------------------------------------------------------
# Signals, participants, motion
# ---------------------------------------------------------------------------------------------------
def test_participants_cover_the_documented_ranges():
    ps = [participant_sample(i, f"p{i:03d}") for i in range(300)]
    hr = np.array([p.hr_bpm for p in ps])
    br = np.array([p.br_bpm for p in ps])
    assert hr.min() >= 45 and hr.max() <= 150 and hr.max() - hr.min() > 90
    assert br.min() >= 8 and br.max() <= 30 and br.max() - br.min() > 18
    assert {p.fitzpatrick for p in ps} == {1, 2, 3, 4, 5, 6}
    amp = np.array([p.pulse_amplitude for p in ps])
    assert amp.min() > 0 and amp.max() < 0.01  # a fraction of a percent
    # darker skin (higher type) has a darker skin colour
    lum = {k: np.mean([np.mean(p.skin_rgb) for p in ps if p.fitzpatrick == k]) for k in range(1, 7)}
    assert all(lum[k] > lum[k + 1] for k in range(1, 6))


@pytest.mark.parametrize("hr", [45.0, 150.0])
def test_pulse_simulate_rate_and_no_skipped_modulation(hr, recwarn):
    fs = 120.0
    p = pulse_simulate(int(30 * fs), fs, hr, rsa=0.3, ibi_randomness=0.3, rng=1)
    assert p.mean() == pytest.approx(0, abs=1e-9) and p.std() == pytest.approx(1, abs=1e-9)
    from scipy.signal import find_peaks

    peaks, _ = find_peaks(p, distance=int(0.6 * 60 / hr * fs), prominence=1.0)
    rate = 60 * (len(peaks) - 1) / ((peaks[-1] - peaks[0]) / fs)
    assert rate == pytest.approx(hr, rel=0.04)
    assert not [w for w in recwarn if "neurokit2" in str(w.message)]  # settings clamped, never skipped


def test_resp_simulate_rate():
    fs = 120.0
    r = resp_simulate(int(60 * fs), fs, 15.0, rng=2)
    assert np.percentile(r, 98) - np.percentile(r, 2) == pytest.approx(1.0)
    assert _spectral_peak_per_min(r, fs, 0.1, 0.7) == pytest.approx(15.0, abs=1.0)


def test_task_motions_follow_the_protocol():
    n = int(60 * FPS)
    a = head_motion("A", n, FPS, rng=0)
    b = head_motion("B", n, FPS, rng=0)
    c = head_motion("C", n, FPS, rng=0)
    d = head_motion("D", n, FPS, rng=0)
    assert np.abs(a.yaw_deg).max() < 10
    for m, speed in ((b, 10.0), (c, 30.0)):
        assert m.yaw_deg.max() > 55 and m.yaw_deg.min() < -55
        assert np.median(np.abs(np.diff(m.yaw_deg)) * FPS) == pytest.approx(speed, rel=0.15)
    # D: about one reorientation per second, to targets on a 20-degree grid
    moving = np.abs(np.diff(d.yaw_deg)) * FPS > 20
    starts = np.flatnonzero(moving[1:] & ~moving[:-1])
    assert 50 <= len(starts) <= 61
    held = d.yaw_deg[np.flatnonzero(~moving)]
    assert np.median(np.abs(held - 20 * np.round(held / 20))) < 3
    # head motion overlaps the pulse band (0.7-2.5 Hz) in frequency, as in the paper's data
    for m in (a, d):
        f = np.fft.rfftfreq(n, 1 / FPS)
        pw = np.abs(np.fft.rfft(m.dx * 100 + m.yaw_deg)) ** 2
        assert pw[(f > 0.7) & (f < 2.5)].sum() > 1e-3 * pw[1:].sum()


# ---------------------------------------------------------------------------------------------------
# Determinism, cohort files, CLI
# ---------------------------------------------------------------------------------------------------
def test_same_seed_same_session_different_seed_different_participant():
    a = synth_session(None, "C", duration_s=1.0, size=(64, 48), seed=11, magnified=(5,))
    b = synth_session(None, "C", duration_s=1.0, size=(64, 48), seed=11, magnified=(5,))
    c = synth_session(None, "C", duration_s=1.0, size=(64, 48), seed=12)
    assert np.array_equal(a.frames, b.frames)
    assert np.array_equal(a.videos["resp_x5"], b.videos["resp_x5"])
    assert np.array_equal(a.pulse, b.pulse) and np.array_equal(a.resp, b.resp)
    assert a.participant == b.participant
    assert a.participant != c.participant
    assert a.participant.hr_bpm != c.participant.hr_bpm
    assert not np.array_equal(a.frames, c.frames)


def _read_all(path):
    import h5py

    out = {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                out[name] = obj[()]
            out[name + "@attrs"] = {k: np.asarray(v).tolist() for k, v in obj.attrs.items()}

        f.visititems(visit)
    return out


def test_cohort_is_deterministic_valid_and_loads(tmp_path):
    from physio.cohort import Cohort

    kw = dict(participants=2, tasks="A,B", duration_s=1.0, size=(64, 48), seed=7, magnified=(10,), progress=False)
    p1 = synth_cohort(tmp_path / "one.h5", workers=1, **kw)
    p2 = synth_cohort(tmp_path / "two.h5", workers=2, **kw)
    d1, d2 = _read_all(p1), _read_all(p2)
    d1.pop("@attrs", None), d2.pop("@attrs", None)
    assert d1.keys() == d2.keys()
    for k in d1:
        if isinstance(d1[k], np.ndarray):
            assert np.array_equal(d1[k], d2[k]), k
        else:
            assert d1[k] == d2[k], k
    other = synth_cohort(tmp_path / "other.h5", workers=1, **dict(kw, seed=8, participants=1, tasks="A"))
    with Cohort(p1) as c, Cohort(other) as o:
        assert c.participants == ["p001", "p002"]
        sessions = list(c.sessions())
        assert [s.key for s in sessions] == ["p001/task_A", "p001/task_B", "p002/task_A", "p002/task_B"]
        s = c.session("p002/task_B")
        assert s.task == "B" and s.n_frames == 30 and s.frame_size == (64, 48) and s.fps == 30.0
        assert s.video_names == ["pulse_x10", "resp_x10"]
        assert set(s.mask_names) == {"skin", "face", "torso", "background", "shoulders"}
        assert s.mask("skin").shape == (30, 48, 64) and s.mask("shoulders").shape == (48, 64)
        assert s.read_frames(0, 5, video="pulse_x10").shape == (5, 48, 64, 3)
        assert s.pulse_fs == 120.0 and len(s.pulse) == 120 and len(s.resp) == 120
        assert np.allclose(s.pulse_times[::4], s.frame_times)
        pa = s.participant_attrs
        assert 45 <= pa["hr_bpm"] <= 150 and 8 <= pa["br_bpm"] <= 30 and 1 <= pa["fitzpatrick"] <= 6
        assert 45 <= s.attrs["hr_bpm"] <= 150
        assert c.participant_attrs("p001") != o.participant_attrs("p001")
    from physio.cohort import cohort_check

    assert cohort_check(p1) == []


def test_mediapipe_finds_the_face():
    fd = pytest.importorskip("mediapipe.python.solutions.face_detection")
    s = synth_session(_participant(4, fitzpatrick=5, skin_rgb=(0.51, 0.34, 0.235)), "C", duration_s=1.0,
                      size=(320, 240), seed=2)  # fmt: skip
    face = s.masks["face"]
    with fd.FaceDetection(model_selection=0, min_detection_confidence=0.5) as det:
        for k in (0, len(s.frames) - 1):  # frontal, then about 30 degrees of yaw
            res = det.process(s.frames[k])
            assert res.detections, f"no face found in frame {k}"
            box = res.detections[0].location_data.relative_bounding_box
            x0, y0 = int(box.xmin * 320), int(box.ymin * 240)
            x1, y1 = int((box.xmin + box.width) * 320), int((box.ymin + box.height) * 240)
            inside = face[k][max(0, y0) : y1, max(0, x0) : x1].sum() / face[k].sum()
            assert inside > 0.6


def test_cli_synth(tmp_path, capsys):
    from physio.cli import main
    from physio.cohort import Cohort

    out = tmp_path / "c.h5"
    code = main(["synth", str(out), "--participants", "1", "--tasks", "D", "--duration", "1", "--size", "64x48",
                 "--seed", "3", "--magnified", "4", "--workers", "1", "--quiet"])  # fmt: skip
    assert code == 0
    with Cohort(out) as c:
        s = c.session("p001/task_D")
        assert s.task == "D" and s.video_names == ["pulse_x4", "resp_x4"]
    assert main(["synth", str(tmp_path / "bad.h5"), "--tasks", "E", "--quiet"]) == 2
    assert "task must be one of" in capsys.readouterr().err
    assert not (tmp_path / "bad.h5").exists()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(task="E"), "task must be one of"),
        (dict(size=(16, 12)), "size must be at least"),
        (dict(size="big"), "size must look like"),
        (dict(magnified=(1,)), "not 1"),
        (dict(duration_s=0.01), "at least 2 frames"),
    ],
)
def test_input_errors(kwargs, match):
    with pytest.raises(InputError, match=match):
        synth_session(**{**dict(duration_s=1.0, size=(64, 48)), **kwargs})


def test_h264_round_trip_keeps_size_and_content():
    raw = synth_session(None, "A", duration_s=1.0, size=(64, 48), seed=1, magnified=(5,))
    enc = synth_session(None, "A", duration_s=1.0, size=(64, 48), seed=1, magnified=(5,), crf=18)
    assert enc.frames.shape == raw.frames.shape and enc.videos["pulse_x5"].shape == raw.frames.shape
    err = np.abs(enc.frames.astype(np.int16) - raw.frames)
    assert 0 < err.mean() < 6  # lossy, but the same picture


def test_sigterm_leaves_no_partial_cohort(tmp_path):
    """A scheduler's SIGTERM mid-run: `physio synth` exits 143 and removes its shards and partial file."""
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "c.h5"
    proc = subprocess.Popen(
        [sys.executable, "-m", "physio.cli", "synth", str(out), "--participants", "4", "--tasks", "A",
         "--duration", "20", "--workers", "1", "--seed", "3"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not any(p.name.startswith(".c.h5.shards-") for p in tmp_path.iterdir()):
        time.sleep(0.2)
    time.sleep(1.0)  # inside the rendering of the first session
    assert proc.poll() is None, "synth finished before it could be stopped"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert "terminated" in err
    assert list(tmp_path.iterdir()) == []  # no cohort, no shards, no partial file
