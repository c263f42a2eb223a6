"""Tracing a PyTorch model with ``torch.fx`` and shape propagation, and reading each traced step
as archlang layers. The result is a small data-flow graph of :class:`Step`; what archlang cannot
express is collected as :class:`Unsupported` (every one, not just the first)."""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
import torch.fx
from torch import nn
from torch.fx.passes.shape_prop import ShapeProp
from torch.nn import functional as F

from .layers import Layer, Num, layer_of_module, pool_layer, word

JOINS = ("add", "mul", "concat")


@dataclass
class Step:
    """One tensor of the traced model: the input, a chain of layers on one input, or a join."""

    index: int
    kind: str  # "input", "layers" or one of JOINS
    inputs: list[int]
    layers: list[Layer]
    scope: str  # qualified name of the innermost module whose forward made it ('' for the model)
    shape: tuple[int, ...]  # without the batch dimension, PyTorch's order
    module: str = ""  # the leaf module it runs, if it runs one


@dataclass(frozen=True)
class Unsupported:
    """Something archlang cannot express, where it happens."""

    scope: str
    owner: str  # class of the module at ``scope``
    what: str
    help: str | None = None


@dataclass
class Traced:
    """The model as steps, with the module hierarchy the steps came from."""

    steps: list[Step]
    output: int
    classes: dict[str, type]  # qualified module name -> class, for every module of the model
    problems: list[Unsupported] = field(default_factory=list)
    ran: set[str] = field(default_factory=set)  # modules whose forward ran while tracing
    identities: list[tuple[str, str]] = field(default_factory=list)  # (scope, what): identity in eval mode


class TraceFailure(Exception):
    """``torch.fx`` could not trace the model (data-dependent control flow, for example)."""


# Version 2 of the language will express these; the message says so.
LATER = {
    "LayerNorm": "`layernorm` comes with version 2 of the language",
    "LayerNorm2d": "`layernorm` comes with version 2 of the language",
    "GroupNorm": "`groupnorm` comes with version 2 of the language",
    "InstanceNorm2d": "`instancenorm` comes with version 2 of the language",
    "permute": "layers on channels-last tensors (ConvNeXt) come with version 2 of the language",
    "interpolate": "`resize` comes with version 2 of the language",
    "layer_norm": "`layernorm` comes with version 2 of the language",
    "group_norm": "`groupnorm` comes with version 2 of the language",
}


def trace(model: nn.Module, input_shape: tuple[int, ...]) -> Traced:
    """Trace ``model`` (in eval mode, restored afterwards) on a batch of one ``input_shape`` tensor."""
    was_training = model.training
    model.eval()
    try:
        try:
            graph_module = torch.fx.symbolic_trace(model)
        except Exception as exc:  # fx raises many kinds; each means "cannot trace this forward"
            raise TraceFailure(f"{type(exc).__name__}: {_first_line(exc)}") from None
        with torch.no_grad():
            ShapeProp(graph_module).propagate(torch.zeros(1, *input_shape))
    finally:
        model.train(was_training)
    reader = _Reader(graph_module, dict(model.named_modules()))
    reader.read()
    return reader.result()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _shape(node: torch.fx.Node) -> tuple[int, ...] | None:
    meta = node.meta.get("tensor_meta")
    shape = getattr(meta, "shape", None)
    return tuple(shape[1:]) if shape is not None else None


def _bind(names: tuple[str, ...], defaults: dict[str, Any], args: tuple, kwargs: dict) -> dict[str, Any]:
    bound = dict(defaults)
    bound.update(zip(names, args))
    bound.update(kwargs)
    return bound


_ACTIVATION_FUNCTIONS: dict[Any, str] = {
    F.relu: "relu", torch.relu: "relu", F.relu6: "relu6", torch.sigmoid: "sigmoid", F.sigmoid: "sigmoid",
    torch.tanh: "tanh", F.tanh: "tanh", F.silu: "silu", F.hardswish: "hardswish", F.hardsigmoid: "hardsigmoid",
    F.mish: "mish", F.gelu: "gelu",
}
_ACTIVATION_METHODS = {"relu": "relu", "relu_": "relu", "sigmoid": "sigmoid", "tanh": "tanh"}
_ADD = (operator.add, operator.iadd, torch.add)
_MUL = (operator.mul, operator.imul, torch.mul)
_ALIASES = ("contiguous", "clone")
_RESHAPES = ("view", "reshape", "flatten")


class _Reader:
    """Walks the fx graph once, turning nodes into steps."""

    def __init__(self, graph_module: torch.fx.GraphModule, modules: dict[str, nn.Module]) -> None:
        self.gm = graph_module
        self.modules = modules
        self.steps: list[Step] = []
        self.value: dict[torch.fx.Node, int] = {}  # fx node -> step index
        self.chunks: dict[torch.fx.Node, tuple[int, int]] = {}  # chunk node -> (input step, pieces)
        self.shuffles: dict[int, tuple[str, int, int]] = {}  # step -> (stage, groups, source step)
        self.problems: list[Unsupported] = []
        self.ran: set[str] = set()
        self.identities: list[tuple[str, str]] = []
        self.called: set[str] = set()
        self.attrs: set[str] = set()
        self.output = 0

    # --- bookkeeping ---------------------------------------------------------------------------

    def scope_of(self, node: torch.fx.Node) -> str:
        if node.op == "call_module":
            return str(node.target)
        stack = node.meta.get("nn_module_stack") or {}
        return list(stack.values())[-1][0] if stack else ""

    def owner(self, scope: str) -> str:
        return type(self.modules[scope]).__name__ if scope in self.modules else "the model"

    def problem(self, node: torch.fx.Node, what: str, help: str | None = None) -> None:
        scope = self.scope_of(node)
        key = what.strip("`").rsplit(".", 1)[-1]
        self.problems.append(Unsupported(scope, self.owner(scope), what, help or LATER.get(key)))

    def add(self, node: torch.fx.Node, kind: str, inputs: list[int], layers: list[Layer]) -> int:
        shape = _shape(node) or ()
        scope, module = self.scope_of(node), ""
        if node.op == "call_module":
            module, scope = scope, scope.rsplit(".", 1)[0] if "." in scope else ""
        step = Step(len(self.steps), kind, inputs, layers, scope, shape, module)
        self.steps.append(step)
        self.value[node] = step.index
        return step.index

    def tensor_inputs(self, node: torch.fx.Node) -> list[torch.fx.Node]:
        return [n for n in node.all_input_nodes if n in self.value]

    # --- the walk ------------------------------------------------------------------------------

    def read(self) -> None:
        for node in self.gm.graph.nodes:
            self.ran.update(name for name, _ in (node.meta.get("nn_module_stack") or {}).values())
            if node.op == "placeholder":
                self.add(node, "input", [], [])
            elif node.op == "output":
                self.read_output(node)
            elif node.op == "get_attr":
                self.attrs.add(str(node.target))
                self.problem(node, f"the tensor `{node.target}` used directly",
                             "archlang layers own their parameters; only modules' own tensors can be imported")
            elif node.op == "call_module":
                self.read_module(node)
            else:
                self.read_function(node)
        self.check_unused_modules()

    def read_output(self, node: torch.fx.Node) -> None:
        result = node.args[0]
        if isinstance(result, torch.fx.Node) and result in self.value:
            self.output = self.value[result]
            if self.output in self.shuffles:
                self.problem(result, "a 5-dimensional reshape as the output")
        else:
            self.problem(node, "an output that is not one tensor",
                         "version 1 of the language has one output; several outputs come with version 2")
            found = [n for n in node.all_input_nodes if n in self.value]
            self.output = self.value[found[0]] if found else 0

    def read_module(self, node: torch.fx.Node) -> None:
        module = self.gm.get_submodule(str(node.target))
        self.called.add(str(node.target))
        inputs = self.tensor_inputs(node)
        source = _shape(inputs[0]) if inputs else None
        layers, trouble = layer_of_module(module, source or (), _shape(node) or ())
        if trouble:
            self.problem(node, trouble[0], trouble[1])
        if len(inputs) != 1:
            self.problem(node, f"`{type(module).__name__}` called on {len(inputs)} tensors")
        if not layers and not trouble and inputs:  # nn.Identity: the same tensor
            self.value[node] = self.resolve(inputs[0])
            return
        self.add(node, "layers", [self.resolve(n) for n in inputs[:1]], layers)

    def resolve(self, node: torch.fx.Node) -> int:
        index = self.value[node]
        if index in self.shuffles:
            self.problem(node, "a 5-dimensional reshape", "only ShuffleNet's channel shuffle is recognised")
        return index

    def read_function(self, node: torch.fx.Node) -> None:
        meta = node.meta.get("tensor_meta")
        target = node.target
        if meta is None and not (node.op == "call_method" and target == "chunk") and target is not torch.chunk:
            return  # sizes, shapes and other numbers: arguments of the tensor steps, not steps
        handler = self.handler(node)
        if handler is None:
            self.problem(node, _describe(node))
            inputs = self.tensor_inputs(node)
            self.add(node, "layers", [self.value[n] for n in inputs[:1]], [])
            return
        handler(node)

    def handler(self, node: torch.fx.Node) -> Callable[[torch.fx.Node], None] | None:
        target, method = node.target, node.op == "call_method"
        if method:
            table: dict[Any, Callable[[torch.fx.Node], None]] = {
                **{m: self.read_activation for m in _ACTIVATION_METHODS}, **{m: self.read_alias for m in _ALIASES},
                **{m: self.read_reshape for m in _RESHAPES}, "add": self.read_join, "add_": self.read_join,
                "mul": self.read_join, "mul_": self.read_join, "mean": self.read_mean, "chunk": self.read_chunk,
                "transpose": self.read_transpose, "softmax": self.read_softmax, "log_softmax": self.read_softmax}
            return table.get(target)
        if target in _ACTIVATION_FUNCTIONS or target in (F.leaky_relu, F.elu, F.hardtanh):
            return self.read_activation
        if target in _ADD or target in _MUL or target is torch.cat:
            return self.read_join
        if getattr(target, "__name__", "") == "stochastic_depth" and "torchvision" in getattr(target, "__module__", ""):
            return self.read_stochastic_depth
        table = {torch.flatten: self.read_reshape, torch.reshape: self.read_reshape, F.dropout: self.read_dropout,
                 F.adaptive_avg_pool2d: self.read_pool, F.adaptive_max_pool2d: self.read_pool,
                 F.max_pool2d: self.read_pool, F.avg_pool2d: self.read_pool, torch.chunk: self.read_chunk,
                 operator.getitem: self.read_getitem, torch.transpose: self.read_transpose,
                 F.softmax: self.read_softmax, torch.softmax: self.read_softmax, F.log_softmax: self.read_softmax}
        return table.get(target)

    # --- readers -------------------------------------------------------------------------------

    def one_input(self, node: torch.fx.Node, layers: list[Layer]) -> None:
        (source,) = self.tensor_inputs(node)[:1] or (None,)
        if source is None:
            self.problem(node, _describe(node) + " on no tensor")
            self.add(node, "layers", [], [])
            return
        self.add(node, "layers", [self.resolve(source)], layers)

    def read_alias(self, node: torch.fx.Node) -> None:
        source = self.tensor_inputs(node)[0]
        self.value[node] = self.value[source]

    def read_activation(self, node: torch.fx.Node) -> None:
        target = node.target
        if node.op == "call_method":
            name = _ACTIVATION_METHODS[target]
        elif target is F.leaky_relu:
            slope = _bind(("input", "negative_slope"), {"negative_slope": 0.01}, node.args, node.kwargs)
            self.one_input(node, [Layer("leakyrelu", [[Num(slope["negative_slope"], "a")]])])
            return
        elif target is F.elu:
            alpha = _bind(("input", "alpha"), {"alpha": 1.0}, node.args, node.kwargs)["alpha"]
            self.one_input(node, [Layer("elu", [[Num(alpha, "a")]])])
            return
        elif target is F.hardtanh:
            bounds = _bind(("input", "min_val", "max_val"), {"min_val": -1.0, "max_val": 1.0}, node.args, node.kwargs)
            if (bounds["min_val"], bounds["max_val"]) != (0.0, 6.0):
                self.problem(node, "`hardtanh` with bounds other than 0 and 6")
            name = "relu6"
        else:
            name = _ACTIVATION_FUNCTIONS[target]
            if target is F.gelu and node.kwargs.get("approximate", "none") != "none":
                self.problem(node, "`gelu` with the tanh approximation")
        self.one_input(node, [Layer(name)])

    def read_stochastic_depth(self, node: torch.fx.Node) -> None:
        """torchvision's stochastic depth: traced in eval mode (``training=False``) it is the identity."""
        args = _bind(("input", "p", "mode", "training"), {"training": True}, node.args, node.kwargs)
        if args["training"] is not False and args["p"] != 0:
            self.problem(node, "`stochastic_depth` in training mode", "`droppath` comes with version 2 of the language")
        self.identities.append((self.scope_of(node), "stochastic depth"))
        self.read_alias(node)

    def read_softmax(self, node: torch.fx.Node) -> None:
        args = _bind(("input", "dim"), {"dim": None}, node.args[1:] if node.op == "call_method" else node.args,
                     node.kwargs) if node.op != "call_method" else _bind(("dim",), {"dim": None}, node.args[1:], node.kwargs)
        name = "logsoftmax" if "log" in getattr(node.target, "__name__", str(node.target)) else "softmax"
        if args["dim"] not in (1, -1 if len(_shape(node) or ()) == 1 else 1):
            self.problem(node, f"`{name}` over dimension {args['dim']}", "archlang's softmax runs over the channels")
        self.one_input(node, [Layer(name)])

    def read_dropout(self, node: torch.fx.Node) -> None:
        args = _bind(("input", "p", "training", "inplace"), {"p": 0.5}, node.args, node.kwargs)
        self.one_input(node, [Layer("dropout", [[Num(args["p"], "p")]])])

    def read_pool(self, node: torch.fx.Node) -> None:
        target = node.target
        if target in (F.adaptive_avg_pool2d, F.adaptive_max_pool2d):
            args = _bind(("input", "output_size"), {}, node.args, node.kwargs)
            kind = "avg" if target is F.adaptive_avg_pool2d else "max"
            layer, trouble = pool_layer(f"adaptive{kind}", args)
        else:
            names = ("input", "kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices")
            if target is F.avg_pool2d:
                names = ("input", "kernel_size", "stride", "padding", "ceil_mode", "count_include_pad",
                         "divisor_override")
            args = _bind(names, {"stride": None, "padding": 0, "dilation": 1, "ceil_mode": False,
                                 "count_include_pad": True, "divisor_override": None, "return_indices": False},
                         node.args, node.kwargs)
            layer, trouble = pool_layer("max" if target is F.max_pool2d else "avg", args)
        if trouble:
            self.problem(node, trouble)
        self.one_input(node, [layer] if layer else [])

    def read_mean(self, node: torch.fx.Node) -> None:
        args = _bind(("dim", "keepdim"), {"keepdim": False}, node.args[1:], node.kwargs)
        dims = args["dim"] if isinstance(args["dim"], (list, tuple)) else (args["dim"],)
        source = _shape(node.args[0]) or ()
        if len(source) != 3 or sorted(d % 4 for d in dims) != [2, 3]:
            self.problem(node, f"`Tensor.mean` over dimensions {list(dims)}")
            self.one_input(node, [])
            return
        self.one_input(node, [Layer("gap")] + ([] if args["keepdim"] else [Layer("flatten")]))

    def read_reshape(self, node: torch.fx.Node) -> None:
        (source,) = self.tensor_inputs(node)[:1]
        before, after = _shape(source) or (), _shape(node) or ()
        index = self.value[source]
        if index in self.shuffles and self.shuffles[index][0] == "transposed" and after == self.steps[
                self.shuffles[index][2]].shape:
            _, groups, origin = self.shuffles[index]
            self.add(node, "layers", [origin], [Layer("channel_shuffle", [[Num(groups, "g")]])])
            return
        if before == after:
            self.value[node] = index
        elif len(before) == 3 and len(after) == 1:
            self.one_input(node, [Layer("flatten")])
        elif len(before) == 3 and len(after) == 4 and after[0] * after[1] == before[0] and after[2:] == before[1:]:
            self.value[node] = self.add(node, "layers", [index], [])  # channel shuffle, first part
            self.shuffles[self.value[node]] = ("split", after[0], index)
        else:
            self.problem(node, f"a reshape from {list(before)} to {list(after)}")
            self.one_input(node, [])

    def read_transpose(self, node: torch.fx.Node) -> None:
        (source,) = self.tensor_inputs(node)[:1]
        index = self.value[source]
        dims = tuple(a for a in node.args[1:3])
        if index in self.shuffles and self.shuffles[index][0] == "split" and dims in ((1, 2), (2, 1)):
            _, groups, origin = self.shuffles[index]
            self.value[node] = self.add(node, "layers", [index], [])
            self.shuffles[self.value[node]] = ("transposed", groups, origin)
            return
        self.problem(node, "`torch.transpose`")
        self.one_input(node, [])

    def read_chunk(self, node: torch.fx.Node) -> None:
        names = ("input", "chunks", "dim")
        args = _bind(names, {"dim": 0}, node.args, node.kwargs)
        source = node.args[0]
        channels = (_shape(source) or (0,))[0]
        if args["dim"] not in (1, -3) or channels % args["chunks"]:
            self.problem(node, f"`chunk` into {args['chunks']} along dimension {args['dim']}",
                         "archlang's chunk splits the channels into equal groups")
        self.chunks[node] = (self.value[source], args["chunks"])

    def read_getitem(self, node: torch.fx.Node) -> None:
        container = node.args[0]
        if container not in self.chunks:
            self.problem(node, "indexing a tensor")
            self.one_input(node, [])
            return
        source, pieces = self.chunks[container]
        self.add(node, "layers", [source], [Layer("chunk", [[Num(pieces, "n")], [Num(node.args[1], "i")]])])

    def read_join(self, node: torch.fx.Node) -> None:
        target = node.target
        if target is torch.cat:
            args = _bind(("tensors", "dim"), {"dim": 0}, node.args, node.kwargs)
            tensors = list(args["tensors"])
            if args["dim"] not in (1, -3) or len(_shape(node) or ()) != 3:
                self.problem(node, f"`torch.cat` along dimension {args['dim']}",
                             "archlang concatenates channels of HxWxC tensors")
            if len(tensors) == 1:
                self.value[node] = self.resolve(tensors[0])
                return
            self.add(node, "concat", [self.resolve(t) for t in tensors], [])
            return
        name = target if isinstance(target, str) else getattr(target, "__name__", "")
        kind = "mul" if "mul" in name else "add"
        operands = [a for a in node.args if isinstance(a, torch.fx.Node)]
        tensors = [a for a in operands if a in self.value]
        if len(tensors) != 2 or len(node.args) != 2 or node.kwargs:
            self.problem(node, f"`{kind}` of a tensor and a constant or parameter",
                         "archlang adds and multiplies the tensors that layers compute")
            self.one_input(node, [])
            return
        shapes = [_shape(t) or () for t in tensors]
        if kind == "mul" and shapes[0] != shapes[1] and not any(len(s) == 3 and s[1:] == (1, 1) for s in shapes):
            self.problem(node, f"`mul` of shapes {list(shapes[0])} and {list(shapes[1])}")
        self.add(node, kind, [self.resolve(t) for t in tensors], [])

    # --- modules that never run ------------------------------------------------------------------

    def check_unused_modules(self) -> None:
        for name, module in self.modules.items():
            if not name or any(name == c or name.startswith(c + ".") for c in self.called):
                continue
            own = [p for key, p in module.named_parameters(recurse=False)
                   if f"{name}.{key}" not in self.attrs]
            if own:
                count = sum(p.numel() for p in own)
                self.problems.append(Unsupported(
                    name, type(module).__name__, f"{count:,} parameters of a module that does not run in forward",
                    "every module with parameters must run in eval mode to be imported"))

    def result(self) -> Traced:
        classes = {name: type(m) for name, m in self.modules.items()}
        return Traced(self.steps, self.output, classes, self.problems, self.ran | self.called, self.identities)


def _describe(node: torch.fx.Node) -> str:
    target = node.target
    if node.op == "call_method":
        return f"`Tensor.{target}`"
    module = getattr(target, "__module__", None) or ""
    name = getattr(target, "__name__", str(target))
    if module.startswith("torch.nn.functional") or module == "torch.nn.functional":
        module = "torch.nn.functional"
    elif module.startswith("torch") or module in ("", "builtins"):
        module = "torch" if hasattr(torch, name) else module
    return f"`{module + '.' if module and module != 'builtins' else ''}{name}`"
