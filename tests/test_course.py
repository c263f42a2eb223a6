"""The course's own numbers, exactly, and the figures each spec states in its comments."""

from __future__ import annotations

import re

import pytest

import archlang
from conftest import SPECS

# spec: (output, parameters, multiplies); the course's figures and hand-checked arithmetic
COURSE = {
    "lenet5": ((10,), 61_706, 416_520),
    "convnet39": ((1,), 27_301, 2_796_590),
    "lenet_like": ((10,), 62_006, 651_720),
    "ten_filters": ((4, 4, 10), 280, 4_320),
    "inception_module": ((28, 28, 256), 163_696, 128_049_152),
    "cost_naive": ((28, 28, 32), 153_600, 120_422_400),
    "cost_bottleneck": ((28, 28, 32), 15_872, 12_443_648),
    "conv_normal": ((4, 4, 5), 135, 2_160),
    "conv_separable": ((4, 4, 5), 42, 672),
    "maxpool": ((2, 2, 1), 0, 0),
    "maxpool_f3": ((3, 3, 2), 0, 0),
    "edge_detection": ((4, 4, 1), 10, 144),
    "tiny_unet": ((64, 64, 2), 5_682, 8_847_360),
}


@pytest.mark.parametrize("name", sorted(COURSE))
def test_course_figures(name: str) -> None:
    output, params, mults = COURSE[name]
    report = archlang.check(SPECS / f"{name}.arch")
    assert report.output == output
    assert report.totals.params == params
    assert report.totals.mults == mults


def _stated(name: str, what: str) -> int:
    """The figure a spec's `Expected:` comment gives for `what` (parameters or multiplies)."""
    text = (SPECS / f"{name}.arch").read_text()
    found = re.search(r"^# Expected:.*?([\d,]+) " + what, text, re.M | re.S)
    assert found, f"{name}.arch states no {what}"
    return int(found.group(1).replace(",", ""))


@pytest.mark.parametrize("name", sorted(COURSE))
def test_spec_comment_states_the_figures(name: str) -> None:
    """The figures each course spec promises in its comment are the ones the tool prints."""
    report = archlang.check(SPECS / f"{name}.arch")
    assert _stated(name, "parameters") == report.totals.params
    assert _stated(name, "multiplies") == report.totals.mults


def test_one_by_one_bottleneck_is_about_a_tenth() -> None:
    naive = archlang.check(SPECS / "cost_naive.arch").totals.mults
    bottleneck = archlang.check(SPECS / "cost_bottleneck.arch").totals.mults
    assert naive == 28 * 28 * 32 * 5 * 5 * 192
    assert bottleneck == 28 * 28 * 16 * 192 + 28 * 28 * 32 * 5 * 5 * 16
    assert 9 < naive / bottleneck < 10


def test_depthwise_separable_against_normal() -> None:
    normal = archlang.check(SPECS / "conv_normal.arch")
    separable = archlang.check(SPECS / "conv_separable.arch")
    assert [r.mults for r in separable.rows] == [4 * 4 * 3 * 3 * 3, 4 * 4 * 5 * 3]
    assert normal.totals.mults / separable.totals.mults == pytest.approx(2160 / 672)


def test_inception_shapes_per_branch() -> None:
    report = archlang.check(SPECS / "inception_module.arch")
    concat = report.rows[-1]
    assert concat.op.startswith("concat")
    branch_outputs = [r.output for r in report.rows if r.name.endswith("relu1") or r.name.endswith("relu2")]
    assert (28, 28, 64) in branch_outputs and (28, 28, 128) in branch_outputs
    assert concat.output == (28, 28, 64 + 128 + 32 + 32)


def test_lenet_activation_shapes_follow_the_course() -> None:
    shapes = [r.output for r in archlang.check(SPECS / "lenet5.arch").rows if r.op.split()[0] in ("conv", "avgpool")]
    assert shapes == [(28, 28, 6), (14, 14, 6), (10, 10, 16), (5, 5, 16)]


def test_every_spec_states_expected_figures() -> None:
    for path in sorted(SPECS.glob("*.arch")):
        assert re.search(r"^#.*Expected", path.read_text(), re.M), f"{path.name} states no expected figures"
