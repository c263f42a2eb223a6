"""`assert EXPR [, "message"]`: checked once the whole network is analysed, over the network's
totals (``params``, ``trainable``, ``mults``, ``train_mults``, ``activations``) and the sizes of
its bound tensors (``NAME.h``, ``NAME.w``, ``NAME.c``, ``input`` included)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Iterator, Mapping

from ..core.errors import DiagnosticSink
from ..core.ir import AssertCheck, Graph, Runs
from ..core.shapes import Shape
from ..lang import syntax as s
from .numbers import NumberEvaluator
from .scope import Env, Known, Number, Poison

if TYPE_CHECKING:  # pragma: no cover
    from .chains import ChainBuilder

TOTALS = ("params", "trainable", "mults", "train_mults", "activations")
SIZE_TOTALS = frozenset({"mults", "train_mults", "activations"})  # these change with the input size


def totals(graph: Graph) -> dict[str, int]:
    """The figures ``check`` reports as totals, from the nodes: parameters of every module built,
    multiplies of what runs in eval mode and of what runs in training, activations of every
    output computed in training."""
    layers = graph.layers
    return {
        "params": sum(n.params for n in layers),
        "trainable": sum(n.params for n in layers if n.trainable),
        "mults": sum(n.mults for n in layers if n.runs == Runs.ALWAYS),
        "train_mults": sum(n.mults for n in layers if n.runs != Runs.NEVER),
        "activations": sum(math.prod(n.shape or ()) for n in layers if n.runs != Runs.NEVER),
    }


def check_asserts(builder: "ChainBuilder", asserts: list[s.Assert], env: Env) -> None:
    """Report each false assert at its line, with the values of the names and sides involved.
    The totals are seen as numbers named after them, above the file's own constants."""
    if not asserts:
        return
    scope = Env(env.file, parent=env, tensors=env.tensors, consts=dict(totals(builder.graph)))
    for st in asserts:
        builder.graph.asserts.append(_recheck(builder, st, scope))
        try:
            if builder.kind(st.condition, scope) != "number":
                raise builder.numbers.fail("an assert takes a condition on numbers", st.condition.span,
                                           "e.g. `assert params <= 5M` or `assert p3.c == 64`")
            holds = builder.numbers.eval(st.condition, scope)
        except Poison:
            continue
        if holds:
            continue
        shown = st.message if st.message is not None else builder.text(st.condition.span)
        notes = tuple(f"`{builder.text(part.span)}` is {_number(value)}" for part, value in
                      _values(builder, st.condition, scope))
        builder.sink.error(f"assertion failed: {shown}", st.condition.span, notes=notes)


def _parts(e: s.Expr) -> Iterator[s.Expr]:
    """The sides of comparisons and the names in ``e``, outermost first."""
    if isinstance(e, s.BinOp):
        if e.op in ("and", "or"):
            yield from _parts(e.left)
            yield from _parts(e.right)
        else:
            for side in (e.left, e.right):
                if not isinstance(side, s.Number):
                    yield side
                yield from _names(side)
    elif isinstance(e, (s.UnaryOp, s.Paren)):
        yield from _parts(e.operand if isinstance(e, s.UnaryOp) else e.inner)
    else:
        yield from _names(e)


def _names(e: s.Expr) -> Iterator[s.Expr]:
    if isinstance(e, (s.TensorDim, s.InDim)) or (isinstance(e, s.Layer) and not e.args):
        return
    for child in vars(e).values():
        kids = child if isinstance(child, tuple) else (child,)
        for kid in kids:
            if isinstance(kid, s.Argument):
                kid = kid.value
            if isinstance(kid, (s.TensorDim, s.Layer)) and not getattr(kid, "args", ()):
                yield kid
            elif hasattr(kid, "span") and not isinstance(kid, s.Number):
                yield from _names(kid)


def _values(builder: "ChainBuilder", e: s.Expr, scope: Env) -> list[tuple[s.Expr, Number]]:
    seen: set[str] = set()
    found: list[tuple[s.Expr, Number]] = []
    for part in _parts(e):
        text = builder.text(part.span)
        if text in seen:
            continue
        seen.add(text)
        before = len(builder.sink.items)
        try:
            found.append((part, builder.numbers.eval(part, scope)))
        except Poison:  # a side `and` or `or` never reached: nothing to show, nothing to report
            del builder.sink.items[before:]
    return found


def _number(value: Number) -> str:
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.6g}"
    return f"{int(value):,}"


def _recheck(builder: "ChainBuilder", st: s.Assert, scope: Env) -> AssertCheck:
    """``st`` as a test of the bound tensors' shapes, for the analysis of legal input sizes."""
    read = {e.tensor for e in _walk(st.condition) if isinstance(e, s.TensorDim)}
    tensors = {name: t.node for name in read if isinstance(t := scope.tensor(name), Known)}
    reads_totals = any(isinstance(e, s.Layer) and not e.args and e.name in SIZE_TOTALS for e in _walk(st.condition))

    numbers = NumberEvaluator(DiagnosticSink())  # a test at another size reports nothing

    def holds(shapes: Mapping[str, Shape]) -> bool:
        at = Env(scope.file, parent=scope.parent, consts=scope.consts,
                 tensors={**scope.tensors, **{name: Known(tensors[name], shapes[name]) for name in tensors}})
        try:
            return bool(numbers.eval(st.condition, at))
        except Poison:
            return False

    return AssertCheck(st.condition.span, tensors, reads_totals, holds)


def _walk(e: Any) -> Iterator[Any]:
    """Every syntax node under ``e``."""
    for child in vars(e).values():
        for kid in child if isinstance(child, tuple) else (child,):
            if hasattr(kid, "span"):
                yield from _walk(kid)
    yield e
