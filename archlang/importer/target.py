"""What ``archlang import MODULE:CALLABLE`` imports, and the input it traces with.

The target is imported and called like ``python -c "from MODULE import CALLABLE; CALLABLE()"``:
this runs the user's own code, by design. The current directory is searched first, as ``python``
does for a script in it."""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

from ..core.errors import ArchError, Diagnostic, Severity


def _usage(message: str, help: str | None = None) -> ArchError:
    return ArchError([Diagnostic(Severity.ERROR, message, None, help=help, code="usage")])


def parse_input(text: str) -> tuple[int, ...]:
    """``CxHxW`` or ``HxWxC`` (or ``N`` features) -> PyTorch's ``(C, H, W)``. The channels are the
    end that is smaller than both other sizes; ``3x224x224`` and ``224x224x3`` are the same input,
    and where neither end stands out (``32x32x32``) the archlang order ``HxWxC`` is read."""
    try:
        dims = tuple(int(d) for d in text.lower().split("x"))
    except ValueError:
        raise _usage(f"`--input {text}` is not CxHxW, HxWxC or N", "for example `--input 3x224x224`") from None
    if len(dims) not in (1, 3) or min(dims) < 1:
        raise _usage(f"`--input {text}` is not CxHxW, HxWxC or N with positive sizes",
                     "for example `--input 3x224x224`")
    if len(dims) == 3 and dims[0] < min(dims[1:]) and not dims[2] < min(dims[:2]):
        return dims
    return (dims[2], dims[0], dims[1]) if len(dims) == 3 else dims


def load_target(target: str) -> Any:
    """The model ``MODULE:CALLABLE`` names: a module instance as is, else the result of calling it."""
    module_name, sep, attribute = target.partition(":")
    if not sep or not module_name or not attribute:
        raise _usage(f"`{target}` is not MODULE:CALLABLE", "for example `torchvision.models:resnet50`")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise _usage(f"cannot import `{module_name}`: {exc}") from None
    value: Any = module
    for part in attribute.split("."):
        if not hasattr(value, part):
            raise _usage(f"`{module_name}` has no `{attribute}`")
        value = getattr(value, part)
    from torch import nn

    if isinstance(value, nn.Module):
        return value
    if not callable(value):
        raise _usage(f"`{target}` is neither a module nor callable")
    try:
        model = value()
    except Exception as exc:  # the user's constructor: report it, not a traceback of ours
        raise _usage(f"calling `{target}()` raised {type(exc).__name__}: {exc}") from None
    if not isinstance(model, nn.Module):
        raise _usage(f"`{target}()` returned a {type(model).__name__}, not a torch.nn.Module")
    return model
