"""Differential tests: random layer stacks analysed by archlang and built directly from
torch.nn modules here, independently of archlang's backend. Shapes and parameter counts must
agree, and archlang must report an error at exactly the layer where PyTorch raises."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable

import pytest
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from torch import nn

from archlang.api import analyse
from archlang.core.errors import ArchError
from archlang.emit.build import build_module, verify

# Bounded by default so that the suite stays fast; ARCHLANG_EXAMPLES=6000 for a long hunt
SETTINGS = settings(max_examples=int(os.environ.get("ARCHLANG_EXAMPLES", 60)), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@dataclass
class Layer:
    text: str  # archlang
    build: Callable[[int], nn.Module]  # torch.nn, from the input channels


def pair(draw, low: int, high: int) -> tuple[int, int]:
    a = draw(st.integers(low, high))
    return (a, a) if draw(st.booleans()) else (a, draw(st.integers(low, high)))


def txt(p: tuple[int, int]) -> str:
    return str(p[0]) if p[0] == p[1] else f"{p[0]}x{p[1]}"


@st.composite
def conv(draw) -> Layer:
    k, s, d = pair(draw, 1, 5), pair(draw, 1, 3), pair(draw, 1, 3)
    f, g = draw(st.integers(1, 8)), draw(st.sampled_from([1, 1, 2, 3, 4]))
    same, bias = draw(st.booleans()), draw(st.booleans())
    p = (0, 0) if same else pair(draw, 0, 3)
    text = f"conv {txt(k)} s{txt(s)} {'same' if same else f'p{txt(p)}'} d{txt(d)} g{g} x{f}{'' if bias else ' nobias'}"

    def build(c: int) -> nn.Module:
        if same:  # LANGUAGE.md: keeps HxW at stride 1; (k - 1) // 2 per side (dilated) otherwise
            padding = "same" if s == (1, 1) else tuple(d[i] * (k[i] - 1) // 2 for i in range(2))
        else:
            padding = p
        return nn.Conv2d(c, f, k, stride=s, padding=padding, dilation=d, groups=g, bias=bias)

    return Layer(text, build)


@st.composite
def dwconv(draw) -> Layer:
    k, s, p, m = pair(draw, 1, 5), pair(draw, 1, 3), pair(draw, 0, 2), draw(st.integers(1, 2))
    return Layer(f"dwconv {txt(k)} s{txt(s)} p{txt(p)} multiplier{m}",
                 lambda c: nn.Conv2d(c, c * m, k, stride=s, padding=p, groups=c))


@st.composite
def convt(draw) -> Layer:
    k, s, p, d = pair(draw, 1, 4), pair(draw, 1, 3), pair(draw, 0, 2), pair(draw, 1, 2)
    op, f = pair(draw, 0, 2), draw(st.integers(1, 6))
    return Layer(f"convt {txt(k)} s{txt(s)} p{txt(p)} d{txt(d)} x{f} output_padding=({op[0]})"
                 if op[0] == op[1] else f"convt {txt(k)} s{txt(s)} p{txt(p)} d{txt(d)} x{f}",
                 lambda c: nn.ConvTranspose2d(c, f, k, stride=s, padding=p, dilation=d,
                                              output_padding=op if op[0] == op[1] else 0))


@st.composite
def pool(draw) -> Layer:
    kind = draw(st.sampled_from(["maxpool", "avgpool"]))
    k, s, p, ceil = pair(draw, 1, 4), pair(draw, 1, 3), pair(draw, 0, 2), draw(st.booleans())
    d = pair(draw, 1, 2) if kind == "maxpool" else (1, 1)
    text = f"{kind} {txt(k)} s{txt(s)} p{txt(p)}{f' d{txt(d)}' if kind == 'maxpool' else ''}{' ceil' if ceil else ''}"
    if kind == "maxpool":
        return Layer(text, lambda c: nn.MaxPool2d(k, s, p, d, ceil_mode=ceil))
    return Layer(text, lambda c: nn.AvgPool2d(k, s, p, ceil_mode=ceil))


@st.composite
def reshape(draw) -> Layer:
    kind = draw(st.sampled_from(["upsample", "adaptive", "zeropad", "same_pool"]))
    if kind == "upsample":
        n = draw(st.integers(1, 3))
        return Layer(f"upsample {n}", lambda c: nn.Upsample(scale_factor=n, mode="nearest"))
    if kind == "adaptive":
        h, w = pair(draw, 1, 4)
        return Layer(f"adaptiveavgpool {h}x{w}", lambda c: nn.AdaptiveAvgPool2d((h, w)))
    if kind == "zeropad":
        n = draw(st.integers(0, 2))
        return Layer(f"zeropad {n}", lambda c: nn.ZeroPad2d(n))
    k = draw(st.integers(1, 4))  # `same` pooling at stride 1, even windows padded after
    total = k - 1
    return Layer(f"maxpool {k} s1 same", lambda c: nn.Sequential(
        nn.ConstantPad2d((total // 2, total - total // 2, total // 2, total - total // 2), float("-inf")),
        nn.MaxPool2d(k, 1)))


@st.composite
def stacks(draw) -> tuple[tuple[int, int, int], list[Layer]]:
    shape = (draw(st.integers(1, 20)), draw(st.integers(1, 20)), draw(st.integers(1, 6)))
    spatial = st.one_of(conv(), dwconv(), convt(), pool(), reshape())
    layers = draw(st.lists(spatial, min_size=1, max_size=4))
    if draw(st.booleans()):
        n = draw(st.integers(1, 5))
        layers += [Layer("flatten", lambda c: nn.Flatten()), Layer(f"fc {n}", lambda c: nn.LazyLinear(n))]
    return shape, layers


def render(shape: tuple[int, int, int], layers: list[Layer]) -> str:
    """The spec, one layer per line (line i + 2 holds layer i)."""
    out = [f"input {shape[0]}x{shape[1]}x{shape[2]}"]
    for i, layer in enumerate(layers):
        text = layer.text
        if " multiplier" in text:  # dwconv's filters are a multiple of its input channels
            head, m = text.rsplit(" multiplier", 1)
            text = f"{head} x(in_channels * {m})"
        out.append(("-> " if i else "") + text)
    return "\n".join(out) + "\n"


def run_torch(shape: tuple[int, int, int], layers: list[Layer]) -> tuple[int | None, list[tuple], int]:
    """(index of the layer PyTorch refuses or None, every layer's HxWxC, parameter count)."""
    x = torch.zeros(2, shape[2], shape[0], shape[1])
    shapes: list[tuple] = []
    params = 0
    for i, layer in enumerate(layers):
        try:
            module = layer.build(x.shape[1])
            with torch.no_grad():
                x = module(x)
        except (RuntimeError, ValueError):
            return i, shapes, params
        if x.numel() == 0:  # PyTorch lets a transposed conv produce an empty tensor; archlang refuses it
            return i, shapes, params
        params += sum(p.numel() for p in module.parameters())
        shapes.append((x.shape[2], x.shape[3], x.shape[1]) if x.dim() == 4 else (x.shape[1],))
    return None, shapes, params


def run_archlang(text: str, in_channels: int) -> tuple[int | None, list[tuple], int]:
    text = text.replace("in_channels", str(in_channels))
    try:
        graph = analyse(text, "random.arch")
    except ArchError as exc:
        first = min(d.span.line for d in exc.diagnostics if d.is_error and d.span)
        return first - 2, [], 0
    return None, [n.shape for n in graph.layers], sum(n.params for n in graph.layers)


@SETTINGS
@given(stacks())
def test_archlang_agrees_with_torch(case: tuple) -> None:
    shape, layers = case
    text = render(shape, layers)
    torch_fail, torch_shapes, torch_params = run_torch(shape, layers)
    # dwconv's multiplier is relative to the channels reaching it: resolve it with torch's shapes
    channels = [shape[2]] + [s[-1] for s in torch_shapes]
    text = _resolve_in_channels(text, channels)
    arch_fail, arch_shapes, arch_params = run_archlang(text, shape[2])
    event("refused" if torch_fail is not None else f"ran {len(layers)} layers")
    assert arch_fail == torch_fail, text
    if torch_fail is None:
        assert arch_shapes == torch_shapes, text
        assert arch_params == torch_params, text


def _resolve_in_channels(text: str, channels: list[int]) -> str:
    lines = text.splitlines()
    for i, line in enumerate(lines[1:]):
        if "in_channels" in line and i < len(channels):
            lines[i + 1] = line.replace("in_channels", str(channels[i]))
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("text, fails_at", [
    ("input 5x5x3\nconv 3x3 x4\n-> conv 4x4 x2\n", 1),      # 3x3 left, 4x4 kernel
    ("input 8x8x6\nconv 1x1 x4 g4\n", 0),                     # groups divide neither side
    ("input 8x8x3\nmaxpool 3 p2\n", 0),                       # pad more than half the window
    ("input 4x4x3\nmaxpool 2 s2 ceil\n-> maxpool 2 s2 ceil\n-> maxpool 2 s2\n", 2),
])
def test_known_refusals(text: str, fails_at: int) -> None:
    """Hand-picked cases of the property above, so that a failure reads plainly."""
    graph_fail, _, _ = run_archlang(text, 0)
    assert graph_fail == fails_at


@SETTINGS
@given(stacks())
def test_compiled_random_stacks_match_the_analysis(case: tuple) -> None:
    """Whatever archlang accepts, the compiled module does: every layer's shape through forward
    hooks, the output, and PyTorch's parameter count."""
    shape, layers = case
    text = render(shape, layers).replace("in_channels", "1")
    try:
        graph = analyse(text, "random.arch")
    except ArchError:
        return
    result = verify(graph)
    assert result.ok, text + result.summary()


ACTIVATION = st.sampled_from(["relu", "relu6", "silu", "hardswish", "sigmoid", "tanh", "gelu", "leakyrelu 0.1",
                              "elu", "mish", "hardsigmoid", "identity", "dropout 0.3", "bn", "bn eps=0.001"])


@st.composite
def blocks(draw, channels: int = 8, depth: int = 0) -> str:
    """A random chain that keeps HxW and its ``channels``; combinators nest."""
    kind = draw(st.sampled_from(["layer", "residual", "concat", "se", "shuffle", "freeze", "seq"] if depth < 2
                                else ["layer"]))
    if kind == "layer":
        k = draw(st.sampled_from([1, 3, 5]))
        return f"conv {k}x{k} same x{channels}{draw(st.sampled_from(['', ' nobias', ' g2']))} -> {draw(ACTIVATION)}"
    if kind == "concat":  # ShuffleNet's split: half the channels pass, half go through
        return f"concat(chunk 2 0, chunk 2 1 -> {draw(blocks(channels // 2, depth + 1))})"
    inner = draw(blocks(channels, depth + 1))
    if kind == "residual":
        return f"residual({inner})"
    if kind == "se":
        return f"mul({inner}, gap -> conv 1x1 x{max(1, channels // 4)} -> relu -> conv 1x1 x{channels} -> sigmoid)"
    if kind == "shuffle":
        return f"{inner} -> channel_shuffle 2"
    if kind == "freeze":
        return f"freeze({inner})"
    return f"{inner} -> {draw(blocks(channels, depth + 1))}"


@SETTINGS
@given(st.lists(blocks(), min_size=1, max_size=4), st.integers(1, 3))
def test_compiled_random_graphs_match_the_analysis(parts: list[str], repeat: int) -> None:
    """Random nested combinators inside blocks: the analysis and PyTorch agree on every layer."""
    body = "\n".join(f"block part{i}() {{ {p} }}" for i, p in enumerate(parts))
    chain = " -> ".join(f"part{i}" for i in range(len(parts)))
    text = f"{body}\ninput 8x8x8\n({chain}) * {repeat} -> gap -> flatten -> fc 3\n"
    graph = analyse(text, "random.arch")
    result = verify(graph)
    assert result.ok, text + result.summary()
    model = build_module(graph)
    frozen = {n.name for n in graph.layers if not n.trainable and n.params}
    assert sum(p.numel() for p in model.parameters() if not p.requires_grad) == sum(
        n.params for n in graph.layers if not n.trainable)
    assert bool(frozen) == any(not p.requires_grad for p in model.parameters())
