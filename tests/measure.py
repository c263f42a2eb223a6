"""Independent measurements on compiled models, against which the static analyses are held:
every node's output by an interpreter over the graph, receptive fields by back-propagation,
saved-for-backward bytes by autograd's own hooks."""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch
from torch import nn

from archlang.emit.codegen import plan
from archlang.core.ir import Graph
from archlang.emit.build import build_module


def node_outputs(graph: Graph, model: nn.Module, x: torch.Tensor,
                 cut_global: bool = False) -> dict[int, torch.Tensor]:
    """Every node's output, running the model's own modules node by node. ``cut_global``: no
    gradient through global context (global pools, flatten, 1x1 operands broadcast by a merge),
    as the receptive field's definition asks."""
    names = plan(graph).attrs
    values: dict[int, torch.Tensor] = {0: x}
    for node in graph.layers:
        args = [values[i] for i in node.inputs]
        if cut_global and node.op in ("add", "mul"):
            size = max(a.shape[2:] for a in args) if args[0].dim() == 4 else None
            args = [a.detach() if size and a.shape[2:] != size else a for a in args]
        if node.op == "concat":
            out = torch.cat(args, dim=1)
        elif node.op in ("add", "mul"):
            out = args[0]
            for other in args[1:]:
                out = out + other if node.op == "add" else out * other
        elif node.op == "chunk":
            out = torch.chunk(args[0], node.attrs["chunks"], dim=1)[node.attrs["index"]]
        else:
            out = getattr(model, names[node.index])(args[0])
        if cut_global and node.op in ("gap", "gmp", "flatten", "adaptiveavgpool", "adaptivemaxpool"):
            out = out.detach()
        values[node.index] = out
    return values


class _DilatedAverage(nn.Module):
    """A dilated max pool's windows, averaged (AvgPool2d has no dilation): a depthwise convolution
    with equal positive weights."""

    def __init__(self, pool: nn.MaxPool2d) -> None:
        super().__init__()
        self.pool = pool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = self.pool
        k = (p.kernel_size, p.kernel_size) if isinstance(p.kernel_size, int) else p.kernel_size
        weight = torch.ones(x.shape[1], 1, *k, dtype=x.dtype) / (k[0] * k[1])
        return nn.functional.conv2d(x, weight, None, p.stride, p.padding, p.dilation, x.shape[1])


def _linearised(module: nn.Module) -> nn.Module:
    """The module with positive weights, max pools that average and activations that pass
    gradients everywhere."""
    for name, child in list(module.named_children()):
        replacement: nn.Module | None = None
        if isinstance(child, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            with torch.no_grad():
                child.weight.uniform_(0.5, 1.0).div_(child.weight[0].numel())
                if child.bias is not None:
                    child.bias.fill_(0.0)
        elif isinstance(child, nn.MaxPool2d) and child.dilation not in (1, (1, 1)):
            replacement = _DilatedAverage(child)
        elif isinstance(child, nn.MaxPool2d):
            replacement = nn.AvgPool2d(child.kernel_size, child.stride, child.padding, child.ceil_mode)
        elif isinstance(child, nn.AdaptiveMaxPool2d):
            replacement = nn.AdaptiveAvgPool2d(child.output_size)
        elif isinstance(child, nn.ConstantPad2d):
            replacement = nn.ConstantPad2d(child.padding, 0.0)
        elif isinstance(child, (nn.BatchNorm1d, nn.BatchNorm2d, nn.Dropout, nn.LocalResponseNorm,
                                nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.Sigmoid, nn.Hardsigmoid,
                                nn.Tanh, nn.Softmax, nn.LogSoftmax, nn.SiLU, nn.Hardswish, nn.GELU,
                                nn.Mish)):
            replacement = nn.Identity()
        else:
            _linearised(child)
        if replacement is not None:
            setattr(module, name, replacement)
    return module


def measured_fields(graph: Graph, positions: int = 1) -> dict[int, tuple[int, int] | None]:
    """Each spatial node's receptive field: the extent of the non-zero input gradient of one
    central output position (the largest over ``positions`` x ``positions`` central positions)."""
    torch.manual_seed(0)
    model = _linearised(build_module(graph)).double().eval()
    h, w, c = graph.input.shape
    x = torch.rand(1, c, h, w, dtype=torch.float64, requires_grad=True)
    outs = node_outputs(graph, model, x, cut_global=True)
    found: dict[int, tuple[int, int] | None] = {}
    for node in graph.layers:
        out = outs[node.index]
        if out.dim() != 4 or not out.requires_grad:
            found[node.index] = None
            continue
        best = (0, 0)
        oh, ow = out.shape[2], out.shape[3]
        for dy in range(min(positions, oh - oh // 2)):
            for dx in range(min(positions, ow - ow // 2)):
                (grad,) = torch.autograd.grad(out[0, :, oh // 2 + dy, ow // 2 + dx].sum(), x, retain_graph=True,
                                              allow_unused=True)
                if grad is not None:
                    best = tuple(max(b, e) for b, e in zip(best, _extent(grad)))  # type: ignore[assignment]
        found[node.index] = best if best != (0, 0) else None
    return found


def _extent(grad: torch.Tensor) -> tuple[int, int]:
    mask = grad[0].abs().sum(0) != 0
    rows = mask.any(1).nonzero().flatten()
    cols = mask.any(0).nonzero().flatten()
    if len(rows) == 0:
        return (0, 0)
    return (int(rows[-1] - rows[0] + 1), int(cols[-1] - cols[0] + 1))


@contextlib.contextmanager
def _no_initialisation() -> Iterator[None]:
    """Modules keep their uninitialised weights: counts and saved sizes do not depend on them,
    and initialising VGG's 138M parameters would dominate the test's time."""
    names = ("kaiming_uniform_", "uniform_", "ones_", "zeros_")
    saved = {name: getattr(nn.init, name) for name in names}
    try:
        for name in names:
            setattr(nn.init, name, lambda tensor, *args, **kwargs: tensor)
        yield
    finally:
        for name, fn in saved.items():
            setattr(nn.init, name, fn)


def saved_bytes(graph: Graph, batch: int) -> int:
    """Bytes of the storages autograd saves for backward in one training-mode forward pass
    (float32, CPU), each storage once, parameters left out."""
    with _no_initialisation():
        model = build_module(graph).train()
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    storages: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        if storage.data_ptr() not in params:
            storages[storage.data_ptr()] = storage.nbytes()
        return t

    x = torch.rand(batch, *_layout(graph.input.shape))
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = model(x)
    del out
    return sum(storages.values())


def _layout(shape: tuple[int, ...]) -> tuple[int, ...]:
    return (shape[2], shape[0], shape[1]) if len(shape) == 3 else shape


@contextlib.contextmanager
def _fakes_unregistered() -> Iterator[None]:
    """ptflops and fvcore import torchvision where it is installed; the torchvision build that fits
    the pinned CPU torch imports only with `torch.library.register_fake` made a no-op."""
    original = torch.library.register_fake
    torch.library.register_fake = lambda *args, **kwargs: (lambda fn: fn)
    try:
        yield
    finally:
        torch.library.register_fake = original


def counter_totals(graph: Graph) -> dict[str, float]:
    """fvcore's, thop's and ptflops' totals on the compiled model (batch 1, eval mode); a counter
    that cannot be imported is left out."""
    import io
    import logging

    totals: dict[str, float] = {}
    shape = _layout(graph.input.shape)
    with _no_initialisation():
        model = build_module(graph).eval()
    x = torch.rand(1, *shape)
    quiet = io.StringIO()
    with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet), _fakes_unregistered():
        logging.disable(logging.WARNING)
        try:
            from fvcore.nn import FlopCountAnalysis

            analysis = FlopCountAnalysis(model, x)
            analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
            totals["fvcore"] = analysis.total()
        except ImportError:
            pass
        try:
            import thop

            totals["thop"] = thop.profile(model, inputs=(x,), verbose=False)[0]
        except ImportError:
            pass
        try:
            import ptflops

            totals["ptflops"] = ptflops.get_model_complexity_info(
                model, shape, as_strings=False, print_per_layer_stat=False)[0]
        except ImportError:
            pass
        logging.disable(logging.NOTSET)
    return totals
