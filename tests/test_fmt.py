"""`archlang fmt`: the canonical layout, idempotence, and safety (the formatted spec analyses to
the same table and compiles to the same state_dict keys) over every spec and generated ones."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archlang.api import analyse
from archlang.core.errors import ArchError
from archlang.tooling.formatter import FormatError, format_text
from conftest import ROOT, SPECS, run_cli

ALL_SPECS = sorted(SPECS.glob("*.arch")) + sorted((ROOT / "tests" / "networks").glob("*.arch"))


def outcome(text: str, file: str) -> tuple:
    """What a spec means: its rows (op text as a set of its words) or its error messages."""
    try:
        graph = analyse(text, file)
    except ArchError as exc:
        return ("errors", sorted(d.message for d in exc.diagnostics))
    return ("rows", [(n.name, tuple(sorted(n.text.split())), n.shape, n.params, n.mults, n.trainable)
                     for n in graph.layers])


def state_dict_keys(text: str, file: str) -> list[str]:
    import torch

    from archlang.emit.build import compile_graph

    with torch.device("meta"):  # the keys without allocating the weights; `use` resolves from `file`
        return list(compile_graph(analyse(text, file)).instantiate().state_dict())


@pytest.mark.parametrize("path", ALL_SPECS, ids=lambda p: p.name)
def test_every_spec_formats_safely_and_idempotently(path: Path) -> None:
    text = path.read_text()
    formatted = format_text(text, str(path))
    assert format_text(formatted, str(path)) == formatted
    assert outcome(formatted, str(path)) == outcome(text, str(path))
    assert outcome(text, str(path))[0] == "rows"
    assert state_dict_keys(formatted, str(path)) == state_dict_keys(text, str(path))
    # comments survive, word for word
    comments = [line[line.index("#"):].rstrip() for line in text.splitlines() if "#" in line]
    assert [line[line.index("#"):] for line in formatted.splitlines() if "#" in line] == comments


def test_canonical_layout() -> None:
    messy = (
        "\n\n# header comment\nnetwork  messy( classes=10 ,k=3)\ninput 32x32x3   # the input\n\n\n"
        "block  unit(c,s = 1){\n    add(conv (k)x(k) x(c)   s(s) same nobias->bn,   # first branch\n"
        "  identity)\n      ->relu\n  # trailing body comment\n}\n"
        "x =  - 2 + k*3\nstem=conv 3x3 nobias x(x*2) s1 -> bn eps =0.001 momentum=( 0.1 ) ->relu\n"
        "y = if classes>5 then\n x\n  else 4\nunit( 16 ) ->   unit(32,s=2)*2\n"
        "-> gap->flatten->dropout .5 -> fc classes    # head\n")
    assert format_text(messy) == (
        "# header comment\n"
        "network messy(classes = 10, k = 3)\n"
        "input 32x32x3  # the input\n"
        "\n"
        "block unit(c, s = 1) {\n"
        "  add(conv (k)x(k) s(s) x(c) same nobias -> bn,  # first branch\n"
        "    identity)\n"
        "  -> relu\n"
        "  # trailing body comment\n"
        "}\n"
        "x = -2 + k * 3\n"
        "stem = conv 3x3 s1 x(x * 2) nobias -> bn eps=0.001 momentum=(0.1) -> relu\n"
        "y = if classes > 5 then\n"
        "  x\n"
        "else 4\n"
        "unit(16) -> unit(32, s = 2) * 2\n"
        "-> gap -> flatten -> dropout .5 -> fc classes  # head\n")
    assert outcome(format_text(messy), "m.arch") == outcome(messy, "m.arch")


def test_long_chains_break_before_the_least_nested_arrow() -> None:
    chain = " -> ".join(["conv 3x3 same x16 -> relu"] * 8)
    formatted = format_text(f"input 32x32x3\nfeatures = {chain}\n")
    lines = formatted.splitlines()
    assert all(len(line) <= 120 for line in lines)
    assert len(lines) == 4 and all(line.startswith("  -> ") for line in lines[2:])  # indented: a binding
    # each line holds as much of the chain as fits: the next piece would not
    assert len(lines[1]) + len(" -> relu") > 120 and len(lines[2]) + len(" -> relu") > 120
    assert format_text(formatted) == formatted
    assert outcome(formatted, "a.arch") == outcome(f"input 32x32x3\nfeatures = {chain}\n", "a.arch")


def test_syntax_error_is_refused() -> None:
    with pytest.raises(FormatError) as info:
        format_text("input 32x32x3\nconv 3x3 x16 ->\n")
    assert info.value.diagnostics and "unexpected end of file" in info.value.diagnostics[0].message


# --- the command -------------------------------------------------------------------------------


def test_fmt_check_and_write(tmp_path: Path) -> None:
    messy = tmp_path / "messy.arch"
    messy.write_text("input 32x32x3\nconv 3x3 x16 same->relu\n")
    clean = tmp_path / "clean.arch"
    clean.write_text("input 32x32x3\nconv 3x3 x16 same -> relu\n")
    status, _, err = run_cli("fmt", "--check", str(messy), str(clean))
    assert status == 1 and f"would reformat {messy}" in err and "1 file would be reformatted, 1 already formatted" in err
    assert messy.read_text() == "input 32x32x3\nconv 3x3 x16 same->relu\n"  # --check writes nothing
    status, _, err = run_cli("fmt", str(messy), str(clean))
    assert status == 0 and f"reformatted {messy}" in err
    assert messy.read_text() == "input 32x32x3\nconv 3x3 x16 same -> relu\n"
    assert run_cli("fmt", "--check", str(messy), str(clean))[0] == 0


def test_fmt_never_clobbers_a_file_on_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.arch"
    broken.write_text("input 32x32x3\nconv 3x3 x16 ->\n")
    status, _, err = run_cli("fmt", str(broken))
    assert status == 1 and "unexpected end of file" in err and f"cannot format `{broken}`" in err
    assert broken.read_text() == "input 32x32x3\nconv 3x3 x16 ->\n"
    assert list(tmp_path.iterdir()) == [broken]  # no temporary file left behind
    status, _, err = run_cli("fmt", str(tmp_path / "missing.arch"))
    assert status == 2 and "cannot read" in err


def test_fmt_stdin_to_stdout() -> None:
    run = subprocess.run([sys.executable, "-m", "archlang.cli", "fmt", "-"], input="input 8\nfc 2->relu\n",
                         capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0 and run.stdout == "input 8\nfc 2 -> relu\n"


# --- generated specs ---------------------------------------------------------------------------

_SPACE = st.sampled_from([" ", "  ", "\t"])


@st.composite
def layer(draw: st.DrawFn) -> str:
    """A conv, pool, norm or activation with its arguments in a random order and spacing."""
    kind = draw(st.sampled_from(["conv", "dwconv", "maxpool", "bn", "relu", "conv_expr"]))
    if kind == "conv" or kind == "conv_expr":
        args = [draw(st.sampled_from(["1x1", "3x3", "(k)x(k)" if kind == "conv_expr" else "5x5"])),
                f"x{draw(st.integers(1, 12))}" if kind == "conv" else "x(c * 2)"]
        args += draw(st.lists(st.sampled_from(["s1", "p0", "nobias", "d1", "g1"]), unique=True, max_size=3))
    elif kind == "dwconv":
        args = ["3x3", draw(st.sampled_from(["same", "p1"]))] + draw(st.lists(st.sampled_from(["nobias", "s1"]),
                                                                                  unique=True))
    elif kind == "maxpool":
        args = ["3", "s1", draw(st.sampled_from(["p1", "same"]))]
    elif kind == "bn":
        args = draw(st.lists(st.sampled_from(["eps=0.001", "momentum=(0.1)"]), unique=True))
    else:
        args = []
    order = draw(st.permutations(args))
    name = "conv" if kind == "conv_expr" else kind
    return name + "".join(draw(_SPACE) + a for a in order)


@st.composite
def spec(draw: st.DrawFn) -> str:
    layers = draw(st.lists(layer(), min_size=1, max_size=6))
    joints = [draw(st.sampled_from(["->", " -> ", "  ->", "\n-> ", " # note\n  -> ", "  # note\n\n-> "])) for _ in layers[1:]]
    chain = layers[0] + "".join(j + x for j, x in zip(joints, layers[1:]))
    body = " -> ".join(draw(st.lists(layer(), min_size=1, max_size=3)))
    block = f"block   unit(c,k=3) {{\n{draw(_SPACE)}{body}\n}}\n" if draw(st.booleans()) else ""
    call = " ->unit( 4 )" if block else ""
    comment = draw(st.sampled_from(["", "# a spec\n", "\n\n# two blank lines before\n"]))
    binding = draw(st.sampled_from(["", "stem =  ", "stem="]))
    return f"{comment}network g( c=4,k = 3 )\ninput 16x16x{draw(st.integers(1, 4))}\n{block}{binding}{chain}{call}\n"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec())
def test_generated_specs_format_safely(text: str) -> None:
    formatted = format_text(text, "gen.arch")
    assert format_text(formatted, "gen.arch") == formatted
    before, after = outcome(text, "gen.arch"), outcome(formatted, "gen.arch")
    assert after == before
    if before[0] == "rows":
        assert state_dict_keys(formatted, "gen.arch") == state_dict_keys(text, "gen.arch")
