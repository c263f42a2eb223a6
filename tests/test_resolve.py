"""The resolve step: each op derives its padding, groups and strides into ``Node.resolved``
without touching the attributes bound from the spec, and its rules read only that mapping.
Folding: the table and the diagram fold through one routine."""

from __future__ import annotations

from types import MappingProxyType

import pytest

import archlang
from archlang.core.opdef import OpDef
from archlang.emit.dot import boxes_and_edges
from archlang.report import Fold, folded
from conftest import SPECS

ALL_SPECS = sorted(p.stem for p in SPECS.glob("*.arch"))


def _graph(text: str):
    return archlang.check(text).graph


def test_same_padding_is_resolved_not_written_back() -> None:
    graph = _graph("network n\ninput 8x8x3\nconv 4x4 same x4")
    conv = graph.layers[0]
    assert "pads" not in conv.attrs and conv.attrs["same"] is True
    assert conv.resolved["pads"] == ((1, 2), (1, 2))  # PyTorch's split of an even kernel's padding
    assert conv.shape == (8, 8, 4)


def test_depthwise_groups_and_filters_are_resolved() -> None:
    graph = _graph("network n\ninput 8x8x6\ndwconv 3x3 p1")
    node = graph.layers[0]
    assert node.attrs["filters"] is None and "groups" not in node.attrs
    assert node.resolved["groups"] == 6 and node.resolved["filters"] == 6
    assert node.params == 6 * 9 + 6


def test_pool_stride_defaults_to_window_in_resolved_only() -> None:
    graph = _graph("network n\ninput 9x9x2\nmaxpool 3")
    node = graph.layers[0]
    assert node.attrs["stride"] is None
    assert node.resolved["stride"] == (3, 3) and node.resolved["pads"] == ((0, 0), (0, 0))
    assert node.shape == (3, 3, 2)


def test_bound_attrs_do_not_repeat_the_op_name() -> None:
    graph = _graph("network n\ninput 8x8x3\nconv 3x3 x4 -> relu")
    assert all("op" not in n.attrs for n in graph.layers)


@pytest.mark.parametrize("name", ALL_SPECS)
def test_resolve_and_rules_are_pure(name: str) -> None:
    """Rerun every op of every spec on read-only mappings: a rule that wrote into its attributes
    would raise; the results equal the analysis's."""
    graph = archlang.check(SPECS / f"{name}.arch").graph
    for node in graph.layers:
        op = node.definition
        if not isinstance(op, OpDef):
            continue
        before = dict(node.attrs)
        in_shape = graph.nodes[node.inputs[0]].shape
        resolved = op.resolve(in_shape, MappingProxyType(node.attrs))  # type: ignore[arg-type]
        assert resolved == node.resolved and resolved is not node.attrs
        frozen = MappingProxyType(resolved)
        out = op.rule(in_shape, frozen)  # type: ignore[arg-type]
        assert out == node.shape
        assert op.params(in_shape, out, frozen) == node.params  # type: ignore[arg-type]
        assert op.mults(in_shape, out, frozen) == node.mults  # type: ignore[arg-type]
        op.warnings(in_shape, frozen)  # type: ignore[arg-type]
        assert node.attrs == before
        assert set(node.attrs) <= set(node.resolved)


@pytest.mark.parametrize("name", ["resnet", "googlenet", "tiny_unet", "efficientnet"])
def test_table_and_diagram_fold_alike(name: str) -> None:
    report = archlang.check(SPECS / f"{name}.arch")
    graph = report.graph
    for depth in (0, 1):
        items = folded(graph, depth)
        rows = report.fold(depth).rows
        boxes, _ = boxes_and_edges(graph, depth)
        assert len(items) == len(rows) == len(boxes) - 2  # the diagram adds input and output
        for item, row in zip(items, rows):
            if isinstance(item, Fold):
                assert (row.name, row.params, row.mults, row.folded) == (
                    item.path, sum(n.params for n in item.members), sum(n.mults for n in item.members),
                    len(item.members))
            else:
                assert row.name == item.name and row.folded == 0
    assert folded(graph, None) == graph.layers
