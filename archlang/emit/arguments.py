"""Header parameters as constructor arguments of the generated class.

A parameter becomes an argument when changing it changes only numbers in the module
constructors, each as ``a * p + b``: ``fc classes`` is written ``nn.Linear(512, classes)``. Whether
it does is found by analysing the spec again with the parameter at two other values and comparing
the generated code token by token (the forward pass must not change at all, nor any name). A
parameter that changes anything else (``depth`` choosing blocks) is structural: the class accepts
it only at the value it was generated for. Probing is a heuristic over three values, bounded in
cost; a parameter it cannot probe is treated as structural, which is always safe."""

from __future__ import annotations

import ast
import io
import keyword
import tokenize
from fractions import Fraction
from typing import Callable

from ..api import analyse
from ..core.errors import ArchError
from ..core.ir import Graph
from ..core.records import dataclass

Number = int | float
# A graph's code as the comparison sees it: the constructor lines (one per module, comments
# stripped) and everything else that must not change (forward, the frozen modules).
Code = Callable[[Graph], tuple[list[str], list[str]]]

MAX_PROBED = 8  # header parameters probed per spec; any further one is structural
MAX_NODES = 5000  # larger graphs are not analysed again (each probe costs a full analysis)
_ARITHMETIC = frozenset({"-", "+", "*", "/", "//", "%", "**", "@", "~"})


@dataclass(frozen=True)
class Argument:
    """One header parameter as ``__init__`` takes it."""

    name: str  # the Python keyword argument
    param: str  # the header parameter it stands for
    default: Number  # the value the class was generated for
    structural: bool  # True: only ``default`` is accepted


@dataclass(frozen=True)
class Arguments:
    """The constructor's arguments and, per constructor line, the number literals (by their
    index among the line's number tokens) written as an expression of an argument."""

    arguments: tuple[Argument, ...]
    literals: dict[int, dict[int, str]]


def arguments(graph: Graph, code: Code, reserved: frozenset[str]) -> Arguments:
    """Probe each header parameter of ``graph`` (see the module's docstring); ``code`` writes a
    graph's comparable code, ``reserved`` are names an argument must not take."""
    taken: set[str] = set(reserved)
    names = {}
    for param in graph.params:
        names[param] = _identifier(param, taken)
        taken.add(names[param])
    if not graph.params:
        return Arguments((), {})
    base = code(graph)
    base_numbers = [_numbers(line) for line in base[0]]
    literals: dict[int, dict[int, str]] = {}
    result = []
    probed = 0
    for param, default in graph.params.items():
        found = None
        if probed < MAX_PROBED and len(graph.nodes) <= MAX_NODES:
            probed += 1
            found = _probe(graph, param, names[param], code, base, base_numbers)
        claimed = found is not None and any(i in literals and k in literals[i] for i, k, _ in found)
        structural = found is None or not found or claimed  # changing nothing proves nothing
        if not structural:
            for i, k, expr in found or ():
                literals.setdefault(i, {})[k] = expr
        result.append(Argument(names[param], param, default, structural))
    return Arguments(tuple(result), literals)


def _identifier(param: str, taken: set[str]) -> str:
    name = param if param.isidentifier() and param.isascii() else "p_" + "".join(
        ch if ch.isalnum() and ch.isascii() else "_" for ch in param)
    while keyword.iskeyword(name) or keyword.issoftkeyword(name) or name in taken:
        name += "_"
    return name


def _probe_values(value: Number) -> list[Number]:
    """Two other values, one near and one far, so that a threshold near the default and one
    further off both show (``depth`` 50 -> 51 and 103)."""
    if isinstance(value, int):
        values = [value + 1, 2 * value + 3]
        return values if values[0] != values[1] else [value + 1, value + 2]
    return [value * 0.5, value * 0.75] if value else [0.25, 0.5]


def _analysed(graph: Graph, params: dict[str, Number], pinned: bool) -> Graph | None:
    try:
        return analyse(graph.sources[graph.file], graph.file, params,
                       graph.input.shape if pinned else None, files=dict(graph.files), origin=graph.origin)
    except (ArchError, RecursionError):
        return None


def _probe(graph: Graph, param: str, name: str, code: Code, base: tuple[list[str], list[str]],
           base_numbers: list[list[tuple[int, str, Number]]]) -> list[tuple[int, int, str]] | None:
    """The literals that ``param`` moves, each with its expression; None when it is structural."""
    values = _probe_values(graph.params[param])
    codes: list[list[str]] = []
    pinned = False
    far: Graph | None = None  # the far value's analysis, when the input check below made it
    for v in values:  # the near value first: a structural parameter costs one analysis
        probe = far if far is not None and v == values[1] else _analysed(graph, {**graph.params, param: v}, pinned)
        probe_code = None if probe is None else code(probe)
        if probe_code == base and not codes:
            # the near value moves nothing in the model: structural whatever the far value does
            # (it would have to move a literal that the near value left alone: no line fits that)
            return []
        if probe is not None and not codes and probe.input.shape != graph.input.shape and not pinned:
            again = _analysed(graph, {**graph.params, param: values[1]}, False)
            if again is not None and again.input.shape == probe.input.shape:  # `--input` replaced the spec's
                pinned = True
                probe = _analysed(graph, {**graph.params, param: v}, pinned)
                probe_code = None if probe is None else code(probe)
            else:
                far = again  # the parameter sets the input size: the far probe is this analysis
        if probe_code is None:
            return None
        ctors, rest = probe_code
        if rest != base[1] or len(ctors) != len(base[0]):
            return None
        codes.append(ctors)
    return _fit(graph.params[param], values, name, base, base_numbers, codes)


def _fit(default: Number, values: list[Number], name: str, base: tuple[list[str], list[str]],
         base_numbers: list[list[tuple[int, str, Number]]],
         codes: list[list[str]]) -> list[tuple[int, int, str]] | None:
    moved: list[tuple[int, int, str]] = []
    for i, line in enumerate(base[0]):
        if all(c[i] == line for c in codes):
            continue
        others = [_numbers(c[i]) for c in codes]
        if any(_skeleton(line) != _skeleton(c[i]) for c in codes) or any(
                len(o) != len(base_numbers[i]) for o in others):
            return None
        for k, (_, _, y0) in enumerate(base_numbers[i]):
            ys = [o[k][2] for o in others]
            if all(y == y0 for y in ys):
                continue
            expr = _affine(name, [default, *values], [y0, *ys])
            if expr is None:
                return None
            moved.append((i, k, expr))
    return moved


def _tokens(line: str) -> list[tokenize.TokenInfo]:
    readline = io.StringIO(line.strip() + "\n").readline
    return [t for t in tokenize.generate_tokens(readline)
            if t.type not in (tokenize.NEWLINE, tokenize.NL, tokenize.ENDMARKER)]


def _numbers(line: str) -> list[tuple[int, str, Number]]:
    """``(token index, text, value)`` of each number literal in a line of code."""
    return [(j, t.string, ast.literal_eval(t.string)) for j, t in enumerate(_tokens(line))
            if t.type == tokenize.NUMBER]


def _skeleton(line: str) -> list[str]:
    """The line's tokens with the numbers blanked out."""
    return ["#" if t.type == tokenize.NUMBER else t.string for t in _tokens(line)]


def _affine(name: str, xs: list[Number], ys: list[Number]) -> str | None:
    """``a * name + b`` through the three points, written plainly, when it reproduces every
    ``y`` exactly (value and type) in Python; else None."""
    fx, fy = [Fraction(x) for x in xs], [Fraction(y) for y in ys]
    a = (fy[1] - fy[0]) / (fx[1] - fx[0])
    b = fy[0] - a * fx[0]
    if a * fx[2] + b != fy[2] or a.denominator != 1 or b.denominator != 1:
        return None
    a_, b_ = int(a), int(b)
    term = name if a_ == 1 else f"{a_} * {name}"
    expr = term if b_ == 0 else f"{term} + {b_}" if b_ > 0 else f"{term} - {-b_}"
    for x, y in zip(xs, ys):
        got = eval(expr, {"__builtins__": {}}, {name: x})  # an expression of one name and integers
        if got != y or type(got) is not type(y):
            return None
    return expr


def substitute(line: str, exprs: dict[int, str]) -> str:
    """``line`` with its number literals (by index among them) replaced by expressions,
    parenthesised where an operator beside them would bind tighter."""
    code, sep, note = line.partition("  # ")
    indent = code[:len(code) - len(code.lstrip())]
    body = code.strip()
    tokens = _tokens(body)
    numbers = [j for j, t in enumerate(tokens) if t.type == tokenize.NUMBER]
    for k in sorted(exprs, reverse=True):  # right to left: earlier columns stay valid
        j = numbers[k]
        expr = exprs[k]
        beside = {tokens[j - 1].string if j else "", tokens[j + 1].string if j + 1 < len(tokens) else ""}
        if " " in expr and beside & _ARITHMETIC:
            expr = f"({expr})"
        body = body[:tokens[j].start[1]] + expr + body[tokens[j].end[1]:]
    return indent + body + sep + note
