"""Every zoo network traces into one graph with no break under `torch.compile` (Dynamo), in eval
mode and in training mode (drop path, augmentation, training-only outputs take other paths there),
and exports with `torch.export`. Networks run at a small input; the default run covers the specs
whose runtime helpers are the likeliest to break a graph (augmentation; channel layer norm, layer
scale, drop path); `-m slow` runs the whole zoo (30 specs, about 90 CPU-seconds)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from archlang.api import load
from archlang.core.errors import ArchError
from archlang.emit.build import build_module
from conftest import SPECS, outputs_of

QUICK = {"cifar_augment", "convnext_tiny"}  # augmentation; layer norm, layer scale and drop path
ZOO = [pytest.param(p, id=p.stem, marks=() if p.stem in QUICK else pytest.mark.slow)
       for p in sorted(SPECS.glob("*.arch"))]


def _small(path: Path):
    graph = load(path)
    if len(graph.input.shape) != 3:
        return graph
    for side in (32, 48, 64, 96, 128):
        try:
            return load(path, None, (side, side, graph.input.shape[2]))
        except ArchError:
            continue
    return graph


@pytest.mark.parametrize("path", ZOO)
def test_one_graph_no_breaks_and_export(path: Path) -> None:
    graph = _small(path)
    model = build_module(graph)
    shape = graph.input.shape
    x = torch.randn(2, *((shape[2], shape[0], shape[1]) if len(shape) == 3 else shape))
    for training in (True, False):
        torch._dynamo.reset()
        model.train(training)
        explained = torch._dynamo.explain(model)(x)
        assert (explained.graph_count, explained.graph_break_count) == (1, 0), (training, explained.break_reasons)
    model.eval()
    exported = torch.export.export(model, (x,))
    with torch.no_grad():
        for got, expected in zip(outputs_of(exported.module()(x)), outputs_of(model(x)), strict=True):
            torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)
