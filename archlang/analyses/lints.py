"""Lints: likely mistakes that are not errors, each a warning at the layer it concerns.

The language itself warns of a binding that feeds no output and of an input that looks
channel-first (``sema``); the lints here need the analyses and do not repeat those."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..core.errors import Diagnostic
from ..core.ir import Graph
from ..core.shapes import is_volume
from . import access

if TYPE_CHECKING:  # pragma: no cover
    from fractions import Fraction

# `fractions` (which imports `decimal`) and `sizes` load only for a network with a concat: the
# other lints run on every `check`, whose start-up they would otherwise add to


def uneven_same(graph: Graph) -> list[Diagnostic]:
    """`same` with an even (dilated) kernel pads one pixel more after than before."""
    found = []
    for node in graph.layers:
        pads = access.attr(node, "pads")
        if not access.attr(node, "same") or not pads or all(b == a for b, a in pads):
            continue
        sides = " and ".join(f"{b} before, {a} after" for b, a in dict.fromkeys(pads) if b != a)
        found.append(Diagnostic("warning", f"`same` pads unevenly here ({sides}): the output shifts by half a pixel",
                                node.span, "use an odd kernel, or pad explicitly (`p1`) if the shift is intended"))
    return found


def _rates(graph: Graph, axis: int) -> dict[int, Fraction | None]:
    """How fast each layer's size grows with the input size along ``axis`` (None: a vector)."""
    from fractions import Fraction

    rates: dict[int, Fraction | None] = {0: Fraction(1)}
    for node in graph.layers:
        source = rates[node.inputs[0]] if node.inputs else None
        name = access.op_name(node)
        if source is None or not is_volume(access.shape(node)):
            rates[node.index] = None
        elif name in ("conv", "dwconv", "maxpool", "avgpool"):
            rates[node.index] = source / access.attr(node, "stride")[axis]
        elif name in ("convt", "upsample"):
            rates[node.index] = source * access.attr(node, "stride" if name == "convt" else "scale")[axis]
        elif name in access.ADAPTIVE_POOLS or name in access.GLOBAL_POOLS or (
                name == "resize" and access.attr(node, "like") is None):  # a fixed output size
            rates[node.index] = Fraction(0)
        else:
            rates[node.index] = source
    return rates


def _uneven_concat(graph: Graph) -> bool:
    """Whether some concat joins branches whose sizes grow at different rates (cheap, one pass)."""
    if not any(access.op_name(node) == "concat" for node in graph.layers):
        return False
    for axis in (0, 1):
        rates = _rates(graph, axis)
        for node in graph.layers:
            if access.op_name(node) == "concat" and len({rates[i] for i in node.inputs}) > 1:
                return True
    return False


def fragile_concats(graph: Graph) -> list[Diagnostic]:
    """A concat whose branches have the same size only at a few input sizes (different strides
    that happen to meet at the spec's input)."""
    if not is_volume(graph.input.shape) or not _uneven_concat(graph):
        return []
    from . import sizes

    found = []
    for axis, var in ((0, "height"), (1, "width")):
        try:
            fragile = sizes.fragile_merges(graph, axis)
        except sizes.NotStatic:
            return []
        for node, agree in fragile.items():
            if access.op_name(graph.nodes[node]) != "concat":
                continue
            listing = ", ".join(map(str, sorted(agree)[:6]))
            found.append(Diagnostic("warning", f"the branches of this `concat` agree in {var} only for input "
                                    f"{var}s {listing}", graph.nodes[node].span,
                                    "the branches change size at different rates: give them the same strides "
                                    "and upsampling, or check `archlang sizes`"))
    return list({(d.message, d.span): d for d in found}.values())


def lint(graph: Graph) -> list[Diagnostic]:
    """Every lint's warnings for an analysed graph."""
    return uneven_same(graph) + fragile_concats(graph)
