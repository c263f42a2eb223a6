"""Building, verifying and saving PyTorch modules from specs. Imports torch."""

from __future__ import annotations

import linecache
import time
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from .codegen import class_name, generate, plan
from .ir import Graph


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


def module_class(graph: Graph) -> type[nn.Module]:
    """The class of the model ``graph`` describes, from its generated source."""
    return class_from_source(generate(graph), class_name(graph.name))


def build_module(graph: Graph) -> nn.Module:
    """A fresh instance of the model ``graph`` describes; the graph rides along as
    ``model.archlang_graph``."""
    model = module_class(graph)()
    model.archlang_graph = graph  # type: ignore[assignment]
    return model


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
        lines = [f"{c.name}: analysis says {_hwc(c.expected)}, PyTorch gives {_hwc(c.actual)}" for c in bad]
        if self.expected_params != self.actual_params:
            lines.append(f"parameters: analysis says {self.expected_params:,}, PyTorch counts {self.actual_params:,}")
        if self.expected_output != self.actual_output:
            lines.append(f"output: analysis says {_hwc(self.expected_output)}, "
                         f"PyTorch gives {_hwc(self.actual_output)}")
        verdict = "verified" if self.ok else "MISMATCH (a bug in archlang; please report it)"
        lines.append(f"{verdict}: {len(self.layers)} layer shapes, {self.actual_params:,} parameters and the "
                     f"output {_hwc(self.actual_output)} on {self.device} ({self.seconds * 1000:.0f} ms)")
        return "\n".join(lines)


def _hwc(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape))


def to_hwc(shape: torch.Size) -> tuple[int, ...]:
    """``N x C x H x W`` -> ``(H, W, C)``; ``N x F`` -> ``(F,)``."""
    dims = tuple(shape[1:])
    return (dims[1], dims[2], dims[0]) if len(dims) == 3 else dims


def example_input(graph: Graph, batch: int = 2, device: str = "cpu") -> torch.Tensor:
    shape = graph.input.shape or ()
    size = (batch, shape[2], shape[0], shape[1]) if len(shape) == 3 else (batch, *shape)
    return torch.randn(size, device=device)


def verify(graph: Graph, device: str = "cpu", batch: int = 2) -> Verification:
    """Run one batch through the compiled model and compare every layer with the analysis."""
    model = build_module(graph).to(device).eval()
    names = plan(graph).attrs
    seen: dict[int, tuple[int, ...]] = {}
    hooks = [getattr(model, attr).register_forward_hook(_recorder(seen, index))
             for index, attr in names.items()]
    start = time.perf_counter()
    with torch.inference_mode():
        out = model(example_input(graph, batch, device))
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    for h in hooks:
        h.remove()
    result = Verification(device, seconds=seconds)
    for index in names:
        node = graph.nodes[index]
        result.layers.append(LayerCheck(node.name, node.shape or (), seen.get(index, ())))
    result.expected_params = sum(n.params for n in graph.layers)
    result.actual_params = sum(p.numel() for p in model.parameters())
    result.expected_output = graph.nodes[graph.output].shape or ()
    result.actual_output = to_hwc(out.shape)
    return result


def _recorder(seen: dict[int, tuple[int, ...]], index: int) -> Any:
    def hook(module: nn.Module, inputs: Any, output: torch.Tensor) -> None:
        seen[index] = to_hwc(output.shape)

    return hook
