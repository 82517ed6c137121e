"""The networks that predict a physiological signal's first derivative from a motion representation.

``nn.Module`` definitions only: no loading, devices or losses (see :mod:`physio.train` and
:mod:`physio.models`).  ``NETS`` maps the names used in configs and checkpoints to the classes.
"""

from physio.nets.pulse import PulseNet
from physio.nets.resp import RespNet

NETS = {"pulse_cnn": PulseNet, "resp_cnn": RespNet}

__all__ = ["NETS", "PulseNet", "RespNet"]
