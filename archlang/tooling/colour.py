"""Colours for the source excerpts of diagnostics, on a terminal only: ``check`` imports this
(and Pygments) only when standard error is a terminal, so piped and scripted runs stay fast."""

from __future__ import annotations

import re

# a quoted source line: its gutter plain, or painted blue by core.errors.render
_EXCERPT = re.compile(r"^((?:\x1b\[1;34m)?\d+ \|(?:\x1b\[0m)? )(.*)$", re.MULTILINE)


def colour_excerpts(rendered: str) -> str:
    """``rendered`` diagnostics with each quoted source line highlighted as archlang; unchanged
    when Pygments is not installed."""
    try:
        from pygments import highlight
        from pygments.formatters import TerminalFormatter

        from .lexer import ArchLexer
    except ImportError:
        return rendered
    lexer, formatter = ArchLexer(), TerminalFormatter()

    def paint(m: re.Match[str]) -> str:
        return m.group(1) + highlight(m.group(2), lexer, formatter).rstrip("\n")

    return _EXCERPT.sub(paint, rendered)
