"""Runtime modules for version 2 layers that PyTorch does not provide as they are needed: data
augmentation (``hflip``, ``vflip``, ``randomcrop``, ``rotate``, ``colorjitter``, ``pcacolor``),
stochastic depth (``droppath``), ConvNeXt's channel layer norm, layer scale and per-pixel linear.

:mod:`archlang.emit.codegen` copies the definitions a model uses (with what they read) into its
generated file, which must run without archlang installed: this file imports only ``math``,
``torch`` and ``nn`` (the generated file imports ``math`` where a copied definition reads it), has no
``from __future__`` import (it would have to be the first statement of the generated file) and no
relative import. Every random layer is batched: it draws all of a batch's random values with one
call on the tensor's device, from torch's generator (so ``torch.manual_seed`` repeats it), and
never loops over samples nor copies to the host. In eval mode each augmentation is the identity,
except ``RandomCrop``, which crops the centre so that shapes agree in both modes.

Tensors are ``N x C x H x W``.
"""

import math

import torch
from torch import nn


# AlexNet's colour augmentation (Krizhevsky et al., 2012, section 4.1) adds
# eigvec @ (alpha * eigval) to every pixel, alpha ~ N(0, std) per sample. These are the ImageNet RGB
# eigenvalues and eigenvectors (columns) used by fb.resnet.torch's `Lighting` transform
# (datasets/imagenet.lua) and the PyTorch ports of it, for RGB values in [0, 1].
IMAGENET_PCA_EIGVAL = (0.2175, 0.0188, 0.0045)
IMAGENET_PCA_EIGVEC = (
    (-0.5675, 0.7192, 0.4009),
    (-0.5808, -0.0045, -0.8140),
    (-0.5836, -0.6948, 0.4203),
)
# ITU-R 601-2 luma, as torchvision's rgb_to_grayscale
GRAYSCALE_WEIGHTS = (0.2989, 0.587, 0.114)


def _per_sample(values: torch.Tensor) -> torch.Tensor:
    """``(N,)`` -> ``(N, 1, 1, 1)``, to broadcast one value per sample over ``C x H x W``."""
    return values.view(-1, 1, 1, 1)


def _uniform(n: int, low: float, high: float, like: torch.Tensor) -> torch.Tensor:
    """``n`` values uniform in [low, high], on ``like``'s device and in its dtype."""
    return torch.rand(n, device=like.device, dtype=like.dtype) * (high - low) + low


# ---------------------------------------------------------------------------------------------
# Deterministic batched operations: one value per sample, given as a tensor


def crop(x: torch.Tensor, top: torch.Tensor, left: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Crops ``height x width`` from every sample at its own ``(top, left)`` (integer tensors of
    shape ``(N,)``), with two gathers instead of a loop over the batch."""
    n, c, h, w = x.shape
    rows = top.view(n, 1) + torch.arange(height, device=x.device)
    cols = left.view(n, 1) + torch.arange(width, device=x.device)
    x = x.gather(2, rows.view(n, 1, height, 1).expand(n, c, height, w))
    return x.gather(3, cols.view(n, 1, 1, width).expand(n, c, height, width))


def center_crop(x: torch.Tensor, height: int, width: int, pad: int = 0) -> torch.Tensor:
    """The centre ``height x width`` of ``x`` zero-padded by ``pad``: it starts at
    ``floor((H + 2 pad - height) / 2)``, which is ``floor((H - height) / 2)`` of ``x`` itself."""
    h, w = x.shape[-2:]
    top = (h + 2 * pad - height) // 2 - pad
    left = (w + 2 * pad - width) // 2 - pad
    if top < 0 or left < 0:  # only where the crop reaches into the padding
        x = nn.functional.pad(x, (pad, pad, pad, pad))
        top, left = top + pad, left + pad
    return x[..., top:top + height, left:left + width]


def rotate(x: torch.Tensor, degrees: torch.Tensor) -> torch.Tensor:
    """Rotates sample i by ``degrees[i]`` counter-clockwise (as torchvision's ``rotate``) about the
    image centre; bilinear interpolation, zeros outside the input."""
    n, _, h, w = x.shape
    radians = degrees.to(x.dtype) * (math.pi / 180.0)
    cos, sin = torch.cos(radians), torch.sin(radians)
    # affine_grid works in coordinates normalised to [-1, 1] per axis, so the rotation of pixel
    # coordinates is rescaled by the aspect ratio; the matrix maps output to input positions
    zero = torch.zeros_like(cos)
    theta = torch.stack([
        torch.stack([cos, -sin * (h / w), zero], 1),
        torch.stack([sin * (w / h), cos, zero], 1),
    ], 1)
    grid = nn.functional.affine_grid(theta, [n, x.shape[1], h, w], align_corners=False)
    return nn.functional.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def grayscale(x: torch.Tensor) -> torch.Tensor:
    """``N x 1 x H x W`` luma of RGB ``x`` (a one-channel ``x`` is its own grayscale)."""
    if x.shape[1] == 1:
        return x
    r, g, b = x.unbind(1)
    return (GRAYSCALE_WEIGHTS[0] * r + GRAYSCALE_WEIGHTS[1] * g + GRAYSCALE_WEIGHTS[2] * b).unsqueeze(1)


def adjust_brightness(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Blends each sample with black: ``factor * x``."""
    return x * _per_sample(factor)


def adjust_contrast(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Blends each sample with the mean of its own grayscale image."""
    mean = grayscale(x).mean(dim=(1, 2, 3), keepdim=True)
    f = _per_sample(factor)
    return f * x + (1 - f) * mean


def adjust_saturation(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Blends each sample with its grayscale image, pixel by pixel."""
    f = _per_sample(factor)
    return f * x + (1 - f) * grayscale(x)


def pca_shift(x: torch.Tensor, alpha: torch.Tensor, eigval: torch.Tensor, eigvec: torch.Tensor) -> torch.Tensor:
    """Adds ``eigvec @ (alpha[i] * eigval)`` to every pixel of sample i (``alpha``: ``N x 3``)."""
    shift = (alpha * eigval) @ eigvec.T  # N x 3: row i is eigvec @ (alpha_i * eigval)
    return x + shift.view(-1, 3, 1, 1)


def stochastic_depth(x: torch.Tensor, p: float, training: bool = True) -> torch.Tensor:
    """``torchvision.ops.stochastic_depth`` in mode "row": in training, each sample is zeroed with
    probability ``p`` and the survivors are scaled by ``1 / (1 - p)``."""
    if p < 0.0 or p > 1.0:
        raise ValueError(f"drop probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return x
    survival = 1.0 - p
    noise = torch.empty([x.shape[0]] + [1] * (x.ndim - 1), dtype=x.dtype, device=x.device)
    noise.bernoulli_(survival)
    if survival > 0.0:
        noise.div_(survival)
    return x * noise


# ---------------------------------------------------------------------------------------------
# Augmentation layers: random in training, the identity (or a centre crop) in eval


class HFlip(nn.Module):
    """Mirrors each sample left-right with probability ``p`` (training only)."""

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return x
        chosen = torch.rand(x.shape[0], device=x.device) < self.p
        return torch.where(_per_sample(chosen), x.flip(-1), x)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class VFlip(HFlip):
    """Mirrors each sample top-bottom with probability ``p`` (training only)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return x
        chosen = torch.rand(x.shape[0], device=x.device) < self.p
        return torch.where(_per_sample(chosen), x.flip(-2), x)


class RandomCrop(nn.Module):
    """Training: zero-pads by ``pad``, then crops ``height x width`` at a random place per sample
    (every position equally likely). Eval: the centre crop, so that shapes agree."""

    def __init__(self, height: int, width: int, pad: int = 0) -> None:
        super().__init__()
        self.height, self.width, self.pad = height, width, pad

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return center_crop(x, self.height, self.width, self.pad)
        p = self.pad
        if p:
            x = nn.functional.pad(x, (p, p, p, p))
        n, _, h, w = x.shape
        if h < self.height or w < self.width:
            raise ValueError(f"cannot crop {self.height}x{self.width} from {h}x{w} (after padding by {p})")
        top = torch.randint(0, h - self.height + 1, (n,), device=x.device)
        left = torch.randint(0, w - self.width + 1, (n,), device=x.device)
        return crop(x, top, left, self.height, self.width)

    def extra_repr(self) -> str:
        return f"size=({self.height}, {self.width}), pad={self.pad}"


class Rotate(nn.Module):
    """Rotates each sample by an angle uniform in [-degrees, degrees] (training only)."""

    def __init__(self, degrees: float) -> None:
        super().__init__()
        self.degrees = degrees

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return x
        return rotate(x, _uniform(x.shape[0], -self.degrees, self.degrees, x))

    def extra_repr(self) -> str:
        return f"degrees={self.degrees}"


class ColorJitter(nn.Module):
    """Per sample, factors uniform in [max(0, 1 - x), 1 + x] for brightness, contrast and
    saturation, applied in that order (training only). Values are not clamped: inputs inside a
    network are often normalised rather than in [0, 1]."""

    def __init__(self, brightness: float = 0.0, contrast: float = 0.0, saturation: float = 0.0) -> None:
        super().__init__()
        self.brightness, self.contrast, self.saturation = brightness, contrast, saturation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return x
        n = x.shape[0]
        for amount, adjust in ((self.brightness, adjust_brightness), (self.contrast, adjust_contrast),
                               (self.saturation, adjust_saturation)):
            if amount:
                x = adjust(x, _uniform(n, max(0.0, 1.0 - amount), 1.0 + amount, x))
        return x

    def extra_repr(self) -> str:
        return f"brightness={self.brightness}, contrast={self.contrast}, saturation={self.saturation}"


class PCAColor(nn.Module):
    """AlexNet's colour shift along the principal components of ImageNet's RGB values, with
    per-sample coefficients ~ N(0, std) (training only)."""

    def __init__(self, std: float = 0.1) -> None:
        super().__init__()
        self.std = std
        # not persistent: constants, not state, so state_dict keys stay those of the layers
        self.register_buffer("eigval", torch.tensor(IMAGENET_PCA_EIGVAL), persistent=False)
        self.register_buffer("eigvec", torch.tensor(IMAGENET_PCA_EIGVEC), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.std == 0.0:
            return x
        alpha = torch.randn(x.shape[0], 3, device=x.device, dtype=x.dtype) * self.std
        return pca_shift(x, alpha, self.eigval.to(x.dtype), self.eigvec.to(x.dtype))

    def extra_repr(self) -> str:
        return f"std={self.std}"


# ---------------------------------------------------------------------------------------------
# Modern blocks: stochastic depth, ConvNeXt's layer norm, layer scale, per-pixel linear


class DropPath(nn.Module):
    """Stochastic depth per sample (torchvision's ``StochasticDepth(p, "row")``)."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return stochastic_depth(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class LayerNorm2d(nn.LayerNorm):
    """Normalises each pixel over its channels (torchvision's ConvNeXt ``LayerNorm2d``): parameters
    ``weight`` and ``bias`` of shape ``(C,)``, so its state dict loads."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 2, 3, 1)
        x = nn.functional.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


class LayerScale(nn.Module):
    """A learnable per-channel factor, ``gamma * x``, with ``gamma`` of shape ``(C, 1, 1)`` (as
    torchvision's ConvNeXt ``layer_scale``)."""

    def __init__(self, channels: int, init: float = 1e-6) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.full((channels, 1, 1), float(init)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.gamma * x


class PixelwiseLinear(nn.Linear):
    """``nn.Linear(C, N)`` applied at every pixel of ``N x C x H x W`` (ConvNeXt's Permute, Linear,
    Permute); ``weight`` is ``(N, C)`` as in ``nn.Linear``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
