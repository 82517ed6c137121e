"""Parameter and FLOP counts of the learned magnifiers (a forward-hook MAC counter).

FLOPs are reported as **2 × multiply-accumulates** of the convolution and linear layers; biases,
activations, pooling, upsampling and additions are not counted.  This is the convention under which
the thesis' Table 3.2 numbers reproduce (Oh et al. at 720×720: 135 G MACs → 270.7 GFLOPs vs 268.6
published).  The count runs on PyTorch's ``meta`` device, so no arithmetic is done and 720×720 costs
nothing.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

__all__ = ["count_parameters", "count_macs", "complexity"]


def count_parameters(net: nn.Module, inference_only: bool = True) -> int:
    """Number of parameters; ``inference_only`` leaves out training-only heads (LW-MM's ``phi``)."""
    skip = set()
    if inference_only and hasattr(net, "phi"):
        skip = {id(p) for p in net.phi.parameters()}
    return sum(p.numel() for p in net.parameters() if id(p) not in skip)


def _macs_hook(counter: list):
    def hook(mod: nn.Module, inputs, output) -> None:
        if isinstance(mod, (nn.Conv2d, nn.ConvTranspose2d)):
            k = mod.kernel_size[0] * mod.kernel_size[1] * (mod.in_channels // mod.groups)
            if isinstance(mod, nn.ConvTranspose2d):  # every input pixel scatters a full kernel
                counter[0] += inputs[0].numel() * mod.out_channels * mod.kernel_size[0] * mod.kernel_size[1] // mod.groups
            else:
                counter[0] += output.numel() * k
        elif isinstance(mod, nn.Linear):
            counter[0] += output.numel() * mod.in_features

    return hook


def count_macs(net: nn.Module, height: int = 720, width: int = 720, alpha: float = 10.0) -> int:
    """Multiply-accumulates of one forward pass ``net(ref, cur, alpha)`` on one ``height×width`` pair."""
    meta = copy.deepcopy(net).to("meta").eval()
    counter = [0]
    handles = [m.register_forward_hook(_macs_hook(counter)) for m in meta.modules()
               if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear))]
    try:
        x = torch.zeros(1, 3, height, width, device="meta")
        with torch.no_grad():
            meta(x, x, alpha)
    finally:
        for h in handles:
            h.remove()
    return int(counter[0])


def complexity(net: nn.Module, height: int = 720, width: int = 720) -> dict:
    """``{"params", "params_m", "macs_g", "gflops"}`` at ``height×width`` (GFLOPs = 2 × GMACs)."""
    p = count_parameters(net)
    macs = count_macs(net, height, width)
    return {"params": p, "params_m": p / 1e6, "macs_g": macs / 1e9, "gflops": 2 * macs / 1e9,
            "size": [height, width]}
