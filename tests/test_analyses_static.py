"""The static analyses without torch: legal input sizes against brute force, the semantic diff,
the lints, and that `sizes` and `diff` never import torch."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from archlang.analyses import sizes
from archlang.analyses.lints import lint
from archlang.api import load
from archlang.core.errors import ArchError
from conftest import ROOT, SPECS, run_cli, write

NETWORKS = ROOT / "tests" / "networks"
ZOO = sorted(SPECS.glob("*.arch")) + sorted(NETWORKS.glob("*.arch"))

CASES = {
    "unet_two_levels": "input 64x64x3\ne1 = conv 3x3 same x4\ne2 = maxpool 2 -> conv 3x3 same x4\n"
                       "e3 = maxpool 2 -> conv 3x3 p1 x4\nd2 = concat(e2, e3 -> upsample 2)\nconcat(e1, d2 -> convt 2x2 s2 x4)",
    "strided_valid": "input 40x40x1\nconv 5x5 s3 x2 -> maxpool 3 s2 ceil -> conv 2x2 x2",
    "different_rates": "input 24x24x3\nconcat(conv 3x3 s2 p1 x4, avgpool 4 -> convt 7x7 x4)",
    "transposed_add": "input 31x31x2\nadd(conv 3x3 s2 x2 -> convt 3x3 s2 x2, identity)",
    "dilated_same": "input 33x33x2\nconv 3x3 d4 same s2 x2 -> add(identity, maxpool 3 s1 p1) -> conv 4x4 s2 d2 x2",
    "se_block": "input 32x32x8\nmul(identity, gap -> conv 1x1 x8 -> sigmoid) -> conv 3x3 s2 x8",
}


def brute_force(path_or_text, axis: int, upto: int, params=None) -> list[int]:
    base = load(path_or_text, params)
    found = []
    for n in range(1, upto + 1):
        shape = tuple(n if i == axis else d for i, d in enumerate(base.input.shape))
        try:
            load(path_or_text, params, shape)
        except ArchError:
            continue
        found.append(n)
    return found


@pytest.mark.parametrize("name", sorted(CASES))
def test_sizes_equal_brute_force_on_hand_made_specs(name: str) -> None:
    graph = load(CASES[name])
    for axis in (0, 1):
        assert sizes.values(sizes.legal_sizes(graph, axis), 80) == brute_force(CASES[name], axis, 80)


SMALL_ZOO = [p for p in ZOO if p.stem not in ("efficientnet", "densenet121", "resnext50", "googlenet", "vgg",
                                               "mobilenet_v2", "resnet", "shufflenet_v2")]


@pytest.mark.parametrize("path", SMALL_ZOO, ids=lambda p: p.stem)
def test_sizes_equal_brute_force_on_the_zoo(path: Path) -> None:
    graph = load(path)
    if len(graph.input.shape) != 3:
        pytest.skip("a vector input has no height or width")
    assert sizes.values(sizes.legal_sizes(graph, 0), 70) == brute_force(path, 0, 70)


@pytest.mark.slow
@pytest.mark.exhaustive
@pytest.mark.parametrize("path", ZOO, ids=lambda p: p.stem)
def test_sizes_equal_brute_force_on_the_whole_zoo(path: Path) -> None:
    graph = load(path)
    if len(graph.input.shape) != 3:
        pytest.skip("a vector input has no height or width")
    for axis in (0, 1):
        assert sizes.values(sizes.legal_sizes(graph, axis), 130) == brute_force(path, axis, 130)


def test_sizes_on_resnet18_equal_brute_force() -> None:
    params = {"depth": 18}
    graph = load(SPECS / "resnet.arch", params)
    assert sizes.values(sizes.legal_sizes(graph, 1), 40) == brute_force(SPECS / "resnet.arch", 1, 40, params)


def test_sizes_rules_read_well() -> None:
    assert sizes.rule(sizes.legal_sizes(load(SPECS / "tiny_unet.arch"), 0), "h", 1024) == "h >= 2 and h % 2 == 0"
    unet = load(CASES["unet_two_levels"])
    assert sizes.rule(sizes.legal_sizes(unet, 0), "h", 1024) == "h >= 4 and h % 4 == 0"
    rates = load(CASES["different_rates"])
    assert sizes.rule(sizes.legal_sizes(rates, 0), "h", 1024) == "h in {19, 21, 22, 24}"
    vgg = load(SPECS / "vgg.arch")
    assert sizes.rule(sizes.legal_sizes(vgg, 0), "h", 1024) == "h >= 32"


def test_sizes_command_json_and_speed() -> None:
    start = time.perf_counter()
    status, out, _ = run_cli("sizes", str(SPECS / "resnet.arch"), "--upto", "4096", "--format", "json")
    elapsed = time.perf_counter() - start
    assert status == 0 and elapsed < 1.0
    doc = json.loads(out)
    assert set(doc) == {"height", "width"} and doc["height"]["values"][:3] == [1, 2, 3]
    assert len(doc["width"]["values"]) == 4096
    status, out, _ = run_cli("sizes", str(SPECS / "tiny_unet.arch"), "--upto", "10")
    assert status == 0 and "height: h >= 2 and h % 2 == 0" in out and "2, 4, 6, 8, 10" in out
    status, out, _ = run_cli("sizes", str(SPECS / "resnet.arch"), "-D", "depth=18", "--format", "json")
    assert status == 0 and json.loads(out)["height"]["rule"] == "any size"


def test_sizes_of_a_vector_input_and_a_spec_reading_in_h(tmp_path: Path) -> None:
    spec = write(tmp_path, "adaptive.arch", "input 16x16x2\nblock b() { if in.h > 8 then maxpool 2 else identity }\n"
                 "b() -> conv 3x3 x2")
    status, out, _ = run_cli("sizes", str(spec), "--upto", "20", "--format", "json")
    assert json.loads(out)["height"]["values"] == brute_force(spec, 0, 20)


# --- diff ----------------------------------------------------------------------------------


def test_diff_resnet_depths() -> None:
    status, out, _ = run_cli("diff", str(SPECS / "resnet.arch"), str(SPECS / "resnet.arch"), "--db", "depth=34",
                             "--format", "json")
    assert status == 0
    doc = json.loads(out)
    assert doc["totals"]["params"] == [25_557_032, 21_797_672]
    assert doc["totals"]["mults"] == [4_089_184_256, 3_663_761_408]
    changes = {c["change"] for c in doc["layers"]}
    assert changes == {"added", "removed", "changed"}
    fc = next(c for c in doc["layers"] if c["name"] == "head.fc1")
    assert fc["change"] == "changed" and fc["a"]["params"] == 2_049_000 and fc["b"]["params"] == 513_000
    status, _, _ = run_cli("diff", str(SPECS / "resnet.arch"), str(SPECS / "resnet.arch"), "--db", "depth=34",
                           "--exit-code")
    assert status == 1


def test_diff_same_spec_and_overrides() -> None:
    status, out, _ = run_cli("diff", str(SPECS / "vgg.arch"), str(SPECS / "vgg.arch"), "-D", "classes=10",
                             "--exit-code")
    assert status == 0 and "no layer differs" in out
    status, out, _ = run_cli("diff", str(SPECS / "lenet5.arch"), str(SPECS / "lenet5.arch"), "--da", "classes=5",
                             "--exit-code")
    assert status == 1
    assert "~ fc3" in out and "a: fc 5" in out and "b: fc 10" in out
    status, _, err = run_cli("diff", str(SPECS / "lenet5.arch"), "missing.arch")
    assert status == 2 and "cannot read `missing.arch`" in err


def test_sizes_and_diff_never_import_torch() -> None:
    for args in (["sizes", str(SPECS / "resnet.arch")],
                 ["diff", str(SPECS / "resnet.arch"), str(SPECS / "vgg.arch")],
                 ["check", str(SPECS / "resnet.arch"), "--rf", "--count", "ptflops", "--format", "json"]):
        code = ("import sys; from archlang.cli import main; main(%r); "
                "assert not {'torch', 'numpy', 'networkx'} & set(sys.modules), 'imported'" % args)
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
        assert done.returncode == 0, done.stderr


# --- lints ---------------------------------------------------------------------------------


def _warnings(text: str) -> list[str]:
    return [w.message for w in lint(load(text))]


def test_unused_binding_is_warned_once() -> None:
    """The language reports a binding that feeds no output; the lints do not repeat it."""
    graph = load("input 16x16x3\na = conv 3x3 x4\nb = conv 1x1 x4\na -> relu")
    assert [(w.message, w.span.line) for w in graph.warnings] == [("`b` feeds no output", 3)]
    assert lint(graph) == []
    assert load("input 16x16x3\na = conv 3x3 x4\nb = conv 1x1 x4\nconcat(a, b)").warnings == []


def test_channel_first_input_is_warned_once() -> None:
    graph = load("input 3x224x224\nconv 1x1 x4")
    assert [w.message for w in graph.warnings] == [
        "`input 3x224x224` looks channel-first, but archlang reads HxWxC (channels last)"]
    assert graph.warnings[0].help == "for 3 channels of 224x224, write `input 224x224x3`"
    assert lint(graph) == []
    assert load("input 224x224x3\nconv 1x1 x4").warnings == []


def test_lint_uneven_same() -> None:
    assert _warnings("input 16x16x3\nconv 4x4 same x4") == [
        "`same` pads unevenly here (1 before, 2 after): the output shifts by half a pixel"]
    assert _warnings("input 16x16x3\nconv 3x3 same x4 -> conv 3x4 same x4") == [
        "`same` pads unevenly here (1 before, 2 after): the output shifts by half a pixel"]
    assert _warnings("input 16x16x3\nconv 5x5 same x4") == []


def test_lint_concat_that_agrees_only_at_some_sizes() -> None:
    found = _warnings(CASES["different_rates"])
    assert "the branches of this `concat` agree in height only for input heights 19, 21, 22, 24" in found
    assert _warnings(CASES["unet_two_levels"]) == []


def test_check_prints_lints_with_locations(tmp_path: Path) -> None:
    spec = write(tmp_path, "cf.arch", "input 3x64x64\nconv 4x4 same x8")
    status, _, err = run_cli("check", str(spec))
    assert status == 0
    assert err.count("looks channel-first") == 1 and "cf.arch:1:1: warning: `input 3x64x64` looks channel-first" in err
    assert "cf.arch:2:1: warning: `same` pads unevenly here (1 before, 2 after)" in err


def test_zoo_has_no_lint_warnings() -> None:
    for path in ZOO:
        graph = load(path)
        assert lint(graph) == [], path.stem


def test_sizes_honour_asserts_on_tensor_sizes() -> None:
    """YOLOv8's shapes fit at any width from 25 with the right remainder mod 32, but its asserts
    ask for strides 8, 16 and 32 to divide the input: only multiples of 32 pass."""
    graph = load(SPECS / "yolov8.arch")
    height = sizes.legal_sizes(graph, 0, 200)
    assert sizes.values(height, 200) == [32, 64, 96, 128, 160, 192] == brute_force(SPECS / "yolov8.arch", 0, 200)
    assert sizes.rule(height, "h", 200) == "h >= 32 and h % 32 == 0"
    assert sizes.rule(sizes.legal_sizes(graph, 1, 200), "w", 200) == "w >= 25 and w % 32 in {0, 25, 26, 27, 28, 29, 30, 31}"


def test_sizes_with_an_assert_on_a_total_that_grows_are_checked_one_by_one() -> None:
    text = "input 16x16x3\nconv 3x3 x4 -> relu\nassert mults <= 22000"
    graph = load(text)
    with pytest.raises(sizes.NotStatic):
        sizes.legal_sizes(graph, 0)
    found = sizes.report(graph, 20, lambda shape: load(text, None, shape))
    # 3x3x3 multiplies for each of 4 channels at each output position: (h - 2) x 14 x 108 <= 22000
    assert found["height"].values == list(range(3, 17)) == [
        h for h in range(1, 21) if h >= 3 and (h - 2) * 14 * 108 <= 22000]
