"""specs/yolov8.arch loads the hand-written reference's state dict (Ultralytics' key layout) by name,
every tensor, and then computes the same three head maps.

The spec's labels give the modules Ultralytics' leaf names (`cv1`, `cv2`, `m.0`, `conv`, `bn`), but
its dotted names also carry the binding and the block call (`c2f1.c2f1.m.0.bottleneck1.cv1.conv`)
where Ultralytics has a layer index (`model.2.m.0.cv1.conv`); the Detect head is split into the
bindings box3..5, cls3..5 and dfl. `ultralytics_to_spec` is that renaming, written out in full."""

from __future__ import annotations

import re

import pytest
import torch

import archlang
from conftest import SPECS, outputs_of
from references.yolov8 import C2f, SPEC_NAMES, SPPF, yolov8

# the block a layer's binding calls in the spec, by the reference's module class
CALLS = {C2f: "c2f1", SPPF: "spp_fast1"}
HEAD = re.compile(r"model\.22\.(cv2|cv3)\.(\d)\.(\d)\.(.*)")


def ultralytics_to_spec(key: str, reference: torch.nn.Module) -> str:
    """The spec's dotted name of an Ultralytics state-dict key."""
    head = HEAD.fullmatch(key)
    if head:  # cv2 level l -> box{3+l}, cv3 -> cls{3+l}; positions 0, 1 are Conv, 2 the plain conv
        branch, level, position, rest = head.groups()
        binding = ("box" if branch == "cv2" else "cls") + str(3 + int(level))
        module = f"cbs{int(position) + 1}" if position in "01" else "conv1"
        return f"{binding}.branch1.{module}.{rest}"
    if key.startswith("model.22.dfl."):
        return key.removeprefix("model.22.")
    index, rest = re.fullmatch(r"model\.(\d+)\.(.*)", key).groups()
    layer = reference.model[int(index)]
    call = CALLS.get(type(layer), "cbs1")
    rest = re.sub(r"^m\.(\d+)\.", r"m.\1.bottleneck1.", rest)  # the bottleneck block's call
    return f"{SPEC_NAMES[int(index)]}.{call}.{rest}"


def randomised(model: torch.nn.Module) -> torch.nn.Module:
    """Random weights and batch-norm statistics, so that a misplaced tensor changes the output."""
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if name.endswith("running_var"):
                tensor.uniform_(0.5, 1.5)
            elif tensor.is_floating_point() and not name.endswith("dfl.conv.weight"):
                tensor.normal_(0, 0.1)
    return model


@pytest.mark.parametrize("scale", ["n", "s"])
def test_reference_weights_load_by_name_and_outputs_agree(scale: str) -> None:
    torch.manual_seed(0)
    reference = randomised(yolov8(scale)).eval()
    renamed = {ultralytics_to_spec(k, reference): v for k, v in reference.state_dict().items()}
    assert len(renamed) == len(reference.state_dict())  # the renaming is one to one
    model = archlang.compile(SPECS / "yolov8.arch", variant=scale, res=64).eval()
    report = archlang.load_weights(model, renamed, by="name", strict=True)
    assert report.complete and not report.unused and len(report.copied) == len(model.state_dict())
    assert model.state_dict()["dfl_conv.weight"].flatten().tolist() == list(range(16))
    x = torch.randn(2, 3, 64, 64)
    with torch.inference_mode():
        expected, got = reference(x), outputs_of(model(x))
    assert [tuple(t.shape) for t in got] == [(2, 144, 8, 8), (2, 144, 4, 4), (2, 144, 2, 2)]
    for e, g in zip(expected, got, strict=True):
        torch.testing.assert_close(g, e, rtol=1e-4, atol=1e-4)


def test_registration_order_alone_misplaces_the_c2f_weights() -> None:
    """By order, C2f's `cv2` (registered before the bottlenecks in the reference, run after them
    in the spec) meets a bottleneck's tensor: loading by name is what makes the checkpoint fit."""
    torch.manual_seed(0)
    reference = randomised(yolov8("n")).eval()
    model = archlang.compile(SPECS / "yolov8.arch", variant="n", res=64).eval()
    report = archlang.load_weights(model, reference.state_dict(), by="order")
    assert not report.complete
    assert report.missing[0] == "c2f1_c2f1_cv2_conv.weight"  # the first C2f's fusing Conv
