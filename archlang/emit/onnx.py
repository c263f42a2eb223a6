"""Exporting a compiled model to ONNX, with a dynamic batch axis.

This uses PyTorch's TorchScript-based exporter (``dynamo=False``): it needs only the ``onnx``
package and works offline, where the newer ``torch.export`` path also needs ``onnxscript``.
PyTorch marks that exporter as deprecated; its output is checked against onnxruntime in the tests.
"""

from __future__ import annotations

import io
import os
import warnings

import torch
from torch import nn

from ..core.atomic import write_atomically

OPSET = 17


class OnnxExportError(ValueError):
    """PyTorch's exporter cannot express the model in ONNX (for example an adaptive pooling whose
    output size does not divide its input size)."""
INPUT_NAME, OUTPUT_NAME = "input", "output"


def example_batch(model: nn.Module, batch: int = 2) -> torch.Tensor:
    """A random batch shaped as the compiled model's input (its graph rides along)."""
    from .build import example_input

    return example_input(model.archlang_graph, batch)  # type: ignore[arg-type]


def output_names(model: nn.Module) -> list[str]:
    """The ONNX outputs: ``output`` for a model with one eval-mode output, else the outputs' names
    (a dict's keys, or the tensors' names of a tuple), in the order ``forward`` returns them."""
    graph = getattr(model, "archlang_graph", None)
    outputs = graph.outputs_in(False) if graph is not None else []
    if len(outputs) <= 1 and not (graph is not None and graph.keyed):
        return [OUTPUT_NAME]
    return [o.name if o.name != INPUT_NAME else f"{o.name}_out" for o in outputs]


def export_onnx(model: nn.Module, path: str | os.PathLike, example: torch.Tensor | None = None) -> None:
    """Write ``model`` (in eval mode) to ``path`` as ONNX; the first axis of the input and the
    output is named ``batch`` and left dynamic, so one file serves every batch size."""
    try:
        import onnx  # noqa: F401  (the exporter needs it; say so before tracing)
    except ImportError:
        raise ModuleNotFoundError("ONNX export needs the `onnx` package: `pip install onnx`", name="onnx") from None
    x = example if example is not None else example_batch(model)
    names = output_names(model)
    was_training = model.training
    model.eval()
    buffer = io.BytesIO()
    try:
        with warnings.catch_warnings():
            # the exporter's own deprecation notices (see the module docstring)
            warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.onnx")
            warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export.*")
            torch.onnx.export(model, (x,), buffer, dynamo=False, opset_version=OPSET,
                              input_names=[INPUT_NAME], output_names=names,
                              dynamic_axes={INPUT_NAME: {0: "batch"}, **{n: {0: "batch"} for n in names}})
    except torch.onnx.errors.OnnxExporterError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise OnnxExportError(first.split(" Please feel free")[0]) from None
    finally:
        model.train(was_training)
    write_atomically(os.fspath(path), buffer.getvalue())
