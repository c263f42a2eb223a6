"""`archlang compile --onnx`: every spec in the zoo, exported once with a dynamic batch axis, runs in
onnxruntime at batch sizes 1 and 3 and agrees with the PyTorch module it came from."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from archlang.api import load
from archlang.core.errors import ArchError
from archlang.emit.onnx import export_onnx
from archlang.emit.build import build_module, example_input
from conftest import SPECS, outputs_of, run_cli

ort = pytest.importorskip("onnxruntime")
TOLERANCE = 1e-4
LARGE = {"vgg", "alexnet", "alexnet_course"}  # over 60M parameters: hundreds of MB of ONNX
# hundreds of layers: tracing, exporting and loading them take 10-25 s each on two cores (googlenet.arch
# covers GoogLeNet's eval graph)
DEEP = {"convnext_tiny", "deeplabv3_mobilenet_v3_large", "efficientnet_v2_s", "fcn_resnet50", "googlenet_aux",
        "mobilenet_v3_large", "regnet_y_400mf", "yolov8"}
# ONNX's adaptive pooling needs the output size to divide the input size: these run at full size
FULL_SIZE = {"vgg", "alexnet"}


def smallest_input(path: Path):
    """The spec's graph at the smallest of a few square inputs it accepts (its own input if none)."""
    graph = load(path)
    shape = graph.input.shape or ()
    if len(shape) == 3 and path.stem not in FULL_SIZE:
        for side in (32, 48, 64, 96, 128):
            if side >= shape[0]:
                break
            try:
                return load(path, None, (side, side, shape[2]))
            except ArchError:
                continue
    return graph


def max_error(model: torch.nn.Module, onnx_path: Path, graph, batch: int) -> float:
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    x = example_input(graph, batch)
    with torch.inference_mode():
        expected = [o.numpy() for o in outputs_of(model(x))]
    got = session.run(None, {"input": x.numpy()})
    assert len(got) == len(expected)
    assert all(g.shape == e.shape and abs(e).max() > 0 for g, e in zip(got, expected))  # all zero: proves nothing
    return max(float(abs(g - e).max()) for g, e in zip(got, expected))


def _zoo() -> list:
    return [pytest.param(p, marks=pytest.mark.slow) if p.stem in LARGE | DEEP else p for p in sorted(SPECS.glob("*.arch"))]


@pytest.mark.parametrize("path", _zoo(), ids=lambda p: p.stem)
def test_onnxruntime_agrees_at_batch_1_and_3(path: Path, tmp_path: Path) -> None:
    torch.manual_seed(0)
    graph = smallest_input(path)
    model = build_module(graph).eval()
    out = tmp_path / "model.onnx"
    export_onnx(model, out)
    errors = [max_error(model, out, graph, batch) for batch in (1, 3)]
    assert max(errors) < TOLERANCE, errors


def test_cli_exports_the_weights_it_was_given(tmp_path: Path) -> None:
    torch.manual_seed(1)
    graph = load(SPECS / "lenet5.arch")
    model = build_module(graph).eval()
    torch.save(model.state_dict(), tmp_path / "w.pt")
    status, out, err = run_cli("compile", str(SPECS / "lenet5.arch"), "--weights", str(tmp_path / "w.pt"),
                               "--onnx", str(tmp_path / "m.onnx"))
    assert status == 0, err
    assert out == "" and f"exported {tmp_path / 'm.onnx'}" in err
    assert max_error(model, tmp_path / "m.onnx", graph, 3) < TOLERANCE


def test_what_onnx_cannot_express_is_a_clean_error(tmp_path: Path) -> None:
    status, _, err = run_cli("compile", str(SPECS / "alexnet.arch"), "--input", "64x64x3",
                             "--onnx", str(tmp_path / "m.onnx"))
    assert status == 1
    assert err.startswith("error: cannot export to ONNX: Unsupported: ONNX export of operator adaptive_avg_pool2d")
    assert "Traceback" not in err and not (tmp_path / "m.onnx").exists()


def test_unwritable_onnx_path_is_a_file_error(tmp_path: Path) -> None:
    status, _, err = run_cli("compile", str(SPECS / "lenet5.arch"), "--onnx", str(tmp_path / "no" / "m.onnx"))
    assert status == 2 and "cannot write" in err
