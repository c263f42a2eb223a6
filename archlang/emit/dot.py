"""Diagrams: the graph as Graphviz DOT, and images through Graphviz's `dot` program.

Layers are boxes coloured by op family, labelled with the op and its output shape; edges carry
the tensor shape; merges are round nodes; bindings and block instances are clusters; frozen
layers are dashed. ``depth`` folds block instances deeper than it into one node each."""

from __future__ import annotations

import os
import re
import shutil
from ..core.records import dataclass, field
from typing import Any

from ..core.ir import Frame, FrameKind, Graph, Node, frame_path
from ..core.opdef import Family, MergeDef, OpDef
from ..report import Fold, folded
from ..core.shapes import fmt

IMAGE_FORMATS = ("svg", "png", "pdf")
DIRECTIONS = ("TB", "LR")  # top to bottom, left to right
FORMATS = IMAGE_FORMATS + ("dot",)  # what `archlang render -o FILE.EXT` writes, by extension
INSTALL_HINT = ("Graphviz's `dot` program is needed for images: install it (Debian and Ubuntu: "
                "`apt-get install graphviz`; macOS: `brew install graphviz`), or write `-o FILE.dot` "
                "and render that elsewhere")

# Fills readable in print and on screen; the text stays black.
FILLS = {
    "conv": "#cfe2f3", "pool": "#d9ead3", "norm": "#fff2cc", "act": "#eeeeee", "fc": "#f4cccc",
    "reshape": "#ead1dc", "regularize": "#f3f3f3", "augment": "#d0e0e3", "merge": "#ffffff", "io": "#ffffff",
    "block": "#e1d5e7",
}


@dataclass
class Box:
    id: str
    label: str  # HTML-like label body
    family: Family
    frozen: bool
    clusters: tuple[tuple[str, Frame], ...]  # enclosing (path, frame), outermost first


@dataclass
class Cluster:
    frame: Frame | None
    boxes: list[Box] = field(default_factory=list)
    children: dict[str, "Cluster"] = field(default_factory=dict)


def _esc(text: str) -> str:
    import html  # here, not at the top: `check` imports this module for its options alone

    return html.escape(text, quote=True)


def _label(title: str, *lines: str) -> str:
    body = f"<b>{_esc(title)}</b>"
    for line in lines:
        body += f'<br/><font point-size="10">{_esc(line)}</font>'
    return body


def _clusters(frames: tuple[Frame, ...]) -> tuple[tuple[str, Frame], ...]:
    out = []
    for i, frame in enumerate(frames):
        if frame.kind in (FrameKind.BLOCK, FrameKind.BINDING, FrameKind.LABEL):
            out.append((frame_path(frames[: i + 1]), frame))
    return tuple(out)


def _layer_box(node: Node) -> Box:
    if isinstance(node.definition, MergeDef):
        return Box(f"n{node.index}", _label(node.definition.symbol, fmt(node.shape)), Family.MERGE,
                   not node.trainable, _clusters(node.frames))
    family = node.definition.family
    title = node.text + ("" if node.trainable or not node.params else "  (frozen)")
    title += "  (training only)" if isinstance(node.definition, OpDef) and node.definition.training_only else ""
    return Box(f"n{node.index}", _label(title, fmt(node.shape)), family, not node.trainable and node.params > 0,
               _clusters(node.frames))


def _folded_box(fold: Fold, graph: Graph) -> Box:
    members = fold.members
    frozen = any(not n.trainable and n.params for n in members)
    frames = members[0].frames
    depth = next((k for k in range(1, len(frames) + 1) if frame_path(frames[:k]) == fold.path), len(frames))
    enclosing = _clusters(frames[:depth])[:-1]
    lines = [fmt(graph.nodes[fold.block.output].shape), f"{fold.params:,} params, {fold.mults:,} mults"]
    title = f"{fold.block.label}: {fold.block.text}" if fold.block.label else fold.block.text
    return Box("b_" + "".join(c if c.isalnum() else "_" for c in fold.path), _label(title, *lines),
               Family.BLOCK, frozen, enclosing)


def boxes_and_edges(graph: Graph, depth: int | None) -> tuple[list[Box], list[tuple[str, str, str]]]:
    """Boxes in execution order and edges (from, to, shape), with block instances deeper than
    ``depth`` folded into one box each."""
    boxes: list[Box] = [Box("n0", _label(f"input {fmt(graph.input.shape)}"), Family.IO, False, ())]
    box_of: dict[int, str] = {0: "n0"}
    for item in folded(graph, depth):
        box = _layer_box(item) if isinstance(item, Node) else _folded_box(item, graph)
        boxes.append(box)
        for node in (item,) if isinstance(item, Node) else item.members:
            box_of[node.index] = box.id
    sinks: dict[int, str] = {}
    for k, out in enumerate(graph.outputs or []):
        sink = "output" if k == 0 else f"output{k + 1}"
        sinks[-1 - k] = sink
        shape = fmt(graph.nodes[out.node].shape)
        title = f"output {shape}" if len(graph.outputs) == 1 and not out.training_only else (
            f"output {out.name} {shape}" + (" (training)" if out.training_only else ""))
        boxes.append(Box(sink, _label(title), Family.IO, False, ()))
    edges: list[tuple[str, str, str]] = []
    seen: set[tuple[str, str]] = set()
    links = [(i, n.index) for n in graph.layers for i in n.inputs] + [
        (out.node, -1 - k) for k, out in enumerate(graph.outputs)]
    for src, dst in links:
        a, b = box_of[src], box_of.get(dst) or sinks[dst]
        if a != b and (a, b) not in seen:
            seen.add((a, b))
            edges.append((a, b, fmt(graph.nodes[src].shape)))
    return boxes, edges


def to_dot(graph: Graph, depth: int | None = None, direction: str = "TB") -> str:
    """The DOT source of the diagram."""
    boxes, edges = boxes_and_edges(graph, depth)
    root = Cluster(None)
    for box in boxes:
        where = root
        for path, frame in box.clusters:
            where = where.children.setdefault(path, Cluster(frame))
        where.boxes.append(box)
    lines = [
        f"digraph {_quote(graph.name)} {{",
        f'  graph [rankdir={direction}, fontname="Helvetica", fontsize=12, nodesep=0.3, ranksep=0.35, '
        f'label=<<b>{_esc(graph.name)}</b>>, labelloc=t];',
        '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=11, penwidth=1, '
        'color="#555555", margin="0.12,0.05"];',
        '  edge [fontname="Helvetica", fontsize=9, color="#555555", fontcolor="#333333", arrowsize=0.7];',
    ]
    counter = [0]
    _emit(root, lines, "  ", counter)
    lines += [f'  {a} -> {b} [label="{shape}"];' for a, b, shape in edges]
    lines.append("}")
    return "\n".join(lines) + "\n"


def _quote(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _emit(cluster: Cluster, lines: list[str], indent: str, counter: list[int]) -> None:
    for box in cluster.boxes:
        lines.append(f"{indent}{box.id} [{_attributes(box)}];")
    for path, child in cluster.children.items():
        counter[0] += 1
        frame = child.frame
        assert frame is not None
        title = path.rsplit(".", 1)[-1] + (f": {frame.text}" if frame.kind == FrameKind.BLOCK and frame.text else "")
        lines.append(f"{indent}subgraph cluster_{counter[0]} {{")
        lines.append(f'{indent}  label=<{_esc(title)}>; labeljust=l; style="rounded"; color="#999999"; '
                     f'fontsize=10;')
        _emit(child, lines, indent + "  ", counter)
        lines.append(f"{indent}}}")


def _attributes(box: Box) -> str:
    attrs = [f"label=<{box.label}>", f'fillcolor="{FILLS[box.family]}"']
    if box.family == Family.MERGE:
        attrs.append("shape=ellipse")
    elif box.family == Family.IO:
        attrs.append('shape=box, style="rounded,bold"')
    if box.frozen:
        attrs.append('style="rounded,filled,dashed", color="#1f4e79", penwidth=1.6')
    return ", ".join(attrs)


def has_dot() -> bool:
    return shutil.which("dot") is not None


class DotMissing(RuntimeError):
    """Graphviz's `dot` is not on the path."""


def render_image(dot_source: str, fmt_: str) -> bytes:
    """Run Graphviz's `dot`; raises :class:`DotMissing` if it is not installed."""
    import subprocess

    if not has_dot():
        raise DotMissing(INSTALL_HINT)
    result = subprocess.run(["dot", f"-T{fmt_}"], input=dot_source.encode(), capture_output=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(dot_failure(result.returncode, result.stderr.decode(errors="replace"), dot_source))
    return result.stdout


def dot_failure(status: int, stderr: str, dot_source: str) -> str:
    """Why `dot` gave no image. It can crash (or be killed for memory) on graphs of many thousands
    of nodes; then fewer nodes is the way out, and ``--depth`` folds each block into one."""
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    how = f"was killed by signal {-status}" if status < 0 else f"exited with status {status}"
    reason = f": {lines[-1]}" if lines else ""
    nodes = dot_source.count(" [label=<")  # a node's label is HTML, an edge's a string
    hint = (f"; the diagram has {nodes:,} nodes, which may be more than Graphviz can lay out: "
            "`--depth 1` (or 0) draws each block as one node, or write `-o file.dot` and no image")
    return f"Graphviz's `dot` {how}{reason}{hint if nodes >= 1000 or status < 0 else ''}"


_TAG = re.compile(r"<[^>]+>")


def _plain(label: str) -> str:
    """A box's HTML-like label as one line of text: ``conv 1x1 x64 · 28x28x64``."""
    import html

    return " · ".join(html.unescape(_TAG.sub("", part)) for part in label.split("<br/>"))


def to_text(graph: Graph, depth: int | None = None) -> str:
    """The diagram as text, for where no image can be shown: one numbered line per box in
    execution order, naming the boxes it reads from when that is not simply the line above."""
    boxes, edges = boxes_and_edges(graph, depth)
    number = {box.id: i for i, box in enumerate(boxes)}
    sources: dict[str, list[str]] = {}
    for a, b, _ in edges:
        sources.setdefault(b, []).append(a)
    lines = [f"{graph.name}: {len(boxes) - 2} boxes"]
    for i, box in enumerate(boxes):
        inputs = sources.get(box.id, [])
        frozen = " (frozen)" if box.frozen else ""
        reads = "" if [number[a] for a in inputs] in ([], [i - 1]) else (
            "  <- " + ", ".join(f"[{number[a]}]" for a in inputs))
        lines.append(f"[{i}] {_plain(box.label)}{frozen}{reads}")
    return "\n".join(lines) + "\n"


class Diagram:
    """A network's diagram: its DOT source, an SVG where Graphviz is installed (which Jupyter
    shows inline), a text outline everywhere else, and :meth:`save` to a file."""

    def __init__(self, graph: Graph, depth: int | None = None, direction: str = "TB"):
        self.source = to_dot(graph, depth, direction)
        self.text = to_text(graph, depth)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the diagram to ``path``: ``.dot`` as DOT source, ``.svg``, ``.png`` or ``.pdf``
        through Graphviz (:class:`DotMissing` when it is not installed)."""
        from ..core.atomic import write_atomically

        ext = os.path.splitext(os.fspath(path))[1].lower().lstrip(".")
        if ext not in FORMATS:
            raise ValueError(f"cannot tell the format of `{os.fspath(path)}`: use .svg, .png, .pdf or .dot")
        write_atomically(os.fspath(path), self.source if ext == "dot" else render_image(self.source, ext))

    def _repr_svg_(self) -> str | None:
        """Jupyter's image; ``None`` without Graphviz, so that Jupyter shows the text instead."""
        if not has_dot():
            return None
        return render_image(self.source, "svg").decode()

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return self.text

