"""The graph IR: one :class:`Node` per op in execution order, with the analysis metadata
(shape, parameters, multiplies) written onto each node by :mod:`archlang.analysis`."""

from __future__ import annotations

from .records import dataclass, field
from enum import StrEnum
from typing import Any, Callable, Mapping

from .errors import Diagnostic, Span
from .opdef import Definition, OpDef
from .shapes import Shape



class FrameKind(StrEnum):
    BLOCK = "block"  # a block instance
    BINDING = "binding"  # `name = chain`
    BRANCH = "branch"  # one branch of a combinator
    LABEL = "label"  # `LABEL: ELEMENT` around an element that makes several layers


class Runs(StrEnum):
    """When a node runs in ``forward``: in both modes, only in training mode (it feeds only
    training-only outputs), or never (it feeds no output; its module is still built)."""

    ALWAYS = "always"
    TRAINING = "training"
    NEVER = "never"


@dataclass(frozen=True)
class GraphOutput:
    """One result of the network: the node computing it, its name (the key of a named output,
    the tensor's name, or ``output`` for the version 1 rule), whether it exists only in training
    mode, and whether it was written as ``key = NAME`` (the model returns a dict)."""

    node: int
    name: str
    training_only: bool = False
    keyed: bool = False


@dataclass(frozen=True)
class Frame:
    """A naming scope: a block instance, a tensor binding or a combinator branch."""

    name: str
    kind: FrameKind
    text: str = ""  # the call as written, for block instances
    line: int = 0
    labelled: bool = False  # named by a `LABEL:`: combinator branches around it drop out of names


def frame_path(frames: "tuple[Frame, ...] | list[Frame]", *more: str) -> str:
    """The dotted name of a scope. Combinator branches are scopes of their own, except around a
    label: in ``concat(cv1: cbs(8), ...)`` the block instance is ``cv1``, not ``branch1.cv1``,
    so that labels give the names a checkpoint uses."""
    last = max((i for i, f in enumerate(frames) if f.labelled), default=-1)
    names = [f.name for i, f in enumerate(frames) if i > last or f.kind != FrameKind.BRANCH]
    return ".".join(names + list(more))


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
    runs: Runs = Runs.ALWAYS  # written once the outputs are known
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
    label: str | None = None  # the `LABEL:` that named it, if any


@dataclass(frozen=True)
class AssertCheck:
    """An ``assert`` as the analyses can test it again at another input size (``sizes``): the
    bound tensors it reads (name -> node index), whether it reads a total that changes with the
    input size (``mults``, ``train_mults``, ``activations``), and the test on the tensors' shapes."""

    span: Span | None
    tensors: Mapping[str, int]
    reads_size_totals: bool
    holds: Callable[[Mapping[str, Shape]], bool]


@dataclass
class Graph:
    """An analysed network."""

    name: str
    file: str
    params: dict[str, int | float]
    nodes: list[Node] = field(default_factory=list)
    inputs: list[int] = field(default_factory=lambda: [0])  # node indices of the graph's inputs
    outputs: list[GraphOutput] = field(default_factory=list)  # the results, those of both modes first
    blocks: list[BlockInstance] = field(default_factory=list)
    warnings: list[Diagnostic] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)
    origin: str = ""  # the main file's absolute path, from which `use` paths are resolved
    files: dict[str, str] = field(default_factory=dict)  # absolute path -> text of each `use`d file
    variants: list[str] = field(default_factory=list)  # the spec's `variant` names, in order
    variant: str | None = None  # the one chosen, if any
    asserts: list[AssertCheck] = field(default_factory=list)  # the spec's `assert`s, to test at other sizes

    @property
    def input(self) -> Node:
        """The input node (a network has one)."""
        return self.nodes[self.inputs[0]]

    @property
    def output(self) -> int:
        """The index of the first output's node."""
        return self.outputs[0].node if self.outputs else 0

    @property
    def keyed(self) -> bool:
        """Whether the outputs are named (``output key = NAME``): the model returns a dict."""
        return any(o.keyed for o in self.outputs)

    def outputs_in(self, training: bool) -> list[GraphOutput]:
        """The outputs that exist in one mode, in the order ``forward`` returns them."""
        return [o for o in self.outputs if training or not o.training_only]

    def runs_in(self, node: Node, training: bool) -> bool:
        """Whether ``node`` runs in ``forward`` in the given mode."""
        return node.runs == Runs.ALWAYS or (training and node.runs == Runs.TRAINING)

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
