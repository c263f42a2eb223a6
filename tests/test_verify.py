"""`compile --verify` checks every node against PyTorch, merges and template ops included, on the
very model `--save` writes; the source is generated once."""

from __future__ import annotations

from pathlib import Path

import archlang
import archlang.api
import archlang.emit.build as build
from archlang.api import analyse
from archlang.emit.build import compile_graph, verify_model
from archlang.emit.weights import load_model
from conftest import SPECS, run_cli, write

MIXED = """input 16x16x8
residual(conv 3x3 same x8 -> relu)
concat(chunk 2 0, chunk 2 1 -> conv 1x1 x4)
mul(identity, gap -> conv 1x1 x8 -> sigmoid)
gap -> flatten -> fc 3
"""


def test_every_row_is_checked(tmp_path: Path) -> None:
    spec = write(tmp_path, "mixed.arch", MIXED)
    rows = archlang.check(spec).rows
    assert {r.op.split()[0] for r in rows} >= {"residual", "concat", "chunk", "mul", "gap", "fc"}
    status, out, _ = run_cli("compile", str(spec), "--verify")
    assert status == 0 and out.startswith(f"verified: {len(rows)} layer shapes, ")
    result = build.verify(analyse(MIXED))
    assert [c.name for c in result.layers] == [r.name for r in rows]
    assert all(c.ok for c in result.layers)


def test_a_wrong_merge_shape_is_a_mismatch(tmp_path: Path, monkeypatch) -> None:
    graph = analyse(MIXED)
    merge = next(n for n in graph.layers if n.op == "concat")
    merge.shape = (16, 16, 9)
    result = verify_model(compile_graph(graph), compile_graph(graph).instantiate())
    assert not result.ok
    assert [c.name for c in result.layers if not c.ok] == [merge.name]
    assert f"{merge.name}: analysis says 16x16x9, PyTorch gives 16x16x8" in result.summary()

    def tampered(*args, **kwargs):
        g = analyse(MIXED)
        node = next(n for n in g.layers if n.op == "mul")
        node.shape = (8, 8, 8)
        return g

    monkeypatch.setattr(archlang.api, "load_file", tampered)
    status, _, err = run_cli("compile", "any.arch", "--verify")
    assert status == 3 and "analysis says 8x8x8, PyTorch gives 16x16x8" in err and "MISMATCH" in err


def test_verify_and_save_share_one_compilation(tmp_path: Path, monkeypatch) -> None:
    calls: list[str] = []
    real = build.generate

    def counting(graph, plan=None):
        calls.append(graph.name)
        return real(graph, plan)

    monkeypatch.setattr(build, "generate", counting)
    saved = tmp_path / "lenet.pt"
    status, out, _ = run_cli("compile", str(SPECS / "lenet5.arch"), "--verify", "--save", str(saved),
                             "-o", str(tmp_path / "lenet.py"))
    assert status == 0 and out.startswith("verified: 13 layer shapes, 13 layer values, 61,706 parameters")
    assert calls == ["lenet5"]
    model = load_model(saved)
    assert type(model).archlang_source == (tmp_path / "lenet.py").read_text()
    assert sum(p.numel() for p in model.parameters()) == 61_706
