"""The analysis pass: writes shape, parameters and multiplies onto each IR node.

The elaborator runs it node by node as it builds the graph, because a block's body may depend
on the shape flowing into it (``in.c``)."""

from __future__ import annotations

from typing import Any, Mapping

from ..core.ir import Node
from ..core.opdef import MergeDef, OpDef
from ..core.shapes import Shape


# The analyses of layers already seen: the same op with the same attributes on the same input
# shape (a repeated block, a long chain) gives the same result, as every rule is pure.
_SEEN: dict[tuple[Any, ...], tuple[OpDef, Mapping[str, Any], Shape, int, int, list[str]]] = {}
_SEEN_LIMIT = 4096
# Attribute values keyed exactly: `1`, `1.0` and `True` are equal keys in Python but not the same
# attribute, so a value's type is part of its key and only plain values and tuples of them qualify.
_PLAIN = (int, float, str, bool, type(None))


# The attributes' part of the key, by the attributes' dict: a literal layer's copies share one
# (kept beside its entry, so that its id is not reused while the entry lives).
_ATTR_KEYS: dict[int, tuple[Mapping[str, Any], tuple[Any, ...] | None]] = {}


def _key(op: OpDef, in_shape: Shape, attrs: Mapping[str, Any]) -> tuple[Any, ...] | None:
    """The memo key of an analysis, or None where an attribute is not a plain value."""
    if type(in_shape) is not tuple or not all(type(n) is int for n in in_shape):
        return None
    known = _ATTR_KEYS.get(id(attrs))
    if known is not None and known[0] is attrs:
        part = known[1]
    else:
        part = _attrs_key(attrs)
        if len(_ATTR_KEYS) >= _SEEN_LIMIT:
            _ATTR_KEYS.clear()
        _ATTR_KEYS[id(attrs)] = (attrs, part)
    return None if part is None else (id(op), in_shape, part)


def _attrs_key(attrs: Mapping[str, Any]) -> tuple[Any, ...] | None:
    items: list[Any] = []
    for name, value in attrs.items():
        if type(value) is tuple:
            if not all(type(v) in _PLAIN for v in value):
                return None
            items.append((name, tuple(map(type, value)), value))
        elif type(value) in _PLAIN:
            items.append((name, type(value), value))
        else:
            return None
    return tuple(items)


def analyse_op(node: Node, op: OpDef, in_shape: Shape) -> list[str]:
    """Apply ``op``'s rules to ``node``: resolve its attributes, then its shape, parameters and
    multiplies from them. Returns warnings, raises :class:`ShapeError`."""
    key = _key(op, in_shape, node.attrs)
    seen = _SEEN.get(key) if key is not None else None
    if seen is None or seen[0] is not op:  # an id is unique only while its op lives
        resolved = op.resolve(in_shape, node.attrs)
        out = op.rule(in_shape, resolved)
        seen = (op, resolved, out, op.params(in_shape, out, resolved), op.mults(in_shape, out, resolved),
                op.warnings(in_shape, resolved))
        if key is not None:
            if len(_SEEN) >= _SEEN_LIMIT:
                _SEEN.clear()
            _SEEN[key] = seen
    _, resolved, node.shape, node.params, node.mults, warnings = seen
    node.resolved = dict(resolved)  # each node its own, should anything change one
    return list(warnings)


def analyse_merge(node: Node, merge: MergeDef, shapes: list[Shape]) -> None:
    """The shape of a merge over its branches' shapes; raises :class:`ShapeError`."""
    node.shape = merge.rule(shapes)
