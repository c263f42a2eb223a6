"""Fuzzing: whatever a user writes, `check` answers with a report or with diagnostics, never
with another exception. Specs come from the grammar's own vocabulary and from mutating the
specs in specs/."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archlang.api import analyse
from archlang.core.errors import ArchError
from archlang.ops import known_names
from conftest import SPECS

FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

WORDS = known_names() + [
    "network", "input", "block", "use", "if", "then", "else", "and", "or", "not", "in.c", "in.h", "in.w",
    "concat", "add", "mul", "residual", "freeze", "same", "valid", "nobias", "ceil", "identity",
    "min", "max", "ceil", "floor", "round", "int", "divisible", "b", "c", "x", "s", "eps=0.001", "mode=bilinear",
    "3x3", "1x7", "28x28x3", "784", "0", "1", "2", "64", "2.5", "-", "+", "*", "/", "//", "%", "==", "<",
    "->", "(", ")", "{", "}", ",", "=", "\n", ";", "x64", "s2", "p1", "p0x3", "g2", "d2", "x(", "s(", '"a.arch"',
    "# c\n", "1e9", "10000000",
]
SPEC_TEXTS = [p.read_text() for p in sorted(SPECS.glob("*.arch"))]


def outcome(text: str) -> str:
    try:
        graph = analyse(text, "fuzz.arch")
    except ArchError as exc:
        assert exc.diagnostics and all(d.message for d in exc.diagnostics)
        exc.render()
        return "diagnostics"
    assert graph.nodes
    return "report"


@FUZZ
@given(st.lists(st.sampled_from(WORDS), max_size=40))
def test_token_soup_gets_an_answer(words: list[str]) -> None:
    outcome("input 16x16x3\n" + " ".join(words))


@FUZZ
@given(st.lists(st.sampled_from(WORDS), max_size=60))
def test_token_soup_without_input_gets_an_answer(words: list[str]) -> None:
    outcome(" ".join(words))


@st.composite
def mutated(draw) -> str:
    text = draw(st.sampled_from(SPEC_TEXTS))
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(text)))
        kind = draw(st.sampled_from(["delete", "insert", "replace", "duplicate"]))
        j = min(len(text), i + draw(st.integers(1, 12)))
        if kind == "delete":
            text = text[:i] + text[j:]
        elif kind == "insert":
            text = text[:i] + draw(st.sampled_from(WORDS)) + text[i:]
        elif kind == "replace":
            text = text[:i] + draw(st.text(alphabet="0123456789x(),->{}=* \nabcsgpd", max_size=4)) + text[j:]
        else:
            text = text[:i] + text[i:j] * 2 + text[j:]
    return text


@FUZZ
@given(mutated())
def test_mutated_specs_get_an_answer(text: str) -> None:
    outcome(text)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=80))
def test_arbitrary_text_gets_an_answer(text: str) -> None:
    outcome(text)


def test_deep_nesting_is_a_diagnostic() -> None:
    assert outcome("input 8x8x3\nconv 1x1 x" + "(" * 5000 + "1" + ")" * 5000 + "\n") == "diagnostics"


def test_huge_numbers_are_diagnostics() -> None:
    assert outcome("input 8x8x3\nconv 1x1 x(10 ** 9)\n") == "report"  # `**` is an operator since version 2
    assert outcome("input 8x8x3\nconv 1x1 x(10 ** 10 ** 10)\n") == "diagnostics"
    assert outcome("input 99999999999x99999999999x3\nflatten\n") == "report"
