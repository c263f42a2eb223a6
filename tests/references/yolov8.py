"""A small hand-written PyTorch reference of a YOLOv8-style detector (Jocher et al., Ultralytics, 2023).

Written from the published architecture (the YOLOv8 model table and block definitions), so that the
specs can be checked against PyTorch without depending on the `ultralytics` package:

- ``Conv``: convolution without bias, batch norm (eps 1e-3, momentum 0.03), SiLU;
- ``Bottleneck``: two 3x3 ``Conv`` with an optional residual connection;
- ``C2f``: a 1x1 ``Conv`` split into two halves, ``n`` bottlenecks chained on the second half, every
  intermediate concatenated and fused by a second 1x1 ``Conv``;
- ``SPPF``: three chained 5x5 max pools whose outputs are concatenated;
- the PAN neck (nearest upsampling and concatenation), and the ``Detect`` head: per level a box
  branch ``cv2`` (to 4 * reg_max channels) and a class branch ``cv3``, plus the distribution focal
  loss decoder ``dfl`` (a frozen 1x1 convolution with reg_max parameters).

Module names and registration order follow Ultralytics, so that its checkpoints' ``state_dict`` keys
have the same form: the layers are ``model.0`` to ``model.22``; ``C2f`` registers ``cv1`` and ``cv2``
before the bottlenecks ``m`` although ``cv2`` runs last. ``forward`` returns the three raw head maps
(box and class channels concatenated per level, before DFL decoding), as the model does in training.
"""

from __future__ import annotations

import math

import torch
from torch import nn

REG_MAX = 16  # distribution focal loss bins per box side

# (depth, width, max_channels) of the published scales
SCALES: dict[str, tuple[float, float, int]] = {
    "n": (0.33, 0.25, 1024),
    "s": (0.33, 0.50, 1024),
    "m": (0.67, 0.75, 768),
    "l": (1.00, 1.00, 512),
    "x": (1.00, 1.25, 512),
}

# parameters of the published models for 80 classes (the DFL's 16 frozen ones included)
PUBLISHED_PARAMS: dict[str, int] = {
    "n": 3_157_200,
    "s": 11_166_560,
    "m": 25_902_640,
    "l": 43_691_520,
    "x": 68_229_648,
}

# Ultralytics' layer index -> the binding that creates it in specs/yolov8.arch. Layers without
# parameters (upsample and concat: 10, 11, 13, 14, 17, 20) create no module there.
SPEC_NAMES: dict[int, str] = {
    0: "stem", 1: "down1", 2: "c2f1", 3: "down2", 4: "c2f2", 5: "down3", 6: "c2f3", 7: "down4",
    8: "c2f4", 9: "sppf", 12: "c2f5", 15: "c2f6", 16: "down5", 18: "c2f7", 19: "down6", 21: "c2f8",
    22: "detect",
}


class Conv(nn.Module):
    """Convolution (no bias, padding k // 2) -> batch norm -> SiLU."""

    def __init__(self, c_in: int, c_out: int, k: int = 1, s: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, k, s, k // 2, bias=False)
        # Ultralytics sets these on every batch norm when it builds a model
        self.bn = nn.BatchNorm2d(c_out, eps=1e-3, momentum=0.03)
        self.act = nn.SiLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


class Bottleneck(nn.Module):
    """Two 3x3 ``Conv`` (expansion 1.0), with a residual connection if ``shortcut``."""

    def __init__(self, c: int, shortcut: bool) -> None:
        super().__init__()
        self.cv1 = Conv(c, c, 3)
        self.cv2 = Conv(c, c, 3)
        self.add = shortcut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y


class C2f(nn.Module):
    """CSP bottleneck with two convolutions; ``cv2`` is registered before ``m`` but runs after it."""

    def __init__(self, c_in: int, c_out: int, n: int, shortcut: bool) -> None:
        super().__init__()
        self.c = c_out // 2
        self.cv1 = Conv(c_in, 2 * self.c, 1)
        self.cv2 = Conv((2 + n) * self.c, c_out, 1)
        self.m = nn.ModuleList(Bottleneck(self.c, shortcut) for _ in range(n))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = list(self.cv1(x).chunk(2, 1))
        for bottleneck in self.m:
            y.append(bottleneck(y[-1]))
        return self.cv2(torch.cat(y, 1))


class SPPF(nn.Module):
    """Spatial pyramid pooling, fast: three chained 5x5 stride-1 max pools, all concatenated."""

    def __init__(self, c_in: int, c_out: int, k: int = 5) -> None:
        super().__init__()
        hidden = c_in // 2
        self.cv1 = Conv(c_in, hidden, 1)
        self.cv2 = Conv(hidden * 4, c_out, 1)
        self.m = nn.MaxPool2d(k, 1, k // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = [self.cv1(x)]
        for _ in range(3):
            y.append(self.m(y[-1]))
        return self.cv2(torch.cat(y, 1))


class Upsample(nn.Upsample):
    """Nearest-neighbour upsampling by 2 (no parameters)."""

    def __init__(self) -> None:
        super().__init__(scale_factor=2.0, mode="nearest")


class Concat(nn.Module):
    """Concatenates the tensors of the layers named in ``sources`` along channels."""

    def __init__(self, sources: tuple[int, ...]) -> None:
        super().__init__()
        self.sources = sources

    def forward(self, xs: list[torch.Tensor]) -> torch.Tensor:
        return torch.cat(xs, 1)


class DFL(nn.Module):
    """Distribution focal loss decoder: a frozen 1x1 convolution whose weights are 0..reg_max-1."""

    def __init__(self, bins: int = REG_MAX) -> None:
        super().__init__()
        self.conv = nn.Conv2d(bins, 1, 1, bias=False).requires_grad_(False)
        with torch.no_grad():
            self.conv.weight.copy_(torch.arange(bins, dtype=torch.float).view(1, bins, 1, 1))
        self.bins = bins

    def forward(self, box: torch.Tensor) -> torch.Tensor:
        """``box``: (batch, 4 * bins, anchors) -> expected distance per side, (batch, 4, anchors)."""
        b, _, a = box.shape
        return self.conv(box.view(b, 4, self.bins, a).transpose(2, 1).softmax(1)).view(b, 4, a)


class Detect(nn.Module):
    """Per level a box branch ``cv2`` and a class branch ``cv3``; ``dfl`` decodes boxes (not run here)."""

    def __init__(self, classes: int, channels: tuple[int, ...]) -> None:
        super().__init__()
        box_c = max(16, channels[0] // 4, 4 * REG_MAX)
        cls_c = max(channels[0], min(classes, 100))
        self.cv2 = nn.ModuleList(
            nn.Sequential(Conv(c, box_c, 3), Conv(box_c, box_c, 3), nn.Conv2d(box_c, 4 * REG_MAX, 1))
            for c in channels)
        self.cv3 = nn.ModuleList(
            nn.Sequential(Conv(c, cls_c, 3), Conv(cls_c, cls_c, 3), nn.Conv2d(cls_c, classes, 1))
            for c in channels)
        self.dfl = DFL(REG_MAX)

    def forward(self, xs: list[torch.Tensor]) -> tuple[torch.Tensor, ...]:
        return tuple(torch.cat((box(x), cls(x)), 1) for x, box, cls in zip(xs, self.cv2, self.cv3))


def channels(c: int, width: float, max_channels: int) -> int:
    """Ultralytics' channel scaling: min(c, max_channels) * width rounded up to a multiple of 8."""
    return math.ceil(min(c, max_channels) * width / 8) * 8


def repeats(n: int, depth: float) -> int:
    """Ultralytics' depth scaling: round(n * depth), at least 1."""
    return max(round(n * depth), 1) if n > 1 else n


class YOLOv8(nn.Module):
    """The YOLOv8 detector; ``forward`` returns the raw head maps at strides 8, 16 and 32."""

    def __init__(self, depth: float, width: float, max_channels: int, classes: int = 80) -> None:
        super().__init__()

        def ch(c: int) -> int:
            return channels(c, width, max_channels)

        def c2f(c_in: int, c: int, n: int, shortcut: bool) -> C2f:
            return C2f(c_in, ch(c), repeats(n, depth), shortcut)

        layers: list[nn.Module] = [
            Conv(3, ch(64), 3, 2),                                  # 0  P1/2
            Conv(ch(64), ch(128), 3, 2),                            # 1  P2/4
            c2f(ch(128), 128, 3, True),                             # 2
            Conv(ch(128), ch(256), 3, 2),                           # 3  P3/8
            c2f(ch(256), 256, 6, True),                             # 4
            Conv(ch(256), ch(512), 3, 2),                           # 5  P4/16
            c2f(ch(512), 512, 6, True),                             # 6
            Conv(ch(512), ch(1024), 3, 2),                          # 7  P5/32
            c2f(ch(1024), 1024, 3, True),                           # 8
            SPPF(ch(1024), ch(1024)),                               # 9
            Upsample(),                                             # 10
            Concat((-1, 6)),                                        # 11
            c2f(ch(1024) + ch(512), 512, 3, False),                 # 12
            Upsample(),                                             # 13
            Concat((-1, 4)),                                        # 14
            c2f(ch(512) + ch(256), 256, 3, False),                  # 15 out P3
            Conv(ch(256), ch(256), 3, 2),                           # 16
            Concat((-1, 12)),                                       # 17
            c2f(ch(256) + ch(512), 512, 3, False),                  # 18 out P4
            Conv(ch(512), ch(512), 3, 2),                           # 19
            Concat((-1, 9)),                                        # 20
            c2f(ch(512) + ch(1024), 1024, 3, False),                # 21 out P5
            Detect(classes, (ch(256), ch(512), ch(1024))),          # 22
        ]
        self.model = nn.ModuleList(layers)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        outputs: list[torch.Tensor] = []
        for layer in self.model:
            if isinstance(layer, Concat):
                x = layer([x] + [outputs[i] for i in layer.sources[1:]])
            elif isinstance(layer, Detect):
                x = layer([outputs[15], outputs[18], outputs[21]])
            else:
                x = layer(x)
            outputs.append(x)
        return x


def yolov8(scale: str, classes: int = 80) -> YOLOv8:
    """The published scale ``n``, ``s``, ``m``, ``l`` or ``x``."""
    depth, width, max_channels = SCALES[scale]
    return YOLOv8(depth, width, max_channels, classes)
