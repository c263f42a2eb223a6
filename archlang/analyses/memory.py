"""Training memory: the bytes autograd keeps for the backward pass, and the footprint of
parameters, gradients and optimizer state.

The saved tensors follow PyTorch's CPU kernels op by op (what each backward formula needs);
storages are counted once, so an in-place activation or a view (``flatten``, ``chunk``) adds
nothing for the tensor it shares, and parameters are left out. Sizes are affine in the batch:
``per_sample * batch + fixed`` (batch-norm statistics do not grow with the batch)."""

from __future__ import annotations

from ..core.records import dataclass, field

from ..core.ir import Graph, Node
from ..core.shapes import numel
from ..emit.inplace import inplace_plan
from . import access

FLOAT32, INT64, BOOL = 4, 8, 1
RESULT_SAVED = frozenset({"relu", "sigmoid", "tanh", "softmax", "logsoftmax"})
INPUT_SAVED = frozenset({"leakyrelu", "elu", "hardsigmoid", "silu", "hardswish", "gelu", "mish"})
VIEWS = frozenset({"flatten", "chunk"})
# normalisations that keep their input and two statistics per group: the groups per sample
NORMS = {
    "layernorm": lambda shape, groups: shape[0] * shape[1] if len(shape) == 3 else 1,  # each pixel
    "groupnorm": lambda shape, groups: groups,
    "instancenorm": lambda shape, groups: shape[-1],
}
# pcacolor adds a shift and keeps nothing
AUGMENTATIONS = frozenset({"hflip", "vflip", "randomcrop", "rotate", "colorjitter", "pcacolor"})
# run in place, these save a copy for backward (hardtanh_, silu_, hardswish_), not the overwritten tensor
COPIED_IN_PLACE = frozenset({"relu6", "silu", "hardswish"})


@dataclass(frozen=True)
class Storage:
    """A buffer's size: ``per_sample * batch + fixed`` bytes."""

    per_sample: int
    fixed: int = 0

    def bytes(self, batch: int) -> int:
        return self.per_sample * batch + self.fixed


@dataclass
class Saved:
    """The storages saved for backward, by a key that makes shared storages count once."""

    storages: dict[tuple[str, int], Storage] = field(default_factory=dict)
    by_node: dict[int, set[tuple[str, int]]] = field(default_factory=dict)

    def bytes(self, batch: int) -> int:
        return sum(s.bytes(batch) for s in self.storages.values())


def _new(saved: Saved, node: Node, tag: str, storage: Storage) -> None:
    key = (tag, node.index)
    saved.storages[key] = storage
    saved.by_node.setdefault(node.index, set()).add(key)


def _keep(saved: Saved, node: Node, key: tuple[str, int], storage: Storage) -> None:
    saved.storages[key] = storage
    saved.by_node.setdefault(node.index, set()).add(key)


def saved_for_backward(graph: Graph) -> Saved:
    """Every storage autograd saves in one training-mode forward pass on CPU at float32."""
    inplace, merged_into = inplace_plan(graph)  # an in-place add's result is the operand it overwrote
    owner: dict[int, tuple[str, int]] = {}
    sizes: dict[tuple[str, int], Storage] = {}
    needs_grad: dict[int, bool] = {}
    saved = Saved()
    for node in graph.nodes:
        if not access.runs_in(node, training=True):  # `Runs.NEVER`: forward does not compute it
            continue
        out = Storage(numel(access.shape(node)) * FLOAT32)
        sources = access.input_nodes(graph, node)
        trainable = node.trainable and node.params > 0
        needs_grad[node.index] = trainable or any(needs_grad[s.index] for s in sources)
        shares = access.op_name(node) in VIEWS or node.index in inplace or (
            access.op_name(node) in ("dropout", "droppath") and access.attr(node, "p") == 0)  # p=0 returns its input
        if node.index in merged_into:
            owner[node.index] = owner[sources[merged_into[node.index]].index]
        elif sources and shares:
            owner[node.index] = owner[sources[0].index]
        else:
            owner[node.index] = ("node", node.index)
            sizes[owner[node.index]] = out
        if needs_grad[node.index]:
            _save(saved, node, sources, trainable, owner, sizes, needs_grad, node.index in inplace)
    return saved


def _save(saved: Saved, node: Node, sources: list[Node], trainable: bool, owner: dict[int, tuple[str, int]],
          sizes: dict[tuple[str, int], Storage], needs_grad: dict[int, bool], inplace: bool) -> None:
    name = access.op_name(node)
    if name == "mul":
        _save_products(saved, node, sources, owner, sizes, needs_grad)
        return
    if not sources:
        return
    source = sources[0]
    given = (owner[source.index], sizes[owner[source.index]])
    result = (owner[node.index], sizes[owner[node.index]])
    out_numel = numel(access.shape(node))
    if name in ("conv", "dwconv", "convt", "fc"):
        if trainable:
            _keep(saved, node, *given)
    elif name == "bn":
        _keep(saved, node, *given)
        # running mean and variance (buffers), and the batch's mean and inverse deviation
        _new(saved, node, "bn-stats", Storage(0, 4 * access.shape(node)[-1] * FLOAT32))
    elif name in RESULT_SAVED:
        _keep(saved, node, *result)
    elif name in COPIED_IN_PLACE and inplace:  # the in-place kernels keep a copy of the tensor
        _new(saved, node, "result", Storage(out_numel * FLOAT32))
    elif name == "relu6":
        _keep(saved, node, *given)
    elif name in INPUT_SAVED:
        _keep(saved, node, *given)
    elif name in ("maxpool", "avgpool"):
        _save_pool(saved, node, source, given)
    elif name in ("adaptiveavgpool", "gap"):
        if not access.is_global_pool(node):  # to 1x1 PyTorch takes a mean, which saves nothing
            _keep(saved, node, *given)
    elif name in ("adaptivemaxpool", "gmp"):
        _keep(saved, node, *given)
        _new(saved, node, "indices", Storage(out_numel * INT64))
    elif name == "dropout":
        p = access.attr(node, "p")
        if p == 1:
            _new(saved, node, "mask", Storage(0, FLOAT32))  # a scalar zero
        elif p > 0:
            _new(saved, node, "mask", Storage(out_numel * FLOAT32))  # float32 on CPU
    elif name == "lrn":
        _save_lrn(saved, node, given)
    elif name in NORMS:
        _keep(saved, node, *given)  # the input, and a mean and an inverse deviation per group
        groups = NORMS[name](access.shape(node), access.attr(node, "groups"))
        _new(saved, node, "norm-stats", Storage(2 * groups * FLOAT32))
        if name == "instancenorm" and access.attr(node, "affine"):  # the weight, repeated per sample
            _new(saved, node, "weight", Storage(access.shape(node)[-1] * FLOAT32))
    elif name == "layerscale":
        if trainable:  # `gamma * x` keeps x for gamma's gradient (gamma itself is a parameter)
            _keep(saved, node, *given)
    elif name == "droppath":
        if access.attr(node, "p") > 0:  # `x * noise` keeps the per-sample noise
            _new(saved, node, "noise", Storage(FLOAT32))
    elif name in AUGMENTATIONS:
        _save_augmentation(saved, node, source, given)


def _save_augmentation(saved: Saved, node: Node, source: Node, given: tuple[tuple[str, int], Storage]) -> None:
    """What the training-mode augmentation kernels of ``emit.runtime`` keep, where a gradient
    flows through them (an augmentation in the middle of a network)."""
    name = access.op_name(node)
    h, w, c = access.shape(node)
    if name in ("hflip", "vflip"):
        _new(saved, node, "chosen", Storage(BOOL))  # torch.where keeps its condition
    elif name == "randomcrop":
        pad = access.attr(node, "pad") or 0
        hi, wi, _ = access.shape(source)
        if pad:  # both gathers keep their input: the padded copy, then the rows taken from it
            _new(saved, node, "padded", Storage((hi + 2 * pad) * (wi + 2 * pad) * c * FLOAT32))
        else:
            _keep(saved, node, *given)
        _new(saved, node, "rows", Storage(h * (wi + 2 * pad) * c * FLOAT32))
        _new(saved, node, "indices", Storage((h + w) * INT64))
    elif name == "rotate":  # grid_sample keeps its input and the sampling grid
        _keep(saved, node, *given)
        _new(saved, node, "grid", Storage(h * w * 2 * FLOAT32))
    elif name == "colorjitter":  # each blend keeps its per-sample factor (and 1 - factor)
        factors = sum(n for key, n in (("brightness", 1), ("contrast", 2), ("saturation", 2))
                      if access.attr(node, key))
        if factors:
            _new(saved, node, "factors", Storage(factors * FLOAT32))


def _save_pool(saved: Saved, node: Node, source: Node, given: tuple[tuple[str, int], Storage]) -> None:
    pads = access.attr(node, "pads")
    if any(before != after for before, after in pads):  # padded explicitly into a new tensor first
        h, w, c = access.shape(source)
        padded = (h + sum(pads[0])) * (w + sum(pads[1])) * c
        _new(saved, node, "padded", Storage(padded * FLOAT32))
    else:
        _keep(saved, node, *given)
    if access.op_name(node) == "maxpool":
        _new(saved, node, "indices", Storage(numel(access.shape(node)) * INT64))


def _save_lrn(saved: Saved, node: Node, given: tuple[tuple[str, int], Storage]) -> None:
    """PyTorch's local response norm is composite: it keeps its input, the channel-padded squares
    that it averages, the averaged sum raised to beta's base, and that power."""
    h, w, c = access.shape(node)
    _keep(saved, node, *given)
    _new(saved, node, "squares", Storage((c + access.attr(node, "size") - 1) * h * w * FLOAT32))
    _new(saved, node, "base", Storage(h * w * c * FLOAT32))
    _new(saved, node, "power", Storage(h * w * c * FLOAT32))


def _save_products(saved: Saved, node: Node, sources: list[Node], owner: dict[int, tuple[str, int]],
                   sizes: dict[tuple[str, int], Storage], needs_grad: dict[int, bool]) -> None:
    """``a * b * c`` runs left to right: each product keeps the operand the other's gradient needs."""
    acc_key, acc_size, acc_grad = owner[sources[0].index], sizes[owner[sources[0].index]], needs_grad[sources[0].index]
    for step, other in enumerate(sources[1:], 1):
        other_key = owner[other.index]
        if acc_grad:
            _keep(saved, node, other_key, sizes[other_key])
        if needs_grad[other.index]:
            _keep(saved, node, acc_key, acc_size)
        if step < len(sources) - 1:
            acc_key = (f"product{step}", node.index)
            acc_size = Storage(max(acc_size.per_sample, sizes[other_key].per_sample))
            acc_grad = acc_grad or needs_grad[other.index]


@dataclass(frozen=True)
class Footprint:
    """Training memory at fp32 for one batch size."""

    batch: int
    activation_bytes: int  # saved for backward
    param_bytes: int
    grad_bytes: int  # one gradient per trainable parameter
    sgd_momentum_bytes: int  # one momentum buffer per trainable parameter
    adam_bytes: int  # two moment buffers per trainable parameter

    def total(self, optimizer_bytes: int) -> int:
        return self.activation_bytes + self.param_bytes + self.grad_bytes + optimizer_bytes


def footprint(graph: Graph, batch: int = 1) -> Footprint:
    """Saved activations at ``batch``, and parameters, gradients and optimizer state at fp32."""
    params = sum(n.params for n in graph.layers)
    trainable = sum(n.params for n in graph.layers if n.trainable)
    return Footprint(batch, saved_for_backward(graph).bytes(batch), params * FLOAT32, trainable * FLOAT32,
                     trainable * FLOAT32, 2 * trainable * FLOAT32)
