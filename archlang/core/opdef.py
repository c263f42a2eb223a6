"""The op vocabulary the IR speaks: argument schemas and :class:`OpDef`, the record that holds
everything archlang knows about one op. The entries themselves live in :mod:`archlang.ops`."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Callable, Mapping

from .shapes import Shape

Attrs = dict[str, Any]


class Family(StrEnum):
    """What kind of layer an op is: diagram colours, docs."""

    CONV = "conv"
    POOL = "pool"
    NORM = "norm"
    ACT = "act"
    FC = "fc"
    RESHAPE = "reshape"
    REGULARIZE = "regularize"
    MERGE = "merge"
    IO = "io"
    BLOCK = "block"  # a folded block instance, in diagrams

# --- argument schemas ----------------------------------------------------------------------


@dataclass(frozen=True)
class Arg:
    """One argument slot. ``kind``: ``pair`` (``KxK`` or ``K``), ``int`` or ``float``;
    ``least``: the smallest value allowed."""

    attr: str
    kind: str
    least: float = 1
    default: Any = None
    required: bool = False


@dataclass(frozen=True)
class Signature:
    positional: tuple[Arg, ...] = ()
    flags: Mapping[str, Arg] = field(default_factory=dict)
    words: frozenset[str] = frozenset()
    keywords: Mapping[str, Arg] = field(default_factory=dict)
    choices: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # for word-valued keywords


def _zero(i: Shape, o: Shape, a: Attrs) -> int:
    return 0


@dataclass(frozen=True)
class OpDef:
    """Everything archlang knows about one op."""

    name: str
    family: Family
    signature: Signature
    rule: Callable[[Shape, Attrs], Shape]
    torch: Callable[[Shape, Shape, Attrs], str]
    params: Callable[[Shape, Shape, Attrs], int] = _zero
    mults: Callable[[Shape, Shape, Attrs], int] = _zero
    warnings: Callable[[Shape, Attrs], list[str]] = lambda i, a: []
    forward: str | None = None  # for module-less ops: a template over `{x}` and attrs
    doc: str = ""
    # autograd does not need this op's output, so a following activation may overwrite it in place
    output_reusable: bool = False


@dataclass(frozen=True)
class MergeDef:
    """A combinator that joins its branches into one tensor: ``concat``, ``add``, ``mul``."""

    name: str
    rule: Callable[[list[Shape]], Shape]  # branch shapes -> output shape, or ShapeError
    torch: Callable[[list[str]], str]  # branch variables -> the Python expression of the merge
    symbol: str  # in diagrams
    least: int = 1  # the fewest branches it takes
    doc: str = ""
    output_reusable: bool = False
    family: Family = Family.MERGE


@dataclass(frozen=True)
class InputDef:
    """The graph's input node."""

    name: str = "input"
    family: Family = Family.IO


INPUT = InputDef()
Definition = OpDef | MergeDef | InputDef
