"""``archlang fmt``: one canonical layout for ``.arch`` files.

The formatter keeps the lines the author chose (and every comment) and makes the rest uniform:

- a layer's arguments in the order LANGUAGE.md writes them: positional sizes, then the
  ``s p x g d`` flags, the words (``same valid ceil nobias``), the keywords (``eps=0.001``);
- one space around ``->``, binary operators and ``=`` (none in a layer's ``key=value``), after
  ``,``, none inside parentheses; glued sizes (``(k)x(k)``) and calls (``max(a, b)``) stay glued;
- two spaces of indent per open ``{`` or ``(``; a chain continued on the next line with ``->``
  keeps its statement's indent, or one more step when the statement binds a name; the line
  after ``then``, ``else``, ``=`` or an operator one more step;
- lines longer than :data:`WIDTH` broken before a ``->`` (the least nested one that lets the
  first part fit); blank lines collapsed to one.

It is safe: the formatted text must parse to the same syntax tree (arguments compared in the
canonical order), or :class:`FormatError` is raised and nothing is written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

from . import adapter

WIDTH = 120
INDENT = "  "

_TOKEN = re.compile(r"""
    (?P<nl>\r?\n)
  | (?P<ws>[ \t\f]+)
  | (?P<comment>\#[^\n]*)
  | (?P<string>"[^"\n]*")
  | (?P<word>(?:(?:\d+\.\d*|\.\d+)(?:[eE][-+]?\d+)?|\d+[eE][-+]?\d+)[KMG]?|\w+)
  | (?P<arrow>->)
  | (?P<op>\*\*|//|==|!=|<=|>=|[-+*/%<>])
  | (?P<punct>[(){},=.;:])
  | (?P<other>.)
""", re.VERBOSE)
_OPENERS, _CLOSERS = "({", ")}"
_UNARY_AFTER = {"op", "arrow"}
_UNARY_AFTER_TEXT = {"(", ",", "=", "{", ";", "if", "then", "else", "and", "or", "not"}
_CONTINUES_AFTER_TEXT = {"->", "=", "if", "then", "else", "and", "or", "not"}


class FormatError(Exception):
    """The text cannot be formatted: a syntax error (``diagnostics``) or a formatter fault."""

    def __init__(self, message: str, diagnostics: list[Any] | None = None, sources: dict[str, str] | None = None):
        super().__init__(message)
        self.diagnostics = diagnostics or []
        self.sources = sources or {}


@dataclass(frozen=True)
class Token:
    kind: str  # nl, comment, string, word, arrow, op, punct
    text: str
    line: int  # 1-based
    col: int  # 1-based
    glued: bool  # no space between this token and the one before it, on the same line
    tight_eq: bool = False  # a layer keyword's `=`, written without spaces


def tokenize(text: str) -> list[Token]:
    """The tokens of ``text``, whitespace dropped (recorded as ``glued`` on the next token)."""
    out: list[Token] = []
    line, line_start, glued = 1, 0, False
    for m in _TOKEN.finditer(text):
        kind = m.lastgroup or "other"
        if kind == "ws":
            glued = False
            continue
        out.append(Token(kind, m.group(), line, m.start() - line_start + 1, glued))
        glued = True
        if kind == "nl":
            line, line_start, glued = line + 1, m.end(), False
    return out


def format_text(text: str, file: str = "<spec>") -> str:
    """``text`` in the canonical layout; raises :class:`FormatError` when it does not parse."""
    module = _parse(text, file)
    tokens = _canonical_order(tokenize(text), module)
    result = _render(_lines(tokens))
    _check_same_meaning(module, result, file)
    return result


def _parse(text: str, file: str) -> Any:
    try:
        return adapter.parse_module(text, file)
    except adapter.ArchError as exc:
        raise FormatError("the spec has syntax errors", exc.diagnostics, exc.sources) from None


# --- argument order ------------------------------------------------------------------------------


def canonical_args(layer: Any) -> list[Any]:
    """A layer's arguments in canonical order (unchanged for a layer written over several lines
    or one that is not an op)."""
    args = list(layer.args)
    words = adapter.op_words(layer.name)
    if words is None or not args or layer.span.line != layer.span.end_line:
        return args
    return sorted(args, key=lambda a: adapter.arg_group(a, words))


def _canonical_order(tokens: list[Token], module: Any) -> list[Token]:
    at = {(t.line, t.col): i for i, t in enumerate(tokens)}
    moves: list[tuple[int, int, list[tuple[int, int]], list[int]]] = []
    for layer in adapter.layers_in(module):
        for arg in layer.args:
            if isinstance(arg, adapter.KeywordArg) and (arg.span.line, arg.span.col) in at:
                eq = at[(arg.span.line, arg.span.col)] + 1
                tokens[eq] = replace(tokens[eq], tight_eq=True)
        ordered = canonical_args(layer)
        if ordered == list(layer.args):
            continue
        ranges = [_token_range(tokens, at, a.span) for a in layer.args]
        position = {id(a): k for k, a in enumerate(layer.args)}
        moves.append((ranges[0][0], ranges[-1][1], ranges, [position[id(a)] for a in ordered]))
    for start, end, ranges, order in sorted(moves, key=lambda m: m[1] - m[0]):  # innermost first
        pieces = [tokens[a:b] for a, b in ranges]
        moved: list[Token] = []
        for k in order:
            first, *rest = pieces[k]
            moved += [replace(first, glued=False), *rest]
        tokens[start:end] = moved
    return tokens


def _token_range(tokens: list[Token], at: dict[tuple[int, int], int], span: Any) -> tuple[int, int]:
    start = at[(span.line, span.col)]
    end = start
    while end < len(tokens) and (tokens[end].line, tokens[end].col) < (span.end_line, span.end_col):
        end += 1
    return start, end


# --- lines and spacing ----------------------------------------------------------------------------


def _lines(tokens: list[Token]) -> list[list[Token]]:
    lines: list[list[Token]] = [[]]
    for t in tokens:
        if t.kind == "nl":
            lines.append([])
        else:
            lines[-1].append(t)
    return lines


def _unary(prev: Token | None) -> bool:
    return prev is None or prev.kind in _UNARY_AFTER or prev.text in _UNARY_AFTER_TEXT


def _space(prev: Token, cur: Token, before_prev: Token | None) -> str:
    """The space between two tokens on one line."""
    if prev.text in ("(", ".") or cur.text in (")", ",", ";", ".", ":") or prev.tight_eq or cur.tight_eq:
        return ""
    if cur.text == "(":
        return "" if cur.glued and (prev.kind == "word" or prev.text == ")") else " "
    if prev.text == ")" and cur.kind == "word" and cur.glued:
        return ""  # a glued size: (k)x(k)
    if prev.kind == "op" and prev.text in "+-" and _unary(before_prev):
        return ""
    return " "


def _code(tokens: list[Token]) -> str:
    out: list[str] = []
    for i, t in enumerate(tokens):
        if i:
            out.append(_space(tokens[i - 1], t, tokens[i - 2] if i > 1 else None))
        out.append(t.text)
    return "".join(out)


@dataclass
class _Layout:
    """What the lines so far leave open: brackets, and whether each level's statement binds."""

    depth: int = 0
    binds: list[bool] | None = None
    continues: bool = False  # the previous code line asks for more (ends with `->`, `=`, ...)
    deeper: bool = False  # the statement goes on one step in (after `then`, `else`, `=`, an operator)

    def __post_init__(self) -> None:
        self.binds = [False]


def _render(lines: list[list[Token]]) -> str:
    layout = _Layout()
    out: list[tuple[str, list[Token]]] = []  # (indent, tokens); comment-only lines indented later
    pending = list(reversed(lines))
    while pending:
        line = pending.pop()
        code = [t for t in line if t.kind != "comment"]
        if not code:
            out.append(("", line))
            continue
        indent = _indent(code, layout)
        head, tail = _break(line, indent)
        if tail:
            pending.append(tail)
        out.append((indent, head))
        _advance(layout, [t for t in head if t.kind != "comment"])
    return _join(out)


def _indent(code: list[Token], layout: _Layout) -> str:
    assert layout.binds is not None
    closers = 0
    for t in code:
        if t.text not in _CLOSERS:
            break
        closers += 1
    depth = max(0, layout.depth - closers)
    first = code[0].text
    continued = layout.continues or first in ("->", "then", "else")
    while len(layout.binds) <= layout.depth:
        layout.binds.append(False)
    if not continued:
        layout.binds[layout.depth] = len(code) > 1 and code[0].kind == "word" and code[1].text == "="
        layout.deeper = False
    elif first in ("then", "else"):
        layout.deeper = False
    extra = continued and not closers and (layout.deeper or (first == "->" and layout.binds[layout.depth]))
    return INDENT * (depth + (1 if extra else 0))


def _advance(layout: _Layout, code: list[Token]) -> None:
    assert layout.binds is not None
    for t in code:
        if t.text in _OPENERS:
            layout.depth += 1
            while len(layout.binds) <= layout.depth:
                layout.binds.append(False)
            layout.binds[layout.depth] = False
        elif t.text in _CLOSERS:
            layout.depth = max(0, layout.depth - 1)
    last = code[-1]
    layout.continues = last.text in _CONTINUES_AFTER_TEXT or (last.kind == "op" and layout.depth == 0)
    if layout.continues and last.text != "->":
        layout.deeper = True


def _break(line: list[Token], indent: str) -> tuple[list[Token], list[Token]]:
    """Split a line longer than :data:`WIDTH` before a `->`: the last one that leaves a first
    part that fits, else the first one. Comments stay with the last part."""
    code = [t for t in line if t.kind != "comment"]
    comment = [t for t in line if t.kind == "comment"]
    if len(indent) + len(_code(code)) <= WIDTH:
        return line, []
    nesting, depth = [], 0
    for t in code:
        nesting.append(depth)
        depth += (t.text in _OPENERS) - (t.text in _CLOSERS)
    arrows = [i for i, t in enumerate(code) if t.kind == "arrow" and i > 0]
    if not arrows:
        return line, []
    least = min(nesting[i] for i in arrows)
    breaks = [i for i in arrows if nesting[i] == least]
    fitting = [i for i in breaks if len(indent) + len(_code(code[:i])) <= WIDTH]
    at = fitting[-1] if fitting else breaks[0]
    return code[:at], code[at:] + comment


def _join(out: list[tuple[str, list[Token]]]) -> str:
    text: list[str] = []
    for k, (indent, tokens) in enumerate(out):
        if not tokens:
            if text and text[-1] != "":
                text.append("")
            continue
        code = [t for t in tokens if t.kind != "comment"]
        comment = " ".join(t.text.rstrip() for t in tokens if t.kind == "comment")
        if not code:
            indent = _comment_indent(out, k)
            text.append(indent + comment)
        else:
            text.append(indent + _code(code) + (f"  {comment}" if comment else ""))
    while text and text[-1] == "":
        text.pop()
    return "\n".join(text) + "\n" if text else ""


def _comment_indent(out: list[tuple[str, list[Token]]], k: int) -> str:
    """A comment on its own line takes the indent of the code line after it (of the body, when
    that line closes a block)."""
    for indent, tokens in out[k + 1:]:
        code = [t for t in tokens if t.kind != "comment"]
        if code:
            return indent + (INDENT if code[0].text in _CLOSERS else "")
    return ""


# --- safety ----------------------------------------------------------------------------------------


def _check_same_meaning(module: Any, result: str, file: str) -> None:
    try:
        again = adapter.parse_module(result, file)
    except adapter.ArchError as exc:
        raise FormatError("internal error: the formatted text does not parse; nothing was written",
                          exc.diagnostics, exc.sources) from None
    if adapter.syntax_tree(again, canonical_args) != adapter.syntax_tree(module, canonical_args):
        raise FormatError("internal error: formatting would change the spec's meaning; nothing was written")
