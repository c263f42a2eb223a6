"""`archlang lsp` end to end: a real client (pytest-lsp) starts the server as a subprocess and
checks diagnostics, hover, inlay hints, definitions, completion and symbols on specs from specs/."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types as lsp
from pygls.uris import from_fs_path
from pytest_lsp import ClientServerConfig, LanguageClient

from conftest import SPECS

pytestmark = pytest.mark.asyncio


@pytest_lsp.fixture(config=ClientServerConfig(server_command=[sys.executable, "-m", "archlang.cli", "lsp"]))
async def client(lsp_client: LanguageClient):
    await lsp_client.initialize_session(lsp.InitializeParams(capabilities=lsp.ClientCapabilities()))
    yield
    await lsp_client.shutdown_session()


async def open_spec(client: LanguageClient, path: Path, text: str | None = None) -> str:
    """Open ``path`` (with ``text`` instead of its content, if given) and wait for its diagnostics."""
    uri = from_fs_path(str(path))
    assert uri is not None
    client.text_document_did_open(lsp.DidOpenTextDocumentParams(
        lsp.TextDocumentItem(uri, "archlang", 1, path.read_text() if text is None else text)))
    await client.wait_for_notification(lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    return uri


def position(text: str, needle: str, offset: int = 0) -> lsp.Position:
    """The position of the first ``needle`` in ``text`` (plus ``offset`` characters)."""
    for number, line in enumerate(text.splitlines()):
        if needle in line:
            return lsp.Position(number, line.index(needle) + offset)
    raise AssertionError(f"{needle!r} not found")


async def test_diagnostics_of_a_spec_with_an_error_then_fixed(client: LanguageClient, tmp_path: Path) -> None:
    lenet = (SPECS / "lenet5.arch").read_text()
    broken = lenet.replace("-> flatten ", "")
    assert broken != lenet
    path = tmp_path / "lenet5.arch"
    uri = await open_spec(client, path, broken)
    (diag,) = client.diagnostics[uri]
    # the command line's message, help and span (checked against `archlang check` below)
    path.write_text(broken)
    from conftest import run_cli

    status, _, err = run_cli("check", str(path))
    head = err.splitlines()[0]
    line, col = (int(x) for x in head.split(":")[1:3])
    assert status == 1 and diag.message.splitlines()[0] == head.split(": error: ")[1]
    assert diag.severity == lsp.DiagnosticSeverity.Error
    assert (diag.range.start.line, diag.range.start.character) == (line - 1, col - 1)
    assert "help: insert `flatten ->` before `fc`" in diag.message

    client.text_document_did_change(lsp.DidChangeTextDocumentParams(
        lsp.VersionedTextDocumentIdentifier(version=2, uri=uri), [lsp.TextDocumentContentChangeWholeDocument(text=lenet)]))
    await client.wait_for_notification(lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    assert list(client.diagnostics[uri]) == []


async def test_warnings_are_warnings(client: LanguageClient, tmp_path: Path) -> None:
    uri = await open_spec(client, tmp_path / "w.arch", "input 28x28x1\nconv 3x3 s2 x4\n")
    (diag,) = client.diagnostics[uri]
    assert diag.severity == lsp.DiagnosticSeverity.Warning and "unused" in diag.message


async def test_hover_and_inlay_hints_on_resnet(client: LanguageClient) -> None:
    path = SPECS / "resnet.arch"
    text = path.read_text()
    uri = await open_spec(client, path)
    assert list(client.diagnostics[uri]) == []
    # the stem's first convolution: 224x224x3 -> 112x112x64, 9,408 parameters, 118,013,952 mults
    hover = await client.text_document_hover_async(lsp.HoverParams(
        lsp.TextDocumentIdentifier(uri), position(text, "conv 7x7", 2)))
    assert hover is not None
    value = hover.contents.value
    assert "112x112x64" in value and "parameters 9,408" in value and "multiplies 118,013,952" in value
    # a layer inside a block: one row per distinct result, with the instance count
    hover = await client.text_document_hover_async(lsp.HoverParams(
        lsp.TextDocumentIdentifier(uri), position(text, "-> conv 3x3 s(s) p1 x(c) nobias", 4)))
    assert hover is not None and "instances" in hover.contents.value
    assert "56x56x64" in hover.contents.value and "7x7x512" in hover.contents.value

    lines = text.splitlines()
    hints = await client.text_document_inlay_hint_async(lsp.InlayHintParams(
        lsp.TextDocumentIdentifier(uri), lsp.Range(lsp.Position(0, 0), lsp.Position(len(lines), 0))))
    by_line = {h.position.line: h.label for h in hints}
    stem = next(i for i, line in enumerate(lines) if line.startswith("stem ="))
    assert by_line[stem] == " → 56x56x64"  # after the max pool
    head = next(i for i, line in enumerate(lines) if line.startswith("head ="))
    assert by_line[head] == " → 1000"
    layer2 = next(i for i, line in enumerate(lines) if line.startswith("layer2 ="))
    assert by_line[layer2] == " → 28x28x512"
    hint = next(h for h in hints if h.position.line == stem)
    assert hint.position.character == len(lines[stem].rstrip())


async def test_definition(client: LanguageClient, tmp_path: Path) -> None:
    path = SPECS / "resnet.arch"
    text = path.read_text()
    uri = await open_spec(client, path)
    lines = text.splitlines()

    async def goto(needle: str, offset: int = 0) -> lsp.Location:
        found = await client.text_document_definition_async(lsp.DefinitionParams(
            lsp.TextDocumentIdentifier(uri), position(text, needle, offset)))
        assert isinstance(found, lsp.Location)
        return found

    unit = await goto("layer1 = unit", len("layer1 = "))  # a block
    assert lines[unit.range.start.line].startswith("block unit(") and unit.range.start.character == 6
    n1 = await goto("unit(64) * n1", len("unit(64) * "))  # a constant
    assert lines[n1.range.start.line].startswith("n1 = ")
    depth = await goto("if depth >= 50", 4)  # a header parameter, from inside a block
    assert lines[depth.range.start.line].startswith("network resnet(depth")
    c = await goto("x(c * 4) nobias -> bn,", 2)  # a block's own parameter
    assert lines[c.range.start.line].startswith("block bottleneck(c")

    library = tmp_path / "blocks.arch"
    library.write_text("width = 8\nblock stage(c) { conv 3x3 same x(c) -> relu }\n")
    main = "use \"blocks.arch\"\ninput 16x16x3\nfeatures = stage(width) -> stage(16)\n"
    muri = await open_spec(client, tmp_path / "main.arch", main)
    assert list(client.diagnostics[muri]) == []
    used = await client.text_document_definition_async(lsp.DefinitionParams(
        lsp.TextDocumentIdentifier(muri), position(main, "blocks.arch")))
    assert isinstance(used, lsp.Location) and used.uri == from_fs_path(str(library))
    stage = await client.text_document_definition_async(lsp.DefinitionParams(
        lsp.TextDocumentIdentifier(muri), position(main, "stage(width)")))
    assert isinstance(stage, lsp.Location) and stage.uri == from_fs_path(str(library))
    assert (stage.range.start.line, stage.range.start.character) == (1, 6)


async def test_completion_and_symbols(client: LanguageClient) -> None:
    path = SPECS / "googlenet.arch"
    text = path.read_text()
    uri = await open_spec(client, path)

    async def labels(needle: str, offset: int) -> set[str]:
        found = await client.text_document_completion_async(lsp.CompletionParams(
            lsp.TextDocumentIdentifier(uri), position(text, needle, offset)))
        assert isinstance(found, lsp.CompletionList)
        return {item.label for item in found.items}

    after_arrow = await labels("-> maxpool 3 s2 ceil -> basic(64)", 3)  # a chain element starts here
    assert {"conv", "maxpool", "relu", "concat", "basic", "inception", "identity", "stem"} <= after_arrow
    conv_args = await labels("conv (k)x(k) s(s)", len("conv (k)x(k) "))  # the arguments of `conv`
    assert {"s", "p", "x", "g", "d", "same", "valid", "nobias"} <= conv_args and "relu" not in conv_args
    bn_args = await labels("bn eps=0.001", 3)
    assert {"eps=", "momentum="} <= bn_args
    call_args = await labels("basic(64, k = 7", len("basic(64, "))  # inside a block call: its parameters
    assert {"c", "k", "s"} <= call_args and "classes" in call_args

    symbols = await client.text_document_document_symbol_async(lsp.DocumentSymbolParams(
        lsp.TextDocumentIdentifier(uri)))
    names = [(s.name, s.kind) for s in symbols]
    assert ("basic", lsp.SymbolKind.Class) in names and ("inception", lsp.SymbolKind.Class) in names
    assert ("stem", lsp.SymbolKind.Variable) in names and ("classes", lsp.SymbolKind.TypeParameter) in names
    stem = next(s for s in symbols if s.name == "stem")
    assert stem.detail == "28x28x192"
    inception = next(s for s in symbols if s.name == "inception")
    assert [c.name for c in inception.children] == ["c1", "c3r", "c3", "c5r", "c5", "pool"]


def version_2_spec(name: str) -> Path:
    """A version 2 spec, in specs/ or in specs/v2/ (where it was first written)."""
    (path,) = [p for p in (SPECS / name, SPECS / "v2" / name) if p.is_file()]
    return path


async def test_version_2_symbols_definitions_hover_and_completion(client: LanguageClient) -> None:
    path = version_2_spec("yolov8.arch")
    text = path.read_text()
    uri = await open_spec(client, path)
    # no error; the one warning is the spec's own: `dfl` is built for the checkpoint but feeds no output
    assert [d.message.split("\n")[0] for d in client.diagnostics[uri]] == ["`dfl` feeds no output"]
    lines = text.splitlines()
    symbols = await client.text_document_document_symbol_async(lsp.DocumentSymbolParams(
        lsp.TextDocumentIdentifier(uri)))
    variants = [(s.name, s.detail) for s in symbols if s.kind == lsp.SymbolKind.EnumMember]
    assert variants[0] == ("n", "variant n(depth = 0.33, width = 0.25, maxc = 1024)")
    assert [name for name, _ in variants] == ["n", "s", "m", "l", "x"]
    c2f = next(s for s in symbols if s.name == "c2f")
    assert [(c.name, c.kind) for c in c2f.children if c.kind == lsp.SymbolKind.Field] == [
        ("cv1", lsp.SymbolKind.Field), ("m", lsp.SymbolKind.Field), ("cv2", lsp.SymbolKind.Field)]

    async def goto(source: str, needle: str, offset: int) -> str:
        found = await client.text_document_definition_async(lsp.DefinitionParams(
            lsp.TextDocumentIdentifier(source), position(text, needle, offset)))
        assert isinstance(found, lsp.Location)
        return lines[found.range.start.line]

    assert (await goto(uri, "output p3, p4", len("output p3, "))).startswith("p4 = ")  # a name in `output`
    assert (await goto(uri, "and p5.c == p3.c", len("and "))).startswith("p5 = ")  # a name in `assert`

    hover = await client.text_document_hover_async(lsp.HoverParams(
        lsp.TextDocumentIdentifier(uri), position(text, "output p3, p4", len("output p3, "))))
    assert hover is not None and isinstance(hover.contents, lsp.MarkupContent)
    # the default (no variant): res 640, 80x80 at stride 8, 4 * reg_max + classes = 4 * 16 + 80 channels
    assert hover.contents.value == "**output `p4`** → `40x40x144`"

    found = await client.text_document_completion_async(lsp.CompletionParams(
        lsp.TextDocumentIdentifier(uri), lsp.Position(len(lines), 0)))
    assert isinstance(found, lsp.CompletionList)
    labels = {item.label for item in found.items}
    assert {"output", "variant", "assert", "droppath", "resize", "layerscale", "hflip"} <= labels

    fcn = version_2_spec("fcn_resnet50.arch")
    text, uri = fcn.read_text(), await open_spec(client, fcn)
    lines = text.splitlines()
    assert (await goto(uri, "like=input", len("like="))).startswith("input ")  # `like=NAME`
    assert (await goto(uri, "out = classifier", len("out = "))).startswith("classifier = ")
    hover = await client.text_document_hover_async(lsp.HoverParams(
        lsp.TextDocumentIdentifier(uri), position(text, "aux = aux_classifier", 2)))
    assert hover is not None and isinstance(hover.contents, lsp.MarkupContent)
    # resized like the 520x520 input, with 21 classes
    assert hover.contents.value == "**output `aux`** (tensor `aux_classifier`) → `520x520x21`"
