"""Legal input sizes: which heights (and widths) a spec accepts, from the shape rules.

Along one axis, every layer's size is a quasi-affine function of the input size ``n``: from
some ``start`` on, ``size(n + M) = size(n) + K`` for a period ``M``, because convolutions and
pools floor-divide by their stride, and transposed convolutions and upsampling multiply. So one
period of values, found by applying each op's own shape rule, describes a layer at every size.
Constraints are then of two kinds: a layer needs its input to be at least some size (its
window must fit; monotone, so a threshold on ``n``), and a merge needs its branches to agree
(a set of residues when their slopes agree, a finite set when they do not)."""

from __future__ import annotations

import re
from ..core.records import dataclass
from fractions import Fraction
from math import gcd

from ..core.ir import Graph, Node
from ..core.shapes import ShapeError, is_volume
from ..ops import lookup
from . import access

UNBOUNDED = 1 << 62


@dataclass(frozen=True)
class Legal:
    """Sizes ``n >= start`` with ``n % period`` in ``residues``; or exactly ``finite``."""

    start: int
    period: int = 1
    residues: frozenset[int] = frozenset({0})
    finite: frozenset[int] | None = None

    def __contains__(self, n: int) -> bool:
        if self.finite is not None:
            return n in self.finite
        return n >= self.start and n % self.period in self.residues

    def __and__(self, other: "Legal") -> "Legal":
        if self.finite is not None or other.finite is not None:
            base = self if self.finite is not None else other
            rest = other if base is self else self
            return Legal(0, finite=frozenset(n for n in base.finite or () if n in rest))
        period = self.period * other.period // gcd(self.period, other.period)
        residues = frozenset(r for r in range(period) if r % self.period in self.residues
                             and r % other.period in other.residues)
        return _simplified(Legal(max(self.start, other.start), period, residues))


def _simplified(legal: Legal) -> Legal:
    """The same set with the shortest period: the least shift that maps the residues onto themselves."""
    for d in range(1, legal.period + 1):
        if legal.period % d == 0 and {(r + d) % legal.period for r in legal.residues} == legal.residues:
            return Legal(legal.start, d, frozenset(r % d for r in legal.residues))
    return legal


@dataclass(frozen=True)
class Size:
    """A layer's size along the axis, for legal ``n >= start``."""

    start: int
    period: int
    step: int  # size(n + period) - size(n)
    values: tuple[int, ...]  # size(start), ..., size(start + period - 1)

    def __call__(self, n: int) -> int:
        k, r = divmod(n - self.start, self.period)
        return self.values[r] + k * self.step

    @property
    def slope(self) -> Fraction:
        return Fraction(self.step, self.period)


class NotStatic(Exception):
    """The spec's structure or an op's rule cannot be analysed along the axis."""


def _rule_size(node: Node, shape: tuple[int, ...], axis: int) -> int | None:
    """The node's size along ``axis`` from its op's own rule for an input ``shape``; None if the
    rule refuses it."""
    op = lookup(access.op_name(node))
    if op is None:
        raise NotStatic(access.op_name(node))
    if access.attr(node, "like") is not None:  # `resize like=NAME` follows another tensor's size
        raise NotStatic(access.op_name(node))
    try:
        return op.rule(shape, op.resolve(shape, dict(node.attrs)))[axis]  # resolved for this input
    except ShapeError:
        return None


def _first(predicate, low: int) -> int:
    """The least ``n >= low`` where the monotone ``predicate`` holds (UNBOUNDED if none)."""
    high = low
    while not predicate(high):
        if high >= UNBOUNDED:
            return UNBOUNDED
        high = max(high * 2, 1)
    while low < high:
        mid = (low + high) // 2
        if predicate(mid):
            high = mid
        else:
            low = mid + 1
    return low


def _reduced(size: Size) -> Size:
    for d in range(1, size.period):
        if size.period % d == 0 and (size.step * d) % size.period == 0:
            step = size.step * d // size.period
            if all(size.values[r + d] == size.values[r] + step for r in range(size.period - d)):
                return Size(size.start, d, step, size.values[:d])
    return size


def _layer(graph: Graph, node: Node, source: Size, legal: Legal, axis: int) -> tuple[Size, Legal]:
    fixed = access.in_shape(graph, node)

    def at(x: int) -> int | None:
        shape = tuple(x if i == axis else d for i, d in enumerate(fixed))
        return _rule_size(node, shape, axis)

    start = _first(lambda n: at(source(n)) is not None, max(source.start, legal.start))
    if start >= UNBOUNDED:
        return source, Legal(0, finite=frozenset())
    legal = legal & Legal(start)
    name = access.op_name(node)
    factor = access.attr(node, "stride")[axis] if name in ("conv", "dwconv", "maxpool", "avgpool") else 1
    period = source.period * factor
    values = tuple(at(source(start + r)) for r in range(period + 1))
    if any(v is None for v in values):
        raise NotStatic(node.name)  # the rule is not monotone in the size: fall back
    size = Size(start, period, values[period] - values[0], values[:period])  # type: ignore[arg-type]
    return _reduced(size), legal


def _agree(a: Size, b: Size, legal: Legal) -> Legal:
    """Where two branches' sizes are equal."""
    start = max(a.start, b.start, legal.start)
    if a.slope == b.slope:
        period = a.period * b.period // gcd(a.period, b.period)
        residues = frozenset((start + r) % period for r in range(period) if a(start + r) == b(start + r))
        return Legal(start, period, residues)
    # different slopes: equal only while the periodic parts can make up the difference
    spread = max(a.values) - min(a.values) + max(b.values) - min(b.values) + abs(a.step) + abs(b.step) + 2
    limit = start + int(spread / abs(a.slope - b.slope)) + max(a.period, b.period) + 1
    return Legal(0, finite=frozenset(n for n in range(start, limit + 1) if a(n) == b(n)))


def _is_broadcast(size: Size, other_axis_size: int) -> bool:
    return size.step == 0 and set(size.values) == {1} and other_axis_size == 1


def legal_sizes(graph: Graph, axis: int, upto: int = 1024) -> Legal:
    """The input sizes along ``axis`` (0: height, 1: width) the spec accepts, the other axis held.
    The shape rules give a set valid at every size; a spec's ``assert`` statements, tested at each
    size up to ``upto`` with the sizes those rules give, narrow it (then exact up to ``upto``)."""
    sizes: dict[int, Size | None] = {}
    legal = _walk(graph, axis, {}, sizes)
    if not graph.asserts:
        return legal
    return _with_asserts(graph, axis, legal, sizes, upto)


def _with_asserts(graph: Graph, axis: int, legal: Legal, sizes: dict[int, Size | None], upto: int) -> Legal:
    for check in graph.asserts:
        if check.reads_size_totals:
            raise NotStatic("an `assert` reads a total that changes with the input size")
        if any(sizes.get(node) is None for node in check.tensors.values()):
            raise NotStatic("an `assert` reads a tensor whose size is not followed")

    def shape_at(node: int, n: int) -> tuple[int, ...]:
        shape = list(access.shape(graph.nodes[node]))
        shape[axis] = sizes[node](n)  # type: ignore[misc]  # the input's own: n itself
        return tuple(shape)

    members = [n for n in values(legal, upto) if all(
        check.holds({name: shape_at(node, n) for name, node in check.tensors.items()}) for check in graph.asserts)]
    return _fitted(members, upto)


def _fitted(members: list[int], upto: int) -> Legal:
    """The sizes ``members`` (those legal up to ``upto``) as a periodic set where two periods or
    more show the pattern, else as they are."""
    found = set(members)
    if not members:
        return Legal(0, finite=frozenset())
    start = members[0]
    for period in range(1, (upto - start) // 2 + 1):
        if all((n in found) == (n + period in found) for n in range(start, upto - period + 1)):
            return Legal(start, period, frozenset(n % period for n in members[:period] if n < start + period))
    return Legal(0, finite=frozenset(members))


def fragile_merges(graph: Graph, axis: int) -> dict[int, frozenset[int]]:
    """Merges whose branches agree along ``axis`` at finitely many input sizes, with those sizes."""
    found: dict[int, frozenset[int]] = {}
    _walk(graph, axis, found)
    return found


def _walk(graph: Graph, axis: int, fragile: dict[int, frozenset[int]],
          sizes: dict[int, Size | None] | None = None) -> Legal:
    if not is_volume(graph.input.shape):
        raise NotStatic("a vector input has no height or width")
    if any(re.search(r"\bin\s*\.\s*[hw]\b", text) for text in graph.sources.values()):
        raise NotStatic("the spec reads `in.h` or `in.w`: its structure may change with the size")
    sizes = {} if sizes is None else sizes
    sizes[0] = Size(1, 1, 1, (1,))
    legal = Legal(1)
    for node in graph.layers:
        sources = [sizes[i] for i in node.inputs]
        if not is_volume(access.shape(node)) or any(s is None for s in sources):
            sizes[node.index] = None
            continue
        if access.attr(node, "like_node") is not None:  # `resize like=NAME`: NAME's size
            sizes[node.index] = sizes.get(access.attr(node, "like_node"))
            if sizes[node.index] is None:
                raise NotStatic("`like=` names a tensor whose size is not followed")
        elif access.is_merge(node):
            other = [access.shape(n)[1 - axis] for n in access.input_nodes(graph, node)]
            full = [s for s, o in zip(sources, other) if not _is_broadcast(s, o)] or sources[:1]  # type: ignore
            for branch in full[1:]:
                agree = _agree(full[0], branch, legal)  # type: ignore[arg-type]
                if agree.finite is not None:
                    fragile[node.index] = agree.finite
                legal = legal & agree
            sizes[node.index] = full[0]
        else:
            sizes[node.index], legal = _layer(graph, node, sources[0], legal, axis)  # type: ignore[arg-type]
        if legal.finite is not None and not legal.finite:
            return legal
    return legal


def values(legal: Legal, upto: int) -> list[int]:
    if legal.finite is not None:
        return sorted(n for n in legal.finite if 1 <= n <= upto)
    return [n for n in range(max(1, legal.start), upto + 1) if n % legal.period in legal.residues]


def rule(legal: Legal, var: str, upto: int) -> str:
    """A readable form: ``h >= 32 and h % 32 == 0``."""
    found = values(legal, upto)
    if not found:
        return "none"
    if legal.finite is not None:
        return f"{var} == {found[0]}" if len(found) == 1 else f"{var} in {{{', '.join(map(str, found))}}}"
    parts = [f"{var} >= {found[0]}"] if found[0] > 1 else []
    if legal.period > 1:
        residues = sorted(legal.residues)
        if len(residues) == 1:
            parts.append(f"{var} % {legal.period} == {residues[0]}")
        else:
            parts.append(f"{var} % {legal.period} in {{{', '.join(map(str, residues))}}}")
    return " and ".join(parts) or "any size"


@dataclass(frozen=True)
class AxisReport:
    rule: str
    values: list[int]


def by_checking(graph: Graph, axis: int, upto: int, load) -> Legal:
    """The fallback where the structure itself depends on the size: analyse the spec at each size."""
    from ..core.errors import ArchError

    found = set()
    for n in range(1, upto + 1):
        shape = tuple(n if i == axis else d for i, d in enumerate(graph.input.shape))
        try:
            load(shape)
        except ArchError:
            continue
        found.add(n)
    return Legal(0, finite=frozenset(found))


def report(graph: Graph, upto: int, load) -> dict[str, AxisReport]:
    """``{"height": ..., "width": ...}``; ``load(shape)`` re-analyses the spec at an input shape, used
    only where the shape rules cannot be followed symbolically."""
    out = {}
    for axis, (key, var) in enumerate((("height", "h"), ("width", "w"))):
        try:
            legal = legal_sizes(graph, axis, upto)
        except NotStatic:
            legal = by_checking(graph, axis, upto, load)
        out[key] = AxisReport(rule(legal, var, upto), values(legal, upto))
    return out
