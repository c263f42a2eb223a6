"""The zoo and tests/networks held against torchvision's own definitions: the same tensors in the
same order, weights copied across by `archlang.load_weights`, the same outputs. torchvision is not
a dependency (no build of it matches the pinned CPU torch here), so these are marked `torchvision`
and run where it is installed: `python -m pytest -m torchvision`."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import archlang
from archlang.api import load
from archlang.emit.build import example_input

pytestmark = pytest.mark.torchvision
ROOT = Path(__file__).resolve().parent.parent

CASES = [
    ("specs/alexnet", {}, "alexnet", {}),
    ("specs/vgg", {"depth": 11}, "vgg11", {}),
    ("specs/vgg", {"depth": 13}, "vgg13", {}),
    ("specs/vgg", {"depth": 16}, "vgg16", {}),
    ("specs/vgg", {"depth": 19}, "vgg19", {}),
    ("specs/vgg", {"depth": 16, "bn": 1}, "vgg16_bn", {}),
    ("specs/resnet", {"depth": 18}, "resnet18", {}),
    ("specs/resnet", {"depth": 34}, "resnet34", {}),
    ("specs/resnet", {"depth": 50}, "resnet50", {}),
    ("specs/resnet", {"depth": 101}, "resnet101", {}),
    ("specs/resnet", {"depth": 152}, "resnet152", {}),
    ("specs/googlenet", {}, "googlenet", {"aux_logits": False, "init_weights": True}),
    ("specs/mobilenet_v2", {}, "mobilenet_v2", {}),
    *[("specs/efficientnet", {"width": w, "depth": d, "res": r}, f"efficientnet_b{i}", {})
      for i, (w, d, r) in enumerate([(1.0, 1.0, 224), (1.0, 1.1, 240), (1.1, 1.2, 260), (1.2, 1.4, 300),
                                     (1.4, 1.8, 380), (1.6, 2.2, 456), (1.8, 2.6, 528), (2.0, 3.1, 600)])],
    ("tests/networks/squeezenet", {}, "squeezenet1_1", {}),
    ("tests/networks/shufflenet_v2", {}, "shufflenet_v2_x1_0", {}),
    ("tests/networks/densenet121", {}, "densenet121", {}),
    ("tests/networks/resnext50", {}, "resnext50_32x4d", {}),
]


@pytest.mark.parametrize("spec, params, name, kwargs", CASES, ids=[c[2] for c in CASES])
def test_same_network_as_torchvision(torchvision, spec: str, params: dict, name: str, kwargs: dict) -> None:
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.manual_seed(0)
    reference = getattr(torchvision.models, name)(weights=None, **kwargs).eval()
    path = ROOT / f"{spec}.arch"
    model = archlang.compile(path, **params).eval()
    ours = [tuple(t.shape) for t in model.state_dict().values()]
    theirs = [tuple(t.shape) for t in reference.state_dict().values()]
    assert ours == theirs  # the same tensors in the same order
    report = archlang.load_weights(model, reference)
    assert report.complete, report.summary()
    x = example_input(load(path, params), batch=2, device=device)
    with torch.inference_mode():
        expected = reference.to(device)(x)
        got = model.to(device)(x)
    scale = expected.abs().max()
    assert torch.allclose(got, expected, rtol=1e-4, atol=1e-4 * float(scale)), float((got - expected).abs().max())
