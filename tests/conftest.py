"""Shared helpers: the spec folder, golden files with an overwrite flag, running the CLI."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
GOLDENS = Path(__file__).resolve().parent / "goldens"


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist the workers already share the cores: each worker's PyTorch (and the
    processes it starts) runs one intra-op thread instead of one per core, which would
    oversubscribe the machine and slow every tensor-heavy test. An explicit setting is kept."""
    workers = os.environ.get("PYTEST_XDIST_WORKER_COUNT")
    if workers and int(workers) > 1:
        os.environ.setdefault("OMP_NUM_THREADS", "1")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-goldens", action="store_true", help="rewrite golden files from the current output")


@pytest.fixture
def golden(request: pytest.FixtureRequest):
    """``golden(name, text)`` compares ``text`` with tests/goldens/name, or rewrites it."""
    update = request.config.getoption("--update-goldens")

    def compare(name: str, text: str) -> None:
        path = GOLDENS / name
        if update or not path.exists():
            if not update:
                pytest.fail(f"golden file {name} is missing: run pytest --update-goldens")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        assert text == path.read_text(encoding="utf-8"), f"output differs from tests/goldens/{name}"

    return compare


def run_cli(*args: str, cwd: Path | None = None) -> tuple[int, str, str]:
    """Run ``archlang`` in this process; returns (status, stdout, stderr)."""
    from archlang.cli import main

    out, err = io.StringIO(), io.StringIO()
    old = os.getcwd()
    try:
        if cwd:
            os.chdir(cwd)
        with redirect_stdout(out), redirect_stderr(err):
            try:
                status = main(list(args))
            except SystemExit as exc:  # argparse
                status = int(exc.code or 0)
    finally:
        os.chdir(old)
    return status, out.getvalue(), err.getvalue()


def run_process(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run ``python -m archlang.cli`` as a separate process."""
    return subprocess.run([sys.executable, "-m", "archlang.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def torchvision():
    """torchvision, imported with `torch.library.register_fake` made a no-op: the build that fits the
    pinned CPU torch registers fake kernels for operators this torch does not define."""
    import importlib

    import torch

    pytest.importorskip("PIL", reason="torchvision needs Pillow")
    original = torch.library.register_fake
    torch.library.register_fake = lambda *args, **kwargs: (lambda fn: fn)
    try:
        return importlib.import_module("torchvision")
    except ImportError as exc:
        pytest.skip(f"torchvision is not installed: {exc}")
    finally:
        torch.library.register_fake = original


# Specs whose published input makes a forward pass take seconds: the tests that run every spec
# run these smaller, as (parameters, input) for `archlang.api.load` (the figures at full size are
# held by test_v2_specs.py, which only analyses).
REDUCED = {
    "convnext_tiny": (None, (64, 64, 3)),
    "deeplabv3_mobilenet_v3_large": ({"res": 64}, None),
    "efficientnet_v2_s": ({"res": 64}, None),
    "fcn_resnet50": ({"res": 64}, None),
    "yolov8": ({"res": 128}, None),
}


def outputs_of(result) -> list:
    """The tensors a compiled model returns, in order: one tensor, a tuple, or a dict's values."""
    if isinstance(result, dict):
        return list(result.values())
    if isinstance(result, (tuple, list)):
        return list(result)
    return [result]
