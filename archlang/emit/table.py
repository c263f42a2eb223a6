"""Column-aligned tables, drawn by rich's :class:`rich.table.Table`.

rich lays a table out to the terminal's width, shortening the columns that may shrink; a cell
that does not fit keeps its start and its end (``layer4.unit3.b…1.conv3``) instead of wrapping.
Importing rich costs `check` 60 to 110 ms, and measuring every cell about 0.5 ms a row, so when
nothing has to fit :func:`render` writes the characters rich would, without importing it: plain
(a pipe, a file, the golden tests) or with the codes rich writes for bold and dim (a terminal
wide enough for the table); ``tests/test_table.py`` holds the two to each other byte for byte.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Iterator, Sequence, TextIO

if TYPE_CHECKING:  # pragma: no cover
    from rich.console import Console, ConsoleOptions

GAP = "  "  # between columns: rich's padding of one on each side, collapsed
RULE = "─"
MIN_SHRUNK = 10  # the narrowest a shrinkable cell is cut to


def shorten_middle(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters by replacing its middle with an ellipsis."""
    if len(text) <= width:
        return text
    if width <= 1:
        return "…"[:max(width, 0)]
    tail = (width - 1) // 2
    return text[: width - 1 - tail] + "…" + text[len(text) - tail:]


class Column:
    """A column's header, whether its cells are right-aligned (numbers), and whether it may be
    narrower than its longest cell (names, ops: shortened in the middle). A plain class: a
    dataclass would cost a millisecond at every start-up of ``check``."""

    __slots__ = ("header", "right", "shrink")

    def __init__(self, header: str, right: bool = False, shrink: bool = False):
        self.header, self.right, self.shrink = header, right, shrink


class Table:
    """Rows of strings under :class:`Column` headers, with an optional footer (the totals) and a
    style per row (a rich style name, for colour on a terminal)."""

    def __init__(self, columns: Sequence[Column], footer: tuple[str, ...] | None = None):
        self.columns = list(columns)
        self.rows: list[tuple[str, ...]] = []
        self.styles: list[str] = []
        self.footer = footer

    def add(self, *cells: str, style: str = "") -> None:
        self.rows.append(cells)
        self.styles.append(style)


def render(table: Table, out: TextIO, color: bool = False, width: int | None = None) -> None:
    """Write ``table`` to ``out``: through rich when it has to fit ``width`` columns (``None``: no
    limit), otherwise as the same text rich would print, without importing it."""
    lines = natural_lines(table, color) if width is None or plain_width(table) <= width else None
    if lines is not None:
        out.write("".join(line + "\n" for line in lines))
        return
    console = console_for(out, color, width or plain_width(table))
    console.print(rich_table(table), crop=False)


def natural_lines(table: Table, color: bool) -> list[str] | None:
    """The table at its natural widths as rich prints it to a console that colours when
    ``color``: plain where rich would not colour (no ``color``; ``TERM`` dumb or unknown), with
    rich's codes elsewhere; None on Windows, whose consoles only rich knows how to colour."""
    codes = writes_codes(color)
    if codes is None or (codes and any(style not in _ROW_CODES for style in table.styles)):
        return None
    return coloured_lines(table) if codes else plain_lines(table)


def writes_codes(color: bool) -> bool | None:
    """Whether rich, asked for ``color``, would write colour codes: not where ``TERM`` is dumb or
    unknown (rich's rule); None on Windows, whose consoles only rich knows how to colour."""
    if not color or os.environ.get("TERM", "").lower() in ("dumb", "unknown"):
        return False
    return None if os.name == "nt" else True


def bold(text: str) -> str:
    """``text`` in bold, as rich writes it (SGR 1, then a reset)."""
    return f"{_BOLD}{text}{_RESET}" if text else ""


_BOLD, _DIM, _RESET = "\x1b[1m", "\x1b[2m", "\x1b[0m"
_ROW_CODES = {"": "", "dim": _DIM, "bold": _BOLD}


def coloured_lines(table: Table) -> list[str]:
    """The table at its natural widths with the codes rich writes for it: header and footer bold,
    the rules and the gaps between columns dim, each row in its style. rich styles each piece of
    a cell apart (the text, the spaces that fill it, the padding after it), so the same pieces
    are written here."""
    widths = _widths(table)
    gap = f"{_DIM} {_RESET}"  # the box's column separator; the padding before it is the row's

    def piece(text: str, code: str) -> str:
        return f"{code}{text}{_RESET}" if code and text else text

    def line(cells: Sequence[str], code: str) -> str:
        parts = []
        for i, (cell, w, col) in enumerate(zip(cells, widths, table.columns)):
            if i:
                parts.append(piece(" ", code) + gap)
            parts.append(piece(cell.rjust(w), code) if col.right else piece(cell, code) + piece(" " * (w - len(cell)), code))
        return "".join(parts)

    rule = piece(RULE * plain_width(table), _DIM)
    lines = [line([c.header for c in table.columns], _BOLD), rule,
             *(line(r, _ROW_CODES.get(style, "")) for r, style in zip(table.rows, table.styles))]
    if table.footer:
        lines += [rule, line(table.footer, _BOLD)]
    return lines


def console_for(out: TextIO, color: bool, width: int) -> "Console":
    """A rich console on ``out``, ``width`` columns wide: colours only when asked."""
    from rich.console import Console

    return Console(file=out, width=width, color_system="auto" if color else None, force_terminal=color or None,
                   highlight=False, markup=False, emoji=False, soft_wrap=False)


def _widths(table: Table) -> list[int]:
    rows = table.rows + ([table.footer] if table.footer else [])
    return [max([len(c.header)] + [len(r[i]) for r in rows]) for i, c in enumerate(table.columns)]


def plain_width(table: Table) -> int:
    """The width of the table at its natural column widths."""
    widths = _widths(table)
    return sum(widths) + len(GAP) * (len(widths) - 1)


def plain_lines(table: Table) -> list[str]:
    """The table at its natural widths, exactly as :func:`rich_table` prints it uncoloured."""
    widths = _widths(table)

    def line(cells: Sequence[str]) -> str:
        return GAP.join(cell.rjust(w) if col.right else cell.ljust(w)
                        for cell, w, col in zip(cells, widths, table.columns))

    rule = RULE * plain_width(table)
    lines = [line([c.header for c in table.columns]), rule, *(line(r) for r in table.rows)]
    if table.footer:
        lines += [rule, line(table.footer)]
    return lines


class _Cell:
    """A cell for rich: as wide as its text, and, in a shrinkable column, narrower by losing its
    middle. Cheaper to measure than rich's ``Text``, which would also wrap."""

    __slots__ = ("text", "shrink")

    def __init__(self, text: str, shrink: bool):
        self.text, self.shrink = text, shrink

    def __rich_measure__(self, console: "Console", options: "ConsoleOptions") -> Any:
        from rich.measure import Measurement

        n = len(self.text)
        return Measurement(min(n, MIN_SHRUNK) if self.shrink else n, n)

    def __rich_console__(self, console: "Console", options: "ConsoleOptions") -> Iterator[Any]:
        from rich.segment import Segment

        width = options.max_width
        text = shorten_middle(self.text, width) if self.shrink else self.text
        yield Segment(text.rjust(width) if options.justify == "right" else text)


def rich_table(table: Table) -> Any:
    """``table`` as a rich :class:`~rich.table.Table`: a rule under the header and above the
    footer, no borders, two spaces between columns."""
    from rich import box
    from rich.table import Table as RichTable

    shown = RichTable(box=box.SIMPLE, show_edge=False, pad_edge=False, collapse_padding=True,
                      show_footer=table.footer is not None, header_style="bold", footer_style="bold",
                      border_style="dim")
    for i, col in enumerate(table.columns):
        footer = _Cell(table.footer[i], col.shrink) if table.footer else ""
        shown.add_column(_Cell(col.header, False), footer=footer, justify="right" if col.right else "left",
                         no_wrap=not col.shrink, overflow="crop")
    for cells, style in zip(table.rows, table.styles):
        shown.add_row(*(_Cell(c, col.shrink) for c, col in zip(cells, table.columns)), style=style or None)
    return shown
