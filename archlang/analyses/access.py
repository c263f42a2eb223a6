"""The one place where the analyses read the IR: op names, resolved attributes, inputs and
outputs. Keeping every read here means a change to the IR's layout touches this file only."""

from __future__ import annotations

from typing import Any

from ..core.ir import Graph, Node, Runs
from ..core.shapes import Shape, is_volume
from ..ops import MERGES

GLOBAL_POOLS = frozenset({"gap", "gmp"})
ADAPTIVE_POOLS = frozenset({"adaptiveavgpool", "adaptivemaxpool"})


def op_name(node: Node) -> str:
    """The registry name of the node's op (``conv``, ``add``, ``input``...)."""
    return node.op


def is_merge(node: Node) -> bool:
    """A combinator joining branches (``concat``, ``add``, ``mul``, and any merge registered later)."""
    return op_name(node) in MERGES


def attr(node: Node, key: str, default: Any = None) -> Any:
    """A resolved attribute of the node: what the op's resolve step derived (pads, a pool's
    stride, groups, a resize's size) on top of the attributes as written."""
    resolved = node.resolved or node.attrs
    return resolved.get(key, default)


def runs_in(node: Node, training: bool) -> bool:
    """Whether ``forward`` computes the node in the given mode (``Runs.NEVER``: in neither)."""
    return node.runs == Runs.ALWAYS or (training and node.runs == Runs.TRAINING)


def shape(node: Node) -> Shape:
    return node.shape or ()


def input_nodes(graph: Graph, node: Node) -> list[Node]:
    return [graph.nodes[i] for i in node.inputs]


def in_shape(graph: Graph, node: Node) -> Shape:
    """The shape flowing into a single-input op."""
    return shape(graph.nodes[node.inputs[0]]) if node.inputs else ()


def output_nodes(graph: Graph, training: bool = True) -> list[Node]:
    """The nodes of the network's outputs in one mode (training: all of them), each once."""
    seen: dict[int, Node] = {}
    for out in graph.outputs_in(training):
        seen.setdefault(out.node, graph.nodes[out.node])
    return list(seen.values()) or [graph.nodes[graph.output]]


def window(node: Node, axis: int) -> tuple[int, int, int, int]:
    """``(kernel, stride, pad_before, dilation)`` of a conv or pool along ``axis`` (0: H, 1: W)."""
    pads = attr(node, "pads") or ((0, 0), (0, 0))
    dilation = attr(node, "dilation") or (1, 1)
    return attr(node, "kernel")[axis], attr(node, "stride")[axis], pads[axis][0], dilation[axis]


def is_global_pool(node: Node) -> bool:
    """``gap``, ``gmp``, or an adaptive pool to 1x1."""
    name = op_name(node)
    return name in GLOBAL_POOLS or (name in ADAPTIVE_POOLS and tuple(attr(node, "size") or (1, 1)) == (1, 1))


def is_spatial(s: Shape) -> bool:
    return is_volume(s)
