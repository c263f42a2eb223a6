"""Column-aligned tables as rich's :class:`rich.table.Table` draws them.

rich lays a table out to the terminal's width, shortening the columns that may shrink; a cell
that does not fit keeps its start and its end (``layer4.unit3.b…1.conv3``) instead of wrapping.
Importing rich costs `check` 60 to 110 ms, and measuring every cell about 0.5 ms a row, so
:func:`table_lines` writes the characters rich would, without importing it: plain (a pipe, a
file, the golden tests) or with the codes rich writes for bold and dim (a terminal), at the
table's own width or fitted to a narrower one by rich's rule for narrowing columns. rich itself
draws the rest (a Windows console in colour, characters wider than one column, a console with no
room for a column). ``tests/test_table.py`` holds the two to each other byte for byte, for every
zoo table and for random tables at random widths.
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
    """Write ``table`` to ``out`` as rich prints it on a console ``width`` columns wide (``None``:
    as wide as the table) that colours when ``color``; through rich itself only where
    :func:`table_lines` cannot say what rich would print."""
    lines = table_lines(table, color, width)
    if lines is not None:
        out.write("".join(line + "\n" for line in lines))
    else:
        draw_with_rich(table, out, color, width)


def draw_with_rich(table: Table, out: TextIO, color: bool, width: int | None) -> None:
    """``table`` drawn by rich itself, where :func:`table_lines` cannot say what it would print."""
    console_for(out, color, width or plain_width(table)).print(rich_table(table), crop=False)


def table_lines(table: Table, color: bool, width: int | None = None) -> list[str] | None:
    """The lines rich prints for ``table`` on a console ``width`` columns wide (``None``: as wide
    as the table) that colours when ``color``; None where only rich knows: a Windows console in
    colour, a row style other than dim, a character that is not one column wide, a console too
    narrow to give every column room."""
    codes = writes_codes(color)
    if codes is None or (codes and any(style not in _ROW_CODES for style in table.styles)) or not _single_width(table):
        return None
    widths = _widths(table)
    if width is not None and plain_width(table) > width:
        fitted = fitted_widths(table, width)
        if fitted is None:
            return None
        widths = fitted
    return _lines(table, widths, codes)


def writes_codes(color: bool) -> bool | None:
    """Whether rich, asked for ``color``, would write colour codes: not where ``TERM`` is dumb or
    unknown (rich's rule); None on Windows, whose consoles only rich knows how to colour."""
    if not color or os.environ.get("TERM", "").lower() in ("dumb", "unknown"):
        return False
    return None if os.name == "nt" else True


def bold(text: str) -> str:
    """``text`` in bold, as rich writes it (SGR 1, then a reset)."""
    return _piece(text, _BOLD)


_BOLD, _DIM, _RESET = "\x1b[1m", "\x1b[2m", "\x1b[0m"
_ROW_CODES = {"": "", "dim": _DIM, "bold": _BOLD}


def _single_width(table: Table) -> bool:
    """Whether every character is one column wide, as ``len`` counts (ASCII, and the ellipsis)."""
    cells = [c.header for c in table.columns] + [c for row in table.rows for c in row] + list(table.footer or ())
    return all(c.isascii() or c.replace("…", "").isascii() for c in cells)


def _lines(table: Table, widths: list[int], codes: bool) -> list[str]:
    """The table with columns ``widths`` wide (their text, not the gap after them) as rich draws
    it: the header and footer bold, the rules and the gaps between columns dim, each row in its
    style, when ``codes``. rich styles each piece of a cell apart (its text, the spaces that fill
    it, the padding after it), so the same pieces are written here; a cell too long for its
    column loses its middle where the column may shrink, else its end (rich's crop)."""
    gap = _piece(" ", _DIM if codes else "")  # the box's column separator

    def line(cells: Sequence[str], code: str, header: bool = False) -> str:
        parts = []
        for i, (cell, w, col) in enumerate(zip(cells, widths, table.columns)):
            if i:
                parts.append(_piece(" ", code) + gap)
            text = shorten_middle(cell, w) if col.shrink and not header else cell[:w]  # headers never shrink
            parts.append(_piece(text.rjust(w), code) if col.right else
                         _piece(text, code) + _piece(" " * (w - len(text)), code))
        return "".join(parts)

    bold_code = _BOLD if codes else ""
    rule = _piece(RULE * (sum(widths) + len(GAP) * (len(widths) - 1)), _DIM if codes else "")
    lines = [line([c.header for c in table.columns], bold_code, header=True), rule]
    lines += [line(r, _ROW_CODES.get(style, "") if codes else "") for r, style in zip(table.rows, table.styles)]
    if table.footer:
        lines += [rule, line(table.footer, bold_code)]
    return lines


def _piece(text: str, code: str) -> str:
    return f"{code}{text}{_RESET}" if code and text else text


def plain_lines(table: Table) -> list[str]:
    """The table at its natural widths, exactly as :func:`rich_table` prints it uncoloured."""
    return _lines(table, _widths(table), False)


def coloured_lines(table: Table) -> list[str]:
    """The table at its natural widths, exactly as :func:`rich_table` prints it in colour."""
    return _lines(table, _widths(table), True)


def fitted_widths(table: Table, width: int) -> list[int] | None:
    """The text widths rich gives the columns on a console ``width`` columns wide, or None where a
    column would get none. rich takes each column at its natural width (with the padding after
    it, at most the room there is), then narrows the widest shrinkable columns to the next widest
    until the table fits, then, if it still does not, every column alike."""
    n = len(table.columns)
    pads = [1] * (n - 1) + [0]  # the padding after each column; the last has none
    room = width - (n - 1)  # less the separators between columns
    if room < 1:
        return None
    widths = [min(w + p, room) or 1 for w, p in zip(_widths(table), pads)]
    if sum(widths) > room:
        widths = _narrow_widest(widths, [c.shrink for c in table.columns], room)
        if sum(widths) > room:
            widths = _reduce(sum(widths) - room, [1] * n, widths, widths)
    text_widths = [w - p for w, p in zip(widths, pads)]
    return text_widths if all(w >= 1 for w in text_widths) else None


def _narrow_widest(widths: list[int], shrinkable: list[bool], room: int) -> list[int]:
    """Narrow the widest shrinkable columns, step by step to the next widest, until the total is
    ``room`` or no step is left (rich's collapse of wrappable columns)."""
    excess = sum(widths) - room
    while any(shrinkable) and sum(widths) and excess > 0:
        widest = max(w for w, s in zip(widths, shrinkable) if s)
        next_widest = max((w if s and w != widest else 0) for w, s in zip(widths, shrinkable))
        if widest == next_widest:
            break
        at_widest = [1 if s and w == widest else 0 for w, s in zip(widths, shrinkable)]
        widths = _reduce(excess, at_widest, [min(excess, widest - next_widest)] * len(widths), widths)
        excess = sum(widths) - room
    return widths


def _reduce(total: int, shares: list[int], limits: list[int], widths: list[int]) -> list[int]:
    """Take ``total`` off ``widths`` in proportion to ``shares``, at most ``limits`` from each,
    rounding each part as Python rounds (rich's ratio reduction, so that the widths match)."""
    shares = [share if limit else 0 for share, limit in zip(shares, limits)]
    left_shares, left = sum(shares), total
    result = []
    for share, limit, w in zip(shares, limits, widths):
        if share and left_shares > 0:
            taken = min(limit, round(share * left / left_shares))
            result.append(w - taken)
            left -= taken
            left_shares -= share
        else:
            result.append(w)
    return result


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
