"""PyTorch layers as archlang layer text. Numbers are kept as :class:`Num` so that instances of one
module class can be compared and their differing numbers turned into block parameters."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from torch import nn

# Module classes that are their own archlang activation (no arguments).
ACTIVATIONS: dict[type, str] = {
    nn.ReLU: "relu", nn.ReLU6: "relu6", nn.Sigmoid: "sigmoid", nn.Hardsigmoid: "hardsigmoid", nn.Tanh: "tanh",
    nn.SiLU: "silu", nn.Hardswish: "hardswish", nn.Mish: "mish",
}


@dataclass(frozen=True)
class Num:
    """A number in layer text; ``kind`` names what it is (``c`` channels, ``s`` stride, ``k`` kernel...),
    which names the block parameter it may become."""

    value: int | float
    kind: str


Piece = str | Num
Token = list[Piece]


@dataclass
class Layer:
    """One archlang layer: the op name and its argument tokens, e.g. ``conv`` ``[3, "x", 3]`` ``["x", 64]``."""

    op: str
    tokens: list[Token] = field(default_factory=list)


def _pair(value: Any) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


def _kernel(k: tuple[int, int]) -> Token:
    return [Num(k[0], "k"), "x", Num(k[1], "k")]


# A flag with two different numbers (``p0x3``) cannot take expressions in the language, so its
# numbers are fixed: instances that differ in them get different blocks.
FIXED = "fixed"


def _flag(letter: str, pair: tuple[int, int], kind: str) -> Token:
    if pair[0] == pair[1]:
        return [letter, Num(pair[0], kind)]
    return [letter, Num(pair[0], FIXED), "x", Num(pair[1], FIXED)]


def _float_keyword(name: str, value: float, default: float) -> list[Token]:
    return [] if value == default else [[f"{name}=", Num(float(value), name)]]


def conv_layer(m: nn.Conv2d, source: tuple[int, ...]) -> tuple[list[Layer], tuple[str, str | None] | None]:
    if m.padding_mode != "zeros":
        return [], (f"`Conv2d` with padding_mode={m.padding_mode!r}", "archlang pads convolutions with zeros")
    k, s, d = _pair(m.kernel_size), _pair(m.stride), _pair(m.dilation)
    depthwise = m.groups == m.in_channels and m.groups > 1
    tokens: list[Token] = [_kernel(k), _flag("s", s, "s")]
    if m.padding == "same":
        tokens.append(["same"])
    elif m.padding == "valid":
        tokens.append(_flag("p", (0, 0), "p"))
    else:
        tokens.append(_flag("p", _pair(m.padding), "p"))
    if not depthwise or m.out_channels != m.in_channels:
        tokens.append(["x", Num(m.out_channels, "c")])
    if m.groups > 1 and not depthwise:
        tokens.append(["g", Num(m.groups, "g")])
    if d != (1, 1):
        tokens.append(_flag("d", d, "d"))
    if m.bias is None:
        tokens.append(["nobias"])
    return [Layer("dwconv" if depthwise else "conv", tokens)], None


def convt_layer(m: nn.ConvTranspose2d) -> tuple[list[Layer], tuple[str, str | None] | None]:
    if m.padding_mode != "zeros" or not isinstance(m.padding, tuple):
        return [], ("`ConvTranspose2d` with this padding", None)
    tokens: list[Token] = [_kernel(_pair(m.kernel_size)), _flag("s", _pair(m.stride), "s"),
                           _flag("p", _pair(m.padding), "p"), ["x", Num(m.out_channels, "c")]]
    if m.groups > 1:
        tokens.append(["g", Num(m.groups, "g")])
    if _pair(m.dilation) != (1, 1):
        tokens.append(_flag("d", _pair(m.dilation), "d"))
    if m.bias is None:
        tokens.append(["nobias"])
    op = _pair(m.output_padding)
    if op != (0, 0):
        tokens.append(["output_padding=", Num(op[0], "p")] + ([] if op[0] == op[1] else ["x", Num(op[1], "p")]))
    return [Layer("convt", tokens)], None


def pool_layer(kind: str, a: dict[str, Any]) -> tuple[Layer | None, str | None]:
    """A pooling layer from PyTorch's arguments (``kind``: max, avg, adaptivemax, adaptiveavg)."""
    if kind.startswith("adaptive"):
        size = a["output_size"]
        size = (size, size) if isinstance(size, int) else tuple(size)
        if None in size:
            return None, f"`{kind} pooling` that keeps a dimension (output size {list(size)})"
        if size == (1, 1):
            return Layer("gap" if kind == "adaptiveavg" else "gmp"), None
        return Layer(f"{kind}pool", [_kernel(size)]), None
    if a.get("return_indices"):
        return None, "`max pooling` that returns indices"
    if a.get("divisor_override"):
        return None, "`avg pooling` with a divisor override"
    k = _pair(a["kernel_size"])
    s = _pair(a["stride"]) if a["stride"] not in (None, ()) and a["stride"] != [] else k
    window = [Num(k[0], "k")] if k[0] == k[1] else _kernel(k)
    tokens: list[Token] = [window, _flag("s", s, "s"), _flag("p", _pair(a["padding"]), "p")]
    if _pair(a.get("dilation", 1)) != (1, 1):
        tokens.append(_flag("d", _pair(a["dilation"]), "d"))
    if a.get("ceil_mode"):
        tokens.append(["ceil"])
    if kind == "avg" and not a.get("count_include_pad", True):
        tokens.append(["count_include_pad=", Num(0, "n")])
    return Layer(f"{kind}pool", tokens), None


def _batchnorm(m: nn.modules.batchnorm._BatchNorm) -> tuple[list[Layer], tuple[str, str | None] | None]:
    if not m.affine or not m.track_running_stats or m.momentum is None:
        return [], (f"`{type(m).__name__}` without affine parameters or running statistics",
                    "archlang's `bn` is PyTorch's default batch norm")
    tokens = _float_keyword("eps", m.eps, 1e-5) + _float_keyword("momentum", m.momentum, 0.1)
    return [Layer("bn", tokens)], None


def layer_of_module(m: nn.Module, source: tuple[int, ...], out: tuple[int, ...]
                    ) -> tuple[list[Layer], tuple[str, str | None] | None]:
    """The layers a leaf module is, or ``([], (what, help))`` when archlang cannot express it.
    ``nn.Identity`` is no layer at all."""
    kind = type(m)
    if kind in ACTIVATIONS:
        return [Layer(ACTIVATIONS[kind])], None
    if kind is nn.Identity:
        return [], None
    if kind is nn.Conv2d:
        return conv_layer(m, source)  # type: ignore[arg-type]
    if kind is nn.ConvTranspose2d:
        return convt_layer(m)  # type: ignore[arg-type]
    if kind is nn.Linear:
        if len(source) != 1:
            return [], ("`Linear` on a tensor of shape " + "x".join(map(str, source)),
                        "`fc pixelwise` comes with version 2 of the language")
        tokens: list[Token] = [[Num(m.out_features, "c")]] + ([] if m.bias is not None else [["nobias"]])
        return [Layer("fc", tokens)], None
    if kind in (nn.BatchNorm2d, nn.BatchNorm1d):
        return _batchnorm(m)  # type: ignore[arg-type]
    if kind is nn.Dropout:
        return [Layer("dropout", [[Num(float(m.p), "p")]])], None
    if kind is nn.LeakyReLU:
        return [Layer("leakyrelu", [[Num(float(m.negative_slope), "a")]])], None
    if kind is nn.ELU:
        return [Layer("elu", [[Num(float(m.alpha), "a")]])], None
    if kind is nn.GELU and m.approximate == "none":
        return [Layer("gelu")], None
    if kind in (nn.Softmax, nn.LogSoftmax) and m.dim in (1, -len(source) if len(source) == 1 else 1):
        return [Layer("softmax" if kind is nn.Softmax else "logsoftmax")], None
    if kind is nn.Flatten and m.start_dim == 1 and m.end_dim == -1:
        return [Layer("flatten")], None
    if kind in (nn.MaxPool2d, nn.AvgPool2d):
        layer, trouble = pool_layer("max" if kind is nn.MaxPool2d else "avg", vars(m))
        return ([layer] if layer else []), ((trouble, None) if trouble else None)
    if kind in (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d):
        layer, trouble = pool_layer("adaptiveavg" if kind is nn.AdaptiveAvgPool2d else "adaptivemax", vars(m))
        return ([layer] if layer else []), ((trouble, None) if trouble else None)
    if kind is nn.LocalResponseNorm:
        return [Layer("lrn", [[Num(m.size, "n")], *_float_keyword("alpha", m.alpha, -1),
                              *_float_keyword("beta", m.beta, -1), *_float_keyword("k", m.k, -1)])], None
    if kind is nn.ChannelShuffle:
        return [Layer("channel_shuffle", [[Num(m.groups, "g")]])], None
    if kind is nn.ZeroPad2d and len(set(m.padding)) == 1:
        return [Layer("zeropad", [[Num(m.padding[0], "p")]])], None
    if kind is nn.Upsample and m.size is None and m.mode in ("nearest", "bilinear", "bicubic") and not m.align_corners:
        factor = m.scale_factor if isinstance(m.scale_factor, (int, float)) else None
        if factor is not None and float(factor).is_integer():
            return [Layer("upsample", [[Num(int(factor), "n")], ["mode=" + m.mode]])], None
    return [], (f"`{kind.__name__}`", None)


def word(text: str) -> Token:
    """A token without numbers."""
    return [text]
