"""The op registry: for every layer, its arguments, shape rule, parameter count, multiply count
and PyTorch constructor, side by side, so that the table and the model cannot disagree.

Rules take the input shape and the node's attributes (a dict the rule may complete with derived
values, such as the resolved padding) and return the output shape or raise
:class:`~archlang.shapes.ShapeError`. Constructors return Python source for the generated model;
this module never imports torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from .shapes import (Shape, ShapeError, Window, conv_out, dropped_rows_warning, fmt, is_volume,
                     numel, pool_out, same_padding, transposed_out)

Attrs = dict[str, Any]

# --- argument schemas ----------------------------------------------------------------------


@dataclass(frozen=True)
class Arg:
    """One argument slot. ``kind``: ``pair`` (``KxK`` or ``K``), ``int`` or ``float``;
    ``least``: the smallest value allowed."""

    attr: str
    kind: str
    least: float = 1
    default: Any = None
    required: bool = False


@dataclass(frozen=True)
class Signature:
    positional: tuple[Arg, ...] = ()
    flags: Mapping[str, Arg] = field(default_factory=dict)
    words: frozenset[str] = frozenset()
    keywords: Mapping[str, Arg] = field(default_factory=dict)
    choices: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # for word-valued keywords


def _zero(i: Shape, o: Shape, a: Attrs) -> int:
    return 0


@dataclass(frozen=True)
class OpDef:
    """Everything archlang knows about one op."""

    name: str
    family: str  # conv, pool, norm, act, fc, reshape, regularize: colours and docs
    signature: Signature
    rule: Callable[[Shape, Attrs], Shape]
    torch: Callable[[Shape, Shape, Attrs], str]
    params: Callable[[Shape, Shape, Attrs], int] = _zero
    mults: Callable[[Shape, Shape, Attrs], int] = _zero
    warnings: Callable[[Shape, Attrs], list[str]] = lambda i, a: []
    forward: str | None = None  # for module-less ops: a template over `{x}` and attrs
    doc: str = ""


REGISTRY: dict[str, OpDef] = {}
ALIASES: dict[str, str] = {"linear": "fc", "dense": "fc", "batchnorm": "bn"}


def register(op: OpDef) -> OpDef:
    REGISTRY[op.name] = op
    return op


def lookup(name: str) -> OpDef | None:
    """The op called ``name`` (aliases included), or None."""
    return REGISTRY.get(ALIASES.get(name, name))


def _value_text(value: Any, kind: str) -> str:
    if kind == "pair":
        return str(value[0]) if value[0] == value[1] else f"{value[0]}x{value[1]}"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _positional_text(value: Any, kind: str) -> str:
    """Kernels and windows read `3x3`, as the course writes them."""
    return f"{value[0]}x{value[1]}" if kind == "pair" else _value_text(value, kind)


def describe(op: OpDef, attrs: Attrs) -> str:
    """The op with its resolved arguments, as a user would write it with literals:
    ``conv 7x7 s2 p3 x64 nobias``."""
    sig = op.signature
    parts = [op.name] + [_positional_text(attrs[a.attr], a.kind) for a in sig.positional
                         if attrs.get(a.attr) is not None and (a.required or attrs[a.attr] != a.default)]
    for letter, slot in sig.flags.items():
        value = attrs.get(slot.attr)
        if value is not None and value != slot.default and not (letter == "s" and value == attrs.get("kernel")
                                                                  and op.family == "pool"):
            if not (op.name == "dwconv" and letter == "x"):
                parts.append(letter + _value_text(value, slot.kind))
    parts += [w for w in ("same", "ceil") if attrs.get(w)] + ([] if attrs.get("bias", True) else ["nobias"])
    for key, slot in sig.keywords.items():
        if attrs.get(slot.attr) != slot.default:
            parts.append(f"{key}={_value_text(attrs[slot.attr], slot.kind) if slot.kind != 'word' else attrs[slot.attr]}")
    return " ".join(parts)


def known_names() -> list[str]:
    return sorted(set(REGISTRY) | set(ALIASES) | {"identity"})


# --- helpers -------------------------------------------------------------------------------


def need_volume(shape: Shape, op: str) -> None:
    if not is_volume(shape):
        raise ShapeError(f"`{op}` needs an HxWxC volume, but receives {fmt(shape)}",
                         help="spatial layers come before `flatten`")


def _pair_src(p: tuple[int, int]) -> str:
    return str(p[0]) if p[0] == p[1] else f"({p[0]}, {p[1]})"


def _windows(shape: Shape, a: Attrs, kernel: str = "kernel") -> tuple[Window, Window]:
    """The two spatial windows of a conv or pool, `same` resolved into ``a['pads']``."""
    k, s, d = a[kernel], a["stride"], a.get("dilation", (1, 1))
    if a.get("same"):
        pads = tuple(same_padding(k[i], d[i], strided=s != (1, 1)) for i in range(2))
    else:
        pads = tuple((p, p) for p in a["padding"])
    a["pads"] = pads
    return tuple(Window(k[i], s[i], pads[i][0], pads[i][1], d[i]) for i in range(2))  # type: ignore


def _check_fits(shape: Shape, wins: tuple[Window, Window], what: str, a: Attrs) -> None:
    if any(w.span_in(n) < 0 for n, w in zip(shape[:2], wins)):
        padded = "x".join(str(n + w.pad_before + w.pad_after) for n, w in zip(shape[:2], wins))
        extent = "x".join(str(w.extent) for w in wins)
        dil = " (dilated)" if any(w.dilation > 1 for w in wins) else ""
        raise ShapeError(f"the {extent}{dil} {what} is larger than the padded input {padded}",
                         help="pad the input (`same`, `p1`), or use a smaller " + what, arg="kernel")


def _stride_warnings(shape: Shape, a: Attrs, kernel: str = "kernel") -> list[str]:
    if a.get("ceil") or not is_volume(shape):
        return []
    wins = _windows(shape, dict(a), kernel)
    found = [dropped_rows_warning(n, w, axis) for n, w, axis in zip(shape[:2], wins, "hw")]
    if found[0] and found[1] and shape[0] == shape[1] and wins[0] == wins[1]:
        return [found[0].replace(" row", " row and column").replace(" rows", " rows and columns")]
    return [w for w in found if w]


def _is_asymmetric(a: Attrs) -> bool:
    return any(before != after for before, after in a["pads"])


def _torch_pads(a: Attrs) -> tuple[int, int, int, int]:
    (t, b), (l, r) = a["pads"]
    return (l, r, t, b)


# --- convolutions --------------------------------------------------------------------------

_CONV_FLAGS = {  # in the order LANGUAGE.md writes them: conv KxK sS pP xF gG dD
    "s": Arg("stride", "pair", default=(1, 1)), "p": Arg("padding", "pair", least=0, default=(0, 0)),
    "x": Arg("filters", "int"), "g": Arg("groups", "int", default=1), "d": Arg("dilation", "pair", default=(1, 1)),
}
_KERNEL = Arg("kernel", "pair", required=True)


def _conv_rule(shape: Shape, a: Attrs) -> Shape:
    need_volume(shape, a["op"])
    c, g = shape[2], a.get("groups", 1)
    if a["op"] == "dwconv":
        g = a["groups"] = c
        a["filters"] = a.get("filters") or c
    f = a.get("filters")
    if f is None:
        raise ShapeError("`conv` needs the number of filters", help="add e.g. `x64`", arg="op")
    if c % g:
        raise ShapeError(f"{g} groups do not divide the {c} input channels", arg="g",
                         help=f"use a number of groups that divides {c}")
    if f % g:
        what = "a multiple of the input channels" if a["op"] == "dwconv" else f"divisible by the {g} groups"
        raise ShapeError(f"{f} filters is not {what}", arg="x",
                         help=f"use a multiple of {g} filters")
    wins = _windows(shape, a)
    _check_fits(shape, wins, "kernel", a)
    return (conv_out(shape[0], wins[0]), conv_out(shape[1], wins[1]), f)


def _conv_weights(i: Shape, a: Attrs) -> int:
    kh, kw = a["kernel"]
    return a["filters"] * (i[2] // a["groups"]) * kh * kw


def _conv_params(i: Shape, o: Shape, a: Attrs) -> int:
    return _conv_weights(i, a) + (a["filters"] if a["bias"] else 0)


def _conv_mults(i: Shape, o: Shape, a: Attrs) -> int:
    return o[0] * o[1] * _conv_weights(i, a)


def _conv_torch(i: Shape, o: Shape, a: Attrs) -> str:
    parts = [str(i[2]), str(a["filters"]), _pair_src(a["kernel"])]
    if a["stride"] != (1, 1):
        parts.append(f"stride={_pair_src(a['stride'])}")
    if _is_asymmetric(a):
        parts.append("padding='same'")  # only `same` at stride 1 pads unevenly: PyTorch's split
    elif any(p for p, _ in a["pads"]):
        parts.append(f"padding={_pair_src((a['pads'][0][0], a['pads'][1][0]))}")
    if a["dilation"] != (1, 1):
        parts.append(f"dilation={_pair_src(a['dilation'])}")
    if a["groups"] != 1:
        parts.append(f"groups={a['groups']}")
    if not a["bias"]:
        parts.append("bias=False")
    return f"nn.Conv2d({', '.join(parts)})"


for _name, _flags, _doc in (
    ("conv", _CONV_FLAGS, "2-D convolution"),
    ("dwconv", {k: v for k, v in _CONV_FLAGS.items() if k != "g"}, "depthwise convolution (groups = channels)"),
):
    register(OpDef(_name, "conv", Signature((_KERNEL,), _flags, frozenset({"same", "valid", "nobias"})),
                   _conv_rule, _conv_torch, _conv_params, _conv_mults,
                   warnings=_stride_warnings, doc=_doc))


def _convt_rule(shape: Shape, a: Attrs) -> Shape:
    need_volume(shape, "convt")
    c, g, f = shape[2], a["groups"], a.get("filters")
    if f is None:
        raise ShapeError("`convt` needs the number of filters", help="add e.g. `x64`", arg="op")
    if c % g or f % g:
        raise ShapeError(f"{g} groups must divide both the {c} input channels and the {f} filters", arg="g")
    op_h, op_w = a["output_padding"]
    for extra, s, d in ((op_h, a["stride"][0], a["dilation"][0]), (op_w, a["stride"][1], a["dilation"][1])):
        if extra >= max(s, d):
            raise ShapeError(f"output padding {extra} must be smaller than the stride or the dilation",
                             arg="output_padding")
    a["pads"] = tuple((p, p) for p in a["padding"])
    h, w = (transposed_out(shape[ax], a["kernel"][ax], a["stride"][ax], a["padding"][ax],
                           a["dilation"][ax], a["output_padding"][ax]) for ax in range(2))
    if h < 1 or w < 1:
        raise ShapeError(f"the output would be {h}x{w}", help="use less padding", arg="p")
    return (h, w, f)


def _convt_weights(i: Shape, a: Attrs) -> int:
    kh, kw = a["kernel"]
    return i[2] * (a["filters"] // a["groups"]) * kh * kw


def _convt_torch(i: Shape, o: Shape, a: Attrs) -> str:
    parts = [str(i[2]), str(a["filters"]), _pair_src(a["kernel"])]
    for key, default in (("stride", (1, 1)), ("padding", (0, 0)), ("output_padding", (0, 0))):
        if a[key] != default:
            parts.append(f"{key}={_pair_src(a[key])}")
    if a["groups"] != 1:
        parts.append(f"groups={a['groups']}")
    if not a["bias"]:
        parts.append("bias=False")
    if a["dilation"] != (1, 1):
        parts.append(f"dilation={_pair_src(a['dilation'])}")
    return f"nn.ConvTranspose2d({', '.join(parts)})"


register(OpDef(
    "convt", "conv",
    Signature((_KERNEL,), _CONV_FLAGS, frozenset({"valid", "nobias"}),
              {"output_padding": Arg("output_padding", "pair", least=0, default=(0, 0))}),
    _convt_rule, _convt_torch,
    lambda i, o, a: _convt_weights(i, a) + (a["filters"] if a["bias"] else 0),
    lambda i, o, a: i[0] * i[1] * _convt_weights(i, a),
    doc="transposed convolution"))

# --- pooling -------------------------------------------------------------------------------


def _pool_rule(shape: Shape, a: Attrs) -> Shape:
    need_volume(shape, a["op"])
    if a["stride"] is None:
        a["stride"] = a["kernel"]
    wins = _windows(shape, a)
    if _is_asymmetric(a):  # padded explicitly before an unpadded pool, as the model runs it
        wins = (Window(wins[0].kernel, wins[0].stride, 0, 0, wins[0].dilation),
                Window(wins[1].kernel, wins[1].stride, 0, 0, wins[1].dilation))
        shape = (shape[0] + sum(a["pads"][0]), shape[1] + sum(a["pads"][1]), shape[2])
    for win in wins:
        if win.pad_before > win.kernel // 2:
            raise ShapeError(f"padding {win.pad_before} is more than half the {fmt(a['kernel'])} window",
                             help="PyTorch pads pooling by at most half the window", arg="p")
    h, w = (pool_out(n, win, a.get("ceil", False)) for n, win in zip(shape[:2], wins))
    if h < 1 or w < 1:  # PyTorch's only size check: ceil mode may let a window overhang
        _check_fits(shape, wins, "window", a)
        raise ShapeError(f"the output would be {h}x{w}", arg="kernel")
    return (h, w, shape[2])


def _pool_torch(i: Shape, o: Shape, a: Attrs) -> str:
    kind = "MaxPool2d" if a["op"] == "maxpool" else "AvgPool2d"
    parts = [_pair_src(a["kernel"])]
    if a["stride"] != a["kernel"]:
        parts.append(f"stride={_pair_src(a['stride'])}")
    asymmetric = _is_asymmetric(a)
    if not asymmetric and any(p for p, _ in a["pads"]):
        parts.append(f"padding={_pair_src((a['pads'][0][0], a['pads'][1][0]))}")
    if a.get("dilation", (1, 1)) != (1, 1):
        parts.append(f"dilation={_pair_src(a['dilation'])}")
    if a.get("ceil"):
        parts.append("ceil_mode=True")
    if a["op"] == "avgpool" and not a.get("count_include_pad", 1):
        parts.append("count_include_pad=False")
    pool = f"nn.{kind}({', '.join(parts)})"
    if not asymmetric:
        return pool
    fill = "float('-inf')" if a["op"] == "maxpool" else "0.0"
    return f"nn.Sequential(nn.ConstantPad2d({_torch_pads(a)}, {fill}), {pool})"


_POOL_ARGS = (Arg("kernel", "pair", required=True),)
register(OpDef("maxpool", "pool", Signature(
    _POOL_ARGS, {"s": Arg("stride", "pair"), "p": Arg("padding", "pair", least=0, default=(0, 0)),
                 "d": Arg("dilation", "pair", default=(1, 1))},
    frozenset({"same", "valid", "ceil"})), _pool_rule, _pool_torch, warnings=_stride_warnings,
    doc="max pooling; stride defaults to the window"))
register(OpDef("avgpool", "pool", Signature(
    _POOL_ARGS, {"s": Arg("stride", "pair"), "p": Arg("padding", "pair", least=0, default=(0, 0))},
    frozenset({"same", "valid", "ceil"}),
    {"count_include_pad": Arg("count_include_pad", "int", least=0, default=1)}),
    _pool_rule, _pool_torch, warnings=_stride_warnings, doc="average pooling; stride defaults to the window"))


def _adaptive_rule(shape: Shape, a: Attrs) -> Shape:
    need_volume(shape, a["op"])
    h, w = a.get("size") or (1, 1)
    return (h, w, shape[2])


def _adaptive_torch(i: Shape, o: Shape, a: Attrs) -> str:
    kind = "AdaptiveMaxPool2d" if a["op"] in ("adaptivemaxpool", "gmp") else "AdaptiveAvgPool2d"
    return f"nn.{kind}({_pair_src(a.get('size') or (1, 1))})"


for _name in ("adaptiveavgpool", "adaptivemaxpool"):
    register(OpDef(_name, "pool", Signature((Arg("size", "pair", required=True),)),
                   _adaptive_rule, _adaptive_torch, doc="adaptive pooling to HxW"))
for _name, _doc in (("gap", "global average pooling to 1x1"), ("gmp", "global max pooling to 1x1")):
    register(OpDef(_name, "pool", Signature(), _adaptive_rule, _adaptive_torch, doc=_doc))

# --- vectors -------------------------------------------------------------------------------


def _fc_rule(shape: Shape, a: Attrs) -> Shape:
    if is_volume(shape):
        raise ShapeError(f"fc needs a vector, but receives {fmt(shape)}",
                         help="insert `flatten ->` before `fc`", arg="op")
    return (a["features"],)


register(OpDef(
    "fc", "fc", Signature((Arg("features", "int", required=True),), words=frozenset({"nobias"})),
    _fc_rule,
    lambda i, o, a: f"nn.Linear({i[0]}, {o[0]}{'' if a['bias'] else ', bias=False'})",
    lambda i, o, a: i[0] * o[0] + (o[0] if a["bias"] else 0),
    lambda i, o, a: i[0] * o[0], doc="fully connected"))

register(OpDef("flatten", "reshape", Signature(), lambda s, a: (numel(s),),
               lambda i, o, a: "nn.Flatten()", doc="HxWxC to H*W*C"))

# --- normalisation and regularisation ------------------------------------------------------


def _bn_torch(i: Shape, o: Shape, a: Attrs) -> str:
    kind = "BatchNorm2d" if is_volume(i) else "BatchNorm1d"
    extra = "".join(f", {k}={a[k]!r}" for k, d in (("eps", 1e-5), ("momentum", 0.1)) if a[k] != d)
    return f"nn.{kind}({i[-1]}{extra})"


register(OpDef(
    "bn", "norm", Signature(keywords={"eps": Arg("eps", "float", least=0, default=1e-5),
                                      "momentum": Arg("momentum", "float", least=0, default=0.1)}),
    lambda s, a: s, _bn_torch, lambda i, o, a: 2 * i[-1], doc="batch normalisation"))


def _lrn_rule(shape: Shape, a: Attrs) -> Shape:
    need_volume(shape, "lrn")
    return shape


def _lrn_torch(i: Shape, o: Shape, a: Attrs) -> str:
    return f"nn.LocalResponseNorm({a['size']}, alpha={a['alpha']!r}, beta={a['beta']!r}, k={a['k']!r})"


register(OpDef(
    "lrn", "norm", Signature((Arg("size", "int", required=True),), keywords={
        "alpha": Arg("alpha", "float", least=0, default=1e-4), "beta": Arg("beta", "float", least=0, default=0.75),
        "k": Arg("k", "float", least=0, default=1.0)}),
    _lrn_rule, _lrn_torch, doc="local response normalisation"))


def _dropout_rule(shape: Shape, a: Attrs) -> Shape:
    if not 0 <= a["p"] <= 1:
        raise ShapeError(f"dropout probability {a['p']} is not between 0 and 1", arg="p")
    return shape


register(OpDef("dropout", "regularize", Signature((Arg("p", "float", least=0, default=0.5),)),
               _dropout_rule, lambda i, o, a: f"nn.Dropout({a['p']!r})", doc="dropout, p defaults to 0.5"))

# --- resizing and channels -----------------------------------------------------------------


def _upsample_rule(shape: Shape, a: Attrs) -> Shape:
    need_volume(shape, "upsample")
    return (shape[0] * a["scale"][0], shape[1] * a["scale"][1], shape[2])


def _upsample_torch(i: Shape, o: Shape, a: Attrs) -> str:
    extra = ", align_corners=False" if a["mode"] in ("bilinear", "bicubic") else ""
    return f"nn.Upsample(scale_factor={_pair_src(a['scale'])}, mode={a['mode']!r}{extra})"


register(OpDef(
    "upsample", "reshape", Signature((Arg("scale", "pair", required=True),),
                                     keywords={"mode": Arg("mode", "word", default="nearest")},
                                     choices={"mode": ("nearest", "bilinear", "bicubic")}),
    _upsample_rule, _upsample_torch, doc="upsampling by a whole factor; mode=nearest|bilinear|bicubic"))


def _zeropad_rule(shape: Shape, a: Attrs) -> Shape:
    need_volume(shape, "zeropad")
    a["pads"] = tuple((p, p) for p in a["pad"])
    return (shape[0] + 2 * a["pad"][0], shape[1] + 2 * a["pad"][1], shape[2])


register(OpDef("zeropad", "reshape", Signature((Arg("pad", "pair", least=0, required=True),)),
               _zeropad_rule, lambda i, o, a: f"nn.ZeroPad2d({_torch_pads(a)})", doc="zero padding"))


def _shuffle_rule(shape: Shape, a: Attrs) -> Shape:
    need_volume(shape, "channel_shuffle")
    if shape[2] % a["groups"]:
        raise ShapeError(f"{a['groups']} groups do not divide the {shape[2]} channels", arg="groups")
    return shape


register(OpDef("channel_shuffle", "reshape", Signature((Arg("groups", "int", required=True),)),
               _shuffle_rule, lambda i, o, a: f"nn.ChannelShuffle({a['groups']})",
               doc="ShuffleNet's channel shuffle"))


def _chunk_rule(shape: Shape, a: Attrs) -> Shape:
    n, i, c = a["chunks"], a["index"], shape[-1]
    if c % n:
        raise ShapeError(f"{n} chunks do not divide the {c} channels", arg="chunks")
    if i >= n:
        raise ShapeError(f"chunk {i} does not exist: there are {n}, numbered from 0", arg="index")
    return shape[:-1] + (c // n,)


register(OpDef("chunk", "reshape", Signature((Arg("chunks", "int", required=True),
                                              Arg("index", "int", least=0, required=True))),
               _chunk_rule, lambda i, o, a: "", forward="torch.chunk({x}, {chunks}, dim=1)[{index}]",
               doc="the I-th (from 0) of N equal channel groups"))

# --- activations ---------------------------------------------------------------------------

_ACTIVATIONS = {
    "relu": "nn.ReLU({inplace})", "relu6": "nn.ReLU6({inplace})", "sigmoid": "nn.Sigmoid()",
    "hardsigmoid": "nn.Hardsigmoid()", "tanh": "nn.Tanh()", "softmax": "nn.Softmax(dim=1)",
    "logsoftmax": "nn.LogSoftmax(dim=1)", "silu": "nn.SiLU()", "hardswish": "nn.Hardswish()",
    "gelu": "nn.GELU()", "mish": "nn.Mish()",
}
INPLACE_ACTIVATIONS = frozenset({"relu", "relu6", "leakyrelu"})


def _activation_torch(template: str) -> Callable[[Shape, Shape, Attrs], str]:
    return lambda i, o, a: template.format(inplace="inplace=True" if a.get("inplace") else "")


for _name, _template in _ACTIVATIONS.items():
    register(OpDef(_name, "act", Signature(), lambda s, a: s, _activation_torch(_template), doc="activation"))
register(OpDef(
    "leakyrelu", "act", Signature((Arg("slope", "float", least=0, default=0.01),)), lambda s, a: s,
    lambda i, o, a: f"nn.LeakyReLU({a['slope']!r}{', inplace=True' if a.get('inplace') else ''})",
    doc="leaky ReLU, slope defaults to 0.01"))
register(OpDef("elu", "act", Signature((Arg("alpha", "float", least=0, default=1.0),)), lambda s, a: s,
               lambda i, o, a: f"nn.ELU({a['alpha']!r})", doc="ELU, alpha defaults to 1.0"))
