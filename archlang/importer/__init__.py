"""Importing a PyTorch model as an ``.arch`` spec: ``torch.fx`` symbolic tracing with shape
propagation, then the traced steps written as chains, combinators and parameterised blocks.

Importing runs the model's own Python code (its constructor and a traced forward): point it only
at code you trust, as you would ``python -c "import yourmodule"``."""

from __future__ import annotations

import re
from typing import Sequence

from torch import nn

from ..core.errors import ArchError, Diagnostic, Severity
from .structure import CONTAINERS, NotSeriesParallel, Structurer, snake
from .trace import TraceFailure, Traced, Unsupported, trace
from .write import Writer

__all__ = ["from_torch"]


def from_torch(model: nn.Module, input_shape: Sequence[int], *, name: str | None = None,
               source: str | None = None) -> str:
    """The ``.arch`` text of ``model``, traced on an input of ``input_shape`` in PyTorch's order
    without the batch: ``(C, H, W)`` for images, ``(features,)`` for vectors (a leading batch
    dimension, ``(N, C, H, W)``, is accepted and ignored).

    The spec checks to the model's parameter count, and ``archlang.compile`` of it loads the
    model's ``state_dict`` by order and shape. Raises :class:`archlang.ArchError` listing every
    operation archlang cannot express, each with the qualified name of the module it is in."""
    shape = tuple(int(d) for d in input_shape)
    if len(shape) == 4:
        shape = shape[1:]
    if len(shape) not in (1, 3) or min(shape) < 1:
        raise ValueError(f"input_shape must be (C, H, W) or (features,), got {tuple(input_shape)}")
    try:
        traced = trace(model, shape)
    except TraceFailure as exc:
        raise ArchError([Diagnostic(Severity.ERROR, f"torch.fx cannot trace the model: {exc}", None,
                                    help="archlang imports models whose forward torch.fx can trace symbolically "
                                    "(no control flow that depends on tensor values)")]) from None
    problems = list(traced.problems)
    structure = Structurer(traced)
    problems += [Unsupported(s.scope, _owner(traced, s.scope), "a result that the output does not use")
                 for s in traced.steps if s.index in structure.dead and s.layers]
    text = ""
    if not problems:
        try:
            text = _text(traced, structure, model, shape, name, source)
        except NotSeriesParallel as exc:
            scope = str(exc)
            problems.append(Unsupported(scope, _owner(traced, scope), "a data flow that is not a nesting of branches",
                                        "archlang writes joins whose branches start from one tensor; "
                                        "name the shared tensors by hand"))
    if problems:
        raise ArchError([_diagnostic(p) for p in problems])
    return text


def _owner(traced: Traced, scope: str) -> str:
    return traced.classes[scope].__name__ if scope in traced.classes else "the model"


def _diagnostic(p: Unsupported) -> Diagnostic:
    where = f"`{p.scope}` ({p.owner})" if p.scope else f"the forward of {p.owner}"
    return Diagnostic(Severity.ERROR, f"cannot import {p.what} in {where}", None, help=p.help)


def _hwc(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, (shape[1], shape[2], shape[0]) if len(shape) == 3 else shape))


def _text(traced: Traced, structure: Structurer, model: nn.Module, shape: tuple[int, ...], name: str | None,
          source: str | None) -> str:
    writer = Writer(structure)
    statements = writer.statements()
    blocks = writer.blocks_text()
    network = _network_name(name or type(model).__name__)
    params = sum(p.numel() for p in model.parameters())
    header = [f"# {network}: imported from {source or type(model).__name__} by `archlang import`",
              f"# {params:,} parameters; input {_hwc(shape)}, shapes are HxWxC"]
    header += [f"# note: {n}" for n in _left_out(traced, model)]
    lines = header + [f"network {network}", f"input {_hwc(shape)}", ""]
    if blocks:
        lines += blocks + [""]
    lines += statements
    return "\n".join(lines) + "\n"


def _network_name(text: str) -> str:
    name = snake(re.sub(r"\W", "_", text))
    return name if name.isidentifier() else "imported"


def _left_out(traced: Traced, model: nn.Module) -> list[str]:
    """Modules without parameters that never run, and torchvision's stochastic depth (the identity in
    eval mode), so that the spec says what it leaves out instead of dropping it silently."""
    idle: dict[str, list[str]] = {}
    for qualified, module in model.named_modules():
        if (qualified and qualified not in traced.ran and not any(True for _ in module.parameters())
                and type(module) not in CONTAINERS):
            idle.setdefault(type(module).__name__, []).append(qualified)
    for scope, what in traced.identities:
        idle.setdefault(what, []).append(scope)
    notes = []
    for cls, names in idle.items():
        where = f"`{names[0]}`" + (f" and {len(names) - 1} more" if len(names) > 1 else "")
        if cls == "stochastic depth":
            notes.append(f"{cls} ({where}) is the identity in eval mode and is left out; "
                         "`droppath` comes with version 2 of the language")
        else:
            notes.append(f"{cls} ({where}) has no parameters and does not run in forward")
    return notes
