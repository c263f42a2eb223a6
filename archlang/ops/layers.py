"""Vectors, normalisation, regularisation, resizing, channel ops and activations."""

from __future__ import annotations

from typing import Callable

from ..core.shapes import Shape, ShapeError, fmt, is_volume, numel
from ..core.opdef import Family
from .registry import Arg, Attrs, OpDef, Signature, need_volume, pair_src, register, torch_pads

# --- vectors -------------------------------------------------------------------------------


def _fc_rule(shape: Shape, a: Attrs) -> Shape:
    if is_volume(shape):
        raise ShapeError(f"fc needs a vector, but receives {fmt(shape)}",
                         help="insert `flatten ->` before `fc`", arg="op")
    return (a["features"],)


register(OpDef(
    "fc", Family.FC, Signature((Arg("features", "int", required=True),), words=frozenset({"nobias"})),
    _fc_rule,
    lambda i, o, a: f"nn.Linear({i[0]}, {o[0]}{'' if a['bias'] else ', bias=False'})",
    lambda i, o, a: i[0] * o[0] + (o[0] if a["bias"] else 0),
    lambda i, o, a: i[0] * o[0], doc="fully connected", output_reusable=True))

register(OpDef("flatten", Family.RESHAPE, Signature(), lambda s, a: (numel(s),),
               lambda i, o, a: "nn.Flatten()", doc="HxWxC to H*W*C"))

# --- normalisation and regularisation ------------------------------------------------------


def _bn_torch(i: Shape, o: Shape, a: Attrs) -> str:
    kind = "BatchNorm2d" if is_volume(i) else "BatchNorm1d"
    extra = "".join(f", {k}={a[k]!r}" for k, d in (("eps", 1e-5), ("momentum", 0.1)) if a[k] != d)
    return f"nn.{kind}({i[-1]}{extra})"


register(OpDef(
    "bn", Family.NORM, Signature(keywords={"eps": Arg("eps", "float", least=0, default=1e-5),
                                      "momentum": Arg("momentum", "float", least=0, default=0.1)}),
    lambda s, a: s, _bn_torch, lambda i, o, a: 2 * i[-1], doc="batch normalisation",
    output_reusable=True))


def _lrn_rule(shape: Shape, a: Attrs) -> Shape:
    need_volume(shape, "lrn")
    return shape


def _lrn_torch(i: Shape, o: Shape, a: Attrs) -> str:
    return f"nn.LocalResponseNorm({a['size']}, alpha={a['alpha']!r}, beta={a['beta']!r}, k={a['k']!r})"


register(OpDef(
    "lrn", Family.NORM, Signature((Arg("size", "int", required=True),), keywords={
        "alpha": Arg("alpha", "float", least=0, default=1e-4), "beta": Arg("beta", "float", least=0, default=0.75),
        "k": Arg("k", "float", least=0, default=1.0)}),
    _lrn_rule, _lrn_torch, doc="local response normalisation"))


def _dropout_rule(shape: Shape, a: Attrs) -> Shape:
    if not 0 <= a["p"] <= 1:
        raise ShapeError(f"dropout probability {a['p']} is not between 0 and 1", arg="p")
    return shape


register(OpDef("dropout", Family.REGULARIZE, Signature((Arg("p", "float", least=0, default=0.5),)),
               _dropout_rule, lambda i, o, a: f"nn.Dropout({a['p']!r})", doc="dropout, p defaults to 0.5"))

# --- resizing and channels -----------------------------------------------------------------


def _upsample_rule(shape: Shape, a: Attrs) -> Shape:
    need_volume(shape, "upsample")
    return (shape[0] * a["scale"][0], shape[1] * a["scale"][1], shape[2])


def _upsample_torch(i: Shape, o: Shape, a: Attrs) -> str:
    extra = ", align_corners=False" if a["mode"] in ("bilinear", "bicubic") else ""
    return f"nn.Upsample(scale_factor={pair_src(a['scale'])}, mode={a['mode']!r}{extra})"


register(OpDef(
    "upsample", Family.RESHAPE, Signature((Arg("scale", "pair", required=True),),
                                     keywords={"mode": Arg("mode", "word", default="nearest")},
                                     choices={"mode": ("nearest", "bilinear", "bicubic")}),
    _upsample_rule, _upsample_torch, doc="upsampling by a whole factor; mode=nearest|bilinear|bicubic"))


def _zeropad_resolve(shape: Shape, a: Attrs) -> Attrs:
    need_volume(shape, "zeropad")
    return dict(a, pads=tuple((p, p) for p in a["pad"]))


def _zeropad_rule(shape: Shape, r: Attrs) -> Shape:
    return (shape[0] + 2 * r["pad"][0], shape[1] + 2 * r["pad"][1], shape[2])


register(OpDef("zeropad", Family.RESHAPE, Signature((Arg("pad", "pair", least=0, required=True),)),
               _zeropad_rule, lambda i, o, r: f"nn.ZeroPad2d({torch_pads(r)})", doc="zero padding",
               resolve=_zeropad_resolve))


def _shuffle_rule(shape: Shape, a: Attrs) -> Shape:
    need_volume(shape, "channel_shuffle")
    if shape[2] % a["groups"]:
        raise ShapeError(f"{a['groups']} groups do not divide the {shape[2]} channels", arg="groups")
    return shape


register(OpDef("channel_shuffle", Family.RESHAPE, Signature((Arg("groups", "int", required=True),)),
               _shuffle_rule, lambda i, o, a: f"nn.ChannelShuffle({a['groups']})",
               doc="ShuffleNet's channel shuffle"))


def _chunk_rule(shape: Shape, a: Attrs) -> Shape:
    n, i, c = a["chunks"], a["index"], shape[-1]
    if c % n:
        raise ShapeError(f"{n} chunks do not divide the {c} channels", arg="chunks")
    if i >= n:
        raise ShapeError(f"chunk {i} does not exist: there are {n}, numbered from 0", arg="index")
    return shape[:-1] + (c // n,)


register(OpDef("chunk", Family.RESHAPE, Signature((Arg("chunks", "int", required=True),
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
    register(OpDef(_name, Family.ACT, Signature(), lambda s, a: s, _activation_torch(_template), doc="activation"))
register(OpDef(
    "leakyrelu", Family.ACT, Signature((Arg("slope", "float", least=0, default=0.01),)), lambda s, a: s,
    lambda i, o, a: f"nn.LeakyReLU({a['slope']!r}{', inplace=True' if a.get('inplace') else ''})",
    doc="leaky ReLU, slope defaults to 0.01"))
register(OpDef("elu", Family.ACT, Signature((Arg("alpha", "float", least=0, default=1.0),)), lambda s, a: s,
               lambda i, o, a: f"nn.ELU({a['alpha']!r})", doc="ELU, alpha defaults to 1.0"))
