"""Every torchvision classification CNN that version 1 of the language can express, imported and
held against torchvision: the parameter count and conv/fc multiply-accumulates, the whole state
dict loaded by order and shape, and the same outputs in eval mode. Small inputs where the network
allows them, to stay fast. Run with `python -m pytest -m torchvision`."""

from __future__ import annotations

import pytest
import torch

import archlang
from importing import round_trip

pytestmark = pytest.mark.torchvision
NO_AUX = {"aux_logits": False, "transform_input": False, "init_weights": True}

# (constructor, keyword arguments, input side)
MODELS = [
    ("resnet18", {}, 64), ("resnet50", {}, 64), ("resnext50_32x4d", {}, 64), ("wide_resnet50_2", {}, 64),
    ("vgg11", {}, 64), ("vgg11_bn", {}, 64), ("alexnet", {}, 64),
    ("squeezenet1_0", {}, 64), ("squeezenet1_1", {}, 64), ("densenet121", {}, 64),
    ("googlenet", NO_AUX, 64), ("inception_v3", NO_AUX, 299),
    ("mobilenet_v2", {}, 64), ("mobilenet_v3_small", {}, 64), ("mobilenet_v3_large", {}, 64),
    ("mnasnet0_5", {}, 64), ("shufflenet_v2_x0_5", {}, 64),
    ("efficientnet_b0", {}, 64), ("efficientnet_v2_s", {}, 64),
    ("regnet_x_400mf", {}, 64), ("regnet_y_400mf", {}, 64),
]


@pytest.mark.parametrize("name, kwargs, side", MODELS, ids=[m[0] for m in MODELS])
def test_torchvision_model_round_trips(torchvision, name: str, kwargs: dict, side: int) -> None:
    torch.manual_seed(0)
    model = getattr(torchvision.models, name)(weights=None, **kwargs)
    text = round_trip(model, (3, side, side), atol=1e-4)
    if name == "resnet50":
        assert len(text.splitlines()) <= 80


def test_resnet50_blocks(torchvision) -> None:
    text = archlang.from_torch(torchvision.models.resnet50(), (3, 64, 64))
    assert "layer3 = bottleneck(256, 2) -> bottleneck_2() * 5" in text.splitlines()


def test_efficientnet_says_what_it_leaves_out(torchvision) -> None:
    text = archlang.from_torch(torchvision.models.efficientnet_b0(), (3, 64, 64))
    lines = text.splitlines()
    assert lines[2:4] == [
        "# note: StochasticDepth (`features.1.0.stochastic_depth` and 6 more) has no parameters and does not run "
        "in forward",
        "# note: stochastic depth (`features.2.1.stochastic_depth` and 8 more) is the identity in eval mode and is "
        "left out; `droppath` comes with version 2 of the language"]


def test_convnext_needs_version_2(torchvision) -> None:
    with pytest.raises(archlang.ArchError) as caught:
        archlang.from_torch(torchvision.models.convnext_tiny(), (3, 64, 64))
    lines = caught.value.render().splitlines()
    assert lines[:2] == ["error: cannot import `Tensor.permute` in `features.0.1` (LayerNorm2d)",
                         "help: layers on channels-last tensors (ConvNeXt) come with version 2 of the language"]
    assert "error: cannot import `LayerNorm` in `features.1.0.block.2` (LayerNorm)" in lines
    assert "help: `fc pixelwise` comes with version 2 of the language" in lines
