"""From traced steps to archlang's structure: chains, combinators (``concat``, ``add``, ``mul``,
``residual``) and blocks.

Each module instance whose steps take one tensor in and give one out becomes a block call; the
steps inside a scope are read as a series-parallel graph (a join's branches start where the join's
inputs last met, their immediate dominator). Instances of one class with the same layer skeleton
share one block; the numbers that differ between them become its parameters."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Union

from torch import nn

from .layers import Layer, Num
from .trace import JOINS, Step, Traced

CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)


@dataclass
class Op:
    layer: Layer
    first: int  # index of the step, for ordering


@dataclass
class Call:
    instance: str
    first: int
    block: str = ""
    args: list[Num] = field(default_factory=list)


@dataclass
class Join:
    kind: str
    branches: list[list["Elem"]]
    first: int


@dataclass
class Repeat:
    element: "Elem"
    count: Num
    first: int


Elem = Union[Op, Call, Join, Repeat]


class NotSeriesParallel(Exception):
    """The data flow inside a scope is not a nesting of branches archlang can write."""


# --- regions -------------------------------------------------------------------------------------


def _inside(scope: str, region: str) -> bool:
    return bool(region) and (scope == region or scope.startswith(region + "."))


def _prefixes(scope: str) -> list[str]:
    parts = scope.split(".") if scope else []
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def fold_concats(steps: list[Step]) -> None:
    """``cat(a, b, c)`` where ``cat(a, b)`` was computed already becomes ``cat(cat(a, b), c)``
    (DenseNet's growing feature list), so that the graph nests."""
    seen: dict[tuple[int, ...], int] = {}
    for step in steps:
        if step.kind != "concat":
            continue
        original = tuple(step.inputs)
        for cut in range(len(step.inputs) - 1, 1, -1):
            earlier = seen.get(tuple(step.inputs[:cut]))
            if earlier is not None:
                step.inputs = [earlier] + step.inputs[cut:]
                break
        seen[original] = seen[tuple(step.inputs)] = step.index


class Structurer:
    """Turns a traced model into the element tree of every block instance and of the model."""

    def __init__(self, traced: Traced) -> None:
        self.traced = traced
        self.steps = traced.steps
        fold_concats(self.steps)
        self.dead = self.unused_steps()
        self.users: dict[int, list[int]] = {s.index: [] for s in self.steps}
        for step in self.live():
            for i in step.inputs:
                self.users[i].append(step.index)
        self.lift_leading_joins()
        self.instances = self.find_instances()
        self.bodies: dict[str, list[Elem]] = {}
        self.problems: list[tuple[str, str]] = []

    def cls(self, scope: str) -> type:
        return self.traced.classes.get(scope, nn.Module)

    def live(self) -> list[Step]:
        return [s for s in self.steps if s.index not in self.dead]

    def unused_steps(self) -> set[int]:
        """Steps the output does not depend on (the first parts of a recognised channel shuffle)."""
        needed, todo = set(), [self.traced.output]
        while todo:
            index = todo.pop()
            if index not in needed:
                needed.add(index)
                todo += self.steps[index].inputs
        return {s.index for s in self.steps if s.index not in needed and s.kind != "input"}

    def region(self, scope: str) -> list[Step]:
        return [s for s in self.live() if _inside(s.scope, scope) and s.kind != "input"]

    def lift_leading_joins(self) -> None:
        """A join whose inputs all come from outside its module belongs to the module around it
        (DenseNet's layers concatenate the features they are given, first thing)."""
        for step in self.steps:
            while step.kind in JOINS and step.scope and all(
                    not _inside(self.steps[i].scope, step.scope) for i in step.inputs):
                step.scope = step.scope.rsplit(".", 1)[0] if "." in step.scope else ""

    def entry_exit(self, scope: str) -> tuple[int, int] | None:
        """The one tensor flowing into ``scope``'s steps and the one flowing out, if so."""
        steps = self.region(scope)
        if not steps:
            return None
        inside = {s.index for s in steps}
        entries = {i for s in steps for i in s.inputs if i not in inside}
        exits = {s.index for s in steps if s.index == self.traced.output
                 or any(u not in inside for u in self.users[s.index])}
        if len(entries) != 1 or len(exits) != 1:
            return None
        return entries.pop(), exits.pop()

    def find_instances(self) -> dict[str, tuple[int, int]]:
        scopes = dict.fromkeys(p for s in self.live() for p in _prefixes(s.scope))
        found = {}
        for scope in scopes:
            if type(self.cls(scope)) is type and self.cls(scope) in CONTAINERS:
                continue
            ends = self.entry_exit(scope)
            if ends is not None:
                found[scope] = ends
        return found

    # --- series-parallel reading ---------------------------------------------------------------

    def unit(self, step: Step, scope: str) -> str:
        """The innermost instance below ``scope`` that holds ``step`` (as ``@name``), or the step."""
        for prefix in _prefixes(step.scope):
            if prefix in self.instances and (not scope or prefix.startswith(scope + ".")) and prefix != scope:
                return "@" + prefix
        return str(step.index)

    def body(self, scope: str) -> list[Elem]:
        """The elements of instance ``scope`` (or of the model, for ``''``)."""
        if scope in self.bodies:
            return self.bodies[scope]
        if scope:
            entry, exit_ = self.instances[scope]
            steps = self.region(scope)
        else:
            entry = next(s.index for s in self.steps if s.kind == "input")
            exit_ = self.traced.output
            steps = [s for s in self.live() if s.kind != "input"]
        units: dict[str, list[int]] = {}  # unit -> its input steps
        out_step: dict[str, int] = {}
        for step in steps:
            key = self.unit(step, scope)
            if key.startswith("@"):
                units.setdefault(key, [self.instances[key[1:]][0]])
                out_step[key] = self.instances[key[1:]][1]
            else:
                units[key] = list(step.inputs)
                out_step[key] = step.index
        unit_of = {v: k for k, v in out_step.items()}
        elements = _SeriesParallel(self, units, unit_of, entry).read(unit_of.get(exit_, ""), scope)
        self.bodies[scope] = elements
        return elements

    def element(self, key: str) -> list[Elem]:
        if key.startswith("@"):
            scope = key[1:]
            self.body(scope)
            return [Call(scope, min(s.index for s in self.region(scope)))]
        step = self.steps[int(key)]
        return [Op(layer, step.index) for layer in step.layers]


class _SeriesParallel:
    """Reads one scope's units (steps and block calls) from its entry to its exit."""

    def __init__(self, owner: Structurer, units: dict[str, list[int]], unit_of: dict[int, str], entry: int) -> None:
        self.owner = owner
        self.entry = entry
        self.preds = {k: [unit_of.get(i, "entry") if i != entry else "entry" for i in ins] for k, ins in units.items()}
        self.order = {k: i for i, k in enumerate(units)}
        self.order["entry"] = -1
        self.idom: dict[str, str | None] = {"entry": None}
        self.depth = {"entry": 0}
        for key in units:  # units are in execution order, so predecessors come first
            dom = self.lca([p for p in self.preds[key] if p in self.depth] or ["entry"])
            self.idom[key] = dom
            self.depth[key] = self.depth[dom] + 1
        self.emitted: list[str] = []

    def lca(self, keys: list[str]) -> str:
        common = keys[0]
        for other in keys[1:]:
            a, b = common, other
            while a != b:
                if self.depth[a] >= self.depth[b]:
                    a = self.idom[a] or "entry"
                else:
                    b = self.idom[b] or "entry"
            common = a
        return common

    def read(self, exit_: str, scope: str) -> list[Elem]:
        if not exit_:
            return []
        elements = self.chain(exit_, "entry")
        if sorted(self.emitted) != sorted(self.preds) or len(set(self.emitted)) != len(self.emitted):
            raise NotSeriesParallel(scope)
        return elements

    def chain(self, key: str, source: str) -> list[Elem]:
        if key == source:
            return []
        if key == "entry" or self.depth.get(key, 0) <= self.depth.get(source, 0):
            raise NotSeriesParallel("")
        self.emitted.append(key)
        preds = self.preds[key]
        step = None if key.startswith("@") else self.owner.steps[int(key)]
        if step is not None and step.kind in JOINS:
            start = self.idom[key] or "entry"
            head = self.chain(start, source)
            branches = [self.chain(p, start) for p in preds]
            if step.kind != "concat":  # commutative: branches in the order their layers run
                branches.sort(key=_first)
            return head + [Join(step.kind, branches, step.index)]
        (pred,) = preds if preds else ("entry",)
        return self.chain(pred, source) + self.owner.element(key)


def _first(branch: list[Elem]) -> int:
    return branch[0].first if branch else -1


# --- naming --------------------------------------------------------------------------------------


def snake(name: str) -> str:
    """``InvertedResidual`` -> ``inverted_residual``; ``MBConv`` -> ``mbconv``."""
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name.strip("_"))
    text = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", text).lower()
    text = re.sub(r"[^a-z0-9_]", "_", text)
    return text if text and not text[0].isdigit() else f"m_{text}"
