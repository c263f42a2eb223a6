"""Generated specs for the scaling benchmarks: N layers written as one chain, as a repeat, and as
N tensor bindings."""

from __future__ import annotations

from pathlib import Path

FORMS = ("chain", "repeat", "bindings")


def chain(layers: int) -> str:
    """``layers`` layers written out as one chain, ten to a line."""
    ops = ["conv 1x1 x4" if i % 2 == 0 else "relu" for i in range(layers)]
    lines = [" -> ".join(ops[i:i + 10]) for i in range(0, layers, 10)]
    return "input 8x8x4\n" + "\n-> ".join(lines) + "\n"


def repeat(layers: int) -> str:
    """``(conv 1x1 x4 -> relu) * N``: two layers per repetition."""
    return f"input 8x8x4\n(conv 1x1 x4 -> relu) * {layers // 2}\n"


def bindings(layers: int) -> str:
    """One tensor binding per layer, each reading the one before it."""
    lines = ["input 8x8x4", "t1 = conv 1x1 x4"]
    lines += [f"t{i} = t{i - 1} -> {'conv 1x1 x4' if i % 2 else 'relu'}" for i in range(2, layers + 1)]
    return "\n".join(lines) + "\n"


def deep(layers: int) -> str:
    """The 10,000-layer spec of the render and compile benchmarks: conv, batch norm, relu repeated."""
    return (f"input 32x32x16\n(conv 3x3 same x16 nobias -> bn -> relu) * {(layers - 3) // 3}\n"
            "-> gap -> flatten -> fc 10\n")


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def scaling(folder: Path, form: str, layers: int) -> Path:
    return write(folder, f"{form}_{layers}.arch", {"chain": chain, "repeat": repeat, "bindings": bindings}[form](layers))
