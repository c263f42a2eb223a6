"""Chains: layers, repetition, `if`, combinators and block calls, each node analysed as it is
made (a block's body may depend on the shape flowing into it). Statements and files are
:mod:`archlang.elaborate`'s."""

from __future__ import annotations

from ..core.records import replace
from typing import Any, Callable

from ..lang import syntax as s
from .analysis import analyse_merge, analyse_op
from ..core.opdef import Definition, MergeDef
from .bind import Binder
from ..core.limits import MAX_LAYERS, MAX_STEPS
from ..core.errors import DiagnosticSink, Span
from ..core.ir import BlockInstance, Frame, FrameKind, Graph, Node
from .naming import Scopes, SourceText
from .numbers import FUNCTIONS, NumberEvaluator
from ..ops import MERGES, OpDef, describe, known_names, lookup, lookup_merge
from .scope import Env, Fatal, Known, Poison, Tensor, suggest
from ..core.shapes import ShapeError, fmt

NODE_LIMIT = MAX_LAYERS
SUGAR = {"residual": "add"}  # `residual(f)` is `add(identity, f)`
COMBINATORS = (*MERGES, *SUGAR, "freeze")
_CHAIN_FORMS: dict[type, str] = {  # syntax node -> the method that runs it as a chain
    s.Layer: "layer", s.Call: "call", s.Paren: "paren", s.IfElse: "if_chain", s.BinOp: "repeat",
    s.RepeatAs: "repeat_as", s.Label: "label",
}


class ChainBuilder:
    """Builds graph nodes from chains. Subclasses supply :meth:`statements` (block bodies)."""

    def __init__(self, sink: DiagnosticSink, sources: dict[str, str]):
        self.sink, self.sources = sink, sources
        self.numbers = NumberEvaluator(sink)
        self.binder = Binder(self.numbers)
        self.graph = Graph(name="", file="", params={}, sources=sources)
        self.scopes = Scopes()
        self.text = SourceText(sources)
        self.trainable = True
        self.calls: list[str] = []  # the block call stack, for recursion
        self.steps = 0  # chain items run, layers or not: bounds loops that make no layer
        self.innermost_call: Span | None = None  # where a too-deep nesting of calls is reported
        self.pending_label: str | None = None  # `LABEL:` before a layer or a block call, for its name
        self.index_copies = False  # `LABEL: (chain) * N`: the copies are named 0 .. N-1, as nn.Sequential's
        self.labels: dict[str, dict[str, Span]] = {}  # scope path -> label -> where it was written
        # the attributes of each layer written with literal arguments only, by op and text: no
        # scope changes them, so every copy binds to the same
        self.bound: dict[tuple[str, str], dict[str, Any]] = {}
        # each layer syntax node seen: its text when written with literal numbers only, else None
        self.literals: dict[int, tuple[s.Layer, str | None]] = {}

    def statements(self, stmts: tuple[s.Statement, ...], env: Env, top: bool) -> Tensor | None:
        raise NotImplementedError

    def kind(self, e: s.Expr, env: Env) -> str:
        """'number' or 'tensor', decided without evaluating anything."""
        if isinstance(e, (s.Number, s.InDim, s.TensorDim)):
            return "number"
        if isinstance(e, (s.RepeatAs, s.Label)):
            return "tensor"
        if isinstance(e, s.Layer):
            return "number" if not e.args and e.name not in env.tensors and (
                env.const(e.name) is not None or env.is_poisoned(e.name)) else "tensor"
        if isinstance(e, s.Call):
            return "number" if e.name in FUNCTIONS and not env.block(e.name) else "tensor"
        if isinstance(e, s.Paren):
            return self.kind(e.inner, env)
        if isinstance(e, s.UnaryOp):
            return "number" if e.op == "not" else self.kind(e.operand, env)
        if isinstance(e, s.IfElse):
            return self.kind(e.then, env)
        if isinstance(e, s.BinOp) and e.op in ("+", "-", "*", "/", "//", "%"):
            return "tensor" if "tensor" in (self.kind(e.left, env), self.kind(e.right, env)) else "number"
        return "tensor" if isinstance(e, s.Seq) else "number"

    def chain(self, e: s.Expr, env: Env, cur: Tensor | None) -> Known:
        """Run chain ``e`` on ``cur``; raises :class:`Poison` where nothing can follow."""
        self.tick(e.span)
        if isinstance(e, s.Seq):
            for i, item in enumerate(e.items):
                if i and isinstance(item, s.Layer) and not item.args and item.name in env.tensors:
                    raise self.numbers.fail(f"tensor `{item.name}` can only start a chain", item.span,
                                            f"start a new statement with `{item.name} -> ...`")
                cur = self.chain(item, env, cur)
            return self.need(cur, e.span)
        method = _CHAIN_FORMS.get(type(e))
        if method is None:
            raise self.numbers.fail("expected a layer, but this is a number", e.span,
                                    "numbers go in arguments: `fc 10`, `x(c * 2)`")
        handler: Callable[[s.Expr, Env, Tensor | None], Known] = getattr(self, method)
        return handler(e, env, cur)

    def tick(self, span: Span, weight: int = 1) -> None:
        """Count elaboration steps; past :data:`MAX_STEPS` the analysis stops with an error."""
        self.steps += weight
        if self.steps > MAX_STEPS:
            self.sink.error(f"the spec takes more than {MAX_STEPS:,} elaboration steps to unroll", span,
                            "a repetition or nested block calls multiply the work; use smaller counts")
            raise Fatal()

    def paren(self, e: s.Paren, env: Env, cur: Tensor | None) -> Known:
        return self.chain(e.inner, env, cur)

    def need(self, cur: Tensor | None, span: Span) -> Known:
        if cur is None:
            raise self.numbers.fail("this layer has no input: there is no `input` before it", span,
                                    "add a line such as `input 32x32x3` above it")
        if not isinstance(cur, Known):
            raise Poison()
        return cur

    def layer(self, e: s.Layer, env: Env, cur: Tensor | None) -> Known:
        if not e.args:
            if e.name in env.tensors:
                named = env.tensors[e.name]
                if not isinstance(named, Known):
                    raise Poison()
                return named
            if env.const(e.name) is not None and lookup(e.name) is None:
                raise self.numbers.fail(f"`{e.name}` is a number, not a layer", e.span)
            if env.is_poisoned(e.name):
                raise Poison()
            found = env.block(e.name)
            if found:
                return self.call_block(found, (), e.span, e.span, env, cur)
            if e.name == "identity":
                return self.need(cur, e.span)
        op = lookup(e.name)
        if op is None:
            raise self.unknown(e.name, e.name_span, env, has_args=bool(e.args))
        return self.apply(op, e, env, cur)

    def unknown(self, name: str, span: Span, env: Env, has_args: bool) -> Poison:
        if has_args and env.block(name):
            return self.numbers.fail(f"block `{name}` takes its arguments in parentheses", span,
                                     f"write `{name}(...)`")
        if has_args and name in env.tensors:
            return self.numbers.fail(f"`{name}` is a tensor and takes no arguments", span)
        if any(name in outer.tensors for outer in env._lexical()[1:]):
            return self.numbers.fail(f"tensor `{name}` is bound outside this block", span,
                                     "a block sees the numbers and blocks around it, not tensors: bring the "
                                     "tensor in as the block's input (`t -> block(...)`)")
        hint = suggest(name, known_names() + list(COMBINATORS) + env.names())
        return self.numbers.fail(f"unknown op or name `{name}`", span,
                                 hint or "see `archlang ops` for the list of ops")

    def apply(self, op: OpDef, e: s.Layer, env: Env, cur: Tensor | None) -> Known:
        literal_text = self.literal_text(e)
        literal = literal_text is not None
        text = literal_text or ""  # otherwise the text is made from the attributes, below
        try:
            attrs, spans = self.bind(op, e, env, literal_text)
        except Poison:
            self.need(cur, e.span)
            raise
        cur = self.need(cur, e.span)
        node = self.new_node(op, (cur.node,), attrs, e.span, text)
        try:
            warnings = analyse_op(node, op, cur.shape)
        except ShapeError as err:
            spans = spans if spans is not None else self.binder.bind(op, e, env)[1]  # where each argument is
            raise self.numbers.fail(err.message, spans.get(err.arg or "op", e.span), err.help) from None
        if not literal:  # show `conv 7x7 s2 x64`, not `conv (k)x(k) s(s) x(c)`
            node.text = describe(op, node.attrs)
        for w in warnings:
            self.sink.warning(w, e.span)
        return self.commit(node)

    def bind(self, op: OpDef, e: s.Layer, env: Env,
             literal_text: str | None) -> tuple[dict[str, Any], dict[str, Span] | None]:
        """The layer's attributes, and their spans unless they were bound before: a layer written
        with literal arguments only (``literal_text``: its text) binds the same wherever it is, so
        its copies (a repeat, a block, the same line written again) share one attributes dict,
        never changed once bound."""
        key = (op.name, literal_text) if literal_text and not any(
            isinstance(a, s.KeywordArg) and isinstance(a.value, str) for a in e.args) else None  # `like=x`
        if key is not None and key in self.bound:
            return self.bound[key], None
        attrs, spans = self.binder.bind(op, e, env)
        if key is not None:
            self.bound[key] = attrs
        return attrs, spans

    def literal_text(self, e: s.Layer) -> str | None:
        """The layer's text if it is written with literal numbers only, else None (found once per
        syntax node: a layer in a repeat or a block is met again and again)."""
        seen = self.literals.get(id(e))
        if seen is None or seen[0] is not e:
            seen = self.literals[id(e)] = (e, self.text(e.span) if _literal(e) else None)
        return seen[1]

    def if_chain(self, e: s.IfElse, env: Env, cur: Tensor | None) -> Known:
        orelse = e.orelse
        if isinstance(orelse, s.Seq) and isinstance(orelse.items[0], s.Layer) and orelse.items[0].name == "identity" \
                and not orelse.items[0].args:
            self.sink.warning("the chain after `else identity` belongs to the `else` branch, not to both",
                              e.span, "to apply it to both branches, write `(if ... else identity) -> ...`")
        return self.chain(e.then if self.numbers.eval(e.cond, env) else e.orelse, env, cur)

    def repeat(self, e: s.BinOp, env: Env, cur: Tensor | None) -> Known:
        if e.op != "*":
            raise self.numbers.fail(f"`{e.op}` does not apply to layers", e.span,
                                    "chains are repeated with `(a -> b) * N`")
        return self.repeated(e.left, e.right, None, e.span, env, cur)

    def repeat_as(self, e: s.RepeatAs, env: Env, cur: Tensor | None) -> Known:
        return self.repeated(e.body, e.count, e.var, e.span, env, cur)

    def repeated(self, left: s.Expr, right: s.Expr, var: str | None, span: Span, env: Env,
                 cur: Tensor | None) -> Known:
        """``body * N`` (either way round); with ``var``, copy k sees ``var`` = k as a number."""
        indexed, self.index_copies = self.index_copies, False
        body, count = (left, right) if self.kind(left, env) == "tensor" else (right, left)
        if self.kind(count, env) != "number":
            raise self.numbers.fail("a chain can only be repeated a number of times", span)
        times = self.numbers.whole(count, env, "repeat count", least=0)
        if times == 0:
            return self.need(cur, span)
        before = len(self.graph.nodes)
        cur = self.copy(body, var, 0, env, cur, indexed)
        per_copy = len(self.graph.nodes) - before
        if len(self.graph.nodes) + per_copy * (times - 1) > NODE_LIMIT:
            self.sink.error(f"this repetition unrolls to more than {NODE_LIMIT:,} layers", span,
                            "archlang unrolls every layer; use a smaller count")
            raise Fatal()
        if per_copy == 0:  # a copy that makes no layer leaves the tensor as it was: the rest would too
            return cur
        for k in range(1, times):
            cur = self.copy(body, var, k, env, cur, indexed)
        return cur

    def copy(self, body: s.Expr, var: str | None, k: int, env: Env, cur: Tensor | None,
             indexed: bool = False) -> Known:
        """One copy of a repeated chain, with the index bound (and the outer value restored);
        ``indexed``: the copy is named ``k``, as the k-th module of an ``nn.Sequential``."""
        if var is None:
            if indexed:
                return self.label(s.Label(str(k), body, body.span, body.span), env, cur)
            return self.chain(body, env, cur)
        had, saved = var in env.consts, env.consts.get(var)
        env.consts[var] = k
        try:
            return self.copy(body, None, k, env, cur, indexed)
        finally:
            if had:
                env.consts[var] = saved  # type: ignore[assignment]
            else:
                del env.consts[var]

    # --- labels ------------------------------------------------------------------------------
    def label(self, e: s.Label, env: Env, cur: Tensor | None) -> Known:
        """``LABEL: ELEMENT``: a layer or a block instance takes the label as its own name; any
        other element (a repeat, a combinator, a parenthesised chain) becomes a scope so named."""
        self.check_label(e)
        target = e.element
        while isinstance(target, s.Paren):
            target = target.inner
        if self.names_itself(target, env):
            self.pending_label = e.name
            try:
                return self.chain(target, env, cur)
            finally:
                self.pending_label = None
        before = len(self.graph.nodes)
        self.scopes.push(Frame(e.name, FrameKind.LABEL, labelled=True))
        self.index_copies = _is_repeat(target)
        try:
            result = self.chain(target, env, cur)
        finally:
            frame = self.scopes.pop()
            self.index_copies = False
        made = self.graph.nodes[before:]
        if len(made) == 1:  # one layer: the label is its name, as for a binding
            made[0].name = self.scopes.rename(made[0].name, self.scopes.path(frame.name, labelled=True))
        return result

    def names_itself(self, e: s.Expr, env: Env) -> bool:
        """Whether ``e`` makes one named thing: a layer, or a block call."""
        if isinstance(e, s.Layer):
            if not e.args and e.name in env.tensors:
                raise self.numbers.fail(f"a label names a layer or a block call, but `{e.name}` is a tensor",
                                        e.span)
            return lookup(e.name) is not None or env.block(e.name) is not None
        return isinstance(e, s.Call) and env.block(e.name) is not None

    def check_label(self, e: s.Label) -> None:
        seen = self.labels.setdefault(self.scopes.path(labelled=True), {})
        first = seen.setdefault(e.name, e.name_span)
        if first != e.name_span:  # a repeated chain writes the same label again: that is one label
            raise self.numbers.fail(f"label `{e.name}` is used twice in one scope", e.name_span,
                                    f"the first `{e.name}:` is at line {first.line}; labels name modules "
                                    "and must differ")
        if e.name in _RESERVED_LABELS:
            raise self.numbers.fail(f"`{e.name}` cannot be a label", e.name_span, "choose another name")

    # --- calls: combinators and blocks --------------------------------------------------------
    def call(self, e: s.Call, env: Env, cur: Tensor | None) -> Known:
        found = env.block(e.name)
        if found:
            return self.call_block(found, e.args, e.span, e.name_span, env, cur)
        if e.name in COMBINATORS:
            return self.combinator(e, env, cur)
        if e.name in FUNCTIONS:
            raise self.numbers.fail(f"`{e.name}(...)` is a number, not a layer", e.span)
        if lookup(e.name):
            raise self.numbers.fail(f"`{e.name}` is an op: its arguments follow it without parentheses",
                                    e.name_span, f"write e.g. `{e.name} 3x3 x64`")
        raise self.unknown(e.name, e.name_span, env, has_args=False)

    def combinator(self, e: s.Call, env: Env, cur: Tensor | None) -> Known:
        for a in e.args:
            if a.name is not None:
                raise self.numbers.fail(f"`{e.name}` takes no keyword arguments", a.span)
        single = e.name in ("residual", "freeze")
        if (single and len(e.args) != 1) or not e.args:
            raise self.numbers.fail(f"`{e.name}` takes {'one chain' if single else 'one or more chains'}",
                                    e.span)
        if e.name == "freeze":
            saved, self.trainable = self.trainable, False
            try:
                return self.chain(e.args[0].value, env, cur)
            finally:
                self.trainable = saved
        merge = lookup_merge(SUGAR.get(e.name, e.name))
        assert merge is not None
        branches = [a.value for a in e.args]
        if e.name == "residual":
            branches.insert(0, s.Layer("identity", (), e.span, e.span))
        results = self.branches(branches, env, cur)
        node = self.new_node(merge, tuple(t.node for t in results), {}, e.span)
        node.text = e.name
        try:
            analyse_merge(node, merge, [t.shape for t in results])
        except ShapeError as err:
            notes = tuple(f"branch {i + 1} (line {b.span.line}) gives {fmt(t.shape)}"
                          for i, (b, t) in enumerate(zip(branches, results)))
            if len({b.span.line for b in branches}) == 1:
                notes = ()  # the message already lists every branch, in order
            self.sink.error(err.message, e.name_span if len(branches) > 1 else e.span, err.help, notes)
            raise Poison() from None
        return self.commit(node)

    def branches(self, branches: list[s.Expr], env: Env, cur: Tensor | None) -> list[Known]:
        results: list[Known] = []
        failed = False
        for branch in branches:
            self.scopes.push(Frame(self.scopes.next_name("branch"), FrameKind.BRANCH))
            try:
                results.append(self.chain(branch, env, cur))
            except Poison:
                failed = True
            finally:
                self.scopes.pop()
        if failed:
            raise Poison()
        return results

    def call_block(self, found: tuple[s.BlockDef, Env], args: tuple[s.Argument, ...], span: Span,
                   name_span: Span, env: Env, cur: Tensor | None) -> Known:
        block, home = found
        key = f"{block.file}:{block.name}"
        if key in self.calls:
            cycle = [k.rsplit(":", 1)[1] for k in self.calls[self.calls.index(key):]] + [block.name]
            how = "" if len(cycle) == 2 else f" (through {' -> '.join(f'`{c}`' for c in cycle)})"
            self.sink.error(f"block `{block.name}` calls itself{how}", name_span,
                            "blocks cannot be recursive; repeat a chain with `(...) * N`", code="recursion")
            raise Poison()
        cur = self.need(cur, span)
        self.tick(span, len(self.scopes.frames))  # a call's bookkeeping grows with the nesting depth
        self.innermost_call = span
        local = Env(home.file, parent=home, in_tensor=cur, current=cur)
        self.bind_block_args(block, args, span, env, local)
        text = self.text(span) if all(isinstance(a.value, s.Number) for a in args) else (
            f"{block.name}({', '.join(f'{p.name}={_number_text(local.consts[p.name])}' for p in block.params)})")
        label, self.pending_label = self.pending_label, None
        self.scopes.push(Frame(label or self.scopes.next_name(block.name), FrameKind.BLOCK, text, span.line,
                               labelled=label is not None))
        self.calls.append(key)
        mark = len(self.sink.items)
        try:
            result = self.statements(block.body, local, top=False)
        finally:
            self.calls.pop()
            frame = self.scopes.pop()
            self.note_call(mark, span)
        if result is None:
            raise self.numbers.fail(f"block `{block.name}` has no chain to return", block.name_span)
        if not isinstance(result, Known):
            raise Poison()
        path, depth = self.scopes.path(frame.name, labelled=frame.labelled), self.scopes.block_depth + 1
        self.graph.blocks.append(BlockInstance(path, frame.text, span.line, depth, result.node,
                                               frame.name if frame.labelled else None))
        return result

    def note_call(self, mark: int, span: Span) -> None:
        """Errors found in a block's body since ``mark`` also name the call that ran it."""
        note = f"in call to `{self.text(span)}` at {span.file}:{span.line}:{span.col}"
        items = self.sink.items
        for i in range(mark, len(items)):
            if items[i].is_error and items[i].span is not None and items[i].code != "recursion":
                items[i] = replace(items[i], notes=items[i].notes + (note,))

    def bind_block_args(self, block: s.BlockDef, args: tuple[s.Argument, ...], span: Span,
                        caller: Env, local: Env) -> None:
        names = [p.name for p in block.params]
        given: dict[str, float] = {}
        positional = [a for a in args if a.name is None]
        if len(positional) > len(names):
            raise self.numbers.fail(
                f"block `{block.name}` takes {_count(block.params)}, but {len(positional)} were given",
                positional[len(names)].span, f"it is defined as `{self.text(block.span).split('{')[0].strip()}`")
        for p, a in zip(block.params, positional):
            given[p.name] = self.block_argument(a, caller)
        for a in args:
            if a.name is None:
                continue
            if a.name not in names:
                raise self.numbers.fail(f"block `{block.name}` has no parameter `{a.name}`", a.span,
                                        suggest(a.name, names))
            if a.name in given:
                raise self.numbers.fail(f"`{a.name}` is given twice", a.span)
            given[a.name] = self.block_argument(a, caller)
        for p in block.params:
            if p.name in given:
                local.consts[p.name] = given[p.name]
            elif p.default is not None:
                local.consts[p.name] = self.numbers.eval(p.default, local)
            else:
                raise self.numbers.fail(f"block `{block.name}` needs its argument `{p.name}`", span)

    def block_argument(self, a: s.Argument, caller: Env) -> float:
        if self.kind(a.value, caller) != "number":
            raise self.numbers.fail("block arguments are numbers", a.span,
                                    "pass a chain by writing it around the call instead")
        return self.numbers.eval(a.value, caller)

    # --- nodes and names -----------------------------------------------------------------
    def new_node(self, op: Definition, inputs: tuple[int, ...], attrs: dict, span: Span,
                 text: str | None = None) -> Node:
        """A node for ``op`` (not yet in the graph); ``text``: the op as written, if known already."""
        if len(self.graph.nodes) >= NODE_LIMIT:
            self.sink.error(f"the network unrolls to more than {NODE_LIMIT:,} layers", span)
            raise Fatal()
        return Node(len(self.graph.nodes), op, inputs, attrs, "", self.scopes.frames,
                    self.text(span) if text is None else text, span, self.trainable)

    def commit(self, node: Node) -> Known:
        label, self.pending_label = self.pending_label, None
        name = self.scopes.path(label, labelled=True) if label else self.scopes.path(self.scopes.next_name(node.op))
        node.name = self.scopes.unique(name)
        self.graph.nodes.append(node)
        assert node.shape is not None, "the analysis gives every committed node its shape"
        return Known(node.index, node.shape)


_RESERVED_LABELS = {"input", "in"}


def _is_repeat(e: s.Expr) -> bool:
    while isinstance(e, s.Paren):
        e = e.inner
    return isinstance(e, s.RepeatAs) or (isinstance(e, s.BinOp) and e.op == "*")


def _literal(e: s.Expr) -> bool:
    """Whether an argument or a layer is written with literal numbers only."""
    if isinstance(e, s.Number):
        return True
    if isinstance(e, s.Layer):
        return all(_literal_arg(a) for a in e.args)
    return False


def _literal_arg(a: s.LayerArg) -> bool:
    if isinstance(a, (s.SizeArg, s.FlagArg)):
        return all(isinstance(p, s.Number) for p in a.parts)
    if isinstance(a, s.KeywordArg):
        return isinstance(a.value, (str, s.Number))
    return a.word in ("same", "valid", "nobias", "ceil")


def _number_text(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _count(params: tuple[s.Param, ...]) -> str:
    least = sum(1 for p in params if p.default is None)
    most = len(params)
    if least == most:
        return f"{most} argument{'s' if most != 1 else ''}"
    return f"{least} to {most} arguments"
