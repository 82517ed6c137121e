"""Training: one loop for every network, streaming from cached cohort representations.

Run as ``physio train --config configs/pulse.yaml --cohort FILE`` or, distributed,
``torchrun --nproc_per_node=N -m physio.train --config … --cohort …``.

* :mod:`physio.train.loop` — :class:`~physio.train.loop.TrainConfig`, :func:`~physio.train.loop.train`,
  :func:`~physio.train.loop.predict_session`;
* :mod:`physio.train.data` — the block dataset over cached representations and derivative labels.
"""
