"""How soon after an edit does `archlang lsp` answer for a ResNet-152 spec (516 layers)?

    python bench/lsp_latency.py [--edits 20]

Starts the server as a subprocess with pygls's client, opens specs/resnet.arch at depth 152,
then edits it (the class count changes, so the whole network is analysed again) and measures,
as medians over the edits:

- edit -> diagnostics published (the debounce of the server included),
- edit -> hover answered at once (a request analyses a changed document without waiting),
- the analysis alone, in this process.

Goal: the network re-analysed within 100 ms of an edit."""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

from lsprotocol import types as lsp
from pygls.lsp.client import LanguageClient

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "specs" / "resnet.arch"
GOAL_MS = 100


def resnet152(classes: int) -> str:
    text = SPEC.read_text().replace("depth = 50", "depth = 152")
    return text.replace("classes = 1000", f"classes = {classes}")


async def measure(edits: int) -> tuple[list[float], list[float]]:
    client = LanguageClient("archlang-bench", "1")
    published: asyncio.Queue[tuple[float, int | None]] = asyncio.Queue()

    @client.feature(lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    def on_diagnostics(params: lsp.PublishDiagnosticsParams) -> None:
        assert not params.diagnostics, params.diagnostics
        published.put_nowait((time.perf_counter(), params.version))

    await client.start_io(sys.executable, "-m", "archlang.cli", "lsp")
    await client.initialize_async(lsp.InitializeParams(capabilities=lsp.ClientCapabilities()))
    client.initialized(lsp.InitializedParams())
    uri = SPEC.resolve().as_uri()
    client.text_document_did_open(lsp.DidOpenTextDocumentParams(lsp.TextDocumentItem(uri, "archlang", 1,
                                                                                      resnet152(1000))))
    await published.get()
    lines = SPEC.read_text().splitlines()
    last = next(i for i, line in enumerate(lines) if "fc classes" in line)
    head = lsp.Position(last, lines[last].index("fc classes") + 1)  # the classifier: its output changes
    to_diagnostics, to_hover = [], []
    version = 1
    for i in range(edits):
        version += 1
        start = time.perf_counter()
        client.text_document_did_change(lsp.DidChangeTextDocumentParams(
            lsp.VersionedTextDocumentIdentifier(version=version, uri=uri),
            [lsp.TextDocumentContentChangeWholeDocument(text=resnet152(1001 + i))]))
        while True:
            when, seen = await published.get()
            if seen == version:
                break
        to_diagnostics.append((when - start) * 1000)
        await asyncio.sleep(0.05)
        version += 1
        start = time.perf_counter()
        client.text_document_did_change(lsp.DidChangeTextDocumentParams(
            lsp.VersionedTextDocumentIdentifier(version=version, uri=uri),
            [lsp.TextDocumentContentChangeWholeDocument(text=resnet152(2001 + i))]))
        hover = await client.text_document_hover_async(lsp.HoverParams(lsp.TextDocumentIdentifier(uri), head))
        to_hover.append((time.perf_counter() - start) * 1000)
        assert hover is not None and f"{2001 + i}" in hover.contents.value, hover
        await published.get()
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()
    return to_diagnostics, to_hover


def analysis_alone(edits: int) -> list[float]:
    from archlang.tooling.adapter import analyse

    times = []
    for i in range(edits):
        text = resnet152(3001 + i)
        start = time.perf_counter()
        found = analyse(text, str(SPEC))
        times.append((time.perf_counter() - start) * 1000)
        assert not found.diagnostics and len(found.layers) > 500
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--edits", type=int, default=20)
    args = parser.parse_args()
    from archlang.tooling.server import DEBOUNCE_S

    diagnostics, hover = asyncio.run(measure(args.edits))
    alone = analysis_alone(args.edits)
    for label, values in (("edit -> diagnostics published", diagnostics), ("edit -> hover answered", hover),
                          ("analysis alone (in process)", alone)):
        median = statistics.median(values)
        verdict = "met" if median <= GOAL_MS else "NOT met"
        print(f"{label:32} median {median:6.1f} ms  max {max(values):6.1f} ms   goal <= {GOAL_MS} ms: {verdict}")
    print(f"(ResNet-152, {args.edits} edits; the server waits {DEBOUNCE_S * 1000:.0f} ms after a change "
          "before analysing, to coalesce keystrokes)")


if __name__ == "__main__":
    main()
