"""Networks that are not in specs/ (tests/networks/): grouped convolutions, dense concatenation,
channel split and shuffle, fire modules, asymmetric kernels, squeeze-and-excite, deep block
hierarchies. Held to torchvision's published parameter counts and to PyTorch's own count."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

import archlang

NETWORKS = Path(__file__).resolve().parent / "networks"

PUBLISHED = {  # torchvision's documented parameter counts
    "squeezenet": 1_235_496,
    "shufflenet_v2": 2_278_604,
    "densenet121": 7_978_856,
    "resnext50": 25_028_904,
}


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_published_parameter_counts(name: str) -> None:
    report = archlang.check(NETWORKS / f"{name}.arch")
    assert report.totals.params == PUBLISHED[name]
    assert report.output == (1000,)
    model = archlang.compile(NETWORKS / f"{name}.arch")
    assert sum(p.numel() for p in model.parameters()) == PUBLISHED[name]
    # `--verify` (every node's shape and values) runs on these networks in test_verify_values.py


def test_asymmetric_kernels_like_inception_v3() -> None:
    text = """input 17x17x768
concat(
  conv 1x1 x192 nobias -> bn eps=0.001 -> relu,
  conv 1x1 x128 nobias -> bn eps=0.001 -> relu -> conv 1x7 p0x3 x128 nobias -> bn eps=0.001 -> relu
    -> conv 7x1 p3x0 x192 nobias -> bn eps=0.001 -> relu,
  avgpool 3 s1 p1 -> conv 1x1 x192 nobias -> bn eps=0.001 -> relu
)"""
    report = archlang.check(text)
    assert report.output == (17, 17, 576)
    model = archlang.compile(text).eval()
    reference = [nn.Conv2d(768, 192, 1, bias=False), nn.Conv2d(768, 128, 1, bias=False),
                 nn.Conv2d(128, 128, (1, 7), padding=(0, 3), bias=False),
                 nn.Conv2d(128, 192, (7, 1), padding=(3, 0), bias=False), nn.Conv2d(768, 192, 1, bias=False)]
    convs = [m for m in model.children() if isinstance(m, nn.Conv2d)]
    assert [c.weight.shape for c in convs] == [r.weight.shape for r in reference]
    assert [c.padding for c in convs] == [r.padding for r in reference]
    assert report.totals.params == sum(p.numel() for p in model.parameters())


def test_deep_parameterised_hierarchy() -> None:
    text = """network deep(levels = 3)
input 32x32x8
block leaf(c) { conv 3x3 same x(c) nobias -> bn -> relu }
block pair(c) { residual(leaf(c) -> leaf(c)) }
block tower(c, n) { pair(c) * n -> mul(identity, gap -> conv 1x1 x(max(1, c // 4)) -> relu -> conv 1x1 x(c) -> sigmoid) }
block pyramid(c) { tower(c, 2) -> concat(identity, tower(c, 1)) -> conv 1x1 x(c) }
(pyramid(8) -> pyramid(8)) * levels -> gap -> flatten -> fc 5
"""
    report = archlang.check(text)
    assert report.output == (5,)
    assert max(r.depth for r in report.rows) == 4
    assert len(report.fold(0).rows) == 6 + 3
    model = archlang.compile(text, levels=2)
    assert sum(p.numel() for p in model.parameters()) == archlang.check(text, levels=2).totals.params
    with torch.no_grad():
        assert model.eval()(torch.randn(2, 8, 32, 32)).shape == (2, 5)
