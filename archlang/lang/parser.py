"""Text to :class:`archlang.syntax.Module`: the Lark grammar, its layout post-lexer and a pure
transformer. The grammar is loaded once, lazily, as an LALR parser."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Iterator

from . import syntax as s
from ..core.errors import ArchError, Diagnostic, Severity, Span, source_lines
from ..core.limits import MAX_DIGITS, MAX_NUMBER

GRAMMAR_NAME = "archlang.lark"

# Tokens after which a newline never ends a statement (an operator or keyword that needs more),
# and before which it never does.
_CONTINUES_AFTER = {"_ARROW", "LBRACE", "COMMA", "EQUAL", "LPAR", "_NL", "IF", "THEN", "ELSE", "AND", "OR",
                    "NOT", "ADD_OP", "MUL_OP", "COMP_OP"}
_CONTINUES_BEFORE = {"_ARROW", "RBRACE", "THEN", "ELSE"}


def grammar_path() -> Path:
    """Where the grammar lives: inside the installed package, or in the source tree."""
    here = Path(__file__).resolve().parent.parent  # the archlang package
    for candidate in (here / "grammars" / GRAMMAR_NAME, here.parent / "grammars" / GRAMMAR_NAME):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"archlang's grammar {GRAMMAR_NAME} is missing from the installation")


class Layout:
    """Post-lexer: newlines separate statements, except inside parentheses, around `->`, after
    `,` `=` `{` and operators, around `then` and `else`, and before `}`. Runs of newlines collapse
    into one."""

    always_accept = ("_NL",)

    def process(self, stream: Iterator[Any]) -> Iterator[Any]:
        depth, previous, pending = 0, None, None
        for token in stream:
            kind = token.type
            if kind == "_NL":
                if depth == 0 and previous is not None and previous not in _CONTINUES_AFTER:
                    pending = pending or token
                continue
            if pending is not None and kind not in _CONTINUES_BEFORE:
                yield pending
            pending = None
            if kind == "LPAR":
                depth += 1
            elif kind == "RPAR":
                depth = max(0, depth - 1)
            previous = kind
            yield token


@functools.lru_cache(maxsize=1)
def _lark() -> Any:
    from lark import Lark

    return Lark(grammar_path().read_text(encoding="utf-8"), parser="lalr", lexer="basic",
                postlex=Layout(), propagate_positions=True, maybe_placeholders=True,
                cache=_cache_file())


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
        return os.path.join(folder, "lark-lalr.cache") if os.access(folder, os.W_OK) else True
    except OSError:
        return os.path.join(tempfile.gettempdir(), "archlang-lark-lalr.cache")


@functools.lru_cache(maxsize=256)
def parse(text: str, file: str = "<spec>") -> s.Module:
    """Parse the text of one ``.arch`` file; raises :class:`ArchError` on a syntax error."""
    from lark.exceptions import UnexpectedInput

    try:
        return s.Module(file, tuple(_ToSyntax(file).transform(_lark().parse(text))))
    except UnexpectedInput as exc:
        raise ArchError(_syntax_errors(exc, text, file), {file: text}) from None
    except RecursionError:
        raise ArchError([Diagnostic(Severity.ERROR, "the spec is nested too deeply to read",
                                    Span(file, 1, 1, 1, 2))], {file: text}) from None
    except ArchError as exc:  # a statement the transformer refuses (`input` with two shapes)
        raise ArchError(exc.diagnostics, {file: text}) from None


# --- syntax errors -----------------------------------------------------------------------

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
            _lark().parse("\n".join(lines))
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
    "ADD_OP": "`+` or `-`", "MUL_OP": "`*`, `/`, `//` or `%`",
}


def _readable(kind: str) -> str:
    if kind in _READABLE:
        return _READABLE[kind]
    return f"`{kind.lower()}`" if kind.isalpha() else kind


def _expected(kinds: set[str]) -> list[str]:
    """The readable set of what the parser would have taken: where a layer could start, the
    many ways to start an expression are summed up as one."""
    if "NAME" in kinds:
        kinds -= {"NAME", "FLAG", "FLAGX", "CALLNAME", "ADD_OP", "NOT", "IN", "IF", "DIMS", "INT", "FLOAT", "LPAR"}
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


class _ToSyntax:
    """Turns a Lark tree into :mod:`archlang.syntax` nodes. Pure: no names are resolved."""

    def __init__(self, file: str):
        self.file = file

    def transform(self, tree: Any) -> list[s.Statement]:
        return [stmt for stmt in (self._node(child) for child in tree.children) if stmt is not None]

    # dispatch ------------------------------------------------------------------------------
    def _node(self, node: Any) -> Any:
        from lark import Token

        if node is None:
            return None
        if isinstance(node, Token):
            return node
        return getattr(self, node.data)(node)

    def _kids(self, tree: Any) -> list[Any]:
        return [self._node(c) for c in tree.children]

    def _span(self, tree: Any) -> Span:
        m = tree.meta
        return Span(self.file, m.line, m.column, m.end_line, m.end_column)

    def _tspan(self, tok: Any) -> Span:
        return Span(self.file, tok.line, tok.column, tok.end_line, tok.end_column)

    # statements -------------------------------------------------------------------------
    def header(self, t: Any) -> s.Header:
        name, *params = self._kids(t)
        return s.Header(str(name), tuple(p for p in params if p is not None), self._span(t))

    def param(self, t: Any) -> s.Param:
        name, default = self._kids(t)
        return s.Param(str(name), default, self._span(t))

    def input_stmt(self, t: Any) -> s.Input:
        args = _glue(self._kids(t))
        if len(args) != 1 or not isinstance(args[0], s.SizeArg):
            raise ArchError([Diagnostic(Severity.ERROR, "`input` takes one shape, `HxWxC` or `N`",
                                        self._span(t), help="write e.g. `input 32x32x3` or `input 784`")])
        return s.Input(args[0].parts, self._span(t))

    def use_stmt(self, t: Any) -> s.Use:
        (tok,) = t.children
        return s.Use(str(tok)[1:-1], self._span(t))

    def block_def(self, t: Any) -> s.BlockDef:
        kids = self._kids(t)
        name, body = kids[0], kids[-1]
        params = tuple(p for p in kids[1:-1] if p is not None)
        return s.BlockDef(str(name), params, body, self._span(t), self._tspan(name), self.file)

    def body(self, t: Any) -> tuple[s.Statement, ...]:
        return tuple(k for k in self._kids(t) if k is not None)

    def assign(self, t: Any) -> s.Assign:
        name, value = self._kids(t)
        return s.Assign(str(name), value, self._span(t), self._tspan(name))

    def chain_stmt(self, t: Any) -> s.ChainStmt:
        (chain,) = self._kids(t)
        return s.ChainStmt(chain, self._span(t))

    def ident(self, t: Any) -> Any:
        return t.children[0]

    callname = ident

    # expressions --------------------------------------------------------------------------
    def seq(self, t: Any) -> s.Seq:
        return s.Seq(tuple(self._kids(t)), self._span(t))

    def or_op(self, t: Any) -> s.BinOp:
        left, right = self._kids(t)
        return s.BinOp("or", left, right, self._span(t))

    def and_op(self, t: Any) -> s.BinOp:
        left, right = self._kids(t)
        return s.BinOp("and", left, right, self._span(t))

    def not_op(self, t: Any) -> s.UnaryOp:
        (operand,) = self._kids(t)
        return s.UnaryOp("not", operand, self._span(t))

    def compare(self, t: Any) -> s.BinOp:
        left, op, right = self._kids(t)
        return s.BinOp(str(op), left, right, self._span(t))

    binop = compare

    def unary(self, t: Any) -> s.UnaryOp:
        op, operand = self._kids(t)
        return s.UnaryOp(str(op), operand, self._span(t))

    def int_lit(self, t: Any) -> s.Number:
        return s.Number(_integer(str(t.children[0]), self._span(t)), self._span(t))

    def float_lit(self, t: Any) -> s.Number:
        return s.Number(float(t.children[0]), self._span(t))

    def in_dim(self, t: Any) -> s.InDim:
        return s.InDim(str(t.children[0]), self._span(t))

    def paren(self, t: Any) -> s.Paren:
        (inner,) = self._kids(t)
        return s.Paren(inner, self._span(t))

    def if_expr(self, t: Any) -> s.IfElse:
        cond, then, orelse = self._kids(t)
        return s.IfElse(cond, then, orelse, self._span(t))

    def call(self, t: Any) -> s.Call:
        name, *args = self._kids(t)
        wrapped = tuple(a if isinstance(a, s.Argument) else s.Argument(None, a, _span_of(a))
                        for a in args if a is not None)
        return s.Call(str(name), wrapped, self._span(t), self._tspan(name))

    def kwarg(self, t: Any) -> s.Argument:
        name, value = self._kids(t)
        return s.Argument(str(name), value, self._span(t))

    # layers -------------------------------------------------------------------------------
    def layer(self, t: Any) -> s.Layer:
        name, *args = self._kids(t)
        return s.Layer(str(name), tuple(_glue(args)), self._span(t), self._tspan(name))

    def dims_arg(self, t: Any) -> s.SizeArg:
        tok = t.children[0]
        span = self._tspan(tok)
        return s.SizeArg(tuple(s.Number(_integer(v, span), span) for v in str(tok).split("x")), span)

    def int_arg(self, t: Any) -> s.SizeArg:
        span = self._span(t)
        return s.SizeArg((s.Number(_integer(str(t.children[0]), span), span),), span)

    def float_arg(self, t: Any) -> s.SizeArg:
        span = self._span(t)
        return s.SizeArg((s.Number(float(t.children[0]), span),), span)

    def flag_arg(self, t: Any) -> s.FlagArg:
        text, span = str(t.children[0]), self._span(t)
        return s.FlagArg(text[0], tuple(s.Number(_integer(v, span), span) for v in text[1:].split("x")), span)

    def flagx_arg(self, t: Any) -> s.FlagArg:
        letter, value = self._kids(t)
        return s.FlagArg(str(letter), (value,), self._span(t))

    def paren_arg(self, t: Any) -> s.SizeArg:
        (inner,) = self._kids(t)
        span = self._span(t)
        return s.SizeArg((s.Paren(inner, span),), span)

    def word_arg(self, t: Any) -> s.WordArg:
        return s.WordArg(str(t.children[0]), self._span(t))

    def keyword_arg(self, t: Any) -> s.KeywordArg:
        name, value = self._kids(t)
        return s.KeywordArg(str(name), value, self._span(t))

    def word_value(self, t: Any) -> str:
        return str(t.children[0])

    def string_value(self, t: Any) -> str:
        return str(t.children[0])[1:-1]


def _integer(digits: str, span: Span) -> int:
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
