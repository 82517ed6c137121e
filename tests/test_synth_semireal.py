"""Semi-real sessions (`physio synth --from-video`): a real clip with its own pulse taken out and a known
pulse, breathing and head motion put in.  Everything is measured back from the written pixels.

Runs on ``evm_mit/face.mp4`` (528×592, 30 fps, pulse ≈ 53 bpm) read for 5 s at 264×296; skipped when
the shared clips are absent.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from physio.cohort import Cohort
from physio.cohort.check import cohort_check
from physio.errors import InputError

DURATION = 5.0
SIZE = "264x296"
SEED = 1
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _face(shared_data):
    return shared_data / "evm_mit" / "face.mp4"


@pytest.fixture(scope="module")
def source(shared_data):
    from physio.synth.semireal import source_prepare

    return source_prepare(_face(shared_data), duration_s=DURATION, size=SIZE)


@pytest.fixture(scope="module")
def cohort(source, tmp_path_factory):
    from physio.synth.semireal import semireal_cohort

    out = tmp_path_factory.mktemp("semireal") / "face.h5"
    semireal_cohort(out, [source], tasks="AD", seed=SEED, magnified=(10,), compression=None, progress=False)
    return out


def _read(path, key):
    with Cohort(path) as c:
        s = c.session(key)
        return {
            "frames": s.read_frames(),
            "pulse_x10": s.read_frames(video="pulse_x10"),
            "resp_x10": s.read_frames(video="resp_x10"),
            "skin": s.mask("skin"),
            "face": s.mask("face"),
            "torso": s.mask("torso"),
            "shoulders": s.mask("shoulders"),
            "pulse": s.signal_at_frames("pulse"),
            "resp": s.signal_at_frames("resp"),
            "attrs": s.attrs,
            "participant_attrs": s.participant_attrs,
            "warp": s.group["synth/warp"][()],
            "fps": s.fps,
            "videos": s.video_names,
            "masks": s.mask_names,
        }


def _skin_green(frames, skin):
    return np.array([frames[i][..., 1][skin[i]].astype(np.float64).mean() for i in range(len(frames))])


def _spectrum(x, fs, pad=16):
    y = (x - x.mean()) * np.hanning(len(x))
    f = np.fft.rfftfreq(pad * len(y), 1.0 / fs) * 60.0
    return f, np.abs(np.fft.rfft(y, pad * len(y))) ** 2


def _power_near(f, p, bpm, half=4.0):
    return float(p[(f >= bpm - half) & (f <= bpm + half)].max())


# -- (a) the file ---------------------------------------------------------------------------------------
def test_cohort_validates_with_expected_contents(cohort, shared_data):
    from physio.cohort.format import file_sha256

    assert cohort_check(cohort) == []
    with Cohort(cohort) as c:
        assert c.participants == ["face"]
        assert c.session_names("face") == ["task_A", "task_D"]
        assert c.attrs["semi_real"]
    for key, task in (("face/task_A", "A"), ("face/task_D", "D")):
        s = _read(cohort, key)
        n = int(round(DURATION * 30))
        assert s["frames"].shape == (n, 296, 264, 3)
        assert s["videos"] == ["pulse_x10", "resp_x10"]
        assert set(s["masks"]) == {"skin", "face", "torso", "background", "shoulders"}
        assert s["skin"].shape == (n, 296, 264) and s["skin"].sum(axis=(1, 2)).min() > 5000
        a = s["attrs"]
        assert a["task"] == task and a["semi_real"] and a["seed"] == SEED
        assert a["source_sha256"] == file_sha256(_face(shared_data))
        assert a["source_video"].endswith("face.mp4")
        assert 50 <= a["hr_bpm_nominal"] <= 110 and 0.002 <= a["pulse_amplitude"] <= 0.005
        assert a["resp_injected"] and 0.5 <= a["resp_amplitude_px"] <= 1.5 and 8 <= a["br_bpm_nominal"] <= 30
        # the clip's own pulse was found before cleaning, and little of its in-band power is left
        assert abs(a["source_hr_bpm_spectral"] - 53) < 6
        assert 0 <= a["removed_inband_ratio"] < 0.05
        assert s["participant_attrs"]["source_sha256"] == a["source_sha256"]


# -- (b) the injected heart rate is what the pixels say, not the clip's own ------------------------------
def test_injected_hr_recovered_and_natural_pulse_gone(cohort, source):
    from physio.rates.waveform import estimate_rate

    s = _read(cohort, "face/task_A")
    hr = s["attrs"]["hr_bpm_spectral"]
    assert abs(hr - 53) > 20, "the test needs an injected rate far from the clip's own"
    g = _skin_green(s["frames"], s["skin"])
    est = estimate_rate(g, s["fps"], "pulse", derivative=False, with_series=False).rate_per_min
    assert abs(est - hr) < 3.0, (est, hr)
    f, p = _spectrum(g, s["fps"])
    band = (f >= 40) & (f <= 130)
    assert abs(f[band][np.argmax(p[band])] - hr) < 3.0
    # in the untouched clip the natural pulse dominates the same band, near 53 bpm
    g0 = _skin_green(source.frames, source.skin)
    f0, p0 = _spectrum(g0, s["fps"])
    assert abs(f0[band][np.argmax(p0[band])] - 53) < 6
    # what is left near 53 bpm is mostly the injected peak's own skirt (5-s window, HRV)
    assert _power_near(f, p, 53) < 0.2 * _power_near(f, p, hr)
    assert _power_near(f, p, 53) < 0.15 * _power_near(f0, p0, 53)
    # cleaning alone (before injection) took the clip's own power near 53 bpm down by > 50x
    g1 = np.array([source.cleaned(i)[..., 1][source.skin[i]].mean() for i in range(source.n_frames)])
    f1, p1 = _spectrum(g1, s["fps"])
    assert _power_near(f1, p1, 53) < 0.02 * _power_near(f0, p0, 53)


# -- (c) the ground-truth pulse rendering differs from the frames by the pulse, on the skin only ----------
@pytest.mark.parametrize("key", ["face/task_A", "face/task_D"])
def test_pulse_x10_is_the_pulse_on_the_skin_only(cohort, key):
    s = _read(cohort, key)
    diff = s["pulse_x10"].astype(np.float64) - s["frames"]
    skin = s["skin"]
    d = np.array([diff[i][..., 1][skin[i]].mean() for i in range(len(diff))])
    assert np.corrcoef(d, s["pulse"])[0, 1] > 0.9
    # green amplitude: (10 − 1) × a × skin green (the pulse weight softens the 1-px edge a little)
    g = _skin_green(s["frames"], skin).mean()
    assert 0.7 < d.std() / (9 * s["attrs"]["pulse_amplitude"] * g) < 1.1
    kernel = np.ones((7, 7), np.uint8)
    outside = np.stack([cv2.dilate(m.astype(np.uint8), kernel) == 0 for m in skin])
    assert np.abs(diff[outside]).max() == 0
    # the red:green:blue ratio of the change is the DRM pulse signature 0.33 : 0.77 : 0.53
    rgb = np.array([[diff[i][..., c][skin[i]].mean() for c in range(3)] for i in range(len(diff))])
    base = np.array([s["frames"][len(diff) // 2][..., c][skin[len(diff) // 2]].mean() for c in range(3)])
    rel = rgb.std(axis=0) / base
    np.testing.assert_allclose(rel / rel[1], np.array([0.33, 0.77, 0.53]) / 0.77, rtol=0.1)


# -- breathing: resp_x10 moves the torso below the chin, as the stored signal says -----------------------
def test_resp_x10_moves_the_torso_only(cohort, source):
    s = _read(cohort, "face/task_A")
    diff = s["resp_x10"].astype(np.float64) - s["frames"]
    chin = int(source.stats["chin_y"])
    assert np.abs(diff[:, :chin]).max() == 0  # nothing above the chin
    torso = s["torso"][0] & (np.arange(296)[:, None] >= chin + 4)
    assert np.abs(diff[:, torso]).max() > 5
    # the moving region shifts up by (10 − 1)·d(t) in resp_x10 relative to frames: vertical phase correlation
    ys, xs = np.nonzero(source.breath_field > 0.99)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    win = cv2.createHanningWindow((int(x1 - x0), int(y1 - y0)), cv2.CV_64F)
    est = np.array([cv2.phaseCorrelate(s["frames"][i, y0:y1, x0:x1].astype(np.float64).sum(axis=2),
                                       s["resp_x10"][i, y0:y1, x0:x1].astype(np.float64).sum(axis=2), win)[0][1]
                    for i in range(len(diff))])  # fmt: skip
    assert np.corrcoef(est, s["resp"])[0, 1] < -0.95  # content moves up: negative image shift
    slope = np.polyfit(s["resp"], est, 1)[0]
    assert -9 * 1.2 < slope < -9 * 0.6  # less than 9 near the bottom edge, where the border is reflected


# -- (d) head motion: none in task A, several pixels in task D, pixels and masks together ----------------
def test_task_a_still_task_d_moves(cohort, source):
    a = _read(cohort, "face/task_A")
    d = _read(cohort, "face/task_D")
    ident = np.array([[1, 0, 0], [0, 1, 0]], np.float32)
    assert np.all(a["warp"] == ident)
    np.testing.assert_array_equal(a["skin"], source.skin)
    assert a["shoulders"].ndim == 2 and d["shoulders"].ndim == 3

    def centres(mask):
        return np.array([[np.nonzero(m)[1].mean(), np.nonzero(m)[0].mean()] for m in mask])

    ca, cd = centres(a["face"]), centres(d["face"])
    assert np.ptp(ca[:, 0]) < 8  # the clip's own slight motion only
    shift = cd - ca
    assert np.abs(shift[:, 0]).max() > 8
    # the pixels moved with the masks: phase correlation of the face region of D against A
    x0, y0, x1, y1 = source.bbox
    win = cv2.createHanningWindow((x1 - x0, y1 - y0), cv2.CV_64F)
    i = int(np.argmax(np.abs(shift[:, 0])))
    fa = a["frames"][i, y0:y1, x0:x1, 1].astype(np.float64)
    fd = d["frames"][i, y0:y1, x0:x1, 1].astype(np.float64)
    (sx, sy), _ = cv2.phaseCorrelate(fa, fd, win)
    assert abs(sx - shift[i, 0]) < 2.0 and abs(sy - shift[i, 1]) < 2.0, ((sx, sy), shift[i])


# -- (e) determinism ---------------------------------------------------------------------------------------
def test_same_seed_identical_other_seed_differs(cohort, source):
    from physio.synth.semireal import semireal_session

    mem = semireal_session(source, "A", seed=SEED, magnified=(10,))
    disk = _read(cohort, "face/task_A")
    np.testing.assert_array_equal(mem.frames, disk["frames"])
    np.testing.assert_array_equal(mem.videos["pulse_x10"], disk["pulse_x10"])
    np.testing.assert_array_equal(mem.masks["skin"] > 0, disk["skin"])
    assert mem.attrs["hr_bpm"] == disk["attrs"]["hr_bpm"]
    other = semireal_session(source, "A", seed=SEED + 1)
    assert abs(other.attrs["hr_bpm_nominal"] - mem.attrs["hr_bpm_nominal"]) > 0.5
    assert not np.array_equal(other.frames, mem.frames)
    second = semireal_session(source, "A", session_index=1, seed=SEED)
    assert second.attrs["hr_bpm_nominal"] != mem.attrs["hr_bpm_nominal"]


# -- the command line ---------------------------------------------------------------------------------------
def test_cli_from_video_videos_then_output(tmp_path, shared_data, cohort):
    """`physio synth --from-video VIDEO OUT.h5` reads the clip again from scratch: the same seed gives the
    same session as the library call of the fixture (ROI tracking included)."""
    from physio.cli import main

    out = tmp_path / "cli.h5"
    code = main(["synth", "--from-video", str(_face(shared_data)), str(out), "--tasks", "A", "--seed", str(SEED),
                 "--magnified", "10", "--duration", str(DURATION), "--size", SIZE, "-q"])  # fmt: skip
    assert code == 0
    assert cohort_check(out) == []
    with Cohort(out) as c:
        assert c.participants == ["face"] and c.session_names("face") == ["task_A"]
        s = c.session("face/task_A")
        frames = s.read_frames()
        hr = s.attrs["hr_bpm"]
    ref = _read(cohort, "face/task_A")
    np.testing.assert_array_equal(frames, ref["frames"])
    assert hr == ref["attrs"]["hr_bpm"]


def test_cli_no_face_fails_cleanly(tmp_path, shared_data, capsys):
    from physio.cli import main

    out = tmp_path / "noface.h5"
    clip = shared_data / "synthetic_known_freq" / "square_4Hz_2000px.avi"
    assert main(["synth", str(out), "--from-video", str(clip), "--duration", "2", "-q"]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("physio")]
    assert len(err) == 1 and "no face found" in err[0] and "square_4Hz" in err[0]
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_library_no_face_raises_input_error(shared_data, tmp_path):
    from physio.synth.semireal import semireal_cohort

    with pytest.raises(InputError, match="no face found"):
        semireal_cohort(tmp_path / "x.h5", [shared_data / "synthetic_known_freq" / "square_6Hz_2000px.avi"],
                        tasks="A", duration_s=2.0, progress=False)  # fmt: skip
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["--from-video", "a.mp4", "-q"], "missing OUT.h5"),
        (["--from-video", "a.mp4", "b.mp4", "-q"], "missing OUT.h5"),
        (["out.h5", "--from-video", "nowhere.mp4", "-q"], "no such video file"),
        (["out.h5", "--from-video", "a.mp4", "--participants", "3", "-q"], "--participants does not apply"),
        (["out.h5", "--sessions-per-video", "2", "-q"], "only to --from-video"),
        (["-q"], "missing OUT.h5"),
    ],
)
def test_cli_argument_errors(tmp_path, capsys, monkeypatch, argv, match):
    from physio.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["synth", *argv]) == 2
    assert match in capsys.readouterr().err
    assert not (tmp_path / "out.h5").exists()


def test_participant_names():
    from physio.synth.semireal import clip_participant_names

    assert clip_participant_names(["a/face.mp4", "b/face.mp4", "c d/my clip(1).avi", "x/é.mp4"]) == [
        "face", "face-2", "my_clip_1_", "_"]  # fmt: skip
