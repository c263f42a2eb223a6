"""Reference values for ``--verify``: for each op, the output its node must have, computed from the
analysis' resolved attributes and the op's definition, never from the generated code. Imports torch.

Each entry of :data:`REFERENCES` (one per op or merge name) takes the node, the node's input
tensors as the generated model produced them (``N x C x H x W`` or ``N x F``) and the node's
module (``None`` for merges and template ops), and returns the expected output. A reference may
read the module's parameters and buffers (weights are the model's state, not its semantics), but
every hyper-parameter (padding per side, stride, dilation, groups, eps, window, mode...) comes
from the analysis. Windows are built by explicit padding and ``Tensor.unfold``, resizing by
interpolation matrices, activations from their formulas; convolution is ``F.conv2d`` on the input
padded per side by the analysis, with no padding of its own.

In training mode most ops compute what they compute in eval; :data:`TRAINING` holds the
exceptions: batch norm's batch statistics, and the reasons why random layers (dropout, drop
path, augmentation) are checked by shape only there. ``--verify`` checks a node in training mode
only when it does not run in eval (a training-only output's layers).

A new op adds its reference here, keyed by its name, or its name and the reason to
:data:`SHAPE_ONLY` (``--verify`` then lists it as checked by shape only); and to :data:`TRAINING`
if it acts differently in training mode.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ..core.ir import Node

Reference = Callable[[Node, list[Tensor], "nn.Module | None"], Tensor]

REFERENCES: dict[str, Reference] = {}
# ops whose values `--verify` does not check, each with the reason; the summary lists them
SHAPE_ONLY: dict[str, str] = {}
# in training mode: a reference that replaces the eval one, or why the values are not checked
TRAINING: dict[str, "Reference | str"] = {}
RANDOM_IN_TRAINING = "random in training mode"


class ReferenceMismatch(Exception):
    """The module does not hold what the analysis says it should (a missing or misshapen
    parameter or buffer): a mismatch, reported at the node."""


def reference(*names: str) -> Callable[[Reference], Reference]:
    """Register ``fn`` as the reference of the ops ``names``."""

    def register(fn: Reference) -> Reference:
        for name in names:
            REFERENCES[name] = fn
        return fn

    return register


def resolved(node: Node) -> dict[str, Any]:
    """The node's attributes with what the analysis derived (``pads``, ``groups``, ``stride``)."""
    return getattr(node, "resolved", None) or node.attrs


def tensor_of(module: nn.Module | None, name: str, shape: tuple[int, ...]) -> Tensor:
    """The module's parameter or buffer ``name``, which must have ``shape``."""
    value = getattr(module, name, None)
    if not isinstance(value, Tensor):
        raise ReferenceMismatch(f"the module has no `{name}`")
    if tuple(value.shape) != shape:
        raise ReferenceMismatch(f"the module's `{name}` is {tuple(value.shape)}, the analysis expects {shape}")
    return value


def bias_of(module: nn.Module | None, wanted: bool, features: int) -> Tensor | None:
    """The module's bias if the analysis says it has one; a bias the analysis does not expect
    is a mismatch too."""
    if wanted:
        return tensor_of(module, "bias", (features,))
    if getattr(module, "bias", None) is not None:
        raise ReferenceMismatch("the module has a bias, the analysis says `nobias`")
    return None


def place(x: Tensor, pads: tuple[tuple[int, int], tuple[int, int]], size: tuple[int, int],
          fill: float) -> Tensor:
    """``x`` at offset (top, left) on a ``size`` canvas filled with ``fill``."""
    (top, _), (left, _) = pads
    h, w = x.shape[-2:]
    canvas = x.new_full((*x.shape[:-2], *size), fill)
    canvas[..., top:top + h, left:left + w] = x
    return canvas


def pad_sides(x: Tensor, pads: tuple[tuple[int, int], tuple[int, int]], fill: float = 0.0) -> Tensor:
    """``x`` padded by ``((top, bottom), (left, right))``."""
    (top, bottom), (left, right) = pads
    return place(x, pads, (x.shape[-2] + top + bottom, x.shape[-1] + left + right), fill)


def per_channel(v: Tensor, x: Tensor) -> Tensor:
    """A ``(C,)`` vector shaped to broadcast over ``x``'s channel axis."""
    return v.view(1, -1, *([1] * (x.dim() - 2)))

# --- windows: convolution and pooling -------------------------------------------------------


def windows(x: Tensor, kernel: tuple[int, int], stride: tuple[int, int], dilation: tuple[int, int],
            out: tuple[int, int]) -> Tensor:
    """``N x C x outH x outW x kH x kW``: the ``out`` windows of an (already padded) ``x``."""
    for axis in range(2):
        extent = dilation[axis] * (kernel[axis] - 1) + 1
        x = x.unfold(2 + axis, extent, stride[axis])[..., ::dilation[axis]]
    return x[:, :, :out[0], :out[1]]


def canvas_size(x: Tensor, node: Node, a: dict[str, Any]) -> tuple[int, int]:
    """The padded input, long enough on the far side for every window of the node's output
    (ceil mode lets the last window overhang the padding)."""
    size = []
    for axis in range(2):
        before, after = a["pads"][axis]
        extent = a.get("dilation", (1, 1))[axis] * (a["kernel"][axis] - 1) + 1
        needed = (node.shape[axis] - 1) * a["stride"][axis] + extent  # type: ignore[index]
        size.append(max(before + x.shape[2 + axis] + after, needed))
    return size[0], size[1]


@reference("conv", "dwconv")
def conv(node: Node, xs: list[Tensor], module: nn.Module | None) -> Tensor:
    a, x = resolved(node), xs[0]
    weight = tensor_of(module, "weight", (a["filters"], x.shape[1] // a["groups"], *a["kernel"]))
    bias = bias_of(module, a["bias"], a["filters"])
    return F.conv2d(pad_sides(x, a["pads"]), weight, bias, a["stride"], 0, a["dilation"], a["groups"])


@reference("convt")
def conv_transposed(node: Node, xs: list[Tensor], module: nn.Module | None) -> Tensor:
    """The transposed convolution as the convolution it is the gradient of: stride - 1 zeros
    between input pixels, ``d(k - 1) - p`` zeros around (``output_padding`` more after), then
    a stride-1 convolution with the kernel flipped and its in/out channels swapped per group."""
    a, x = resolved(node), xs[0]
    n, c, h, w = x.shape
    g, f, (kh, kw) = a["groups"], a["filters"], a["kernel"]
    weight = tensor_of(module, "weight", (c, f // g, kh, kw))
    bias = bias_of(module, a["bias"], f)
    (sh, sw), (dh, dw) = a["stride"], a["dilation"]
    spread = x.new_zeros(n, c, (h - 1) * sh + 1, (w - 1) * sw + 1)
    spread[:, :, ::sh, ::sw] = x
    pads = []
    for k, d, p, extra in ((kh, dh, a["padding"][0], a["output_padding"][0]),
                           (kw, dw, a["padding"][1], a["output_padding"][1])):
        pads.append((d * (k - 1) - p, d * (k - 1) - p + extra))
    # negative padding crops: pad by the positive part, then slice the rest away
    padded = pad_sides(spread, tuple((max(b, 0), max(e, 0)) for b, e in pads))  # type: ignore[arg-type]
    (bt, bb), (bl, br) = pads
    padded = padded[:, :, max(-bt, 0):padded.shape[2] - max(-bb, 0), max(-bl, 0):padded.shape[3] - max(-br, 0)]
    flipped = weight.view(g, c // g, f // g, kh, kw).transpose(1, 2).reshape(f, c // g, kh, kw).flip(2, 3)
    return F.conv2d(padded, flipped, bias, 1, 0, a["dilation"], g)


@reference("maxpool")
def max_pool(node: Node, xs: list[Tensor], module: nn.Module | None) -> Tensor:
    a, x = resolved(node), xs[0]
    canvas = place(x, a["pads"], canvas_size(x, node, a), -math.inf)
    out = (node.shape[0], node.shape[1])  # type: ignore[index]
    return windows(canvas, a["kernel"], a["stride"], a.get("dilation", (1, 1)), out).amax(dim=(-2, -1))


@reference("avgpool")
def avg_pool(node: Node, xs: list[Tensor], module: nn.Module | None) -> Tensor:
    """A sum pool divided by the same pool over a mask of the positions that count: the input
    and its padding (``count_include_pad=1``), or the input alone; never a ceil-mode window's
    overhang past the padding."""
    a, x = resolved(node), xs[0]
    size, out = canvas_size(x, node, a), (node.shape[0], node.shape[1])  # type: ignore[index]
    total = windows(place(x, a["pads"], size, 0.0), a["kernel"], a["stride"], (1, 1), out).sum(dim=(-2, -1))
    if a.get("count_include_pad", 1):
        (top, bottom), (left, right) = a["pads"]
        counted = x.new_ones(1, 1, x.shape[2] + top + bottom, x.shape[3] + left + right)
        mask = place(counted, ((0, 0), (0, 0)), size, 0.0)
    else:
        mask = place(x.new_ones(1, 1, *x.shape[2:]), a["pads"], size, 0.0)
    count = windows(mask, a["kernel"], a["stride"], (1, 1), out).sum(dim=(-2, -1))
    return total / count


def adaptive(x: Tensor, out: tuple[int, int], reduce: Callable[[Tensor], Tensor]) -> Tensor:
    """Adaptive pooling: output cell ``i`` of ``n`` reduces rows ``floor(i H / n)`` to
    ``ceil((i + 1) H / n)``, and likewise for columns."""
    h, w = x.shape[-2:]
    rows = []
    for i in range(out[0]):
        cells = []
        for j in range(out[1]):
            cell = x[..., (i * h) // out[0]:-(-(i + 1) * h // out[0]), (j * w) // out[1]:-(-(j + 1) * w // out[1])]
            cells.append(reduce(cell.flatten(-2)))
        rows.append(torch.stack(cells, -1))
    return torch.stack(rows, -2)


@reference("adaptiveavgpool", "gap")
def adaptive_avg(node: Node, xs: list[Tensor], module: nn.Module | None) -> Tensor:
    return adaptive(xs[0], resolved(node).get("size") or (1, 1), lambda t: t.sum(-1) / t.shape[-1])


@reference("adaptivemaxpool", "gmp")
def adaptive_max(node: Node, xs: list[Tensor], module: nn.Module | None) -> Tensor:
    return adaptive(xs[0], resolved(node).get("size") or (1, 1), lambda t: t.amax(-1))

# --- vectors, normalisation, regularisation ---------------------------------------------------


@reference("fc")
def linear(node: Node, xs: list[Tensor], module: nn.Module | None) -> Tensor:
    """``x W^T + b``; ``pixelwise``: the same at every pixel, over its channels."""
    a, x = resolved(node), xs[0]
    weight = tensor_of(module, "weight", (a["features"], x.shape[1]))
    bias = bias_of(module, a["bias"], a["features"])
    if a.get("pixelwise"):
        y = torch.einsum("nchw,fc->nfhw", x, weight)
        return y + per_channel(bias, y) if bias is not None else y
    y = x @ weight.T
    return y + bias if bias is not None else y


@reference("flatten")
def flatten(node: Node, xs: list[Tensor], module: nn.Module | None) -> Tensor:
    return xs[0].reshape(xs[0].shape[0], -1)


@reference("bn")
def batch_norm(node: Node, xs: list[Tensor], module: nn.Module | None) -> Tensor:
    """Eval mode: ``(x - running_mean) / sqrt(running_var + eps) * weight + bias``, with the
    analysis' eps."""
    x, c = xs[0], xs[0].shape[1]
    mean, var = tensor_of(module, "running_mean", (c,)), tensor_of(module, "running_var", (c,))
    weight, bias = tensor_of(module, "weight", (c,)), tensor_of(module, "bias", (c,))
    scale = weight / torch.sqrt(var + resolved(node)["eps"])
    return (x - per_channel(mean, x)) * per_channel(scale, x) + per_channel(bias, x)


@reference("lrn")
def local_response_norm(node: Node, xs: list[Tensor], module: nn.Module | None) -> Tensor:
    """``x_c / (k + alpha / n * sum of x_j^2 over the n channels j around c)^beta``, the window
    ``c - n//2 .. c + (n-1)//2`` cut at the edges (Krizhevsky et al.; PyTorch's convention)."""
    a, x = resolved(node), xs[0]
    n, c = a["size"], x.shape[1]
    squares = F.pad(x * x, (0, 0, 0, 0, n // 2, (n - 1) // 2))
    window = sum(squares[:, j:j + c] for j in range(n))
    return x / (a["k"] + a["alpha"] / n * window) ** a["beta"]


@reference("dropout", "droppath", "hflip", "vflip", "rotate", "colorjitter", "pcacolor")
def identity_in_eval(node: Node, xs: list[Tensor], module: nn.Module | None) -> Tensor:
    """Regularisation and augmentation are the identity in eval mode."""
    return xs[0].clone()


for _name in ("dropout", "droppath", "hflip", "vflip", "rotate", "colorjitter", "pcacolor", "randomcrop"):
    TRAINING[_name] = RANDOM_IN_TRAINING


@reference("randomcrop")
def center_crop(node: Node, xs: list[Tensor], module: nn.Module | None) -> Tensor:
    """Eval mode: the centre ``HxW`` of the input zero-padded by ``pad``, its corner at
    ``floor((padded - size) / 2)``."""
    a, x = resolved(node), xs[0]
    (h, w), pad = a["size"], a["pad"]
    padded = pad_sides(x, ((pad, pad), (pad, pad)))
    top, left = (padded.shape[2] - h) // 2, (padded.shape[3] - w) // 2
    return padded[:, :, top:top + h, left:left + w]


def batch_statistics(node: Node, xs: list[Tensor], module: nn.Module | None) -> Tensor:
    """Training mode: normalised by the batch's mean and biased variance per channel, unless the
    layer is frozen (inside `freeze(...)`), which keeps its running statistics."""
    if not node.trainable:
        return batch_norm(node, xs, module)
    x, c = xs[0], xs[0].shape[1]
    axes = [0] + list(range(2, x.dim()))
    mean = x.mean(dim=axes)
    var = ((x - per_channel(mean, x)) ** 2).mean(dim=axes)
    weight, bias = tensor_of(module, "weight", (c,)), tensor_of(module, "bias", (c,))
    scale = weight / torch.sqrt(var + resolved(node)["eps"])
    return (x - per_channel(mean, x)) * per_channel(scale, x) + per_channel(bias, x)


TRAINING["bn"] = batch_statistics


def normalise(x: Tensor, axes: list[int], eps: float) -> Tensor:
    """``(x - mean) / sqrt(var + eps)`` over ``axes``, the variance biased."""
    centred = x - x.mean(dim=axes, keepdim=True)
    return centred / torch.sqrt((centred ** 2).mean(dim=axes, keepdim=True) + eps)


@reference("layernorm")
def layer_norm(node: Node, xs: list[Tensor], module: nn.Module | None) -> Tensor:
    """Over a vector's features, or over the channels of each pixel; then ``weight`` and
    ``bias`` per feature or channel."""
    x, c = xs[0], xs[0].shape[1]
    weight, bias = tensor_of(module, "weight", (c,)), tensor_of(module, "bias", (c,))
    return normalise(x, [1], resolved(node)["eps"]) * per_channel(weight, x) + per_channel(bias, x)


@reference("groupnorm")
def group_norm(node: Node, xs: list[Tensor], module: nn.Module | None) -> Tensor:
    """Over each of G groups of consecutive channels (and their pixels), per sample."""
    a, x = resolved(node), xs[0]
    n, c, g = x.shape[0], x.shape[1], a["groups"]
    weight, bias = tensor_of(module, "weight", (c,)), tensor_of(module, "bias", (c,))
    grouped = x.reshape(n, g, c // g, *x.shape[2:])
    y = normalise(grouped, list(range(2, grouped.dim())), a["eps"]).reshape(x.shape)
    return y * per_channel(weight, x) + per_channel(bias, x)


@reference("instancenorm")
def instance_norm(node: Node, xs: list[Tensor], module: nn.Module | None) -> Tensor:
    """Over each channel's pixels, per sample (batch statistics in both modes: PyTorch's
    default keeps no running statistics); eps 1e-5; ``affine`` scales and shifts per channel."""
    a, x = resolved(node), xs[0]
    y = normalise(x, [2, 3], 1e-5)
    if not a["affine"]:
        if getattr(module, "weight", None) is not None:
            raise ReferenceMismatch("the module is affine, the analysis says it is not")
        return y
    c = x.shape[1]
    return y * per_channel(tensor_of(module, "weight", (c,)), x) + per_channel(tensor_of(module, "bias", (c,)), x)


@reference("layerscale")
def layer_scale(node: Node, xs: list[Tensor], module: nn.Module | None) -> Tensor:
    """A learnable factor per channel: ``gamma * x``."""
    x = xs[0]
    return x * tensor_of(module, "gamma", (x.shape[1], 1, 1)).view(1, -1, 1, 1)

# --- resizing and channels ----------------------------------------------------------------------


def cubic_weights(t: float) -> list[float]:
    """Keys' cubic convolution (a = -0.75, as PyTorch and OpenCV) for the taps at -1, 0, 1, 2."""
    a = -0.75

    def near(s: float) -> float:  # |s| <= 1
        return ((a + 2) * s - (a + 3)) * s * s + 1

    def far(s: float) -> float:  # 1 < |s| < 2
        return ((a * s - 5 * a) * s + 8 * a) * s - 4 * a

    return [far(t + 1), near(t), near(1 - t), far(2 - t)]


def resize_matrix(size: int, out: int, mode: str) -> list[list[float]]:
    """``out x size``: row ``o`` weighs the input pixels that output pixel ``o`` reads (half-pixel
    centres, ``align_corners=False``; `nearest` takes pixel ``floor(o * size / out)``)."""
    scale = out / size
    rows = [[0.0] * size for _ in range(out)]
    for o in range(out):
        if mode == "nearest":
            rows[o][min(o * size // out, size - 1)] = 1.0
            continue
        source = (o + 0.5) / scale - 0.5
        if mode == "bilinear":
            source = max(source, 0.0)
            low = int(source)
            high, t = min(low + 1, size - 1), source - low
            rows[o][low] += 1 - t
            rows[o][high] += t
        else:
            low = math.floor(source)
            for tap, weight in zip(range(low - 1, low + 3), cubic_weights(source - low)):
                rows[o][min(max(tap, 0), size - 1)] += weight
    return rows


def resized(x: Tensor, size: tuple[int, int], mode: str) -> Tensor:
    """``x`` resized to ``size`` by one interpolation matrix per axis."""
    mh, mw = (torch.tensor(resize_matrix(x.shape[2 + axis], size[axis], mode), dtype=x.dtype, device=x.device)
              for axis in range(2))
    return torch.einsum("oh,nchw,pw->ncop", mh, x, mw)


@reference("upsample")
def upsample(node: Node, xs: list[Tensor], module: nn.Module | None) -> Tensor:
    a, x = resolved(node), xs[0]
    return resized(x, (x.shape[2] * a["scale"][0], x.shape[3] * a["scale"][1]), a["mode"])


@reference("resize")
def resize(node: Node, xs: list[Tensor], module: nn.Module | None) -> Tensor:
    a = resolved(node)
    return resized(xs[0], a["size"], a["mode"])


@reference("zeropad")
def zero_pad(node: Node, xs: list[Tensor], module: nn.Module | None) -> Tensor:
    return pad_sides(xs[0], resolved(node)["pads"])


@reference("channel_shuffle")
def channel_shuffle(node: Node, xs: list[Tensor], module: nn.Module | None) -> Tensor:
    """ShuffleNet: of ``g`` groups of ``c/g`` channels, output channel ``i g + j`` is channel
    ``i`` of group ``j``."""
    x, g = xs[0], resolved(node)["groups"]
    per = x.shape[1] // g
    order = [j * per + i for i in range(per) for j in range(g)]
    return x[:, order]


@reference("chunk")
def chunk(node: Node, xs: list[Tensor], module: nn.Module | None) -> Tensor:
    a, x = resolved(node), xs[0]
    width = x.shape[1] // a["chunks"]
    return x[:, a["index"] * width:(a["index"] + 1) * width]

# --- activations, from their formulas ---------------------------------------------------------


def sigmoid(x: Tensor) -> Tensor:
    return 1 / (1 + torch.exp(-x))


def softplus(x: Tensor) -> Tensor:
    """``log(1 + e^x)``, linear past 20 as PyTorch's (the difference is below float precision)."""
    return torch.where(x > 20, x, torch.log1p(torch.exp(x.clamp(max=20))))


ACTIVATIONS: dict[str, Callable[[Tensor, dict[str, Any]], Tensor]] = {
    "relu": lambda x, a: torch.where(x > 0, x, 0.0),
    "relu6": lambda x, a: torch.where(x > 0, torch.where(x < 6, x, 6.0), 0.0),
    "leakyrelu": lambda x, a: torch.where(x >= 0, x, a["slope"] * x),
    "elu": lambda x, a: torch.where(x > 0, x, a["alpha"] * torch.expm1(x)),
    "sigmoid": lambda x, a: sigmoid(x),
    "hardsigmoid": lambda x, a: (x / 6 + 0.5).clamp(0, 1),
    "tanh": lambda x, a: 2 * sigmoid(2 * x) - 1,
    "silu": lambda x, a: x * sigmoid(x),
    "hardswish": lambda x, a: x * (x + 3).clamp(0, 6) / 6,
    "gelu": lambda x, a: 0.5 * x * (1 + torch.erf(x / math.sqrt(2))),
    "mish": lambda x, a: x * (2 * sigmoid(2 * softplus(x)) - 1),
    "softmax": lambda x, a: torch.exp(x - x.amax(1, keepdim=True)) / torch.exp(
        x - x.amax(1, keepdim=True)).sum(1, keepdim=True),
    "logsoftmax": lambda x, a: (x - x.amax(1, keepdim=True)) - torch.log(torch.exp(
        x - x.amax(1, keepdim=True)).sum(1, keepdim=True)),
}


def _activation(formula: Callable[[Tensor, dict[str, Any]], Tensor]) -> Reference:
    return lambda node, xs, module: formula(xs[0], resolved(node))


for _name, _formula in ACTIVATIONS.items():
    REFERENCES[_name] = _activation(_formula)

# --- merges, from their definitions -----------------------------------------------------------


@reference("concat")
def concat(node: Node, xs: list[Tensor], module: nn.Module | None) -> Tensor:
    """The branches' channels (or features) side by side, in branch order."""
    return torch.cat(xs, dim=1)


@reference("add")
def add(node: Node, xs: list[Tensor], module: nn.Module | None) -> Tensor:
    """The element-wise sum, a ``1x1xC`` branch broadcast over ``HxW``."""
    return torch.stack(torch.broadcast_tensors(*xs)).sum(0)


@reference("mul")
def mul(node: Node, xs: list[Tensor], module: nn.Module | None) -> Tensor:
    """The element-wise product, a ``1x1xC`` branch broadcast over ``HxW``."""
    return torch.stack(torch.broadcast_tensors(*xs)).prod(0)


def expected(node: Node, xs: list[Tensor], module: nn.Module | None, training: bool = False) -> Tensor | str:
    """The node's expected output in the mode, or why it is checked by shape only."""
    fn = TRAINING.get(node.op, REFERENCES.get(node.op)) if training else REFERENCES.get(node.op)
    if fn is None:
        return SHAPE_ONLY.get(node.op, "no reference")
    return fn if isinstance(fn, str) else fn(node, xs, module)
