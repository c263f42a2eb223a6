"""Data augmentation: layers that change the batch only in training mode, with no parameters and
no multiplies. In eval mode each is the identity, except ``randomcrop``, which crops the centre so
that shapes agree in both modes. Their modules live in :mod:`archlang.emit.runtime`."""

from __future__ import annotations

from typing import Callable

from ..core.opdef import Family
from ..core.shapes import Shape, ShapeError
from .registry import Arg, Attrs, OpDef, Signature, need_volume, register


def _flip_rule(name: str) -> Callable[[Shape, Attrs], Shape]:
    def rule(shape: Shape, a: Attrs) -> Shape:
        need_volume(shape, name)
        if a["p"] > 1:
            raise ShapeError(f"flip probability {a['p']:g} is not between 0 and 1", arg="p")
        return shape
    return rule


_P = {"p": Arg("p", "float", least=0, default=0.5)}
for _name, _cls, _doc in (("hflip", "HFlip", "mirrors each sample left-right with probability p (training only)"),
                          ("vflip", "VFlip", "mirrors each sample top-bottom with probability p (training only)")):
    register(OpDef(_name, Family.AUGMENT, Signature(keywords=_P), _flip_rule(_name),
                   lambda i, o, a, cls=_cls: f"{cls}({a['p']!r})", doc=_doc, training_only=True))


def _crop_rule(shape: Shape, a: Attrs) -> Shape:
    need_volume(shape, "randomcrop")
    (h, w), pad = a["size"], a["pad"]
    if h > shape[0] + 2 * pad or w > shape[1] + 2 * pad:
        padded = f"{shape[0] + 2 * pad}x{shape[1] + 2 * pad}"
        raise ShapeError(f"a {h}x{w} crop does not fit in the {padded} input"
                         + (f" padded by {pad}" if pad else ""), help="crop less, or pad more with `pad=P`",
                         arg="size")
    return (h, w, shape[2])


def _crop_torch(i: Shape, o: Shape, a: Attrs) -> str:
    pad = f", pad={a['pad']}" if a["pad"] else ""
    return f"RandomCrop({o[0]}, {o[1]}{pad})"


register(OpDef(
    "randomcrop", Family.AUGMENT,
    Signature((Arg("size", "pair", required=True),), keywords={"pad": Arg("pad", "int", least=0, default=0)}),
    _crop_rule, _crop_torch, training_only=True,
    doc="zero-pads by `pad`, then crops HxW at a random place per sample; the centre crop in eval"))


def _rotate_rule(shape: Shape, a: Attrs) -> Shape:
    need_volume(shape, "rotate")
    return shape


register(OpDef("rotate", Family.AUGMENT, Signature((Arg("degrees", "float", least=0, required=True),)),
               _rotate_rule, lambda i, o, a: f"Rotate({a['degrees']!r})", training_only=True,
               doc="rotates each sample by a random angle in [-D, D] degrees (bilinear, zero fill)"))

_JITTERS = ("brightness", "contrast", "saturation")


def _jitter_rule(shape: Shape, a: Attrs) -> Shape:
    need_volume(shape, "colorjitter")
    if (a["contrast"] or a["saturation"]) and shape[2] not in (1, 3):
        raise ShapeError(f"contrast and saturation need 3 (RGB) or 1 (grey) channels, but the input has {shape[2]}",
                         help="jitter the image before the first layer, or only its `brightness`", arg="op")
    return shape


def _jitter_torch(i: Shape, o: Shape, a: Attrs) -> str:
    return f"ColorJitter({', '.join(f'{k}={a[k]!r}' for k in _JITTERS if a[k])})"


register(OpDef(
    "colorjitter", Family.AUGMENT,
    Signature(keywords={k: Arg(k, "float", least=0, default=0.0) for k in _JITTERS}),
    _jitter_rule, _jitter_torch, training_only=True,
    doc="random per-sample brightness, contrast and saturation factors in [1-x, 1+x], in that order"))


def _pca_rule(shape: Shape, a: Attrs) -> Shape:
    need_volume(shape, "pcacolor")
    if shape[2] != 3:
        raise ShapeError(f"`pcacolor` shifts RGB colours, but the input has {shape[2]} channels", arg="op",
                         help="apply it to the 3-channel image, before the first layer")
    return shape


register(OpDef("pcacolor", Family.AUGMENT, Signature(keywords={"std": Arg("std", "float", least=0, default=0.1)}),
               _pca_rule, lambda i, o, a: f"PCAColor({a['std']!r})", training_only=True,
               doc="AlexNet's colour shift along the principal components of ImageNet's RGB values"))
