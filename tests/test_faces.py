"""Several people in one video: faces found, linked into stable ids, measured each in its own region."""

from __future__ import annotations

import json

import numpy as np
import pytest

from helpers import side_by_side_clips
from physio.cli import main
from physio.roi.detectors import Detection
from physio.roi.faces import face_regions, find_faces


class _Scripted:
    """A detector answering from a script: frame index → boxes."""

    def __init__(self, script):
        self.script, self.i = script, 0

    def detect_all(self, frame):
        boxes = self.script(self.i)
        self.i += 1
        return [Detection(np.array(b, float), 0.9, "detection") for b in boxes]


def _chunks(n, size=(120, 200)):
    for s in range(0, n, 16):
        yield np.zeros((min(16, n - s), *size, 3), np.uint8)


def test_tracks_keep_their_ids_and_are_ordered_by_size():
    def script(i):
        small = [150 + i * 0.5, 20, 180 + i * 0.5, 55]  # appears first, drifts right
        big = [20, 30, 90 - i * 0.2, 110]  # appears at the third scan, larger
        ghost = [100, 100, 110, 110]  # seen once: not a person
        out = [small]
        if i >= 2:
            out.insert(0, big)  # the detector's order changes; the ids do not
        if i == 5:
            out.append(ghost)
        return out

    tracks = find_faces(_chunks(300), 30.0, detector=_Scripted(script))
    assert [t.id for t in tracks] == [1, 0]  # largest first; ids by first appearance
    small, big = tracks[1], tracks[0]
    assert len(small.frames) == 20 and len(big.frames) == 18 and small.frames[:2] == [0, 15]
    assert small.presence == 1.0 and big.presence == pytest.approx(0.9)
    regions = face_regions(tracks, (120, 200))
    (bx0, _, bx1, _), (sx0, _, sx1, _) = regions
    assert bx0 == 0 and sx1 == 200
    assert bx1 == 120  # the big face's region is cut half-way between the faces (90 … 150)
    assert 90 < sx0 < 150  # the small one's margin stops short of the big face: no cut needed
    assert find_faces(_chunks(300), 30.0, detector=_Scripted(lambda i: [])) == []


@pytest.mark.slow
def test_two_real_faces_side_by_side(shared_data, tmp_path, capsys):
    """MIT's face.mp4 beside woman.mp4 (both 360 px high, 30 fps): two faces, each measured as in its
    clip alone within 2 bpm; `--face largest` gives today's single answer."""
    alone, both = side_by_side_clips([shared_data / "evm_mit" / "face.mp4",
                                      shared_data / "motion_mag_other" / "woman.mp4"], tmp_path)
    singles = []
    for clip in alone:
        assert main(["rates", str(clip), "--json", "-q"]) == 0
        singles.append(json.loads(capsys.readouterr().out))
    assert main(["rates", str(both), "--json", "-q", "-o", str(tmp_path / "o")]) == 0
    out = json.loads(capsys.readouterr().out)
    faces = out["faces"]
    assert len(faces) == 2 and sorted(f["id"] for f in faces) == [0, 1]
    by_side = sorted(faces, key=lambda f: f["box"][0])  # face.mp4 is on the left
    width0 = 2 * round(528 * 360 / 592 / 2)
    assert by_side[0]["box"][2] < width0 < by_side[1]["box"][0]
    for f, single in zip(by_side, singles):
        print(f"face {f['id']}: {f['hr_bpm']} bpm vs alone {single['hr_bpm']} bpm")
        assert abs(f["hr_bpm"] - single["hr_bpm"]) <= 2.0
        assert f["region"][0] <= f["face_box"][0] and f["face_box"][2] <= f["region"][2]
    assert out["hr_bpm"] == faces[0]["hr_bpm"]  # the top level is the largest face
    assert (tmp_path / "o" / f"face_{faces[1]['id']}" / "rates.png").exists()
    assert main(["rates", str(both), "--json", "-q", "--face", "largest", "--method", "pos"]) == 0
    assert len(json.loads(capsys.readouterr().out.splitlines()[-1])["faces"]) == 1
