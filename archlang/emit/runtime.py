"""Modules that PyTorch lacks and generated models use: stochastic depth, ConvNeXt's channel
layer norm and layer scale, a per-pixel linear layer.

This file is the one source of these classes. :mod:`archlang.emit.codegen` copies the source of
each class a model uses into the generated file (read as text, so that generating source imports
no torch), which keeps a generated file standalone. Each class therefore uses only the names a
generated file imports, ``torch`` and ``nn``, and no other class of this module.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["DropPath", "LayerNorm2d", "LayerScale", "PixelwiseLinear"]


class DropPath(nn.Module):
    """Stochastic depth per sample (``torchvision.ops.stochastic_depth``, mode ``row``): in
    training each sample is zeroed with probability ``p`` and the survivors scaled by
    ``1 / (1 - p)``; the identity in eval mode."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        survival = 1.0 - self.p
        keep = torch.empty((x.shape[0],) + (1,) * (x.dim() - 1), dtype=x.dtype, device=x.device)
        keep.bernoulli_(survival)
        if survival > 0.0:
            keep.div_(survival)
        return x * keep

    def extra_repr(self) -> str:
        return f"p={self.p}"


class LayerNorm2d(nn.LayerNorm):
    """Layer norm over the channels of each pixel of an ``N x C x H x W`` batch (ConvNeXt's);
    weights ``weight`` and ``bias`` of shape ``(C,)``, as ``nn.LayerNorm(C)``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 2, 3, 1)
        x = nn.functional.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


class LayerScale(nn.Module):
    """A learnable per-channel factor, ``gamma * x``, with ``gamma`` of shape ``(C, 1, 1)``
    filled with ``init`` (ConvNeXt's layer scale)."""

    def __init__(self, channels: int, init: float = 1e-6) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.full((channels, 1, 1), init))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.gamma * x


class PixelwiseLinear(nn.Linear):
    """``nn.Linear(C, N)`` applied at every pixel of an ``N x C x H x W`` batch: weights of shape
    ``(N, C)``, as ConvNeXt's pointwise layers hold them."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.movedim(1, -1)).movedim(-1, 1)
