"""Source spans, diagnostics and the one exception type archlang raises for spec mistakes."""

from __future__ import annotations

import sys
from .records import dataclass, field
from enum import IntEnum, StrEnum
from typing import Any, TextIO

from .terminal import wants_colour


class ExitCode(IntEnum):
    """The exit status of every ``archlang`` command, written here once."""

    OK = 0
    SPEC = 1  # mistakes in a spec (or PyTorch refusing to build what it describes)
    USAGE = 2  # usage, file or environment problems: bad options, unreadable or unwritable files
    MISMATCH = 3  # `compile --verify` found PyTorch disagreeing with the analysis


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Span:
    """A region of a source file, 1-based lines and columns, end column exclusive."""

    file: str
    line: int
    col: int
    end_line: int
    end_col: int

    def cover(self, other: "Span") -> "Span":
        """The smallest span that holds both ``self`` and ``other``."""
        start = min((self.line, self.col), (other.line, other.col))
        end = max((self.end_line, self.end_col), (other.end_line, other.end_col))
        return Span(self.file, start[0], start[1], end[0], end[1])


@dataclass(frozen=True)
class Diagnostic:
    """One error or warning about a spec, rendered rustc-style by :func:`render`."""

    severity: Severity
    message: str
    span: Span | None
    help: str | None = None
    notes: tuple[str, ...] = ()
    code: str = ""  # "usage" for command-line mistakes, "file" for unreadable files

    @property
    def is_error(self) -> bool:
        return self.severity == Severity.ERROR

    def as_dict(self) -> dict[str, Any]:
        """The diagnostic in ``--format json``: severity, message, where (1-based) and hints."""
        s = self.span
        where = ({"file": s.file, "line": s.line, "col": s.col, "end_line": s.end_line, "end_col": s.end_col}
                 if s else {"file": None, "line": None, "col": None, "end_line": None, "end_col": None})
        return {"severity": str(self.severity), "message": self.message, **where, "help": self.help,
                "notes": list(self.notes), "code": self.code}


class ArchError(Exception):
    """A spec (or its parameters) cannot be analysed; carries every diagnostic found."""

    def __init__(self, diagnostics: list[Diagnostic], sources: dict[str, str] | None = None):
        self.diagnostics = list(diagnostics)
        self.sources = dict(sources or {})
        super().__init__(self.render())

    def render(self, colour: bool = False) -> str:
        return "\n".join(render(d, self.sources, colour) for d in self.diagnostics)

    def _render_traceback_(self) -> list[str]:
        """IPython and Jupyter show this instead of a traceback: the diagnostics, as the
        command line prints them, without archlang's internal frames."""
        return self.render(colour=True).splitlines()

    @property
    def exit_status(self) -> ExitCode:
        """:attr:`ExitCode.USAGE` for usage or file problems, :attr:`ExitCode.SPEC` for mistakes in a spec."""
        return ExitCode.USAGE if any(d.code in ("usage", "file") for d in self.diagnostics) else ExitCode.SPEC

    def __str__(self) -> str:  # the rendered diagnostics, so a bare traceback still reads well
        return self.render()


@dataclass
class DiagnosticSink:
    """Collects diagnostics during one run, so that independent mistakes are all reported."""

    items: list[Diagnostic] = field(default_factory=list)

    def error(self, message: str, span: Span | None, help: str | None = None,
              notes: tuple[str, ...] = (), code: str = "") -> None:
        self.items.append(Diagnostic(Severity.ERROR, message, span, help, notes, code))

    def warning(self, message: str, span: Span | None, help: str | None = None) -> None:
        self.items.append(Diagnostic(Severity.WARNING, message, span, help))

    @property
    def has_errors(self) -> bool:
        return any(d.is_error for d in self.items)


def print_diagnostics(diagnostics: list[Diagnostic], sources: dict[str, str], stream: TextIO | None = None) -> None:
    """Write each diagnostic, rendered, to ``stream`` (standard error by default), coloured
    where :func:`~archlang.core.terminal.wants_colour` says so."""
    stream = stream or sys.stderr
    colour = wants_colour(stream)
    for diag in diagnostics:
        print(render(diag, sources, colour), file=stream)


def printable(text: str) -> str:
    """``text`` with control and other unprintable characters escaped (``\\x1b``), so that a
    spec cannot move the cursor, set the terminal title or clear the screen through an error."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else _escape(ch) for ch in text)


def _escape(ch: str) -> str:
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else (f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")


def source_lines(text: str) -> list[str]:
    """The lines of a spec as the lexer counts them: only `\\n` ends a line (a form feed or a
    U+2028 inside a line does not), and a `\\r` before it is not part of the line."""
    return [line.removesuffix("\r") for line in text.split("\n")]


# rustc's colours: the severity and the carets in red or yellow, the gutter in blue, hints bold
_SEVERITY = {Severity.ERROR: "\x1b[1;31m", Severity.WARNING: "\x1b[1;33m"}
_BOLD, _GUTTER, _HELP, _RESET = "\x1b[1m", "\x1b[1;34m", "\x1b[1;36m", "\x1b[0m"


def render(diag: Diagnostic, sources: dict[str, str], colour: bool = False) -> str:
    """Format a diagnostic as ``file:line:col: error: ...`` with the source line and a caret;
    with ANSI colours when ``colour`` (the spec's own text is always escaped by :func:`printable`)."""
    def paint(code: str, text: str) -> str:
        return f"{code}{text}{_RESET}" if colour else text

    severity = paint(_SEVERITY[diag.severity], str(diag.severity))
    message = paint(_BOLD, printable(diag.message))
    if diag.span is None:
        lines = [f"{severity}: {message}"]
    else:
        s = diag.span
        lines = [f"{paint(_BOLD, f'{printable(s.file)}:{s.line}:{s.col}:')} {severity}: {message}"]
        text = sources.get(s.file)
        if text is not None:
            lines += _excerpt(text, s, paint, _SEVERITY[diag.severity])
    lines += [f"{paint(_BOLD, 'note')}: {printable(n)}" for n in diag.notes]
    if diag.help:
        lines.append(f"{paint(_HELP, 'help')}: {printable(diag.help)}")
    return "\n".join(lines)


EXCERPT_WIDTH = 160


def _excerpt(text: str, span: Span, paint: Any, caret_code: str) -> list[str]:
    source_lines_ = source_lines(text)
    if not 1 <= span.line <= len(source_lines_):
        return []
    line = source_lines_[span.line - 1].replace("\t", " ")
    gutter = " " * len(str(span.line))
    end = span.end_col if span.end_line == span.line else len(line.rstrip()) + 1
    if len(line) > EXCERPT_WIDTH:  # a very long line: a window around the span, marked with ellipses
        start = max(0, span.col - 1 - EXCERPT_WIDTH // 4)
        cut = line[start:start + EXCERPT_WIDTH]
        lead = "…" if start else ""
        line = lead + cut + ("…" if start + EXCERPT_WIDTH < len(line) else "")
        shift = start - len(lead)
        span = Span(span.file, span.line, span.col - shift, span.line, min(end - shift, len(line) + 1))
        end = span.end_col
    before = printable(line[:span.col - 1])
    width = max(1, len(printable(line[span.col - 1:max(span.col, end) - 1])))
    return [f"{paint(_GUTTER, f'{span.line} |')} {printable(line)}",
            f"{paint(_GUTTER, f'{gutter} |')} {' ' * len(before)}{paint(caret_code, '^' * width)}"]
