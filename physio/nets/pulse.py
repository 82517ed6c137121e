"""PulseNet: DeepMag Fig. 3(a), the DeepPhys motion branch with ReLU everywhere."""

from __future__ import annotations

import torch
from torch import nn

from physio.errors import InputError

__all__ = ["PulseNet"]


class PulseNet(nn.Module):
    """Predict the first derivative of the pulse from a normalised frame difference.

    The DeepPhys motion branch (Chen & McDuff 2018) as DeepMag uses it (Chen & McDuff 2020, Fig. 3a):
    two 3×3 convolutions (stride 1; the first padded, the second not), 2×2 average pooling, dropout,
    the same again with twice the channels, a dense layer and one linear output.  Every activation is
    a ReLU — bounded activations (tanh, sigmoid) would cap how far gradient ascent can magnify.

    Parameters
    ----------
    in_channels : int
        3 (RGB normalised frame difference).
    size : int
        Input side L (36 in the paper).
    channels : (int, int)
        Convolution widths of the two stages (DeepPhys: 32, 64).
    hidden : int
        Dense layer width (DeepPhys: 128).
    dropout : (float, float)
        Dropout after the conv stages and after the dense layer (DeepPhys: 0.25, 0.5); inactive in
        ``eval()`` mode, which gradient ascent uses.

    Shape
    -----
    ``(B, 3, L, L)`` → ``(B,)``.  With the defaults: 467,233 parameters.
    """

    def __init__(
        self,
        in_channels: int = 3,
        size: int = 36,
        channels: tuple[int, int] = (32, 64),
        hidden: int = 128,
        dropout: tuple[float, float] = (0.25, 0.5),
    ) -> None:
        super().__init__()
        c1, c2 = channels
        self.in_channels, self.size = in_channels, size
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, c1, 3, padding=1), nn.ReLU(),
            nn.Conv2d(c1, c1, 3), nn.ReLU(),
            nn.AvgPool2d(2), nn.Dropout(dropout[0]),
            nn.Conv2d(c1, c2, 3, padding=1), nn.ReLU(),
            nn.Conv2d(c2, c2, 3), nn.ReLU(),
            nn.AvgPool2d(2), nn.Dropout(dropout[0]),
        )
        side = ((size - 2) // 2 - 2) // 2
        if side < 1:
            raise InputError(f"input size {size} is too small for PulseNet (need ≥ 10)")
        self.head = nn.Sequential(
            nn.Flatten(), nn.Linear(c2 * side * side, hidden), nn.ReLU(), nn.Dropout(dropout[1]), nn.Linear(hidden, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1:] != (self.in_channels, self.size, self.size):
            raise InputError(
                f"PulseNet expects (B, {self.in_channels}, {self.size}, {self.size}), got {tuple(x.shape)}"
            )
        return self.head(self.features(x)).squeeze(-1)
