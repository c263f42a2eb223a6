"""The draft version 2 specs that need only the language's new forms (variants, outputs, labels,
asserts, `as i`) against tests/v2_figures.json, whose figures were measured from the hand-written
YOLOv8 reference and from torchvision (see tests/test_v2_figures.py)."""

from __future__ import annotations

import json

import pytest

import archlang
from conftest import ROOT

FIGURES = json.loads((ROOT / "tests" / "v2_figures.json").read_text(encoding="utf-8"))
V2 = ROOT / "specs"


@pytest.mark.parametrize("scale", ["n", "s", "m", "l", "x"])
def test_yolov8_variants_match_the_reference(scale: str) -> None:
    report = archlang.check(V2 / "yolov8.arch", variant=scale)
    figures = FIGURES[f"yolov8{scale}"]
    assert report.totals.params == figures["params"]
    assert report.totals.trainable_params == figures["trainable"]  # the DFL's 16 frozen parameters
    assert report.totals.mults == report.totals.train_mults == figures["mults"]
    assert ["x".join(map(str, o.shape)) for o in report.outputs] == [o["hwc"] for o in figures["outputs"]]


def test_googlenet_aux_counts_modes_apart() -> None:
    report = archlang.check(V2 / "googlenet_aux.arch")
    figures = FIGURES["googlenet"]
    assert (report.totals.params, report.totals.mults, report.totals.train_mults) == (
        figures["params"], figures["mults"], figures["train_mults"])
    assert [(o.shape, o.training_only) for o in report.outputs] == [((1000,), False), ((1000,), True),
                                                                    ((1000,), True)]


def test_googlenet_aux_returns_one_tensor_in_eval_and_three_in_training() -> None:
    torch = pytest.importorskip("torch")
    model = archlang.compile(V2 / "googlenet_aux.arch")
    assert sum(p.numel() for p in model.parameters()) == FIGURES["googlenet"]["params"]
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        assert tuple(model.eval()(x).shape) == (2, 1000)
        out = model.train()(x)
    assert isinstance(out, tuple) and [tuple(o.shape) for o in out] == [(2, 1000)] * 3
