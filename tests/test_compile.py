"""The PyTorch backend: every spec compiles to a module that does what the table says, the
generated file and archlang.compile are one model, and modern PyTorch features work."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

import archlang
from archlang.api import load
from archlang.emit.codegen import generate
from archlang.emit.build import compile_graph, example_input, to_hwc, verify
from archlang.core.ir import Runs
from conftest import REDUCED, SPECS, outputs_of, run_cli, write

ALL_SPECS = sorted(p.stem for p in SPECS.glob("*.arch"))


def hooked_shapes(model: nn.Module, x: torch.Tensor) -> dict[str, tuple]:
    """Every leaf module's output shape, HxWxC, recorded by forward hooks."""
    seen: dict[str, tuple] = {}
    hooks = [m.register_forward_hook(lambda mod, i, o, name=name: seen.__setitem__(name, to_hwc(o.shape)))
             for name, m in model.named_children()]
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return seen


@pytest.mark.parametrize("name", ALL_SPECS)
def test_every_spec_compiles_to_what_the_table_says(name: str) -> None:
    graph = load(SPECS / f"{name}.arch", *REDUCED.get(name, (None, None)))
    compiled = compile_graph(graph)  # one model, built once (VGG's 138M weights take seconds)
    model = compiled.instantiate().eval()
    assert sum(p.numel() for p in model.parameters()) == sum(n.params for n in graph.layers)
    x = example_input(graph, batch=1)  # shapes are per sample: one is enough (eval mode)
    shapes = hooked_shapes(model, x)
    modules = [n for n in graph.layers if n.has_module and n.runs == Runs.ALWAYS]  # what eval runs
    assert list(shapes.values()) == [n.shape for n in modules]
    with torch.no_grad():
        returned = [to_hwc(o.shape) for o in outputs_of(model(x))]
    assert returned == [graph.nodes[o.node].shape for o in graph.outputs_in(False)]
    # `--verify` (every node's shape and values) runs on every spec in test_verify_values.py


def test_generated_file_and_compile_are_one_model(tmp_path: Path) -> None:
    spec = SPECS / "tiny_unet.arch"
    model = archlang.compile(spec).eval()
    source = generate(load(spec))
    path = tmp_path / "tiny_unet_model.py"
    path.write_text(source)
    torch.save(model.state_dict(), tmp_path / "weights.pt")
    x = torch.randn(2, 3, 64, 64)
    torch.save(x, tmp_path / "x.pt")
    script = f"""
import sys, importlib.util
sys.modules['archlang'] = None  # archlang must not be needed to use the generated file
import torch
spec = importlib.util.spec_from_file_location('m', {str(path)!r})
m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
model = m.TinyUnet().eval()
model.load_state_dict(torch.load({str(tmp_path / 'weights.pt')!r}))
with torch.no_grad():
    torch.save(model(torch.load({str(tmp_path / 'x.pt')!r})), {str(tmp_path / 'y.pt')!r})
print(list(model.state_dict()))
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert eval(result.stdout) == list(model.state_dict())
    with torch.no_grad():
        assert torch.equal(torch.load(tmp_path / "y.pt"), model(x))


def test_generated_source_is_readable() -> None:
    source = archlang.source(SPECS / "lenet5.arch")
    assert "class Lenet5(nn.Module):" in source
    assert "self.conv1 = nn.Conv2d(1, 6, 5)  # conv 5x5 s1 p0 x6 -> 28x28x6" in source
    assert "        x = self.conv1(x)\n" in source and "return x" in source
    assert "import archlang" not in source and "for " not in source.split("def forward")[1]
    unet = archlang.source(SPECS / "tiny_unet.arch")
    assert "torch.cat([e1, up], dim=1)" in unet


def test_class_names_follow_the_network() -> None:
    assert "class Resnet(nn.Module)" in archlang.source(SPECS / "resnet.arch", depth=18)
    assert "class TinyUnet(nn.Module)" in archlang.source(SPECS / "tiny_unet.arch")
    assert "class Network(nn.Module)" in archlang.source("input 4x4x1\nrelu\n")


def test_hostile_names_cannot_inject_code(tmp_path: Path) -> None:
    text = """network class
input 8x8x3
forward = conv 1x1 x2
self = relu
training = conv 1x1 x2
torch = relu
import = conv 1x1 x2 -> relu
x = relu
nn = relu
__init__ = relu
café = conv 1x1 x4
return = concat(forward, import, café) -> bn
"""
    model = archlang.compile(text)
    source = type(model).archlang_source
    compile(source, "hostile", "exec")
    names = [n for n, _ in model.named_children()]
    assert len(set(names)) == len(names) and all(n.isidentifier() and n.isascii() for n in names)
    assert not {"forward", "training", "__init__"} & set(names)
    assert type(model).__name__ == "Class"
    with torch.no_grad():
        assert model.eval()(torch.randn(2, 3, 8, 8)).shape == (2, 8, 8, 8)
    assert model.training is False and callable(model.forward)


def test_freeze_gives_no_gradient_and_keeps_batch_norm_statistics() -> None:
    model = archlang.compile("input 8x8x3\nfreeze(conv 3x3 same x4 -> bn -> relu) -> conv 3x3 x4 -> bn -> gap -> flatten -> fc 2\n")
    frozen_conv, frozen_bn = model.conv1, model.bn1
    assert not any(p.requires_grad for p in frozen_conv.parameters()) and not frozen_bn.weight.requires_grad
    model.train()
    assert frozen_bn.training is False and model.bn2.training is True
    before = {k: v.clone() for k, v in model.state_dict().items()}
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    loss = model(torch.randn(4, 3, 8, 8)).square().mean()
    loss.backward()
    assert frozen_conv.weight.grad is None and model.conv2.weight.grad is not None
    opt.step()
    after = model.state_dict()
    for key in ("conv1.weight", "bn1.weight", "bn1.running_mean", "bn1.running_var"):
        assert torch.equal(before[key], after[key]), key
    assert not torch.equal(before["conv2.weight"], after["conv2.weight"])
    assert not torch.equal(before["bn2.running_mean"], after["bn2.running_mean"])


def test_training_step_reduces_the_loss() -> None:
    torch.manual_seed(0)
    model = archlang.compile(SPECS / "lenet5.arch")
    model.train()
    x, y = torch.randn(16, 1, 32, 32), torch.randint(0, 10, (16,))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(5):
        opt.zero_grad()
        loss = nn.functional.nll_loss(torch.log(model(x) + 1e-9), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


def test_channels_last_and_autocast() -> None:
    torch.manual_seed(0)
    model = archlang.compile(SPECS / "resnet.arch", depth=18, classes=10).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        reference = model(x)
        fast = model.to(memory_format=torch.channels_last)(x.to(memory_format=torch.channels_last))
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = model(x)
    assert torch.allclose(reference, fast, rtol=1e-4, atol=1e-5)
    assert low.dtype == torch.bfloat16 and torch.allclose(reference, low.float(), rtol=0.1, atol=0.1)


def test_torch_export() -> None:
    model = archlang.compile(SPECS / "tiny_unet.arch").eval()
    x = torch.randn(2, 3, 64, 64)
    exported = torch.export.export(model, (x,))
    with torch.no_grad():
        assert torch.allclose(exported.module()(x), model(x))


FULLGRAPH_SPEC = ("input 16x16x3\na = conv 3x3 same x8 -> bn -> relu\n"
                  "add(a, conv 1x1 x8) -> mul(identity, gap -> conv 1x1 x8 -> sigmoid)"
                  " -> concat(identity, maxpool 3 s1 same) -> chunk 2 1 -> gap -> flatten -> fc 4\n")


# A graph break fails `fullgraph=True` whatever the backend: `aot_eager` traces the whole graph
# (Dynamo, then AOTAutograd) without generating kernels; Inductor's code generation costs
# 15-20 s of CPU on a cold cache, so it runs with the slow tests.
@pytest.mark.parametrize("backend", ["aot_eager", pytest.param("inductor", marks=pytest.mark.slow)])
def test_torch_compile_fullgraph(backend: str) -> None:
    torch._dynamo.reset()
    model = archlang.compile(FULLGRAPH_SPEC).eval()
    compiled = torch.compile(model, fullgraph=True, backend=backend)
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        assert torch.allclose(compiled(x), model(x), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("text, reference", [
    ("input 7x9x4\nconv 4x2 same x3", lambda: nn.Conv2d(4, 3, (4, 2), padding="same")),
    ("input 7x9x4\nconv 3x3 s2 same d2 x3", lambda: nn.Conv2d(4, 3, 3, stride=2, padding=2, dilation=2)),
    ("input 7x9x4\nbn eps=0.001 momentum=0.01", lambda: nn.BatchNorm2d(4, eps=0.001, momentum=0.01)),
    ("input 7x9x4\nupsample 2 mode=bilinear", lambda: nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)),
    ("input 7x9x4\nchannel_shuffle 2", lambda: nn.ChannelShuffle(2)),
    ("input 7x9x4\navgpool 3 s2 ceil", lambda: nn.AvgPool2d(3, 2, ceil_mode=True)),
    ("input 7x9x4\nadaptiveavgpool 2x3", lambda: nn.AdaptiveAvgPool2d((2, 3))),
    ("input 7x9x4\nlrn 3 alpha=0.001 beta=0.5 k=2", lambda: nn.LocalResponseNorm(3, 0.001, 0.5, 2.0)),
    ("input 7x9x4\nconvt 3x3 s2 p1 x2 output_padding=1", lambda: nn.ConvTranspose2d(4, 2, 3, 2, 1, 1)),
    ("input 10\nleakyrelu 0.2", lambda: nn.LeakyReLU(0.2)),
    ("input 10\nsoftmax", lambda: nn.Softmax(dim=1)),
])
def test_op_semantics_match_torch(text: str, reference) -> None:
    torch.manual_seed(0)
    model = archlang.compile(text).eval()
    ref = reference().eval()
    ref.load_state_dict(model.state_dict(), strict=False) if list(ref.state_dict()) else None
    with torch.no_grad():
        for module, value in zip(ref.parameters(), model.parameters()):
            module.copy_(value)
        x = torch.randn(2, *([10] if "input 10" in text else [4, 7, 9]))
        assert torch.allclose(model(x), ref(x))


def test_chunk_and_broadcast_multiply() -> None:
    model = archlang.compile("input 4x4x6\nmul(chunk 2 1, gap -> chunk 2 0)\n").eval()
    x = torch.randn(2, 6, 4, 4)
    expected = x[:, 3:] * x[:, :3].mean(dim=(2, 3), keepdim=True)
    assert torch.allclose(model(x), expected, atol=1e-6)


def test_same_pooling_with_even_window() -> None:
    model = archlang.compile("input 5x5x1\nmaxpool 2 s1 same\n").eval()
    x = torch.arange(25.0).reshape(1, 1, 5, 5)
    y = model(x)
    assert y.shape == (1, 1, 5, 5)
    # the odd pixel of padding goes after, and holds -inf: the last row and column see themselves
    assert torch.equal(y[0, 0, -1], torch.tensor([21.0, 22.0, 23.0, 24.0, 24.0]))
    assert torch.equal(y[0, 0, :, -1], torch.tensor([9.0, 14.0, 19.0, 24.0, 24.0]))


def test_compile_cli(tmp_path: Path) -> None:
    out = tmp_path / "lenet.py"
    status, _, err = run_cli("compile", str(SPECS / "lenet5.arch"), "-o", str(out))
    assert status == 0 and out.read_text().startswith('"""Lenet5')
    status, stdout, _ = run_cli("compile", str(SPECS / "lenet5.arch"), "--verify")
    assert status == 0 and stdout.startswith("verified: 13 layer shapes, 13 layer values, 61,706 parameters")
    status, _, err = run_cli("compile", str(SPECS / "lenet5.arch"), "-o", str(tmp_path / "no" / "dir.py"))
    assert status == 2 and "cannot write" in err and not (tmp_path / "no").exists()
    assert not list(tmp_path.glob(".archlang-*"))
    if not torch.cuda.is_available():
        status, _, err = run_cli("compile", str(SPECS / "lenet5.arch"), "--verify", "--device", "cuda")
        assert status == 2 and "no CUDA device" in err
    bad = write(tmp_path, "bad.arch", "input 8x8x3\nfc 10\n")
    assert run_cli("compile", str(bad), "-o", str(tmp_path / "bad.py"))[0] == 1
    assert not (tmp_path / "bad.py").exists()


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_gpu_verify_training_and_bf16_channels_last() -> None:
    graph = load(SPECS / "resnet.arch", {"depth": 50})
    assert verify(graph, "cuda").ok
    model = archlang.compile(SPECS / "resnet.arch", depth=18, classes=10).cuda()
    model = model.to(memory_format=torch.channels_last)
    x = torch.randn(8, 3, 64, 64, device="cuda").to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    with torch.autocast("cuda", dtype=torch.bfloat16):
        loss = model(x).float().logsumexp(dim=1).mean()
    loss.backward()
    opt.step()
    assert torch.isfinite(loss)


def test_hostile_file_name_cannot_end_the_docstring(tmp_path: Path) -> None:
    name = 'x""" + __import__("os").system("echo pwned") + """\\.arch'
    spec = tmp_path / name
    spec.write_text("input 4x4x1\nrelu\n")
    source = archlang.source(spec)
    compile(source, "hostile", "exec")
    assert source.count('"""') == 2 and "pwned" in source.split('"""')[1]


def test_infinite_keyword_is_a_diagnostic() -> None:
    with pytest.raises(archlang.ArchError, match="finite"):
        archlang.check("input 4x4x1\nbn eps=(1e400)\n")


def test_model_too_large_to_build_is_an_error_not_a_traceback(tmp_path: Path) -> None:
    spec = write(tmp_path, "huge.arch", "input 4x4x1\nflatten -> fc 100000000000\n")
    status, _, err = run_cli("compile", str(spec), "--verify")
    assert status == 1 and "could not build or run the model" in err and "Traceback" not in err


def test_in_place_activations_leave_gradients_unchanged() -> None:
    from archlang.emit.build import class_from_source
    from archlang.emit.codegen import class_name, plan

    graph = load("network mb\ninput 12x12x4\nconv 3x3 same x8 nobias -> bn -> silu -> conv 1x1 x8 -> hardswish\n"
                 "-> residual(conv 3x3 same x8 -> bn -> relu6 -> conv 1x1 x8 nobias -> bn) -> silu\n"
                 "-> mul(identity, gap -> conv 1x1 x8 -> hardsigmoid) -> gap -> flatten -> fc 3\n")
    in_place = plan(graph)
    assert {graph.nodes[i].op for i in in_place.inplace} >= {"silu", "hardswish", "relu6"}
    out_of_place = plan(graph)
    out_of_place.inplace.clear()
    source = generate(graph, out_of_place)
    assert "inplace=True" in generate(graph, in_place) and "inplace=True" not in source
    torch.manual_seed(0)
    fast = class_from_source(generate(graph, in_place), class_name(graph.name))().train()
    slow = class_from_source(source, class_name(graph.name))().train()
    slow.load_state_dict(fast.state_dict())
    x = torch.randn(4, 4, 12, 12)
    results = []
    for model in (fast, slow):
        xi = x.clone().requires_grad_(True)
        out = model(xi)
        out.square().sum().backward()
        results.append((out.detach(), xi.grad, [p.grad for p in model.parameters()]))
    (out_a, gx_a, gp_a), (out_b, gx_b, gp_b) = results
    assert torch.equal(out_a, out_b) and torch.equal(gx_a, gx_b)
    assert len(gp_a) == len(gp_b) and all(torch.equal(a, b) for a, b in zip(gp_a, gp_b))


def test_compiling_a_spec_again_reuses_its_class_but_not_its_weights(tmp_path: Path) -> None:
    """`archlang.compile` caches the compiled class of a spec (text, parameters, variant and the
    files it uses): a second model of the same spec is a fresh instance of the same class; a change
    to a used file, or other parameters, compile anew."""
    write(tmp_path, "parts.arch", "block unit(c) { conv 3x3 same x(c) -> relu }\n")
    spec = write(tmp_path, "net.arch", 'use "parts.arch"\nnetwork net(c = 4)\ninput 8x8x3\nunit(c) -> gap\n')
    a, b = archlang.compile(spec), archlang.compile(spec)
    assert type(a) is type(b) and a is not b
    assert all(p is not q and p.data_ptr() != q.data_ptr() for p, q in zip(a.parameters(), b.parameters()))
    assert type(archlang.compile(spec, c=8)) is not type(a)
    assert archlang.compile(spec, c=8)(torch.zeros(1, 3, 8, 8)).shape == (1, 8, 1, 1)
    write(tmp_path, "parts.arch", "block unit(c) { conv 3x3 same x(c) -> conv 1x1 x(c) }\n")
    changed = archlang.compile(spec)
    assert type(changed) is not type(a) and len(list(changed.parameters())) == 4
