"""The generated source of a few specs, verbatim: a change to codegen shows in review as a diff
of these files (rewrite them with `pytest --update-goldens` when the change is intended)."""

from __future__ import annotations

import pytest

from archlang.api import load
from archlang.emit.codegen import generate
from conftest import SPECS

CASES = {"lenet5": {}, "resnet18": {"depth": 18}, "tiny_unet": {}, "inception_module": {}}


@pytest.mark.parametrize("name", sorted(CASES))
def test_generated_source_is_unchanged(name: str, golden) -> None:
    spec = "resnet" if name.startswith("resnet") else name
    graph = load(SPECS / f"{spec}.arch", CASES[name])
    golden(f"source/{name}.py", generate(graph).replace(str(SPECS), "specs"))
