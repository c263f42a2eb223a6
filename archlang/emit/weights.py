"""Reusing trained weights: copy a state dict into a compiled model by registration order and
shape, and save or load a compiled model together with its source."""

from __future__ import annotations

import io
import os
import stat
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

import torch
from torch import nn

from ..core.atomic import write_atomically

SAVE_FORMAT = "archlang-model/2"


@dataclass
class WeightReport:
    """What :func:`load_weights` did, tensor by tensor."""

    copied: list[tuple[str, str]] = field(default_factory=list)  # (model key, checkpoint key)
    skipped: list[str] = field(default_factory=list)  # model keys left fresh on purpose
    missing: list[str] = field(default_factory=list)  # model keys nothing could fill
    unused: list[str] = field(default_factory=list)  # checkpoint keys placed nowhere

    @property
    def complete(self) -> bool:
        return not self.missing and not self.unused

    def summary(self) -> str:
        """What happened, one line per group of tensors (a module), so that even a report on
        hundreds of tensors reads at a glance."""
        lines = [f"copied {len(self.copied)} tensors"]
        if self.skipped:
            lines.append(f"left {len(self.skipped)} fresh on purpose: {_grouped_inline(self.skipped)}")
        if self.missing:
            lines.append(f"found nothing for {len(self.missing)}:")
            lines += _grouped_lines(self.missing)
        if self.unused:
            lines.append(f"could not place {len(self.unused)} from the checkpoint:")
            lines += _grouped_lines(self.unused)
        return "\n".join(lines)


MAX_REPORT_GROUPS = 20


def _groups(keys: list[str]) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for key in keys:
        module, _, suffix = key.rpartition(".")
        groups.setdefault(module or suffix, []).append(suffix if module else "")
    return groups


def _grouped_lines(keys: list[str]) -> list[str]:
    groups = list(_groups(keys).items())
    lines = [f"  {module}: {', '.join(s for s in suffixes if s)}".rstrip(": ") for module, suffixes in
             groups[:MAX_REPORT_GROUPS]]
    if len(groups) > MAX_REPORT_GROUPS:
        rest = sum(len(s) for _, s in groups[MAX_REPORT_GROUPS:])
        lines.append(f"  ... and {rest} more in {len(groups) - MAX_REPORT_GROUPS} more modules")
    return lines


def _grouped_inline(keys: list[str]) -> str:
    groups = _groups(keys)
    shown = [f"{m} ({', '.join(s for s in suffixes if s)})" for m, suffixes in list(groups.items())[:MAX_REPORT_GROUPS]]
    more = f" and {len(groups) - MAX_REPORT_GROUPS} more modules" if len(groups) > MAX_REPORT_GROUPS else ""
    return ", ".join(shown) + more


def matches_nothing(prefixes: Iterable[str], keys: Iterable[str]) -> list[str]:
    """The ``skip`` prefixes that name no module among ``keys``."""
    keys = list(keys)
    return [p for p in prefixes if not any(_skipped(k, (p,)) for k in keys)]


def read_state_dict(checkpoint: Any) -> Mapping[str, torch.Tensor]:
    """A state dict from a dict, a module, or a ``.pt``/``.pth`` file (plain, or wrapped in
    ``{"state_dict": ...}`` / ``{"model": ...}``, or saved by ``archlang compile --save``)."""
    if isinstance(checkpoint, nn.Module):
        return checkpoint.state_dict()
    if isinstance(checkpoint, (str, os.PathLike)):
        checkpoint = read_checkpoint(checkpoint)
    if isinstance(checkpoint, Mapping):
        for key in ("state_dict", "model", "model_state_dict"):
            inner = checkpoint.get(key)
            if isinstance(inner, Mapping):
                return _tensors(inner)
        return _tensors(checkpoint)
    raise TypeError(f"cannot read a state dict from {type(checkpoint).__name__}")


def _tensors(state: Mapping[Any, Any]) -> dict[str, torch.Tensor]:
    """The tensor entries of a state dict (an ``epoch`` or a config beside them is not one)."""
    tensors = {str(k): v for k, v in state.items() if isinstance(v, torch.Tensor)}
    if state and not tensors:
        raise ValueError("the checkpoint holds no tensors")
    return tensors


def read_checkpoint(path: str | os.PathLike) -> Any:
    """``torch.load`` with tensors and plain data only (``weights_only``); a file that is not a
    readable checkpoint raises :class:`ValueError` with the reason, whatever failed inside."""
    if not stat.S_ISREG(os.stat(path).st_mode):  # a FIFO would block, a device never end
        raise ValueError(f"`{os.fspath(path)}` is not a regular file")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except OSError:
        raise
    except Exception as exc:  # torch.load fails in many ways on a corrupt file: EOF, pickle, zip
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"`{os.fspath(path)}` is not a readable PyTorch checkpoint ({first[:200]})") from None


# what PyTorch's own layers call their tensors; anything else is a module's own parameter
LAYER_TENSORS = frozenset({"weight", "bias", "running_mean", "running_var", "num_batches_tracked"})


def _own_parameter(key: str, tensor: torch.Tensor, source: list[tuple[str, torch.Tensor]],
                   skipped: list[str]) -> int | None:
    """For a model tensor that is a module's own parameter (a layer scale's ``gamma``), the newest
    checkpoint tensor of its shape that was skipped over and is one too (``layer_scale``). PyTorch
    lists a module's own parameters before its submodules' (torchvision's ConvNeXt block puts
    ``layer_scale`` before the convolution that runs first), so by order it has been passed."""
    if _suffix(key) in LAYER_TENSORS:
        return None
    index = {k: j for j, (k, _) in enumerate(source)}
    for name in reversed(skipped):
        j = index[name]
        if _suffix(name) not in LAYER_TENSORS and tuple(source[j][1].shape) == tuple(tensor.shape):
            return j
    return None


def _suffix(key: str) -> str:
    return key.rsplit(".", 1)[-1]


def _skipped(key: str, prefixes: tuple[str, ...]) -> bool:
    module = key.rsplit(".", 1)[0]
    return any(module == p or module.startswith(p + "_") or module.startswith(p + ".") for p in prefixes)


BY = ("order", "name")  # how load_weights pairs tensors


def load_weights(model: nn.Module, checkpoint: Any, *, skip: str | Iterable[str] = (),
                 strict: bool = False, by: str = "order") -> WeightReport:
    """Copy ``checkpoint``'s tensors into ``model``. ``by="order"``: in registration order, each
    model tensor takes the next checkpoint tensor of the same kind (weight, bias, running mean,
    ...) and shape; a module's own parameter (a layer scale's ``gamma``), which PyTorch lists before
    its submodules, takes the newest skipped-over one of its shape. ``by="name"``: each takes the checkpoint tensor of its layer's dotted name
    (``c2f1.cv1.conv.weight``; see :func:`layer_keys`), whatever the checkpoint's order.
    ``skip`` names modules (attribute prefixes) to leave freshly initialised, such as a new head.
    With ``strict``, anything missing or unused raises ``ValueError``."""
    if by not in BY:
        raise ValueError(f"by must be one of {', '.join(BY)}, not {by!r}")
    prefixes = (skip,) if isinstance(skip, str) else tuple(skip)
    source = list(read_state_dict(checkpoint).items())
    target = model.state_dict()
    if by == "name":
        return _by_name(model, source, target, prefixes, strict)
    report = WeightReport()
    position = 0
    updates: dict[str, torch.Tensor] = {}
    for key, tensor in target.items():
        if _skipped(key, prefixes):
            report.skipped.append(key)
            continue
        match = next((j for j in range(position, len(source))
                      if _suffix(source[j][0]) == _suffix(key) and tuple(source[j][1].shape) == tuple(tensor.shape)),
                     None)
        if match is None:
            match = _own_parameter(key, tensor, source, report.unused)
            if match is None:
                report.missing.append(key)
            else:  # taken from those skipped over: it stays where it was in the checkpoint's order
                report.unused.remove(source[match][0])
                updates[key] = source[match][1]
                report.copied.append((key, source[match][0]))
            continue
        report.unused += [k for k, _ in source[position:match]]
        updates[key] = source[match][1]
        report.copied.append((key, source[match][0]))
        position = match + 1
    report.unused += [k for k, _ in source[position:]]
    if strict and not report.complete:
        raise ValueError(report.summary())
    with torch.no_grad():
        for key, value in updates.items():
            target[key].copy_(value)
    return report


def _normal(key: str) -> str:
    """A key with dots and underscores alike: archlang's flat attribute names (``c2f1_cv1_conv``)
    meet a nested module's dotted ones (``c2f1.cv1.conv``)."""
    return key.replace(".", "_")


def layer_keys(model: nn.Module) -> dict[str, str]:
    """Model state-dict key -> the same key under the layer's dotted name, for a model compiled
    by archlang (``c2f1_cv1_conv.weight`` -> ``c2f1.cv1.conv.weight``); other keys map to themselves."""
    graph = getattr(model, "archlang_graph", None)
    keys = {k: k for k in model.state_dict()}
    if graph is None:
        return keys
    from .codegen import plan

    dotted = {attr: graph.nodes[i].name for i, attr in plan(graph).attrs.items()}
    for key in keys:
        attr, dot, rest = key.partition(".")
        if attr in dotted:
            keys[key] = dotted[attr] + dot + rest
    return keys


def _by_name(model: nn.Module, source: list[tuple[str, torch.Tensor]], target: dict[str, torch.Tensor],
             prefixes: tuple[str, ...], strict: bool) -> WeightReport:
    report = WeightReport()
    exact = dict(source)
    normal: dict[str, str] = {}
    for key, _ in source:
        normal.setdefault(_normal(key), key)
    used: set[str] = set()
    updates: dict[str, torch.Tensor] = {}
    for key, name in layer_keys(model).items():
        if _skipped(key, prefixes):
            report.skipped.append(key)
            continue
        found = next((k for k in (name, key) if k in exact), None) or normal.get(_normal(name))
        tensor = target[key]
        if found is None or found in used or tuple(exact[found].shape) != tuple(tensor.shape):
            report.missing.append(key)
            continue
        used.add(found)
        updates[key] = exact[found]
        report.copied.append((key, found))
    report.unused = [k for k, _ in source if k not in used]
    if strict and not report.complete:
        raise ValueError(report.summary())
    with torch.no_grad():
        for key, value in updates.items():
            target[key].copy_(value)
    return report


def save_model(model: nn.Module, path: str | os.PathLike, inputs: Iterable[str | os.PathLike] = ()) -> None:
    """Save the model's spec (its text, the files it `use`s, its parameters and input shape)
    and weights; :func:`load_model` rebuilds it from them without the spec files and without
    running any code stored in the file."""
    graph = getattr(model, "archlang_graph", None)
    if graph is None:
        raise TypeError("only models built by archlang can be saved with their spec")
    payload = {"format": SAVE_FORMAT, "class": type(model).__name__, "spec": spec_description(graph),
               "state_dict": model.state_dict()}
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    write_atomically(os.fspath(path), buffer.getvalue(), inputs=inputs)


def spec_description(graph: Any) -> dict[str, Any]:
    """Plain data (strings and numbers) from which archlang analyses the same network again."""
    return {"file": graph.file, "origin": graph.origin, "text": graph.sources[graph.file],
            "files": dict(graph.files), "params": dict(graph.params),
            "input": list(graph.input.shape or ())}


def load_model(path: str | os.PathLike) -> nn.Module:
    """A model saved by ``archlang compile --save``: its spec, stored in the file, is analysed
    again and the model generated from it, then the weights are loaded. Nothing in the file is
    executed; a file that is not such a model raises :class:`ValueError`."""
    payload = read_checkpoint(path)
    where = os.fspath(path)
    if not isinstance(payload, Mapping) or payload.get("format") not in (SAVE_FORMAT, _OLD_FORMAT):
        raise ValueError(f"{where} was not saved by `archlang compile --save`")
    if payload.get("format") == _OLD_FORMAT:
        raise ValueError(f"{where} was saved by an older archlang, with Python source that archlang no "
                         "longer runs; compile its spec again with `--weights` and `--save`")
    spec = _checked_spec(payload.get("spec"), where)
    from ..api import analyse
    from ..core.errors import ArchError
    from .build import build_module

    try:
        graph = analyse(spec["text"], spec["file"], spec["params"], tuple(spec["input"]) or None,
                        files=spec["files"], origin=spec["origin"])
    except ArchError as exc:
        raise ValueError(f"the spec stored in {where} does not analyse:\n{exc.render()}") from None
    model = build_module(graph)
    state = payload.get("state_dict")
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{where} holds no state dict of tensors")
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise ValueError(f"the weights in {where} do not fit its spec: {str(exc).splitlines()[0]}") from None
    return model


_OLD_FORMAT = "archlang-model/1"


def _checked_spec(spec: Any, where: str) -> dict[str, Any]:
    """The stored spec description, each field of the type it must have."""
    def strings(value: Any) -> bool:
        return isinstance(value, Mapping) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())

    ok = (isinstance(spec, Mapping) and all(isinstance(spec.get(k), str) for k in ("file", "origin", "text"))
          and strings(spec.get("files"))
          and isinstance(spec.get("params"), Mapping)
          and all(isinstance(k, str) and type(v) in (int, float) for k, v in spec["params"].items())
          and isinstance(spec.get("input"), list) and len(spec["input"]) in (0, 1, 3)
          and all(type(d) is int and d > 0 for d in spec["input"]))
    if not ok:
        raise ValueError(f"{where} has no valid spec description")
    return dict(spec)
