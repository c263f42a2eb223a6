"""Names from a spec never shadow what ``nn.Module`` or archlang define, and class names are
never Python keywords."""

from __future__ import annotations

import keyword
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from archlang.emit.codegen import NN_MODULE_ATTRIBUTES, class_name, module_reserved  # noqa: E402
from conftest import run_cli, write  # noqa: E402

NAMES = ["to_empty", "register_forward_hook", "archlang_graph", "archlang_source", "training", "forward",
         "requires_grad", "state_dict", "half", "zero_grad", "apply", "bfloat16", "named_modules"]


def test_every_nn_module_attribute_is_reserved() -> None:
    expected = {n for n in dir(torch.nn.Module) if n.isidentifier()} | set(vars(torch.nn.Module()))
    assert expected <= module_reserved()
    assert {"archlang_graph", "archlang_source"} <= module_reserved()
    # the snapshot used where torch is not imported; a generated name never starts with `_` (and
    # torch.compile adds private attributes to nn.Module at run time)
    assert {n for n in expected if not n.startswith("_")} <= NN_MODULE_ATTRIBUTES


@pytest.mark.parametrize("name", NAMES)
def test_a_binding_named_like_a_module_attribute_verifies(tmp_path: Path, name: str) -> None:
    spec = write(tmp_path, "net.arch", f"input 4\n{name} = fc 3\nrelu\n")
    status, out, err = run_cli("compile", str(spec), "--verify")
    assert status == 0 and "verified: 2 layer shapes, 2 layer values, 15 parameters" in out, err
    status, source, _ = run_cli("compile", str(spec))
    assert (f"self.{name} =" in source) == (name not in module_reserved())


@pytest.mark.parametrize("network", ["None", "True", "False", "match", "Module", "nn", "torch"])
def test_class_names_are_never_keywords(tmp_path: Path, network: str) -> None:
    name = class_name(network)
    assert name.isidentifier() and not keyword.iskeyword(name) and name not in ("Module", "Tensor", "nn", "torch")
    spec = write(tmp_path, f"{network}.arch", "input 4\nfc 3\n")
    status, out, err = run_cli("compile", str(spec), "--verify")
    assert status == 0 and "verified" in out, err
    header = write(tmp_path, "net.arch", f"network {network}\ninput 4\nfc 3\n")
    status, out, err = run_cli("compile", str(header), "--verify")
    assert status == 0 and "verified" in out, err
