"""`physio rates` on a video of several people: one result per face.

The faces are found and given stable ids by :func:`physio.roi.faces.find_faces`; each is measured by
:func:`physio.rates.measure.measure_rates` in its own region of the frame (:func:`physio.roi.faces.face_regions`),
as if that region were the whole video.  With one face (or ``face="largest"``) the whole frame is measured,
exactly as a single-face video always was.  The report's top level is the largest face's (the keys users'
scripts read stay where they were); ``faces`` lists every face's report, largest first, each with its
``id``, median ``box`` and the ``region`` it was measured in, in frame coordinates.
"""

from __future__ import annotations

from physio.errors import InputError
from physio.io import VideoReader, chunk_frames
from physio.rates.measure import RatesReport, measure_rates
from physio.roi.faces import face_regions, find_faces

__all__ = ["FACE_CHOICES", "measure_faces"]

FACE_CHOICES = ("all", "largest")


def _shift_boxes(report: RatesReport, region) -> None:
    """Boxes measured inside ``region`` → frame coordinates."""
    x0, y0 = region[0], region[1]
    for key in ("face_box", "torso_box"):
        box = report.extra.get(key)
        if box is not None:
            report.extra[key] = [box[0] + x0, box[1] + y0, box[2] + x0, box[3] + y0]


def measure_faces(video, face: str = "all", *, start_s: float | None = None, end_s: float | None = None,
                  fps: float | None = None, roi: str = "face", progress: bool = True, **kwargs):
    """HR/BR per face of ``video``; returns ``(report, arrays, per_face)``.

    ``report``/``arrays`` are the largest face's (:func:`~physio.rates.measure.measure_rates`); ``report``
    carries ``faces`` (one entry per face, largest first); ``per_face`` is ``[(face_info, report, arrays)]``
    in the same order.  ``face="largest"`` or ``roi="full"``: the whole frame, one entry.
    """
    if face not in FACE_CHOICES:
        raise InputError(f"face must be one of {FACE_CHOICES}, got {face!r}")
    common = dict(start_s=start_s, end_s=end_s, fps=fps, roi=roi, progress=progress, **kwargs)
    tracks = []
    if face == "all" and roi == "face":
        reader = VideoReader(video, start_s=start_s, end_s=end_s, fps=fps)
        reader.chunk_size = chunk_frames(reader.width, reader.height)
        tracks = find_faces(reader.chunks(prefetch=True), reader.fps)
    if len(tracks) < 2:  # one face (or none: the single-face path says so): the whole frame, as always
        report, arrays = measure_rates(video, **common)
        info = {"id": 0, "box": report.extra.get("face_box"), "region": None}
        if tracks:
            info.update(tracks[0].describe(), region=None)
        per_face = [(info, report, arrays)]
    else:
        regions = face_regions(tracks, (reader.height, reader.width))
        per_face = []
        for tr, region in zip(tracks, regions):
            report, arrays = measure_rates(video, crop=region, **common)
            _shift_boxes(report, region)
            per_face.append(({**tr.describe(), "region": list(region)}, report, arrays))
    entries = [{**info, **rep.to_json()} for info, rep, _ in per_face]
    _, top, top_arrays = per_face[0]
    top.extra["faces"] = entries
    return top, top_arrays, per_face
