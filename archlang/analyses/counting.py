"""Operation counts under the conventions people publish: the course's multiply-accumulates,
FLOPs as twice those, and the rules of fvcore, thop and ptflops, op by op, so that any figure
those counters print can be reproduced from a spec without running it.

Each counter's rules, as its source applies them to the modules archlang generates (batch 1,
eval mode): an op a counter has no rule for counts 0 there, as in the counter itself, and a layer
that runs only in training (or never) counts 0 under every convention, as in ``mults``."""

from __future__ import annotations

from typing import Callable

from ..core.ir import Graph, Node
from ..core.shapes import is_volume, numel
from . import access

CONVENTIONS = {
    "macs": "multiply-accumulates of conv, convt and fc, bias excluded",
    "flops": "2 x multiply-accumulates",
    "fvcore": "fvcore 0.1.5 FLOPs: one per multiply-accumulate; normalisations, upsampling, adaptive average pooling",
    "thop": "thop 0.1.1 MACs: conv, fc, batch, instance and layer norm, average pooling, upsampling, softmax",
    "ptflops": "ptflops 0.7.5 MACs (pytorch backend): bias, normalisations, activations, pooling, upsampling",
}
WEIGHTED = frozenset({"conv", "dwconv", "convt", "fc"})
UPSAMPLE_THOP = {"nearest": 1, "bilinear": 11, "bicubic": 224 + 35}
UPSAMPLE_FVCORE = {"nearest": 1, "bilinear": 4, "bicubic": 0}


def _sizes(graph: Graph, node: Node) -> tuple[int, int]:
    """Elements in and out of a single-input node."""
    return numel(access.in_shape(graph, node)), numel(access.shape(node))


def _pooled_input(graph: Graph, node: Node) -> int:
    """Elements the pool itself reads: an unevenly padded pool runs on an explicitly padded copy."""
    h, w, c = access.in_shape(graph, node)
    pads = access.attr(node, "pads") or ((0, 0), (0, 0))
    if any(before != after for before, after in pads):
        return (h + sum(pads[0])) * (w + sum(pads[1])) * c
    return h * w * c


def _bias(graph: Graph, node: Node) -> int:
    if access.op_name(node) not in WEIGHTED or not access.attr(node, "bias", True):
        return 0
    return numel(access.shape(node))


def fvcore_ops(graph: Graph, node: Node) -> int:
    name = access.op_name(node)
    n_in, n_out = _sizes(graph, node) if node.inputs else (0, 0)
    if name in WEIGHTED:
        return node.mults
    if name == "bn":
        return 2 * n_in
    if name in ("upsample", "resize"):
        return UPSAMPLE_FVCORE[access.attr(node, "mode", "nearest")] * n_out
    if name in ("adaptiveavgpool", "gap"):
        return n_in
    if name in ("layernorm", "groupnorm", "instancenorm"):  # 4 per element, 5 with a scale and shift
        return (5 if _affine(node) else 4) * n_in
    return 0


def _affine(node: Node) -> bool:
    """Whether a normalisation has a learnt scale and shift (instance norm only with `affine`)."""
    return access.op_name(node) != "instancenorm" or bool(access.attr(node, "affine"))


def _pixelwise(node: Node) -> bool:
    """``fc pixelwise``: a subclass of ``nn.Linear``, which thop and ptflops match by exact type."""
    return access.op_name(node) == "fc" and bool(access.attr(node, "pixelwise"))


def _thop_conv(graph: Graph, node: Node) -> int:
    """thop: output elements x (input channels / groups) x kernel area, for convt too."""
    c_in = access.in_shape(graph, node)[-1]
    kh, kw = access.attr(node, "kernel")
    return numel(access.shape(node)) * (c_in // access.attr(node, "groups", 1)) * kh * kw


def thop_ops(graph: Graph, node: Node) -> int:
    name = access.op_name(node)
    n_in, n_out = _sizes(graph, node) if node.inputs else (0, 0)
    if name in ("conv", "dwconv", "convt"):
        return _thop_conv(graph, node)
    if name == "fc":
        return 0 if _pixelwise(node) else node.mults
    if name == "bn":
        return 4 * n_in  # 2 per element, doubled for the affine parameters
    if name == "instancenorm" or (name == "layernorm" and not is_volume(access.shape(node))):
        # 2 per element, doubled with a scale and shift; the pixel-wise LayerNorm2d and
        # GroupNorm have no rule in thop (matched by exact type)
        return (4 if _affine(node) else 2) * n_in
    if name == "avgpool":
        return n_out
    if name in ("adaptiveavgpool", "gap"):
        (hi, wi, _), (ho, wo, _) = access.in_shape(graph, node), access.shape(node)
        return int(((hi / ho) * (wi / wo) + 1) * n_out)  # thop's kernel estimate, in doubles
    if name == "upsample":
        return UPSAMPLE_THOP[access.attr(node, "mode", "nearest")] * n_out
    if name == "softmax":
        features = access.shape(node)[-1]
        return (n_out // features) * (3 * features - 1)  # exp, add and divide per feature
    return 0


# ptflops counts a module by its hook and, where the module calls a patched functional, again by
# the functional's hook (nn.ReLU calls F.relu; nn.ReLU6 calls F.hardtanh, which is not patched).
PTFLOPS_OUTPUT = {"relu": 2, "elu": 2, "gelu": 2, "relu6": 1, "leakyrelu": 1, "silu": 1, "softmax": 1}


def ptflops_ops(graph: Graph, node: Node) -> int:
    name = access.op_name(node)
    n_in, n_out = _sizes(graph, node) if node.inputs else (0, 0)
    if name in WEIGHTED:
        return 0 if _pixelwise(node) else node.mults + _bias(graph, node)
    if name in PTFLOPS_OUTPUT:
        return PTFLOPS_OUTPUT[name] * n_out
    if name in ("maxpool", "avgpool"):
        return 2 * _pooled_input(graph, node)
    if name in ("adaptiveavgpool", "adaptivemaxpool", "gap", "gmp"):
        return 2 * n_in
    if name == "bn":
        return 2 * n_in
    if name == "upsample":
        return 2 * n_out
    if name == "resize":  # the patched F.interpolate: one per output element
        return n_out
    if name in ("groupnorm", "instancenorm") or (name == "layernorm" and not is_volume(access.shape(node))):
        # the batch-norm hook: one per element, two where the module has an `affine` attribute
        # that is true (LayerNorm has none; the pixel-wise LayerNorm2d is not matched at all)
        return (2 if name != "layernorm" and _affine(node) else 1) * n_in
    if name == "lrn":
        h, w, c = access.shape(node)
        # F.local_response_norm: input * input, the channel-padded average, * alpha and + k
        return 3 * n_out + (c + access.attr(node, "size") - 1) * h * w
    return 0


COUNTERS: dict[str, Callable[[Graph, Node], int]] = {
    "macs": lambda g, n: n.mults,
    "flops": lambda g, n: 2 * n.mults,
    "fvcore": fvcore_ops,
    "thop": thop_ops,
    "ptflops": ptflops_ops,
}


def count(graph: Graph, convention: str) -> dict[int, int]:
    """Every layer's operations under ``convention`` (one of :data:`CONVENTIONS`), by node index."""
    rule = COUNTERS[convention]
    # the counters run the model in eval mode: a layer that does not run there counts nothing
    return {node.index: rule(graph, node) if access.runs_in(node, training=False) else 0 for node in graph.layers}
