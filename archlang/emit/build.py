"""Building, verifying and saving PyTorch modules from specs. Imports torch."""

from __future__ import annotations

import linecache
import time
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from .codegen import Plan, class_name, expression, generate, plan
from ..core.ir import Graph
from ..core.shapes import fmt


def class_from_source(source: str, name: str) -> type[nn.Module]:
    """Execute generated source and return its class ``name`` (registered with linecache, so
    tracebacks and ``inspect.getsource`` show the generated lines)."""
    filename = f"<archlang:{name}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace: dict[str, Any] = {"__name__": f"archlang.generated.{name}"}
    exec(compile(source, filename, "exec"), namespace)  # the source is generated from safe names
    cls = namespace[name]
    cls.archlang_source = source
    return cls


@dataclass(frozen=True)
class Compiled:
    """A graph compiled once: its naming plan, its source and the class executed from that
    source. Verifying, saving and loading share it, so they all see the same model."""

    graph: Graph
    plan: Plan
    source: str
    cls: type[nn.Module]

    def instantiate(self) -> nn.Module:
        """A fresh model; the graph rides along as ``model.archlang_graph``."""
        model = self.cls()
        setattr(model, "archlang_graph", self.graph)  # a plain attribute, not a submodule
        return model


def compile_graph(graph: Graph) -> Compiled:
    """Plan, generate and execute the source of ``graph``, once."""
    names = plan(graph)
    source = generate(graph, names)
    return Compiled(graph, names, source, class_from_source(source, class_name(graph.name)))


def module_class(graph: Graph) -> type[nn.Module]:
    """The class of the model ``graph`` describes, from its generated source."""
    return compile_graph(graph).cls


def build_module(graph: Graph) -> nn.Module:
    """A fresh instance of the model ``graph`` describes; the graph rides along as
    ``model.archlang_graph``."""
    return compile_graph(graph).instantiate()


@dataclass
class LayerCheck:
    name: str
    expected: tuple[int, ...]
    actual: tuple[int, ...]

    @property
    def ok(self) -> bool:
        return self.expected == self.actual


@dataclass
class Verification:
    """What ``archlang compile --verify`` found."""

    device: str
    layers: list[LayerCheck] = field(default_factory=list)
    expected_params: int = 0
    actual_params: int = 0
    expected_output: tuple[int, ...] = ()
    actual_output: tuple[int, ...] = ()
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return (all(c.ok for c in self.layers) and self.expected_params == self.actual_params
                and self.expected_output == self.actual_output)

    def summary(self) -> str:
        bad = [c for c in self.layers if not c.ok]
        lines = [f"{c.name}: analysis says {fmt(c.expected)}, PyTorch gives {fmt(c.actual)}" for c in bad]
        if self.expected_params != self.actual_params:
            lines.append(f"parameters: analysis says {self.expected_params:,}, PyTorch counts {self.actual_params:,}")
        if self.expected_output != self.actual_output:
            lines.append(f"output: analysis says {fmt(self.expected_output)}, "
                         f"PyTorch gives {fmt(self.actual_output)}")
        verdict = "verified" if self.ok else "MISMATCH (a bug in archlang; please report it)"
        lines.append(f"{verdict}: {len(self.layers)} layer shapes, {self.actual_params:,} parameters and the "
                     f"output {fmt(self.actual_output)} on {self.device} ({self.seconds * 1000:.0f} ms)")
        return "\n".join(lines)


def to_hwc(shape: torch.Size) -> tuple[int, ...]:
    """``N x C x H x W`` -> ``(H, W, C)``; ``N x F`` -> ``(F,)``."""
    dims = tuple(shape[1:])
    return (dims[1], dims[2], dims[0]) if len(dims) == 3 else dims


def example_input(graph: Graph, batch: int = 2, device: str = "cpu") -> torch.Tensor:
    shape = graph.input.shape or ()
    size = (batch, shape[2], shape[0], shape[1]) if len(shape) == 3 else (batch, *shape)
    return torch.randn(size, device=device)


def verify(graph: Graph, device: str = "cpu", batch: int = 2) -> Verification:
    """Build the model ``graph`` describes and check it with :func:`verify_model`."""
    compiled = compile_graph(graph)
    return verify_model(compiled, compiled.instantiate(), device, batch)


def verify_model(compiled: Compiled, model: nn.Module, device: str = "cpu", batch: int = 2) -> Verification:
    """Run one batch through ``model`` node by node (every layer, merge and template op, each as
    the generated ``forward`` writes it) and compare each node's shape with the analysis; then
    run ``forward`` itself for the output and the time."""
    graph = compiled.graph
    model.to(device).eval()
    x = example_input(graph, batch, device)
    with torch.inference_mode():
        shapes = interpret(compiled, model, x)
        start = time.perf_counter()
        out = model(x)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
    result = Verification(device, seconds=seconds)
    result.layers = [LayerCheck(n.name, n.shape or (), shapes[n.index]) for n in graph.layers]
    result.expected_params = sum(n.params for n in graph.layers)
    result.actual_params = sum(p.numel() for p in model.parameters())
    result.expected_output = graph.nodes[graph.output].shape or ()
    result.actual_output = to_hwc(out.shape)
    return result


def interpret(compiled: Compiled, model: nn.Module, x: torch.Tensor) -> dict[int, tuple[int, ...]]:
    """Each node's output shape (HxWxC), computed node by node on ``model``, as torch.fx's
    interpreter runs a graph: an environment of live values, each freed after its last reader."""
    graph, names = compiled.graph, compiled.plan
    last_use = {i: max(uses, default=i) for i, uses in graph.consumers().items()}
    env: dict[int, torch.Tensor] = {graph.input.index: x}
    shapes: dict[int, tuple[int, ...]] = {graph.input.index: to_hwc(x.shape)}
    scope: dict[str, Any] = {"torch": torch, "self": model}
    for node in graph.layers:
        args = [f"v{i}" for i in node.inputs]
        values = {f"v{i}": env[i] for i in node.inputs}
        env[node.index] = eval(expression(node, args, names), scope, values)  # generated from safe names
        shapes[node.index] = to_hwc(env[node.index].shape)
        for i in set(node.inputs):
            if last_use[i] == node.index:
                del env[i]
    return shapes
