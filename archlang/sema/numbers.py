"""Numeric expressions: constants, header parameters, ``in.h/in.w/in.c`` and the functions
LANGUAGE.md lists. Errors are reported to the sink and surface as :class:`Poison`."""

from __future__ import annotations

import math
from typing import Callable

from ..lang import syntax as s
from ..core.errors import DiagnosticSink, Span
from ..core.limits import MAX_NUMBER
from ..core.shapes import fmt
from .scope import Env, Known, Number, Poison, suggest

FUNCTIONS: dict[str, tuple[int, int]] = {  # name: (least, most) arguments
    "min": (1, 1 << 30), "max": (1, 1 << 30), "ceil": (1, 1), "floor": (1, 1), "round": (1, 1),
    "int": (1, 1), "divisible": (2, 2), "log": (1, 1), "exp": (1, 1), "sqrt": (1, 1),
}
POWER_BITS = 4096  # `**` beyond this many bits is an error, not an endless computation


def divisible(value: float, divisor: int) -> int:
    """Round to the nearest multiple of ``divisor``, never below it nor below 90% of ``value``
    (MobileNet's and EfficientNet's channel rounding)."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


_ARITH: dict[str, Callable[[Number, Number], Number]] = {
    "+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
    "/": lambda a, b: a / b, "//": lambda a, b: a // b, "%": lambda a, b: a % b, "**": lambda a, b: a ** b,
    "==": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
}


class NumberEvaluator:
    def __init__(self, sink: DiagnosticSink):
        self.sink = sink

    def fail(self, message: str, span: Span, help: str | None = None) -> Poison:
        self.sink.error(message, span, help)
        return Poison()

    def eval(self, e: s.Expr, env: Env) -> Number:
        method = getattr(self, "_" + type(e).__name__.lower(), None)
        if method is None:
            raise self.fail("expected a number, but this is a chain of layers", e.span)
        return method(e, env)

    def whole(self, e: s.Expr, env: Env, what: str, least: int = 1) -> int:
        """A value that must be a whole number of at least ``least``."""
        value = self.eval(e, env)
        return self.check_whole(value, e.span, what, least)

    def check_whole(self, value: Number, span: Span, what: str, least: float = 1) -> int:
        if isinstance(value, float):
            if not value.is_integer():
                raise self.fail(f"the {what} must be a whole number, but is {value:g}", span,
                                "round it explicitly: `round(...)`, `floor(...)` or `ceil(...)`")
            value = int(value)
        if value < least:
            bound = "positive" if least == 1 else f"at least {least}"
            raise self.fail(f"the {what} must be {bound}, but is {value}", span)
        return int(value)

    # node kinds --------------------------------------------------------------------------
    def _number(self, e: s.Number, env: Env) -> Number:
        return self.bounded(e.value, e.span)

    def bounded(self, value: Number, span: Span) -> Number:
        """``value`` if it is finite and at most :data:`MAX_NUMBER` in size, else an error:
        unbounded integers would make each later step slower (and print with a traceback)."""
        if isinstance(value, float) and not math.isfinite(value):
            raise self.fail(f"this number is not finite ({value})", span,
                            "sizes and counts are finite numbers")
        if abs(value) > MAX_NUMBER:
            raise self.fail("this number is too large", span,
                            f"numbers in a spec are at most {MAX_NUMBER:.0e} in size")
        return value

    def _paren(self, e: s.Paren, env: Env) -> Number:
        return self.eval(e.inner, env)

    def _indim(self, e: s.InDim, env: Env) -> Number:
        t = env.in_tensor
        if t is None:
            raise self.fail(f"`in.{e.dim}` is only defined inside a block", e.span,
                            "use a header parameter or a constant at the top level")
        if not isinstance(t, Known):
            raise Poison()
        return self._dim(t, e.dim, "in", e.span)

    def _layer(self, e: s.Layer, env: Env) -> Number:
        if e.args:
            raise self.fail(f"expected a number, but `{e.name}` has layer arguments", e.span)
        value = env.const(e.name)
        if value is not None:
            return value
        if env.is_poisoned(e.name):
            raise Poison()
        if e.name in env.tensors:
            raise self.fail(f"`{e.name}` is a tensor, not a number", e.span)
        raise self.fail(f"`{e.name}` is not defined", e.span,
                        suggest(e.name, [n for n in env.names() if env.const(n) is not None])
                        or "define it: `name = value`, or as a header parameter")

    def _unaryop(self, e: s.UnaryOp, env: Env) -> Number:
        value = self.eval(e.operand, env)
        return (not value) if e.op == "not" else (-value if e.op == "-" else value)

    def _binop(self, e: s.BinOp, env: Env) -> Number:
        left = self.eval(e.left, env)
        if e.op in ("and", "or"):  # short-circuit, as Python does
            return (left and self.eval(e.right, env)) if e.op == "and" else (left or self.eval(e.right, env))
        right = self.eval(e.right, env)
        if e.op in ("/", "//", "%") and right == 0:
            raise self.fail("division by zero", e.span)
        if e.op == "**":
            self._check_power(left, right, e.span)
        try:
            result = _ARITH[e.op](left, right)
        except OverflowError:
            raise self.fail("this number is too large", e.span) from None
        return int(result) if isinstance(result, bool) else self.bounded(result, e.span)

    def _check_power(self, base: Number, exponent: Number, span: Span) -> None:
        if base == 0 and exponent < 0:
            raise self.fail("division by zero: `0 ** negative`", span)
        if base < 0 and isinstance(exponent, float) and not exponent.is_integer():
            raise self.fail(f"`{base} ** {exponent:g}` is not a real number", span)
        if abs(base) > 1 and abs(exponent) * math.log2(abs(base)) > POWER_BITS:
            raise self.fail("this number is too large", span)

    def _tensordim(self, e: s.TensorDim, env: Env) -> Number:
        tensor = env.tensor(e.tensor)
        if tensor is None:
            if env.is_poisoned(e.tensor):
                raise Poison()
            hint = suggest(e.tensor, [n for n in env.names() if env.tensor(n) is not None])
            raise self.fail(f"`{e.tensor}` is not a tensor", e.span,
                            hint or "`NAME.h`, `NAME.w` and `NAME.c` read the shape of a bound tensor")
        if not isinstance(tensor, Known):
            raise Poison()
        return self._dim(tensor, e.dim, e.tensor, e.span)

    def _dim(self, t: Known, dim: str, name: str, span: Span) -> Number:
        axes = {"h": 0, "w": 1, "c": 2} if len(t.shape) == 3 else {"c": 0, "n": 0}
        if dim not in axes:
            what = "an input" if name == "in" else "a tensor"
            raise self.fail(f"`{name}.{dim}` does not exist for {what} of shape {fmt(t.shape)}", span,
                            f"use `{name}.h`, `{name}.w` or `{name}.c`")
        return t.shape[axes[dim]]

    def _ifelse(self, e: s.IfElse, env: Env) -> Number:
        return self.eval(e.then if self.eval(e.cond, env) else e.orelse, env)

    def _call(self, e: s.Call, env: Env) -> Number:
        if e.name not in FUNCTIONS or env.block(e.name):
            raise self.fail(f"expected a number, but `{e.name}(...)` is not a function", e.name_span,
                            f"the functions are {', '.join(sorted(FUNCTIONS))}")
        least, most = FUNCTIONS[e.name]
        if any(a.name for a in e.args) or not least <= len(e.args) <= most:
            count = str(least) if least == most else f"at least {least}"
            raise self.fail(f"`{e.name}` takes {count} positional argument{'s' if most > 1 else ''}", e.span)
        values = [self.eval(a.value, env) for a in e.args]
        return self.bounded(self._apply(e, values), e.span)

    def _apply(self, e: s.Call, v: list[Number]) -> Number:
        try:
            if e.name == "divisible":
                return divisible(v[0], self.check_whole(v[1], e.args[1].span, "divisor"))
            return {"min": lambda: min(v), "max": lambda: max(v), "ceil": lambda: math.ceil(v[0]),
                    "floor": lambda: math.floor(v[0]), "round": lambda: round(v[0]),
                    "int": lambda: int(v[0]), "log": lambda: math.log(v[0]), "exp": lambda: math.exp(v[0]),
                    "sqrt": lambda: math.sqrt(v[0])}[e.name]()
        except (OverflowError, ValueError):
            raise self.fail(f"`{e.name}` cannot take {v}", e.span) from None
