"""What the language server answers, computed from an :class:`~archlang.tooling.adapter.Analysis`
with no protocol types: hover text, inlay hints, definitions, completions and symbols. Lines and
columns here are 1-based, as in archlang's spans; :mod:`archlang.tooling.server` converts them."""

from __future__ import annotations

import re
from dataclasses import dataclass

from . import adapter
from .adapter import Analysis, Definition, Layer, Span, fmt
from .formatter import tokenize

_WORD = re.compile(r"\w+")
_COMMENT = re.compile(r'^([^"#]|"[^"\n]*")*?(?=#)')


def _contains(span: Span, line: int, col: int) -> bool:
    return (span.line, span.col) <= (line, col) <= (span.end_line, span.end_col)


def _size(span: Span) -> tuple[int, int]:
    return (span.end_line - span.line, span.end_col - span.col)


def _here(analysis: Analysis) -> list[Layer]:
    return [x for x in analysis.layers if x.span.file == analysis.file]


def word_at(text: str, line: int, col: int) -> tuple[str, int] | None:
    """The name under the cursor and the column it starts at."""
    lines = text.splitlines()
    if not 1 <= line <= len(lines):
        return None
    for m in _WORD.finditer(lines[line - 1]):
        if m.start() + 1 <= col <= m.end() + 1:
            return m.group(), m.start() + 1
    return None


# --- hover -------------------------------------------------------------------------------------


def _shape_list(shapes: list[tuple[int, ...]], limit: int = 3) -> str:
    distinct = list(dict.fromkeys(shapes))
    shown = " | ".join(fmt(s) for s in distinct[:limit])
    return shown + (f" | … ({len(distinct) - limit} more)" if len(distinct) > limit else "")


def hover(analysis: Analysis, line: int, col: int) -> tuple[str, Span] | None:
    """Markdown about the layer, merge or block call under the cursor (the innermost one), or
    about the name under it; with its span."""
    for out in analysis.outputs:
        if _contains(out.span, line, col) and out.span.file == analysis.file:
            mode = " (training mode only)" if out.training_only else ""
            named = f" (tensor `{out.tensor}`)" if out.name != out.tensor else ""
            return f"**output `{out.name}`**{named} → `{fmt(out.shape)}`{mode}", out.span
    hits = [x for x in _here(analysis) if _contains(x.span, line, col)]
    if hits:
        inner = min(_size(x.span) for x in hits)
        group = [x for x in hits if _size(x.span) == inner]
        return _describe(group), group[0].span
    found = word_at(analysis.text, line, col)
    if found is None:
        return None
    word, start = found
    span = Span(analysis.file, line, start, line, start + len(word))
    for d in analysis.definitions:
        if d.name == word and d.span == span:
            return f"**{d.name}**: {d.detail or d.kind}", span
    info = adapter.op_info(word)
    if info is not None:
        return f"**{info.name}**: {info.doc}\n\n`{info.usage}`", span
    return None


def _describe(group: list[Layer]) -> str:
    first = group[0]
    title = f"**`{first.text}`** → `{fmt(first.shape)}`" if len(group) == 1 else (
        f"**`{first.text}`**, {len(group)} instances")
    lines = [title, ""]
    rows: dict[tuple, list[Layer]] = {}
    for x in group:
        rows.setdefault((x.shape, x.params, x.mults), []).append(x)
    for (shape, params, mults), members in rows.items():
        where = members[0].name + (f" and {len(members) - 1} more" if len(members) > 1 else "")
        lines.append(f"- `{where}`: output `{fmt(shape)}`, parameters {params:,}, multiplies {mults:,}"
                     + ("" if members[0].trainable else " (frozen)"))
    return "\n".join(lines)


# --- inlay hints -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Hint:
    line: int
    col: int  # where the hint goes: the end of the line's code
    label: str


def inlay_hints(analysis: Analysis, first: int = 1, last: int | None = None) -> list[Hint]:
    """For each line on which a chain element ends, the output shape of the last one."""
    lines = analysis.text.splitlines()
    last = len(lines) if last is None else min(last, len(lines))
    ending: dict[int, tuple[int, Span]] = {}
    by_span: dict[Span, list[tuple[int, ...]]] = {}
    for x in _here(analysis):
        by_span.setdefault(x.span, []).append(x.shape)
        known = ending.get(x.span.end_line)
        if known is None or (x.span.end_col, -_size(x.span)[0]) > (known[0], -_size(known[1])[0]):
            ending[x.span.end_line] = (x.span.end_col, x.span)
    hints = []
    for number in range(first, last + 1):
        if number in ending:
            text = lines[number - 1]
            m = _COMMENT.match(text)
            code = (text[:m.end()] if m else text).rstrip()
            hints.append(Hint(number, len(code) + 1, f" → {_shape_list(by_span[ending[number][1]])}"))
    return hints


# --- definitions -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    file: str  # a file system path
    span: Span | None  # None: the start of the file


# names no expression refers to: variants have their own namespace, labels name modules
_NOT_REFERENCED = ("network", "variant", "label")


def definition(analysis: Analysis, line: int, col: int) -> Target | None:
    """Where the name (or the `use` file) under the cursor is defined."""
    for span, path in analysis.uses:
        if _contains(span, line, col):
            return Target(str(path), None)
    found = word_at(analysis.text, line, col)
    if found is None:
        return None
    word = found[0]
    here = (line, col)
    blocks = [d for d in analysis.definitions if d.kind == "block" and _contains(d.whole, line, col)]
    scopes = [blocks[0].whole, None] if blocks else [None]
    for scope in scopes:
        candidates = [d for d in analysis.definitions if d.name == word and d.scope == scope
                      and d.kind not in _NOT_REFERENCED]
        if candidates:
            before = [d for d in candidates if (d.span.line, d.span.col) <= here]
            chosen = before[-1] if before else candidates[0]
            return Target(analysis.file, chosen.span)
    if word == "input" and analysis.input_span is not None:  # `like=input`, `input.h`, `side = input -> ...`
        return Target(analysis.file, analysis.input_span)
    return _in_used_files(analysis, word)


def _in_used_files(analysis: Analysis, word: str) -> Target | None:
    for _, path in analysis.uses:
        try:
            text = path.read_text(encoding="utf-8")
            other = adapter.analyse(text, str(path))
        except OSError:
            continue
        for d in other.definitions:
            if d.name == word and d.scope is None and d.kind in ("block", "constant", "parameter"):
                return Target(str(path), d.span)
    return None


# --- completion ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Completion:
    label: str
    kind: str  # op, block, combinator, function, keyword, tensor, constant, flag, word, parameter, dim
    detail: str = ""
    insert: str | None = None


_STATEMENT_KEYWORDS = ("network", "input", "use", "block", "variant", "output", "assert")
_CHAIN_KEYWORDS = ("if", "then", "else", "identity", "as")


def completions(analysis: Analysis, line: int, col: int) -> list[Completion]:
    """What may be written at the cursor: op names, flags, words and keywords of the layer being
    written, block names and a block's parameters, names in scope, statement keywords."""
    lines = analysis.text.splitlines()
    text = lines[line - 1] if 1 <= line <= len(lines) else ""
    prefix = text[:col - 1]
    if prefix.endswith("in."):
        return [Completion(d, "dim", f"the {name} of the block's input")
                for d, name in (("h", "height"), ("w", "width"), ("c", "channels"), ("n", "length"))]
    partial = re.search(r"\w*$", prefix)
    before = prefix[:partial.start()] if partial else prefix
    tokens = [t for t in tokenize(before) if t.kind not in ("nl", "comment")]
    segment, opener = _segment(tokens)
    if opener is not None:
        block = _block(analysis, opener)
        if block is not None:
            return [Completion(p, "parameter", f"parameter of {block.detail}", f"{p} = ")
                    for p in block.params] + _numbers(analysis, line)
    if segment:
        head = segment[0].text
        info = adapter.op_info(head)
        if info is not None:
            return _arguments(info) + _numbers(analysis, line)
        if segment[-1].text in ("=", "*", "+", "-", "/", "//", "%", "==", "<", ">", "<=", ">=", "!=", "and", "or"):
            return _numbers(analysis, line) + [Completion(f, "function", "function") for f in adapter.FUNCTION_NAMES]
    if tokens and tokens[0].text == "output":  # output a, key = b when training: tensor names
        scopes = _scope(analysis, line)
        names = [Completion(d.name, "tensor", d.detail) for d in analysis.definitions
                 if d.kind == "binding" and d.scope in scopes]
        return names + [Completion("input", "tensor", "the input"), Completion("when training", "keyword", "keyword")]
    if tokens and tokens[0].text == "assert":
        totals = [Completion(t, "constant", "the network's total") for t in _TOTALS]
        return totals + _numbers(analysis, line) + _chain_items(analysis, line)
    items = _chain_items(analysis, line)
    if not tokens:
        items = [Completion(k, "keyword", "statement") for k in _STATEMENT_KEYWORDS] + items
    return items


_TOTALS = ("params", "trainable", "mults", "train_mults", "activations")


def _segment(tokens: list) -> tuple[list, str | None]:
    """The tokens of the element being written, and the name of the call whose parentheses
    hold the cursor (None if there is none)."""
    depth, start = 0, None
    for i in range(len(tokens) - 1, -1, -1):
        t = tokens[i]
        if t.text in (")", "}"):
            depth += 1
        elif t.text in ("(", "{"):
            if depth == 0:
                glued = t.text == "(" and i and t.glued and tokens[i - 1].kind == "word"
                return tokens[(i + 1 if start is None else start):], tokens[i - 1].text if glued else None
            depth -= 1
        elif depth == 0 and start is None and (t.kind == "arrow" or t.text == ","):
            start = i + 1
            if t.kind == "arrow":
                return tokens[start:], None
        elif depth == 0 and start is None and t.text == "=" and not t.glued:  # `name = `, not `eps=`
            return tokens[i + 1:], None
    return tokens[(0 if start is None else start):], None


def _block(analysis: Analysis, name: str) -> Definition | None:
    return next((d for d in analysis.definitions if d.kind == "block" and d.name == name), None)


def _arguments(info: adapter.OpInfo) -> list[Completion]:
    what = {"s": "stride", "p": "padding", "x": "number of filters", "g": "groups", "d": "dilation"}
    items = [Completion(letter, "flag", f"{what.get(letter, attr)}: `{letter}N`, e.g. `{letter}2`")
             for letter, attr in info.flags]
    items += [Completion(w, "word", f"option of {info.name}") for w in info.words]
    items += [Completion(f"{k}=", "keyword", f"keyword of {info.name}") for k in info.keywords]
    return items


def _scope(analysis: Analysis, line: int) -> list[Span | None]:
    blocks = [d.whole for d in analysis.definitions if d.kind == "block" and d.whole.line <= line <= d.whole.end_line]
    return [*blocks, None]


def _numbers(analysis: Analysis, line: int) -> list[Completion]:
    scopes = _scope(analysis, line)
    return [Completion(d.name, "constant", d.detail) for d in analysis.definitions
            if d.kind in ("constant", "parameter") and d.scope in scopes]


def _chain_items(analysis: Analysis, line: int) -> list[Completion]:
    scopes = _scope(analysis, line)
    items = [Completion(op.name, "op", op.doc or op.family, None) for op in adapter.catalogue()]
    items += [Completion(alias, "op", f"{op.name}: {op.doc}") for op in adapter.catalogue() for alias in op.aliases]
    items += [Completion(c, "combinator", "combinator") for c in adapter.COMBINATOR_NAMES]
    items += [Completion(k, "keyword", "keyword") for k in _CHAIN_KEYWORDS]
    for d in analysis.definitions:
        if d.kind == "block":
            items.append(Completion(d.name, "block", d.detail))
        elif d.kind == "binding" and d.scope in scopes:
            items.append(Completion(d.name, "tensor", d.detail))
    return items


# --- symbols ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Symbol:
    name: str
    kind: str
    detail: str
    whole: Span
    span: Span
    children: tuple["Symbol", ...] = ()


def symbols(analysis: Analysis) -> list[Symbol]:
    """Blocks (with their parameters, bindings and labels), variants, bindings, labels, constants
    and parameters, in the order they are written."""
    inner: dict[Span, list[Symbol]] = {}
    top: list[Symbol] = []
    for d in analysis.definitions:
        symbol = Symbol(d.name, d.kind, d.detail, d.whole, d.span)
        if d.scope is None:
            top.append(symbol)
        else:
            inner.setdefault(d.scope, []).append(symbol)
    out = [Symbol(x.name, x.kind, x.detail, x.whole, x.span, tuple(sorted(inner.get(x.whole, ()), key=lambda c: (c.whole.line, c.whole.col))))
           if x.kind == "block" else x for x in top]
    return sorted(out, key=lambda x: (x.whole.line, x.whole.col))

