"""Command-line conventions: `python -m archlang`, shell completion from the parser, colours on a
terminal honouring NO_COLOR and FORCE_COLOR, diagnostics in `--format json`, examples in every `--help`."""

from __future__ import annotations

import json
import os
import pty
import shlex
import shutil
import subprocess
import sys

import pytest

from archlang.cli import EXAMPLES, parser
from conftest import ROOT, SPECS, run_cli, write

ESC = "\x1b["
BAD = "input 6x6x3\nconv 7x7 x10\n"
WARNS = "input 64x64x3\nconv 3x3 s2 x8 -> gap -> flatten -> fc 10\n"  # the last row and column go unused


def archlang(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    return subprocess.run([sys.executable, "-m", "archlang", *args], capture_output=True, text=True, cwd=ROOT,
                          env={**clean, **(env or {})}, timeout=120)


def on_a_terminal(*args: str, env: dict[str, str] | None = None) -> str:
    """What `python -m archlang ARGS` writes to a pseudo-terminal (standard output and error)."""
    clean = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "archlang", *args], stdout=follower, stderr=follower,
                            stdin=subprocess.DEVNULL, cwd=ROOT, env={**clean, "COLUMNS": "100", **(env or {})})
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closes when the process ends
            break
        if not chunk:
            break
        chunks.append(chunk)
    proc.wait(timeout=120)
    os.close(leader)
    return b"".join(chunks).decode()


def test_python_dash_m_archlang_is_the_command() -> None:
    result = archlang("check", "specs/lenet5.arch", "--format", "json")
    assert result.returncode == 0
    assert result.stdout == run_cli("check", "specs/lenet5.arch", "--format", "json", cwd=ROOT)[1]
    assert archlang("--version").stdout.strip().startswith("archlang ")
    assert archlang("check").returncode == 2  # argparse's usage error, from the same parser


def completions(script: str, line: str) -> list[str]:
    """COMPREPLY for ``line`` (the cursor at its end), from ``script`` sourced in bash."""
    words = shlex.split(line) + ([""] if line.endswith(" ") else [])
    program = (f"source {shlex.quote(script)}\ncomplete -p archlang\n"
               f"COMP_WORDS=({' '.join(shlex.quote(w) for w in words)}); COMP_CWORD={len(words) - 1}\n"
               f"COMP_LINE={shlex.quote(line)}; COMP_POINT={len(line)}\n"
               f"_shtab_archlang archlang {shlex.quote(words[-1])} {shlex.quote(words[-2])}\n"
               'printf "%s\\n" "${COMPREPLY[@]}"\n')
    result = subprocess.run(["bash", "--norc", "--noprofile"], input=program, capture_output=True, text=True,
                            cwd=ROOT, timeout=60)
    assert result.returncode == 0, result.stderr
    first, *rest = result.stdout.splitlines()
    assert first == "complete -o bashdefault -F _shtab_archlang archlang"  # registered by `complete -p`
    return [w.strip() for w in rest if w.strip()]


def test_bash_completion_from_the_parser(tmp_path) -> None:
    result = archlang("--print-completion", "bash")
    assert result.returncode == 0
    script = write(tmp_path, "archlang.bash", result.stdout)
    commands = set(parser()._subparsers._group_actions[0].choices)  # type: ignore[union-attr]
    assert set(completions(str(script), "archlang ")) >= commands
    assert completions(str(script), "archlang ch") == ["check"]
    assert "--layout" in completions(str(script), "archlang check --la")
    assert completions(str(script), "archlang check --layout n") == ["nchw"]
    assert set(completions(str(script), "archlang check --format ")) == {"table", "json", "markdown", "csv"}


def test_zsh_completion_names_every_command_and_option() -> None:
    result = archlang("--print-completion", "zsh")
    assert result.returncode == 0 and result.stdout.startswith("#compdef archlang")
    for name, sub in parser()._subparsers._group_actions[0].choices.items():  # type: ignore[union-attr]
        assert f"{name}:" in result.stdout
        for action in sub._actions:
            for option in action.option_strings:
                assert option in result.stdout, (name, option)
    if shutil.which("zsh"):
        syntax = subprocess.run(["zsh", "-n"], input=result.stdout, capture_output=True, text=True)
        assert syntax.returncode == 0, syntax.stderr
    assert archlang("--print-completion", "fish").returncode == 2


@pytest.mark.parametrize("env, coloured", [({}, True), ({"NO_COLOR": "1"}, False), ({"NO_COLOR": ""}, True),
                                           ({"FORCE_COLOR": "1", "NO_COLOR": "1"}, False)])
def test_diagnostics_on_a_terminal(tmp_path, env: dict[str, str], coloured: bool) -> None:
    spec = write(tmp_path, "bad.arch", BAD)
    out = on_a_terminal("check", str(spec), env=env)
    assert "larger than the padded input" in out
    assert (f"{ESC}1;31merror{ESC}0m" in out) == coloured
    assert (ESC in out) == coloured


@pytest.mark.parametrize("env, coloured", [({}, False), ({"FORCE_COLOR": "1"}, True), ({"FORCE_COLOR": ""}, False),
                                           ({"FORCE_COLOR": "1", "NO_COLOR": "1"}, False)])
def test_diagnostics_in_a_pipe(tmp_path, env: dict[str, str], coloured: bool) -> None:
    spec = write(tmp_path, "bad.arch", BAD)
    result = archlang("check", str(spec), env=env)
    assert result.returncode == 1
    assert (f"{ESC}1;31merror{ESC}0m" in result.stderr) == coloured
    assert f"{ESC}1;34m2 |{ESC}0m" in result.stderr if coloured else "2 | conv 7x7 x10" in result.stderr


def test_table_colours_follow_the_same_rules(tmp_path) -> None:
    assert ESC in on_a_terminal("check", "specs/lenet5.arch")
    assert ESC not in on_a_terminal("check", "specs/lenet5.arch", env={"NO_COLOR": "1"})
    forced = archlang("check", "specs/lenet5.arch", env={"FORCE_COLOR": "1"})
    assert f"{ESC}1m" in forced.stdout
    assert ESC not in archlang("check", "specs/lenet5.arch").stdout
    # on a 100-column terminal, even without colours, the table fits
    lines = on_a_terminal("check", "specs/resnet.arch", "--depth", "0", env={"NO_COLOR": "1"}).splitlines()
    assert max(len(line) for line in lines[:60]) <= 100


def test_json_carries_the_warnings(tmp_path) -> None:
    spec = write(tmp_path, "w.arch", WARNS)
    status, out, err = run_cli("check", str(spec), "--format", "json")
    assert status == 0 and "warning:" in err
    (diag,) = json.loads(out)["diagnostics"]
    assert diag["severity"] == "warning" and diag["file"] == str(spec)
    assert (diag["line"], diag["col"]) == (2, 1) and "unused" in diag["message"]
    status, out, _ = run_cli("check", str(SPECS / "lenet5.arch"), "--format", "json")
    assert json.loads(out)["diagnostics"] == []


def test_json_carries_the_errors(tmp_path) -> None:
    spec = write(tmp_path, "bad.arch", BAD)
    status, out, err = run_cli("check", str(spec), "--format", "json")
    assert status == 1 and "error:" in err
    (diag,) = json.loads(out)["diagnostics"]
    assert diag["severity"] == "error" and diag["file"] == str(spec)
    assert (diag["line"], diag["col"], diag["end_col"]) == (2, 6, 9)
    assert diag["message"] == "the 7x7 kernel is larger than the padded input 6x6"
    assert diag["help"].startswith("pad the input")


def test_every_command_has_examples_that_parse() -> None:
    top = parser()
    commands = top._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert set(commands) == set(EXAMPLES)
    for name, sub in commands.items():
        status, out, _ = run_cli(name, "--help")
        assert status == 0 and "examples:\n" in out
        for example in EXAMPLES[name]:
            assert f"  {example}\n" in out
            words = shlex.split(example.split(">")[0])
            assert words[:2] == ["archlang", name]
            assert top.parse_args(words[1:]).command == name
    status, out, _ = run_cli("--help")
    assert status == 0 and "examples:" in out and "--print-completion" in out
