"""Text to :class:`archlang.syntax.Module`: the Lark grammar, its layout post-lexer and a pure
transformer that Lark's LALR parser calls as it reduces each rule, so that no parse tree is built.
The grammar is loaded once, lazily, from cached LALR tables.

Spans come from tokens, not from Lark's position propagation (which costs about half the parse):
a rule ends at the last token shifted before it is reduced (the post-lexer remembers it), and
starts at its first child, or, for the rules that open with a keyword or bracket the tree drops
(`network`, `(`, `not`, ...), at the token just before that child (the post-lexer remembers the
tokens that follow those keywords)."""

from __future__ import annotations

import functools
import threading
from pathlib import Path
from typing import Any, Iterator

from lark import Lark, Transformer, v_args
from lark.exceptions import UnexpectedInput
from lark.lark import PostLex

from . import syntax as s
from ..core.errors import ArchError, Diagnostic, Severity, Span, source_lines
from ..core.limits import MAX_DIGITS, MAX_NUMBER
from .lexing import Tokenizer

GRAMMAR_NAME = "archlang.lark"
# The tables' file: Lark rewrites it when the grammar or the parser's options change, so its name
# changes with the options, lest two installed versions of archlang rewrite it in turn.
CACHE_NAME = "lark-lalr-tokenizer.cache"

# Tokens after which a newline never ends a statement (an operator or keyword that needs more),
# and before which it never does.
_CONTINUES_AFTER = {"_ARROW", "LBRACE", "COMMA", "EQUAL", "LPAR", "_NL", "IF", "THEN", "ELSE", "AND", "OR",
                    "NOT", "ADD_OP", "MUL_OP", "POW_OP", "COMP_OP", "COLON", "_AS"}
_CONTINUES_BEFORE = {"_ARROW", "RBRACE", "THEN", "ELSE"}
# Tokens the parse drops that open a rule (the rule's span starts at them, before its first child).
_OPENERS = {"NETWORK", "USE", "BLOCK", "OUTPUT", "VARIANT", "ASSERT", "NOT", "IN", "DOT", "LPAR", "IF"}


def grammar_path() -> Path:
    """Where the grammar lives: inside the installed package, or in the source tree."""
    here = Path(__file__).resolve().parent.parent  # the archlang package
    for candidate in (here / "grammars" / GRAMMAR_NAME, here.parent / "grammars" / GRAMMAR_NAME):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"archlang's grammar {GRAMMAR_NAME} is missing from the installation")


class Layout(PostLex):
    """Post-lexer: newlines separate statements, except inside parentheses, around `->`, after
    `,` `=` `{` and operators, around `then` and `else`, and before `}`. Runs of newlines collapse
    into one.

    Beside the layout it remembers, for the spans, the last two tokens it gave the parser (at a
    reduction the parser holds one token of lookahead, so the one before it is the rule's last),
    and the token before each token that follows a dropped opening keyword."""

    always_accept = ("_NL",)

    def __init__(self) -> None:
        self.previous: Any = None
        self.current: Any = None
        self.done = False
        self.opener: dict[tuple[int, int], Any] = {}

    def process(self, stream: Iterator[Any]) -> Iterator[Any]:
        depth, previous, pending = 0, None, None
        self.previous = self.current = None
        self.done = False
        opener: dict[tuple[int, int], Any] = {}
        self.opener = opener
        for token in stream:
            kind = token.type
            if kind == "_NL":
                if depth == 0 and previous is not None and previous not in _CONTINUES_AFTER:
                    pending = pending or token
                continue
            if pending is not None and kind not in _CONTINUES_BEFORE:
                self.previous, self.current = self.current, pending
                yield pending
            pending = None
            if kind == "LPAR":
                depth += 1
            elif kind == "RPAR":
                depth = max(0, depth - 1)
            if previous in _OPENERS:
                opener[token.line, token.column] = self.current
            previous = kind
            self.previous, self.current = self.current, token
            yield token
        self.done = True  # the parser's next token is the end of input, which follows no shift


# One parser, whose transformer and post-lexer keep per-parse state: parses take turns.
_LOCK = threading.RLock()


@functools.lru_cache(maxsize=1)
def _lark() -> Any:
    return Lark(grammar_path().read_text(encoding="utf-8"), parser="lalr", lexer=Tokenizer,
                postlex=_LAYOUT, maybe_placeholders=True, transformer=_TO_SYNTAX, cache=_cache_file())


def _cache_file() -> str | bool:
    """A per-user cache of the LALR tables, keyed by the grammar's content (Lark hashes it), in
    the platform's cache folder (platformdirs: ``$XDG_CACHE_HOME`` or ``~/.cache`` on Linux,
    ``~/Library/Caches`` on macOS, ``%LOCALAPPDATA%`` on Windows)."""
    import os
    import tempfile

    from platformdirs import user_cache_dir

    folder = user_cache_dir("archlang", appauthor=False)
    try:
        os.makedirs(folder, exist_ok=True)
        return os.path.join(folder, CACHE_NAME) if os.access(folder, os.W_OK) else True
    except OSError:
        return os.path.join(tempfile.gettempdir(), f"archlang-{CACHE_NAME}")


@functools.lru_cache(maxsize=256)
def parse(text: str, file: str = "<spec>") -> s.Module:
    """Parse the text of one ``.arch`` file; raises :class:`ArchError` on a syntax error."""
    with _LOCK:
        lark = _lark()
        _TO_SYNTAX.file = file
        try:
            return s.Module(file, tuple(lark.parse(text)))
        except UnexpectedInput as exc:
            raise ArchError(_syntax_errors(exc, text, file), {file: text}) from None
        except ArchError as exc:  # a statement the transformer refuses (`input` with two shapes)
            _syntax_only(text, file)  # the whole file's syntax errors come first, as they always did
            raise ArchError(exc.diagnostics, {file: text}) from None
        except RecursionError:
            raise ArchError([Diagnostic(Severity.ERROR, "the spec is nested too deeply to read",
                                        Span(file, 1, 1, 1, 2))], {file: text}) from None


# --- syntax errors -----------------------------------------------------------------------


def _syntax_only(text: str, file: str) -> None:
    """Raises the syntax errors of ``text``, if it has any."""
    try:
        _syntax_tree_free(text)
    except UnexpectedInput as exc:
        raise ArchError(_syntax_errors(exc, text, file), {file: text}) from None


def _syntax_tree_free(text: str) -> None:
    """Parse ``text`` building nothing (so that no rule's own refusal stops it); raises Lark's
    :class:`UnexpectedInput` at its first syntax error."""
    _TO_SYNTAX.building = False
    try:
        _lark().parse(text)
    finally:
        _TO_SYNTAX.building = True


MAX_SYNTAX_ERRORS = 10
_CONTINUATION = ("->", ")", "}", "then", "else")


def _syntax_errors(first: Any, text: str, file: str) -> list[Diagnostic]:
    """The first syntax error, then those in later statements: the statement holding each error
    is blanked out (positions kept) and the rest parsed again."""
    from lark.exceptions import UnexpectedEOF, UnexpectedInput

    found = [_syntax_diagnostic(first, text, file)]
    lines = text.split("\n")
    exc = first
    while len(found) < MAX_SYNTAX_ERRORS and not isinstance(exc, UnexpectedEOF):
        line = getattr(exc, "line", 0) or 0
        if not 1 <= line <= len(lines) or not _blank_statement(lines, line - 1):
            break
        try:
            _syntax_tree_free("\n".join(lines))
            break
        except UnexpectedInput as again:
            if (getattr(again, "line", 0) or 0) <= line:
                break  # blanking did not get past it: later errors would be echoes
            exc = again
            found.append(_syntax_diagnostic(again, text, file))
    return found


def _starts_statement(line: str) -> bool:
    stripped = line.lstrip()
    return bool(stripped) and line[0] not in " \t" and not stripped.startswith(_CONTINUATION)


def _blank_statement(lines: list[str], index: int) -> bool:
    """Blank the statement around ``lines[index]``; False if there was nothing to blank."""
    start = index
    while start > 0 and not _starts_statement(lines[start]):
        start -= 1
    end = index + 1
    while end < len(lines) and not _starts_statement(lines[end]):
        end += 1
    changed = any(lines[i].strip() for i in range(start, end))
    for i in range(start, end):
        lines[i] = " " * len(lines[i])
    return changed


_READABLE = {
    "NAME": "a name", "_LAYER": "a layer, a name, a number or `(`", "CALLNAME": "a call",
    "INT": "a number", "FLOAT": "a number",
    "DIMS": "a size like `3x3`", "FLAG": "a flag like `x64`", "FLAGX": "a flag like `x(c)`",
    "STRING": 'a "string"', "_NL": "a new line", "$END": "the end of the file",
    "_ARROW": "`->`", "LPAR": "`(`", "RPAR": "`)`", "LBRACE": "`{`", "RBRACE": "`}`",
    "COMMA": "`,`", "EQUAL": "`=`", "DOT": "`.`", "COMP_OP": "a comparison",
    "ADD_OP": "`+` or `-`", "MUL_OP": "`*`, `/`, `//` or `%`", "POW_OP": "`**`", "COLON": "`:`",
    "INPUT": "`input`", "_WHEN": "`when`", "_AS": "`as`",
}


def _readable(kind: str) -> str:
    if kind in _READABLE:
        return _READABLE[kind]
    return f"`{kind.lower()}`" if kind.isalpha() else kind


def _expected(kinds: set[str]) -> list[str]:
    """The readable set of what the parser would have taken: where a layer could start, the
    many ways to start an expression are summed up as one."""
    if "NAME" in kinds:
        kinds -= {"NAME", "FLAG", "FLAGX", "CALLNAME", "ADD_OP", "NOT", "IN", "IF", "DIMS", "INT", "FLOAT", "LPAR",
                  "INPUT"}
        kinds.add("_LAYER")
    return sorted({_readable(k) for k in kinds})


def _open_braces(text: str, end: int) -> int:
    """How many `{` are open before ``end``, outside comments and strings."""
    depth, in_comment, in_string = 0, False, False
    for ch in text[:end]:
        if in_comment:
            in_comment = ch != "\n"
        elif in_string:
            in_string = ch not in '"\n'
        elif ch == "#":
            in_comment = True
        elif ch == '"':
            in_string = True
        elif ch in "{}":
            depth = max(0, depth + (1 if ch == "{" else -1))
    return depth


def _syntax_diagnostic(exc: Any, text: str, file: str) -> Diagnostic:
    from lark.exceptions import UnexpectedCharacters, UnexpectedToken

    line, col = max(1, getattr(exc, "line", 1) or 1), max(1, getattr(exc, "column", 1) or 1)
    if isinstance(exc, UnexpectedCharacters):
        pos = exc.pos_in_stream or 0
        char = text[pos] if pos < len(text) else "?"
        return Diagnostic(Severity.ERROR, f"unexpected character `{char}`", Span(file, line, col, line, col + 1),
                          help="archlang uses letters, digits, `->`, `( ) { }`, `,`, `=`, operators and `#` comments")
    token = getattr(exc, "token", None)
    kinds = set(getattr(exc, "expected", ()) or ())
    position = getattr(token, "start_pos", None)
    if _open_braces(text, len(text) if position is None else position) == 0:
        kinds.discard("RBRACE")  # LALR shares states between files and block bodies
    expected = _expected(kinds)
    if isinstance(exc, UnexpectedToken) and token is not None and token.type != "$END":
        shown = "a new line" if token.type == "_NL" else f"`{token}`"
        width = max(1, len(str(token))) if token.type != "_NL" else 1
        span = Span(file, token.line, token.column, token.line, token.column + width)
        message = f"unexpected {shown}"
    else:
        last = source_lines(text.rstrip()) or [""]
        line = len(last)
        span = Span(file, line, max(1, len(last[-1])), line, max(2, len(last[-1]) + 1))
        message = "unexpected end of file"
    hint = f"expected {', '.join(expected[:-1])} or {expected[-1]}" if len(expected) > 1 else (
        f"expected {expected[0]}" if expected else None)
    return Diagnostic(Severity.ERROR, message, span, help=hint)


# --- parse tree to syntax tree -------------------------------------------------------------


def _first(kids: list[Any]) -> Any:
    """The first child with a position: a token, or a syntax node with its span."""
    for kid in kids:
        if kid is not None and not isinstance(kid, (str, tuple, list)) or hasattr(kid, "line"):
            return kid
    return None


def _with_meta(f: Any, data: str, kids: list[Any], _meta: Any) -> Any:
    """Lark's visit wrapper for :class:`ToSyntax`: calls ``f(span, kids)`` with the rule's extent,
    from its first token to its last."""
    if not _TO_SYNTAX.building:
        return None
    if data in _SPANLESS:
        return f(None, kids)
    layout = _LAYOUT
    # the last token the parser shifted: the one before its lookahead, or at the end of input the last
    last = layout.current if layout.done else layout.previous
    if last is None:  # nothing shifted yet: an empty file or block body, which has no span
        return f(None, kids)
    first = _first(kids)
    if first is None:
        line, column = last.line, last.column
    elif hasattr(first, "line"):  # a token
        line, column = first.line, first.column
    else:
        line, column = first.span.line, first.span.col
    if first is not None:
        for _ in range(_OPENED.get(data, 0)):
            opener = layout.opener[line, column]
            line, column = opener.line, opener.column
    return f(Span(_TO_SYNTAX.file, line, column, last.end_line, last.end_column), kids)


# The rules whose result has no span of its own (a name is its token; a file, its statements):
# a third of the reductions in a spec of tensor bindings
_SPANLESS = frozenset({"ident", "callname", "start", "body"})
# The rules that open with keywords or brackets the parse drops, and how many (`in` `.` in `in.c`).
_OPENED = {"header": 1, "use_stmt": 1, "block_def": 1, "output_stmt": 1, "variant_stmt": 1, "assert_stmt": 1,
           "not_op": 1, "in_dim": 2, "paren": 1, "if_expr": 1, "paren_arg": 1}


@v_args(wrapper=_with_meta)
class ToSyntax(Transformer):
    """Lark's reductions to syntax tree, bottom-up: each rule's children arrive already built,
    with the rule's :class:`Span` as ``m`` (from :func:`_with_meta`). Pure: no names are
    resolved. The file is set per parse."""

    def __init__(self) -> None:
        super().__init__(visit_tokens=False)
        self.file = "<spec>"
        self.building = True  # False while a file is only checked for syntax errors

    def _tspan(self, tok: Any) -> Span:
        return Span(self.file, tok.line, tok.column, tok.end_line, tok.end_column)

    # statements -------------------------------------------------------------------------
    def start(self, m: Any, kids: list[Any]) -> list[s.Statement]:
        return [k for k in kids if k is not None]

    def header(self, m: Any, kids: list[Any]) -> s.Header:
        name, *params = kids
        return s.Header(str(name), tuple(p for p in params if p is not None), m)

    def param(self, m: Any, kids: list[Any]) -> s.Param:
        name, default = kids
        return s.Param(str(name), default, m)

    def input_stmt(self, m: Any, kids: list[Any]) -> s.Input:
        args = _glue(kids[1:])  # after the `input` keyword
        if len(args) != 1 or not isinstance(args[0], s.SizeArg):
            raise ArchError([Diagnostic(Severity.ERROR, "`input` takes one shape, `HxWxC` or `N`",
                                        m, help="write e.g. `input 32x32x3` or `input 784`")])
        return s.Input(args[0].parts, m)

    def use_stmt(self, m: Any, kids: list[Any]) -> s.Use:
        (tok,) = kids
        return s.Use(str(tok)[1:-1], m)

    def block_def(self, m: Any, kids: list[Any]) -> s.BlockDef:
        name, body = kids[0], kids[-1]
        params = tuple(p for p in kids[1:-1] if p is not None)
        return s.BlockDef(str(name), params, body, m, self._tspan(name), self.file)

    def body(self, m: Any, kids: list[Any]) -> tuple[s.Statement, ...]:
        return tuple(k for k in kids if k is not None)

    def assign(self, m: Any, kids: list[Any]) -> s.Assign:
        name, value = kids
        return s.Assign(str(name), value, m, self._tspan(name))

    def chain_stmt(self, m: Any, kids: list[Any]) -> s.ChainStmt:
        (chain,) = kids
        return s.ChainStmt(chain, m)

    def output_stmt(self, m: Any, kids: list[Any]) -> s.Output:
        *items, when = kids
        if when is not None and str(when) != "training":
            raise ArchError([Diagnostic(Severity.ERROR, f"expected `when training`, found `when {when}`",
                                        self._tspan(when), help="training is the one mode outputs can depend on")])
        return s.Output(tuple(items), when is not None, m)

    def output_item(self, m: Any, kids: list[Any]) -> s.OutputItem:
        return s.OutputItem(None, str(kids[0]), m)

    def output_keyed(self, m: Any, kids: list[Any]) -> s.OutputItem:
        return s.OutputItem(str(kids[0]), str(kids[1]), m)

    def variant_stmt(self, m: Any, kids: list[Any]) -> s.Variant:
        name, *params = kids
        return s.Variant(str(name), tuple(p for p in params if p is not None), m, self._tspan(name))

    def assert_stmt(self, m: Any, kids: list[Any]) -> s.Assert:
        condition, message = kids
        return s.Assert(condition, None if message is None else str(message)[1:-1], m)

    def label(self, m: Any, kids: list[Any]) -> s.Label:
        name, element = kids
        return s.Label(str(name), element, m, self._tspan(name))

    def ident(self, m: Any, kids: list[Any]) -> Any:
        return kids[0]

    callname = ident

    # expressions ------------------------------------------------------------------------
    def seq(self, m: Any, kids: list[Any]) -> s.Seq:
        return s.Seq(tuple(kids), m)

    def or_op(self, m: Any, kids: list[Any]) -> s.BinOp:
        return s.BinOp("or", kids[0], kids[1], m)

    def and_op(self, m: Any, kids: list[Any]) -> s.BinOp:
        return s.BinOp("and", kids[0], kids[1], m)

    def not_op(self, m: Any, kids: list[Any]) -> s.UnaryOp:
        return s.UnaryOp("not", kids[0], m)

    def compare(self, m: Any, kids: list[Any]) -> s.BinOp:
        left, op, right = kids
        return s.BinOp(str(op), left, right, m)

    binop = compare

    def unary(self, m: Any, kids: list[Any]) -> s.UnaryOp:
        op, operand = kids
        return s.UnaryOp(str(op), operand, m)

    def repeat_as(self, m: Any, kids: list[Any]) -> s.RepeatAs | s.BinOp:
        body, op, count, var = kids
        if str(op) != "*":
            raise ArchError([Diagnostic(Severity.ERROR, f"`as` follows a repetition `* N`, not `{op}`",
                                        m, help="write `(chain) * N as i`")])
        return s.RepeatAs(body, count, str(var), m)

    def int_lit(self, m: Any, kids: list[Any]) -> s.Number:
        return s.Number(number_value(str(kids[0]), m), m)

    float_lit = int_lit

    def input_ref(self, m: Any, kids: list[Any]) -> s.Layer:
        span = m
        return s.Layer("input", (), span, span)

    def tensor_dim(self, m: Any, kids: list[Any]) -> s.TensorDim:
        return s.TensorDim(str(kids[0]), str(kids[1]), m)

    def in_dim(self, m: Any, kids: list[Any]) -> s.InDim:
        return s.InDim(str(kids[0]), m)

    def paren(self, m: Any, kids: list[Any]) -> s.Paren:
        return s.Paren(kids[0], m)

    def if_expr(self, m: Any, kids: list[Any]) -> s.IfElse:
        cond, then, orelse = kids
        return s.IfElse(cond, then, orelse, m)

    def call(self, m: Any, kids: list[Any]) -> s.Call:
        name, *args = kids
        wrapped = tuple(a if isinstance(a, s.Argument) else s.Argument(None, a, _span_of(a))
                        for a in args if a is not None)
        return s.Call(str(name), wrapped, m, self._tspan(name))

    def kwarg(self, m: Any, kids: list[Any]) -> s.Argument:
        name, value = kids
        return s.Argument(str(name), value, m)

    # layers -----------------------------------------------------------------------------
    def layer(self, m: Any, kids: list[Any]) -> s.Layer:
        name, *args = kids
        return s.Layer(str(name), tuple(_glue(args)), m, self._tspan(name))

    def dims_arg(self, m: Any, kids: list[Any]) -> s.SizeArg:
        span = self._tspan(kids[0])
        return s.SizeArg(tuple(s.Number(_integer(v, span), span) for v in str(kids[0]).split("x")), span)

    def int_arg(self, m: Any, kids: list[Any]) -> s.SizeArg:
        span = m
        return s.SizeArg((s.Number(number_value(str(kids[0]), span), span),), span)

    float_arg = int_arg

    def flag_arg(self, m: Any, kids: list[Any]) -> s.FlagArg:
        text, span = str(kids[0]), m
        return s.FlagArg(text[0], tuple(s.Number(_integer(v, span), span) for v in text[1:].split("x")), span)

    def flagx_arg(self, m: Any, kids: list[Any]) -> s.FlagArg:
        letter, value = kids
        return s.FlagArg(str(letter), (value,), m)

    def paren_arg(self, m: Any, kids: list[Any]) -> s.SizeArg:
        span = m
        return s.SizeArg((s.Paren(kids[0], span),), span)

    def word_arg(self, m: Any, kids: list[Any]) -> s.WordArg:
        return s.WordArg(str(kids[0]), m)

    def keyword_arg(self, m: Any, kids: list[Any]) -> s.KeywordArg:
        name, value = kids
        return s.KeywordArg(str(name), value, m)

    def in_value(self, m: Any, kids: list[Any]) -> str:
        return "in"

    def word_value(self, m: Any, kids: list[Any]) -> str:
        return str(kids[0])

    def string_value(self, m: Any, kids: list[Any]) -> str:
        return str(kids[0])[1:-1]


_LAYOUT = Layout()
_TO_SYNTAX = ToSyntax()

_SUFFIXES = {"K": 1_000, "M": 1_000_000, "G": 1_000_000_000}


def number_value(text: str, span: Span | None = None) -> int | float:
    """A number literal's value: ``64``, ``0.5``, ``1e-3``, and with a suffix ``5M`` or ``2.5K``
    (exact decimal arithmetic, so that ``2.3K`` is 2300, a whole number, not 2299.9999...)."""
    factor = _SUFFIXES.get(text[-1:], 1)
    digits = text[:-1] if factor != 1 else text
    if factor == 1:
        return float(digits) if any(c in digits for c in ".eE") else _integer(digits, span)
    from decimal import Decimal

    if not any(c in digits for c in ".eE"):
        _integer(digits, span)
    value = Decimal(digits) * factor
    return int(value) if value == value.to_integral_value() else float(value)


def _integer(digits: str, span: Span | None) -> int:
    """An integer literal, refused (located) past :data:`MAX_DIGITS` digits: Python would
    refuse very long ones with a traceback, and no size in a network is that large."""
    if len(digits.lstrip("0")) > MAX_DIGITS:
        raise ArchError([Diagnostic(Severity.ERROR, f"this number has {len(digits):,} digits, more than archlang takes",
                                    span, help=f"numbers in a spec are at most {MAX_NUMBER:.0e} in size")])
    return int(digits)


def _span_of(node: Any) -> Span:
    return node.span


def _glue(args: list[Any]) -> list[Any]:
    """Join sizes written glued with `x`, as in `(k)x(k)` or `3x(k)`: a size followed, with no
    space between, by an `x` flag is one size with more parts."""
    out: list[Any] = []
    for arg in args:
        prev = out[-1] if out else None
        if (isinstance(arg, s.FlagArg) and arg.letter == "x" and isinstance(prev, s.SizeArg)
                and prev.span.end_line == arg.span.line and prev.span.end_col == arg.span.col):
            out[-1] = s.SizeArg(prev.parts + arg.parts, prev.span.cover(arg.span))
        else:
            out.append(arg)
    return out
