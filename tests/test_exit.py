"""The program's exit (`archlang.cli.run`): it skips the interpreter's teardown, so everything a
normal exit does for others is held here: the exit status, every byte of output in order, the
``atexit`` handlers, and a thread that still runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import write

ROOT = Path(__file__).resolve().parent.parent


def _python(code: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_status_output_and_exit_handlers(tmp_path: Path) -> None:
    good = write(tmp_path, "good.arch", "input 8x8x3\nconv 3x3 x4\n")
    code = ("import atexit, sys\n"
            "atexit.register(lambda: print('handler ran', flush=False))\n"
            "from archlang.cli import run\n"
            f"run(['check', {str(good)!r}])\n")
    result = _python(code, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "6x6x4" in result.stdout and result.stdout.rstrip().endswith("handler ran")


def test_spec_error_status_and_diagnostic(tmp_path: Path) -> None:
    bad = write(tmp_path, "bad.arch", "input 8x8x3\nconv 9x9 x4\n")
    result = _python(f"from archlang.cli import run\nrun(['check', {str(bad)!r}])\n", tmp_path)
    assert result.returncode == 1
    assert "bad.arch:2:" in result.stderr and "error" in result.stderr


def test_waits_for_a_running_thread(tmp_path: Path) -> None:
    """A thread that is still running (a library's worker) ends its work before the process does."""
    good = write(tmp_path, "good.arch", "input 8\nfc 2\n")
    code = ("import threading, time\n"
            "def late():\n    time.sleep(0.3)\n    print('thread finished', flush=True)\n"
            "threading.Thread(target=late).start()\n"
            "from archlang.cli import run\n"
            f"run(['check', {str(good)!r}])\n")
    result = _python(code, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.rstrip().endswith("thread finished")


def test_module_and_console_entry_points_use_it() -> None:
    """``python -m archlang`` and the ``archlang`` script both exit through ``run``."""
    main_module = (ROOT / "archlang" / "__main__.py").read_text(encoding="utf-8")
    assert "run()" in main_module
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert 'archlang = "archlang.cli:run"' in pyproject
    result = subprocess.run([sys.executable, "-m", "archlang", "check", str(ROOT / "specs" / "lenet5.arch")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "Total params" in result.stdout
