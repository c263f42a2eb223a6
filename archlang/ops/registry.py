"""The op registry's core: argument schemas, :class:`OpDef`, lookup, and the helpers that the
op families share. Ops register themselves from :mod:`archlang.ops.spatial` and
:mod:`archlang.ops.layers`."""

from __future__ import annotations

from typing import Any

from ..core.opdef import Arg, Attrs, Family, MergeDef, OpDef, Signature
from ..core.shapes import Shape, ShapeError, fmt, is_volume

__all__ = ["ALIASES", "MERGES", "REGISTRY", "Arg", "Attrs", "MergeDef", "OpDef", "Signature", "describe",
           "known_names", "lookup", "lookup_merge", "need_volume", "pair_src", "register", "register_merge",
           "torch_pads"]

REGISTRY: dict[str, OpDef] = {}
ALIASES: dict[str, str] = {"linear": "fc", "dense": "fc", "batchnorm": "bn"}


def register(op: OpDef) -> OpDef:
    REGISTRY[op.name] = op
    return op


MERGES: dict[str, MergeDef] = {}


def register_merge(merge: MergeDef) -> MergeDef:
    MERGES[merge.name] = merge
    return merge


def lookup_merge(name: str) -> MergeDef | None:
    """The merge called ``name``, or None."""
    return MERGES.get(name)


def lookup(name: str) -> OpDef | None:
    """The op called ``name`` (aliases included), or None."""
    return REGISTRY.get(ALIASES.get(name, name))


def _value_text(value: Any, kind: str) -> str:
    if kind == "pair":
        return str(value[0]) if value[0] == value[1] else f"{value[0]}x{value[1]}"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _positional_text(value: Any, kind: str) -> str:
    """Kernels and windows read `3x3`, as the course writes them."""
    return f"{value[0]}x{value[1]}" if kind == "pair" else _value_text(value, kind)


_SHARED_WORDS = frozenset({"same", "valid", "nobias", "ceil"})


def describe(op: OpDef, attrs: Attrs) -> str:
    """The op with its bound arguments (``Node.attrs``), as a user would write them with
    literals: ``conv 7x7 s2 p3 x64 nobias``. What the op derives is not shown."""
    sig = op.signature
    parts = [op.name] + [_positional_text(attrs[a.attr], a.kind) for a in sig.positional
                         if attrs.get(a.attr) is not None and (a.required or attrs[a.attr] != a.default)]
    for letter, slot in sig.flags.items():
        value = attrs.get(slot.attr)
        if value is not None and value != slot.default and not (letter == "s" and value == attrs.get("kernel")
                                                                  and op.family == Family.POOL):
            parts.append(letter + _value_text(value, slot.kind))
    parts += [w for w in ("same", "ceil") if attrs.get(w)] + ([] if attrs.get("bias", True) else ["nobias"])
    parts += [w for w in sorted(sig.words - _SHARED_WORDS) if attrs.get(w)]
    for key, slot in sig.keywords.items():
        if attrs.get(slot.attr) != slot.default:
            parts.append(f"{key}={_value_text(attrs[slot.attr], slot.kind) if slot.kind != 'word' else attrs[slot.attr]}")
    return " ".join(parts)


def known_names() -> list[str]:
    return sorted(set(REGISTRY) | set(ALIASES) | {"identity"})


# --- helpers shared by the op families ------------------------------------------------------


def need_volume(shape: Shape, op: str) -> None:
    if not is_volume(shape):
        raise ShapeError(f"`{op}` needs an HxWxC volume, but receives {fmt(shape)}",
                         help="spatial layers come before `flatten`")


def pair_src(p: tuple[int, int]) -> str:
    return str(p[0]) if p[0] == p[1] else f"({p[0]}, {p[1]})"

def torch_pads(resolved: Attrs) -> tuple[int, int, int, int]:
    """The resolved ``pads`` in ``F.pad``'s order: left, right, top, bottom."""
    (top, bottom), (left, right) = resolved["pads"]
    return (left, right, top, bottom)
