"""The version 2 forms of the language contract together in one detector-like spec (variants,
labels, several outputs, asserts, `input` chains, `as i`), checked against the compiled PyTorch
module; and every example of the version 2 section of docs/LANGUAGE.md parses."""

from __future__ import annotations

import re

import pytest

import archlang
from archlang.api import analyse
from archlang.lang.parser import parse
from conftest import ROOT

DETECTOR = """network det(classes = 4, depth = 1.0, width = 1.0, maxc = 1024)
variant n(depth = 0.33, width = 0.25, maxc = 1024)
variant s(depth = 0.33, width = 0.50, maxc = 1024)

block cbs(c, k = 1, s = 1) { conv: conv (k)x(k) s(s) same x(c) nobias -> bn: bn eps=0.001 momentum=0.03 -> silu }
block bottleneck() { residual(cv1: cbs(in.c, 3) -> cv2: cbs(in.c, 3)) }
block c3(c, n) {
  concat(cv1: cbs(c // 2) -> m: (bottleneck() * n), cv2: cbs(c // 2)) -> cv3: cbs(c)
}

input 64x64x3
ch = min(max(round(64 * width), 8), maxc)
reps = max(round(3 * depth), 1)
stem: cbs(ch // 2, 3, 2)
p3 = cbs(ch, 3, 2) -> c3(ch, reps)
p4 = cbs(ch * 2, 3, 2) -> c3(ch * 2, reps)
side = input -> maxpool 4 -> cbs(ch, 1)
head3 = concat(p3, side) -> conv 1x1 x(classes + 4)
head4 = p4 -> conv 1x1 x(classes + 4)
aux = p4 -> gap -> flatten -> fc classes
output head3, head4
output aux when training
assert params < 5M, "small detector"
assert p3.h == 16 and p4.c == 2 * p3.c and input.c == 3
"""


def macs(model, x) -> int:
    import torch

    total = [0]

    def hook(module, inputs, output) -> None:
        if isinstance(module, torch.nn.Conv2d):
            total[0] += output[0].numel() * module.weight[0].numel()
        elif isinstance(module, torch.nn.Linear):
            total[0] += output[0].numel() * module.in_features

    handles = [m.register_forward_hook(hook) for m in model.modules()]
    with torch.no_grad():
        model(x)
    for h in handles:
        h.remove()
    return total[0]


@pytest.mark.parametrize("variant, ch, reps", [(None, 64, 3), ("n", 16, 1), ("s", 32, 1)])
def test_detector_against_pytorch(variant: str | None, ch: int, reps: int) -> None:
    torch = pytest.importorskip("torch")
    report = archlang.check(DETECTOR, variant=variant)
    assert [(o.name, o.shape, o.training_only) for o in report.outputs] == [
        ("head3", (16, 16, 8), False), ("head4", (8, 8, 8), False), ("aux", (4,), True)]
    model = archlang.compile(DETECTOR, variant=variant)
    assert sum(p.numel() for p in model.parameters()) == report.totals.params
    assert sum(1 for n in analyse(DETECTOR, variant=variant).layers if n.name.endswith(".m.0.cv1.conv")) == 2
    assert f"p3_c3_1_m_{reps - 1}_cv2_conv.weight" in model.state_dict()
    assert model.state_dict()["p3_c3_1_cv1_conv.weight"].shape == (ch // 2, ch, 1, 1)
    x = torch.randn(2, 3, 64, 64)
    model.eval()
    with torch.no_grad():
        head3, head4 = model(x)
    assert head3.shape == (2, 8, 16, 16) and head4.shape == (2, 8, 8, 8)
    assert macs(model.eval(), x) == report.totals.mults
    model.train()
    out = model(x)
    assert len(out) == 3 and out[2].shape == (2, 4)
    assert macs(model.train(), x) == report.totals.train_mults


def test_detector_asserts_and_variants_together(tmp_path) -> None:
    from conftest import run_cli, write

    path = write(tmp_path, "det.arch", DETECTOR)
    status, out, err = run_cli("check", "-V", "all", str(path))
    assert status == 0, err
    assert [line.split()[0] for line in out.splitlines()[3:]] == ["n", "s"]
    status, _, err = run_cli("check", "-D", "width=4", str(path))
    assert status == 1 and "assertion failed: small detector" in err


def version2_snippets() -> list[str]:
    text = (ROOT / "docs" / "LANGUAGE.md").read_text(encoding="utf-8")
    section = text[text.index("## Version 2"):text.index("## Diagnostics and exit status")]
    return re.findall(r"```\n(.*?)```", section, re.S)


def test_every_version2_doc_example_parses() -> None:
    snippets = version2_snippets()
    assert len(snippets) >= 7
    for snippet in snippets:
        parse(snippet, "<doc>")


def test_doc_examples_that_are_whole_networks_analyse() -> None:
    whole = [s for s in version2_snippets() if "\ninput " in s]
    assert len(whole) == 2
    ramp = analyse(whole[0])
    assert [n.shape[-1] for n in ramp.layers if n.op == "conv"] == [16, 32, 48, 64, 8]
    aux = analyse(whole[1])
    assert [(o.name, o.training_only) for o in aux.outputs] == [("main", False), ("aux", True)]


def test_formatter_keeps_version2_forms() -> None:
    from archlang.tooling.formatter import format_text

    messy = DETECTOR.replace("cv1: cbs(c // 2)", "cv1 :cbs(c//2)").replace("params < 5M", "params<5M") + \
        "big = 2.5K+2**-3\n"
    once = format_text(messy)
    assert "cv1: cbs(c // 2)" in once and "assert params < 5M" in once and "big = 2.5K + 2 ** -3" in once
    assert format_text("input 4x4x1\n(conv 1x1 x(i+1)) * 2 as i\n") == "input 4x4x1\n(conv 1x1 x(i + 1)) * 2 as i\n"
    assert format_text(once) == once
    assert archlang.check(once).totals.params == archlang.check(messy).totals.params
