"""Building, verifying and saving PyTorch modules from specs. Imports torch."""

from __future__ import annotations

import linecache
import time
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from .codegen import Plan, class_name, expression, generate, plan
from ..core.ir import Graph, Runs
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
class OutputCheck:
    """One output of ``forward`` in one mode, against the analysis."""

    name: str
    training: bool
    expected: tuple[int, ...]
    actual: tuple[int, ...] | None  # None: forward did not return it

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
    outputs: list[OutputCheck] = field(default_factory=list)  # every output, in each mode checked
    structure: str = ""  # what forward returned, when it is not what the spec states

    @property
    def ok(self) -> bool:
        return (all(c.ok for c in self.layers) and self.expected_params == self.actual_params
                and self.expected_output == self.actual_output and all(o.ok for o in self.outputs)
                and not self.structure)

    def summary(self) -> str:
        bad = [c for c in self.layers if not c.ok]
        lines = [f"{c.name}: analysis says {fmt(c.expected)}, PyTorch gives {fmt(c.actual)}" for c in bad]
        if self.expected_params != self.actual_params:
            lines.append(f"parameters: analysis says {self.expected_params:,}, PyTorch counts {self.actual_params:,}")
        if self.expected_output != self.actual_output:
            lines.append(f"output: analysis says {fmt(self.expected_output)}, "
                         f"PyTorch gives {fmt(self.actual_output)}")
        for o in self.outputs[1:] if len(self.outputs) > 1 else ():
            if not o.ok:
                got = "nothing" if o.actual is None else fmt(o.actual)
                lines.append(f"output `{o.name}` in {'training' if o.training else 'eval'} mode: analysis says "
                             f"{fmt(o.expected)}, PyTorch gives {got}")
        if self.structure:
            lines.append(self.structure)
        verdict = "verified" if self.ok else "MISMATCH (a bug in archlang; please report it)"
        shown = (f"the output {fmt(self.actual_output)}" if len(self.outputs) <= 1 else
                 f"{len(self.outputs)} outputs across modes")
        lines.append(f"{verdict}: {len(self.layers)} layer shapes, {self.actual_params:,} parameters and "
                     f"{shown} on {self.device} ({self.seconds * 1000:.0f} ms)")
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
    run ``forward`` itself for the outputs and the time. Eval mode first; where the network
    differs in training (training-only layers or outputs), training mode too, with the
    model's buffers (batch-norm statistics) put back afterwards."""
    graph = compiled.graph
    model.to(device).eval()
    x = example_input(graph, batch, device)
    result = Verification(device)
    shapes, out, result.seconds = _run(compiled, model, x, training=False, device=device)
    result.outputs = _output_checks(graph, out, False, result)
    if any(n.runs == Runs.TRAINING for n in graph.nodes) or len(graph.outputs_in(True)) != len(graph.outputs_in(False)):
        saved = {k: v.clone() for k, v in model.named_buffers()}
        model.train()
        try:
            trained, out, _ = _run(compiled, model, x, training=True, device=device)
        finally:
            model.eval()
            with torch.no_grad():
                for k, v in model.named_buffers():
                    v.copy_(saved[k])
        shapes.update(trained)
        result.outputs += _output_checks(graph, out, True, result)
    result.layers = [LayerCheck(n.name, n.shape or (), shapes[n.index]) for n in graph.layers if n.index in shapes]
    result.expected_params = sum(n.params for n in graph.layers)
    result.actual_params = sum(p.numel() for p in model.parameters())
    first = result.outputs[0] if result.outputs else None
    result.expected_output = first.expected if first else ()
    result.actual_output = (first.actual or ()) if first else ()
    return result


def _run(compiled: Compiled, model: nn.Module, x: torch.Tensor, training: bool,
         device: str) -> tuple[dict[int, tuple[int, ...]], Any, float]:
    with torch.inference_mode():
        shapes = interpret(compiled, model, x, training)
        start = time.perf_counter()
        out = model(x)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
    return shapes, out, time.perf_counter() - start


def _output_checks(graph: Graph, out: Any, training: bool, result: Verification) -> list[OutputCheck]:
    """Each output the spec states for the mode against what ``forward`` returned; a tuple
    where one tensor was due (or the reverse), or other keys, is a mismatch in itself."""
    expected = graph.outputs_in(training)
    mode = "training" if training else "eval"
    if graph.keyed:
        got = list(out.values()) if isinstance(out, dict) else []
        if not isinstance(out, dict) or list(out) != [o.name for o in expected]:
            result.structure = f"{mode} mode: expected a dict with keys {[o.name for o in expected]}"
    elif len(expected) == 1:
        got = [out] if isinstance(out, torch.Tensor) else []
        if not isinstance(out, torch.Tensor):
            result.structure = f"{mode} mode: expected one tensor, forward returned {type(out).__name__}"
    else:
        got = list(out) if isinstance(out, tuple) else []
        if not isinstance(out, tuple) or len(out) != len(expected):
            result.structure = f"{mode} mode: expected a tuple of {len(expected)} tensors"
    return [OutputCheck(o.name, training, graph.nodes[o.node].shape or (),
                        to_hwc(got[k].shape) if k < len(got) else None) for k, o in enumerate(expected)]


def interpret(compiled: Compiled, model: nn.Module, x: torch.Tensor,
              training: bool = False) -> dict[int, tuple[int, ...]]:
    """Each node's output shape (HxWxC), computed node by node on ``model``, as torch.fx's
    interpreter runs a graph: an environment of live values, each freed after its last reader.
    The nodes that run in the mode are computed, and those that feed no output where they can be."""
    graph, names = compiled.graph, compiled.plan
    running: list[Any] = []
    done = {graph.input.index}
    for n in graph.layers:  # what runs in the mode, and the unused layers that can run (to check them)
        if graph.runs_in(n, training) or (n.runs == Runs.NEVER and done.issuperset(n.inputs)):
            running.append(n)
            done.add(n.index)
    last_use: dict[int, int] = {}
    for n in running:
        for i in n.inputs:
            last_use[i] = n.index
    env: dict[int, torch.Tensor] = {graph.input.index: x}
    shapes: dict[int, tuple[int, ...]] = {graph.input.index: to_hwc(x.shape)}
    scope: dict[str, Any] = {"torch": torch, "self": model}
    for node in running:
        args = [f"v{i}" for i in node.inputs]
        values = {f"v{i}": env[i] for i in node.inputs}
        env[node.index] = eval(expression(node, args, names), scope, values)  # generated from safe names
        shapes[node.index] = to_hwc(env[node.index].shape)
        for i in set(node.inputs):
            if last_use[i] == node.index:
                del env[i]
    return shapes
