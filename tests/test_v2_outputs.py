"""Version 2 outputs: tuples, dicts, training-only outputs, unused bindings; every figure is
checked against the compiled PyTorch module (numel, forward in both modes, forward hooks)."""

from __future__ import annotations

import json

import pytest

import archlang
from archlang.api import analyse
from archlang.core.errors import ArchError
from archlang.core.ir import Runs
from conftest import run_cli, write

AUX = """network aux_net
input 16x16x3
a = conv 3x3 same x8 -> bn -> relu
b = a -> conv 1x1 x4
dead = a -> conv 1x1 x2
aux = b -> gap -> flatten -> fc 3
main = b -> gap -> flatten -> fc 10
output main, b
output aux when training
"""

KEYED = """input 8x8x3
f = conv 3x3 same x6
out = f -> conv 1x1 x2 -> resize_like
aux = f -> conv 1x1 x5
output out = out
output aux = aux when training
""".replace(" -> resize_like", "")


def macs(model, x) -> int:
    """Multiply-accumulates of conv and linear layers that ran, counted with forward hooks."""
    import torch

    total = [0]

    def hook(module, inputs, output) -> None:
        if isinstance(module, torch.nn.Conv2d):
            k = module.weight[0].numel()  # (C / G) * kh * kw
            total[0] += output.numel() // output.shape[0] * k
        elif isinstance(module, torch.nn.Linear):
            total[0] += output.numel() // output.shape[0] * module.in_features

    handles = [m.register_forward_hook(hook) for m in model.modules()]
    with torch.no_grad():
        model(x)
    for h in handles:
        h.remove()
    return total[0]


def test_outputs_and_runs() -> None:
    graph = analyse(AUX)
    assert [(o.name, graph.nodes[o.node].shape, o.training_only) for o in graph.outputs] == [
        ("main", (10,), False), ("b", (16, 16, 4), False), ("aux", (3,), True)]
    runs = {n.name: n.runs for n in graph.layers}
    assert runs["dead"] == Runs.NEVER and runs["aux.fc1"] == Runs.TRAINING and runs["main.fc1"] == Runs.ALWAYS
    assert [w.message for w in graph.warnings] == ["`dead` feeds no output"]


def test_report_totals_and_json(tmp_path) -> None:
    report = archlang.check(AUX)
    t = report.totals
    conv1, conv_b, conv_dead, fc_aux, fc_main = 16 * 16 * 8 * 27, 16 * 16 * 4 * 8, 16 * 16 * 2 * 8, 4 * 3, 4 * 10
    assert t.mults == conv1 + conv_b + fc_main
    assert t.train_mults == t.mults + fc_aux
    assert t.params == (8 * 27 + 8) + 16 + (4 * 8 + 4) + (2 * 8 + 2) + (4 * 3 + 3) + (4 * 10 + 10)
    path = write(tmp_path, "aux.arch", AUX)
    status, out, err = run_cli("check", "--format", "json", str(path))
    assert status == 0 and "`dead` feeds no output" in err
    doc = json.loads(out)
    assert doc["output"] == [10]
    assert doc["outputs"] == [{"name": "main", "shape": [10], "training_only": False},
                              {"name": "b", "shape": [16, 16, 4], "training_only": False},
                              {"name": "aux", "shape": [3], "training_only": True}]
    assert doc["totals"]["mults"] == t.mults and doc["totals"]["train_mults"] == t.train_mults
    assert conv_dead not in (t.mults - t.train_mults,)
    status, out, _ = run_cli("check", str(path))
    assert "outputs main 10, b 16x16x4, aux 3 (training)" in out
    assert "dead (unused)" in out and "aux.fc1 (training)" in out


def test_compiled_module_returns_as_stated() -> None:
    torch = pytest.importorskip("torch")
    graph = analyse(AUX)
    model = archlang.compile(AUX)
    assert sum(p.numel() for p in model.parameters()) == archlang.check(AUX).totals.params
    x = torch.randn(2, 3, 16, 16)
    model.eval()
    with torch.no_grad():
        main, b = model(x)
    assert main.shape == (2, 10) and b.shape == (2, 4, 16, 16)
    report = archlang.check(AUX)
    assert macs(model.eval(), x) == report.totals.mults
    model.train()
    out = model(x)
    assert isinstance(out, tuple) and [tuple(o.shape) for o in out] == [(2, 10), (2, 4, 16, 16), (2, 3)]
    assert macs(model.train(), x) == report.totals.train_mults
    assert graph.outputs[0].node != graph.outputs[2].node


def test_one_output_per_mode_is_a_plain_tensor() -> None:
    torch = pytest.importorskip("torch")
    spec = "input 8x8x3\nf = conv 3x3 x4\naux = f -> gap -> flatten -> fc 2\nmain = f -> gap -> flatten -> fc 5\n" \
           "output main\noutput aux when training\n"
    model = archlang.compile(spec)
    x = torch.randn(2, 3, 8, 8)
    assert isinstance(model.eval()(x), torch.Tensor) and model(x).shape == (2, 5)
    out = model.train()(x)
    assert isinstance(out, tuple) and [o.shape[1] for o in out] == [5, 2]


def test_named_outputs_are_a_dict_in_both_modes() -> None:
    torch = pytest.importorskip("torch")
    model = archlang.compile(KEYED)
    x = torch.randn(2, 3, 8, 8)
    out = model.eval()(x)
    assert isinstance(out, dict) and list(out) == ["out"] and out["out"].shape == (2, 2, 8, 8)
    out = model.train()(x)
    assert list(out) == ["out", "aux"] and out["aux"].shape == (2, 5, 8, 8)
    doc = archlang.check(KEYED).to_dict()
    assert [o["name"] for o in doc["outputs"]] == ["out", "aux"]


def test_verify_checks_every_output_in_both_modes(tmp_path) -> None:
    pytest.importorskip("torch")
    path = write(tmp_path, "aux.arch", AUX)
    status, out, _ = run_cli("compile", "--verify", str(path))
    assert status == 0
    assert "verified: 11 layer shapes, 11 layer values, 359 parameters and 5 outputs across modes" in out
    from archlang.emit.build import compile_graph, verify_model

    compiled = compile_graph(analyse(AUX))
    model = compiled.instantiate()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    result = verify_model(compiled, model)
    assert result.ok and [(o.name, o.training) for o in result.outputs] == [
        ("main", False), ("b", False), ("main", True), ("b", True), ("aux", True)]
    assert all((before[k] == v).all() for k, v in model.state_dict().items())  # statistics put back


def test_diagram_has_one_sink_per_output() -> None:
    from archlang.emit.dot import to_dot

    dot = to_dot(analyse(AUX))
    assert "output main 10" in dot and "output b 16x16x4" in dot and "output aux 3 (training)" in dot
    assert "n11 -> output " in dot and "n4 -> output2 " in dot and "n8 -> output3 " in dot


@pytest.mark.parametrize("tail, message", [
    ("output nope", "`nope` is not a tensor"),
    ("output main, main", "output `main` is declared twice"),
    ("output main\noutput k = b", "outputs are either all named"),
    ("output main when testing", "expected `when training`"),
])
def test_output_mistakes(tail: str, message: str) -> None:
    spec = "input 8x8x3\nb = conv 1x1 x2\nmain = b -> conv 1x1 x3\n" + tail + "\n"
    with pytest.raises(ArchError) as info:
        analyse(spec)
    assert message in info.value.render()


def test_last_statement_is_not_an_unused_binding() -> None:
    graph = analyse("input 8x8x3\nmain = conv 1x1 x2\nextra = main -> conv 1x1 x3\noutput main\n")
    assert graph.warnings == [] and graph.nodes[-1].runs == Runs.NEVER
    graph = analyse("input 8x8x3\na = conv 1x1 x2\nb = input -> conv 1x1 x3\n")
    assert [w.message for w in graph.warnings] == ["`a` feeds no output"]


def test_output_inside_block_is_an_error() -> None:
    with pytest.raises(ArchError) as info:
        analyse("block b() { x = conv 1x1 x2\noutput x }\ninput 8x8x3\nb()\n")
    assert "`output` cannot appear inside a block" in info.value.render()


def test_onnx_names_every_eval_output(tmp_path) -> None:
    pytest.importorskip("torch")
    onnx = pytest.importorskip("onnx")
    from archlang.emit.onnx import export_onnx

    path = tmp_path / "aux.onnx"
    export_onnx(archlang.compile(AUX), path)
    outputs = onnx.load(str(path)).graph.output
    assert [o.name for o in outputs] == ["main", "b"]  # eval mode: the training-only `aux` is absent
    assert [[d.dim_value or d.dim_param for d in o.type.tensor_type.shape.dim] for o in outputs] == [
        ["batch", 10], ["batch", 4, 16, 16]]
