"""The analysis report: one :class:`Row` per layer, and :class:`Totals` computed from the rows.
Formatting lives in :mod:`archlang.formats`."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Mapping, Protocol

from .core.errors import Diagnostic
from .core.ir import Frame, FrameKind, Graph, Node
from .core.shapes import Shape, numel

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
    extra: Mapping[str, Any] = field(default_factory=dict)  # figures of analyses asked for (archlang.analyses)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "op": self.op, "output": list(self.output), "params": self.params,
                "mults": self.mults, "trainable": self.trainable, "line": self.line, **self.extra}


@dataclass(frozen=True)
class Totals:
    params: int
    trainable_params: int
    mults: int
    activations: int  # elements of every layer's output

    @property
    def frozen_params(self) -> int:
        return self.params - self.trainable_params

    @property
    def activation_bytes(self) -> int:
        return self.activations * BYTES_FP32

    @property
    def param_bytes(self) -> int:
        return self.params * BYTES_FP32

    @classmethod
    def of(cls, rows: list[Row]) -> "Totals":
        return cls(params=sum(r.params for r in rows),
                   trainable_params=sum(r.params for r in rows if r.trainable),
                   mults=sum(r.mults for r in rows),
                   activations=sum(numel(r.output) for r in rows))


@dataclass
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
    # what analyses asked for add (archlang.analyses): totals fields, table columns, summary lines
    extra_totals: dict[str, Any] = field(default_factory=dict)
    columns: list[tuple[str, str]] = field(default_factory=list)  # (header, key in Row.extra)
    summary: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, graph: Graph) -> "Report":
        rows = [_row(n) for n in graph.layers]
        return cls(graph.name, graph.file, graph.input.shape or (), graph.nodes[graph.output].shape or (),
                   rows, Totals.of(rows), dict(graph.params), list(graph.warnings), graph)

    def fold(self, depth: int) -> "Report":
        """Block instances nested deeper than ``depth`` become one row each (0: every top-level
        block call is one row). Totals do not change."""
        if self.graph is None:
            return self
        outputs = {b.path: b for b in self.graph.blocks}
        unfolded = dict(zip((n.index for n in self.graph.layers), self.rows))
        rows: list[Row] = []
        groups: dict[str, int] = {}
        for node in self.graph.layers:
            path = fold_path(node.frames, depth)
            own = unfolded.get(node.index) or _row(node)
            if path is None:
                rows.append(own)
                continue
            if path not in groups:
                block = outputs[path]
                groups[path] = len(rows)
                out = self.graph.nodes[block.output].shape or ()
                rows.append(Row(path, block.text, out, 0, 0, True, block.line, depth + 1, 0))
            i = groups[path]
            r = rows[i]
            rows[i] = replace(r, params=r.params + node.params, mults=r.mults + node.mults,
                              trainable=r.trainable and node.trainable, folded=r.folded + 1,
                              extra=_folded_extra(r.extra, own.extra, node.index == outputs[path].output))
        return Report(self.network, self.file, self.input, self.output, rows, self.totals, self.params,
                      self.warnings, self.graph, dict(self.extra_totals), list(self.columns), list(self.summary))

    def to_dict(self) -> dict[str, Any]:
        """The JSON document of ``archlang check --format json``."""
        t = self.totals
        return {
            "network": self.network, "input": list(self.input), "output": list(self.output),
            "parameters": self.params,
            "layers": [r.as_dict() for r in self.rows],
            "totals": {"params": t.params, "trainable_params": t.trainable_params,
                       "frozen_params": t.frozen_params, "mults": t.mults, "activations": t.activations,
                       "activation_bytes": t.activation_bytes, "param_bytes": t.param_bytes,
                       **self.extra_totals},
        }

    def __str__(self) -> str:
        return PRESENTER.text(self)

    def _repr_html_(self) -> str:  # Jupyter shows the table
        return PRESENTER.html(self)

    def diagram(self, depth: int | None = None, direction: str = "TB") -> Any:
        """The network as an SVG image object, displayed inline in Jupyter."""
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


def _row(node: Node) -> Row:
    depth = sum(1 for f in node.frames if f.kind == FrameKind.BLOCK)
    return Row(node.name, node.text or node.op, node.shape or (), node.params, node.mults, node.trainable,
               node.span.line if node.span else 0, depth)


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
                return ".".join(f.name for f in frames[: i + 1])
    return None
