"""Building blocks shared by the learned magnifiers, and :class:`ThesisNet`, the contract of the
networks added after Oh et al. and LW-MM (MD-MM, σ-θ Net, HMN, KL-DNAS students).

Every network maps ``net(ref, cur, alpha)`` with ``ref, cur: (B, 3, H, W)`` in ``[-1, 1]`` to one
magnified frame; ``alpha`` multiplies the motion from ``ref`` to ``cur`` (Oh et al.'s definition, see
:mod:`.nets`).  A :class:`ThesisNet` adds what the shared training loop and the magnifier's temporal
mode need, so neither branches on a network's name:

* ``multiple`` — frame sizes must be multiples of it (the magnifier pads);
* ``extra_losses(batch, out, aux, proxy=None, previous=None)`` — the network's own loss terms beyond
  ``10·L1 + 0.1·L_p + L_edge`` (MD-MM: phase and amplitude; HMN: contrastive), each weighted by the
  :class:`~.losses.LossWeights` field of the same name;
* ``codes(x)`` / ``from_band(x, band, alpha)`` — the temporal-filter mode.  The default reading, for
  networks without a per-frame motion code of their own, works in the pixel domain: the code of a frame
  is the frame, and a band-passed series ``bp(x)_t`` becomes the pair ``(x_t − bp(x)_t, x_t)``: the
  network magnifies the motion that the band-pass isolated (to first order, ``x_t − bp(x)_t`` is the
  frame with its in-band motion removed).  The thesis gets frequency selectivity by pre-filtering with
  a phase-based magnifier (digest §7); this is the simplest reading that needs no second method.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from physio.errors import InputError

__all__ = ["alpha_tensor", "conv", "ResBlock", "SharedResBlock", "check_pair", "ThesisNet", "sobel"]


def alpha_tensor(alpha, like: Tensor) -> Tensor:
    """``alpha`` (float, 0-d or ``(B,)``) as a ``(B, 1, 1, 1)`` tensor on ``like``'s device and dtype."""
    a = torch.as_tensor(alpha, dtype=like.dtype, device=like.device)
    if a.ndim == 0:
        a = a.expand(like.shape[0])
    if a.ndim != 1 or a.shape[0] != like.shape[0]:
        raise InputError(f"alpha must be a scalar or have shape ({like.shape[0]},), got {tuple(a.shape)}")
    return a.view(-1, 1, 1, 1)


def conv(cin: int, cout: int, k: int = 3, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2)


class ResBlock(nn.Module):
    """``x + conv(relu(conv(x)))`` with 3×3 convolutions of ``ch`` channels."""

    def __init__(self, ch: int) -> None:
        super().__init__()
        self.conv1, self.conv2 = conv(ch, ch), conv(ch, ch)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv2(F.relu(self.conv1(x)))


class SharedResBlock(nn.Module):
    """Feature-sharing residual block: ``x + conv(relu(conv(concat(x, peer))))``.

    ``peer`` is the other encoder stream's input to its own block at the same depth.
    """

    def __init__(self, ch: int) -> None:
        super().__init__()
        self.conv1, self.conv2 = conv(2 * ch, ch), conv(ch, ch)

    def forward(self, x: Tensor, peer: Tensor) -> Tensor:
        return x + self.conv2(F.relu(self.conv1(torch.cat([x, peer], dim=1))))


def check_pair(ref: Tensor, cur: Tensor, multiple: int, who: str) -> None:
    if ref.ndim != 4 or ref.shape[1] != 3 or ref.shape != cur.shape:
        raise InputError(f"{who}: ref and cur must both be (B, 3, H, W); got {tuple(ref.shape)} and {tuple(cur.shape)}")
    h, w = ref.shape[-2:]
    if h % multiple or w % multiple:
        raise InputError(f"{who}: frame size {h}×{w} must be a multiple of {multiple} (pad the frames)")


_SOBEL_X = ((-1.0, 0.0, 1.0), (-2.0, 0.0, 2.0), (-1.0, 0.0, 1.0))


def sobel(x: Tensor) -> tuple[Tensor, Tensor]:
    """Per-channel Sobel derivatives ``(∂x, ∂y)`` of ``x (B, C, H, W)`` (replicated border, /8 so that a
    unit ramp gives 1)."""
    c = x.shape[1]
    kx = torch.tensor(_SOBEL_X, dtype=x.dtype, device=x.device) / 8
    k = torch.stack([kx, kx.t()]).unsqueeze(1).repeat(c, 1, 1, 1)  # (2C, 1, 3, 3): x, y per channel
    g = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), k, groups=c)
    return g[:, 0::2], g[:, 1::2]


class ThesisNet(nn.Module):
    """Base class of the networks of thesis chapters 4–7 (see the module notes)."""

    multiple = 1
    local = True
    """False for a network whose output at a pixel depends on the whole frame (MD-MM's Fourier
    transforms): the magnifier then never cuts a large frame into bands."""
    halo = 64
    """Rows of context the magnifier gives each band of a large frame (at least the receptive radius)."""
    uses_proxy = False
    """True: the training loop first trains a noise-free proxy of the same network (``proxy_steps``)
    and hands it to :meth:`extra_losses` (HMN's contrastive positive)."""

    def extra_losses(self, batch: dict, out: Tensor, aux: dict, proxy: "nn.Module | None" = None,
                     previous: "nn.Module | None" = None) -> dict[str, Tensor]:
        """The network's own loss terms ``{name: scalar tensor}`` (default: none)."""
        return {}

    def codes(self, x: Tensor) -> Tensor:
        """Per-frame code the temporal mode band-passes (default: the frame itself)."""
        return x

    def from_band(self, x: Tensor, band: Tensor, alpha) -> Tensor:
        """Magnified frames from frames ``x`` and their band-passed codes (default: the pair
        ``(x − band, x)``, see the module notes)."""
        return self(x - band, x, alpha)
