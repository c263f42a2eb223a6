"""The version 2 specs against tests/v2_figures.json, whose figures were measured from the hand-written
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


TORCHVISION_ROWS = [name for name, row in FIGURES.items() if not name.startswith(("_", "yolov8"))]


@pytest.mark.parametrize("name", TORCHVISION_ROWS)
def test_torchvision_specs_match_the_measured_figures(name: str) -> None:
    figures = FIGURES[name]
    report = archlang.check(ROOT / figures["spec"])
    assert "x".join(map(str, report.input)) == figures["input"]
    assert report.totals.params == figures["params"]
    assert report.totals.trainable_params == figures["trainable"]
    assert report.totals.mults == figures["mults"]
    assert report.totals.train_mults == figures.get("train_mults", figures["mults"])
    eval_outputs = [o for o in report.outputs if not o.training_only]
    assert ["x".join(map(str, o.shape)) for o in eval_outputs] == [o["hwc"] for o in figures["outputs"]]
    names = [o["name"] for o in figures["outputs"]]
    if any(names):  # the segmenters' dict keys
        assert [o.name for o in eval_outputs] == names
    if "train_outputs" in figures:
        assert ["x".join(map(str, o.shape)) for o in report.outputs] == [o["hwc"] for o in figures["train_outputs"]]


def cifar_reference():
    """specs/cifar_augment.arch in eval mode, written by hand in PyTorch (augmentation is the
    identity in eval mode and has no parameters)."""
    from torch import nn

    layers: list = []
    channels = 3
    for c in (32, 32, "pool", 64, 64, "pool", 128, 128, "pool"):
        if c == "pool":
            layers.append(nn.MaxPool2d(2))
            continue
        layers += [nn.Conv2d(channels, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU()]
        channels = c
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2), nn.Linear(128, 10))


def test_cifar_augment_counts_are_a_hand_written_networks() -> None:
    torch = pytest.importorskip("torch")
    from references.measure_torchvision import count_mults

    reference = cifar_reference().eval()
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        mults, out = count_mults(reference, lambda: reference(x), 1)
    report = archlang.check(ROOT / "specs" / "cifar_augment.arch")
    assert report.totals.params == sum(p.numel() for p in reference.parameters()) == 288_746
    assert report.totals.mults == report.totals.train_mults == mults == 38_634_752
    assert report.output == (10,) and tuple(out.shape) == (1, 10)
    augment = [r for r in report.rows if r.name.startswith("augment")]
    assert [r.training_only for r in augment] == [True, True] and sum(r.params + r.mults for r in augment) == 0
