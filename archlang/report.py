"""The analysis report: one :class:`Row` per layer, and :class:`Totals` computed from the rows.
Formatting lives in :mod:`archlang.formats`."""

from __future__ import annotations

from .core.records import dataclass, field, replace
from typing import Any, Mapping, Protocol

from .core.errors import Diagnostic
from .core.ir import BlockInstance, Frame, FrameKind, Graph, Node, Runs, frame_path
from .core.opdef import OpDef
from .core.shapes import Layout, Shape, numel, torch_dims

BYTES_FP32 = 4


@dataclass(frozen=True)
class Row:
    """One layer (or, when folded, one block instance) of the table."""

    name: str
    op: str
    output: Shape
    params: int
    mults: int
    trainable: bool
    line: int
    depth: int = 0  # block nesting depth of the row
    folded: int = 0  # how many layers a folded block row stands for (0: a single layer)
    training_only: bool = False  # acts only in training mode (augmentation)
    runs: Runs = Runs.ALWAYS  # whether it runs in eval mode, only in training, or never
    extra: Mapping[str, Any] = field(default_factory=dict)  # figures of analyses asked for (archlang.analyses)

    def as_dict(self, layout: Layout = Layout.HWC) -> dict[str, Any]:
        """The row in JSON; ``"training_only": true`` only for augmentation rows, ``"runs"``
        (``training`` or ``never``) only for a row that does not run in eval mode, so that version 1
        documents keep their exact shape."""
        doc: dict[str, Any] = {"name": self.name, "op": self.op, "output": _dims(self.output, layout),
                               "params": self.params, "mults": self.mults, "trainable": self.trainable,
                               "line": self.line, **self.extra}
        if self.training_only:
            doc["training_only"] = True
        if self.runs != Runs.ALWAYS:
            doc["runs"] = str(self.runs)
        return doc


@dataclass(frozen=True)
class OutputRow:
    """One result of the network, as the report lists it."""

    name: str
    shape: Shape
    training_only: bool

    def as_dict(self, layout: Layout = Layout.HWC) -> dict[str, Any]:
        return {"name": self.name, "shape": _dims(self.shape, layout), "training_only": self.training_only}


@dataclass(frozen=True)
class Totals:
    """``mults`` counts what runs in eval mode, ``train_mults`` adds what runs only in training;
    ``params`` counts every module built; ``activations`` every output computed in training."""

    params: int
    trainable_params: int
    mults: int
    activations: int  # elements of every layer's output
    weighted_activations: int = 0  # elements of the outputs of layers with parameters
    train_mults: int = -1  # -1: equal to mults (reports made before the outputs were known)

    def __post_init__(self) -> None:
        if self.train_mults < 0:
            object.__setattr__(self, "train_mults", self.mults)

    @property
    def frozen_params(self) -> int:
        return self.params - self.trainable_params

    @property
    def activation_bytes(self) -> int:
        return self.activations * BYTES_FP32

    @property
    def param_bytes(self) -> int:
        return self.params * BYTES_FP32

    @property
    def forward_backward_bytes(self) -> int:
        """torchinfo's "forward/backward pass size": the fp32 outputs of the layers that have
        parameters, twice (the output and its gradient); other layers' outputs are not counted."""
        return 2 * self.weighted_activations * BYTES_FP32

    @classmethod
    def of(cls, rows: list[Row]) -> "Totals":
        return cls(params=sum(r.params for r in rows),
                   trainable_params=sum(r.params for r in rows if r.trainable),
                   mults=sum(r.mults for r in rows if r.runs == Runs.ALWAYS),
                   activations=sum(numel(r.output) for r in rows if r.runs != Runs.NEVER),
                   weighted_activations=sum(numel(r.output) for r in rows
                                            if r.params > 0 and r.runs != Runs.NEVER),
                   train_mults=sum(r.mults for r in rows if r.runs != Runs.NEVER))


@dataclass(repr=False)
class Report:
    """What ``archlang check`` prints: rows in execution order, totals, warnings."""

    network: str
    file: str
    input: Shape
    output: Shape
    rows: list[Row]
    totals: Totals
    params: dict[str, Any] = field(default_factory=dict)
    warnings: list[Diagnostic] = field(default_factory=list)
    graph: Graph | None = field(default=None, repr=False)
    outputs: list[OutputRow] = field(default_factory=list)
    variant: str | None = None  # the `variant` the figures are for
    # what analyses asked for add (archlang.analyses): totals fields, table columns, summary lines
    extra_totals: dict[str, Any] = field(default_factory=dict)
    columns: list[tuple[str, str]] = field(default_factory=list)  # (header, key in Row.extra)
    summary: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, graph: Graph, variant: str | None = None) -> "Report":
        rows = [_row(n) for n in graph.layers]
        outputs = [OutputRow(o.name, graph.nodes[o.node].shape or (), o.training_only) for o in graph.outputs]
        return cls(graph.name, graph.file, graph.input.shape or (), graph.nodes[graph.output].shape or (),
                   rows, Totals.of(rows), dict(graph.params), list(graph.warnings), graph, outputs,
                   variant or graph.variant)

    def fold(self, depth: int) -> "Report":
        """Block instances nested deeper than ``depth`` become one row each (0: every top-level
        block call is one row). Totals do not change."""
        if self.graph is None:
            return self
        unfolded = dict(zip((n.index for n in self.graph.layers), self.rows))
        rows = [unfolded.get(item.index) or _row(item) if isinstance(item, Node)
                else _folded_row(item, self.graph, depth, unfolded) for item in folded(self.graph, depth)]
        return Report(self.network, self.file, self.input, self.output, rows, self.totals, self.params,
                      self.warnings, self.graph, self.outputs, self.variant, dict(self.extra_totals),
                      list(self.columns), list(self.summary))

    @property
    def input_bytes(self) -> int:
        """The fp32 input for a batch of one (torchinfo's "input size")."""
        return numel(self.input) * BYTES_FP32

    @property
    def estimated_total_bytes(self) -> int:
        """torchinfo's "estimated total size": input, forward/backward pass and parameters."""
        return self.input_bytes + self.totals.forward_backward_bytes + self.totals.param_bytes

    def to_dict(self, layout: Layout = Layout.HWC) -> dict[str, Any]:
        """The JSON document of ``archlang check --format json``; shapes in ``layout``."""
        t = self.totals
        doc: dict[str, Any] = {
            "network": self.network, "layout": str(layout), "input": _dims(self.input, layout),
            "output": _dims(self.output, layout), "outputs": [o.as_dict(layout) for o in self.outputs],
            "parameters": self.params,
            "diagnostics": [d.as_dict() for d in self.warnings],
            "layers": [r.as_dict(layout) for r in self.rows],
            "totals": {"params": t.params, "trainable_params": t.trainable_params,
                       "frozen_params": t.frozen_params, "mults": t.mults, "train_mults": t.train_mults,
                       "activations": t.activations, "activation_bytes": t.activation_bytes,
                       "param_bytes": t.param_bytes, "input_bytes": self.input_bytes,
                       "forward_backward_bytes": t.forward_backward_bytes,
                       "estimated_total_bytes": self.estimated_total_bytes, **self.extra_totals},
        }
        if self.variant is not None:
            doc["variant"] = self.variant
        return doc

    def __str__(self) -> str:
        return PRESENTER.text(self)

    def __repr__(self) -> str:
        """One line, where a dataclass would print every row (27 KB for ResNet-50)."""
        t = self.totals
        return (f"<Report {self.network}: {len(self.rows)} rows, {t.params:,} params, {t.mults:,} mults, "
                f"input {'x'.join(map(str, self.input))} -> output {'x'.join(map(str, self.output))}>")

    def _repr_html_(self) -> str:  # Jupyter shows the table
        return PRESENTER.html(self)

    def diagram(self, depth: int | None = None, direction: str = "TB") -> Any:
        """The network's diagram: inline SVG in Jupyter (with Graphviz), text otherwise, and
        ``.save(path)`` to ``.svg``, ``.png``, ``.pdf`` or ``.dot``."""
        return PRESENTER.diagram(self, depth, direction)


class Presenter(Protocol):
    """How a report shows itself. The report is data and knows no format: the presenters live
    downstream, in :mod:`archlang.emit.present`, and ``archlang/__init__`` installs them with
    :func:`present_with` (an upward import from here would make a cycle)."""

    def text(self, report: Report) -> str: ...

    def html(self, report: Report) -> str: ...

    def diagram(self, report: Report, depth: int | None, direction: str) -> Any: ...


class _Plain:
    """Until a presenter is installed: a one-line summary, never an error."""

    def text(self, report: Report) -> str:
        return f"{report.network}: {len(report.rows)} rows, {report.totals.params:,} parameters\n"

    def html(self, report: Report) -> str:
        return self.text(report)

    def diagram(self, report: Report, depth: int | None, direction: str) -> Any:
        raise RuntimeError("no diagram presenter is installed: import archlang")


PRESENTER: Presenter = _Plain()


def present_with(presenter: Presenter) -> None:
    """Install the presenter that ``str(report)``, Jupyter and :meth:`Report.diagram` use."""
    global PRESENTER
    PRESENTER = presenter


def _dims(shape: Shape, layout: Layout) -> list[int]:
    return torch_dims(shape) if layout == Layout.NCHW else list(shape)


_RUN_ORDER = (Runs.ALWAYS, Runs.TRAINING, Runs.NEVER)


def _widest(runs: list[Runs]) -> Runs:
    """A folded row runs in every mode that any of its members runs in."""
    return min(runs, key=_RUN_ORDER.index)


def _row(node: Node) -> Row:
    depth = sum(1 for f in node.frames if f.kind == FrameKind.BLOCK)
    return Row(node.name, node.text or node.op, node.shape or (), node.params, node.mults, node.trainable,
               node.span.line if node.span else 0, depth, training_only=_training_only(node), runs=node.runs)


def _training_only(node: Node) -> bool:
    return isinstance(node.definition, OpDef) and node.definition.training_only


@dataclass(frozen=True)
class Fold:
    """A block instance folded into one item: the nodes it stands for, in execution order."""

    path: str
    block: BlockInstance
    members: tuple[Node, ...]

    @property
    def params(self) -> int:
        return sum(n.params for n in self.members)

    @property
    def mults(self) -> int:
        return sum(n.mults for n in self.members)


def folded(graph: Graph, depth: int | None) -> list[Node | Fold]:
    """The graph's layers in execution order, each block instance nested deeper than ``depth``
    replaced by one :class:`Fold` where its first node was (``None``: nothing folds). The table
    and the diagrams both fold through here."""
    if depth is None:
        return list(graph.layers)
    blocks = {b.path: b for b in graph.blocks}
    members: dict[str, list[Node]] = {}
    order: list[Node | str] = []
    for node in graph.layers:
        path = fold_path(node.frames, depth)
        if path is None:
            order.append(node)
        else:
            if path not in members:
                members[path] = []
                order.append(path)
            members[path].append(node)
    return [item if isinstance(item, Node) else Fold(item, blocks[item], tuple(members[item])) for item in order]


def _folded_row(fold: Fold, graph: Graph, depth: int, unfolded: Mapping[int, Row]) -> Row:
    out = graph.nodes[fold.block.output].shape or ()
    extra: dict[str, Any] = {}
    for node in fold.members:
        if node.index in unfolded:
            extra = _folded_extra(extra, unfolded[node.index].extra, node.index == fold.block.output)
    return Row(fold.path, fold.block.text, out, fold.params, fold.mults, all(n.trainable for n in fold.members),
               fold.block.line, depth + 1, len(fold.members), all(_training_only(n) for n in fold.members),
               _widest([n.runs for n in fold.members]), extra)


def _folded_extra(block: Mapping[str, Any], layer: Mapping[str, Any], is_output: bool) -> dict[str, Any]:
    """A folded row's analysis figures: counts add up; the rest are the block output's."""
    merged = dict(block)
    for key, value in layer.items():
        if isinstance(value, int) and not isinstance(value, bool):
            merged[key] = merged.get(key, 0) + value
        elif is_output:
            merged[key] = value
    return merged


def fold_path(frames: tuple[Frame, ...], depth: int) -> str | None:
    """The dotted path of the block instance a node folds into, or None if it stays a row."""
    seen = 0
    for i, frame in enumerate(frames):
        if frame.kind == FrameKind.BLOCK:
            seen += 1
            if seen > depth:
                return frame_path(frames[: i + 1])
    return None
