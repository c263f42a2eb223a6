"""The tokenizer Lark's parser reads: Lark's own tokenization, in one tight loop.

Lark's basic lexer finds each token through five calls (its thread, ``next_token``, ``match``,
the scanner, a line counter) and sets every position attribute one by one; at 100,000 layers that
is over a quarter of the parse. This lexer is Lark's custom-lexer interface (``Lark(lexer=Tokenizer)``):
the terminals, their order, the keyword rule (a name that spells a keyword becomes that keyword)
and the compiled patterns are Lark's own, taken from the :class:`lark.lexer.BasicLexer` built
for the same grammar, so it yields exactly Lark's tokens; only the loop is ours. Where that lexer
lacks what the loop reads (another Lark version), Lark's own ``lex`` is used."""

from __future__ import annotations

from typing import Any, Iterator

from lark.exceptions import UnexpectedCharacters
from lark.lexer import BasicLexer, Lexer, LexerThread, Token


class Tokenizer(Lexer):
    """Lark's basic lexer for the grammar in ``conf``, with a faster loop."""

    def __init__(self, conf: Any) -> None:
        self.basic = BasicLexer(conf)
        scanner = self.basic.scanner  # builds the keyword callbacks too
        self.patterns = [p.match for p in getattr(scanner, "_mres", ())]
        self.callbacks: dict[str, Any] = getattr(self.basic, "callback", None) or {}
        self.ignored = self.basic.ignore_types
        self.multiline = self.basic.newline_types
        self.allowed = scanner.allowed_types - self.ignored or {"<END-OF-FILE>"}
        # Token's constructor forwards to this classmethod through `*args`: calling it directly
        # halves the cost of making a token
        self.new_token = getattr(Token, "_future_new", Token)
        self.fast = bool(self.patterns) and all(callable(c) for c in self.callbacks.values())

    def lex(self, text: str) -> Iterator[Token]:  # type: ignore[override]  # Lark's interface 0
        if not self.fast:
            yield from LexerThread.from_text(self.basic, text).lex(None)
            return
        patterns, callbacks, ignored, multiline = self.patterns, self.callbacks, self.ignored, self.multiline
        new_token = self.new_token
        pos, end, line, line_start = 0, len(text), 1, 0
        last = None
        while pos < end:
            for match in patterns:
                m = match(text, pos)
                if m is not None:
                    break
            else:
                raise UnexpectedCharacters(text, pos, line, pos - line_start + 1, allowed=self.allowed,
                                           token_history=last and [last],
                                           terminals_by_name=self.basic.terminals_by_name)
            kind = m.lastgroup
            stop = m.end()
            start_line, start_column = line, pos - line_start + 1
            if kind in multiline:
                newlines = text.count("\n", pos, stop)
                if newlines:
                    line += newlines
                    line_start = text.rindex("\n", pos, stop) + 1
            if kind not in ignored or kind in callbacks:
                token = new_token(kind, m.group(), pos, start_line, start_column, line, stop - line_start + 1, stop)
                if kind in callbacks:
                    token = callbacks[kind](token)
                if kind not in ignored:
                    last = token
                    yield token
            pos = stop
