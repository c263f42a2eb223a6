"""The version 2 specs held against torchvision's own definitions: torchvision's state dict loads into
the compiled model completely (`archlang.load_weights`), and the outputs are the same, in eval mode
and, for GoogLeNet's auxiliary classifiers, in training mode. Marked `torchvision` (not a
dependency): `python -m pytest -m torchvision`."""

from __future__ import annotations

import pytest
import torch

import archlang
from conftest import SPECS, outputs_of

pytestmark = pytest.mark.torchvision

# spec, spec parameters, torchvision builder, its arguments, input side
CASES = [
    ("convnext_tiny", {}, "convnext_tiny", {}, 224),
    ("googlenet_aux", {}, "googlenet", {"aux_logits": True, "init_weights": False}, 224),
    ("mobilenet_v3_large", {}, "mobilenet_v3_large", {}, 224),
    ("regnet_y_400mf", {}, "regnet_y_400mf", {}, 224),
    ("efficientnet_v2_s", {"res": 128}, "efficientnet_v2_s", {}, 128),
    ("fcn_resnet50", {"res": 128}, "segmentation.fcn_resnet50", {"aux_loss": True, "weights_backbone": None}, 128),
    ("deeplabv3_mobilenet_v3_large", {"res": 128}, "segmentation.deeplabv3_mobilenet_v3_large",
     {"aux_loss": True, "weights_backbone": None}, 128),
]


def reference(torchvision, builder: str, kwargs: dict) -> torch.nn.Module:
    module = torchvision.models
    for part in builder.split("."):
        module = getattr(module, part)
    return module(weights=None, **kwargs)


def randomise_statistics(model: torch.nn.Module) -> None:
    """Batch-norm statistics away from 0 and 1, and layer scales away from 1e-6, so that a
    misplaced tensor shows in the output."""
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if name.endswith("running_mean") or name.endswith("layer_scale"):
                tensor.normal_(0, 0.1)
            elif name.endswith("running_var"):
                tensor.uniform_(0.5, 1.5)


def assert_same(got: list[torch.Tensor], expected: list[torch.Tensor]) -> None:
    assert [tuple(g.shape) for g in got] == [tuple(e.shape) for e in expected]
    for g, e in zip(got, expected, strict=True):
        torch.testing.assert_close(g, e, rtol=1e-4, atol=1e-4 * float(e.abs().max()))


@pytest.mark.parametrize("spec, params, builder, kwargs, side", CASES, ids=[c[0] for c in CASES])
def test_state_dict_loads_completely_and_outputs_agree(torchvision, spec: str, params: dict, builder: str,
                                                       kwargs: dict, side: int) -> None:
    torch.manual_seed(0)
    theirs = reference(torchvision, builder, kwargs).eval()
    randomise_statistics(theirs)
    ours = archlang.compile(SPECS / f"{spec}.arch", **params).eval()
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in theirs.parameters())
    report = archlang.load_weights(ours, theirs)
    assert report.complete and not report.unused, report.summary()
    x = torch.randn(2, 3, side, side)
    with torch.inference_mode():
        expected, got = theirs(x), ours(x)
    if isinstance(expected, dict):  # segmentation: {"out", "aux"}, both resized to the input
        assert isinstance(got, dict) and list(got) == list(expected) == ["out", "aux"]
        assert tuple(got["out"].shape) == (2, 21, side, side)
    assert_same(outputs_of(got), outputs_of(expected))


def test_googlenet_aux_outputs_in_training(torchvision) -> None:
    """Training mode: (logits, aux_logits2, aux_logits1), as torchvision's GoogLeNetOutputs; the
    dropouts are made inactive so that the two models can be compared."""
    torch.manual_seed(0)
    theirs = reference(torchvision, "googlenet", {"aux_logits": True, "init_weights": False})
    ours = archlang.compile(SPECS / "googlenet_aux.arch")
    assert archlang.load_weights(ours, theirs).complete
    for model in (theirs, ours):
        model.train()
        for module in model.modules():
            if isinstance(module, torch.nn.Dropout):
                module.p = 0.0
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        expected, got = theirs(x), ours(x)
    assert isinstance(got, tuple) and len(got) == 3
    assert_same(list(got), [expected.logits, expected.aux_logits2, expected.aux_logits1])
