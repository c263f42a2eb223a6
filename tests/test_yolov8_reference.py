"""The hand-written YOLOv8 reference matches the published models: parameters at every scale, the
three raw head maps, and the registration order that differs from the execution order."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from references.yolov8 import C2f, PUBLISHED_PARAMS, REG_MAX, SCALES, SPEC_NAMES, yolov8


@pytest.mark.parametrize("scale", sorted(SCALES))
def test_parameters_are_the_published_ones(scale: str) -> None:
    with torch.device("meta"):  # shapes only: building x on the CPU would allocate 270 MB
        model = yolov8(scale)
    assert sum(p.numel() for p in model.parameters()) == PUBLISHED_PARAMS[scale]


def test_dfl_is_sixteen_frozen_parameters() -> None:
    model = yolov8("n")
    frozen = {name: p for name, p in model.named_parameters() if not p.requires_grad}
    assert list(frozen) == ["model.22.dfl.conv.weight"]
    assert frozen["model.22.dfl.conv.weight"].flatten().tolist() == list(range(REG_MAX))


@pytest.mark.parametrize("size", [64, 96])
def test_three_raw_head_maps(size: int) -> None:
    torch.manual_seed(0)
    model = yolov8("n", classes=3).eval()
    with torch.inference_mode():
        maps = model(torch.randn(2, 3, size, size))
    channels = 4 * REG_MAX + 3
    assert [tuple(m.shape) for m in maps] == [(2, channels, size // s, size // s) for s in (8, 16, 32)]


def test_c2f_registers_a_module_before_the_ones_that_run_first() -> None:
    model = yolov8("n").eval()
    block = model.model[2]
    assert isinstance(block, C2f)
    convs = [m for m in block.modules() if isinstance(m, nn.Conv2d)]
    registered = [name for name, m in block.named_modules() if isinstance(m, nn.Conv2d)]
    executed: list[str] = []
    names = {m: name for name, m in block.named_modules()}
    hooks = [m.register_forward_hook(lambda m, i, o: executed.append(names[m])) for m in convs]
    with torch.inference_mode():
        block(torch.randn(1, 32, 16, 16))
    for hook in hooks:
        hook.remove()
    assert registered == ["cv1.conv", "cv2.conv", "m.0.cv1.conv", "m.0.cv2.conv"]
    assert executed == ["cv1.conv", "m.0.cv1.conv", "m.0.cv2.conv", "cv2.conv"]


def test_spec_names_cover_every_layer_with_parameters() -> None:
    model = yolov8("n")
    with_parameters = {i for i, layer in enumerate(model.model) if any(True for _ in layer.parameters())}
    assert set(SPEC_NAMES) == with_parameters
    assert len(set(SPEC_NAMES.values())) == len(SPEC_NAMES)
