"""The one module through which the editor tooling reaches archlang's internals.

It offers what a language server and a formatter need, as plain data: a document analysed even
when it has errors (diagnostics with spans, every analysed layer, merge and block instance with
its span, shape, parameters and multiplies), the definitions written in it (blocks, bindings,
constants, parameters, ``use`` files), the op catalogue for completion, and the syntax tree with
spans stripped (the formatter's safety check). Nothing here imports torch.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from ..core.errors import ArchError, Diagnostic, DiagnosticSink, Span, render
from ..core.ir import FrameKind, Graph
from ..core.opdef import MergeDef
from ..core.shapes import fmt
from ..lang import syntax as s
from ..lang.parser import parse
from ..ops import ALIASES, REGISTRY, lookup
from ..sema.chains import COMBINATORS
from ..sema.elaborate import Elaborator
from ..sema.numbers import FUNCTIONS
from ..sema.scope import Env, Fatal, Known, Tensor

__all__ = ["ArchError", "Analysis", "Output", "KeywordArg", "Definition", "Diagnostic", "Layer", "OpInfo", "Span", "analyse", "catalogue",
           "fmt", "render", "syntax_tree", "KEYWORDS", "COMBINATOR_NAMES", "FUNCTION_NAMES"]

Shape = tuple[int, ...]
KEYWORDS = ("network", "input", "use", "block", "if", "then", "else", "and", "or", "not", "in", "output", "variant",
            "assert", "when", "training", "as")
COMBINATOR_NAMES: tuple[str, ...] = tuple(COMBINATORS)
FUNCTION_NAMES: tuple[str, ...] = tuple(sorted(FUNCTIONS))


@dataclass(frozen=True)
class Layer:
    """One analysed element at a place in the source: a layer, a merge or a block instance."""

    name: str  # dotted, as in `archlang check`
    text: str  # the op (or the call) as resolved
    kind: str  # "layer", "merge" or "block"
    span: Span
    shape: Shape
    params: int
    mults: int
    trainable: bool = True


@dataclass(frozen=True)
class Definition:
    """A name the document defines: ``kind`` is block, binding, constant, parameter, network,
    variant or label."""

    name: str
    kind: str
    span: Span  # of the name
    whole: Span  # of the whole definition
    scope: Span | None = None  # the block that holds it; None at the top level
    detail: str = ""
    params: tuple[str, ...] = ()  # a block's parameters


@dataclass(frozen=True)
class Output:
    """One entry of an ``output`` statement, analysed: its name (the key, or the tensor's name)."""

    name: str
    tensor: str
    span: Span
    shape: Shape
    training_only: bool


@dataclass
class Analysis:
    """A document as the tools see it."""

    file: str
    text: str
    module: s.Module | None
    diagnostics: list[Diagnostic]
    sources: dict[str, str] = field(default_factory=dict)
    layers: list[Layer] = field(default_factory=list)
    definitions: list[Definition] = field(default_factory=list)
    uses: list[tuple[Span, Path]] = field(default_factory=list)
    output: Shape | None = None
    outputs: list["Output"] = field(default_factory=list)
    input_span: Span | None = None  # the `input` statement: where `like=input` and `input.h` point
    params: int = 0
    mults: int = 0

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.is_error]


class _Recorder(Elaborator):
    """The elaborator, noting where each block instance was called and what each binding gave."""

    def __init__(self, sink: DiagnosticSink, sources: dict[str, str]):
        super().__init__(sink, sources, {})
        self.instances: list[tuple[Span, int, str]] = []  # call span, result node, instance path
        self.bound: dict[Span, list[Shape]] = {}

    def call_block(self, found: Any, args: Any, span: Span, name_span: Span, env: Env,
                   cur: Tensor | None) -> Known:
        result = super().call_block(found, args, span, name_span, env, cur)
        self.instances.append((span, result.node, self.graph.blocks[-1].path))
        return result

    def binding(self, st: s.Assign, env: Env) -> Tensor:
        result = super().binding(st, env)
        if isinstance(result, Known):
            self.bound.setdefault(st.name_span, []).append(result.shape)
        return result


def analyse(text: str, file: str) -> Analysis:
    """Parse and analyse ``text`` (the file ``file``); errors are returned, not raised, with
    everything that could be analysed before and around them."""
    sources = {file: text}
    try:
        module = parse(text, file)
    except ArchError as exc:
        return Analysis(file, text, None, list(exc.diagnostics), dict(exc.sources) or sources)
    sink = DiagnosticSink()
    elaborator = _Recorder(sink, sources)
    graph = elaborator.graph
    try:
        graph = elaborator.run(module)
    except Fatal:
        pass
    except RecursionError:
        sink.error("the spec nests blocks or expressions too deeply to analyse", None)
    diagnostics = list(dict.fromkeys(sink.items))  # as the command line reports them
    found = Analysis(file, text, module, diagnostics, dict(elaborator.sources))
    found.layers = _layers(graph, elaborator.instances)
    found.definitions = list(_definitions(module, elaborator.bound, text))
    found.input_span = next((st.span for st in module.statements if isinstance(st, s.Input)), None)
    found.uses = [(st.span, (Path(file).resolve().parent / st.path).resolve())
                  for st in module.statements if isinstance(st, s.Use)]
    if graph.nodes and not found.errors:
        found.output = graph.nodes[graph.output].shape
        found.outputs = list(_outputs(module, graph))
        found.params = sum(n.params for n in graph.layers)
        found.mults = sum(n.mults for n in graph.layers)
    return found


def _outputs(module: s.Module, graph: Graph) -> Iterator[Output]:
    """The ``output`` statements' entries with the shapes the graph gives them."""
    shapes = {(o.name, o.training_only): graph.nodes[o.node].shape for o in graph.outputs}
    for st in module.statements:
        if isinstance(st, s.Output):
            for item in st.items:
                name = item.key or item.tensor
                shape = shapes.get((name, st.training))
                if shape is not None:
                    yield Output(name, item.tensor, item.span, shape, st.training)


def _layers(graph: Graph, instances: list[tuple[Span, int, str]]) -> list[Layer]:
    out: list[Layer] = []
    totals: dict[str, list[int]] = {}
    for node in graph.layers:
        if node.shape is None or node.span is None:
            continue
        kind = "merge" if isinstance(node.definition, MergeDef) else "layer"
        out.append(Layer(node.name, node.text or node.op, kind, node.span, node.shape, node.params, node.mults,
                         node.trainable))
        path: list[str] = []
        for frame in node.frames:
            path.append(frame.name)
            if frame.kind == FrameKind.BLOCK:
                sums = totals.setdefault(".".join(path), [0, 0])
                sums[0] += node.params
                sums[1] += node.mults
    for span, index, path in instances:
        shape = graph.nodes[index].shape
        if shape is not None:
            params, mults = totals.get(path, [0, 0])
            out.append(Layer(path, _text(graph, span), "block", span, shape, params, mults))
    return out


def _text(graph: Graph, span: Span) -> str:
    lines = graph.sources.get(span.file, "").splitlines()[span.line - 1:span.end_line]
    if not lines:
        return ""
    if len(lines) == 1:
        return lines[0][span.col - 1:span.end_col - 1]
    return " ".join([lines[0][span.col - 1:].strip(), *(x.strip() for x in lines[1:-1]),
                     lines[-1][:span.end_col - 1].strip()])


def _name_span(span: Span, name: str, skip: int = 0) -> Span:
    """The span of a name written at the start of ``span`` (after ``skip`` characters)."""
    col = span.col + skip
    return Span(span.file, span.line, col, span.line, col + len(name))


def _definitions(module: s.Module, bound: dict[Span, list[Shape]], text: str) -> Iterator[Definition]:
    numbers: set[str] = set()
    for st in module.statements:
        if isinstance(st, s.Header):
            yield Definition(st.name, "network", _name_span(st.span, st.name, len("network ")), st.span)
            for p in st.params:
                numbers.add(p.name)
                yield Definition(p.name, "parameter", _name_span(p.span, p.name), p.span,
                                 detail=f"network parameter {p.name}")
    for st in module.statements:
        if isinstance(st, s.Variant):
            values = ", ".join(f"{p.name} = {_value(text, p.span)}" for p in st.params)
            yield Definition(st.name, "variant", st.name_span, st.span, detail=f"variant {st.name}({values})")
        if isinstance(st, s.BlockDef):
            yield from _labels(st.body, st.span)
        elif isinstance(st, (s.Assign, s.ChainStmt)):
            yield from _labels((st,), None)
        if isinstance(st, s.BlockDef):
            signature = ", ".join(p.name for p in st.params)
            yield Definition(st.name, "block", st.name_span, st.span, detail=f"block {st.name}({signature})",
                             params=tuple(p.name for p in st.params))
            local = numbers | {p.name for p in st.params}
            for p in st.params:
                yield Definition(p.name, "parameter", _name_span(p.span, p.name), p.span, st.span,
                                 detail=f"parameter of block {st.name}")
            for inner in st.body:
                if isinstance(inner, s.Assign):
                    yield _assignment(inner, local, bound, st.span)
        elif isinstance(st, s.Assign):
            yield _assignment(st, numbers, bound, None)


def _labels(statements: Any, scope: Span | None) -> Iterator[Definition]:
    """The labels written in ``statements`` (``cv1: cbs(c)``): each names a module or instance."""
    for node in _walk(statements):
        if isinstance(node, s.Label):
            yield Definition(node.name, "label", node.name_span, node.span, scope, detail=f"label {node.name}")


def _value(text: str, span: Span) -> str:
    """What a parameter written ``name = value`` on one line sets, as written."""
    lines = text.splitlines()
    if span.line != span.end_line or not 1 <= span.line <= len(lines):
        return "…"
    return lines[span.line - 1][span.col - 1:span.end_col - 1].split("=", 1)[-1].strip()


def _assignment(st: s.Assign, numbers: set[str], bound: dict[Span, list[Shape]], scope: Span | None) -> Definition:
    if st.name_span not in bound and _numeric(st.value, numbers):
        numbers.add(st.name)
        return Definition(st.name, "constant", st.name_span, st.span, scope, detail="constant")
    shapes = list(dict.fromkeys(bound.get(st.name_span, [])))
    detail = " | ".join(fmt(x) for x in shapes) if shapes else "tensor"
    return Definition(st.name, "binding", st.name_span, st.span, scope, detail=detail)


def _numeric(e: Any, numbers: set[str]) -> bool:
    """Whether an expression gives a number (the analysis's own test, on syntax alone)."""
    if isinstance(e, (s.Number, s.InDim)):
        return True
    if isinstance(e, s.Layer):
        return not e.args and e.name in numbers
    if isinstance(e, s.Call):
        return e.name in FUNCTIONS
    if isinstance(e, s.Paren):
        return _numeric(e.inner, numbers)
    if isinstance(e, s.UnaryOp):
        return e.op == "not" or _numeric(e.operand, numbers)
    if isinstance(e, s.IfElse):
        return _numeric(e.then, numbers)
    if isinstance(e, s.BinOp):
        return e.op not in ("+", "-", "*", "/", "//", "%") or (
            _numeric(e.left, numbers) and _numeric(e.right, numbers))
    return False


# --- the op catalogue ------------------------------------------------------------------------


@dataclass(frozen=True)
class OpInfo:
    """What completion and hover say about an op."""

    name: str
    doc: str
    family: str
    positional: tuple[str, ...]
    flags: tuple[tuple[str, str], ...]  # (letter, what it sets), in the order LANGUAGE.md writes them
    words: tuple[str, ...]
    keywords: tuple[str, ...]
    aliases: tuple[str, ...] = ()

    @property
    def usage(self) -> str:
        parts = [self.name, *self.positional, *(f"{k}N" for k, _ in self.flags), *self.words,
                 *(f"{k}=" for k in self.keywords)]
        return " ".join(parts)


_WORD_ORDER = ("same", "valid", "ceil", "nobias")


def catalogue() -> list[OpInfo]:
    """Every op, aliases listed with the op they name."""
    return [_info(op) for _, op in sorted(REGISTRY.items())]


def op_info(name: str) -> OpInfo | None:
    op = lookup(name)
    return _info(op) if op is not None else None


def _info(op: Any) -> OpInfo:
    sig = op.signature
    return OpInfo(op.name, op.doc, op.family, tuple(a.attr for a in sig.positional),
                  tuple((k, a.attr) for k, a in sig.flags.items()),
                  tuple(w for w in _WORD_ORDER if w in sig.words) + tuple(sorted(set(sig.words) - set(_WORD_ORDER))),
                  tuple(sig.keywords), tuple(a for a, target in ALIASES.items() if target == op.name))


# --- the syntax tree, for the formatter ---------------------------------------------------------


def parse_module(text: str, file: str) -> s.Module:
    """The syntax tree of ``text``; raises :class:`ArchError` on a syntax error."""
    return parse(text, file)


KeywordArg = s.KeywordArg


def layers_in(module: s.Module) -> Iterator[s.Layer]:
    """Every layer written in the module, outer ones before the layers in their arguments."""
    yield from (n for n in _walk(module) if isinstance(n, s.Layer))


def _walk(node: Any) -> Iterator[Any]:
    if dataclasses.is_dataclass(node):
        yield node
        for f in dataclasses.fields(node):
            yield from _walk(getattr(node, f.name))
    elif isinstance(node, tuple):
        for item in node:
            yield from _walk(item)


_POSITION_FIELDS = {"span", "name_span", "file"}


def syntax_tree(module: s.Module, order: Callable[[s.Layer], list[Any]] | None = None) -> Any:
    """The tree as nested tuples without positions; ``order`` (given a layer) lists its
    arguments in the order to compare them in."""
    def plain(node: Any) -> Any:
        if dataclasses.is_dataclass(node):
            items = []
            for f in dataclasses.fields(node):
                if f.name in _POSITION_FIELDS:
                    continue
                value = getattr(node, f.name)
                if f.name == "args" and isinstance(node, s.Layer) and order is not None:
                    value = tuple(order(node))
                items.append((f.name, plain(value)))
            return (type(node).__name__, tuple(items))
        if isinstance(node, tuple):
            return tuple(plain(item) for item in node)
        return node

    return plain(module.statements)


def arg_group(arg: Any, words: frozenset[str] | None) -> tuple[int, int]:
    """Where an argument goes in the canonical layout: positional sizes and named numbers, then
    the `s p x g d` flags, the words, the keywords; ``words`` are the op's words (None when the
    layer is not an op: then nothing moves)."""
    if words is None:
        return (0, 0)
    if isinstance(arg, s.SizeArg):
        return (0, 0)
    if isinstance(arg, s.FlagArg):
        return (1, "spxgd".index(arg.letter) if arg.letter in "spxgd" else 5)
    if isinstance(arg, s.WordArg):
        if arg.word in words:
            return (2, _WORD_ORDER.index(arg.word) if arg.word in _WORD_ORDER else 9)
        return (0, 0)  # a constant's name stands for a positional number
    return (3, 0)


def op_words(name: str) -> frozenset[str] | None:
    """The words an op takes, or None when ``name`` is not an op."""
    op = lookup(name)
    return None if op is None else frozenset(op.signature.words)

