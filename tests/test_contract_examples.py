"""The examples of the language contract, verbatim, analysed and compiled."""

from __future__ import annotations

import torch

import archlang

LENET = """# LeNet-5, as in the course: 32x32x1 in, about 60k parameters
network lenet5(classes = 10)
input 32x32x1

conv 5x5 s1 p0 x6 -> tanh -> avgpool 2 s2
-> conv 5x5 x16 -> tanh -> avgpool 2 s2
-> flatten -> fc 120 -> tanh -> fc 84 -> tanh -> fc classes -> softmax
"""

INCEPTION = """# Inception module from the course: 28x28x192 -> 28x28x256
network inception_module
input 28x28x192
concat(
  conv 1x1 x64 -> relu,
  conv 1x1 x96 -> relu -> conv 3x3 same x128 -> relu,
  conv 1x1 x16 -> relu -> conv 5x5 same x32 -> relu,
  maxpool 3 s1 same -> conv 1x1 x32 -> relu
)
"""

BLOCKS = """block basic(c, s = 1) {
  add(
    conv 3x3 s(s) p1 x(c) nobias -> bn -> relu -> conv 3x3 p1 x(c) nobias -> bn,
    if s == 1 and in.c == c then identity else conv 1x1 s(s) x(c) nobias -> bn
  ) -> relu
}

block mbconv_body(c, s, t) {
  conv 1x1 x(in.c * t) nobias -> bn -> relu6
  -> dwconv 3x3 s(s) same nobias -> bn -> relu6
  -> conv 1x1 x(c) nobias -> bn
}

block inverted(c, s = 1, t = 6) {
  if s == 1 and in.c == c then residual(mbconv_body(c, s, t)) else mbconv_body(c, s, t)
}

block squeeze_excite(r = 4) {
  mul(identity, gap -> conv 1x1 x(in.c // r) -> relu -> conv 1x1 x(in.c) -> hardsigmoid)
}
"""

UNET = """# a skip connection across distance (U-Net style)
network tiny_unet
input 64x64x3
e1 = conv 3x3 same x16 -> relu
e2 = maxpool 2 -> conv 3x3 same x32 -> relu
up = upsample 2 -> conv 1x1 x16
concat(e1, up) -> conv 1x1 x2
"""


def test_lenet() -> None:
    report = archlang.check(LENET)
    assert (report.totals.params, report.totals.mults, report.output) == (61_706, 416_520, (10,))
    assert archlang.check(LENET, classes=100).output == (100,)


def test_inception_module() -> None:
    assert archlang.check(INCEPTION).output == (28, 28, 256)


def test_contract_blocks() -> None:
    text = BLOCKS + "input 56x56x64\nbasic(64) -> basic(128, s = 2) -> inverted(128) -> inverted(160, s = 2) -> squeeze_excite\n"
    report = archlang.check(text)
    assert report.output == (14, 14, 160)
    adds = [r for r in report.rows if r.op in ("add", "residual")]
    assert len(adds) == 3  # two basic blocks and the stride-1 inverted block with equal channels
    model = archlang.compile(text).eval()
    assert sum(p.numel() for p in model.parameters()) == report.totals.params
    with torch.no_grad():
        assert model(torch.randn(1, 64, 56, 56)).shape == (1, 160, 14, 14)


def test_unet() -> None:
    report = archlang.check(UNET)
    assert report.output == (64, 64, 2)
    assert [r.name for r in report.rows if r.op == "concat"] == ["concat1"]
