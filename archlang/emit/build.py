"""Building, verifying and saving PyTorch modules from specs. Imports torch."""

from __future__ import annotations

import linecache
import math
import os
import threading
import time
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator

import torch
from torch import nn

from .codegen import Plan, class_name, expression, generate, plan
from .reference import ReferenceMismatch, expected
from ..core.ir import Graph, Node, Runs
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


# `archlang.compile` of a spec it has compiled before reuses the class (einops caches its recipes
# the same way): analysis, code generation and Python's compile of the source are a third of the
# cost of building a 10,000-layer model, and a sweep or an ensemble builds one spec many times.
_COMPILED: "OrderedDict[tuple[Any, ...], Compiled]" = OrderedDict()
_COMPILED_LIMIT = 16
_COMPILED_LOCK = threading.Lock()


def compile_spec(text: str, file: str, params: dict[str, float], variant: str | None) -> Compiled:
    """The compiled model of a spec's ``text`` with ``params`` and ``variant``: from the cache
    when the same text with the same choices was compiled before and every file it ``use``s is
    unchanged, else analysed and compiled afresh."""
    from ..api import analyse

    key = (text, file, os.getcwd(), tuple((k, type(v).__name__, v) for k, v in sorted(params.items())), variant)
    with _COMPILED_LOCK:
        hit = _COMPILED.get(key)
    if hit is not None and _files_unchanged(hit.graph):
        with _COMPILED_LOCK:
            _COMPILED.move_to_end(key)
        return hit
    compiled = compile_graph(analyse(text, file, params, None, variant))
    with _COMPILED_LOCK:
        _COMPILED[key] = compiled
        while len(_COMPILED) > _COMPILED_LIMIT:
            _COMPILED.popitem(last=False)
    return compiled


def _files_unchanged(graph: Graph) -> bool:
    """Whether every `use`d file still reads as it did when ``graph`` was analysed."""
    from ..core.reading import SpecReadError, read_spec_file

    for path, text in graph.files.items():
        try:
            if read_spec_file(path) != text:
                return False
        except SpecReadError:
            return False
    return True


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
class ValueCheck:
    """One node's values against its reference (:mod:`archlang.emit.reference`): the largest
    absolute difference and the tolerance it must stay within, or why it could not be compared."""

    name: str
    text: str  # the op as written in the spec
    error: float = 0.0
    tolerance: float = 0.0
    problem: str = ""  # the module does not hold what the analysis says, or was changed in place
    training: bool = False  # checked in training mode (it runs only there)

    @property
    def ok(self) -> bool:
        return not self.problem and self.error <= self.tolerance

    def describe(self) -> str:
        where = f"{self.name} (`{self.text}`{', training mode' if self.training else ''})"
        if self.problem:
            return f"{where}: {self.problem}"
        return (f"{where}: values differ from the reference: max abs error {self.error:.3g} "
                f"(tolerance {self.tolerance:.3g})")


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
    values: list[ValueCheck] = field(default_factory=list)  # every node with a reference, once
    shape_only: dict[str, str] = field(default_factory=dict)  # op -> why its values are not checked
    shape_only_nodes: int = 0
    forward: list[ValueCheck] = field(default_factory=list)  # forward's outputs against the node-by-node run's

    @property
    def ok(self) -> bool:
        return (all(c.ok for c in self.layers) and self.expected_params == self.actual_params
                and self.expected_output == self.actual_output and all(o.ok for o in self.outputs)
                and not self.structure and all(v.ok for v in self.values) and all(f.ok for f in self.forward))

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
        lines += [v.describe() for v in self.values if not v.ok]
        lines += [f"forward: output `{f.name}` differs from the node-by-node run: max abs error {f.error:.3g} "
                  f"(tolerance {f.tolerance:.3g})" for f in self.forward if not f.ok]
        if self.shape_only:
            listed = "; ".join(f"`{op}` ({why})" for op, why in self.shape_only.items())
            lines.append(f"shape only (values not checked) for {self.shape_only_nodes} "
                         f"node{'s' if self.shape_only_nodes != 1 else ''}: {listed}")
        verdict = "verified" if self.ok else "MISMATCH (a bug in archlang; please report it)"
        shown = (f"the output {fmt(self.actual_output)}" if len(self.outputs) <= 1 else
                 f"{len(self.outputs)} outputs across modes")
        lines.append(f"{verdict}: {len(self.layers)} layer shapes, {len(self.values)} layer values, "
                     f"{self.actual_params:,} parameters and "
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
    the generated ``forward`` writes it); compare each node's shape with the analysis and its
    values with the reference computed from the analysis on the node's own inputs
    (:mod:`archlang.emit.reference`); then run ``forward`` itself for the outputs and the time.
    Eval mode first; where the network differs in training (training-only layers or outputs),
    training mode too, where the nodes that ran in eval are checked by shape only, with the
    model's buffers (batch-norm statistics) put back afterwards."""
    graph = compiled.graph
    model.to(device).eval()
    x = example_input(graph, batch, device)
    result = Verification(device)
    run = _run(compiled, model, x, training=False, device=device, result=result, checked=set())
    shapes, result.seconds = run.shapes, run.seconds
    result.outputs = _output_checks(graph, run.out, False, result)
    result.forward = _forward_checks(graph, run)
    if any(n.runs == Runs.TRAINING for n in graph.nodes) or len(graph.outputs_in(True)) != len(graph.outputs_in(False)):
        saved = {k: v.clone() for k, v in model.named_buffers()}
        model.train()
        try:
            trained = _run(compiled, model, x, training=True, device=device, result=result, checked=set(shapes))
        finally:
            model.eval()
            with torch.no_grad():
                for k, v in model.named_buffers():
                    v.copy_(saved[k])
        shapes.update(trained.shapes)
        result.outputs += _output_checks(graph, trained.out, True, result)
    result.layers = [LayerCheck(n.name, n.shape or (), shapes[n.index]) for n in graph.layers if n.index in shapes]
    result.expected_params = sum(n.params for n in graph.layers)
    result.actual_params = sum(p.numel() for p in model.parameters())
    first = result.outputs[0] if result.outputs else None
    result.expected_output = first.expected if first else ()
    result.actual_output = (first.actual or ()) if first else ()
    return result


@dataclass
class Run:
    """One mode's node-by-node run: each node's shape (HxWxC), the values of the outputs, and
    ``forward``'s own result and time."""

    shapes: dict[int, tuple[int, ...]]
    values: dict[int, torch.Tensor]  # the output nodes' values
    out: Any = None
    seconds: float = 0.0


def _run(compiled: Compiled, model: nn.Module, x: torch.Tensor, training: bool, device: str,
         result: Verification, checked: set[int]) -> Run:
    # no_grad, not inference_mode: version counters then see in-place writes
    with exact_float32(), torch.no_grad():
        run = interpret(compiled, model, x, training, result, checked)
        start = time.perf_counter()
        run.out = model(x)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
    run.seconds = time.perf_counter() - start
    return run


@contextmanager
def exact_float32() -> Iterator[None]:
    """Full float32 precision for convolutions and matrix products while verifying (CUDA's TF32
    would round both sides to 10-bit mantissas and hide or invent differences)."""
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def _forward_checks(graph: Graph, run: Run) -> list[ValueCheck]:
    """Eval mode's outputs of ``forward`` against the node-by-node run's: the generated
    ``forward`` must compute what its nodes do."""
    expected_outputs = graph.outputs_in(False)
    out = run.out
    got = (list(out.values()) if isinstance(out, dict) else list(out) if isinstance(out, tuple) else [out])
    checks = []
    for o, tensor in zip(expected_outputs, got):
        mine = run.values.get(o.node)
        if isinstance(tensor, torch.Tensor) and mine is not None and tensor.shape == mine.shape:
            checks.append(compare(o.name, "forward", tensor, mine, magnitude(mine)))
    return checks


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


def interpret(compiled: Compiled, model: nn.Module, x: torch.Tensor, training: bool = False,
              result: Verification | None = None, checked: set[int] | None = None) -> Run:
    """Run ``model`` node by node, as torch.fx's interpreter runs a graph: an environment of live
    values, each freed after its last reader. The nodes that run in the mode are computed, and
    those that feed no output where they can be. With ``result``, each node not in ``checked``
    is also compared with its reference, computed from its inputs before its module runs (an
    in-place module overwrites them); an input changed since it was produced is reported at the
    node that reads it."""
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
    outputs = {o.node for o in graph.outputs_in(training)}
    env: dict[int, torch.Tensor] = {graph.input.index: x}
    versions: dict[int, int] = {graph.input.index: x._version}
    sizes: dict[int, float] = {graph.input.index: magnitude(x)}  # each live value's largest magnitude
    run = Run({graph.input.index: to_hwc(x.shape)}, {})
    scope: dict[str, Any] = {"torch": torch, "self": model}
    for node in running:
        check = result is not None and checked is not None and node.index not in checked
        if check:
            module = getattr(model, names.attrs[node.index]) if node.index in names.attrs else None
            changed = [graph.nodes[i].name for i in node.inputs if env[i]._version != versions[i]]
            wanted, problem = _expected(node, [env[i] for i in node.inputs], module, training)
        args = [f"v{i}" for i in node.inputs]
        values = {f"v{i}": env[i] for i in node.inputs}
        env[node.index] = eval(expression(node, args, names), scope, values)  # generated from safe names
        run.shapes[node.index] = to_hwc(env[node.index].shape)
        versions[node.index] = env[node.index]._version
        sizes[node.index] = magnitude(env[node.index])
        if node.index in outputs:
            run.values[node.index] = env[node.index]
        if check:
            assert result is not None
            scale = max(sizes[i] for i in (*node.inputs, node.index))
            _record(result, node, env[node.index], wanted, problem if not changed else
                    f"its input `{changed[0]}` was changed in place after it was computed", scale, training)
            del wanted
        del values
        for i in set(node.inputs):
            if last_use[i] == node.index:
                del env[i], sizes[i]
    return run


def _expected(node: Node, inputs: list[torch.Tensor], module: nn.Module | None,
              training: bool) -> tuple[torch.Tensor | str | None, str]:
    """The node's reference output (or, for an op checked by shape only, why), or the problem
    that kept it from being computed."""
    try:
        return expected(node, inputs, module, training), ""
    except ReferenceMismatch as exc:
        return None, str(exc)
    except (RuntimeError, ValueError, IndexError, KeyError, TypeError) as exc:  # e.g. an attribute the op lacks
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return None, f"the reference cannot run: {first}"


def _record(result: Verification, node: Node, actual: torch.Tensor, wanted: torch.Tensor | str | None,
            problem: str, scale: float, training: bool) -> None:
    """Add the node's value check to ``result``, or note it as checked by shape only."""
    if to_hwc(actual.shape) != (node.shape or ()):
        return  # reported as a wrong shape
    if isinstance(wanted, str) and not problem:
        key = f"{node.op}, training mode" if training else node.op
        result.shape_only[key] = wanted
        result.shape_only_nodes += 1
    elif problem or wanted is None or isinstance(wanted, str):
        result.values.append(ValueCheck(node.name, node.text, problem=problem, training=training))
    else:
        check = compare(node.name, node.text, actual, wanted, scale)
        check.training = training
        result.values.append(check)


# float32 values: differences are relative to the largest magnitude among the node's inputs and
# its output (a sum of many terms is off by a few units in the last place of the largest)
RELATIVE_TOLERANCE = 1e-4


def compare(name: str, text: str, actual: torch.Tensor, wanted: torch.Tensor, scale: float) -> ValueCheck:
    """The largest difference between ``actual`` and ``wanted`` (equal infinities and NaNs agree),
    against a tolerance relative to ``scale``, the largest finite magnitude around the node (its
    inputs and its output)."""
    tolerance = RELATIVE_TOLERANCE * max(1.0, scale)
    if actual.shape != wanted.shape:
        return ValueCheck(name, text, problem=f"the reference gives {tuple(wanted.shape)}, the module "
                                              f"{tuple(actual.shape)}")
    gap = actual - wanted
    error = float(torch.linalg.vector_norm(gap, math.inf)) if gap.numel() else 0.0
    if not math.isfinite(error):  # rare: overflowed values, which agree where both are inf or NaN
        same = (actual == wanted) | (actual.isnan() & wanted.isnan())
        error = float(torch.where(same, 0.0, gap.double().abs()).amax())
        error = error if error == error else math.inf
    return ValueCheck(name, text, error, tolerance)


def magnitude(t: torch.Tensor) -> float:
    """The largest finite magnitude in ``t`` (0 for none)."""
    if not t.numel() or not t.is_floating_point():
        return float(t.abs().amax()) if t.numel() else 0.0
    largest = float(torch.linalg.vector_norm(t, math.inf))
    if math.isfinite(largest):
        return largest
    finite = t[torch.isfinite(t)]
    return float(finite.abs().amax()) if finite.numel() else 0.0
