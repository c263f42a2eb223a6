"""`--verify` checks values, not only shapes: every node's output against the reference of
archlang/emit/reference.py, computed from the analysis on the node's own inputs. Every spec
verifies with values; a generated model that is wrong in value only (padding, count_include_pad,
eps, resize mode, a merge's expression, an in-place write) is a mismatch that names the node."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

import archlang.emit.build as build
from archlang.api import analyse, load
from archlang.core.errors import ArchError
from archlang.core.ir import Graph
from archlang.emit.build import compile_graph, verify, verify_model
from archlang.emit.reference import REFERENCES, SHAPE_ONLY, TRAINING
from archlang.ops import MERGES, REGISTRY
from conftest import ROOT, SPECS, run_cli, write

NETWORKS = ROOT / "tests" / "networks"
# these take seconds even at their smallest input
HEAVY = {"deeplabv3_mobilenet_v3_large", "yolov8", "vgg", "fcn_resnet50"}
SIZES = (8, 16, 24, 32, 48, 64, 96, 128)


def smallest(path: Path) -> Graph:
    """The spec analysed at the smallest square input it accepts (its own when none smaller)."""
    graph = load(path)
    h, w, c = graph.input.shape
    for size in (s for s in SIZES if s < min(h, w)):
        try:
            return load(path, input_shape=(size, size, c))
        except ArchError:
            continue
    return graph


def _spec_params() -> list:
    paths = sorted(SPECS.glob("*.arch")) + sorted(NETWORKS.glob("*.arch"))
    return [pytest.param(p, id=p.stem, marks=[pytest.mark.slow] if p.stem in HEAVY else []) for p in paths]


@pytest.mark.parametrize("path", _spec_params())
def test_every_spec_verifies_with_values(path: Path) -> None:
    graph = smallest(path)
    result = verify(graph)
    assert result.ok, result.summary()
    # every node is compared once, in eval mode, or in training mode where it runs only then;
    # only random layers in training mode go by shape
    assert set(result.shape_only) <= {f"{op}, training mode" for op in TRAINING}
    assert len(result.values) + result.shape_only_nodes == len(result.layers)
    assert {v.name for v in result.values} <= {n.name for n in graph.layers}
    assert all(0 <= v.error <= v.tolerance for v in result.values)
    assert result.forward and all(f.ok for f in result.forward)


def test_every_op_has_a_reference_or_a_reason() -> None:
    """A registered op or merge is either computed independently or listed, with why, as checked
    by shape only; neither table names an op that does not exist."""
    ops = set(REGISTRY) | set(MERGES)
    for name in ops:
        assert (name in REFERENCES) != (name in SHAPE_ONLY), name
        assert name in REFERENCES or len(SHAPE_ONLY[name]) > 20, name
    assert set(REFERENCES) | set(SHAPE_ONLY) | set(TRAINING) <= ops


def test_an_op_without_reference_is_listed_as_shape_only(monkeypatch) -> None:
    monkeypatch.delitem(REFERENCES, "relu")
    monkeypatch.setitem(SHAPE_ONLY, "relu", "no reference, for this test")
    result = verify(analyse("input 6x6x2\nconv 3x3 p1 x2 -> relu -> conv 1x1 x2 -> relu\n"))
    assert result.ok
    assert result.shape_only == {"relu": "no reference, for this test"} and result.shape_only_nodes == 2
    assert [v.name for v in result.values] == ["conv1", "conv2"]
    summary = result.summary()
    assert "shape only (values not checked) for 2 nodes: `relu` (no reference, for this test)" in summary
    assert summary.splitlines()[-1].startswith("verified: 4 layer shapes, 2 layer values, ")


def _tampered(text: str, instance):
    """The verification of ``text``'s model after ``instance(model)`` changes it."""
    compiled = compile_graph(analyse(text))
    model = compiled.instantiate()
    instance(model)
    return verify_model(compiled, model)


def _only_failure(result) -> build.ValueCheck:
    assert not result.ok
    assert all(c.ok for c in result.layers), "a value bug must not show as a shape bug"
    bad = [v for v in result.values if not v.ok]
    assert len(bad) == 1, result.summary()
    return bad[0]


@pytest.mark.parametrize("text, node, change", [
    # averaging the padding in, the bug `avgpool 2 s1 same count_include_pad=0` once had
    ("input 7x7x3\navgpool 3 s1 p1 count_include_pad=0\n", "avgpool1",
     lambda m: setattr(m.avgpool1, "count_include_pad", True)),
    ("input 7x7x3\navgpool 3 s2 p1 ceil\n", "avgpool1", lambda m: setattr(m.avgpool1, "count_include_pad", False)),
    ("input 9x9x3\nconv 3x3 p1 x4\n", "conv1", lambda m: setattr(m.conv1, "padding_mode", "reflect")),
    # `same` with an even window pads after, as PyTorch's convolutions do; padding before is a bug
    ("input 9x9x3\nmaxpool 2 s1 same\n", "maxpool1", lambda m: setattr(m.maxpool1[0], "padding", (1, 0, 1, 0))),
    ("input 6x6x4\nbn\n", "bn1", lambda m: setattr(m.bn1, "eps", 1e-3)),
    ("input 6x6x4\nupsample 2\n", "upsample1", lambda m: setattr(m.upsample1, "mode", "bilinear")),
    ("input 6x6x4\nupsample 2 mode=bilinear\n", "upsample1", lambda m: setattr(m.upsample1, "align_corners", True)),
    ("input 6x6x4\nlrn 3 alpha=1 k=2\n", "lrn1", lambda m: setattr(m.lrn1, "beta", 0.5)),
    ("input 6x6x4\nleakyrelu 0.2\n", "leakyrelu1", lambda m: setattr(m.leakyrelu1, "negative_slope", 0.1)),
    ("input 6x6x8\nchannel_shuffle 2\n", "channel_shuffle1", lambda m: setattr(m.channel_shuffle1, "groups", 4)),
    # version 2 layers
    ("input 6x6x8\nlayernorm eps=0.1\n", "layernorm1", lambda m: setattr(m.layernorm1, "eps", 1e-5)),
    ("input 6x6x8\ngroupnorm 4\n", "groupnorm1", lambda m: setattr(m.groupnorm1, "num_groups", 2)),
    ("input 6x6x8\ninstancenorm\n", "instancenorm1", lambda m: setattr(m.instancenorm1, "eps", 0.5)),
    ("input 6x6x4\nresize 9x5 mode=bilinear\n", None, None),
    # augmentation must be the identity in eval mode
    ("input 6x6x3\nhflip p=1\n", "hflip1", lambda m: setattr(m.hflip1, "forward", lambda x: x.flip(-1))),
])
def test_a_value_bug_is_a_mismatch_at_its_node(text: str, node: str | None, change, monkeypatch) -> None:
    if change is None:  # a template op has no module to change: change its forward template
        op = REGISTRY["resize"]
        monkeypatch.setitem(REGISTRY, "resize", dataclasses.replace(
            op, forward=op.forward.replace("align_corners={align_corners}", "align_corners=True")))
        node = "resize1"
    result = _tampered(text, change or (lambda m: None))
    failure = _only_failure(result)
    assert failure.name == node and failure.error > failure.tolerance
    assert f"{node} (`{text.splitlines()[1]}`): values differ from the reference: max abs error" in result.summary()
    assert "MISMATCH" in result.summary().splitlines()[-1]


def test_a_wrong_merge_expression_fails_the_command(tmp_path: Path, monkeypatch) -> None:
    """The merge's expression is what both the generated forward and the interpreter run: only
    the reference, from the merge's definition, can tell that it is wrong."""
    spec = write(tmp_path, "se.arch", "input 6x6x4\nmul(identity, gap -> conv 1x1 x4 -> sigmoid)\n-> relu\n")
    assert run_cli("compile", str(spec), "--verify")[0] == 0
    monkeypatch.setitem(MERGES, "mul", dataclasses.replace(MERGES["mul"], torch=lambda args: " + ".join(args)))
    status, out, err = run_cli("compile", str(spec), "--verify")
    assert status == 3 and out == ""
    assert "mul1 (`mul`): values differ from the reference: max abs error " in err
    assert "MISMATCH" in err and "Traceback" not in err


def test_a_wrong_generated_source_fails_the_command(tmp_path: Path, monkeypatch) -> None:
    spec = write(tmp_path, "pool.arch", "input 8x8x3\nconv 3x3 p1 x4 -> avgpool 3 s1 p1 count_include_pad=0 -> relu\n")
    real = build.generate

    def padding_counted(graph, plan=None):
        return real(graph, plan).replace(", count_include_pad=False", "")

    monkeypatch.setattr(build, "generate", padding_counted)
    status, _, err = run_cli("compile", str(spec), "--verify")
    assert status == 3
    line = next(x for x in err.splitlines() if x.startswith("avgpool1 "))
    assert line.startswith("avgpool1 (`avgpool 3 s1 p1 count_include_pad=0`): values differ from the reference: "
                           "max abs error ")
    assert float(line.split("max abs error ")[1].split()[0]) > 1e-3


def test_an_input_overwritten_in_place_is_reported_where_it_is_read() -> None:
    """``relu`` may run in place only on a tensor nothing else reads: here the residual's shortcut
    reads the input that an in-place ``relu`` overwrote."""
    text = "input 6x6x4\nresidual(relu -> conv 1x1 x4)\n"
    assert verify(analyse(text)).ok
    result = _tampered(text, lambda m: setattr(m, "branch2_relu1", nn.ReLU(inplace=True)))
    failure = _only_failure(result)
    assert failure.name == "add1"
    assert failure.problem == "its input `input` was changed in place after it was computed"


def test_a_training_only_layer_is_checked_in_training_mode() -> None:
    """Layers of a training-only output run in training mode only: batch norm on the batch's
    statistics there, dropout by shape only (random)."""
    text = ("input 8x8x4\nbody = conv 3x3 p1 x4 -> relu\n"
            "aux = body -> conv 1x1 x4 nobias -> bn eps=0.01 -> relu -> gap -> flatten -> dropout 0.3 -> fc 3\n"
            "head = body -> gap -> flatten -> fc 3\noutput head\noutput aux when training\n")
    result = verify(analyse(text))
    assert result.ok, result.summary()
    assert [v.name for v in result.values if v.training] == [
        "aux.conv1", "aux.bn1", "aux.relu1", "aux.gap1", "aux.flatten1", "aux.fc1"]
    assert result.shape_only == {"dropout, training mode": "random in training mode"}
    assert result.summary().splitlines()[0] == (
        "shape only (values not checked) for 1 node: `dropout, training mode` (random in training mode)")
    failure = _only_failure(_tampered(text, lambda m: setattr(m.aux_bn1, "eps", 1.0)))
    assert (failure.name, failure.training) == ("aux.bn1", True)
    assert failure.describe().startswith("aux.bn1 (`bn eps=0.01`, training mode): values differ from the reference")


def test_a_module_that_lacks_what_the_analysis_says_is_a_mismatch() -> None:
    result = _tampered("input 6x6x3\nconv 3x3 x4 nobias\n",
                       lambda m: setattr(m, "conv1", nn.Conv2d(3, 4, 3, bias=True)))
    assert _only_failure(result).problem == "the module has a bias, the analysis says `nobias`"


# --- random stacks ------------------------------------------------------------------------------

def _pair(draw, low: int, high: int) -> str:
    a, b = draw(st.integers(low, high)), draw(st.integers(low, high))
    return str(a) if draw(st.booleans()) else f"{a}x{b}"


@st.composite
def value_layers(draw) -> str:
    """A layer whose values depend on its attributes: windows, padding, resizing, norms."""
    kind = draw(st.sampled_from(["conv", "dwconv", "convt", "maxpool", "avgpool", "upsample", "lrn", "bn",
                                 "zeropad", "adaptive", "act", "shuffle", "norm", "resize", "v2"]))
    if kind in ("conv", "dwconv"):
        padding = draw(st.sampled_from(["same", f"p{_pair(draw, 0, 2)}", ""]))
        groups = draw(st.sampled_from(["", " g2"])) if kind == "conv" else ""
        return f"{kind} {_pair(draw, 1, 4)} s{_pair(draw, 1, 2)} {padding} d{_pair(draw, 1, 2)} x4{groups}"
    if kind == "convt":
        return f"convt {_pair(draw, 1, 3)} s{_pair(draw, 1, 2)} p{_pair(draw, 0, 1)} x4"
    if kind in ("maxpool", "avgpool"):
        padding = draw(st.sampled_from(["same", f"p{_pair(draw, 0, 1)}", ""]))
        extra = draw(st.sampled_from(["", " ceil"]))
        if kind == "avgpool":
            extra += draw(st.sampled_from(["", " count_include_pad=0"]))
        return f"{kind} {_pair(draw, 1, 3)} s{_pair(draw, 1, 2)} {padding}{extra}"
    if kind == "upsample":
        return f"upsample {_pair(draw, 1, 3)} mode={draw(st.sampled_from(['nearest', 'bilinear', 'bicubic']))}"
    if kind == "lrn":
        return f"lrn {draw(st.integers(1, 5))} alpha=0.01 beta=0.75 k=2"
    if kind == "bn":
        return draw(st.sampled_from(["bn", "bn eps=0.001", "bn eps=0.1"]))
    if kind == "zeropad":
        return f"zeropad {_pair(draw, 0, 2)}"
    if kind == "adaptive":
        return f"{draw(st.sampled_from(['adaptiveavgpool', 'adaptivemaxpool']))} {_pair(draw, 1, 5)}"
    if kind == "shuffle":
        return "channel_shuffle 2"
    if kind == "norm":
        return draw(st.sampled_from(["layernorm", "layernorm eps=0.1", "groupnorm 2", "groupnorm 4 eps=0.01",
                                     "instancenorm", "instancenorm affine"]))
    if kind == "resize":
        return f"resize {_pair(draw, 1, 9)} mode={draw(st.sampled_from(['nearest', 'bilinear']))}"
    if kind == "v2":
        return draw(st.sampled_from(["fc 4 pixelwise", "fc 4 pixelwise nobias", "layerscale init=0.5", "droppath 0.2",
                                     "hflip", "vflip", "rotate 10", "colorjitter brightness=0.2", "randomcrop 2 pad=1"]))
    return draw(st.sampled_from(["relu", "relu6", "sigmoid", "hardsigmoid", "tanh", "silu", "hardswish", "gelu",
                                 "mish", "elu 0.5", "leakyrelu 0.2", "softmax", "logsoftmax"]))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(3, 12), st.integers(3, 12), st.lists(value_layers(), min_size=1, max_size=4),
       st.sampled_from(["", "-> flatten -> fc 3 -> softmax", "-> gap -> flatten -> bn -> relu"]))
def test_random_stacks_verify_with_values(h: int, w: int, layers: list[str], head: str) -> None:
    text = f"input {h}x{w}x4\n" + " -> ".join(layers) + f" {head}\n"
    try:
        graph = analyse(text, "random.arch")
    except ArchError:
        return  # refused by the analysis: nothing to build
    result = verify(graph)
    assert result.ok, text + result.summary()
    assert len(result.values) == len(graph.layers) and not result.shape_only
