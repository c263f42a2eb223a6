"""Round-trip checks shared by the import tests: a model imported as a spec must check to its
parameter count and conv/fc multiply-accumulates (counted here with forward hooks), and the compiled
spec must take its whole state dict by order and shape and compute the same outputs."""

from __future__ import annotations

import torch
from torch import nn

import archlang


def hooked_macs(model: nn.Module, x: torch.Tensor) -> int:
    """Multiply-accumulates of every Conv2d and Linear for one sample, from the tensors PyTorch makes."""
    total = 0

    def count(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        nonlocal total
        per_sample = output[0].numel()
        if isinstance(module, nn.Conv2d):
            kh, kw = module.kernel_size
            total += per_sample * (module.in_channels // module.groups) * kh * kw
        else:
            total += per_sample * module.in_features

    hooks = [m.register_forward_hook(count) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        model(x[:1])
    for h in hooks:
        h.remove()
    return total


def round_trip(model: nn.Module, input_shape: tuple[int, ...], atol: float = 1e-5) -> str:
    """Import ``model``, hold the spec against it, and return the spec's text."""
    model.eval()
    text = archlang.from_torch(model, input_shape)
    x = torch.randn(2, *input_shape)
    report = archlang.check(text)
    assert report.totals.params == sum(p.numel() for p in model.parameters())
    assert report.totals.mults == hooked_macs(model, x)
    compiled = archlang.compile(text).eval()
    weights = archlang.load_weights(compiled, model.state_dict())
    assert weights.complete, weights.summary()
    assert len(weights.copied) == len(model.state_dict()) == len(compiled.state_dict())
    with torch.no_grad():
        expected, got = model(x), compiled(x)
    assert got.shape == expected.shape
    scale = max(1.0, float(expected.abs().max()))
    assert float((got - expected).abs().max()) <= atol * scale, float((got - expected).abs().max())
    return text
