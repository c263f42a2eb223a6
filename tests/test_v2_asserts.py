"""Version 2 asserts: checked after the analysis over the totals and bound tensors' sizes; a
false assert is an error at its line with the values involved."""

from __future__ import annotations

import pytest

import archlang
from archlang.api import analyse
from archlang.core.errors import ArchError
from archlang.sema.asserts import totals
from conftest import SPECS, run_cli, write

SPEC = """network a(c = 16)
input 32x32x3
p3 = conv 3x3 same x(c) -> relu
aux = p3 -> gap -> flatten -> fc 4
head = p3 -> gap -> flatten -> fc 10
output head
output aux when training
"""


def test_totals_seen_by_asserts_are_the_reports() -> None:
    graph = analyse(SPEC)
    t = archlang.check(SPEC).totals
    assert totals(graph) == {"params": t.params, "trainable": t.trainable_params, "mults": t.mults,
                             "train_mults": t.train_mults, "activations": t.activations}
    assert t.params == (16 * 27 + 16) + (16 * 4 + 4) + (16 * 10 + 10)
    assert t.mults == 32 * 32 * 16 * 27 + 160 and t.train_mults == t.mults + 64


def test_true_asserts_pass() -> None:
    spec = SPEC + ("assert params == 686 and trainable == params\nassert mults == 442528 and train_mults == 442592\n"
                   "assert p3.h == 32 and p3.w == 32 and p3.c == c and input.c == 3 and head.c == 10\n"
                   "assert activations > 0, \"never fails\"\n")
    assert archlang.check(spec).totals.params == 686


def test_false_assert_shows_the_values(tmp_path) -> None:
    path = write(tmp_path, "a.arch", SPEC + 'assert params <= 500, "must fit the phone budget"\n'
                                      "assert p3.c == 64 and input.c == 3\n")
    status, _, err = run_cli("check", str(path))
    assert status == 1
    assert "a.arch:8:8: error: assertion failed: must fit the phone budget" in err
    assert "note: `params` is 686" in err
    assert "a.arch:9:8: error: assertion failed: p3.c == 64 and input.c == 3" in err
    assert "note: `p3.c` is 16" in err and "note: `input.c` is 3" in err


def test_asserts_follow_variants_and_defines(tmp_path) -> None:
    path = write(tmp_path, "a.arch", SPEC.replace("input", "variant big(c = 64)\ninput", 1)
                 + "assert p3.c <= 32, \"too wide\"\n")
    assert run_cli("check", str(path))[0] == 0
    status, _, err = run_cli("check", "-V", "big", str(path))
    assert status == 1 and "assertion failed: too wide" in err and "`p3.c` is 64" in err
    assert run_cli("check", "-D", "c=48", str(path))[0] == 1


@pytest.mark.parametrize("line, message", [
    ("assert nope.h == 1", "`nope` is not a tensor"),
    ("assert p3.z == 1", "`p3.z` does not exist"),
    ("assert conv 3x3", "an assert takes a condition on numbers"),
])
def test_assert_mistakes(line: str, message: str) -> None:
    with pytest.raises(ArchError) as info:
        analyse(SPEC + line + "\n")
    assert message in info.value.render()


def test_a_spec_budget_against_pytorch() -> None:
    torch = pytest.importorskip("torch")
    spec = (SPECS / "mobilenet_v2.arch").read_text() + "\nassert params < 3.6M and mults < 320M\n"
    report = archlang.check(spec)
    model = archlang.compile(spec)
    assert sum(p.numel() for p in model.parameters()) == report.totals.params < 3_600_000
    with pytest.raises(ArchError) as info:
        archlang.check(spec.replace("params < 3.6M", "params < 3.4M"))
    assert f"`params` is {report.totals.params:,}" in info.value.render()
    del torch
