"""Video magnification: the shared Magnifier interface, DeepMag, classical and learned baselines.

* :mod:`physio.magnify.base` — :class:`~physio.magnify.base.Magnifier` and the streaming driver;
* :mod:`physio.magnify.registry` — methods by name (`physio magnify --method NAME`), magnifying a file;
* :mod:`physio.magnify.deepmag` (+ :mod:`~physio.magnify.ascent`) — DeepMag;
* :mod:`physio.magnify.eulerian`, :mod:`~physio.magnify.phase`, :mod:`~physio.magnify.acceleration`
  (+ :mod:`~physio.magnify.temporal` filters) — the classical magnifiers;
* :mod:`physio.magnify.learned` — the general learned magnifiers;
* :mod:`physio.magnify.outputs`, :mod:`~physio.magnify.run_outputs` — side-by-side videos, scan lines
  and pixel traces recorded in the same pass.
"""
