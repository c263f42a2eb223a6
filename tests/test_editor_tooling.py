"""Syntax highlighting (the Pygments lexer and the VS Code grammar), the pre-commit hooks, watch
mode, and what the static commands import."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pygments.lexers import get_lexer_by_name, get_lexer_for_filename
from pygments.token import Error, Keyword, Name, Number, Operator, String

from archlang.tooling.adapter import catalogue
from archlang.tooling.lexer import ArchLexer
from conftest import ROOT, SPECS

# specs/v2 may be merged into specs/: both places are read, whichever holds the version 2 specs
ALL_SPECS = sorted([*SPECS.glob("*.arch"), *SPECS.glob("v2/*.arch")]) + sorted((ROOT / "tests" / "networks").glob("*.arch"))
V2_KEYWORDS = ("output", "variant", "assert", "when", "training", "as")
VSCODE = ROOT / "editors" / "vscode"


@pytest.mark.parametrize("path", ALL_SPECS, ids=lambda p: p.name)
def test_lexer_has_no_error_tokens(path: Path) -> None:
    text = path.read_text()
    tokens = list(ArchLexer().get_tokens(text))
    assert [v for t, v in tokens if t in Error] == []
    assert "".join(v for _, v in tokens) == text if text.endswith("\n") else text + "\n"


def test_lexer_is_registered_and_classifies() -> None:
    assert isinstance(get_lexer_by_name("archlang"), ArchLexer)
    assert isinstance(get_lexer_for_filename("resnet.arch"), ArchLexer)
    tokens = [(t, v) for t, v in ArchLexer().get_tokens("block unit(c) { conv 3x3 s2 x(c) same -> bn eps=0.001 }")
              if v.strip()]
    kinds = dict((v, t) for t, v in tokens)
    assert kinds["block"] in Keyword and kinds["unit"] in Name.Class and kinds["conv"] in Name.Builtin
    assert kinds["3x3"] in Number and kinds["s2"] in Name.Attribute and kinds["x"] in Name.Attribute
    assert kinds["same"] in Name.Constant and kinds["->"] in Operator and kinds["eps"] in Name.Attribute
    assert [v for t, v in ArchLexer().get_tokens("conv 3x3 @ x4") if t in Error] == ["@"]


def test_specs_of_both_versions_are_lexed() -> None:
    texts = [p.read_text() for p in ALL_SPECS]
    assert len(ALL_SPECS) >= 30
    for needed in ("variant ", "output ", "assert ", " as i", "when training", "cv1: "):
        assert any(needed in t for t in texts), needed


def test_lexer_classifies_version_2_forms() -> None:
    text = ('network y(depth = 1.0)\nvariant n(depth = 0.33)\ninput 64x64x3\n'
            'p3 = (conv 3x3 x8) * 2 as i -> m: (conv 1x1 x(2 ** 3))\n'
            'output head = p3, p4\noutput aux when training\nassert params <= 5M and mults < 2.5K, "too big"\n')
    tokens = [(t, v) for t, v in ArchLexer().get_tokens(text) if v.strip()]
    assert [v for t, v in tokens if t in Error] == []
    kinds: dict[str, list] = {}
    for t, v in tokens:
        kinds.setdefault(v, []).append(t)
    for word in V2_KEYWORDS:
        assert all(t in Keyword for t in kinds[word]), (word, kinds[word])
    assert kinds["n"] == [Name.Class] and kinds["m"] == [Name.Label] and kinds["i"] == [Name.Variable]
    assert kinds["**"] == [Operator] and kinds["5M"][0] in Number.Integer and kinds["2.5K"][0] in Number.Float
    assert kinds['"too big"'][0] in String and kinds["p3"] == [Name.Variable, Name.Variable]  # no flag `p3`
    assert kinds["head"] == [Name.Attribute] and kinds["p4"] == [Name.Variable] and kinds["aux"] == [Name.Variable]


def test_vscode_grammar_knows_version_2() -> None:
    grammar = json.loads((VSCODE / "syntaxes" / "archlang.tmLanguage.json").read_text())
    patterns = list(_matches(grammar))
    for word in V2_KEYWORDS:  # each keyword is matched by a pattern that names it
        sample = "when training" if word == "training" else f"x {word} y"  # a keyword only after `when`
        assert any(re.search(rf"\b{word}\b", p) and re.search(p, sample) for p in patterns), word
    label = next(p for p in patterns if p.endswith("(:)"))
    assert re.match(label, "cv1: cbs(c)").group(1) == "cv1"
    number = next(p for p in patterns if "[KMG]" in p and "." in p)
    assert re.search(number, "<= 2.5K,").group() == "2.5K"
    operator = next(p for p in patterns if p.startswith("\\*\\*"))
    assert re.match(operator, "** 2").group() == "**"
    included = {x["include"][1:] for x in grammar["patterns"]}
    assert included == set(grammar["repository"])  # every rule is used


def test_vscode_extension_files() -> None:
    manifest = json.loads((VSCODE / "package.json").read_text())
    assert manifest["contributes"]["languages"][0]["extensions"] == [".arch"]
    assert manifest["contributes"]["configuration"]["properties"]["archlang.server.command"]["default"] == [
        "archlang", "lsp"]
    assert (VSCODE / manifest["main"]).is_file()
    json.loads((VSCODE / "language-configuration.json").read_text())
    (grammar_entry,) = manifest["contributes"]["grammars"]
    grammar = json.loads((VSCODE / grammar_entry["path"]).read_text())
    assert grammar["scopeName"] == grammar_entry["scopeName"] == "source.archlang"
    patterns = list(_matches(grammar))
    assert len(patterns) > 15
    for pattern in patterns:  # TextMate's Oniguruma regexes, here all within Python's syntax
        re.compile(pattern)
    ops = next(p for p in patterns if "maxpool" in p)
    assert all(re.fullmatch(ops, name) for op in catalogue() for name in (op.name, *op.aliases))
    comment = next(p for p in patterns if p.startswith("#"))
    assert re.match(comment, "# a comment").group() == "# a comment"


def _matches(node: object):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "match":
                yield value
            else:
                yield from _matches(value)
    elif isinstance(node, list):
        for item in node:
            yield from _matches(item)


def test_pre_commit_hooks(tmp_path: Path) -> None:
    text = (ROOT / ".pre-commit-hooks.yaml").read_text()
    ids = re.findall(r"^- id: (\S+)$", text, re.MULTILINE)
    entries = re.findall(r"^  entry: (.+)$", text, re.MULTILINE)
    assert ids == ["archlang-check", "archlang-fmt"]
    assert entries == ["python -m archlang.tooling.hooks", "archlang fmt --check"]
    assert re.findall(r"^  files: (.+)$", text, re.MULTILINE) == [r"\.arch$", r"\.arch$"]
    bad = tmp_path / "bad.arch"
    bad.write_text("input 8\nfc 2 -> conv 3x3 x1\n")
    hook = [sys.executable, "-m", "archlang.tooling.hooks"]
    ok = subprocess.run(hook + [str(SPECS / "lenet5.arch"), str(SPECS / "vgg.arch")], capture_output=True, text=True)
    assert ok.returncode == 0 and ok.stdout == ""
    failed = subprocess.run(hook + [str(SPECS / "lenet5.arch"), str(bad)], capture_output=True, text=True)
    assert failed.returncode == 1 and "bad.arch:2:9: error: `conv` needs an HxWxC volume" in failed.stderr


def test_static_commands_import_no_optional_or_heavy_package(tmp_path: Path) -> None:
    spec = tmp_path / "a.arch"
    spec.write_text("input 8\nfc 2->relu\n")
    code = ("import sys; from archlang.cli import main; "
            f"rc = main(['check', 'specs/resnet.arch']) + main(['fmt', '--check', 'specs/lenet5.arch']); "
            f"rc += main(['check', {str(tmp_path / 'missing.arch')!r}]) - 2; "
            "bad = [m for m in ('torch', 'numpy', 'pygments', 'pygls', 'lsprotocol', 'watchfiles') if m in sys.modules]; "
            "assert not bad, bad; sys.exit(rc)")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_lsp_without_its_extra_says_what_to_install() -> None:
    code = ("import sys; sys.modules['pygls'] = None; from archlang.cli import main; sys.exit(main(['lsp']))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 2
    assert "needs the `pygls` package" in result.stderr and 'pip install "archlang[lsp]"' in result.stderr


def test_check_watch_redraws_after_a_save(tmp_path: Path) -> None:
    spec = tmp_path / "net.arch"
    spec.write_text("input 8\nfc 4\n")
    process = subprocess.Popen([sys.executable, "-m", "archlang.cli", "check", "--watch", str(spec)], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env=dict(os.environ, PYTHONUNBUFFERED="1"))
    try:
        assert process.stdout is not None
        seen = _read_until(process, "watching for changes")
        assert "fc 4" in seen and "36" in seen and "(exit 0)" in seen  # 8 * 4 + 4 parameters
        time.sleep(0.5)  # let the watcher settle before the save
        spec.write_text("input 8\nfc 4 -> conv 3x3 x2\n")
        seen = _read_until(process, "watching for changes")
        assert "error: `conv` needs an HxWxC volume, but receives 4" in seen and "(exit 1)" in seen
    finally:
        process.terminate()
        process.wait(timeout=10)


def _read_until(process: subprocess.Popen, marker: str, timeout: float = 60.0) -> str:
    """Lines from the process until one holds ``marker`` (fails after ``timeout`` seconds). A
    thread reads, so that lines already buffered are never waited for."""
    import queue
    import threading

    if not hasattr(process, "lines"):
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [lines.put(x) for x in process.stdout], daemon=True).start()
        process.lines = lines  # type: ignore[attr-defined]
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = process.lines.get(timeout=0.2)  # type: ignore[attr-defined]
        except queue.Empty:
            continue
        seen.append(line)
        if marker in line:
            return "".join(seen)
    raise AssertionError(f"no {marker!r} within {timeout} s; got {''.join(seen)!r}")
