"""The tokenizer (`archlang.lang.lexing.Tokenizer`) against Lark's own basic lexer for the same
grammar: the same tokens (kind, text, start, line, column, end line, end column, end) on every
spec in the repository and on generated text, and the same error at the same place where a
character starts no token."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lark import Lark
from lark.exceptions import UnexpectedCharacters

from archlang.lang.lexing import Tokenizer
from archlang.lang.parser import grammar_path

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted(ROOT.glob("specs/*.arch")) + sorted(ROOT.glob("tests/**/*.arch"))


@pytest.fixture(scope="module")
def lexers() -> tuple[Lark, Tokenizer]:
    reference = Lark(grammar_path().read_text(encoding="utf-8"), parser="lalr", lexer="basic",
                     maybe_placeholders=True)
    return reference, Tokenizer(reference.lexer_conf)


def _tokens(stream: Any) -> Any:
    """Every token with its position, or the error and where it happened."""
    try:
        return [(t.type, str(t), t.start_pos, t.line, t.column, t.end_line, t.end_column, t.end_pos)
                for t in stream]
    except UnexpectedCharacters as exc:
        return ("error", exc.pos_in_stream, exc.line, exc.column, sorted(exc.allowed or ()))


def _same(lexers: tuple[Lark, Tokenizer], text: str) -> None:
    reference, tokenizer = lexers
    assert _tokens(tokenizer.lex(text)) == _tokens(reference.lex(text))


def test_the_loop_is_the_fast_one(lexers: tuple[Lark, Tokenizer]) -> None:
    """With this Lark the tokenizer runs its own loop, not the fallback to Lark's."""
    assert lexers[1].fast and lexers[1].patterns


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.name)
def test_every_spec_tokenizes_as_lark_does(lexers: tuple[Lark, Tokenizer], path: Path) -> None:
    text = path.read_text(encoding="utf-8", errors="replace")
    _same(lexers, text)
    assert _tokens(lexers[1].lex(text))[0] != "error" or path.parent.name == "hostile"


@pytest.mark.parametrize("text", [
    "", "\n\n", "input 8x8x3\r\nconv 3x3 x4 # note\r\n", "a = b -> c; d", "conv 3x3 @ x4", "x = 1.5e3K\n\tin.c",
    'use "other.arch"\nblock b(c=2) { conv 1x1 x(c * 2) }', "conv 3x3\n# last line, no newline",
    "if a then b else c", "input 8\nfc 10 -> relu ** 2 // 3 % 4", "é", "conv\x00", 'output y = t when "s',
])
def test_edge_cases_tokenize_as_lark_does(lexers: tuple[Lark, Tokenizer], text: str) -> None:
    _same(lexers, text)


FRAGMENTS = ["conv", "3x3", "x64", "s2", "p0x3", "x(", "(", ")", "->", "=", ",", "{", "}", "\n", "\r\n", ";", " ",
             "\t", "# c\n", "1.5", "2K", "7", ".", "in", "input", "not", "and", "if", "then", "else", "**", "//",
             "<=", "==", "+", "-", '"s"', "as", "when", ":", "relu", "_a1", "@", "é", "1e5", "0.5e-3M", "x3y"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=40), st.text(max_size=3))
def test_generated_text_tokenizes_as_lark_does(lexers: tuple[Lark, Tokenizer], parts: list[str], tail: str) -> None:
    _same(lexers, "".join(parts) + tail)


def test_lark_own_loop_is_the_fallback(lexers: tuple[Lark, Tokenizer]) -> None:
    """Where Lark's lexer lacks what the fast loop reads, the tokens are Lark's own, the same."""
    reference, _ = lexers
    fallback = Tokenizer(reference.lexer_conf)
    fallback.fast = False
    text = (ROOT / "specs" / "resnet.arch").read_text(encoding="utf-8")
    assert _tokens(fallback.lex(text)) == _tokens(reference.lex(text))
