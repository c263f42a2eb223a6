"""The README's figures and examples are what the tool does today."""

from __future__ import annotations

import re

import archlang
from conftest import ROOT, run_cli

README = (ROOT / "README.md").read_text()


def test_zoo_table_figures() -> None:
    rows = re.findall(r"^\| `(\w+)\.arch` \| (.*?) \| (\d+x\d+x\d+) \| ([\d,]+) \| ([\d,]+) \|$", README, re.M)
    assert len(rows) == 37
    for name, settings, shape, params, mults in rows:
        overrides = {k: float(v) if "." in v else int(v) for k, v in re.findall(r"-D (\w+)=([\d.]+)", settings)}
        variant = re.search(r"-V (\w+)", settings)
        report = archlang.check(ROOT / "specs" / f"{name}.arch", **overrides,
                                **({"variant": variant.group(1)} if variant else {}))
        assert "x".join(map(str, report.input)) == shape
        assert f"{report.totals.params:,}" == params, (name, settings)
        assert f"{report.totals.mults:,}" == mults, (name, settings)


def test_quoted_lenet_table_is_current() -> None:
    quoted = README.split("$ archlang check specs/lenet5.arch\n", 1)[1].split("```", 1)[0]
    _, out, _ = run_cli("check", "specs/lenet5.arch", cwd=ROOT)
    assert quoted == out


def test_tour_spec_checks_and_compiles() -> None:
    tour = re.search(r"## A tour of the language.*?```\n(.*?)```", README, re.S).group(1)
    report = archlang.check(tour)
    assert report.output == (10,) and report.totals.frozen_params > 0
    model = archlang.compile(tour)
    assert sum(p.numel() for p in model.parameters()) == report.totals.params


def test_api_example_figures() -> None:
    report = archlang.check(ROOT / "specs" / "resnet.arch", depth=50)
    assert f"# {report.totals.params} {report.totals.mults}" in README


def test_quoted_fold_and_scale_outputs_are_current() -> None:
    _, fold, _ = run_cli("check", "specs/resnet.arch", "-D", "depth=18", "--depth", "0", cwd=ROOT)
    assert "\n".join(fold.splitlines()[:14]) in README
    _, scale, _ = run_cli("scale", "specs/efficientnet.arch", "--phi", "3", cwd=ROOT)
    assert scale.rstrip() in README


def test_quoted_variant_summary_is_current() -> None:
    quoted = README.split("$ archlang check specs/yolov8.arch -V all\n", 1)[1].split("```", 1)[0]
    status, out, _ = run_cli("check", "specs/yolov8.arch", "-V", "all", cwd=ROOT)
    assert status == 0 and out == quoted


def test_googlenet_aux_training_figures() -> None:
    t = archlang.check(ROOT / "specs" / "googlenet_aux.arch").totals
    assert f"add {t.train_mults - t.mults:,} multiplies ({t.train_mults:,} in all)" in README
