"""`archlang check`: golden tables for every spec, the invariant that rows add up to the totals,
the output formats, folding, overrides, and that the check path never imports torch."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import pytest

import archlang
from archlang.core.ir import Runs
from archlang.report import Totals
from conftest import ROOT, SPECS, run_cli, write

ALL_SPECS = sorted(p.stem for p in SPECS.glob("*.arch"))


@pytest.mark.parametrize("name", ALL_SPECS)
def test_golden_table(name: str, golden) -> None:
    status, out, _ = run_cli("check", f"specs/{name}.arch", cwd=ROOT)
    assert status == 0
    golden(f"tables/{name}.txt", out)


@pytest.mark.parametrize("name", ALL_SPECS)
def test_rows_add_up_to_totals(name: str) -> None:
    report = archlang.check(SPECS / f"{name}.arch")
    t = report.totals
    assert t == Totals.of(report.rows)
    assert t.params == sum(r.params for r in report.rows)
    # eval multiplies: the rows that run in eval mode; training adds the training-only rows;
    # a row that feeds no output (YOLOv8's DFL) counts parameters but no multiplies
    assert t.mults == sum(r.mults for r in report.rows if r.runs == Runs.ALWAYS)
    assert t.train_mults == sum(r.mults for r in report.rows if r.runs != Runs.NEVER)
    assert t.trainable_params + t.frozen_params == t.params
    for depth in (0, 1, 2):
        folded = report.fold(depth)
        assert sum(r.params for r in folded.rows) == t.params
        assert sum(r.mults for r in folded.rows if r.runs == Runs.ALWAYS) == t.mults
        if len(report.outputs) == 1:
            assert folded.rows[-1].output == report.output
        assert {o.shape for o in report.outputs} <= {r.output for r in folded.rows}


def test_json_has_the_documented_shape() -> None:
    status, out, _ = run_cli("check", str(SPECS / "lenet5.arch"), "--format", "json")
    assert status == 0
    doc = json.loads(out)
    assert doc["network"] == "lenet5" and doc["input"] == [32, 32, 1] and doc["output"] == [10]
    assert set(doc["totals"]) >= {"params", "trainable_params", "mults"}
    assert doc["totals"]["params"] == 61_706 and doc["totals"]["mults"] == 416_520
    first = doc["layers"][0]
    assert first == {"name": "conv1", "op": "conv 5x5 s1 p0 x6", "output": [28, 28, 6], "params": 156,
                     "mults": 117_600, "trainable": True, "line": 6,
                     "rf": [5, 5], "rf_stride": [1, 1], "global_context": False}  # ANALYSIS.md's row fields
    assert [layer["op"].split()[0] for layer in doc["layers"]] == [
        "conv", "tanh", "avgpool", "conv", "tanh", "avgpool", "flatten", "fc", "tanh", "fc", "tanh", "fc", "softmax"]


def test_csv_and_markdown_carry_the_same_rows() -> None:
    report = archlang.check(SPECS / "inception_module.arch")
    _, out, _ = run_cli("check", str(SPECS / "inception_module.arch"), "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["name"] for r in rows] == [r.name for r in report.rows]
    assert sum(int(r["params"]) for r in rows) == report.totals.params
    assert sum(int(r["mults"]) for r in rows) == report.totals.mults
    _, md, _ = run_cli("check", str(SPECS / "inception_module.arch"), "--format", "markdown")
    body = [line for line in md.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(body) == len(report.rows) + 2  # header and total
    assert "| **total** | | 28x28x256 | 163,696 | 128,049,152 |" in md


def test_depth_folds_block_instances() -> None:
    full = archlang.check(SPECS / "resnet.arch", depth=50)
    folded = full.fold(0)
    units = [r for r in folded.rows if r.folded]
    assert len(units) == 3 + 4 + 6 + 3  # one row per bottleneck
    assert [r.name for r in units[:2]] == ["layer1.unit1", "layer1.unit2"]
    first = units[0]
    assert first.op == "unit(64)" and first.output == (56, 56, 256)
    assert first.params == 75_008  # torchvision's layer1[0]: 4,096 + 36,864 + 16,384 + 16,384 + BN 1,280
    _, out, _ = run_cli("check", str(SPECS / "resnet.arch"), "--depth", "0", "--format", "json")
    assert len(json.loads(out)["layers"]) == len(folded.rows)
    deeper = full.fold(1)
    assert len(deeper.rows) == len(folded.rows)  # unit -> bottleneck is one more level
    assert len(full.fold(2).rows) > len(deeper.rows)


def test_defines_and_input_override() -> None:
    status, out, _ = run_cli("check", str(SPECS / "lenet5.arch"), "-D", "classes=3", "--format", "json")
    assert status == 0 and json.loads(out)["output"] == [3]
    status, out, _ = run_cli("check", str(SPECS / "alexnet.arch"), "--input", "256x256x3", "--format", "json")
    doc = json.loads(out)
    assert doc["input"] == [256, 256, 3] and doc["totals"]["params"] == 61_100_840  # adaptive pool
    assert run_cli("check", str(SPECS / "lenet5.arch"), "--input", "32x32")[0] == 2


def test_frozen_parameters_are_counted_apart(tmp_path) -> None:
    spec = write(tmp_path, "t.arch", "input 8x8x3\nfreeze(conv 3x3 x4 -> bn) -> flatten -> fc 2\n")
    report = archlang.check(spec)
    assert report.totals.params == 112 + 8 + 290
    assert report.totals.trainable_params == 290
    assert [r.trainable for r in report.rows] == [False, False, True, True]
    _, out, _ = run_cli("check", str(spec))
    assert "conv1 (frozen)" in out and "Non-trainable params: 120" in out


@pytest.mark.parametrize("command", [["check", "specs/resnet.arch", "--format", "json"],
                                     ["compile", "specs/resnet.arch"]], ids=["check", "compile-source"])
def test_static_commands_never_import_torch(command: list[str]) -> None:
    code = ("import contextlib, io, sys\nfrom archlang.cli import main\nout = io.StringIO()\n"
            f"with contextlib.redirect_stdout(out):\n    rc = main({command!r})\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n"
            "assert 'networkx' not in sys.modules and 'numpy' not in sys.modules and 'rich' not in sys.modules\n"
            "assert out.getvalue()\nsys.exit(rc)\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_python_api_report_objects() -> None:
    report = archlang.check("network t\ninput 6x6x3\nconv 3x3 x10\n")
    assert report.network == "t" and report.totals.params == 280
    assert "conv 3x3 x10" in str(report) and "<table" in report._repr_html_()
    with pytest.raises(archlang.ArchError) as info:
        archlang.check("input 6x6x3\nconv 7x7 x10\n")
    assert "larger than the padded input" in str(info.value)
    assert archlang.check(SPECS / "vgg.arch", depth=11).totals.params == 132_863_336


def test_language_forms() -> None:
    """Forms of LANGUAGE.md beyond the specs: constants, in.*, if/else numbers, keyword block
    arguments, glued expression sizes, repetition of a call, named tensors in branches."""
    text = """
network forms(w = 8, deep = 1)
input 16x16x3
half = w // 2
k = if deep then 3 else 1
block body(c, s = 1) { conv (k)x(k) s(s) p(k // 2) x(c) -> bn eps=0.001 momentum=0.01 }
block widen(f = 2) { conv 1x1 x(in.c * f) }
stem = conv 3x3 same x(w)
a = body(w) * 2
b = stem -> widen(f = 3)
concat(a, b, stem -> maxpool 3 s1 same) -> conv 1x7 same x(half) -> conv (3)x1 p1x0 x(half)
"""
    report = archlang.check(text)
    assert report.output == (16, 16, 4)
    names = [r.name for r in report.rows]
    assert names[:3] == ["stem", "a.body1.conv1", "a.body1.bn1"]
    assert "b" in names  # a one-layer binding names its layer
    concat = next(r for r in report.rows if r.op.startswith("concat"))
    assert concat.output == (16, 16, 8 + 24 + 8)
    assert archlang.check(text, deep=0).rows[1].op == "conv 1x1 x8"  # resolved, not `conv (k)x(k) ...`


def test_command_line_files_need_no_arch_suffix(tmp_path) -> None:
    spec = write(tmp_path, "net.spec", "input 4x4x1\nconv 3x3 x2\n")
    status, out, _ = run_cli("check", str(spec), "--format", "json")
    assert status == 0 and json.loads(out)["totals"]["params"] == 20
    assert archlang.check(str(spec)).totals.params == 20  # an existing file is read, not parsed as text


def test_ops_lists_every_op() -> None:
    from archlang.ops import REGISTRY

    status, out, _ = run_cli("ops")
    assert status == 0
    header, rule, *lines = out.splitlines()
    assert header.split() == ["Op", "Takes", "Does"] and set(rule) == {"─"}
    listed = {line.split()[0] for line in lines}
    assert listed == set(REGISTRY) | {"identity"}


def test_spec_from_standard_input() -> None:
    result = subprocess.run([sys.executable, "-m", "archlang.cli", "check", "-", "--format", "json"],
                            input="input 6x6x3\nconv 3x3 x10\n", capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0 and json.loads(result.stdout)["totals"]["params"] == 280
