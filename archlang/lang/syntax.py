"""The abstract syntax tree: frozen dataclasses, each carrying the span it was parsed from.

The parser builds these and nothing else; every semantic question (is this name an op, a
block, a constant or a tensor?) is answered later by :mod:`archlang.elaborate`.
"""

from __future__ import annotations

from ..core.records import dataclass

from ..core.errors import Span

# --- expressions and chains ------------------------------------------------------------


@dataclass(frozen=True)
class Number:
    value: int | float
    span: Span


@dataclass(frozen=True)
class InDim:
    """``in.h``, ``in.w`` or ``in.c``: a dimension of the tensor flowing into a block."""

    dim: str
    span: Span


@dataclass(frozen=True)
class BinOp:
    op: str  # + - * / // % == != < <= > >= and or
    left: "Expr"
    right: "Expr"
    span: Span


@dataclass(frozen=True)
class UnaryOp:
    op: str  # - + not
    operand: "Expr"
    span: Span


@dataclass(frozen=True)
class IfElse:
    cond: "Expr"
    then: "Expr"
    orelse: "Expr"
    span: Span


@dataclass(frozen=True)
class Seq:
    """``a -> b -> c``."""

    items: tuple["Expr", ...]
    span: Span


@dataclass(frozen=True)
class Paren:
    inner: "Expr"
    span: Span


@dataclass(frozen=True)
class Argument:
    """A call argument: positional when ``name`` is None."""

    name: str | None
    value: "Expr"
    span: Span


@dataclass(frozen=True)
class Call:
    """``name(args)``: a combinator, a block call or a function, told apart later."""

    name: str
    args: tuple[Argument, ...]
    span: Span
    name_span: Span


# Layer arguments, in the forms LANGUAGE.md lists.


@dataclass(frozen=True)
class SizeArg:
    """``5x5``, ``1x7``, ``(k)x(k)`` or a lone number: a kernel, window or size."""

    parts: tuple["Expr", ...]
    span: Span


@dataclass(frozen=True)
class FlagArg:
    """A letter glued to a value: ``x64``, ``s2``, ``p0x3``, ``g(c // 4)``."""

    letter: str
    parts: tuple["Expr", ...]
    span: Span


@dataclass(frozen=True)
class WordArg:
    """A bare word: ``same``, ``nobias``, ``ceil``, or a constant's name."""

    word: str
    span: Span


@dataclass(frozen=True)
class KeywordArg:
    name: str
    value: "Expr | str"
    span: Span


LayerArg = SizeArg | FlagArg | WordArg | KeywordArg


@dataclass(frozen=True)
class Layer:
    """An op (or a bare name) with its arguments, e.g. ``conv 5x5 s1 x6``."""

    name: str
    args: tuple[LayerArg, ...]
    span: Span
    name_span: Span


@dataclass(frozen=True)
class TensorDim:
    """``NAME.h``, ``NAME.w`` or ``NAME.c``: a dimension of a bound tensor (``input`` included)."""

    tensor: str
    dim: str
    span: Span


@dataclass(frozen=True)
class RepeatAs:
    """``(CHAIN) * N as i``: CHAIN repeated N times with ``i`` = 0 .. N-1 bound inside it."""

    body: "Expr"
    count: "Expr"
    var: str
    span: Span


@dataclass(frozen=True)
class Label:
    """``LABEL: ELEMENT``: the module or block instance that ELEMENT creates is named LABEL."""

    name: str
    element: "Expr"
    span: Span
    name_span: Span


Expr = Number | InDim | BinOp | UnaryOp | IfElse | Seq | Paren | Call | Layer | TensorDim | RepeatAs | Label

# --- statements ------------------------------------------------------------------------


@dataclass(frozen=True)
class Param:
    name: str
    default: Expr | None
    span: Span


@dataclass(frozen=True)
class Header:
    name: str
    params: tuple[Param, ...]
    span: Span


@dataclass(frozen=True)
class Input:
    dims: tuple[Expr, ...]
    span: Span


@dataclass(frozen=True)
class Use:
    path: str
    span: Span


@dataclass(frozen=True)
class BlockDef:
    name: str
    params: tuple[Param, ...]
    body: tuple["Statement", ...]
    span: Span
    name_span: Span
    file: str = ""


@dataclass(frozen=True)
class Assign:
    name: str
    value: Expr
    span: Span
    name_span: Span


@dataclass(frozen=True)
class ChainStmt:
    chain: Expr
    span: Span


@dataclass(frozen=True)
class OutputItem:
    """One entry of an ``output`` statement: ``NAME`` or ``key = NAME``."""

    key: str | None
    tensor: str
    span: Span


@dataclass(frozen=True)
class Output:
    """``output a, b``, ``output key = a, ...``; ``training``: written ``when training``."""

    items: tuple[OutputItem, ...]
    training: bool
    span: Span


@dataclass(frozen=True)
class Variant:
    """``variant NAME(param = value, ...)``: a named set of header values."""

    name: str
    params: tuple[Param, ...]
    span: Span
    name_span: Span


@dataclass(frozen=True)
class Assert:
    """``assert EXPR [, "message"]``, checked after the analysis."""

    condition: Expr
    message: str | None
    span: Span


Statement = Header | Input | Use | BlockDef | Assign | ChainStmt | Output | Variant | Assert


@dataclass(frozen=True)
class Module:
    """One parsed ``.arch`` file."""

    file: str
    statements: tuple[Statement, ...]
