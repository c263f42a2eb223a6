"""Measures the reference figures that the version 2 specs must reproduce, and writes them to
tests/v2_figures.json.

For each torchvision model (and the hand-written YOLOv8 reference): parameters as
``sum(p.numel())``, trainable parameters, the multiply-accumulates of every convolution and linear
layer that runs (counted with forward hooks at the spec's input size, in eval mode, and for
GoogLeNet also in training mode, where its auxiliary classifiers run), and the output shapes.

Needs torchvision 0.28.0 (``pip install --no-deps torchvision==0.28.0``, plus numpy for its import)
and is run by hand: ``python tests/references/measure_torchvision.py``. The tests read the JSON and
never need torchvision themselves.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

HERE = Path(__file__).resolve().parent
FIGURES = HERE.parent / "v2_figures.json"

# name -> (constructor keyword arguments, input H = W, the spec that must reproduce it)
TORCHVISION: dict[str, tuple[dict[str, Any], int, str]] = {
    "convnext_tiny": ({}, 224, "specs/convnext_tiny.arch"),
    "googlenet": ({"aux_logits": True, "init_weights": False}, 224, "specs/googlenet_aux.arch"),
    "fcn_resnet50": ({"aux_loss": True, "weights_backbone": None}, 520, "specs/fcn_resnet50.arch"),
    "deeplabv3_mobilenet_v3_large": ({"aux_loss": True, "weights_backbone": None}, 520,
                                     "specs/deeplabv3_mobilenet_v3_large.arch"),
    "efficientnet_v2_s": ({}, 384, "specs/efficientnet_v2_s.arch"),
    "regnet_y_400mf": ({}, 224, "specs/regnet_y_400mf.arch"),
    "mobilenet_v3_large": ({}, 224, "specs/mobilenet_v3_large.arch"),
}


def import_torchvision() -> Any:
    """torchvision 0.28.0 registers fake kernels with an API this CPU torch build lacks; a no-op
    decorator in its place lets the models import (no custom operator runs here)."""
    torch.library.register_fake = lambda *args, **kwargs: (lambda fn: fn)  # type: ignore[assignment]
    import torchvision

    return torchvision


def count_mults(model: nn.Module, run: Callable[[], Any], batch: int) -> tuple[int, Any]:
    """Multiply-accumulates per sample (``run`` feeds ``batch`` samples) of the convolutions and linear layers that ``run`` executes:
    a convolution's output elements times (C / groups) * kh * kw, a linear layer's output elements
    times its input features (per pixel when applied to a channels-last map)."""
    total = 0

    def conv_hook(module: nn.Conv2d, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        nonlocal total
        kh, kw = module.kernel_size
        total += output.numel() * (module.in_channels // module.groups) * kh * kw

    def linear_hook(module: nn.Linear, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        nonlocal total
        total += output.numel() * module.in_features

    hooks = []
    for module in model.modules():
        if isinstance(module, nn.ConvTranspose2d):
            raise NotImplementedError("no reference here has transposed convolutions")
        if isinstance(module, nn.Conv2d):
            hooks.append(module.register_forward_hook(conv_hook))
        elif isinstance(module, nn.Linear):
            hooks.append(module.register_forward_hook(linear_hook))
    try:
        with torch.no_grad():
            result = run()
    finally:
        for hook in hooks:
            hook.remove()
    assert total % batch == 0, total
    return total // batch, result


def shapes(result: Any) -> list[dict[str, Any]]:
    """Output names and shapes (without the batch dimension, PyTorch layout and HxWxC)."""
    if isinstance(result, torch.Tensor):
        items = [(None, result)]
    elif isinstance(result, dict):
        items = list(result.items())
    else:
        items = [(getattr(result, "_fields", [None] * len(result))[i], t) for i, t in enumerate(result)]
    described = []
    for name, tensor in items:
        shape = list(tensor.shape[1:])
        hwc = "x".join(map(str, shape[1:] + shape[:1])) if len(shape) == 3 else str(shape[0])
        described.append({"name": name, "shape": shape, "hwc": hwc})
    return described


def measure(model: nn.Module, size: int, train_too: bool = False, device: str = "cpu") -> dict[str, Any]:
    """The figures of one model at ``size x size x 3`` (batch of two, divided back to one).
    ``device="meta"`` runs shapes only: the same counts in a fraction of the time."""
    params = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    torch.manual_seed(0)
    model = model.to(device)
    x = torch.randn(2, 3, size, size, device=device)
    mults, result = count_mults(model.eval(), lambda: model(x), batch=len(x))
    figures: dict[str, Any] = {"input": f"{size}x{size}x3", "params": params, "trainable": trainable,
                               "mults": mults, "outputs": shapes(result)}
    if train_too:
        train_mults, train_result = count_mults(model.train(), lambda: model(x), batch=len(x))
        model.eval()
        figures["train_mults"] = train_mults
        figures["train_outputs"] = shapes(train_result)
    return figures


def measure_all(device: str = "cpu") -> dict[str, Any]:
    """Every reference's figures, keyed by model name."""
    torchvision = import_torchvision()
    sys.path.insert(0, str(HERE.parent))
    from references.yolov8 import SCALES, yolov8

    figures: dict[str, Any] = {
        "_about": "measured by tests/references/measure_torchvision.py with torch "
                  f"{torch.__version__} and torchvision {torchvision.__version__}; mults are per "
                  "sample, conv and linear multiply-accumulates of the layers that run",
    }
    for name, (kwargs, size, spec) in TORCHVISION.items():
        torch.manual_seed(0)
        model = getattr(torchvision.models, name, None) or getattr(torchvision.models.segmentation, name)
        built = model(weights=None, **kwargs)
        figures[name] = {"spec": spec, "kwargs": kwargs,
                         **measure(built, size, train_too=name == "googlenet", device=device)}
        print(name, figures[name]["params"], figures[name]["mults"], flush=True)
    for scale in SCALES:
        name = f"yolov8{scale}"
        figures[name] = {"spec": "specs/yolov8.arch", "variant": scale,
                         **measure(yolov8(scale), 640, device=device)}
        print(name, figures[name]["params"], figures[name]["mults"], flush=True)
    return figures


if __name__ == "__main__":
    FIGURES.write_text(json.dumps(measure_all(), indent=2) + "\n", encoding="utf-8")
    print(f"wrote {FIGURES}")
