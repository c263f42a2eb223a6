"""Editor tooling: the language server, the formatter, the Pygments lexer and watch mode.

Everything here reaches archlang's parser and analysis through :mod:`archlang.tooling.adapter`
only, so that the rest of the package can change shape without touching the tools. The modules
that need optional dependencies (``pygls``, ``lsprotocol``, ``pygments``, ``watchfiles``) import
them lazily; install them with ``pip install "archlang[lsp]"``.
"""

from __future__ import annotations

EXTRA = "lsp"


def missing_extra(module: str) -> str:
    """The message a command prints when an optional dependency of the tooling is missing."""
    return (f"this command needs the `{module}` package, which is not installed\n"
            f"help: install the editor tooling with `pip install \"archlang[{EXTRA}]\"`")
