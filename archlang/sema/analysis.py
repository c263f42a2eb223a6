"""The analysis pass: writes shape, parameters and multiplies onto each IR node.

The elaborator runs it node by node as it builds the graph, because a block's body may depend
on the shape flowing into it (``in.c``)."""

from __future__ import annotations

from ..core.ir import Node
from ..ops import OpDef
from ..core.shapes import Shape, ShapeError, fmt, is_volume


def analyse_op(node: Node, op: OpDef, in_shape: Shape) -> list[str]:
    """Apply ``op``'s rules to ``node``; returns warnings, raises :class:`ShapeError`."""
    out = op.rule(in_shape, node.attrs)
    node.shape = out
    node.params = op.params(in_shape, out, node.attrs)
    node.mults = op.mults(in_shape, out, node.attrs)
    return op.warnings(in_shape, node.attrs)


def analyse_merge(node: Node, shapes: list[Shape]) -> None:
    """Shape of ``concat``, ``add`` or ``mul`` over its branches' shapes."""
    node.shape = concat_shape(shapes) if node.op == "concat" else elementwise_shape(node.op, shapes)


def _listing(shapes: list[Shape]) -> str:
    return ", ".join(fmt(s) for s in shapes)


def concat_shape(shapes: list[Shape]) -> Shape:
    if all(is_volume(s) for s in shapes):
        if len({s[:2] for s in shapes}) == 1:
            return shapes[0][:2] + (sum(s[2] for s in shapes),)
        raise ShapeError(f"`concat` needs equal HxW, but its branches give {_listing(shapes)}",
                         help="pad or pool the branches to one height and width")
    if all(len(s) == 1 for s in shapes):
        return (sum(s[0] for s in shapes),)
    raise ShapeError(f"`concat` cannot join volumes and vectors: its branches give {_listing(shapes)}",
                     help="flatten every branch, or none")


def elementwise_shape(op: str, shapes: list[Shape]) -> Shape:
    """Equal shapes, or a ``1x1xC`` branch broadcast over ``HxWxC`` (squeeze-and-excite)."""
    full = [s for s in shapes if not (is_volume(s) and s[:2] == (1, 1))] or [shapes[0]]
    target = full[0]
    ok = all(s == target for s in full) and all(
        s == target or (is_volume(s) and is_volume(target) and s == (1, 1, target[2])) for s in shapes)
    if not ok:
        broadcast = any(is_volume(s) and s[:2] == (1, 1) for s in shapes) and len(full) == 1
        raise ShapeError(f"`{op}` needs equal shapes, but its branches give {_listing(shapes)}",
                         help="a 1x1xC branch broadcasts only over the same C channels" if broadcast else
                         "make the branches agree, e.g. a `conv 1x1 sS xC` projection on the shortcut")
    return target
