"""The graph IR: one :class:`Node` per op in execution order, with the analysis metadata
(shape, parameters, multiplies) written onto each node by :mod:`archlang.analysis`."""

from __future__ import annotations

from .records import dataclass, field
from enum import StrEnum
from typing import Any

from .errors import Diagnostic, Span
from .opdef import Definition, OpDef
from .shapes import Shape



class FrameKind(StrEnum):
    BLOCK = "block"  # a block instance
    BINDING = "binding"  # `name = chain`
    BRANCH = "branch"  # one branch of a combinator


@dataclass(frozen=True)
class Frame:
    """A naming scope: a block instance, a tensor binding or a combinator branch."""

    name: str
    kind: FrameKind
    text: str = ""  # the call as written, for block instances
    line: int = 0


@dataclass
class Node:
    index: int
    definition: Definition  # the registry's entry: an op, a merge, or the input
    inputs: tuple[int, ...]
    attrs: dict[str, Any]  # as bound from the spec; never changed afterwards
    name: str  # dotted, unique in the graph: "layer1.basic2.conv1"
    frames: tuple[Frame, ...]
    text: str  # the op as written in the spec
    span: Span | None
    trainable: bool = True
    # written by the analysis pass
    shape: Shape | None = None
    params: int = 0
    mults: int = 0
    # the op's resolve step: ``attrs`` plus what the op derives (``pads``, ``groups``, ``stride``...)
    resolved: dict[str, Any] = field(default_factory=dict)

    @property
    def op(self) -> str:
        """The op's name: ``conv``, ``add``, ``input``."""
        return self.definition.name

    @property
    def has_module(self) -> bool:
        """Whether the model registers a module for this node (a merge or a template op is an expression)."""
        return isinstance(self.definition, OpDef) and self.definition.forward is None


@dataclass
class BlockInstance:
    """Where a block call's nodes lie, so reports and diagrams can fold it."""

    path: str  # dotted name of the instance
    text: str
    line: int
    depth: int  # block nesting depth, 1 for a call at the top level
    output: int  # node index of its result


@dataclass
class Graph:
    """An analysed network."""

    name: str
    file: str
    params: dict[str, int | float]
    nodes: list[Node] = field(default_factory=list)
    inputs: list[int] = field(default_factory=lambda: [0])  # node indices of the graph's inputs
    outputs: list[int] = field(default_factory=list)  # node indices of the graph's results
    blocks: list[BlockInstance] = field(default_factory=list)
    warnings: list[Diagnostic] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)
    origin: str = ""  # the main file's absolute path, from which `use` paths are resolved
    files: dict[str, str] = field(default_factory=dict)  # absolute path -> text of each `use`d file

    @property
    def input(self) -> Node:
        """The input node (a network has one)."""
        return self.nodes[self.inputs[0]]

    @property
    def output(self) -> int:
        """The index of the first (today, the only) output node."""
        return self.outputs[0] if self.outputs else 0

    @property
    def layers(self) -> list[Node]:
        """Every op node after the input, in execution order."""
        return self.nodes[1:]

    def consumers(self) -> dict[int, list[int]]:
        uses: dict[int, list[int]] = {n.index: [] for n in self.nodes}
        for n in self.nodes:
            for i in n.inputs:
                uses[i].append(n.index)
        return uses
