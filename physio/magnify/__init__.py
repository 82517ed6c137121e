"""Video magnification: the shared Magnifier interface, DeepMag, classical and learned baselines."""

from physio.magnify.base import Magnifier, magnify_stream, resolve_device, to_tensor, to_uint8

__all__ = ["Magnifier", "magnify_stream", "resolve_device", "to_tensor", "to_uint8"]
