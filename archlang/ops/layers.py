"""Vectors, normalisation, regularisation, resizing, channel ops and activations."""

from __future__ import annotations

from typing import Callable

from ..core.shapes import Shape, ShapeError, fmt, is_volume, numel
from ..core.opdef import Family
from .registry import Arg, Attrs, OpDef, Signature, need_volume, pair_src, register, torch_pads

# --- vectors -------------------------------------------------------------------------------


def _fc_rule(shape: Shape, a: Attrs) -> Shape:
    if a["pixelwise"]:
        need_volume(shape, "fc pixelwise")
        return shape[:2] + (a["features"],)
    if is_volume(shape):
        raise ShapeError(f"fc needs a vector, but receives {fmt(shape)}",
                         help="insert `flatten ->` before `fc`", arg="op")
    return (a["features"],)


def _fc_torch(i: Shape, o: Shape, a: Attrs) -> str:
    kind = "PixelwiseLinear" if a["pixelwise"] else "nn.Linear"
    return f"{kind}({i[-1]}, {o[-1]}{'' if a['bias'] else ', bias=False'})"


register(OpDef(
    "fc", Family.FC, Signature((Arg("features", "int", required=True),), words=frozenset({"nobias", "pixelwise"})),
    _fc_rule, _fc_torch,
    lambda i, o, a: i[-1] * o[-1] + (o[-1] if a["bias"] else 0),
    lambda i, o, a: numel(o) * i[-1], output_reusable=True,
    doc="fully connected; `pixelwise`: the same nn.Linear(C, N) at every pixel of HxWxC"))

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


def _probability_rule(what: str) -> Callable[[Shape, Attrs], Shape]:
    def rule(shape: Shape, a: Attrs) -> Shape:
        if not 0 <= a["p"] <= 1:
            raise ShapeError(f"{what} probability {a['p']} is not between 0 and 1", arg="p")
        return shape
    return rule


register(OpDef("dropout", Family.REGULARIZE, Signature((Arg("p", "float", least=0, default=0.5),)),
               _probability_rule("dropout"), lambda i, o, a: f"nn.Dropout({a['p']!r})",
               doc="dropout, p defaults to 0.5"))
register(OpDef("droppath", Family.REGULARIZE, Signature((Arg("p", "float", least=0, required=True),)),
               _probability_rule("drop-path"), lambda i, o, a: f"DropPath({a['p']!r})",
               doc="stochastic depth: drops a sample's branch with probability P in training"))

_EPS = {"eps": Arg("eps", "float", least=0, default=1e-5)}


def _eps_src(a: Attrs) -> str:
    return "" if a["eps"] == 1e-5 else f", eps={a['eps']!r}"


def _layernorm_torch(i: Shape, o: Shape, a: Attrs) -> str:
    return f"{'LayerNorm2d' if is_volume(i) else 'nn.LayerNorm'}({i[-1]}{_eps_src(a)})"


register(OpDef("layernorm", Family.NORM, Signature(keywords=_EPS), lambda s, a: s, _layernorm_torch,
               lambda i, o, a: 2 * i[-1],
               doc="layer norm: over a vector's features, or over the channels of each pixel of HxWxC"))


def _groupnorm_rule(shape: Shape, a: Attrs) -> Shape:
    if shape[-1] % a["groups"]:
        raise ShapeError(f"{a['groups']} groups do not divide the {shape[-1]} channels", arg="groups",
                         help=f"use a number of groups that divides {shape[-1]}")
    return shape


register(OpDef("groupnorm", Family.NORM, Signature((Arg("groups", "int", required=True),), keywords=_EPS),
               _groupnorm_rule, lambda i, o, a: f"nn.GroupNorm({a['groups']}, {i[-1]}{_eps_src(a)})",
               lambda i, o, a: 2 * i[-1], doc="group normalisation over G channel groups"))


def _instancenorm_rule(shape: Shape, a: Attrs) -> Shape:
    need_volume(shape, "instancenorm")
    return shape


register(OpDef("instancenorm", Family.NORM, Signature(words=frozenset({"affine"})), _instancenorm_rule,
               lambda i, o, a: f"nn.InstanceNorm2d({i[-1]}{', affine=True' if a['affine'] else ''})",
               lambda i, o, a: 2 * i[-1] if a["affine"] else 0,
               doc="instance normalisation; `affine` adds a scale and a shift per channel"))


def _layerscale_rule(shape: Shape, a: Attrs) -> Shape:
    need_volume(shape, "layerscale")
    return shape


register(OpDef("layerscale", Family.NORM, Signature(keywords={"init": Arg("init", "float", least=0, default=1e-6)}),
               _layerscale_rule, lambda i, o, a: f"LayerScale({i[-1]}, {a['init']!r})", lambda i, o, a: i[-1],
               doc="a learnable factor per channel (ConvNeXt), initially `init`"))

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


def _resize_resolve(shape: Shape, a: Attrs) -> Attrs:
    """The target ``size``: as written, or the ``HxW`` of the tensor that ``like=NAME`` names
    (the elaborator binds its shape as ``like_shape``)."""
    need_volume(shape, "resize")
    like, like_shape = a.get("like"), a.get("like_shape")
    if a["size"] is not None and like is not None:
        raise ShapeError("`resize` takes a size or `like=NAME`, not both", arg="like")
    if a["size"] is None and like_shape is None:
        raise ShapeError("`resize` needs a size", help="write e.g. `resize 32x32` or `resize like=input`", arg="op")
    if a["size"] is None and not is_volume(like_shape):
        raise ShapeError(f"`like={like}` is a {fmt(like_shape)} vector, but `resize` needs an HxW size", arg="like")
    size = a["size"] if a["size"] is not None else tuple(like_shape[:2])
    return dict(a, size=size, align_corners=False if a["mode"] == "bilinear" else None)


register(OpDef(
    "resize", Family.RESHAPE, Signature((Arg("size", "pair"),),
                                        keywords={"mode": Arg("mode", "word", default="nearest"),
                                                  "like": Arg("like", "tensor")},
                                        choices={"mode": ("nearest", "bilinear")}),
    lambda s, r: r["size"] + s[2:], lambda i, o, r: "",
    forward="torch.nn.functional.interpolate({x}, size={size}, mode={mode!r}, align_corners={align_corners})",
    doc="resizing to HxW, or to the HxW of tensor NAME with `like=NAME`; mode=nearest|bilinear",
    resolve=_resize_resolve))


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
    "logsoftmax": "nn.LogSoftmax(dim=1)", "silu": "nn.SiLU({inplace})", "hardswish": "nn.Hardswish({inplace})",
    "gelu": "nn.GELU()", "mish": "nn.Mish()",
}
# in place, as torchvision's networks run them, where the layer before keeps nothing its backward
# needs in its output (codegen checks `output_reusable`); autograd saves what SiLU and Hardswish need
INPLACE_ACTIVATIONS = frozenset({"relu", "relu6", "leakyrelu", "silu", "hardswish"})


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
