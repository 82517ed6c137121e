"""The networks that predict a physiological signal's first derivative from a motion representation.

* :mod:`physio.nets.pulse`, :mod:`physio.nets.resp` — ``nn.Module`` definitions only (no loading,
  devices or losses);
* :mod:`physio.nets.registry` — :data:`~physio.nets.registry.NETS` (name → class), building a network
  and reading checkpoints;
* :mod:`physio.nets.weights` — finding and loading the shipped (or a user's) trained weights.
"""
