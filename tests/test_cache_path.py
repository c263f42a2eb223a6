"""The parser's LALR tables are cached in the platform's per-user cache folder (platformdirs),
which honours XDG_CACHE_HOME on Linux."""

from __future__ import annotations

import os
import subprocess
import sys

import platformdirs

import archlang.lang.parser as p

from conftest import ROOT


def test_tables_cached_where_platformdirs_says(tmp_path) -> None:
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path))
    code = ("import archlang, archlang.lang.parser as p; print(p._cache_file()); "
            "archlang.check('input 4x4x1\\nconv 3x3 x2\\n')")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert run.returncode == 0, run.stderr
    expected = tmp_path / "archlang" / p.CACHE_NAME
    assert run.stdout.strip() == str(expected)
    assert expected.is_file() and expected.stat().st_size > 0
    if sys.platform.startswith("linux"):
        assert platformdirs.user_cache_dir("archlang", appauthor=False).endswith(os.path.join("", "archlang"))
