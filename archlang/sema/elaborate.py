"""Syntax to graph: files, `use`, header parameters and statements. Chains, blocks and
combinators are :mod:`archlang.chains`'s; independent mistakes are all reported."""

from __future__ import annotations

import os
from ..core.records import replace
from pathlib import Path

from ..lang import syntax as s
from .asserts import check_asserts
from .chains import COMBINATORS, ChainBuilder
from ..core.errors import ArchError, DiagnosticSink, Span
from ..core.ir import Frame, FrameKind, Graph, GraphOutput, Node, Runs
from ..core.opdef import INPUT
from .numbers import FUNCTIONS
from ..ops import lookup
from ..core.reading import SpecReadError, read_spec_file
from ..lang.parser import parse
from .scope import UNKNOWN, Env, Known, Poison, Tensor, suggest


class Elaborator(ChainBuilder):
    def __init__(self, sink: DiagnosticSink, sources: dict[str, str], overrides: dict[str, float],
                 input_shape: tuple[int, ...] | None = None, files: dict[str, str] | None = None,
                 origin: str | None = None, variant: str | None = None):
        super().__init__(sink, sources)
        # A saved model is re-analysed from the files stored in it, never from the disk
        self.files = files
        self.origin = origin
        self.locations: dict[str, Path] = {}  # file name as shown -> where it lies
        self.overrides = dict(overrides)
        self.variant = variant  # the `variant` whose values replace the header's defaults
        self.input_shape = input_shape  # `--input` replaces the spec's own
        self.loading: list[Path] = []  # the `use` stack, for cycles
        self.libraries: dict[Path, Env] = {}
        self.declared: list[GraphOutput] = []  # from `output` statements, in the order written
        self.output_spans: dict[str, s.OutputItem] = {}  # output name -> where it was declared
        self.bindings: list[tuple[s.Assign, Tensor]] = []  # top-level tensor bindings
        self.last_statement: s.Statement | None = None  # the last tensor statement run
        self.asserts: list[s.Assert] = []

    def run(self, module: s.Module) -> Graph:
        g = self.graph
        g.file = module.file
        g.name = "network" if module.file.startswith("<") else Path(module.file).stem
        env = Env(module.file)
        root = Path(self.origin) if self.origin else _resolved(module.file)
        self.locations[module.file] = root
        g.origin = str(root)
        self.loading.append(root)
        self.declare(module, env)
        self.header(module, env)
        result = self.statements(module.statements, env, top=True)
        if not g.nodes and not self.sink.has_errors:
            self.sink.error("the spec has no `input`", Span(module.file, 1, 1, 1, 2),
                            "add a line such as `input 32x32x3` (or `input 784` for a vector)")
        elif len(g.nodes) == 1 and not self.sink.has_errors:
            self.sink.error("the network has no layers", g.nodes[0].span,
                            "write a chain after `input`, e.g. `conv 3x3 x16 -> relu`")
        elif result is None and not self.sink.has_errors:
            self.sink.error("the spec has no layers", Span(module.file, 1, 1, 1, 2),
                            "write a chain after `input`, e.g. `conv 3x3 x16 -> relu`")
        elif self.declared:
            g.outputs = [o for o in self.declared if not o.training_only] + [
                o for o in self.declared if o.training_only]
        elif isinstance(result, Known):
            g.outputs = [GraphOutput(result.node, "output")]
        if g.outputs:
            mark_runs(g)
            if not self.sink.has_errors:  # a layer that failed may have been the one to use a binding
                self.warn_unused_bindings()
                check_asserts(self, self.asserts, env)
        return g

    def warn_unused_bindings(self) -> None:
        """A binding that feeds no output (and is not the last statement) is built but never run."""
        for st, tensor in self.bindings:
            if st is self.last_statement or not isinstance(tensor, Known) or tensor.node == 0:
                continue
            if self.graph.nodes[tensor.node].runs == Runs.NEVER:
                self.sink.warning(f"`{st.name}` feeds no output", st.name_span,
                                  "its layers are built and their parameters counted, but it does not run in "
                                  "`forward` and its multiplies are not counted; use it, list it in `output`, "
                                  "or delete it")

    def declare(self, module: s.Module, env: Env) -> None:
        """Blocks (and the files they come from) are visible in the whole file."""
        for st in module.statements:
            if isinstance(st, s.Use):
                self.use(st, env)
            elif isinstance(st, s.BlockDef):
                if st.name in env.blocks:
                    self.sink.error(f"block `{st.name}` is defined twice", st.name_span,
                                    f"the first definition is at line {env.blocks[st.name][0].span.line}")
                elif lookup(st.name) or st.name in COMBINATORS or st.name in FUNCTIONS:
                    self.sink.error(f"`{st.name}` is a built-in name and cannot name a block", st.name_span)
                else:
                    env.blocks[st.name] = (st, env)

    def header(self, module: s.Module, env: Env, main: bool = True) -> None:
        """Header parameters become constants: the `-D` overrides for the main file, their
        defaults for a file brought in with `use`."""
        headers = [st for st in module.statements if isinstance(st, s.Header)]
        for extra in headers[1:]:
            self.sink.error("a second `network` header", extra.span, "a file has at most one header")
        params = headers[0].params if headers else ()
        overrides = self.overrides if main else {}
        if headers and main:
            self.graph.name = headers[0].name
        if main:
            self.check_overrides({p.name for p in params})
            overrides = {**self.variant_values(module, params, env), **overrides}  # `-D` wins
        for p in params:
            try:
                if p.name in overrides:
                    env.consts[p.name] = self.numbers.bounded(overrides[p.name], p.span)
                elif p.default is None:
                    raise self.numbers.fail(f"parameter `{p.name}` has no default", p.span,
                                            f"give it on the command line: `-D {p.name}=...`")
                else:
                    env.consts[p.name] = self.numbers.eval(p.default, env)
                if main:
                    self.graph.params[p.name] = env.consts[p.name]
            except Poison:
                env.poisoned.add(p.name)

    def variant_values(self, module: s.Module, params: tuple[s.Param, ...], env: Env) -> dict[str, float]:
        """The checked `variant` statements; the values of the one chosen (``-V``)."""
        declared = {p.name for p in params}
        variants: dict[str, s.Variant] = {}
        for st in module.statements:
            if not isinstance(st, s.Variant):
                continue
            if st.name in variants:
                self.sink.error(f"variant `{st.name}` is defined twice", st.name_span,
                                f"the first definition is at line {variants[st.name].span.line}")
                continue
            variants[st.name] = st
            for p in st.params:
                if p.name not in declared:
                    self.sink.error(f"variant `{st.name}` sets `{p.name}`, which is not a header parameter",
                                    p.span, suggest(p.name, declared) or "declare it in the `network` header")
                elif p.default is None:
                    self.sink.error(f"variant `{st.name}` gives `{p.name}` no value", p.span,
                                    f"write `{p.name} = value`")
        self.graph.variants = list(variants)
        if self.variant is None:
            return {}
        chosen = variants.get(self.variant)
        if chosen is None:
            known = ", ".join(f"`{v}`" for v in variants) if variants else "none: the spec has no `variant`"
            self.sink.error(f"unknown variant `{self.variant}`", None, f"the variants are {known}", code="usage")
            return {}
        self.graph.variant = self.variant
        values: dict[str, float] = {}
        for p in chosen.params:
            if p.name in declared and p.default is not None:
                try:
                    values[p.name] = self.numbers.eval(p.default, env)
                except Poison:
                    pass
        return values

    def check_overrides(self, declared: set[str]) -> None:
        for name in self.overrides:
            if name not in declared:
                hint = suggest(name, declared) or (
                    f"its parameters are {', '.join(sorted(declared))}" if declared else
                    "declare it in the header: `network name(param = default)`")
                self.sink.error(f"`-D {name}`: the spec has no parameter `{name}`", None, hint, code="usage")

    def use(self, st: s.Use, env: Env) -> None:
        try:
            path = self.locate(st)
        except (OSError, RuntimeError, ValueError) as exc:  # a symlink loop, a NUL byte
            reason = "the path contains a NUL byte" if "\0" in st.path else (
                "a symbolic link loop" if isinstance(exc, RuntimeError) else str(exc).lower())
            self.sink.error(f"cannot read `{st.path}`: {reason}", st.span)
            return
        if path in self.loading:
            chain = " -> ".join(p.name for p in self.loading[self.loading.index(path):] + [path])
            self.sink.error(f"`use` makes a cycle: {chain}", st.span, "move the shared blocks into a third file")
            return
        library = self.libraries.get(path) or self.load_library(path, st)
        if library is None:
            return
        for name, entry in library.blocks.items():
            env.blocks.setdefault(name, entry)
        for name, value in library.consts.items():
            env.consts.setdefault(name, value)

    def locate(self, st: s.Use) -> Path:
        """The file a `use` names, relative to the file it is written in."""
        here = self.locations.get(st.span.file) or _resolved(st.span.file)
        if self.files is not None:  # stored files: no disk, so no symlinks to follow
            return Path(os.path.normpath(here.parent / st.path))
        return (here.parent / st.path).resolve()

    def load_library(self, path: Path, st: s.Use) -> Env | None:
        try:
            text = read_spec_file(path) if self.files is None else self.files[str(path)]
        except SpecReadError as exc:
            self.sink.error(f"cannot read `{st.path}`: {exc.reason}", st.span, exc.help)
            return None
        except KeyError:
            self.sink.error(f"`{st.path}` is not among the files stored with the model", st.span)
            return None
        name = _display(path)
        self.locations[name] = path
        self.graph.files[str(path)] = text
        self.sources[name] = text
        try:
            module = parse(text, name)
        except ArchError as exc:  # only the first: the file may be anything, and is echoed line by line
            first = exc.diagnostics[0]
            more = len(exc.diagnostics) - 1
            self.sink.items.append(replace(first, notes=first.notes + (
                f"{more} more error{'s' if more > 1 else ''} in `{st.path}` not shown",) if more else first.notes))
            return None
        library = Env(name)
        self.loading.append(path)
        self.declare(module, library)
        self.loading.pop()
        self.header(module, library, main=False)
        for stmt in module.statements:
            if isinstance(stmt, s.Assign) and self.kind(stmt.value, library) == "number":
                self.assign_number(stmt, library)
        self.libraries[path] = library
        return library

    def statements(self, stmts: tuple[s.Statement, ...], env: Env, top: bool) -> Tensor | None:
        result: Tensor | None = None
        for st in stmts:
            if isinstance(st, s.Input) and top:
                result = env.current = self.input(st, env)
            elif isinstance(st, s.Assign):
                if self.kind(st.value, env) == "number":
                    self.assign_number(st, env)
                else:
                    result = env.current = env.tensors[st.name] = self.binding(st, env)
                    if top:
                        self.bindings.append((st, result))
                        self.last_statement = st
            elif isinstance(st, s.ChainStmt):
                result = env.current = self.chain_statement(st.chain, env)
                if top:
                    self.last_statement = st
            elif isinstance(st, s.Output) and top:
                self.output(st, env)
            elif isinstance(st, s.Assert) and top:
                self.asserts.append(st)
            elif isinstance(st, s.Variant) and top:
                continue  # read with the header
            elif not top:
                what = {s.Input: "`input`", s.Header: "a `network` header", s.Use: "`use`",
                        s.BlockDef: "a block definition", s.Output: "`output`", s.Variant: "a `variant`",
                        s.Assert: "`assert`"}[type(st)]
                self.sink.error(f"{what} cannot appear inside a block", st.span,
                                "move it to the top level of the file")
        return result

    def output(self, st: s.Output, env: Env) -> None:
        """``output a, b`` / ``output key = a`` [``when training``]: the network's results."""
        for item in st.items:
            keyed = item.key is not None
            if self.declared and self.declared[0].keyed != keyed:
                self.sink.error("outputs are either all named (`key = NAME`) or none is", item.span,
                                "a network returns a tuple or a dict, not both")
                continue
            name = item.key or item.tensor
            if name in self.output_spans:
                first = self.output_spans[name].span.line
                self.sink.error(f"output `{name}` is declared twice", item.span,
                                f"the first is at line {first}" + ("" if keyed else "; name them: `key = NAME`"))
                continue
            tensor = env.tensor(item.tensor)
            if tensor is None:
                if not env.is_poisoned(item.tensor):
                    hint = suggest(item.tensor, [n for n in env.tensors])
                    self.sink.error(f"`{item.tensor}` is not a tensor", item.span,
                                    hint or "an output names a tensor bound earlier: `name = chain`")
                continue
            self.output_spans[name] = item
            if isinstance(tensor, Known):
                self.declared.append(GraphOutput(tensor.node, name, st.training, keyed))

    def assign_number(self, st: s.Assign, env: Env) -> None:
        try:
            env.consts[st.name] = self.numbers.eval(st.value, env)
        except Poison:
            env.poisoned.add(st.name)

    def input(self, st: s.Input, env: Env) -> Tensor:
        if self.graph.nodes:
            self.sink.error("a second `input`", st.span, "a network has one input tensor")
            return UNKNOWN
        try:
            dims = self.input_shape or tuple(self.numbers.whole(d, env, "input size") for d in st.dims)
        except Poison:
            return UNKNOWN
        if len(dims) not in (1, 3):
            self.sink.error(f"`input` is HxWxC or N, but has {len(dims)} sizes", st.span,
                            "write e.g. `input 224x224x3`; a grey image is `28x28x1`")
            return UNKNOWN
        if _looks_channel_first(dims):
            h, w, c = dims
            self.sink.warning(f"`input {h}x{w}x{c}` looks channel-first, but archlang reads HxWxC "
                              "(channels last)", st.span, f"for {h} channels of {w}x{c}, write `input {w}x{c}x{h}`")
        node = Node(0, INPUT, (), {}, "input", (), self.text(st.span), st.span, shape=dims)
        self.graph.nodes.append(node)
        env.tensors["input"] = Known(0, dims)  # a chain may start from `input` like from any name
        return env.tensors["input"]

    def chain_statement(self, chain: s.Expr, env: Env) -> Tensor:
        try:
            return self.chain(chain, env, env.current)
        except Poison:
            return UNKNOWN

    def binding(self, st: s.Assign, env: Env) -> Tensor:
        before = len(self.graph.nodes)
        self.scopes.push(Frame(self.scopes.frame_name(st.name), FrameKind.BINDING))
        result: Tensor
        try:
            result = self.chain(st.value, env, env.current)
        except Poison:
            env.poisoned.add(st.name)
            result = UNKNOWN
        finally:
            frame = self.scopes.pop()
        made = self.graph.nodes[before:]
        if len(made) == 1:  # a one-layer binding names its module directly
            made[0].name = self.scopes.rename(made[0].name, self.scopes.path(frame.name))
        return result


def _looks_channel_first(dims: tuple[int, ...]) -> bool:
    """`3x224x224`: a first size that looks like a few channels, the last like a spatial size."""
    return len(dims) == 3 and dims[0] <= 4 and dims[1] >= 8 and dims[2] >= 8


def mark_runs(graph: Graph) -> None:
    """Each node's :class:`Runs`: whether it feeds an output of both modes, only training-only
    outputs, or none at all."""
    eval_live = _feeding(graph, [o.node for o in graph.outputs if not o.training_only])
    train_live = _feeding(graph, [o.node for o in graph.outputs])
    for node in graph.nodes:
        node.runs = Runs.ALWAYS if node.index in eval_live else (
            Runs.TRAINING if node.index in train_live else Runs.NEVER)
    graph.input.runs = Runs.ALWAYS


def _feeding(graph: Graph, sinks: list[int]) -> set[int]:
    live, stack = set(sinks), list(sinks)
    while stack:
        for i in graph.nodes[stack.pop()].inputs:
            if i not in live:
                live.add(i)
                stack.append(i)
    return live


def _display(path: Path) -> str:
    """A path as a user would write it: relative to the working folder when inside it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _resolved(file: str) -> Path:
    return Path(file).resolve()
