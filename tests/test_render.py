"""Diagrams: SVG output parsed as XML, golden DOT files, folding, freeze marking, and the
fallback without Graphviz."""

from __future__ import annotations

import os
import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import archlang
from archlang.api import load
from archlang.emit.dot import boxes_and_edges, to_dot
from archlang.core.shapes import fmt
from conftest import ROOT, SPECS, run_cli, write

# CI installs Graphviz, and there these tests must run; elsewhere they need `dot` on the path
needs_dot = pytest.mark.skipif(shutil.which("dot") is None and not os.environ.get("CI"),
                               reason="needs Graphviz's `dot`")


def svg_texts(path: Path) -> list[str]:
    root = ET.parse(path).getroot()
    return [t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text")]


@needs_dot
@pytest.mark.parametrize("name", ["lenet5", "inception_module", "tiny_unet", "googlenet"])
def test_svg_shows_every_layer_and_shape(name: str, tmp_path: Path) -> None:
    out = tmp_path / f"{name}.svg"
    status, _, err = run_cli("render", str(SPECS / f"{name}.arch"), "-o", str(out))
    assert status == 0, err
    texts = svg_texts(out)
    graph = load(SPECS / f"{name}.arch")
    for node in graph.layers:
        assert fmt(node.shape) in texts, node.name
        if node.op not in ("concat", "add", "mul"):
            assert any(t.startswith(node.text) for t in texts), node.text
    assert f"input {fmt(graph.input.shape)}" in texts


@pytest.mark.parametrize("name", ["lenet5", "inception_module", "tiny_unet"])
def test_golden_dot(name: str, golden) -> None:
    status, _, _ = run_cli("render", f"specs/{name}.arch", "-o", f"/tmp/archlang-golden-{name}.dot", cwd=ROOT)
    assert status == 0
    golden(f"dot/{name}.dot", Path(f"/tmp/archlang-golden-{name}.dot").read_text())


def test_depth_folds_a_deep_network() -> None:
    graph = load(SPECS / "resnet.arch", {"depth": 152})
    boxes, edges = boxes_and_edges(graph, depth=0)
    folded = [b for b in boxes if b.family == "block"]
    assert len(folded) == 3 + 8 + 36 + 3
    report = archlang.check(SPECS / "resnet.arch", depth=152).fold(0)
    rows = [r for r in report.rows if r.folded]
    assert len(rows) == len(folded)
    for box, row in zip(folded, rows):  # each folded node shows its block's totals
        assert f"{row.params:,} params, {row.mults:,} mults" in box.label
        assert fmt(row.output) in box.label
    assert len(edges) == len(boxes) - 1  # a chain of folded blocks, input to output
    full, _ = boxes_and_edges(graph, depth=None)
    assert len(full) == len(graph.nodes) + 1


def test_clusters_merges_and_freeze(tmp_path: Path) -> None:
    spec = write(tmp_path, "f.arch", "block b(c) { conv 3x3 same x(c) -> relu }\ninput 8x8x3\n"
                 "trunk = freeze(b(4) -> b(4))\nhead = add(identity, conv 1x1 x4) -> gap -> flatten -> fc 2\n")
    dot = to_dot(load(spec))
    assert dot.count("subgraph cluster_") == 4  # trunk, two block instances, head
    assert "label=<trunk>" in dot and "label=<b1: b(4)>" in dot
    assert dot.count("dashed") == 2  # the two frozen convolutions
    assert "(frozen)" in dot and "shape=ellipse" in dot and "<b>+</b>" in dot


def test_names_are_escaped(tmp_path: Path) -> None:
    spec = write(tmp_path, "e.arch", "network a\ninput 8x8x3\nupsample 2 mode=\"bilinear\"\n")
    dot = to_dot(load(spec))
    assert "<b>upsample 2 mode=&quot;bilinear&quot;</b>" in dot


def test_without_graphviz_dot_still_works(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no `dot` on the path
    status, _, _ = run_cli("render", str(SPECS / "lenet5.arch"), "-o", str(tmp_path / "l.dot"))
    assert status == 0 and (tmp_path / "l.dot").read_text().startswith('digraph "lenet5"')
    status, _, err = run_cli("render", str(SPECS / "lenet5.arch"), "-o", str(tmp_path / "m.png"))
    assert status == 2 and "apt-get install graphviz" in err
    assert (tmp_path / "m.dot").exists() and not (tmp_path / "m.png").exists()
    assert run_cli("render", str(SPECS / "lenet5.arch"), "-o", str(tmp_path / "m.jpg"))[0] == 2


def test_dot_crashing_on_a_huge_graph_says_so_and_suggests_depth(tmp_path: Path, monkeypatch) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "dot"  # stands in for Graphviz running out of memory: killed by SIGKILL
    fake.write_text("#!/bin/sh\ncat > /dev/null\nkill -9 $$\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    spec = write(tmp_path, "deep.arch", "input 8x8x4\n(conv 1x1 x4 -> relu) * 600\n")  # 1,200 layers, input, output
    status, _, err = run_cli("render", str(spec), "-o", str(tmp_path / "deep.svg"))
    assert status == 2
    assert "`dot` was killed by signal 9" in err and "1,202 nodes" in err and "`--depth 1`" in err
    assert not (tmp_path / "deep.svg").exists()
    assert "Traceback" not in err


@needs_dot
def test_direction_and_png(tmp_path: Path) -> None:
    out = tmp_path / "x.png"
    assert run_cli("render", str(SPECS / "lenet5.arch"), "-o", str(out), "--direction", "LR")[0] == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "rankdir=LR" in to_dot(load(SPECS / "lenet5.arch"), direction="LR")


@needs_dot
def test_report_diagram_for_jupyter() -> None:
    svg = archlang.check(SPECS / "inception_module.arch").diagram()._repr_svg_()
    assert svg.lstrip().startswith("<?xml") and "28x28x256" in svg


def test_readme_diagrams_are_current() -> None:
    for name in ("lenet5", "inception_module"):
        committed = (ROOT / "docs" / f"{name}.svg").read_text()
        assert re.search(r"<title>\w+</title>", committed)
        graph = load(SPECS / f"{name}.arch")
        for node in graph.layers:
            assert fmt(node.shape) in committed


def test_unwritable_output_is_a_file_error(tmp_path: Path) -> None:
    status, _, err = run_cli("render", str(SPECS / "lenet5.arch"), "-o", str(tmp_path / "no" / "x.dot"))
    assert status == 2 and "cannot write" in err and "graphviz" not in err.lower()
