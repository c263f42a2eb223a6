"""Header parameters as keyword arguments of the generated class: one that only sets numbers in
the constructors (``classes``) builds the same model as analysing the spec with that value; one
that shapes the layers (``depth``) is accepted only at the value the class was generated for."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

import archlang
from archlang.api import load
from archlang.emit.codegen import constructor_arguments
from conftest import SPECS

RESNET = SPECS / "resnet.arch"


def same_model(ours: nn.Module, reference: nn.Module, x: torch.Tensor) -> None:
    """Same state-dict keys and shapes; with the reference's weights copied in, the same outputs."""
    assert {k: v.shape for k, v in ours.state_dict().items()} == {
        k: v.shape for k, v in reference.state_dict().items()}
    ours.load_state_dict(reference.state_dict())
    with torch.no_grad():
        assert torch.equal(ours.eval()(x), reference.eval()(x))


def test_classes_is_an_argument_and_builds_the_analysed_model() -> None:
    cls = type(archlang.compile(RESNET, depth=18))
    reference = archlang.compile(RESNET, depth=18, classes=10)
    model = cls(classes=10)
    assert model.head_fc1.out_features == 10
    assert sum(p.numel() for p in model.parameters()) == archlang.check(RESNET, depth=18, classes=10).totals.params
    same_model(model, reference, torch.randn(1, 3, 224, 224))
    assert "nn.Linear(512, classes)" in cls.archlang_source


def test_a_structural_parameter_with_another_value_is_a_clear_error() -> None:
    cls = type(archlang.compile(RESNET, depth=18))
    assert isinstance(cls(depth=18), nn.Module)  # its own value is accepted
    with pytest.raises(ValueError) as caught:
        cls(depth=50, classes=10)
    message = str(caught.value)
    assert "generated for depth=18" in message
    assert "`-D depth=50`" in message and "archlang.compile(spec, depth=50)" in message
    with pytest.raises(TypeError):  # keyword-only: a positional value cannot go to the wrong one
        cls(18)


def test_which_parameters_are_arguments() -> None:
    def kinds(spec: Path, **params: float) -> dict[str, bool]:
        return {a.param: a.structural for a in constructor_arguments(load(spec, params)).arguments}

    assert kinds(RESNET) == {"depth": True, "classes": False}
    assert kinds(SPECS / "vgg.arch") == {"depth": True, "bn": True, "classes": False}
    assert kinds(SPECS / "alexnet.arch") == {"classes": False, "dropout": False}
    assert constructor_arguments(load(SPECS / "tiny_unet.arch")).arguments == ()
    # `--input` replacing the spec's input: the probes keep it
    assert {a.param: a.structural for a in constructor_arguments(
        load(RESNET, {"depth": 18}, input_shape=(64, 64, 3))).arguments} == {"depth": True, "classes": False}


def test_float_argument_and_several_arguments() -> None:
    cls = type(archlang.compile(SPECS / "alexnet.arch"))
    model = cls(classes=7, dropout=0.25)
    drops = [m.p for m in model.modules() if isinstance(m, nn.Dropout)]
    assert drops and all(p == 0.25 for p in drops)
    reference = archlang.compile(SPECS / "alexnet.arch", classes=7, dropout=0.25)
    assert [m.p for m in reference.modules() if isinstance(m, nn.Dropout)] == drops
    same_model(model, reference, torch.randn(1, 3, 224, 224))


SPEC = """network probe(self = 3, frozen = 7, c = 2, w = 4)
input 8x8x3
conv 3x3 x(c * 4 + 1) -> relu -> conv 1x1 x(self) -> conv 1x1 x(w * 3 - 5) -> gap -> flatten -> fc (frozen - c)
"""


@pytest.mark.parametrize("values", [{"self": 5}, {"frozen": 9}, {"w": 3}, {"self": 2, "frozen": 11, "w": 6}])
def test_affine_expressions_and_python_names(values: dict[str, int]) -> None:
    source = archlang.source(SPEC)
    assert "def __init__(self, *, self_: int = 3, frozen_: int = 7, c: int = 2, w: int = 4)" in source
    assert "nn.Linear(3 * w - 5, frozen_ - 2)" in source  # `c` also moves the fc: it stays fixed
    cls = type(archlang.compile(SPEC))
    model = cls(**{k + "_" if k in ("self", "frozen") else k: v for k, v in values.items()})
    same_model(model, archlang.compile(SPEC, **values), torch.randn(2, 3, 8, 8))
    with pytest.raises(ValueError, match="-D c=3"):
        cls(c=3)


def test_generated_file_takes_arguments_without_archlang(tmp_path: Path) -> None:
    path = tmp_path / "lenet_model.py"
    path.write_text(archlang.source(SPECS / "lenet5.arch"))
    reference = archlang.compile(SPECS / "lenet5.arch", classes=3)
    script = f"""
import sys, importlib.util
sys.modules['archlang'] = None  # archlang must not be needed to use the generated file
spec = importlib.util.spec_from_file_location('m', {str(path)!r})
m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
print({{k: tuple(v.shape) for k, v in m.Lenet5(classes=3).state_dict().items()}})
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert eval(result.stdout) == {k: tuple(v.shape) for k, v in reference.state_dict().items()}


def test_exported_with_an_argument() -> None:
    model = type(archlang.compile(SPECS / "lenet5.arch"))(classes=3).eval()
    x = torch.randn(2, 1, 32, 32)
    exported = torch.export.export(model, (x,))
    with torch.no_grad():
        out = exported.module()(x)
        assert out.shape == (2, 3) and torch.allclose(out, model(x))


def test_specs_without_parameters_keep_a_plain_constructor() -> None:
    source = archlang.source(SPECS / "tiny_unet.arch")
    assert "    def __init__(self) -> None:\n" in source and "Arguments:" not in source


def test_a_parameter_that_moves_nothing_costs_one_analysis(monkeypatch: pytest.MonkeyPatch) -> None:
    """Its near value leaves the model as it is: structural whatever the far value would do, so
    the far value is not analysed. A parameter that sets the input size under global pooling
    (`res`) is one; `classes` still takes both probes."""
    from archlang.emit import arguments as probing

    analysed: list[dict[str, float]] = []
    original = probing._analysed

    def counting(graph, params, pinned):  # type: ignore[no-untyped-def]
        analysed.append(dict(params))
        return original(graph, params, pinned)

    monkeypatch.setattr(probing, "_analysed", counting)
    spec = "network n(unused = 3, res = 32, classes = 10)\ninput (res)x(res)x3\nconv 3x3 x8 -> gap -> flatten -> fc classes\n"
    found = {a.param: a.structural for a in constructor_arguments(archlang.api.analyse(spec)).arguments}
    assert found == {"unused": True, "res": True, "classes": False}
    assert [p for p in analysed if p["unused"] != 3] == [{"unused": 4, "res": 32, "classes": 10}]
    assert [p for p in analysed if p["res"] != 32] == [{"unused": 3, "res": 33, "classes": 10}]
    assert len([p for p in analysed if p["classes"] != 10]) == 2
