"""``archlang lsp``: a Language Server Protocol server over standard input and output (pygls).

Diagnostics are published when a document opens and, debounced, after each change; every other
request works on the latest analysis, made at once if an edit is still waiting. The answers
themselves are :mod:`archlang.tooling.features`'s; this module only speaks the protocol.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lsprotocol import types as lsp
from pygls.lsp.server import LanguageServer
from pygls.uris import from_fs_path, to_fs_path

from . import adapter, features
from .adapter import Analysis, Span

DEBOUNCE_S = 0.03  # coalesces a burst of keystrokes; analysing ResNet-152 takes about 20 ms
NAME = "archlang"

_COMPLETION_KINDS = {
    "op": lsp.CompletionItemKind.Function, "block": lsp.CompletionItemKind.Class,
    "combinator": lsp.CompletionItemKind.Operator, "function": lsp.CompletionItemKind.Function,
    "keyword": lsp.CompletionItemKind.Keyword, "tensor": lsp.CompletionItemKind.Variable,
    "constant": lsp.CompletionItemKind.Constant, "flag": lsp.CompletionItemKind.Property,
    "word": lsp.CompletionItemKind.EnumMember, "parameter": lsp.CompletionItemKind.Variable,
    "dim": lsp.CompletionItemKind.Field,
}
_SYMBOL_KINDS = {
    "block": lsp.SymbolKind.Class, "binding": lsp.SymbolKind.Variable, "constant": lsp.SymbolKind.Constant,
    "parameter": lsp.SymbolKind.TypeParameter, "network": lsp.SymbolKind.Module,
    "variant": lsp.SymbolKind.EnumMember, "label": lsp.SymbolKind.Field,
}


@dataclass
class _Document:
    analysis: Analysis | None = None
    timer: asyncio.TimerHandle | None = None


class ArchLanguageServer(LanguageServer):
    """The server, with one analysis per open document."""

    def __init__(self) -> None:
        from ..core import VERSION as __version__

        super().__init__(NAME, __version__)
        self.open: dict[str, _Document] = {}

    def analysis(self, uri: str) -> Analysis:
        """The document's analysis, made now if its text changed since the last one."""
        doc = self.workspace.get_text_document(uri)
        state = self.open.setdefault(uri, _Document())
        if state.analysis is None or state.analysis.text != doc.source:
            self.refresh(uri)
        assert state.analysis is not None
        return state.analysis

    def refresh(self, uri: str) -> None:
        """Analyse the document and publish its diagnostics."""
        state = self.open.setdefault(uri, _Document())
        if state.timer is not None:
            state.timer.cancel()
            state.timer = None
        doc = self.workspace.get_text_document(uri)
        state.analysis = found = adapter.analyse(doc.source, to_fs_path(uri) or uri)
        diagnostics = [_diagnostic(d, found) for d in found.diagnostics]
        self.text_document_publish_diagnostics(
            lsp.PublishDiagnosticsParams(uri=uri, diagnostics=diagnostics, version=doc.version))

    def schedule(self, uri: str) -> None:
        state = self.open.setdefault(uri, _Document())
        if state.timer is not None:
            state.timer.cancel()
        state.timer = asyncio.get_running_loop().call_later(DEBOUNCE_S, self.refresh, uri)


server = ArchLanguageServer()


@server.feature(lsp.TEXT_DOCUMENT_DID_OPEN)
def did_open(ls: ArchLanguageServer, params: lsp.DidOpenTextDocumentParams) -> None:
    ls.refresh(params.text_document.uri)


@server.feature(lsp.TEXT_DOCUMENT_DID_CHANGE)
async def did_change(ls: ArchLanguageServer, params: lsp.DidChangeTextDocumentParams) -> None:
    ls.schedule(params.text_document.uri)


@server.feature(lsp.TEXT_DOCUMENT_DID_SAVE)
def did_save(ls: ArchLanguageServer, params: lsp.DidSaveTextDocumentParams) -> None:
    ls.refresh(params.text_document.uri)  # a file it `use`s may have changed


@server.feature(lsp.TEXT_DOCUMENT_DID_CLOSE)
def did_close(ls: ArchLanguageServer, params: lsp.DidCloseTextDocumentParams) -> None:
    state = ls.open.pop(params.text_document.uri, None)
    if state is not None and state.timer is not None:
        state.timer.cancel()
    ls.text_document_publish_diagnostics(lsp.PublishDiagnosticsParams(uri=params.text_document.uri, diagnostics=[]))


@server.feature(lsp.TEXT_DOCUMENT_HOVER)
def hover(ls: ArchLanguageServer, params: lsp.HoverParams) -> lsp.Hover | None:
    line, col = _position(params.position)
    found = features.hover(ls.analysis(params.text_document.uri), line, col)
    if found is None:
        return None
    text, span = found
    return lsp.Hover(lsp.MarkupContent(lsp.MarkupKind.Markdown, text), _range(span))


@server.feature(lsp.TEXT_DOCUMENT_INLAY_HINT)
def inlay_hint(ls: ArchLanguageServer, params: lsp.InlayHintParams) -> list[lsp.InlayHint]:
    found = ls.analysis(params.text_document.uri)
    hints = features.inlay_hints(found, params.range.start.line + 1, params.range.end.line + 1)
    return [lsp.InlayHint(lsp.Position(h.line - 1, h.col - 1), h.label, kind=lsp.InlayHintKind.Type,
                          padding_left=True) for h in hints]


@server.feature(lsp.TEXT_DOCUMENT_DEFINITION)
def definition(ls: ArchLanguageServer, params: lsp.DefinitionParams) -> lsp.Location | None:
    line, col = _position(params.position)
    target = features.definition(ls.analysis(params.text_document.uri), line, col)
    if target is None:
        return None
    where = _range(target.span) if target.span is not None else lsp.Range(lsp.Position(0, 0), lsp.Position(0, 0))
    return lsp.Location(from_fs_path(target.file) or target.file, where)


@server.feature(lsp.TEXT_DOCUMENT_COMPLETION, lsp.CompletionOptions(trigger_characters=[" ", "(", "."]))
def completion(ls: ArchLanguageServer, params: lsp.CompletionParams) -> lsp.CompletionList:
    line, col = _position(params.position)
    items = features.completions(ls.analysis(params.text_document.uri), line, col)
    return lsp.CompletionList(is_incomplete=False, items=[
        lsp.CompletionItem(c.label, kind=_COMPLETION_KINDS.get(c.kind), detail=c.detail, insert_text=c.insert)
        for c in items])


@server.feature(lsp.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
def document_symbol(ls: ArchLanguageServer, params: lsp.DocumentSymbolParams) -> list[lsp.DocumentSymbol]:
    return [_symbol(x) for x in features.symbols(ls.analysis(params.text_document.uri))]


# --- conversions -----------------------------------------------------------------------------------


def _position(p: lsp.Position) -> tuple[int, int]:
    return p.line + 1, p.character + 1


def _range(span: Span) -> lsp.Range:
    return lsp.Range(lsp.Position(span.line - 1, span.col - 1), lsp.Position(span.end_line - 1, span.end_col - 1))


def _symbol(x: features.Symbol) -> lsp.DocumentSymbol:
    return lsp.DocumentSymbol(x.name, _SYMBOL_KINDS.get(x.kind, lsp.SymbolKind.Variable), _range(x.whole),
                              _range(x.span), detail=x.detail, children=[_symbol(c) for c in x.children] or None)


def _diagnostic(d: Any, found: Analysis) -> lsp.Diagnostic:
    """The command line's message (with its notes and help) at the command line's span; a
    mistake in a file brought in with `use` is shown on that `use` line."""
    text = "\n".join([d.message, *(f"note: {n}" for n in d.notes), *([f"help: {d.help}"] if d.help else [])])
    severity = lsp.DiagnosticSeverity.Error if d.is_error else lsp.DiagnosticSeverity.Warning
    where = lsp.Range(lsp.Position(0, 0), lsp.Position(0, 1))
    if d.span is not None and d.span.file == found.file:
        where = _range(d.span)
    elif d.span is not None:
        text = f"{d.span.file}:{d.span.line}:{d.span.col}: {text}"
        origin = Path(d.span.file).resolve()
        use = next((span for span, path in found.uses if path == origin), None)
        if use is not None:
            where = _range(use)
    return lsp.Diagnostic(where, text, severity=severity, source=NAME)


def serve() -> None:
    """Serve over standard input and output until the client leaves."""
    server.start_io()
