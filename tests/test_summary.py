"""The summary's torchinfo block and `--layout nchw`, against torchinfo itself run on the compiled
model, and against the sizes PyTorch gives the compiled model's outputs."""

from __future__ import annotations

import json
import sys

import pytest
import torch

import archlang
from archlang.core.shapes import Layout, fmt
from archlang.emit.formats import summary_lines
from conftest import SPECS, run_cli, write

torchinfo = pytest.importorskip("torchinfo")  # pinned in the test extra

BLOCK = ("Total params", "Trainable params", "Non-trainable params", "Input size (MB)",
         "Forward/backward pass size (MB)", "Params size (MB)", "Estimated Total Size (MB)")
FROZEN = "network frozen\ninput 16x16x3\nfreeze(conv 3x3 x8 -> bn) -> relu -> conv 3x3 s2 x16 -> gap -> flatten -> fc 5\n"


def torch_size(shape: tuple[int, ...]) -> tuple[int, ...]:
    return (1, shape[2], shape[0], shape[1]) if len(shape) == 3 else (1, *shape)


def summarise(spec):
    report = archlang.check(spec)
    model = archlang.compile(spec).eval()
    return report, model, torchinfo.summary(model, input_size=torch_size(report.input), verbose=0)


@pytest.mark.parametrize("name", ["lenet5", "inception_module", "conv_separable", "tiny_unet", "frozen"])
def test_torchinfo_block_is_what_torchinfo_computes(name: str, tmp_path) -> None:
    spec = write(tmp_path, "frozen.arch", FROZEN) if name == "frozen" else SPECS / f"{name}.arch"
    report, _, stats = summarise(spec)
    t = report.totals
    assert (t.params, t.trainable_params, t.frozen_params) == (
        stats.total_params, stats.trainable_params, stats.total_params - stats.trainable_params)
    assert t.param_bytes == stats.total_param_bytes
    assert t.forward_backward_bytes == stats.total_output_bytes
    # torchinfo takes the input's size with sys.getsizeof of its storage: the bytes and the
    # storage object's own header, which is not memory the input needs
    header = sys.getsizeof(torch.empty(0).untyped_storage())
    assert report.input_bytes + header == stats.total_input
    if name == "frozen":
        assert t.frozen_params == 8 * 27 + 8 + 8 * 2  # conv weights and biases, batch norm scale and shift
    ours = {line.split(":")[0]: line for line in summary_lines(report) if line.split(":")[0] in BLOCK}
    theirs = {line.split(":")[0]: line for line in str(stats).splitlines() if line.split(":")[0] in BLOCK}
    assert list(ours) == list(BLOCK)
    # torchinfo's own lines, word for word, where its storage header cannot change the rounding
    for key in BLOCK[:3] + BLOCK[4:6]:
        assert ours[key] == theirs[key]
    # and the two that add the input, from torchinfo's figures less that header
    total = stats.total_input - header + stats.total_output_bytes + stats.total_param_bytes
    assert ours["Input size (MB)"] == f"Input size (MB): {(stats.total_input - header) / 1e6:0.2f}"
    assert ours["Estimated Total Size (MB)"] == f"Estimated Total Size (MB): {total / 1e6:0.2f}"


def test_nchw_layout_is_what_pytorch_prints(tmp_path) -> None:
    spec = SPECS / "tiny_unet.arch"
    report, model, stats = summarise(spec)
    layers = [layer for layer in stats.summary_list if layer.is_leaf_layer and layer.num_params > 0]
    rows = [r for r in report.rows if r.params > 0]
    assert len(layers) == len(rows)
    for row, layer in zip(rows, layers):
        assert fmt(row.output, Layout.NCHW) == str(layer.output_size)
    with torch.no_grad():
        out = model(torch.zeros(torch_size(report.input)))
    assert fmt(report.output, Layout.NCHW) == str(list(out.shape))
    status, text, _ = run_cli("check", str(spec), "--layout", "nchw")
    assert status == 0
    assert f"input {fmt(report.input, Layout.NCHW)} -> output {str(list(out.shape))}" in text
    assert "[1, 64, 112, 112]" == fmt((112, 112, 64), Layout.NCHW)
    status, text, _ = run_cli("check", str(spec), "--layout", "nchw", "--format", "json")
    doc = json.loads(text)
    assert doc["layout"] == "nchw" and doc["output"] == list(out.shape)
    assert [layer["output"] for layer in doc["layers"] if layer["params"]] == [lay.output_size for lay in layers]


def test_json_totals_carry_the_block() -> None:
    report = archlang.check(SPECS / "lenet5.arch")
    status, text, _ = run_cli("check", str(SPECS / "lenet5.arch"), "--format", "json")
    totals = json.loads(text)["totals"]
    assert status == 0 and json.loads(text)["layout"] == "hwc"
    assert totals["input_bytes"] == 32 * 32 * 1 * 4
    assert totals["forward_backward_bytes"] == report.totals.forward_backward_bytes
    assert totals["estimated_total_bytes"] == totals["input_bytes"] + totals["forward_backward_bytes"] + (
        totals["param_bytes"])
