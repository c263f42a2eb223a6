"""Reading a spec and analysing it into a :class:`~archlang.core.ir.Graph`; no torch. The report,
the backends and the commands build on this."""

from __future__ import annotations

import gc
import os
from contextlib import contextmanager
from typing import Iterator

from .sema.elaborate import Elaborator
from .core.errors import ArchError, Diagnostic, DiagnosticSink, Severity, Span
from .core.ir import Graph
from .core.reading import SpecReadError, read_spec_file, read_stdin
from .lang import syntax as s
from .lang.parser import parse
from .sema.scope import Fatal

Spec = str | os.PathLike


def is_path(spec: Spec) -> bool:
    """A spec is a path when it is one, or a one-line string naming a `.arch` or existing file;
    anything else is the spec's text."""
    if isinstance(spec, os.PathLike):
        return True
    return "\n" not in spec and (spec.endswith(".arch") or os.path.isfile(spec))


def read_file(path: Spec) -> tuple[str, str]:
    """``(text, file name)``; an unreadable, non-regular, oversized or non-UTF-8 file is an
    :class:`ArchError` (exit 2). ``-`` reads standard input."""
    try:
        if str(path) == "-":
            return read_stdin(), "<stdin>"
        return read_spec_file(path), str(path)
    except SpecReadError as exc:
        raise ArchError([Diagnostic(Severity.ERROR, f"cannot read `{_shown(path)}`: {exc.reason}", None,
                                    help=exc.help, code="file")]) from None


def _shown(path: Spec) -> str:
    """A file name as it can be printed: undecodable bytes and control characters escaped."""
    from .core.errors import printable

    return printable(os.fsdecode(path) if isinstance(path, bytes) else str(path))


def read_spec(spec: Spec) -> tuple[str, str]:
    """``(text, file name)`` of a spec given as a path or as the text itself."""
    return read_file(spec) if is_path(spec) else (str(spec), "<spec>")


def variant_names(text: str, file: str = "<spec>") -> list[str]:
    """The names of a spec's `variant` statements, in order (a syntax error raises)."""
    return list(dict.fromkeys(st.name for st in parse(text, file).statements if isinstance(st, s.Variant)))


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Parsing and elaboration allocate millions of objects and free almost none: the cyclic
    collector would walk the growing heap again and again (a quarter of the time at 100,000
    layers, and superlinear). It is paused meanwhile and runs as usual afterwards."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def analyse(text: str, file: str = "<spec>", params: dict[str, float] | None = None,
            input_shape: tuple[int, ...] | None = None, variant: str | None = None, *,
            files: dict[str, str] | None = None, origin: str | None = None) -> Graph:
    """Parse and analyse a spec's text; raises :class:`ArchError` with every error found.
    ``input_shape`` replaces the spec's ``input``; ``variant`` picks a `variant` statement's
    values (``params`` still override them). ``files`` (absolute path -> text) replaces the disk
    for `use`, with ``origin`` the main file's absolute path: a saved model's spec."""
    with _collector_paused():
        return _analyse(text, file, params, input_shape, variant, files, origin)


def _analyse(text: str, file: str, params: dict[str, float] | None, input_shape: tuple[int, ...] | None,
             variant: str | None, files: dict[str, str] | None, origin: str | None) -> Graph:
    sources = {file: text}
    module = parse(text, file)
    sink = DiagnosticSink()
    elaborator = Elaborator(sink, sources, params or {}, input_shape, files, origin, variant)
    try:
        graph = elaborator.run(module)
    except Fatal:
        graph = elaborator.graph
    except RecursionError:
        sink.error("the spec nests blocks or expressions too deeply to analyse",
                   elaborator.innermost_call or Span(file, 1, 1, 1, 2),
                   "flatten the nesting: a chain of blocks can be written one after the other")
        graph = elaborator.graph
    # a block's mistake is reported once (with its first call), not once per call
    unique = _first_of_each(sink.items)
    if any(d.is_error for d in unique):
        raise ArchError(unique, sources)
    graph.warnings = unique
    return graph


def _first_of_each(items: list[Diagnostic]) -> list[Diagnostic]:
    """Diagnostics without repeats; of one mistake, the first report (and its call notes)."""
    seen: set[tuple] = set()
    unique = []
    for d in items:
        key = (d.severity, d.message, d.span, d.help)
        if key not in seen:
            seen.add(key)
            unique.append(d)
    return unique


def load(spec: Spec, params: dict[str, float] | None = None,
         input_shape: tuple[int, ...] | None = None, variant: str | None = None) -> Graph:
    """Read and analyse a spec given as a path or as its text."""
    text, file = read_spec(spec)
    return analyse(text, file, params, input_shape, variant)


def load_file(path: Spec, params: dict[str, float] | None = None,
              input_shape: tuple[int, ...] | None = None, variant: str | None = None) -> Graph:
    """Read and analyse the spec at ``path`` (the command line's reading: always a file)."""
    text, file = read_file(path)
    return analyse(text, file, params, input_shape, variant)
