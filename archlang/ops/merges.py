"""Merges: combinators that join branches into one tensor. Each is one :class:`MergeDef` entry
(its shape rule, PyTorch expression and diagram symbol); ``residual`` is ``add`` with the
identity as first branch, and ``freeze`` is no merge at all (the elaborator's)."""

from __future__ import annotations

from ..core.opdef import MergeDef
from ..core.shapes import Shape, ShapeError, fmt, is_volume
from .registry import register_merge


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


register_merge(MergeDef("concat", concat_shape, lambda args: f"torch.cat([{', '.join(args)}], dim=1)", "concat",
                        doc="channels of every branch, side by side", output_reusable=True))
register_merge(MergeDef("add", lambda shapes: elementwise_shape("add", shapes), lambda args: " + ".join(args), "+",
                        doc="element-wise sum of the branches", output_reusable=True,
                        torch_inplace=lambda args: args[0] + "".join(f".add_({a})" for a in args[1:])))
register_merge(MergeDef("mul", lambda shapes: elementwise_shape("mul", shapes), lambda args: " * ".join(args), "×",
                        doc="element-wise product of the branches"))
