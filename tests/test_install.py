"""A non-editable install finds its grammar: build a wheel, install it apart from the source
tree, and run `archlang check` from it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import ROOT, SPECS


def test_wheel_carries_the_grammar(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation",
                            "-q", "-w", str(wheels)], capture_output=True, text=True, cwd=tmp_path)
    assert build.returncode == 0, build.stderr
    (wheel,) = wheels.glob("archlang-*.whl")
    site = tmp_path / "site"
    install = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site),
                              str(wheel)], capture_output=True, text=True)
    assert install.returncode == 0, install.stderr
    assert (site / "archlang" / "grammars" / "archlang.lark").is_file()
    env = dict(os.environ, PYTHONPATH=str(site))
    code = ("import archlang, archlang.lang.parser as p, sys; from archlang.cli import main; "
            "print(archlang.__file__); print(p.grammar_path()); "
            f"sys.exit(main(['check', {str(SPECS / 'lenet5.arch')!r}]))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert run.returncode == 0, run.stderr
    module_file, grammar, *table = run.stdout.splitlines()
    assert module_file.startswith(str(site)) and grammar.startswith(str(site))
    assert "61,706" in "\n".join(table)
