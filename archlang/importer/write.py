"""Writing the ``.arch`` text: blocks shared by instances with the same skeleton, their differing
numbers as parameters, runs of equal calls as repeats, one tensor binding per top-level module."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from ..ops import ALIASES, REGISTRY
from .layers import FIXED, Layer, Num
from .structure import Call, Elem, Join, Op, Repeat, Structurer, snake

WIDTH = 100
RESERVED = {"network", "input", "block", "use", "if", "then", "else", "and", "or", "not", "identity", "in",
            "concat", "add", "mul", "residual", "freeze", "min", "max", "ceil", "floor", "round", "int",
            "divisible", "same", "valid", "nobias", "x", "s", "p", "g", "d", "output", "variant", "assert"}
PARAM_NAMES = {"c": "c", "s": "s", "k": "k", "p": "p", "g": "g", "d": "d", "n": "n", "i": "i", "a": "a"}


def number(value: int | float) -> str:
    """A number as archlang reads it back exactly (``1e-05``, ``0.001``, ``64``)."""
    return repr(int(value) if isinstance(value, bool) else value)


@dataclass
class Group:
    """The block that a set of instances with one skeleton shares."""

    name: str
    members: list[str]
    columns: list[str | None] = field(default_factory=list)  # per number: expression, None = literal
    params: list[tuple[str, int]] = field(default_factory=list)  # (name, column giving its value)


class Writer:
    """Builds the spec text from a :class:`Structurer`."""

    def __init__(self, structure: Structurer) -> None:
        self.s = structure
        self.compressed: dict[str, list[Elem]] = {}
        self.skeletons: dict[str, str] = {}
        self.groups: dict[tuple[type, str], Group] = {}
        self.group_of: dict[str, Group] = {}
        self.names: set[str] = set(REGISTRY) | set(ALIASES) | RESERVED

    # --- per instance ------------------------------------------------------------------------

    def body(self, scope: str) -> list[Elem]:
        if scope not in self.compressed:
            elements = self.s.body(scope)
            for element in _calls(elements):
                self.finish_call(element)
            # at the top, a repeat never spans two modules: each keeps its own binding
            self.compressed[scope] = _compress(elements, (lambda a, b: self.top_owner(a) == self.top_owner(b))
                                               if not scope else (lambda a, b: True))
        return self.compressed[scope]

    def skeleton(self, scope: str) -> str:
        if scope not in self.skeletons:
            self.skeletons[scope] = " ".join(_skeleton(e) for e in self.body(scope))
        return self.skeletons[scope]

    def group(self, scope: str) -> Group:
        if scope in self.group_of:
            return self.group_of[scope]
        cls, shape = self.s.cls(scope), self.skeleton(scope)
        key = (cls, shape)
        if key not in self.groups:
            members = [i for i in self.s.instances if self.s.cls(i) is cls and self.skeleton(i) == shape]
            self.groups[key] = Group(self.fresh(snake(cls.__name__)), members)
            self.parameterise(self.groups[key])
        for member in self.groups[key].members:
            self.group_of[member] = self.groups[key]
        return self.groups[key]

    def fresh(self, base: str) -> str:
        name, n = base, 1
        while name in self.names:
            n += 1
            name = f"{base}_{n}"
        self.names.add(name)
        return name

    def finish_call(self, call: Call) -> None:
        group = self.group(call.instance)
        values = _numbers(self.body(call.instance))
        call.block = group.name
        call.args = [Num(values[column], name) for name, column in group.params]

    # --- parameters ----------------------------------------------------------------------------

    def parameterise(self, group: Group) -> None:
        table = [_numbers(self.body(m)) for m in group.members]
        channels = [self.in_channels(m) for m in group.members]
        kinds = [n.kind for n in _nums(self.body(group.members[0]))]
        used: dict[str, int] = {}
        for j, kind in enumerate(kinds):
            column = [row[j] for row in table]
            group.columns.append(self.expression(group, column, channels, kind, used))

    def expression(self, group: Group, column: list, channels: list[int | None], kind: str,
                   used: dict[str, int]) -> str | None:
        if len(set(column)) == 1:
            return None
        integral = all(isinstance(v, int) for v in column)
        if integral and all(c is not None for c in channels):
            if column == channels:
                return "in.c"
            ratio = _ratio(column, channels)  # type: ignore[arg-type]
            if ratio:
                return f"in.c {ratio}"
        table = [_numbers(self.body(m)) for m in group.members]
        for name, source in group.params:
            earlier = [row[source] for row in table]
            if earlier == column:
                return name
            if integral and all(isinstance(v, int) for v in earlier):
                ratio = _ratio(column, earlier)
                if ratio:
                    return f"{name} {ratio}"
        base = PARAM_NAMES.get(kind, kind)
        used[base] = used.get(base, 0) + 1
        name = base if used[base] == 1 else f"{base}{used[base]}"
        group.params.append((name, len(group.columns)))
        return name

    def in_channels(self, scope: str) -> int | None:
        entry, _ = self.s.instances[scope]
        shape = self.s.steps[entry].shape
        return shape[0] if len(shape) == 3 else None

    # --- text --------------------------------------------------------------------------------

    def blocks_text(self) -> list[str]:
        """Every block, each after the blocks it calls."""
        order: list[Group] = []

        def visit(scope: str) -> None:
            for call in _calls(self.body(scope)):
                visit(call.instance)
            group = self.group(scope)
            if group not in order:
                order.append(group)

        for call in _calls(self.body("")):
            visit(call.instance)
        return [self.block_text(g) for g in order]

    def block_text(self, group: Group) -> str:
        params = ", ".join(name for name, _ in group.params)
        exprs = iter(group.columns)
        text = _chain(self.body(group.members[0]), exprs, indent="  ")
        head = f"block {group.name}({params}) {{"
        if "\n" not in text and len(head) + len(text) + 3 <= WIDTH:
            return f"{head} {text.strip()} }}"
        return f"{head}\n  {text.strip()}\n}}"

    def statements(self) -> list[str]:
        """The model's chain as one tensor binding per top-level module."""
        runs: list[tuple[str, list[Elem]]] = []
        for element in self.body(""):
            owner = self.top_owner(element)
            if runs and (owner is None or owner == runs[-1][0]):
                runs[-1][1].append(element)
            else:
                runs.append((owner or "start", [element]))
        lines = []
        for owner, elements in runs:
            name = self.binding_name(owner)
            text = _chain(elements, iter(()), indent="  ")
            lines.append(f"{name} = {text.strip()}")
        return lines

    def binding_name(self, owner: str) -> str:
        name = owner if owner.isidentifier() else f"layer{owner}" if owner.isdigit() else snake(owner)
        if name in self.names:
            name = self.fresh(name + "_out")
        self.names.add(name)
        return name

    def top_owner(self, element: Elem) -> str | None:
        if isinstance(element, Call):
            return element.instance.split(".")[0]
        if isinstance(element, Repeat):
            return self.top_owner(element.element)
        if isinstance(element, Join):
            for branch in element.branches:
                for inner in branch:
                    owner = self.top_owner(inner)
                    if owner:
                        return owner
            return None
        step = self.s.steps[element.first]
        path = step.module or step.scope
        return path.split(".")[0] if path else None


# --- element helpers -----------------------------------------------------------------------------


def _calls(elements: list[Elem]) -> list[Call]:
    found: list[Call] = []
    for e in elements:
        if isinstance(e, Call):
            found.append(e)
        elif isinstance(e, Repeat):
            found += _calls([e.element])
        elif isinstance(e, Join):
            for branch in e.branches:
                found += _calls(branch)
    return found


def _nums(elements: list[Elem]) -> list[Num]:
    found: list[Num] = []
    for e in elements:
        if isinstance(e, Op):
            found += [p for token in e.layer.tokens for p in token if isinstance(p, Num)]
        elif isinstance(e, Call):
            found += e.args
        elif isinstance(e, Repeat):
            found += _nums([e.element]) + [e.count]
        else:
            for branch in e.branches:
                found += _nums(branch)
    return found


def _numbers(elements: list[Elem]) -> list:
    return [n.value for n in _nums(elements)]


def _skeleton(e: Elem) -> str:
    if isinstance(e, Op):
        return e.layer.op + "".join(" " + "".join(_piece_skeleton(p) for p in t) for t in e.layer.tokens)
    if isinstance(e, Call):
        return f"{e.block}({','.join(n.kind for n in e.args)})"
    if isinstance(e, Repeat):
        return f"[{_skeleton(e.element)}]*#n"
    return e.kind + "(" + ",".join(" ".join(_skeleton(x) for x in b) for b in e.branches) + ")"


def _piece_skeleton(piece: str | Num) -> str:
    if isinstance(piece, str):
        return piece
    return number(piece.value) if piece.kind == FIXED else "#" + piece.kind


def _same(a: Elem, b: Elem) -> bool:
    return _skeleton(a) == _skeleton(b) and _numbers([a]) == _numbers([b])


def _compress(elements: list[Elem], together: Callable[[Elem, Elem], bool]) -> list[Elem]:
    """Runs of equal calls or combinators become ``element * n``; nested branches too."""
    out: list[Elem] = []
    for e in elements:
        if isinstance(e, Join):
            e = Join(e.kind, [_compress(b, together) for b in e.branches], e.first)
        repeatable = isinstance(e, (Call, Join)) and bool(out) and together(out[-1], e)
        if repeatable and out and isinstance(out[-1], Repeat) and _same(out[-1].element, e):
            out[-1].count = Num(out[-1].count.value + 1, "n")
        elif repeatable and out and not isinstance(out[-1], Repeat) and _same(out[-1], e):
            out[-1] = Repeat(out[-1], Num(2, "n"), out[-1].first)
        else:
            out.append(e)
    return out


def _ratio(column: list[int], base: list[int | None]) -> str | None:
    if any(not b for b in base):
        return None
    if all(v % b == 0 for v, b in zip(column, base)):  # type: ignore[operator]
        factors = {v // b for v, b in zip(column, base)}  # type: ignore[operator]
        if len(factors) == 1 and (k := factors.pop()) > 1:
            return f"* {k}"
    if all(v and b % v == 0 for v, b in zip(column, base)):  # type: ignore[operator]
        factors = {b // v for v, b in zip(column, base)}  # type: ignore[operator]
        if len(factors) == 1 and (k := factors.pop()) > 1:
            return f"// {k}"
    return None


def _value(n: Num, exprs) -> str:
    expr = next(exprs, None)
    return number(n.value) if expr is None else f"({expr})"


def _layer(layer: Layer, exprs) -> str:
    parts = [layer.op]
    for token in layer.tokens:
        parts.append("".join(p if isinstance(p, str) else _value(p, exprs) for p in token))
    return " ".join(parts)


def _element(e: Elem, exprs, indent: str) -> str:
    if isinstance(e, Op):
        return _layer(e.layer, exprs)
    if isinstance(e, Call):
        args = [_value(a, exprs) for a in e.args]
        return f"{e.block}({', '.join(a[1:-1] if a.startswith('(') else a for a in args)})"
    if isinstance(e, Repeat):
        inner = _element(e.element, exprs, indent)
        count = _value(e.count, exprs)
        return f"{inner} * {count}"
    texts = [_chain(b, exprs, indent + "  ") if b else "identity" for b in e.branches]
    if e.kind == "add" and len(texts) == 2 and "identity" in texts:
        texts.remove("identity")
        kind = "residual"
    else:
        kind = e.kind
    inline = f"{kind}({', '.join(t.strip() for t in texts)})"
    if "\n" not in inline and len(inline) + len(indent) <= WIDTH:
        return inline
    inner = indent + "  "
    return f"{kind}(\n" + ",\n".join(inner + t.strip() for t in texts) + f"\n{indent})"


def _chain(elements: list[Elem], exprs, indent: str) -> str:
    """Elements joined by ``->``, wrapped before an arrow when a line grows long."""
    lines: list[str] = [""]
    for e in elements:
        text = _element(e, exprs, indent)
        piece = text if not lines[-1] else " -> " + text
        if lines[-1] and len(indent) + len(lines[-1]) + len(piece) > WIDTH:
            lines.append("-> " + text)
        else:
            lines[-1] += piece
    return ("\n" + indent).join(lines) if lines != [""] else "identity"
