"""Graph to readable PyTorch source: one ``nn.Module`` class, modules registered in spec order,
a straight-line ``forward`` with named tensors. ``archlang.compile`` executes this very source,
so the generated file and the in-memory model cannot drift apart."""

from __future__ import annotations

import ast
import functools
import keyword
import re
import sys
from pathlib import Path

from ..core.records import dataclass, field

from ..core.ir import Graph, Node, Runs
from ..core.opdef import MergeDef, OpDef
from ..sema.naming import numbered
from ..core.shapes import fmt
from .arguments import Arguments, arguments, substitute
from .inplace import inplace_activations, inplace_merges

_LOCAL_RESERVED = frozenset({"self", "torch", "nn", "x", "input"})
# Attributes that a generated model must not shadow: archlang's own, and (see
# :func:`module_reserved`) every attribute of ``nn.Module``.
_ARCHLANG_ATTRIBUTES = frozenset({"archlang_graph", "archlang_source", "FROZEN_NORMS"})
_CLASS_RESERVED = frozenset({"Module", "Tensor", "torch", "nn"})


# Every attribute of ``nn.Module`` in the pinned torch (2.13), so that writing source needs no
# torch import (seconds); tests/test_reserved_names.py holds it against the installed torch, and
# where torch is already imported its own names are added.
NN_MODULE_ATTRIBUTES = frozenset({
    'T_destination', '__annotations__', '__call__', '__class__', '__delattr__', '__dict__', '__dir__',
    '__doc__', '__eq__', '__format__', '__ge__', '__getattr__', '__getattribute__', '__getstate__', '__gt__',
    '__hash__', '__init__', '__init_subclass__', '__le__', '__lt__', '__module__', '__ne__', '__new__',
    '__reduce__', '__reduce_ex__', '__repr__', '__setattr__', '__setstate__', '__sizeof__', '__str__',
    '__subclasshook__', '__weakref__', '_apply', '_backward_hooks', '_backward_pre_hooks', '_buffers',
    '_call_impl', '_compiled_call_impl', '_forward_hooks', '_forward_hooks_always_called',
    '_forward_hooks_with_kwargs', '_forward_pre_hooks', '_forward_pre_hooks_with_kwargs',
    '_get_backward_hooks', '_get_backward_pre_hooks', '_get_name', '_is_full_backward_hook',
    '_load_from_state_dict', '_load_state_dict_post_hooks', '_load_state_dict_pre_hooks',
    '_maybe_warn_non_full_backward_hook', '_modules', '_named_members', '_non_persistent_buffers_set',
    '_parameters', '_register_load_state_dict_pre_hook', '_register_state_dict_hook',
    '_replicate_for_data_parallel', '_save_to_state_dict', '_slow_forward', '_state_dict_hooks',
    '_state_dict_pre_hooks', '_version', '_wrapped_call_impl', 'add_module', 'apply', 'bfloat16', 'buffers',
    'call_super_init', 'children', 'compile', 'cpu', 'cuda', 'double', 'dump_patches', 'eval', 'extra_repr',
    'float', 'forward', 'get_buffer', 'get_extra_state', 'get_parameter', 'get_submodule', 'half', 'ipu',
    'load_state_dict', 'modules', 'mtia', 'named_buffers', 'named_children', 'named_modules',
    'named_parameters', 'parameters', 'register_backward_hook', 'register_buffer', 'register_forward_hook',
    'register_forward_pre_hook', 'register_full_backward_hook', 'register_full_backward_pre_hook',
    'register_load_state_dict_post_hook', 'register_load_state_dict_pre_hook', 'register_module',
    'register_parameter', 'register_state_dict_post_hook', 'register_state_dict_pre_hook', 'requires_grad_',
    'set_extra_state', 'set_submodule', 'share_memory', 'state_dict', 'to', 'to_empty', 'train', 'training',
    'type', 'xpu', 'zero_grad'
})


def module_reserved() -> frozenset[str]:
    """Names a module attribute cannot take: everything ``nn.Module`` defines (methods such as
    ``to_empty`` or ``register_forward_hook``, and the attributes an instance sets in
    ``__init__``), and archlang's own."""
    names = NN_MODULE_ATTRIBUTES | _ARCHLANG_ATTRIBUTES
    torch = sys.modules.get("torch")
    if torch is not None:
        nn = torch.nn
        names |= {n for n in set(dir(nn.Module)) | set(vars(nn.Module())) if n.isidentifier()}
    return names


RUNTIME = Path(__file__).with_name("runtime.py")  # modules that torch lacks, copied into generated files


@dataclass(frozen=True)
class RuntimeDef:
    """One top-level definition of :mod:`archlang.emit.runtime`: its source (with the comment
    lines just above it) and the names it reads."""

    source: str
    uses: frozenset[str]
    is_class: bool


@functools.cache
def runtime_classes() -> frozenset[str]:
    """The names of the runtime's top-level classes, read with a pattern (no parse)."""
    return frozenset(re.findall(r"^class (\w+)", RUNTIME.read_text(encoding="utf-8"), flags=re.MULTILINE))


@functools.cache
def runtime_defs() -> dict[str, RuntimeDef]:
    """The top-level classes, functions and constants of :mod:`archlang.emit.runtime`, by name, in
    file order; read as text, so that generating source imports no torch."""
    text = RUNTIME.read_text(encoding="utf-8")
    lines = text.splitlines()
    defs: dict[str, RuntimeDef] = {}
    for node in ast.parse(text).body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef)):
            names = [node.name]
        elif isinstance(node, ast.Assign):
            names = [target.id for target in node.targets if isinstance(target, ast.Name)]
        else:
            continue  # the docstring and the imports
        first = node.lineno - 1
        while first > 0 and lines[first - 1].startswith("#") and not lines[first - 1].startswith("# ---"):
            first -= 1
        source = "\n".join(lines[first:node.end_lineno])
        uses = frozenset(n.id for n in ast.walk(node) if isinstance(n, ast.Name))
        for name in names:
            defs[name] = RuntimeDef(source, uses, isinstance(node, ast.ClassDef))
    return defs


def runtime_needed(init: list[str]) -> list[str]:
    """The runtime definitions that the constructors in ``init`` call, with everything they
    read, in file order."""
    # the code, not its comments; each distinct constructor once (a deep network repeats a few)
    called = _called_names("\n".join({_code_called(line) for line in init}))
    if not called & runtime_classes():  # plain torch.nn modules only: no need to parse the runtime
        return []
    defs = runtime_defs()
    wanted = [name for name, d in defs.items() if d.is_class and name in called]
    needed: set[str] = set()
    while wanted:
        name = wanted.pop()
        if name not in needed:
            needed.add(name)
            wanted += [used for used in defs[name].uses if used in defs]
    return [name for name in defs if name in needed]


def _code_called(line: str) -> str:
    """The code of a line of ``__init__`` that may call something: an assignment's right side, or
    the whole line; never its comment."""
    code = line.split("  # ")[0]
    return code.partition(" = ")[2] or code


def _called_names(code: str) -> set[str]:
    """Every name followed by ``(`` in ``code``: one scan of the whole constructor, however long."""
    return set(re.findall(r"\b([A-Za-z_]\w*)\(", code))


def _helpers(needed: list[str]) -> list[str]:
    """The source of the runtime definitions ``needed``, each followed by two blank lines."""
    lines: list[str] = []
    for source in dict.fromkeys(runtime_defs()[name].source for name in needed):
        lines += source.splitlines() + ["", ""]
    return lines


def class_name(network: str) -> str:
    """``resnet`` -> ``Resnet``, ``tiny_unet`` -> ``TinyUnet``; always a safe identifier."""
    words = re.findall(r"[A-Za-z0-9]+", network)
    name = "".join(w[:1].upper() + w[1:] for w in words)
    if not name or not name[0].isalpha():
        name = "Network" + name
    reserved = (keyword.iskeyword(name) or keyword.issoftkeyword(name) or name in _CLASS_RESERVED
                or name in runtime_defs())  # a generated file defines the runtime classes it uses
    return name + "Net" if reserved else name


def identifier(text: str, reserved: frozenset[str] = frozenset()) -> str:
    """A valid, non-keyword, ASCII Python identifier for a spec name."""
    ident = text.replace(".", "_")
    if not (ident.isascii() and ident.isidentifier()):
        ident = re.sub(r"\W|[^\x00-\x7f]", "_", ident)
    if not ident or ident[0].isdigit() or ident.startswith("_"):
        ident = "m" + ident
    while keyword.iskeyword(ident) or keyword.issoftkeyword(ident) or ident in reserved:
        ident += "_"
    return ident


def comment(text: str) -> str:
    """Spec text made safe for a one-line comment or a docstring: printable, on one line, and
    without quotes or backslashes that could end a string early."""
    printable = text if text.isprintable() else "".join(ch if ch.isprintable() else " " for ch in text)
    return printable.replace("\\", "/").replace('"', "'")


@dataclass
class Plan:
    """Names chosen for one graph: module attributes and forward-pass variables."""

    attrs: dict[int, str]
    vars: dict[int, str]
    inplace: set[int]
    dead_after: dict[int, list[str]]  # variables to `del` after a node: their tensor is no longer needed
    # merges that overwrite one operand (node -> the operand's position), as `out += identity` does
    inplace_merges: dict[int, int] = field(default_factory=dict)


def plan(graph: Graph) -> Plan:
    attrs: dict[int, str] = {}
    taken: set[str] = set()
    reserved = module_reserved()  # once per graph: it can build an nn.Module
    for node in graph.layers:
        if node.has_module:
            attrs[node.index] = _unique(identifier(node.name, reserved), taken)
    consumers = graph.consumers()
    last_use = {i: max(uses) if uses else i for i, uses in consumers.items()}
    for out in graph.outputs:
        last_use[out.node] = len(graph.nodes)  # the outputs live until `return`
    names = _variables(graph, last_use)
    return Plan(attrs, names, inplace_activations(graph, consumers), _dead_after(graph, last_use, names),
                inplace_merges(graph, consumers))


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


def generate(graph: Graph, p: Plan | None = None) -> str:
    """The whole standalone source file for ``graph`` (named by ``p``, or by a fresh plan)."""
    p = p or plan(graph)
    cls = class_name(graph.name)
    args = constructor_arguments(graph)
    total = sum(n.params for n in graph.layers)
    lines = [
        f'"""{cls}: PyTorch model generated by archlang from {comment(graph.file)!s:.200}.',
        "",
        f"Input {fmt(graph.input.shape)} (HxWxC; the module takes {_torch_layout(graph.input.shape)}),",
        f"{_outputs_doc(graph)}, {total:,} parameters.",
        *_arguments_doc(args),
        '"""',
        "",
    ]
    init = _init(graph, p, args)
    needed = runtime_needed(init)
    if any("math" in runtime_defs()[name].uses for name in needed):
        lines.append("import math")
    lines += ["import torch", "from torch import nn", "", ""] + _helpers(needed) + [f"class {cls}(nn.Module):"]
    frozen_norms = [p.attrs[n.index] for n in graph.layers if not n.trainable and n.op == "bn"]
    if frozen_norms:
        lines += ["    # batch norms inside `freeze(...)` keep their running statistics in train mode",
                  f"    FROZEN_NORMS = {tuple(frozen_norms)!r}", ""]
    lines += init + [""] + _forward(graph, p)
    if frozen_norms:
        lines += ["", "    def train(self, mode: bool = True) -> \"nn.Module\":",
                  "        super().train(mode)",
                  "        for name in self.FROZEN_NORMS:",
                  "            getattr(self, name).eval()",
                  "        return self"]
    return "\n".join(lines) + "\n"


def _arguments_doc(args: Arguments) -> list[str]:
    """The docstring's line on the constructor's arguments, if there are any."""
    if not args.arguments:
        return []
    shown = [f"{a.name}={a.default!r}" + (" (fixed: it shapes the layers)" if a.structural else "")
             for a in args.arguments]
    return [f"Arguments: {', '.join(shown)}."]


def _torch_layout(shape: tuple[int, ...] | None) -> str:
    if shape and len(shape) == 3:
        return f"N x {shape[2]} x {shape[0]} x {shape[1]}"
    return f"N x {shape[0]}" if shape else "N x ?"


def _init(graph: Graph, p: Plan, args: Arguments) -> list[str]:
    """``__init__``: the header parameters as keyword arguments (a structural one is checked
    against the value the class was generated for), then the modules in spec order."""
    lines = [f"    def __init__(self{_signature(args)}) -> None:", "        super().__init__()"]
    cls = class_name(graph.name)
    for a in args.arguments:
        if a.structural:
            shown = comment(a.param)
            lines += [f"        if {a.name} != {a.default!r}:  # `{shown}` shapes the layers",
                      f'            raise ValueError(f"{cls} was generated for {shown}={a.default!r}; for {shown}={{{a.name}!r}}, "',
                      f'                             f"generate it again with `-D {shown}={{{a.name}!r}}` "',
                      f'                             f"(or archlang.compile(spec, {shown}={{{a.name}!r}}))")']
    for i, line in enumerate(_modules(graph, p)):
        lines.append(substitute(line, args.literals[i]) if i in args.literals else line)
    return lines + _frozen(graph, p)


def _signature(args: Arguments) -> str:
    if not args.arguments:
        return ""
    return ", *, " + ", ".join(f"{a.name}: {type(a.default).__name__} = {a.default!r}" for a in args.arguments)


def _modules(graph: Graph, p: Plan) -> list[str]:
    """One line per module: its constructor, and the spec text and shape as a comment."""
    lines = []
    for node in graph.layers:
        if node.index not in p.attrs:
            continue
        op = node.definition
        assert isinstance(op, OpDef)
        attrs = dict(node.resolved, inplace=node.index in p.inplace)
        ctor = op.torch(graph.nodes[node.inputs[0]].shape, node.shape, attrs)  # type: ignore[arg-type]
        lines.append(f"        self.{p.attrs[node.index]} = {ctor}  # {comment(node.text)} -> {fmt(node.shape)}")
    return lines


def _frozen(graph: Graph, p: Plan) -> list[str]:
    frozen = [p.attrs[n.index] for n in graph.layers if not n.trainable and n.index in p.attrs and n.params]
    if not frozen:
        return []
    return ["        for frozen in (" + "".join(f"self.{a}, " for a in frozen) + "):",
            "            frozen.requires_grad_(False)"]


def _comparable(graph: Graph) -> tuple[list[str], list[str]]:
    """What probing a header parameter compares: the constructors without their comments,
    and the rest of the code, which must not change."""
    p = plan(graph)
    ctors = [line.split("  # ")[0] for line in _modules(graph, p)]
    norms = [p.attrs[n.index] for n in graph.layers if not n.trainable and n.op == "bn"]
    return ctors, _frozen(graph, p) + _forward(graph, p) + norms


def constructor_arguments(graph: Graph) -> Arguments:
    """The generated class's keyword arguments for ``graph``'s header parameters."""
    reserved = _LOCAL_RESERVED | {"super", "frozen", "math", "ValueError"} | set(runtime_defs())
    return arguments(graph, _comparable, frozenset(reserved))


def _forward(graph: Graph, p: Plan) -> list[str]:
    """``forward``: the nodes that run in eval mode, those that run only in training under
    ``if self.training:``, none of those that feed no output; then the return."""
    lines = [f"    def forward(self, x: torch.Tensor) -> {_return_type(graph)}:"]
    for node in graph.layers:
        if node.runs == Runs.NEVER:
            continue
        indent = "        " if node.runs == Runs.ALWAYS else "            "
        if node.runs == Runs.TRAINING and not lines[-1].startswith("            "):
            lines.append("        if self.training:")
        args = [p.vars[i] for i in node.inputs]
        lines.append(f"{indent}{p.vars[node.index]} = {expression(node, args, p)}")
        if node.index in p.dead_after:
            lines.append(f"{indent}del {', '.join(p.dead_after[node.index])}")
    training, evaluation = graph.outputs_in(True), graph.outputs_in(False)
    if len(training) != len(evaluation):
        lines += ["        if self.training:", f"            return {_returned(graph, training, p)}"]
    lines.append(f"        return {_returned(graph, evaluation, p)}")
    return lines


def _returned(graph: Graph, outputs: list, p: Plan) -> str:
    """What ``forward`` returns in one mode: one output plainly, several as a tuple, named ones
    as a dict."""
    if graph.keyed:
        return "{" + ", ".join(f"{o.name!r}: {p.vars[o.node]}" for o in outputs) + "}"
    if len(outputs) == 1:
        return p.vars[outputs[0].node]
    return "(" + ", ".join(p.vars[o.node] for o in outputs) + ")"


def _return_type(graph: Graph) -> str:
    if graph.keyed:
        return "dict[str, torch.Tensor]"
    counts = {len(graph.outputs_in(True)), len(graph.outputs_in(False))}
    types = ["torch.Tensor" if n == 1 else "tuple[torch.Tensor, ...]" for n in sorted(counts)]
    return " | ".join(types)


def _outputs_doc(graph: Graph) -> str:
    if len(graph.outputs) <= 1:
        return f"output {fmt(graph.nodes[graph.output].shape)}"
    return "outputs " + ", ".join(f"{o.name} {fmt(graph.nodes[o.node].shape)}"
                                  + (" (training)" if o.training_only else "") for o in graph.outputs)


def expression(node: Node, args: list[str], p: Plan) -> str:
    """The Python expression computing ``node`` from the variables ``args``, as ``forward`` writes it."""
    op = node.definition
    if isinstance(op, MergeDef):
        position = p.inplace_merges.get(node.index)
        if position is not None and op.torch_inplace is not None:  # the overwritten operand first
            return op.torch_inplace([args[position]] + args[:position] + args[position + 1:])
        return op.torch(args)
    assert isinstance(op, OpDef)
    if op.forward is not None:
        return op.forward.format(x=args[0], **node.resolved)
    return f"self.{p.attrs[node.index]}({args[0]})"
