"""A semantic diff of two specs: layers matched by name and position, each added, removed or
changed layer (output shape, parameters, multiplies, op), and both sides' totals."""

from __future__ import annotations

import json
from ..core.records import dataclass, field
from difflib import SequenceMatcher
from typing import Any

from ..core.shapes import fmt
from ..report import Report, Row


@dataclass
class Change:
    change: str  # "added", "removed" or "changed"
    name: str
    a: Row | None
    b: Row | None

    def as_dict(self) -> dict[str, Any]:
        return {"change": self.change, "name": self.name, "a": self.a.as_dict() if self.a else None,
                "b": self.b.as_dict() if self.b else None}


@dataclass
class Diff:
    a: Report
    b: Report
    layers: list[Change] = field(default_factory=list)

    @property
    def differs(self) -> bool:
        return bool(self.layers) or self.a.input != self.b.input or self.a.output != self.b.output

    def to_dict(self) -> dict[str, Any]:
        ta, tb = self.a.totals, self.b.totals
        return {"layers": [c.as_dict() for c in self.layers],
                "totals": {"params": [ta.params, tb.params], "mults": [ta.mults, tb.mults]}}


def side(path: str, params: dict[str, float], variant: str | None = None) -> Report:
    """One side of the diff: the spec at ``path`` with its overrides and ``variant``."""
    from ..api import load_file

    return Report.of(load_file(path, params, variant=variant), variant)


def _same(a: Row, b: Row) -> bool:
    return (a.op, a.output, a.params, a.mults, a.trainable) == (b.op, b.output, b.params, b.mults, b.trainable)


def compare(a: Report, b: Report) -> Diff:
    """Layers aligned by name in order; a layer present on both sides that differs is changed."""
    result = Diff(a, b)
    matcher = SequenceMatcher(None, [r.name for r in a.rows], [r.name for r in b.rows], autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            result.layers += [Change("changed", ra.name, ra, rb) for ra, rb in zip(a.rows[i1:i2], b.rows[j1:j2])
                              if not _same(ra, rb)]
            continue
        result.layers += [Change("removed", r.name, r, None) for r in a.rows[i1:i2]]
        result.layers += [Change("added", r.name, None, r) for r in b.rows[j1:j2]]
    return result


def _describe(row: Row | None) -> str:
    return "" if row is None else f"{row.op}  {fmt(row.output)}  {row.params:,} params  {row.mults:,} mults"


def render(diff: Diff, kind: str) -> str:
    if kind == "json":
        return json.dumps(diff.to_dict(), indent=2) + "\n"
    lines = [f"--- {diff.a.file} ({diff.a.network})", f"+++ {diff.b.file} ({diff.b.network})"]
    mark = {"added": "+", "removed": "-", "changed": "~"}
    for c in diff.layers:
        lines.append(f"{mark[c.change]} {c.name}")
        if c.a:
            lines.append(f"    a: {_describe(c.a)}")
        if c.b:
            lines.append(f"    b: {_describe(c.b)}")
    if not diff.layers:
        lines.append("no layer differs")
    ta, tb = diff.a.totals, diff.b.totals
    lines.append(f"params: {ta.params:,} -> {tb.params:,} ({tb.params - ta.params:+,})")
    lines.append(f"mults: {ta.mults:,} -> {tb.mults:,} ({tb.mults - ta.mults:+,})")
    if diff.a.output != diff.b.output:
        lines.append(f"output: {fmt(diff.a.output)} -> {fmt(diff.b.output)}")
    return "\n".join(lines) + "\n"
