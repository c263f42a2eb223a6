"""Version 2 expressions and chains: `**`, `log`, `exp`, `sqrt`, number suffixes, repeats with an
index, and chains that start from `input`; the parser as a Lark transformer keeps its spans."""

from __future__ import annotations

import math
import re

import pytest

from archlang.api import analyse
from archlang.core.errors import ArchError
from archlang.lang.parser import number_value, parse


def value_of(expr: str) -> int:
    """The whole number an expression gives, read back from the width of an `fc` layer."""
    graph = analyse(f"input 4\nfc ({expr})")
    (features,) = graph.nodes[-1].shape
    return features


@pytest.mark.parametrize("expr, expected", [
    ("2 ** 3 ** 2", 512),  # right-associative, as in Python
    ("-2 ** 2 + 10", 6),  # ** binds tighter than unary minus
    ("2 ** -1 * 8", 4),
    ("(2 ** 10) // 3", 341),
    ("2.5K", 2500), ("5M // 1000", 5000), ("1G // 1M", 1000), ("0.5K + 3K", 3500),
    ("round(log(exp(7)))", 7), ("sqrt(144)", 12), ("round(exp(log(20)))", 20),
    ("int(log(1000) / log(10) + 0.5)", 3),
])
def test_expression_values(expr: str, expected: int) -> None:
    assert value_of(expr) == expected
    python = re.sub(r"([\d.]+)([KMG])", lambda m: f"({m[1]} * {10 ** (3 * ' KMG'.index(m[2]))})", expr)
    assert value_of(expr) == round(eval(python,
                                        {"log": math.log, "exp": math.exp, "sqrt": math.sqrt, "round": round,
                                         "int": int}))


@pytest.mark.parametrize("text, value", [("5M", 5_000_000), ("2.5K", 2500), ("2.3K", 2300), ("1.5", 1.5),
                                         ("0.25M", 250_000), ("1e3", 1000.0), ("7", 7), ("1.0001K", 1000.1)])
def test_number_suffixes_are_exact(text: str, value: float) -> None:
    got = number_value(text)
    assert got == value and type(got) is type(value)


@pytest.mark.parametrize("expr, message", [
    ("10 ** 10 ** 10", "this number is too large"),
    ("0 ** -1", "division by zero"),
    ("log(0)", "`log` cannot take"),
    ("sqrt(-1)", "`sqrt` cannot take"),
    ("exp(100000)", "`exp` cannot take"),
])
def test_expression_errors(expr: str, message: str) -> None:
    with pytest.raises(ArchError) as info:
        analyse(f"input 4\nfc ({expr})")
    assert message in info.value.render()
    assert info.value.diagnostics[0].span.line == 2


def test_repeat_with_index_binds_each_copy() -> None:
    graph = analyse("input 8x8x3\n(conv 3x3 same x(8 * (i + 1)) -> relu) * 3 as i\n")
    convs = [n for n in graph.layers if n.op == "conv"]
    assert [n.shape for n in convs] == [(8, 8, 8), (8, 8, 16), (8, 8, 24)]
    assert [n.params for n in convs] == [8 * 3 * 9 + 8, 16 * 8 * 9 + 16, 24 * 16 * 9 + 24]


def test_repeat_index_is_visible_in_block_arguments_and_restored() -> None:
    graph = analyse("""
i = 100
block widen(k) { conv 1x1 x(4 + k) }
input 4x4x2
(widen(i)) * 2 as i
fc_in = flatten -> fc (i)
""")
    widths = [n.shape[-1] for n in graph.layers if n.op in ("conv", "fc")]
    assert widths == [4, 5, 100]  # the outer `i` comes back after the repeat


def test_index_outside_its_repeat_is_undefined() -> None:
    with pytest.raises(ArchError) as info:
        analyse("input 4x4x2\n(conv 1x1 x(1 + i)) * 2 as i\nconv 1x1 x(i)\n")
    assert "`i` is not defined" in info.value.render()
    assert info.value.diagnostics[0].span.line == 3


def test_as_needs_a_repetition() -> None:
    with pytest.raises(ArchError) as info:
        analyse("input 4x4x2\n(conv 1x1 x2) // 2 as i\n")
    assert "`as` follows a repetition" in info.value.render()


def test_chain_from_input() -> None:
    graph = analyse("input 16x16x3\nmain = conv 3x3 same x4\nside = input -> conv 1x1 x8\nconcat(main, side)\n")
    side = next(n for n in graph.layers if n.name == "side")
    assert side.inputs == (0,) and side.shape == (16, 16, 8)
    assert graph.nodes[graph.output].shape == (16, 16, 12)
    graph = analyse("input 8x8x3\nconv 1x1 x4\nadd(identity, input -> conv 1x1 x4)\n")
    assert graph.nodes[graph.output].shape == (8, 8, 4)


def test_spans_come_from_the_transformer() -> None:
    module = parse("input 8x8x3\nx = conv 3x3 x4\n  -> relu\n", "f.arch")
    assign = module.statements[1]
    assert (assign.span.line, assign.span.col, assign.span.end_line, assign.span.end_col) == (2, 1, 3, 10)
    assert (assign.name_span.line, assign.name_span.col, assign.name_span.end_col) == (2, 1, 2)
    relu = assign.value.items[1]
    assert (relu.span.line, relu.span.col, relu.span.end_col) == (3, 6, 10)


def test_repeat_with_index_compiles_with_the_counted_parameters() -> None:
    torch = pytest.importorskip("torch")
    from archlang.emit.build import build_module

    graph = analyse("input 8x8x3\n(conv 3x3 same x(4 * 2 ** i) -> relu) * 3 as i\ngap -> flatten -> fc 10\n")
    model = build_module(graph)
    assert sum(p.numel() for p in model.parameters()) == sum(n.params for n in graph.layers)
    out = model(torch.randn(2, 3, 8, 8))
    assert tuple(out.shape) == (2, 10)
    assert [m.out_channels for m in model.modules() if isinstance(m, torch.nn.Conv2d)] == [4, 8, 16]


def bind_like(spec_tail: str, in_block: bool = False):
    """Bind `probe like=NAME` (an op with a tensor keyword, as `resize` has) after a small spec."""
    from archlang.core.errors import DiagnosticSink
    from archlang.core.opdef import Arg, Family, OpDef, Signature
    from archlang.sema.bind import Binder
    from archlang.sema.numbers import NumberEvaluator
    from archlang.sema.scope import Env, Known

    probe = OpDef("probe", Family.RESHAPE, Signature(keywords={"like": Arg("like", "tensor")}),
                  lambda shape, a: shape, lambda i, o, a: "")
    module = parse(f"probe like={spec_tail}\n")
    layer = module.statements[0].chain
    env = Env("<spec>", tensors={"input": Known(0, (64, 48, 3)), "p3": Known(5, (8, 6, 16)),
                                 "vec": Known(7, (10,))})
    if in_block:
        env = Env("<spec>", parent=env, in_tensor=Known(9, (20, 10, 4)))
    sink = DiagnosticSink()
    try:
        attrs, _ = Binder(NumberEvaluator(sink)).bind(probe, layer, env)
    except Exception:
        return None, [d.message for d in sink.items]
    return (attrs["like"], attrs["like_shape"]), []


@pytest.mark.parametrize("name, in_block, expected", [
    ("input", False, ("input", (64, 48, 3))), ("p3", False, ("p3", (8, 6, 16))),
    ("in", True, ("in", (20, 10, 4))), ("input", True, ("input", (64, 48, 3))),
])
def test_like_names_a_tensor(name: str, in_block: bool, expected) -> None:
    assert bind_like(name, in_block) == (expected, [])


@pytest.mark.parametrize("name, message", [
    ("p4", "`p4` is not a tensor"), ("in", "`like=in` is only defined inside a block"),
    ("3", "`like` takes a tensor's name, like `like=input`"),
])
def test_like_mistakes(name: str, message: str) -> None:
    assert bind_like(name) == (None, [message])
