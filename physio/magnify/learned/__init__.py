"""General learned motion magnifiers: Oh et al. (2018) and LW-MM M1/M2 (Singh et al. 2023).

* :mod:`.nets` — the networks (``nn.Module`` only); :mod:`.complexity` — parameter/FLOP counts.
* :mod:`.data` — Oh et al.'s synthetic training-data recipe (procedural + ``skimage.data``), on the
  fly or to HDF5; :mod:`.losses` — L1, edge, perceptual (VGG-16 or MS-SSIM), the two objectives.
* :mod:`.train` — resumable training (``physio train-magnifier``); :mod:`.weights` — shipped weights
  and model cards.
* :mod:`.magnifier` — :class:`~.magnifier.LearnedMagnifier` (static, dynamic and temporal-filter
  modes); :mod:`.factory` — the registry factories (``physio magnify --method oh|lwmm-m1|lwmm-m2``).

The thesis' circle benchmark (``physio bench-magnifiers``) is an evaluation harness:
:mod:`physio.evaluation.circles`.
"""
