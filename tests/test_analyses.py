"""The static analyses held to their measurements on the compiled model (ANALYSIS.md):
receptive fields by back-propagation, training memory by autograd's saved tensors, counts by
fvcore, thop and ptflops themselves."""

from __future__ import annotations

import importlib.util
import json
from functools import lru_cache
from pathlib import Path

import pytest

from archlang.analyses import counting, memory, rf
from archlang.api import load
from archlang.core.errors import ArchError

from conftest import ROOT, SPECS, run_cli

torch = pytest.importorskip("torch")
from measure import counter_totals, measured_fields, saved_bytes  # noqa: E402

NETWORKS = ROOT / "tests" / "networks"
ANALYSES = ROOT / "tests" / "analyses_specs"


ZOO = sorted(SPECS.glob("*.arch")) + sorted(NETWORKS.glob("*.arch"))


@lru_cache(maxsize=None)
def small_input(path: Path) -> tuple[int, ...] | None:
    """A reduced input the spec accepts (channels kept), to keep measurements fast."""
    spec = load(path)
    shape = spec.input.shape
    if len(shape) != 3:
        return None
    for side in (32, 48, 64, 96, 128, 160, 192, 224):
        if side >= min(shape[:2]):
            return None
        try:
            load(path, None, (side, side, shape[2]))
        except ArchError:
            continue
        return (side, side, shape[2])
    return None


def _graph(path: Path, reduced: bool = True):
    return load(path, None, small_input(path) if reduced else None)


# --- receptive field -----------------------------------------------------------------------

HAND_MADE = {
    "dilated": ("input 72x72x2\nconv 3x3 d2 x3 -> conv 3x3 s2 d3 p3 x3 -> maxpool 3 s2 d2 -> conv 5x5 d2 x2", 2),
    "transposed": ("input 40x40x1\nconvt 3x3 s2 x2 -> convt 5x5 s3 p1 x2 -> conv 5x5 s4 x2 "
                   "-> upsample 2 mode=bilinear -> conv 2x2 s3 d2 x2", 6),
    "branches": ("input 28x28x2\nconv 3x3 s2 d2 p2 x4 -> relu -> convt 3x3 s2 x4 -> upsample 3 mode=bilinear "
                 "-> maxpool 3 s2 -> concat(convt 4x4 s2 p1 x3, upsample 2 -> conv 1x1 x2) -> conv 3x3 d3 x4 "
                 "-> add(identity, gap -> conv 1x1 x4 -> sigmoid) -> mul(identity, upsample 2 mode=bicubic "
                 "-> avgpool 2)", 4),
    "offsets": ("input 62x62x2\nadd(conv 1x1 x2, upsample 2 mode=bilinear -> avgpool 2, zeropad 1 -> conv 3x3 x2,"
                " maxpool 2 s2 -> upsample 2) -> conv 3x3 s2 x2 -> add(conv 2x2 s2 x2, maxpool 3 s2 p1)", 4),
    "nearest_vs_bilinear": ("input 48x48x1\nconv 3x3 s2 x2 -> concat(upsample 4, upsample 4 mode=bilinear)", 4),
}


def _assert_fields(graph, positions: int) -> None:
    static = rf.receptive_fields(graph)
    measured = measured_fields(graph, positions)
    for node in graph.layers:
        assert static[node.index].rf == measured[node.index], node.name


@pytest.mark.parametrize("name", sorted(HAND_MADE))
def test_receptive_field_matches_gradients_on_hand_made_networks(name: str) -> None:
    text, positions = HAND_MADE[name]
    _assert_fields(load(text), positions)


@pytest.mark.parametrize("spec, shape", [
    ("lenet5", (96, 96, 1)), ("tiny_unet", (64, 64, 3)), ("inception_module", (40, 40, 192)),
    ("convnet39", (128, 128, 3)),
])
def test_receptive_field_matches_gradients_on_the_zoo(spec: str, shape: tuple[int, ...]) -> None:
    _assert_fields(load(SPECS / f"{spec}.arch", None, shape), 1)


@pytest.mark.slow
@pytest.mark.exhaustive
@pytest.mark.parametrize("spec, params, shape", [
    ("resnet", {"depth": 18}, (512, 512, 3)), ("mobilenet_v2", {}, (544, 544, 3)),
    ("alexnet", {}, (227, 227, 3)), ("mobilenet_v1", {}, (320, 320, 3)),
    ("googlenet", {}, (544, 544, 3)),
])
def test_receptive_field_matches_gradients_on_deep_networks(spec: str, params: dict, shape: tuple) -> None:
    _assert_fields(load(SPECS / f"{spec}.arch", params, shape), 1)


def test_receptive_field_figures() -> None:
    """ResNet-50's well-known 427 px, and FCN-ResNet50's 443 before its x8 bilinear resize, 451 after."""
    resnet = load(SPECS / "resnet.arch")
    fields = rf.receptive_fields(resnet)
    last_spatial = [n for n in resnet.layers if fields[n.index].rf][-1]
    assert fields[last_spatial.index].rf == (427, 427)
    assert fields[last_spatial.index].rf_stride == (32, 32)
    fcn = load(ANALYSES / "fcn_resnet50.arch")
    assert sum(n.params for n in fcn.layers) == 32_957_013  # torchvision's fcn_resnet50 without aux
    fields = rf.receptive_fields(fcn)
    *_, before, after = fcn.layers
    assert (fields[before.index].rf, fields[after.index].rf) == ((443, 443), (451, 451))
    assert fields[before.index].rf_stride == (8, 8) and fields[after.index].rf_stride == (1, 1)


def test_global_context_rows() -> None:
    """Squeeze-and-excite: the branch after `gap` has no field; the merge keeps the local one and
    says it sees global context; VGG's rows after its 7x7 adaptive pool have no field."""
    graph = load("input 32x32x8\nconv 3x3 x8 -> mul(identity, gap -> conv 1x1 x8 -> sigmoid) -> conv 3x3 x8")
    fields = rf.receptive_fields(graph)
    by_name = {n.name: fields[n.index] for n in graph.layers}
    assert by_name["branch2.gap1"].rf is None and by_name["branch2.gap1"].global_context
    assert by_name["branch2.conv1"].rf is None
    assert by_name["mul1"].rf == (3, 3) and by_name["mul1"].global_context
    assert by_name["conv2"].rf == (5, 5) and by_name["conv2"].global_context
    assert not by_name["conv1"].global_context
    vgg = load(SPECS / "vgg.arch")
    fields = rf.receptive_fields(vgg)
    pool = next(n for n in vgg.layers if n.op == "adaptiveavgpool")
    assert all(fields[n.index].rf is None for n in vgg.layers if n.index >= pool.index)


def test_rf_in_json_and_table() -> None:
    status, out, _ = run_cli("check", str(SPECS / "resnet.arch"), "--format", "json")
    assert status == 0
    doc = json.loads(out)
    last = [r for r in doc["layers"] if r["rf"]][-1]
    assert last["rf"] == [427, 427] and last["rf_stride"] == [32, 32] and last["global_context"] is False
    assert doc["layers"][-1]["rf"] is None and doc["layers"][-1]["global_context"] is True
    status, out, _ = run_cli("check", str(SPECS / "resnet.arch"), "--rf")
    assert " RF" in out.splitlines()[1] and "427x427" in out
    assert "receptive field: 427x427 px" in out
    status, out, _ = run_cli("check", str(SPECS / "tiny_unet.arch"), "--format", "json")
    up = next(r for r in json.loads(out)["layers"] if r["name"] == "up.upsample1")
    assert up["rf_stride"] == [1, 1]


def test_fractional_stride_after_upsampling() -> None:
    graph = load("input 16x16x1\nupsample 2 -> conv 3x3 x1")
    fields = rf.receptive_fields(graph)
    assert fields[graph.layers[-1].index].rf == (2, 2)
    assert [rf.stride_value(s) for s in fields[graph.layers[-1].index].rf_stride] == [0.5, 0.5]


# --- training memory -----------------------------------------------------------------------


@pytest.mark.parametrize("path", ZOO, ids=lambda p: p.stem)
def test_training_memory_matches_autograd_at_reduced_size(path: Path) -> None:
    graph = _graph(path)
    measured = saved_bytes(graph, batch=2)
    static = memory.footprint(graph, batch=2).activation_bytes
    assert abs(static - measured) <= 0.02 * measured
    assert static == measured  # in fact exact


@pytest.mark.slow
@pytest.mark.exhaustive
@pytest.mark.parametrize("path", ZOO, ids=lambda p: p.stem)
def test_training_memory_matches_autograd_at_full_size(path: Path) -> None:
    graph = _graph(path, reduced=False)
    assert memory.footprint(graph, batch=2).activation_bytes == saved_bytes(graph, batch=2)


@pytest.mark.parametrize("text", [
    "input 12x12x4\nconv 3x3 x4 -> lrn 3 -> dropout 0.3 -> maxpool 3 s2 same -> relu6 -> avgpool 2 p1 "
    "-> elu -> gelu -> mish -> hardswish -> adaptivemaxpool 2 -> adaptiveavgpool 1 -> flatten -> fc 3 -> logsoftmax",
    "input 8x8x3\nconv 3x3 x4 nobias -> mul(identity, conv 1x1 x4, gap) -> chunk 2 1 -> conv 1x1 x2 -> leakyrelu 0.2"
    " -> gmp -> flatten -> bn -> dropout 1 -> softmax",
    "input 8x8x3\nfreeze(conv 3x3 x4) -> relu -> conv 3x3 x4 -> relu -> dropout 0 -> silu -> tanh -> sigmoid",
])
def test_training_memory_on_every_op(text: str) -> None:
    graph = load(text)
    for batch in (2, 5):
        assert memory.footprint(graph, batch).activation_bytes == saved_bytes(graph, batch)


def test_training_memory_in_summary_and_json() -> None:
    status, out, _ = run_cli("check", str(SPECS / "resnet.arch"), "--batch", "32", "--format", "json")
    totals = json.loads(out)["totals"]
    assert totals["train_activation_bytes"] == memory.footprint(load(SPECS / "resnet.arch"), 32).activation_bytes
    training = totals["training"]
    assert training["param_bytes"] == training["grad_bytes"] == training["sgd_momentum_bytes"] == 25_557_032 * 4
    assert training["adam_bytes"] == 2 * 25_557_032 * 4
    status, out, _ = run_cli("check", str(SPECS / "resnet.arch"), "--batch", "32")
    assert "training memory at batch 32 (fp32," in out and "Adam" in out and "assumes:" in out
    status, _, err = run_cli("check", str(SPECS / "resnet.arch"), "--batch", "0")
    assert status == 2 and "expected 1 or more" in err


# --- counting conventions ------------------------------------------------------------------

COUNTERS = [name for name in ("fvcore", "thop", "ptflops") if importlib.util.find_spec(name)]


def _need_counters() -> None:
    missing = {"fvcore", "thop", "ptflops"} - set(COUNTERS)
    if missing:
        pytest.skip(f"{', '.join(sorted(missing))} not installed (pip install -c constraints.txt -e '.[test]')")


def _assert_counts(graph) -> None:
    _need_counters()
    measured = counter_totals(graph)
    for name in COUNTERS:
        assert sum(counting.count(graph, name).values()) == measured[name], name


@pytest.mark.parametrize("path", ZOO, ids=lambda p: p.stem)
def test_counts_equal_the_counters_at_reduced_size(path: Path) -> None:
    _assert_counts(_graph(path))


@pytest.mark.slow
@pytest.mark.exhaustive
@pytest.mark.parametrize("path", ZOO, ids=lambda p: p.stem)
def test_counts_equal_the_counters_at_full_size(path: Path) -> None:
    _assert_counts(_graph(path, reduced=False))


@pytest.mark.parametrize("name", sorted(HAND_MADE))
def test_counts_equal_the_counters_on_hand_made_networks(name: str) -> None:
    _assert_counts(load(HAND_MADE[name][0]))


def test_counts_on_every_op() -> None:
    _assert_counts(load("input 12x12x4\nconv 3x3 x4 -> lrn 3 -> dropout 0.3 -> maxpool 3 s2 same -> relu6 "
                        "-> avgpool 2 p1 -> elu -> gelu -> zeropad 1 -> leakyrelu -> silu -> upsample 2 mode=bicubic "
                        "-> convt 3x3 s2 g2 x4 -> adaptivemaxpool 2 -> adaptiveavgpool 3 -> softmax -> flatten "
                        "-> fc 3 nobias -> bn -> softmax"))


def test_count_option_rows_add_up() -> None:
    for convention in counting.CONVENTIONS:
        status, out, _ = run_cli("check", str(SPECS / "googlenet.arch"), "--count", convention, "--format", "json")
        doc = json.loads(out)
        assert doc["totals"]["ops"]["convention"] == convention
        assert sum(r["ops"] for r in doc["layers"]) == doc["totals"]["ops"]["total"]
    assert doc["totals"]["ops"]["total"] != doc["totals"]["mults"]
    status, out, _ = run_cli("check", str(SPECS / "resnet.arch"), "--count", "macs", "--format", "json")
    assert json.loads(out)["totals"]["ops"]["total"] == json.loads(out)["totals"]["mults"] == 4_089_184_256
    status, out, _ = run_cli("check", str(SPECS / "resnet.arch"), "--count", "flops", "--depth", "0")
    assert "8,178,368,512" in out and "ops (2 x multiply-accumulates)" in out


# --- version-2 layers ----------------------------------------------------------------------

V2_LAYERS = [
    "input 8x8x4\nconv 3x3 x4 -> layernorm -> relu -> gap -> flatten -> fc 6 -> layernorm",
    "input 8x8x4\nconv 3x3 x4 -> groupnorm 2 -> instancenorm -> instancenorm affine -> layerscale -> droppath 0.2",
    "input 8x8x4\nconv 3x3 x4 -> fc 6 pixelwise -> resize 11x13 -> resize 3x5 mode=bilinear -> droppath 0 -> relu",
    "input 8x8x3\nconv 3x3 x4 -> hflip -> vflip p=0.3 -> randomcrop 4x4 pad=1 -> rotate 10 -> conv 1x1 x3 "
    "-> colorjitter brightness=0.2 contrast=0.2 saturation=0.2 -> pcacolor -> relu",
]


@pytest.mark.parametrize("text", V2_LAYERS)
def test_training_memory_on_version_2_layers(text: str) -> None:
    graph = load(text)
    for batch in (2, 5):
        assert memory.footprint(graph, batch).activation_bytes == saved_bytes(graph, batch)


@pytest.mark.parametrize("text", V2_LAYERS)
def test_counts_on_version_2_layers(text: str) -> None:
    _assert_counts(load(text))
