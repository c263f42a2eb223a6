"""The analysis pass: writes shape, parameters and multiplies onto each IR node.

The elaborator runs it node by node as it builds the graph, because a block's body may depend
on the shape flowing into it (``in.c``)."""

from __future__ import annotations

from ..core.ir import Node
from ..core.opdef import MergeDef, OpDef
from ..core.shapes import Shape


def analyse_op(node: Node, op: OpDef, in_shape: Shape) -> list[str]:
    """Apply ``op``'s rules to ``node``: resolve its attributes, then its shape, parameters and
    multiplies from them. Returns warnings, raises :class:`ShapeError`."""
    resolved = op.resolve(in_shape, node.attrs)
    out = op.rule(in_shape, resolved)
    node.resolved = resolved
    node.shape = out
    node.params = op.params(in_shape, out, resolved)
    node.mults = op.mults(in_shape, out, resolved)
    return op.warnings(in_shape, resolved)


def analyse_merge(node: Node, merge: MergeDef, shapes: list[Shape]) -> None:
    """The shape of a merge over its branches' shapes; raises :class:`ShapeError`."""
    node.shape = merge.rule(shapes)
