"""The light install: without PyTorch, `check` works and the commands that need PyTorch say which
extra to install (exit 2). PyTorch is hidden with `sys.modules['torch'] = None`, which makes any
`import torch` fail as it would on a machine without it."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import ROOT, SPECS

BLOCK_TORCH = "import sys; sys.modules['torch'] = None; from archlang.cli import main; sys.exit(main(sys.argv[1:]))"


def run_without_torch(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCK_TORCH, *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)


def test_check_works_without_torch() -> None:
    run = run_without_torch("check", str(SPECS / "lenet5.arch"))
    assert run.returncode == 0, run.stderr
    assert "61,706" in run.stdout


@pytest.mark.parametrize("args", [
    ("compile", str(SPECS / "lenet5.arch")),
    ("compile", str(SPECS / "lenet5.arch"), "--onnx", "m.onnx"),
    ("import", "torchvision.models:resnet18"),
], ids=["compile", "onnx", "import"])
def test_torch_commands_name_the_extra(args: tuple[str, ...]) -> None:
    run = run_without_torch(*args)
    assert run.returncode == 2
    assert run.stderr.splitlines() == [
        f"error: `archlang {args[0]}` needs PyTorch, which is not installed",
        'help: install PyTorch with archlang\'s `torch` extra: `pip install "archlang[torch]"`']
    assert run.stdout == ""


def test_api_names_the_extra() -> None:
    code = ("import sys; sys.modules['torch'] = None; import archlang\n"
            "try:\n    archlang.compile('specs/lenet5.arch')\n"
            "except ModuleNotFoundError as exc:\n    print(exc.name, exc)\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert run.stdout.strip() == ("torch archlang.compile needs PyTorch, which is not installed; install PyTorch "
                                  'with archlang\'s `torch` extra: `pip install "archlang[torch]"`')


def test_light_requirements_leave_torch_to_the_extras() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    names = [r.split(">")[0].split("=")[0] for r in project["dependencies"]]
    assert names == ["lark", "rich", "shtab", "platformdirs"]  # small and pure Python; no torch, numpy or networkx
    assert any(r.startswith("torch") for r in project["optional-dependencies"]["torch"])
    assert any(r.startswith("torch") for r in project["optional-dependencies"]["test"])
