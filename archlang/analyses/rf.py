"""Receptive field and effective stride of every layer, statically and exactly.

Along each axis, an output position ``o`` of a layer is influenced by a span of input pixels
``[lo(o), hi(o)]``. Away from the borders the spans repeat: ``lo(o + P) = lo(o) + Q`` for a
period ``P`` (in output positions) and a shift ``Q`` (in input pixels), so one period of spans
describes the layer exactly, through strides, dilation, transposed convolutions, upsampling and
merges of branches with different offsets. ``Q / P`` is the effective stride."""

from __future__ import annotations

from ..core.records import dataclass
from fractions import Fraction
from math import floor, gcd
from typing import Callable, Iterable

from ..core.ir import Graph, Node
from ..core.shapes import is_volume
from . import access

Span = tuple[int, int] | None  # first and last influencing input pixel; None: nothing influences it


@dataclass(frozen=True)
class AxisField:
    """The spans of one period of output positions along one axis."""

    period: int
    shift: int
    spans: tuple[Span, ...]

    def at(self, o: int) -> Span:
        k, j = divmod(o, self.period)
        span = self.spans[j]
        return None if span is None else (span[0] + k * self.shift, span[1] + k * self.shift)

    @property
    def stride(self) -> Fraction:
        return Fraction(self.shift, self.period)

    @property
    def size(self) -> int:
        """The largest span over output positions, holes included."""
        return max((hi - lo + 1 for lo, hi in (s for s in self.spans if s is not None)), default=0)


IDENTITY = AxisField(1, 1, ((0, 0),))

LOCAL, GLOBAL, OPAQUE = "local", "global", "opaque"


@dataclass(frozen=True)
class Field:
    """What a layer's output sees of the input. ``kind``: ``local`` (a field per axis),
    ``global`` (reached only through global ops) or ``opaque`` (after an adaptive pool that is
    not global, whose windows depend on the input size)."""

    kind: str
    axes: tuple[AxisField, AxisField] | None
    global_context: bool

    @property
    def rf(self) -> tuple[int, int] | None:
        return (self.axes[0].size, self.axes[1].size) if self.axes else None

    @property
    def rf_stride(self) -> tuple[Fraction, Fraction] | None:
        return (self.axes[0].stride, self.axes[1].stride) if self.axes else None


Taps = Callable[[int], Iterable[int]]


def _through(field: AxisField, taps: Taps, out_step: int, in_step: int) -> AxisField:
    """The field after a layer whose output position ``o`` reads input positions ``taps(o)``,
    with ``taps(o + out_step) == taps(o) + in_step``."""
    repeat = field.period // gcd(field.period, in_step)
    period = out_step * repeat
    shift = field.shift * (in_step * repeat // field.period)
    spans: list[Span] = []
    for o in range(period):
        found = [s for s in (field.at(i) for i in taps(o)) if s is not None]
        spans.append((min(s[0] for s in found), max(s[1] for s in found)) if found else None)
    return AxisField(period, shift, tuple(spans))


def _window(field: AxisField, kernel: int, stride: int, pad: int, dilation: int) -> AxisField:
    return _through(field, lambda o: (o * stride - pad + t * dilation for t in range(kernel)), 1, stride)


def _transposed(field: AxisField, kernel: int, stride: int, pad: int, dilation: int) -> AxisField:
    def taps(o: int) -> Iterable[int]:
        return ((o + pad - t * dilation) // stride for t in range(kernel)
                if (o + pad - t * dilation) % stride == 0)
    return _through(field, taps, stride, 1)


def _upsample(field: AxisField, factor: int, mode: str) -> AxisField:
    if mode == "nearest":
        return _through(field, lambda o: (o // factor,), factor, 1)

    def taps(o: int) -> Iterable[int]:
        # align_corners=False: the source coordinate is (o + 0.5) / f - 0.5; a whole one reads
        # only its own pixel (the other taps weigh exactly 0)
        source = Fraction(2 * o + 1 - factor, 2 * factor)
        first = floor(source)
        if source == first:
            return (first,)
        return (first, first + 1) if mode == "bilinear" else range(first - 1, first + 3)
    return _through(field, taps, factor, 1)


def _merge(fields: list[AxisField]) -> AxisField | None:
    """The union of branches' spans; None when their strides differ (no common period)."""
    if len({f.stride for f in fields}) != 1:
        return None
    period = 1
    for f in fields:
        period = period * f.period // gcd(period, f.period)
    shift = int(fields[0].stride * period)
    spans: list[Span] = []
    for o in range(period):
        found = [s for s in (f.at(o) for f in fields) if s is not None]
        spans.append((min(s[0] for s in found), max(s[1] for s in found)) if found else None)
    return AxisField(period, shift, tuple(spans))


def _axes(node: Node, axes: tuple[AxisField, AxisField]) -> tuple[AxisField, AxisField] | None:
    """A single-input layer's effect on a local field; None for ops that make it opaque."""
    name = access.op_name(node)
    if name in ("conv", "dwconv", "maxpool", "avgpool"):
        return tuple(_window(axes[a], *access.window(node, a)) for a in range(2))  # type: ignore[return-value]
    if name == "convt":
        k, s, p, d = (access.attr(node, key) for key in ("kernel", "stride", "padding", "dilation"))
        return tuple(_transposed(axes[a], k[a], s[a], p[a], d[a]) for a in range(2))  # type: ignore[return-value]
    if name == "upsample":
        scale, mode = access.attr(node, "scale"), access.attr(node, "mode", "nearest")
        return tuple(_upsample(axes[a], scale[a], mode) for a in range(2))  # type: ignore[return-value]
    if name == "zeropad":
        pad = access.attr(node, "pad")
        return tuple(_through(axes[a], lambda o, p=pad[a]: (o - p,), 1, 1) for a in range(2))  # type: ignore
    return axes  # element-wise and channel ops leave the field as it is


def _layer(node: Node, source: Field) -> Field:
    if not is_volume(access.shape(node)):
        context = source.global_context or source.kind == LOCAL or access.op_name(node) in ("flatten", "fc")
        return Field(GLOBAL if source.kind == LOCAL else source.kind, None, context)
    if source.kind != LOCAL or source.axes is None:
        return source
    if access.is_global_pool(node):
        return Field(GLOBAL, None, True)
    if access.op_name(node) in access.ADAPTIVE_POOLS:
        return Field(OPAQUE, None, source.global_context)
    return Field(LOCAL, _axes(node, source.axes), source.global_context)


def _merged(graph: Graph, node: Node, fields: list[Field]) -> Field:
    out = access.shape(node)
    context = any(f.global_context for f in fields)
    local: list[Field] = []
    for f, branch in zip(fields, access.input_nodes(graph, node)):
        broadcast = is_volume(out) and access.shape(branch)[:2] == (1, 1) and out[:2] != (1, 1)
        if f.kind == LOCAL and f.axes is not None and not broadcast:
            local.append(f)
        elif f.kind == LOCAL:
            context = True  # a 1x1xC operand broadcast over HxW is global context (squeeze-and-excite)
    if not local:
        kind = OPAQUE if any(f.kind == OPAQUE for f in fields) else GLOBAL
        return Field(kind, None, context or kind == GLOBAL)
    axes = tuple(_merge([f.axes[a] for f in local]) for a in range(2))  # type: ignore[index]
    if axes[0] is None or axes[1] is None:
        return Field(OPAQUE, None, context)
    return Field(LOCAL, axes, context)  # type: ignore[arg-type]


def receptive_fields(graph: Graph) -> dict[int, Field]:
    """Every node's :class:`Field`, by node index."""
    fields: dict[int, Field] = {}
    for node in graph.nodes:
        if not node.inputs:
            local = is_volume(access.shape(node))
            fields[node.index] = Field(LOCAL, (IDENTITY, IDENTITY), False) if local else Field(OPAQUE, None, False)
        elif len(node.inputs) == 1 and not access.is_merge(node):
            fields[node.index] = _layer(node, fields[node.inputs[0]])
        else:
            fields[node.index] = _merged(graph, node, [fields[i] for i in node.inputs])
    return fields


def stride_value(stride: Fraction) -> int | float:
    """A stride for JSON: a whole number, or a fraction after upsampling."""
    return stride.numerator if stride.denominator == 1 else float(stride)
