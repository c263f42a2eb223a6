"""archlang: a declarative architecture compiler and shape checker for convolutional networks.

``check`` needs no torch; ``compile`` and ``load_weights`` import it when first called.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .api import check
from .errors import ArchError, Diagnostic
from .report import Report, Row, Totals

__all__ = ["ArchError", "Diagnostic", "Report", "Row", "Totals", "check", "compile", "load_model",
           "load_weights", "source"]
__version__ = "0.1.0"

if TYPE_CHECKING:  # pragma: no cover
    import torch


def compile(spec: Any, **params: float) -> "torch.nn.Module":  # noqa: A001 - the natural name
    """Build the PyTorch module a spec describes. ``spec`` is a path or the spec's text;
    keyword arguments override header parameters, as ``-D`` does."""
    from .api import load
    from .torch_backend import build_module

    return build_module(load(spec, params))


def source(spec: Any, **params: float) -> str:
    """The standalone Python source of the model, as ``archlang compile`` writes it."""
    from .api import load
    from .codegen import generate

    return generate(load(spec, params))


def load_weights(model: Any, checkpoint: Any, *, skip: Any = (), strict: bool = False) -> Any:
    """Copy a state dict (a dict, or a ``.pt``/``.pth`` file) into ``model`` by registration
    order and shape; returns a report of what was copied and what could not be placed."""
    from .weights import load_weights as _load

    return _load(model, checkpoint, skip=skip, strict=strict)


def load_model(path: Any) -> "torch.nn.Module":
    """A model saved by ``archlang compile --save``, rebuilt from its saved source, weights loaded."""
    from .weights import load_model as _load

    return _load(path)
