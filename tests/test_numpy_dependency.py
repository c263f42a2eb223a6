"""torch warns on every import when numpy is missing; archlang declares numpy so that compiling
prints nothing but its own output."""

from __future__ import annotations

from importlib.metadata import requires
from pathlib import Path

from conftest import run_process, write


def test_numpy_is_a_declared_dependency() -> None:
    assert any(r.split(">")[0].split("=")[0].strip() == "numpy" for r in requires("archlang") or [])


def test_compiling_prints_no_numpy_warning(tmp_path: Path) -> None:
    spec = write(tmp_path, "net.arch", "input 4\nfc 3\n")
    result = run_process("compile", str(spec), "--verify")
    assert result.returncode == 0, result.stderr
    assert "NumPy" not in result.stderr and result.stderr == ""
