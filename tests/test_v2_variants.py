"""Version 2 variants: `variant NAME(...)`, `-V NAME`, `-V all`, `-D` after `-V`, the Python API,
and EfficientNet B0-B7 as variants of one spec (figures as torchvision counts them, held by the
zoo tests for the `-D` forms)."""

from __future__ import annotations

import json

import pytest

import archlang
from archlang.api import analyse
from archlang.core.errors import ArchError
from conftest import ROOT, SPECS, run_cli, write

SPEC = """network v(width = 1.0, classes = 10)
variant s(width = 0.5)
variant x(width = 2, classes = 3)
input 8x8x3
conv 3x3 x(8 * width) -> gap -> flatten -> fc classes
"""

EFFICIENTNET = {  # torchvision's efficientnet_b0..b7: parameters, multiply-accumulates
    "b0": (5_288_548, 385_814_752), "b1": (7_794_184, 686_802_832), "b2": (9_109_994, 993_561_872),
    "b3": (12_233_232, 1_827_141_392), "b4": (19_341_616, 4_393_771_024),
    "b5": (30_389_784, 10_266_384_752), "b6": (43_040_704, 19_067_593_536),
    "b7": (66_347_960, 37_745_884_192),
}
EFFICIENTNET_SETTINGS = {"b0": (1.0, 1.0, 224), "b1": (1.0, 1.1, 240), "b2": (1.1, 1.2, 260),
                         "b3": (1.2, 1.4, 300), "b4": (1.4, 1.8, 380), "b5": (1.6, 2.2, 456),
                         "b6": (1.8, 2.6, 528), "b7": (2.0, 3.1, 600)}


def conv_fc_params(c: int, classes: int) -> int:
    return c * 27 + c + c * classes + classes


def test_variant_values_and_overrides() -> None:
    assert archlang.check(SPEC).totals.params == conv_fc_params(8, 10)
    assert archlang.check(SPEC, variant="s").totals.params == conv_fc_params(4, 10)
    assert archlang.check(SPEC, variant="x").totals.params == conv_fc_params(16, 3)
    assert archlang.check(SPEC, variant="x", classes=5).totals.params == conv_fc_params(16, 5)  # -D wins
    assert analyse(SPEC, variant="s").variants == ["s", "x"]


def test_compile_takes_a_variant() -> None:
    pytest.importorskip("torch")
    model = archlang.compile(SPEC, variant="x")
    assert sum(p.numel() for p in model.parameters()) == conv_fc_params(16, 3)


def test_cli_variant_and_unknown_variant(tmp_path) -> None:
    path = write(tmp_path, "v.arch", SPEC)
    status, out, _ = run_cli("check", "-V", "x", "-D", "classes=5", "--format", "json", str(path))
    assert status == 0 and json.loads(out)["totals"]["params"] == conv_fc_params(16, 5)
    assert json.loads(out)["variant"] == "x"
    status, _, err = run_cli("check", "--variant", "q", str(path))
    assert status == 2 and "unknown variant `q`" in err and "`s`, `x`" in err
    status, _, err = run_cli("compile", "-V", "all", str(path))
    assert status == 2 and "`-V all` is for `archlang check`" in err


def test_check_all_prints_a_row_per_variant(tmp_path) -> None:
    path = write(tmp_path, "v.arch", SPEC)
    status, out, _ = run_cli("check", "-V", "all", str(path))
    assert status == 0
    rows = [line.split() for line in out.splitlines()[3:]]
    assert rows == [["s", f"{conv_fc_params(4, 10):,}", f"{6 * 6 * 4 * 27 + 40:,}", f"{6 * 6 * 4 * 27 + 40:,}", "10"],
                    ["x", f"{conv_fc_params(16, 3):,}", f"{6 * 6 * 16 * 27 + 48:,}", f"{6 * 6 * 16 * 27 + 48:,}",
                     "3"]]
    status, out, _ = run_cli("check", "-V", "all", "--format", "json", str(path))
    docs = json.loads(out)
    assert [d["variant"] for d in docs] == ["s", "x"]
    assert [d["totals"]["params"] for d in docs] == [conv_fc_params(4, 10), conv_fc_params(16, 3)]


def test_check_all_reports_every_variants_errors(tmp_path) -> None:
    path = write(tmp_path, "bad.arch", "network v(k = 3)\nvariant ok(k = 3)\nvariant big(k = 9)\n"
                 "variant huge(k = 11)\ninput 8x8x3\nconv (k)x(k) x4\n")
    status, out, err = run_cli("check", "-V", "all", str(path))
    assert status == 1 and out == ""
    assert "variant `big`:" in err and "variant `huge`:" in err and "variant `ok`:" not in err
    assert "2 of 3 variants have errors" in err


@pytest.mark.parametrize("tail, message", [
    ("variant s(depth = 2)", "variant `s` sets `depth`, which is not a header parameter"),
    ("variant s(width = 1)\nvariant s(width = 2)", "variant `s` is defined twice"),
])
def test_variant_mistakes(tail: str, message: str) -> None:
    with pytest.raises(ArchError) as info:
        analyse(SPEC.replace("variant s(width = 0.5)\nvariant x(width = 2, classes = 3)", tail))
    assert message in info.value.render()


def test_variant_names_are_their_own_namespace() -> None:
    spec = "network n(c = 4)\nvariant conv(c = 8)\nvariant c(c = 2)\ninput 4x4x1\nc = 5\nconv 1x1 x(c)\n"
    assert analyse(spec, variant="conv").nodes[-1].shape == (4, 4, 5)


@pytest.mark.parametrize("name", list(EFFICIENTNET))
def test_efficientnet_variants(name: str) -> None:
    report = archlang.check(SPECS / "efficientnet.arch", variant=name)
    assert (report.totals.params, report.totals.mults) == EFFICIENTNET[name]
    width, depth, res = EFFICIENTNET_SETTINGS[name]
    same = archlang.check(SPECS / "efficientnet.arch", width=width, depth=depth, res=res)  # the -D form
    assert (same.totals.params, same.totals.mults) == EFFICIENTNET[name]


def test_efficientnet_check_all() -> None:
    status, out, _ = run_cli("check", "-V", "all", "--format", "json", "specs/efficientnet.arch", cwd=ROOT)
    assert status == 0
    docs = json.loads(out)
    assert {d["variant"]: (d["totals"]["params"], d["totals"]["mults"]) for d in docs} == EFFICIENTNET


def test_scale_starts_from_a_variant() -> None:
    status, out, _ = run_cli("scale", "specs/efficientnet.arch", "-V", "b1", "--phi", "0", cwd=ROOT)
    assert status == 0
    row = out.splitlines()[3].split()  # after the formula, the header and its rule
    assert row[:5] == ["0", "1.100", "1.000", "240", f"{EFFICIENTNET['b1'][0]:,}"]
    assert row[5] == f"{EFFICIENTNET['b1'][1]:,}"


def test_variant_summary_fits_the_width_and_warns_once() -> None:
    """`-V all` draws its summary like the other tables: fitted to `--width` by shortening the
    outputs in the middle; a warning every variant gives is printed once, not once a variant."""
    status, out, err = run_cli("check", str(SPECS / "yolov8.arch"), "-V", "all", "--width", "70")
    lines = out.splitlines()
    assert status == 0 and max(len(line) for line in lines) <= 70
    assert lines[3].split() == ["n", "3,157,200", "4,371,456,000", "4,371,456,000", "80x80x1…x20x144"]
    assert err.count("`dfl` feeds no output") == 1 and "variant `" not in err


def test_sizes_and_diff_take_variants() -> None:
    """`sizes -V NAME` analyses the chosen variant; `diff` takes `-V` for both sides or `--va`/`--vb`."""
    status, out, _ = run_cli("sizes", str(SPECS / "yolov8.arch"), "-V", "n", "--upto", "100", "--format", "json")
    assert status == 0 and json.loads(out)["height"] == {"rule": "h >= 32 and h % 32 == 0", "values": [32, 64, 96]}
    status, out, _ = run_cli("diff", str(SPECS / "yolov8.arch"), str(SPECS / "yolov8.arch"), "--va", "n", "--vb", "s",
                             "--format", "json")
    assert status == 0 and json.loads(out)["totals"]["params"] == [3_157_200, 11_166_560]
    status, _, err = run_cli("sizes", str(SPECS / "yolov8.arch"), "-V", "q")
    assert status == 2 and "`q`" in err
