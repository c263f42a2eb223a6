"""Graph to readable PyTorch source: one ``nn.Module`` class, modules registered in spec order,
a straight-line ``forward`` with named tensors. ``archlang.compile`` executes this very source,
so the generated file and the in-memory model cannot drift apart."""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass

from ..core.ir import Graph, Node
from ..core.opdef import MergeDef, OpDef
from ..sema.naming import numbered
from ..ops import INPLACE_ACTIVATIONS
from ..core.shapes import fmt

_LOCAL_RESERVED = frozenset({"self", "torch", "nn", "x", "input"})
# Attributes that a generated model must not shadow: archlang's own, and (see
# :func:`module_reserved`) every attribute of ``nn.Module``.
_ARCHLANG_ATTRIBUTES = frozenset({"archlang_graph", "archlang_source", "FROZEN_NORMS"})
_CLASS_RESERVED = frozenset({"Module", "Tensor", "torch", "nn"})


def module_reserved() -> frozenset[str]:
    """Names a module attribute cannot take: everything ``nn.Module`` defines (methods such as
    ``to_empty`` or ``register_forward_hook``, and the attributes an instance sets in
    ``__init__``), and archlang's own."""
    from torch import nn

    instance = nn.Module()
    names = set(dir(nn.Module)) | set(vars(instance))
    return frozenset(n for n in names if n.isidentifier()) | _ARCHLANG_ATTRIBUTES


def class_name(network: str) -> str:
    """``resnet`` -> ``Resnet``, ``tiny_unet`` -> ``TinyUnet``; always a safe identifier."""
    words = re.findall(r"[A-Za-z0-9]+", network)
    name = "".join(w[:1].upper() + w[1:] for w in words)
    if not name or not name[0].isalpha():
        name = "Network" + name
    reserved = keyword.iskeyword(name) or keyword.issoftkeyword(name) or name in _CLASS_RESERVED
    return name + "Net" if reserved else name


def identifier(text: str, reserved: frozenset[str] = frozenset()) -> str:
    """A valid, non-keyword, ASCII Python identifier for a spec name."""
    ident = re.sub(r"\W|[^\x00-\x7f]", "_", text.replace(".", "_"))
    if not ident or ident[0].isdigit() or ident.startswith("_"):
        ident = "m" + ident
    while keyword.iskeyword(ident) or keyword.issoftkeyword(ident) or ident in reserved:
        ident += "_"
    return ident


def comment(text: str) -> str:
    """Spec text made safe for a one-line comment or a docstring: printable, on one line, and
    without quotes or backslashes that could end a string early."""
    printable = "".join(ch if ch.isprintable() else " " for ch in text)
    return printable.replace("\\", "/").replace('"', "'")


@dataclass
class Plan:
    """Names chosen for one graph: module attributes and forward-pass variables."""

    attrs: dict[int, str]
    vars: dict[int, str]
    inplace: set[int]
    dead_after: dict[int, list[str]]  # variables to `del` after a node: their tensor is no longer needed


def plan(graph: Graph) -> Plan:
    attrs: dict[int, str] = {}
    taken: set[str] = set()
    for node in graph.layers:
        if node.has_module:
            attrs[node.index] = _unique(identifier(node.name, module_reserved()), taken)
    consumers = graph.consumers()
    last_use = {i: max(uses) if uses else i for i, uses in consumers.items()}
    last_use[graph.output] = len(graph.nodes)  # the output lives until `return`
    names = _variables(graph, last_use)
    return Plan(attrs, names, _inplace(graph, consumers), _dead_after(graph, last_use, names))


def _unique(name: str, taken: set[str]) -> str:
    candidate = numbered(name, taken)
    taken.add(candidate)
    return candidate


def _variables(graph: Graph, last_use: dict[int, int]) -> dict[int, str]:
    """A variable per node's output, named after the node's innermost scope (``x`` at the top
    level, else the binding, block or branch). A name is reused once the value it holds is dead,
    so a straight chain reads ``x = ...; x = ...`` and memory stays as low as hand-written code's."""
    names: dict[int, str] = {0: "x"}
    live: dict[str, int] = {"x": 0}
    for node in graph.layers:
        for i in node.inputs:
            if last_use[i] == node.index and live.get(names[i]) == i:
                del live[names[i]]
        base = _scope_prefix(node) or "x"
        name = numbered(base, live)
        names[node.index] = name
        live[name] = node.index
    return names


def _dead_after(graph: Graph, last_use: dict[int, int], names: dict[int, str]) -> dict[int, list[str]]:
    """Where a tensor's last reader does not overwrite its variable, free it there, as returning
    from a hand-written submodule would."""
    dead: dict[int, list[str]] = {}
    for node in graph.layers:
        for i in dict.fromkeys(node.inputs):
            if i != 0 and last_use[i] == node.index and names[i] != names[node.index]:
                dead.setdefault(node.index, []).append(names[i])
    return dead


def _scope_prefix(node: Node) -> str:
    """The innermost scope's name: `branch1`, `bottleneck1`, `e1`. Names recur from block to
    block, so a dead tensor is overwritten soon instead of being held until forward returns."""
    return identifier(node.frames[-1].name, _LOCAL_RESERVED) if node.frames else ""


def inplace_activations(graph: Graph) -> set[int]:
    """The activations the generated model runs in place (without naming anything, so without
    the torch import that the reserved module names need)."""
    return _inplace(graph, graph.consumers())


def _inplace(graph: Graph, consumers: dict[int, list[int]]) -> set[int]:
    chosen: set[int] = set()
    for node in graph.layers:
        if node.op not in INPLACE_ACTIVATIONS or len(node.inputs) != 1:
            continue
        producer = graph.nodes[node.inputs[0]]
        reusable = isinstance(producer.definition, (OpDef, MergeDef)) and producer.definition.output_reusable
        if reusable and consumers[producer.index] == [node.index] and (
                producer.index != graph.output):
            chosen.add(node.index)
    return chosen


def generate(graph: Graph, p: Plan | None = None) -> str:
    """The whole standalone source file for ``graph`` (named by ``p``, or by a fresh plan)."""
    p = p or plan(graph)
    cls = class_name(graph.name)
    total = sum(n.params for n in graph.layers)
    lines = [
        f'"""{cls}: PyTorch model generated by archlang from {comment(graph.file)!s:.200}.',
        "",
        f"Input {fmt(graph.input.shape)} (HxWxC; the module takes {_torch_layout(graph.input.shape)}),",
        f"output {fmt(graph.nodes[graph.output].shape)}, {total:,} parameters.",
        '"""',
        "",
        "import torch",
        "from torch import nn",
        "",
        "",
        f"class {cls}(nn.Module):",
    ]
    frozen_norms = [p.attrs[n.index] for n in graph.layers if not n.trainable and n.op == "bn"]
    if frozen_norms:
        lines += ["    # batch norms inside `freeze(...)` keep their running statistics in train mode",
                  f"    FROZEN_NORMS = {tuple(frozen_norms)!r}", ""]
    lines += _init(graph, p) + [""] + _forward(graph, p)
    if frozen_norms:
        lines += ["", "    def train(self, mode: bool = True) -> \"nn.Module\":",
                  "        super().train(mode)",
                  "        for name in self.FROZEN_NORMS:",
                  "            getattr(self, name).eval()",
                  "        return self"]
    return "\n".join(lines) + "\n"


def _torch_layout(shape: tuple[int, ...] | None) -> str:
    if shape and len(shape) == 3:
        return f"N x {shape[2]} x {shape[0]} x {shape[1]}"
    return f"N x {shape[0]}" if shape else "N x ?"


def _init(graph: Graph, p: Plan) -> list[str]:
    lines = ["    def __init__(self) -> None:", "        super().__init__()"]
    for node in graph.layers:
        if node.index not in p.attrs:
            continue
        op = node.definition
        assert isinstance(op, OpDef)
        attrs = dict(node.attrs, inplace=node.index in p.inplace)
        ctor = op.torch(graph.nodes[node.inputs[0]].shape, node.shape, attrs)  # type: ignore[arg-type]
        lines.append(f"        self.{p.attrs[node.index]} = {ctor}  # {comment(node.text)} -> {fmt(node.shape)}")
    frozen = [p.attrs[n.index] for n in graph.layers if not n.trainable and n.index in p.attrs and n.params]
    if frozen:
        lines.append("        for frozen in (" + "".join(f"self.{a}, " for a in frozen) + "):")
        lines.append("            frozen.requires_grad_(False)")
    return lines


def _forward(graph: Graph, p: Plan) -> list[str]:
    lines = ["    def forward(self, x: torch.Tensor) -> torch.Tensor:"]
    for node in graph.layers:
        args = [p.vars[i] for i in node.inputs]
        lines.append(f"        {p.vars[node.index]} = {expression(node, args, p)}")
        if node.index in p.dead_after:
            lines.append(f"        del {', '.join(p.dead_after[node.index])}")
    lines.append(f"        return {p.vars[graph.output]}")
    return lines


def expression(node: Node, args: list[str], p: Plan) -> str:
    """The Python expression computing ``node`` from the variables ``args``, as ``forward`` writes it."""
    op = node.definition
    if isinstance(op, MergeDef):
        return op.torch(args)
    assert isinstance(op, OpDef)
    if op.forward is not None:
        return op.forward.format(x=args[0], **node.attrs)
    return f"self.{p.attrs[node.index]}({args[0]})"
