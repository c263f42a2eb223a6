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

# specs/v2 may be merged into specs/: both places are read, whichever holds the version 2 specs
ALL_SPECS = sorted([*SPECS.glob("*.arch"), *SPECS.glob("v2/*.arch")]) + sorted((ROOT / "tests" / "networks").glob("*.arch"))


def outcome(text: str, file: str) -> tuple:
    """What a spec means: its rows (op text as a set of its words) or its error messages."""
    try:
        graph = analyse(text, file)
    except ArchError as exc:
        return ("errors", sorted(d.message for d in exc.diagnostics))
    return ("rows", [(n.name, tuple(sorted(n.text.split())), n.shape, n.params, n.mults, n.trainable)
                     for n in graph.layers])


def state_dict_keys(text: str, file: str = "<spec>") -> list[str]:
    """The compiled module's state_dict keys; ``file`` places the text, for its `use` lines."""
    import torch

    from archlang.emit.build import build_module

    with torch.device("meta"):  # the keys without allocating the weights
        return list(build_module(analyse(text, file)).state_dict())


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


def test_every_version_2_form_is_among_the_specs_formatted() -> None:
    texts = "".join(p.read_text() for p in ALL_SPECS)
    for form in ("variant ", "output ", "when training", "assert ", " as i", "cv1: ", "like="):
        assert form in texts, form


def test_canonical_layout_of_version_2_forms() -> None:
    messy = (
        "network  y( depth=1.0,width = 1.0 ,classes=10)\nvariant n( depth=0.33 ,width=.25 , classes = 10)\n"
        "input 32x32x3\nblock cbs(c,k=1) { conv : conv (k)x(k) x(c) nobias -> bn :bn -> silu }\n"
        "block c2f(c, n) {\n  cv1 :cbs(c)->m:(concat(identity, chunk (2+i) (1+i) -> cbs(c//2)))*n as i\n"
        "  -> cv2: cbs(c)\n}\nside=input->conv 1x1 x8\n"
        "stem = cbs(max(8, int(16*width)))   -> c2f(16, max(1, round(3*depth)))\n"
        "p3 = stem -> resize  like=side mode=bilinear -> conv 1x1 x(2**3)\n"
        "head = p3->gap->flatten->fc classes\naux_head=side -> gap->flatten -> fc  classes\n"
        "output head,p3\noutput side,aux_head   when training\n"
        "assert params<=5M,\"must fit\"\nassert mults < 2.5K*1M and p3.h==input.h\n")
    formatted = format_text(messy)
    assert formatted == (
        "network y(depth = 1.0, width = 1.0, classes = 10)\n"
        "variant n(depth = 0.33, width = .25, classes = 10)\n"
        "input 32x32x3\n"
        "block cbs(c, k = 1) { conv: conv (k)x(k) x(c) nobias -> bn: bn -> silu }\n"
        "block c2f(c, n) {\n"
        "  cv1: cbs(c) -> m: (concat(identity, chunk (2 + i) (1 + i) -> cbs(c // 2))) * n as i\n"
        "  -> cv2: cbs(c)\n"
        "}\n"
        "side = input -> conv 1x1 x8\n"
        "stem = cbs(max(8, int(16 * width))) -> c2f(16, max(1, round(3 * depth)))\n"
        "p3 = stem -> resize like=side mode=bilinear -> conv 1x1 x(2 ** 3)\n"
        "head = p3 -> gap -> flatten -> fc classes\n"
        "aux_head = side -> gap -> flatten -> fc classes\n"
        "output head, p3\n"
        "output side, aux_head when training\n"
        'assert params <= 5M, "must fit"\n'
        "assert mults < 2.5K * 1M and p3.h == input.h\n")
    assert format_text(formatted) == formatted
    assert outcome(formatted, "y.arch") == outcome(messy, "y.arch") and outcome(messy, "y.arch")[0] == "rows"
    assert state_dict_keys(formatted) == state_dict_keys(messy)
    keyed = format_text("input 8\na=fc 4\nb = fc 2\noutput  first=a ,second = b\n")
    assert keyed.splitlines()[-1] == "output first = a, second = b"


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
    for k, x in enumerate(layers):  # version 2: labelled elements, repeats with an index
        form = draw(st.sampled_from(["plain", "plain", "label", "repeat"]))
        if form == "label":
            layers[k] = f"l{k}{draw(st.sampled_from([':', ' :', ': ', ' : ']))}{x}"
        elif form == "repeat":
            layers[k] = f"({x}){draw(st.sampled_from(['*', ' * ']))}2 as i"
    joints = [draw(st.sampled_from(["->", " -> ", "  ->", "\n-> ", " # note\n  -> ", "  # note\n\n-> "])) for _ in layers[1:]]
    chain = layers[0] + "".join(j + x for j, x in zip(joints, layers[1:]))
    body = " -> ".join(draw(st.lists(layer(), min_size=1, max_size=3)))
    block = f"block   unit(c,k=3) {{\n{draw(_SPACE)}{body}\n}}\n" if draw(st.booleans()) else ""
    call = " ->unit( 4 )" if block else ""
    comment = draw(st.sampled_from(["", "# a spec\n", "\n\n# two blank lines before\n"]))
    binding = draw(st.sampled_from(["", "stem =  ", "stem="]))
    tail = ""
    if binding and draw(st.booleans()):
        tail += draw(st.sampled_from(["output stem\n", "output  out=stem\n", "output\tstem ,  stem2\n"]))
        if "stem2" in tail:
            tail = "stem2 = stem -> relu\n" + tail
    if draw(st.booleans()):
        tail += draw(st.sampled_from(['assert params>=0,"no"\n', "assert mults < 2.5M and stem.c >= 1\n",
                                      "assert input.h==16\n"]))
    if "stem.c" in tail and not binding:
        tail = tail.replace("stem.c", "input.c")
    return (f"{comment}network g( c=4,k = 3 )\ninput 16x16x{draw(st.integers(1, 4))}\n{block}{binding}{chain}{call}\n"
            + tail)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec())
def test_generated_specs_format_safely(text: str) -> None:
    formatted = format_text(text, "gen.arch")
    assert format_text(formatted, "gen.arch") == formatted
    before, after = outcome(text, "gen.arch"), outcome(formatted, "gen.arch")
    assert after == before
    if before[0] == "rows":
        assert state_dict_keys(formatted) == state_dict_keys(text)
