"""archlang: a declarative architecture compiler and shape checker for convolutional networks.

``check`` needs no torch; ``compile`` and ``load_weights`` import it when first called. This
module is the front door and sits above every stage (see docs/ARCHITECTURE.md): it may import
any of them, and it installs the report's presenter, which the report itself cannot import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .api import Spec, load
from .core import VERSION
from .core.errors import ArchError, Diagnostic
from .emit.present import ReportPresenter
from .report import Report, Row, Totals, present_with

__all__ = ["ArchError", "Diagnostic", "Report", "Row", "Totals", "check", "compile", "from_torch", "load_model",
           "load_weights", "source"]
__version__ = VERSION
present_with(ReportPresenter())

if TYPE_CHECKING:  # pragma: no cover
    import torch


def check(spec: Spec, variant: str | None = None, **params: float) -> Report:
    """Analyse a spec (a path or its text) and return its :class:`Report`: rows and totals, the
    figures of ``archlang check``. ``variant`` picks a `variant` of the spec (as ``-V``);
    keyword arguments override header parameters after it, as ``-D`` does."""
    return Report.of(load(spec, params, variant=variant), variant)


def compile(spec: Any, variant: str | None = None, **params: float) -> "torch.nn.Module":  # noqa: A001
    """Build the PyTorch module a spec describes. ``spec`` is a path or the spec's text;
    ``variant`` and keyword arguments choose header values, as ``-V`` and ``-D`` do."""
    from .core.extras import import_torch_for

    import_torch_for("archlang.compile")
    from .api import read_spec
    from .emit.build import compile_spec

    text, file = read_spec(spec)
    return compile_spec(text, file, params, variant).instantiate()


def source(spec: Any, variant: str | None = None, **params: float) -> str:
    """The standalone Python source of the model, as ``archlang compile`` writes it."""
    from .emit.codegen import generate

    return generate(load(spec, params, variant=variant))


def load_weights(model: Any, checkpoint: Any, *, skip: Any = (), strict: bool = False, by: str = "order") -> Any:
    """Copy a state dict (a dict, or a ``.pt``/``.pth`` file) into ``model``: by registration
    order and shape (``by="order"``), or by the layers' dotted names, labels included
    (``by="name"``); returns a report of what was copied and what could not be placed."""
    from .core.extras import import_torch_for

    import_torch_for("archlang.load_weights")
    from .emit.weights import load_weights as _load

    return _load(model, checkpoint, skip=skip, strict=strict, by=by)


def load_model(path: Any) -> "torch.nn.Module":
    """A model saved by ``archlang compile --save``, rebuilt from its saved source, weights loaded."""
    from .core.extras import import_torch_for

    import_torch_for("archlang.load_model")
    from .emit.weights import load_model as _load

    return _load(path)


def from_torch(model: "torch.nn.Module", input_shape: Any, **options: Any) -> str:
    """The ``.arch`` text of a PyTorch model, traced with ``torch.fx`` on an input of
    ``input_shape`` = ``(C, H, W)`` or ``(features,)``; see :func:`archlang.importer.from_torch`."""
    from .core.extras import import_torch_for

    import_torch_for("archlang.from_torch")
    from .importer import from_torch as _import

    return _import(model, input_shape, **options)
