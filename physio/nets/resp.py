"""RespNet: DeepMag Fig. 3(b), a deeper network with SELU activations on phase differences."""

from __future__ import annotations

import torch
from torch import nn

from physio.errors import InputError

__all__ = ["RespNet"]


class RespNet(nn.Module):
    """Predict the first derivative of respiration from steerable-pyramid phase differences.

    DeepMag Fig. 3(b) gives only the picture; we take PulseNet's layout (pairs of 3×3 convolutions,
    the first padded, the second not, then 2×2 average pooling) with **one more stage**, because the
    input (123×123×4) is larger, and SELU activations throughout (the paper met dying ReLUs), with
    AlphaDropout (the dropout that keeps SELU's self-normalisation) and LeCun-normal initialisation.

    Parameters
    ----------
    in_channels : int
        4 orientations (0°, 45°, 90°, 135°).
    size : int
        Input side (123 in the paper).
    channels : tuple of int
        Widths of the three stages.  The default (16, 32, 32) is narrower than a literal DeepPhys
        extension (32, 64, 64) so the network trains on a CPU within a session; both are documented
        in ``docs/networks.md`` with their parameter counts.
    hidden : int
        Dense layer width.
    dropout : (float, float)
        AlphaDropout rates after the conv stages and after the dense layer.

    Shape
    -----
    ``(B, 4, S, S)`` → ``(B,)``.  Defaults: 727,777 parameters (widths 32, 64, 64: 1,524,417).
    """

    def __init__(
        self,
        in_channels: int = 4,
        size: int = 123,
        channels: tuple[int, ...] = (16, 32, 32),
        hidden: int = 128,
        dropout: tuple[float, float] = (0.1, 0.2),
    ) -> None:
        super().__init__()
        self.in_channels, self.size = in_channels, size
        layers: list[nn.Module] = []
        prev, side = in_channels, size
        for c in channels:
            layers += [
                nn.Conv2d(prev, c, 3, padding=1), nn.SELU(),
                nn.Conv2d(c, c, 3), nn.SELU(),
                nn.AvgPool2d(2), nn.AlphaDropout(dropout[0]),
            ]
            prev, side = c, (side - 2) // 2
        if side < 1:
            raise InputError(f"input size {size} is too small for {len(channels)} stages")
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.Flatten(), nn.Linear(prev * side * side, hidden), nn.SELU(), nn.AlphaDropout(dropout[1]),
            nn.Linear(hidden, 1),
        )
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight, nonlinearity="linear")  # LeCun normal for SELU
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1:] != (self.in_channels, self.size, self.size):
            raise InputError(
                f"RespNet expects (B, {self.in_channels}, {self.size}, {self.size}), got {tuple(x.shape)}"
            )
        return self.head(self.features(x)).squeeze(-1)
