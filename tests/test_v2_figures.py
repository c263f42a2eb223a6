"""tests/v2_figures.json holds what the version 2 specs must reproduce. Its YOLOv8 rows are checked
against the hand-written reference here; its torchvision rows against torchvision where installed."""

from __future__ import annotations

import json

import pytest
import torch

from conftest import ROOT
from references.measure_torchvision import TORCHVISION, measure, measure_all
from references.yolov8 import PUBLISHED_PARAMS, SCALES, yolov8

FIGURES = json.loads((ROOT / "tests" / "v2_figures.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("scale", sorted(SCALES))
def test_yolov8_figures_are_the_references(scale: str) -> None:
    with torch.device("meta"):
        model = yolov8(scale)
    measured = measure(model, 640, device="meta")
    recorded = FIGURES[f"yolov8{scale}"]
    assert recorded["params"] == measured["params"] == PUBLISHED_PARAMS[scale]
    assert recorded["trainable"] == measured["trainable"] == PUBLISHED_PARAMS[scale] - 16
    assert recorded["mults"] == measured["mults"]
    assert [o["hwc"] for o in recorded["outputs"]] == ["80x80x144", "40x40x144", "20x20x144"]


def test_yolov8n_mults_are_ultralytics_gflops() -> None:
    # Ultralytics prints 8.7 GFLOPs for YOLOv8n at 640 (two operations per multiply-accumulate)
    assert round(2 * FIGURES["yolov8n"]["mults"] / 1e9, 1) == 8.7


def test_every_torchvision_model_has_figures() -> None:
    for name, (kwargs, size, spec) in TORCHVISION.items():
        assert FIGURES[name]["input"] == f"{size}x{size}x3"
        assert FIGURES[name]["spec"] == spec and FIGURES[name]["kwargs"] == kwargs
    assert FIGURES["googlenet"]["train_mults"] > FIGURES["googlenet"]["mults"]


@pytest.mark.torchvision
def test_torchvision_figures_measured_again() -> None:
    # shapes only (meta tensors): the recorded figures were measured on real tensors
    assert measure_all(device="meta") | {"_about": FIGURES["_about"]} == FIGURES
