"""Mutations of spec text for fuzzing: byte edits (delete, duplicate, swap, insert bytes and
control characters) and token edits (delete, duplicate, swap tokens, insert tokens, numbers,
huge numbers). Deterministic for a given ``random.Random``."""

from __future__ import annotations

import random
import re

TOKEN = re.compile(r"\d+(?:x\d+)*|\w+|->|//|[<>=!]=|\s+|.", re.DOTALL)
NUMBERS = ["0", "1", "2", "3", "7", "64", "1000", "65536", "999999", "1000000", "-1", "0.5", "1e9", "1e308",
           "1e999", "9" * 19, "9" * 25, "9" * 5000, "10000000000000000000", "0x0", "3x3", "1x1x1", "99999x99999x3"]
WORDS = ["input", "network", "block", "use", "if", "then", "else", "and", "or", "not", "in.c", "in.h",
         "identity", "conv", "dwconv", "fc", "relu", "bn", "maxpool", "avgpool", "flatten", "concat", "add",
         "mul", "residual", "freeze", "same", "valid", "nobias", "ceil", "x64", "s2", "p1", "g2", "d2", "x(",
         "min(", "max(", "divisible(", "stride=2", "count_include_pad=0", '"x.arch"', '"/dev/zero"']
PUNCTUATION = ["->", "(", ")", "{", "}", ",", "=", "*", "/", "//", "%", "+", "-", "==", "\n", " ", "#", ";",
               '"']
CONTROL = ["\x00", "\x07", "\x1b[2J", "\x1b]0;t\x07", "\x0c", "\r", "\t", "\u2028", "\ufeff", "\x85", "\udcff"]
POOL = NUMBERS + WORDS + PUNCTUATION + CONTROL


def mutate(text: str, rng: random.Random, edits: int = 0) -> str:
    """``text`` with 1 to 4 random edits (or ``edits``)."""
    for _ in range(edits or rng.randint(1, 4)):
        text = (_token_edit if rng.random() < 0.7 else _byte_edit)(text, rng)
    return text


def _token_edit(text: str, rng: random.Random) -> str:
    tokens = TOKEN.findall(text) or [""]
    i, j = rng.randrange(len(tokens)), rng.randrange(len(tokens))
    kind = rng.choice(("delete", "duplicate", "swap", "insert", "insert", "replace"))
    if kind == "delete":
        del tokens[i:i + rng.randint(1, 3)]
    elif kind == "duplicate":
        tokens[i:i] = tokens[i:i + rng.randint(1, 8)] * rng.randint(1, 3)
    elif kind == "swap":
        tokens[i], tokens[j] = tokens[j], tokens[i]
    elif kind == "insert":
        tokens.insert(i, rng.choice(POOL))
    else:
        tokens[i] = rng.choice(NUMBERS) if tokens[i][:1].isdigit() else rng.choice(POOL)
    return "".join(tokens)


def _byte_edit(text: str, rng: random.Random) -> str:
    if not text:
        return rng.choice(POOL)
    i = rng.randrange(len(text))
    span = rng.randint(1, 16)
    kind = rng.choice(("delete", "duplicate", "swap", "insert"))
    if kind == "delete":
        return text[:i] + text[i + span:]
    if kind == "duplicate":
        return text[:i] + text[i:i + span] * rng.randint(2, 4) + text[i:]
    if kind == "swap":
        j = rng.randrange(len(text))
        a, b = sorted((i, j))
        return text[:a] + text[b:b + span] + text[a + span:b] + text[a:a + span] + text[b + span:]
    return text[:i] + rng.choice(CONTROL + [chr(rng.randrange(1, 0x250))]) + text[i:]
