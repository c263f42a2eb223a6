"""The version 2 layers held against PyTorch: droppath, layerscale, layernorm, groupnorm,
instancenorm, `fc N pixelwise` and resize. Each compiled module is compared with the PyTorch
layer it stands for (same weights, same input), its parameters are counted with numel, its
multiplies with forward hooks, its shapes with hooks and `verify`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Callable

import pytest
import torch
from torch import nn
from torch.nn import functional as F

import archlang
from archlang.api import load
from archlang.core.shapes import ShapeError
from archlang.emit.build import example_input, to_hwc, verify
from archlang.emit.codegen import generate
from archlang.ops import lookup
from conftest import run_cli, write

Reference = Callable[[nn.Module], Callable[[torch.Tensor], torch.Tensor]]


def _params(model: nn.Module) -> list[torch.Tensor]:
    return [p.detach() for p in model.parameters()]


def _randomise(model: nn.Module) -> None:
    """Weights away from their initial ones (ones and zeros hide a swapped scale and shift)."""
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn_like(p))


def _channel_layernorm(eps: float) -> Reference:
    def ref(model: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
        w, b = _params(model)
        return lambda x: F.layer_norm(x.permute(0, 2, 3, 1), (x.shape[1],), w, b, eps).permute(0, 3, 1, 2)
    return ref


def _module(make: Callable[[], nn.Module]) -> Reference:
    """A PyTorch module given the compiled model's parameters, in order."""
    def ref(model: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
        reference = make().eval()
        with torch.no_grad():
            for theirs, ours in zip(reference.parameters(), model.parameters(), strict=True):
                theirs.copy_(ours)
        return reference
    return ref


def _pixelwise(model: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    w, b = _params(model)
    return lambda x: torch.einsum("nchw,fc->nfhw", x, w) + b[None, :, None, None]


CASES: list[tuple[str, Reference, int]] = [  # spec, reference, parameters
    ("input 7x9x8\nlayernorm", _channel_layernorm(1e-5), 16),
    ("input 7x9x8\nlayernorm eps=1e-6", _channel_layernorm(1e-6), 16),
    ("input 10\nlayernorm eps=0.001", _module(lambda: nn.LayerNorm(10, eps=0.001)), 20),
    ("input 7x9x8\ngroupnorm 4", _module(lambda: nn.GroupNorm(4, 8)), 16),
    ("input 7x9x8\ngroupnorm 2 eps=0.001", _module(lambda: nn.GroupNorm(2, 8, eps=0.001)), 16),
    ("input 7x9x8\ninstancenorm", _module(lambda: nn.InstanceNorm2d(8)), 0),
    ("input 7x9x8\ninstancenorm affine", _module(lambda: nn.InstanceNorm2d(8, affine=True)), 16),
    ("input 7x9x8\nlayerscale", lambda m: (lambda x: _params(m)[0] * x), 8),
    ("input 7x9x8\nfc 5 pixelwise", _pixelwise, 8 * 5 + 5),
    ("input 7x9x8\nfc 5 pixelwise nobias", lambda m: (lambda x: torch.einsum("nchw,fc->nfhw", x, _params(m)[0])),
     8 * 5),
    ("input 7x9x8\ndroppath 0.3", lambda m: (lambda x: x), 0),
    ("input 7x9x8\nresize 5x13", lambda m: (lambda x: F.interpolate(x, size=(5, 13), mode="nearest")), 0),
    ("input 7x9x8\nresize 14x4 mode=bilinear",
     lambda m: (lambda x: F.interpolate(x, size=(14, 4), mode="bilinear", align_corners=False)), 0),
    ("input 7x9x8\nresize 3 mode=nearest", lambda m: (lambda x: F.interpolate(x, size=(3, 3))), 0),
]


@pytest.mark.parametrize("text, reference, params", CASES, ids=[c[0].split("\n")[1] for c in CASES])
def test_layer_matches_pytorch(text: str, reference: Reference, params: int) -> None:
    torch.manual_seed(0)
    graph = load(text)
    model = archlang.compile(text).eval()
    _randomise(model)
    assert sum(p.numel() for p in model.parameters()) == params == graph.layers[0].params
    x = example_input(graph, batch=3)
    with torch.no_grad():
        got, expected = model(x), reference(model)(x)
    assert to_hwc(got.shape) == graph.layers[0].shape
    assert torch.allclose(got, expected, atol=1e-5), float((got - expected).abs().max())
    assert verify(graph).ok


def test_layerscale_holds_one_parameter_shaped_as_convnext() -> None:
    model = archlang.compile("input 4x4x96\nlayerscale init=0.25")
    (name, gamma), = model.named_parameters()
    assert name.endswith(".gamma") and gamma.shape == (96, 1, 1)
    assert torch.equal(gamma, torch.full((96, 1, 1), 0.25))
    default = archlang.compile("input 4x4x3\nlayerscale")
    assert torch.equal(next(default.parameters()), torch.full((3, 1, 1), 1e-6))


def test_pixelwise_fc_weights_and_multiplies() -> None:
    """Weights shaped (N, C) as nn.Linear's; multiplies H*W*C*N, counted by a hook on every
    multiply-accumulate the layer performs."""
    text = "input 6x5x12\nfc 7 pixelwise -> gelu -> fc 12 pixelwise"
    graph = load(text)
    model = archlang.compile(text).eval()
    assert [tuple(p.shape) for p in model.parameters()] == [(7, 12), (7,), (12, 7), (12,)]
    counted: list[int] = []
    hooks = [m.register_forward_hook(lambda mod, i, o: counted.append(o[0].numel() * mod.in_features))
             for m in model.modules() if isinstance(m, nn.Linear)]
    with torch.no_grad():
        model(example_input(graph, batch=1))
    for h in hooks:
        h.remove()
    rows = [n for n in graph.layers if n.op == "fc"]
    assert counted == [n.mults for n in rows] == [6 * 5 * 12 * 7, 6 * 5 * 7 * 12]
    assert [n.shape for n in rows] == [(6, 5, 7), (6, 5, 12)]


def test_shapes_of_a_convnext_style_block_by_hooks() -> None:
    text = """network cnblock
input 14x14x32
residual(dwconv 7x7 p3 -> layernorm eps=1e-6 -> fc 128 pixelwise -> gelu -> fc 32 pixelwise -> layerscale -> droppath 0.1)
-> groupnorm 8 -> resize 28x28 mode=bilinear -> instancenorm affine
"""
    graph = load(text)
    model = archlang.compile(text).eval()
    seen: list[tuple[int, ...]] = []
    hooks = [m.register_forward_hook(lambda mod, i, o: seen.append(to_hwc(o.shape))) for m in model.children()]
    with torch.no_grad():
        out = model(example_input(graph))
    for h in hooks:
        h.remove()
    assert seen == [n.shape for n in graph.layers if n.has_module]
    assert to_hwc(out.shape) == (28, 28, 32)
    result = verify(graph)
    assert result.ok and len(result.layers) == len(graph.layers) == 11
    expected = (32 * 49 + 32) + 2 * 32 + (32 * 128 + 128) + (128 * 32 + 32) + 32 + 2 * 32 + 2 * 32
    assert sum(p.numel() for p in model.parameters()) == expected == sum(n.params for n in graph.layers)


def test_droppath_drops_whole_samples_in_training_only() -> None:
    model = archlang.compile("input 3x3x4\ndroppath 0.5")
    x = torch.randn(2000, 4, 3, 3)
    model.train()
    torch.manual_seed(1)
    y = model(x)
    ratio = y / x
    per_sample = ratio.flatten(1)
    dropped = (per_sample == 0).all(dim=1)
    kept = torch.isclose(per_sample, torch.tensor(2.0)).all(dim=1)
    assert bool((dropped | kept).all())  # a whole sample is dropped or scaled by 1 / (1 - p)
    assert 0.45 < float(dropped.float().mean()) < 0.55
    torch.manual_seed(1)
    assert torch.equal(model(x), y)  # repeatable under manual_seed
    model.eval()
    assert torch.equal(model(x), x)


def test_droppath_ends() -> None:
    x = torch.randn(5, 2, 3, 3)
    assert torch.equal(archlang.compile("input 3x3x2\ndroppath 0").train()(x), x)
    assert torch.equal(archlang.compile("input 3x3x2\ndroppath 1").train()(x), torch.zeros_like(x))
    vector = archlang.compile("input 6\ndroppath 0.5").train()
    y = vector(torch.ones(400, 6))
    assert set(y.unique().tolist()) == {0.0, 2.0}


@pytest.mark.parametrize("text, message", [
    ("input 8x8x6\ngroupnorm 4", "4 groups do not divide the 6 channels"),
    ("input 10\nfc 5 pixelwise", "`fc pixelwise` needs an HxWxC volume, but receives 10"),
    ("input 8x8x3\ndroppath 1.5", "drop-path probability 1.5 is not between 0 and 1"),
    ("input 10\ninstancenorm", "`instancenorm` needs an HxWxC volume"),
    ("input 10\nlayerscale", "`layerscale` needs an HxWxC volume"),
    ("input 10\nresize 4x4", "`resize` needs an HxWxC volume"),
    ("input 8x8x3\nresize", "`resize` needs a size"),
    ("input 8x8x3\nresize 4x4 mode=bicubic", "`mode` must be one of nearest, bilinear"),
    ("input 8x8x3\ndroppath", "`droppath` needs p"),
])
def test_mistakes_are_diagnostics(tmp_path: Path, text: str, message: str) -> None:
    status, _, err = run_cli("check", str(write(tmp_path, "bad.arch", text + "\n")))
    assert status == 1 and message in err and "Traceback" not in err, err


def test_resize_like_contract() -> None:
    """`resize like=NAME`: the elaborator binds NAME as `like` and its shape as `like_shape`; the
    op resolves the target `size` from it."""
    op = lookup("resize")
    assert op is not None and op.signature.keywords["like"].kind == "tensor"
    bound = {"size": None, "mode": "bilinear", "like": "p3", "like_shape": (20, 30, 64)}
    resolved = op.resolve((10, 15, 8), bound)
    assert resolved["size"] == (20, 30) and bound["size"] is None
    assert op.rule((10, 15, 8), resolved) == (20, 30, 8)
    assert op.forward is not None and op.forward.format(x="x", **resolved) == (
        "torch.nn.functional.interpolate(x, size=(20, 30), mode='bilinear', align_corners=False)")
    with pytest.raises(ShapeError, match="not both"):
        op.resolve((10, 15, 8), dict(bound, size=(4, 4)))
    with pytest.raises(ShapeError, match="is a 64 vector"):
        op.resolve((10, 15, 8), dict(bound, like_shape=(64,)))


def test_table_text_and_generated_constructors() -> None:
    text = "network n\ninput 8x8x8\nc = 4\ngroupnorm (c) eps=(1 / 1000) -> instancenorm affine -> layerscale init=(0.5)"
    report = archlang.check(text)
    assert [r.op for r in report.rows] == ["groupnorm 4 eps=0.001", "instancenorm affine", "layerscale init=0.5"]
    source = archlang.source(text)
    assert "self.groupnorm1 = nn.GroupNorm(4, 8, eps=0.001)" in source
    assert "self.instancenorm1 = nn.InstanceNorm2d(8, affine=True)" in source
    assert "self.layerscale1 = LayerScale(8, 0.5)" in source


def test_helper_classes_are_emitted_only_when_used() -> None:
    plain = archlang.source("input 8x8x3\nconv 3x3 x4 -> layernorm -> gap -> flatten -> layernorm")
    assert "class LayerNorm2d(nn.LayerNorm):" in plain
    assert "class DropPath" not in plain and "class LayerScale" not in plain and "class Pixelwise" not in plain
    assert "class " not in archlang.source("input 8x8x3\nconv 3x3 x4 -> groupnorm 2").split("class Network")[0]


def test_generated_file_with_helpers_runs_without_archlang(tmp_path: Path) -> None:
    text = ("network nx\ninput 8x8x4\nresidual(layernorm -> fc 8 pixelwise -> gelu -> fc 4 pixelwise -> layerscale"
            " -> droppath 0.2) -> resize 16x16 mode=bilinear")
    model = archlang.compile(text).train()
    _randomise(model)
    path = tmp_path / "nx_model.py"
    path.write_text(generate(load(text)))
    torch.save(model.state_dict(), tmp_path / "weights.pt")
    x = torch.randn(6, 4, 8, 8)
    torch.save(x, tmp_path / "x.pt")
    script = f"""
import sys, importlib.util
sys.modules['archlang'] = None  # archlang must not be needed to use the generated file
import torch
spec = importlib.util.spec_from_file_location('m', {str(path)!r})
m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
model = m.Nx().train()
model.load_state_dict(torch.load({str(tmp_path / 'weights.pt')!r}))
torch.manual_seed(3)
torch.save(model(torch.load({str(tmp_path / 'x.pt')!r})), {str(tmp_path / 'y.pt')!r})
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    torch.manual_seed(3)
    with torch.no_grad():
        assert torch.equal(torch.load(tmp_path / "y.pt"), model(x))


def _torchvision():
    """torchvision, imported with its fake-kernel registrations disabled (its C++ ops are absent
    for this CPU build of torch)."""
    import torch.library

    saved = torch.library.register_fake
    torch.library.register_fake = lambda *args, **kwargs: (lambda fn: fn)  # type: ignore[assignment]
    try:
        import torchvision
        import torchvision.models.convnext
        import torchvision.ops
    finally:
        torch.library.register_fake = saved
    return torchvision


@pytest.mark.torchvision
def test_droppath_is_torchvision_stochastic_depth() -> None:
    tv = _torchvision()
    model = archlang.compile("input 5x5x3\ndroppath 0.3").train()
    x = torch.randn(64, 3, 5, 5)
    torch.manual_seed(7)
    ours = model(x)
    torch.manual_seed(7)
    theirs = tv.ops.stochastic_depth(x, 0.3, "row", training=True)
    assert torch.equal(ours, theirs)


@pytest.mark.torchvision
def test_convnext_block_equals_torchvision() -> None:
    """ConvNeXt's CNBlock as a chain: dwconv, LayerNorm2d, pixelwise fc, GELU, fc, layer scale,
    stochastic depth; the same outputs in eval and in training under one seed."""
    tv = _torchvision()
    torch.manual_seed(0)
    block = tv.models.convnext.CNBlock(32, layer_scale=0.3, stochastic_depth_prob=0.25)
    model = archlang.compile("input 9x9x32\nresidual(dwconv 7x7 p3 -> layernorm eps=1e-6 -> fc 128 pixelwise"
                             " -> gelu -> fc 32 pixelwise -> layerscale init=0.3 -> droppath 0.25)")
    theirs = dict(block.named_parameters())
    ours = list(model.parameters())
    assert sum(p.numel() for p in ours) == sum(p.numel() for p in theirs.values())
    order = ["block.0.weight", "block.0.bias", "block.2.weight", "block.2.bias", "block.3.weight", "block.3.bias",
             "block.5.weight", "block.5.bias", "layer_scale"]
    with torch.no_grad():
        for p, key in zip(ours, order, strict=True):
            assert p.shape == theirs[key].shape, key
            theirs[key].copy_(torch.randn_like(p))
            p.copy_(theirs[key])
    x = torch.randn(8, 32, 9, 9)
    for training in (False, True):
        model.train(training)
        block.train(training)
        torch.manual_seed(5)
        got = model(x)
        torch.manual_seed(5)
        expected = block(x)
        scale = float(expected.abs().max())
        assert torch.allclose(got, expected, rtol=1e-5, atol=1e-5 * scale), (training, float((got - expected).abs().max()))
        assert not training or bool((got == x).flatten(1).all(dim=1).any())  # a dropped sample passes x through


def test_docs_examples_of_the_new_layers_check() -> None:
    """The examples under the version 2 headings of docs/LANGUAGE.md analyse without errors, with
    ConvNeXt's block at its published size (torchvision's CNBlock(96): 79,296 parameters)."""
    docs = (Path(__file__).resolve().parent.parent / "docs" / "LANGUAGE.md").read_text(encoding="utf-8")
    blocks = [part.split("```")[0] for part in docs.split("```\n")[1:] if "pixelwise" in part.split("```")[0]
              or "randomcrop" in part.split("```")[0]]
    blocks = [b for b in blocks if b.lstrip().startswith(("#", "block", "network", "input"))]
    assert len(blocks) == 2
    convnext, cifar = (archlang.check(b) for b in blocks)
    assert sum(r.params for r in convnext.rows if r.name.startswith("cnblock1.")) == 79_296
    assert cifar.output == (10,) and sum(r.training_only for r in cifar.rows) == 3


def test_op_text_shows_expressions_resolved() -> None:
    """Tables show an op's arguments as numbers: a stochastic-depth rate written
    `p * i / (n - 1)` inside `(...) * n as i` reads `droppath 0.1` for i = 1 of 3 at p = 0.2."""
    from archlang.report import Report

    report = Report.of(load("network t(p = 0.2)\ninput 8x8x4\n(residual(conv 3x3 same x4 -> droppath (p * i / 2))) * 3 as i\n"))
    assert [r.op for r in report.rows if r.op.startswith("droppath")] == ["droppath 0", "droppath 0.1", "droppath 0.2"]


def test_runtime_class_names_read_without_parsing_are_the_parsed_ones() -> None:
    """Code generation skips parsing the runtime module when a model calls none of its classes;
    the names it checks against, read with a pattern, are exactly the classes the parse finds."""
    from archlang.emit.codegen import runtime_classes, runtime_defs, runtime_needed

    assert runtime_classes() == {name for name, d in runtime_defs().items() if d.is_class}
    assert runtime_needed(["        self.conv = nn.Conv2d(3, 8, 3)  # DropPath( in a comment"]) == []
    assert "DropPath" in runtime_needed(["        self.drop = DropPath(0.1)"])
