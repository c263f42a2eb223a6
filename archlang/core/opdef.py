"""The op vocabulary the IR speaks: argument schemas and :class:`OpDef`, the record that holds
everything archlang knows about one op. The entries themselves live in :mod:`archlang.ops`."""

from __future__ import annotations

from .records import dataclass, field
from enum import StrEnum
from typing import Any, Callable, Mapping

from .shapes import Shape

Attrs = dict[str, Any]
"""An op's attributes: as bound from the spec (``Node.attrs``), or resolved (``Node.resolved``)."""


class Family(StrEnum):
    """What kind of layer an op is: diagram colours, docs."""

    CONV = "conv"
    POOL = "pool"
    NORM = "norm"
    ACT = "act"
    FC = "fc"
    RESHAPE = "reshape"
    REGULARIZE = "regularize"
    AUGMENT = "augment"  # data augmentation: random in training, identity (or a centre crop) in eval
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


def as_written(shape: Shape, attrs: Attrs) -> Attrs:
    """The resolve step of an op that derives nothing: a copy of the bound attributes."""
    return dict(attrs)


def no_warnings(shape: Shape, resolved: Attrs) -> list[str]:
    return []


@dataclass(frozen=True)
class OpDef:
    """Everything archlang knows about one op.

    The analysis runs ``resolve`` once per node: from the input shape and the attributes as bound
    it returns a new mapping, the *resolved* attributes, that adds what the op derives (the
    padding pairs ``pads``, a depthwise conv's ``groups`` and ``filters``, a pool's ``stride``).
    Every other callable reads the resolved attributes and none writes to them: ``rule`` gives the
    output shape (or raises :class:`~archlang.core.shapes.ShapeError`), ``params``, ``mults``,
    ``warnings``, the ``torch`` constructor and the ``forward`` template follow from both shapes."""

    name: str
    family: Family
    signature: Signature
    rule: Callable[[Shape, Attrs], Shape]  # (input shape, resolved attrs) -> output shape
    torch: Callable[[Shape, Shape, Attrs], str]  # (input, output, resolved) -> constructor source
    params: Callable[[Shape, Shape, Attrs], int] = _zero
    mults: Callable[[Shape, Shape, Attrs], int] = _zero
    warnings: Callable[[Shape, Attrs], list[str]] = no_warnings
    forward: str | None = None  # for module-less ops: a template over `{x}` and the resolved attrs
    doc: str = ""
    # autograd does not need this op's output, so a following activation may overwrite it in place
    output_reusable: bool = False
    resolve: Callable[[Shape, Attrs], Attrs] = as_written  # (input shape, bound attrs) -> resolved attrs
    # acts only in training mode (augmentation): the table and JSON mark it
    training_only: bool = False


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
    # the merge written to overwrite its first operand (branch variables, that one first), where
    # the code generator finds an operand nothing else needs; None: always a new tensor
    torch_inplace: Callable[[list[str]], str] | None = None
    family: Family = Family.MERGE


@dataclass(frozen=True)
class InputDef:
    """The graph's input node."""

    name: str = "input"
    family: Family = Family.IO


INPUT = InputDef()
Definition = OpDef | MergeDef | InputDef
