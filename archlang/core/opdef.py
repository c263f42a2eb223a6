"""The op vocabulary the IR speaks: argument schemas and :class:`OpDef`, the record that holds
everything archlang knows about one op. The entries themselves live in :mod:`archlang.ops`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from .shapes import Shape

Attrs = dict[str, Any]

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
    family: str  # conv, pool, norm, act, fc, reshape, regularize: colours and docs
    signature: Signature
    rule: Callable[[Shape, Attrs], Shape]
    torch: Callable[[Shape, Shape, Attrs], str]
    params: Callable[[Shape, Shape, Attrs], int] = _zero
    mults: Callable[[Shape, Shape, Attrs], int] = _zero
    warnings: Callable[[Shape, Attrs], list[str]] = lambda i, a: []
    forward: str | None = None  # for module-less ops: a template over `{x}` and attrs
    doc: str = ""
