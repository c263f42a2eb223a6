"""In-place operations in the generated model: activations that overwrite their producer's output,
and residual adds that overwrite the branch nothing else reads (`branch1.add_(shortcut)`, as
torchvision's `out += identity`). Each is used
only where autograd does not need the overwritten tensor, so the outputs and every gradient are
the same, bit for bit, as those of the same model written out of place."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from archlang.api import load
from archlang.core.errors import ArchError
from archlang.emit.build import class_from_source
from archlang.emit.codegen import class_name, generate, plan
from conftest import SPECS, outputs_of

# (ConvNeXt's and YOLOv8's residual branches end in drop path and SiLU, whose outputs are not
# overwritten: drop path returns its input in eval mode, SiLU's is the result of an activation)
# (narrowed and with 10 classes where the spec allows, to keep the test fast; the structure is the same)
RESIDUAL_SPECS = [("resnet", {"depth": 18, "classes": 10}), ("mobilenet_v2", {"width": 0.5, "classes": 10}),
                  ("efficientnet", {"width": 0.5, "depth": 0.5, "classes": 10}), ("regnet_y_400mf", {"classes": 10}),
                  ("mobilenet_v3_large", {"classes": 10})]


def _smallest_input(path: Path, params: dict) -> tuple[int, ...]:
    channels = load(path, params).input.shape[2]
    for side in (32, 48, 64, 96, 128):
        try:
            load(path, params, (side, side, channels))
        except ArchError:
            continue
        return (side, side, channels)
    raise AssertionError(f"{path.name} accepts no small input")


def _run(model: torch.nn.Module, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor, list]:
    xi = x.clone().requires_grad_(True)
    outputs = outputs_of(model(xi))
    sum(o.square().sum() for o in outputs).backward()
    return [o.detach() for o in outputs], xi.grad, [p.grad for p in model.parameters()]


@pytest.mark.parametrize("name, params", RESIDUAL_SPECS, ids=[n for n, _ in RESIDUAL_SPECS])
def test_in_place_plan_leaves_outputs_and_gradients_unchanged(name: str, params: dict) -> None:
    path = SPECS / f"{name}.arch"
    shape = _smallest_input(path, params)
    graph = load(path, params, shape)
    fast_plan = plan(graph)
    assert fast_plan.inplace_merges, "a residual network overwrites some branch in place"
    slow_plan = plan(graph)
    slow_plan.inplace.clear()
    slow_plan.inplace_merges.clear()
    slow_source = generate(graph, slow_plan)
    assert ".add_(" not in slow_source
    torch.manual_seed(0)
    fast = class_from_source(generate(graph, fast_plan), class_name(graph.name))().train()
    slow = class_from_source(slow_source, class_name(graph.name))().train()
    slow.load_state_dict(fast.state_dict())
    x = torch.randn(2, shape[2], shape[0], shape[1])
    for mode in (True, False):  # training: batch statistics, drop path; eval: running statistics
        fast.train(mode)
        slow.train(mode)
        torch.manual_seed(1)
        got = _run(fast, x)
        torch.manual_seed(1)
        expected = _run(slow, x)
        assert all(torch.equal(a, b) for a, b in zip(got[0], expected[0], strict=True))
        assert torch.equal(got[1], expected[1])
        assert all(torch.equal(a, b) for a, b in zip(got[2], expected[2], strict=True))
        fast.zero_grad()
        slow.zero_grad()


def test_add_overwrites_only_a_branch_nothing_else_reads() -> None:
    graph = load("input 8x8x4\nx = conv 3x3 same x4 -> bn\n"
                 "residual(conv 3x3 same x4 -> bn) -> relu\n"  # the body's bn: overwritten
                 "-> residual(conv 3x3 same x4 -> relu)\n"  # relu keeps its result for backward: not
                 "-> add(identity, gap -> conv 1x1 x4)\n")  # 1x1x4 broadcasts: the other is the shortcut
    chosen = {graph.nodes[i].name: pos for i, pos in plan(graph).inplace_merges.items()}
    adds = [n for n in graph.layers if n.op == "add"]
    assert len(adds) == 3
    assert adds[0].name in chosen and adds[1].name not in chosen and adds[2].name not in chosen
    source = generate(graph, plan(graph))
    assert source.count(".add_(") == 1
