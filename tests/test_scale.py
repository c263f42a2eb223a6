"""`archlang scale`: compound scaling of a spec's depth, width and resolution."""

from __future__ import annotations

import math

from archlang.scaling import compound
from conftest import SPECS, run_cli


def test_compound_scaling_grows_cost_about_two_fold_per_step() -> None:
    steps = compound(str(SPECS / "efficientnet.arch"), 3, 1.2, 1.1, 1.15)
    assert [s.res for s in steps] == [224, 258, 296, 341]
    assert [round(s.depth, 4) for s in steps] == [1.0, 1.2, 1.44, 1.728]
    assert steps[0].params == 5_288_548 and steps[0].mults == 385_814_752
    for a, b in zip(steps, steps[1:]):
        assert b.params > a.params and 1.5 < b.mults / a.mults < 3.0


def test_scale_at_b1_settings_matches_the_zoo() -> None:
    # phi = 1 with alpha = 1.1, beta = 1.0 and gamma chosen for 240 is EfficientNet-B1's setting
    steps = compound(str(SPECS / "efficientnet.arch"), 1, 1.1, 1.0, 240 / 224)
    assert steps[1].res == 240 and math.isclose(steps[1].depth, 1.1)
    assert steps[1].params == 7_794_184 and steps[1].mults == 686_802_832


def test_scale_cli() -> None:
    status, out, _ = run_cli("scale", str(SPECS / "efficientnet.arch"), "--phi", "2")
    assert status == 0
    lines = out.splitlines()
    assert lines[0].endswith("alpha * beta^2 * gamma^2 = 1.920")
    assert set(lines[2]) == {"─"}  # the rule under the header
    assert lines[3].split()[:5] == ["0", "1.000", "1.000", "224", "5,288,548"]
    assert len(lines) == 3 + 3
    status, _, err = run_cli("scale", str(SPECS / "lenet5.arch"), "--phi", "2")
    assert status == 2 and "no header parameters `depth`, `width`, `res`" in err


def test_scale_honours_input_and_prints_warnings_once(tmp_path) -> None:
    spec = tmp_path / "s.arch"
    spec.write_text("network s(depth = 1.0, width = 1.0, res = 32)\ninput (res)x(res)x3\n"
                    "conv 3x3 s2 x(round(8 * width)) -> gap -> flatten -> fc 10\n", encoding="utf-8")
    status, out, err = run_cli("scale", str(spec), "--phi", "1", "--input", "64x64x3")
    assert status == 0
    first = out.splitlines()[3].split()
    # conv 3x3 s2 x8 on 64x64x3: 27*8 + 8 = 224 params, 31x31x8 outputs of 27 mults; fc 8 -> 10: 90 and 80
    assert first[:5] == ["0", "1.000", "1.000", "32", "314"] and first[5] == f"{31 * 31 * 8 * 27 + 80:,}"
    assert err.count("warning:") == 1 and "leaves the last row and column unused" in err
    steps = compound(str(spec), 1, 1.2, 1.1, 1.15, input_shape=(64, 64, 3))
    assert steps[0].mults == 31 * 31 * 8 * 27 + 80


def test_phi_zero_is_the_base_analysis(monkeypatch) -> None:
    import archlang.scaling as scaling

    calls: list[dict] = []
    real = scaling.load_file

    def counting(spec, params=None, input_shape=None, variant=None):
        calls.append(dict(params or {}))
        return real(spec, params, input_shape, variant)

    monkeypatch.setattr(scaling, "load_file", counting)
    steps = compound(str(SPECS / "efficientnet.arch"), 1, 1.2, 1.1, 1.15)
    assert len(calls) == 2 and calls[0] == {} and calls[1]["res"] == 258
    assert steps[0].params == 5_288_548
