"""Convolutions and pooling: sliding windows over HxW."""

from __future__ import annotations

from ..core.shapes import (Shape, ShapeError, Window, conv_out, dropped_rows_warning, fmt, is_volume, pool_out,
                      same_padding, transposed_out)
from typing import Callable

from ..core.opdef import Family
from .registry import Arg, Attrs, OpDef, Signature, need_volume, pair_src, register, torch_pads

Pads = tuple[tuple[int, int], tuple[int, int]]


def _pads(a: Attrs, kernel: str = "kernel") -> Pads:
    """(before, after) padding per axis: `same` resolved, or the symmetric padding as written."""
    k, s, d = a[kernel], a["stride"], a.get("dilation", (1, 1))
    if a.get("same"):
        return tuple(same_padding(k[i], d[i], strided=s != (1, 1)) for i in range(2))  # type: ignore
    return tuple((p, p) for p in a["padding"])  # type: ignore


def _windows(r: Attrs) -> tuple[Window, Window]:
    """The two spatial windows of a conv or pool, from its resolved attributes."""
    k, s, d, pads = r["kernel"], r["stride"], r.get("dilation", (1, 1)), r["pads"]
    return tuple(Window(k[i], s[i], pads[i][0], pads[i][1], d[i]) for i in range(2))  # type: ignore


def _check_fits(shape: Shape, wins: tuple[Window, Window], what: str) -> None:
    if any(w.span_in(n) < 0 for n, w in zip(shape[:2], wins)):
        padded = "x".join(str(n + w.pad_before + w.pad_after) for n, w in zip(shape[:2], wins))
        extent = "x".join(str(w.extent) for w in wins)
        dil = " (dilated)" if any(w.dilation > 1 for w in wins) else ""
        raise ShapeError(f"the {extent}{dil} {what} is larger than the padded input {padded}",
                         help="pad the input (`same`, `p1`), or use a smaller " + what, arg="kernel")


def _stride_warnings(shape: Shape, r: Attrs) -> list[str]:
    if r.get("ceil") or not is_volume(shape):
        return []
    wins = _windows(r)
    found = [dropped_rows_warning(n, w, axis) for n, w, axis in zip(shape[:2], wins, "hw")]
    if found[0] and found[1] and shape[0] == shape[1] and wins[0] == wins[1]:
        return [found[0].replace(" row", " row and column").replace(" rows", " rows and columns")]
    return [w for w in found if w]


def _is_asymmetric(r: Attrs) -> bool:
    return any(before != after for before, after in r["pads"])

# --- convolutions --------------------------------------------------------------------------

_CONV_FLAGS = {  # in the order LANGUAGE.md writes them: conv KxK sS pP xF gG dD
    "s": Arg("stride", "pair", default=(1, 1)), "p": Arg("padding", "pair", least=0, default=(0, 0)),
    "x": Arg("filters", "int"), "g": Arg("groups", "int", default=1), "d": Arg("dilation", "pair", default=(1, 1)),
}
_KERNEL = Arg("kernel", "pair", required=True)


def _conv_resolve(name: str, depthwise: bool) -> Callable[[Shape, Attrs], Attrs]:
    """Padding pairs; a depthwise conv's groups (its input channels) and filters (by default as many)."""
    def resolve(shape: Shape, a: Attrs) -> Attrs:
        need_volume(shape, name)
        r = dict(a, pads=_pads(a))
        if depthwise:
            r["groups"] = shape[2]
            r["filters"] = a.get("filters") or shape[2]
        return r
    return resolve


def _conv_rule(depthwise: bool) -> Callable[[Shape, Attrs], Shape]:
    def rule(shape: Shape, r: Attrs) -> Shape:
        c, g, f = shape[2], r["groups"], r.get("filters")
        if f is None:
            raise ShapeError("`conv` needs the number of filters", help="add e.g. `x64`", arg="op")
        if c % g:
            raise ShapeError(f"{g} groups do not divide the {c} input channels", arg="g",
                             help=f"use a number of groups that divides {c}")
        if f % g:
            what = "a multiple of the input channels" if depthwise else f"divisible by the {g} groups"
            raise ShapeError(f"{f} filters is not {what}", arg="x", help=f"use a multiple of {g} filters")
        wins = _windows(r)
        _check_fits(shape, wins, "kernel")
        return (conv_out(shape[0], wins[0]), conv_out(shape[1], wins[1]), f)
    return rule


def _conv_weights(i: Shape, a: Attrs) -> int:
    kh, kw = a["kernel"]
    return a["filters"] * (i[2] // a["groups"]) * kh * kw


def _conv_params(i: Shape, o: Shape, a: Attrs) -> int:
    return _conv_weights(i, a) + (a["filters"] if a["bias"] else 0)


def _conv_mults(i: Shape, o: Shape, a: Attrs) -> int:
    return o[0] * o[1] * _conv_weights(i, a)


def _conv_torch(i: Shape, o: Shape, a: Attrs) -> str:
    parts = [str(i[2]), str(a["filters"]), pair_src(a["kernel"])]
    if a["stride"] != (1, 1):
        parts.append(f"stride={pair_src(a['stride'])}")
    if _is_asymmetric(a):
        parts.append("padding='same'")  # only `same` at stride 1 pads unevenly: PyTorch's split
    elif any(p for p, _ in a["pads"]):
        parts.append(f"padding={pair_src((a['pads'][0][0], a['pads'][1][0]))}")
    if a["dilation"] != (1, 1):
        parts.append(f"dilation={pair_src(a['dilation'])}")
    if a["groups"] != 1:
        parts.append(f"groups={a['groups']}")
    if not a["bias"]:
        parts.append("bias=False")
    return f"nn.Conv2d({', '.join(parts)})"


for _name, _flags, _depthwise, _doc in (
    ("conv", _CONV_FLAGS, False, "2-D convolution"),
    ("dwconv", {k: v for k, v in _CONV_FLAGS.items() if k != "g"}, True, "depthwise convolution (groups = channels)"),
):
    register(OpDef(_name, Family.CONV, Signature((_KERNEL,), _flags, frozenset({"same", "valid", "nobias"})),
                   _conv_rule(_depthwise), _conv_torch, _conv_params, _conv_mults,
                   warnings=_stride_warnings, doc=_doc, output_reusable=True,
                   resolve=_conv_resolve(_name, _depthwise)))


def _convt_resolve(shape: Shape, a: Attrs) -> Attrs:
    need_volume(shape, "convt")
    return dict(a, pads=tuple((p, p) for p in a["padding"]))


def _convt_rule(shape: Shape, a: Attrs) -> Shape:
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
    h, w = (transposed_out(shape[ax], a["kernel"][ax], a["stride"][ax], a["padding"][ax],
                           a["dilation"][ax], a["output_padding"][ax]) for ax in range(2))
    if h < 1 or w < 1:
        raise ShapeError(f"the output would be {h}x{w}", help="use less padding", arg="p")
    return (h, w, f)


def _convt_weights(i: Shape, a: Attrs) -> int:
    kh, kw = a["kernel"]
    return i[2] * (a["filters"] // a["groups"]) * kh * kw


def _convt_torch(i: Shape, o: Shape, a: Attrs) -> str:
    parts = [str(i[2]), str(a["filters"]), pair_src(a["kernel"])]
    for key, default in (("stride", (1, 1)), ("padding", (0, 0)), ("output_padding", (0, 0))):
        if a[key] != default:
            parts.append(f"{key}={pair_src(a[key])}")
    if a["groups"] != 1:
        parts.append(f"groups={a['groups']}")
    if not a["bias"]:
        parts.append("bias=False")
    if a["dilation"] != (1, 1):
        parts.append(f"dilation={pair_src(a['dilation'])}")
    return f"nn.ConvTranspose2d({', '.join(parts)})"


register(OpDef(
    "convt", Family.CONV,
    Signature((_KERNEL,), _CONV_FLAGS, frozenset({"valid", "nobias"}),
              {"output_padding": Arg("output_padding", "pair", least=0, default=(0, 0))}),
    _convt_rule, _convt_torch,
    lambda i, o, a: _convt_weights(i, a) + (a["filters"] if a["bias"] else 0),
    lambda i, o, a: i[0] * i[1] * _convt_weights(i, a),
    doc="transposed convolution", output_reusable=True, resolve=_convt_resolve))

# --- pooling -------------------------------------------------------------------------------


def _pool_resolve(name: str) -> Callable[[Shape, Attrs], Attrs]:
    """The stride (the window unless given) and the padding pairs."""
    def resolve(shape: Shape, a: Attrs) -> Attrs:
        need_volume(shape, name)
        r = dict(a, stride=a["stride"] or a["kernel"])
        r["pads"] = _pads(r)
        return r
    return resolve


def _avgpool_resolve(shape: Shape, a: Attrs) -> Attrs:
    """As any pool's, refusing what no PyTorch layer computes: with uneven padding the extra zero
    is padded explicitly before AvgPool2d, and would be averaged in whatever `count_include_pad` says."""
    r = _pool_resolve("avgpool")(shape, a)
    if _is_asymmetric(r) and not r.get("count_include_pad", 1):
        raise ShapeError("`count_include_pad=0` with uneven padding has no PyTorch layer: AvgPool2d pads "
                         "evenly, and the extra zero padded before it would be averaged in",
                         help="use an odd window, even padding `p…`, or `count_include_pad=1`",
                         arg="count_include_pad")
    return r


def _pool_rule(shape: Shape, r: Attrs) -> Shape:
    wins = _windows(r)
    if _is_asymmetric(r):  # padded explicitly before an unpadded pool, as the model runs it
        wins = (Window(wins[0].kernel, wins[0].stride, 0, 0, wins[0].dilation),
                Window(wins[1].kernel, wins[1].stride, 0, 0, wins[1].dilation))
        shape = (shape[0] + sum(r["pads"][0]), shape[1] + sum(r["pads"][1]), shape[2])
    for win in wins:
        if win.pad_before > win.kernel // 2:
            raise ShapeError(f"padding {win.pad_before} is more than half the {fmt(r['kernel'])} window",
                             help="PyTorch pads pooling by at most half the window", arg="p")
    h, w = (pool_out(n, win, r.get("ceil", False)) for n, win in zip(shape[:2], wins))
    if h < 1 or w < 1:  # PyTorch's only size check: ceil mode may let a window overhang
        _check_fits(shape, wins, "window")
        raise ShapeError(f"the output would be {h}x{w}", arg="kernel")
    return (h, w, shape[2])


def _pool_torch(kind: str, fill: str) -> Callable[[Shape, Shape, Attrs], str]:
    """The constructor of ``nn.{kind}``; uneven padding becomes a ``ConstantPad2d`` of ``fill``."""
    def torch(i: Shape, o: Shape, r: Attrs) -> str:
        parts = [pair_src(r["kernel"])]
        if r["stride"] != r["kernel"]:
            parts.append(f"stride={pair_src(r['stride'])}")
        asymmetric = _is_asymmetric(r)
        if not asymmetric and any(p for p, _ in r["pads"]):
            parts.append(f"padding={pair_src((r['pads'][0][0], r['pads'][1][0]))}")
        if r.get("dilation", (1, 1)) != (1, 1):
            parts.append(f"dilation={pair_src(r['dilation'])}")
        if r.get("ceil"):
            parts.append("ceil_mode=True")
        if not r.get("count_include_pad", 1):
            parts.append("count_include_pad=False")
        pool = f"nn.{kind}({', '.join(parts)})"
        if not asymmetric:
            return pool
        return f"nn.Sequential(nn.ConstantPad2d({torch_pads(r)}, {fill}), {pool})"
    return torch


_POOL_ARGS = (Arg("kernel", "pair", required=True),)
register(OpDef("maxpool", Family.POOL, Signature(
    _POOL_ARGS, {"s": Arg("stride", "pair"), "p": Arg("padding", "pair", least=0, default=(0, 0)),
                 "d": Arg("dilation", "pair", default=(1, 1))},
    frozenset({"same", "valid", "ceil"})), _pool_rule, _pool_torch("MaxPool2d", "float('-inf')"),
    warnings=_stride_warnings, doc="max pooling; stride defaults to the window", resolve=_pool_resolve("maxpool")))
register(OpDef("avgpool", Family.POOL, Signature(
    _POOL_ARGS, {"s": Arg("stride", "pair"), "p": Arg("padding", "pair", least=0, default=(0, 0))},
    frozenset({"same", "valid", "ceil"}),
    {"count_include_pad": Arg("count_include_pad", "int", least=0, default=1)}),
    _pool_rule, _pool_torch("AvgPool2d", "0.0"), warnings=_stride_warnings,
    doc="average pooling; stride defaults to the window", resolve=_avgpool_resolve))


def _adaptive_rule(name: str) -> Callable[[Shape, Attrs], Shape]:
    def rule(shape: Shape, r: Attrs) -> Shape:
        need_volume(shape, name)
        h, w = r.get("size") or (1, 1)
        return (h, w, shape[2])
    return rule


def _adaptive_torch(kind: str) -> Callable[[Shape, Shape, Attrs], str]:
    return lambda i, o, r: f"nn.{kind}({pair_src(r.get('size') or (1, 1))})"


for _name, _kind in (("adaptiveavgpool", "AdaptiveAvgPool2d"), ("adaptivemaxpool", "AdaptiveMaxPool2d")):
    register(OpDef(_name, Family.POOL, Signature((Arg("size", "pair", required=True),)),
                   _adaptive_rule(_name), _adaptive_torch(_kind), doc="adaptive pooling to HxW"))
for _name, _kind, _doc in (("gap", "AdaptiveAvgPool2d", "global average pooling to 1x1"),
                           ("gmp", "AdaptiveMaxPool2d", "global max pooling to 1x1")):
    register(OpDef(_name, Family.POOL, Signature(), _adaptive_rule(_name), _adaptive_torch(_kind), doc=_doc))
