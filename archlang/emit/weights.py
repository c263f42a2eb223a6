"""Reusing trained weights: copy a state dict into a compiled model by registration order and
shape, and save or load a compiled model together with its source."""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

import torch
from torch import nn

from ..core.atomic import write_atomically

SAVE_FORMAT = "archlang-model/1"


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
        lines = [f"copied {len(self.copied)} tensors"]
        if self.skipped:
            lines.append(f"left {len(self.skipped)} fresh on purpose: {', '.join(self.skipped)}")
        if self.missing:
            lines.append(f"found nothing for {len(self.missing)}: {', '.join(self.missing)}")
        if self.unused:
            lines.append(f"could not place {len(self.unused)} from the checkpoint: {', '.join(self.unused)}")
        return "\n".join(lines)


def read_state_dict(checkpoint: Any) -> Mapping[str, torch.Tensor]:
    """A state dict from a dict, a module, or a ``.pt``/``.pth`` file (plain, or wrapped in
    ``{"state_dict": ...}`` / ``{"model": ...}``, or saved by ``archlang compile --save``)."""
    if isinstance(checkpoint, nn.Module):
        return checkpoint.state_dict()
    if isinstance(checkpoint, (str, os.PathLike)):
        checkpoint = torch.load(checkpoint, map_location="cpu", weights_only=True)
    if isinstance(checkpoint, Mapping):
        for key in ("state_dict", "model", "model_state_dict"):
            inner = checkpoint.get(key)
            if isinstance(inner, Mapping):
                return inner
        return checkpoint
    raise TypeError(f"cannot read a state dict from {type(checkpoint).__name__}")


def _suffix(key: str) -> str:
    return key.rsplit(".", 1)[-1]


def _skipped(key: str, prefixes: tuple[str, ...]) -> bool:
    module = key.rsplit(".", 1)[0]
    return any(module == p or module.startswith(p + "_") or module.startswith(p + ".") for p in prefixes)


def load_weights(model: nn.Module, checkpoint: Any, *, skip: str | Iterable[str] = (),
                 strict: bool = False) -> WeightReport:
    """Copy ``checkpoint``'s tensors into ``model`` in registration order: each model tensor takes
    the next checkpoint tensor of the same kind (weight, bias, running mean, ...) and shape.
    ``skip`` names modules (attribute prefixes) to leave freshly initialised, such as a new head.
    With ``strict``, anything missing or unused raises ``ValueError``."""
    prefixes = (skip,) if isinstance(skip, str) else tuple(skip)
    source = list(read_state_dict(checkpoint).items())
    target = model.state_dict()
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
            report.missing.append(key)
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


def save_model(model: nn.Module, path: str | os.PathLike, inputs: Iterable[str | os.PathLike] = ()) -> None:
    """Save the model's generated source and weights; :func:`load_model` rebuilds it without the spec."""
    source = getattr(type(model), "archlang_source", None)
    if source is None:
        raise TypeError("only models built by archlang can be saved with their source")
    payload = {"format": SAVE_FORMAT, "class": type(model).__name__, "source": source,
               "state_dict": model.state_dict()}
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    write_atomically(os.fspath(path), buffer.getvalue(), inputs=inputs)


def load_model(path: str | os.PathLike) -> nn.Module:
    """A model saved by ``archlang compile --save``, rebuilt from its source, weights loaded."""
    payload = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(payload, Mapping) or payload.get("format") != SAVE_FORMAT:
        raise ValueError(f"{os.fspath(path)} was not saved by `archlang compile --save`")
    from .build import class_from_source

    model = class_from_source(payload["source"], payload["class"])()
    model.load_state_dict(payload["state_dict"])
    return model
