"""Rendering a :class:`~archlang.report.Report`: a rich table, JSON, Markdown, CSV and HTML."""

from __future__ import annotations

import csv
import html
import io
import json
from enum import StrEnum
from typing import TextIO

from ..report import Report, Row
from ..scaling import Step
from ..core.shapes import fmt



class Format(StrEnum):
    """What ``archlang check --format`` writes."""

    TABLE = "table"
    JSON = "json"
    MARKDOWN = "markdown"
    CSV = "csv"


FORMATS = tuple(Format)
HEADERS = ("Layer", "Op", "Output", "Params", "Mults")
OP_WIDTH = 48  # longer ops (folded block calls) are cut with an ellipsis; JSON has them whole


def human(n: float) -> str:
    """``138.36M``, ``15.47G``, ``416.52K``."""
    for unit, size in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.2f}{unit}"
    return str(int(n))


def human_bytes(n: float) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:.2f} {unit}"
    return f"{int(n)} B"


def _cells(row: Row, columns: list[tuple[str, str]] = []) -> tuple[str, ...]:
    name = row.name + ("" if row.trainable else " (frozen)")
    extra = tuple(_extra_cell(row.extra.get(key)) for _, key in columns)
    return (name, row.op, fmt(row.output), f"{row.params:,}", f"{row.mults:,}") + extra


def _extra_cell(value: object) -> str:
    """An analysis figure in a table cell: ``427x427`` for a pair, ``-`` for none."""
    if value is None:
        return "-"
    if isinstance(value, (list, tuple)):
        return "x".join(str(v) for v in value)
    return f"{value:,}" if isinstance(value, int) else str(value)


def summary_lines(report: Report) -> list[str]:
    t = report.totals
    frozen = f", frozen {t.frozen_params:,}" if t.frozen_params else ""
    return [
        f"input {fmt(report.input)} -> output {fmt(report.output)}",
        f"parameters: {t.params:,} ({human(t.params)}; trainable {t.trainable_params:,}{frozen})",
        f"multiplies: {t.mults:,} ({human(t.mults)})",
        f"activations: {t.activations:,} values ({human_bytes(t.activation_bytes)} at fp32)",
        f"parameter memory: {human_bytes(t.param_bytes)} at fp32",
    ] + report.summary


def write(report: Report, kind: str, out: TextIO, color: bool = False, width: int | None = None) -> None:
    """Write ``report`` to ``out`` in one of :data:`FORMATS`."""
    if kind == Format.JSON:
        json.dump(report.to_dict(), out, indent=2)
        out.write("\n")
    elif kind == Format.MARKDOWN:
        out.write(markdown_table(report))
    elif kind == Format.CSV:
        out.write(csv_table(report))
    else:
        write_table(report, out, color, width)


def table_lines(report: Report, width: int | None = None) -> list[tuple[str, str]]:
    """The table as ``(style, text)`` lines: plain aligned columns, computed once, so that
    10,000 rows cost milliseconds. ``width`` shortens the Op column to fit."""
    t = report.totals
    headers = HEADERS + tuple(h for h, _ in report.columns)
    rows = [_cells(r, report.columns) for r in report.rows]
    total = ("total", "", fmt(report.output), f"{t.params:,}", f"{t.mults:,}") + tuple(
        _extra_cell(report.extra_totals.get(key, {}).get("total")) if isinstance(report.extra_totals.get(key), dict)
        else "" for _, key in report.columns)
    widths = [max(len(h), *(len(r[i]) for r in rows), len(total[i])) for i, h in enumerate(headers)]
    widths[1] = min(widths[1], OP_WIDTH)
    if width:
        widths[1] = max(8, min(widths[1], width - sum(widths) + widths[1] - 2 * (len(headers) - 1)))

    def line(cells: tuple[str, ...]) -> str:
        out = []
        for i, (cell, w) in enumerate(zip(cells, widths)):
            cell = cell if len(cell) <= w else cell[: w - 1] + "…"
            out.append(cell.rjust(w) if i >= 3 else cell.ljust(w))
        return "  ".join(out).rstrip()

    rule = "  ".join("─" * w for w in widths)
    lines = [("title", f"{report.network} ({report.file})"), ("header", line(headers)), ("rule", rule)]
    lines += [("row" if r.trainable else "frozen", line(cells)) for r, cells in zip(report.rows, rows)]
    lines += [("rule", rule), ("total", line(total)), ("", "")]
    lines += [("summary", text) for text in summary_lines(report)]
    return lines


_STYLES = {"title": "bold", "header": "bold", "rule": "dim", "frozen": "dim", "total": "bold"}


def write_table(report: Report, out: TextIO, color: bool = False, width: int | None = None) -> None:
    """The table; through rich, with colours, when ``color`` (a terminal), else as plain text."""
    lines = table_lines(report, width)
    if not color:
        out.write("\n".join(text for _, text in lines) + "\n")
        return
    from rich.console import Console
    from rich.text import Text

    console = Console(file=out, highlight=False, soft_wrap=True)
    for style, text in lines:
        console.print(Text(text, style=_STYLES.get(style, "")))


def text_table(report: Report) -> str:
    return "\n".join(text for _, text in table_lines(report)) + "\n"


def markdown_table(report: Report) -> str:
    def esc(cell: str) -> str:
        return cell.replace("|", "\\|")

    lines = [f"| {' | '.join(HEADERS)} |", "| --- | --- | --- | ---: | ---: |"]
    lines += [f"| {' | '.join(esc(c) for c in _cells(r))} |" for r in report.rows]
    t = report.totals
    lines.append(f"| **total** | | {fmt(report.output)} | {t.params:,} | {t.mults:,} |")
    return "\n".join(lines) + "\n\n" + "\n".join(f"- {line}" for line in summary_lines(report)) + "\n"


def csv_table(report: Report) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["name", "op", "output", "params", "mults", "trainable", "line"])
    for r in report.rows:
        writer.writerow([r.name, r.op, fmt(r.output), r.params, r.mults, int(r.trainable), r.line])
    return buffer.getvalue()


def html_table(report: Report) -> str:
    head = "".join(f"<th>{h}</th>" for h in HEADERS)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in _cells(r)) + "</tr>"
                   for r in report.rows)
    summary = "<br>".join(html.escape(line) for line in summary_lines(report))
    return (f"<b>{html.escape(report.network)}</b><table><thead><tr>{head}</tr></thead>"
            f"<tbody>{body}</tbody></table><p>{summary}</p>")


def scaling_table(steps: list[Step], alpha: float, beta: float, gamma: float) -> str:
    """The table of ``archlang scale``: each step's figures and its cost against phi = 0."""
    flops = alpha * beta ** 2 * gamma ** 2
    header = ("phi", "depth", "width", "res", "params", "mults", "mults / phi=0", f"{flops:.3f}^phi")
    rows = [header] + [(str(s.phi), f"{s.depth:.3f}", f"{s.width:.3f}", str(s.res), f"{s.params:,}",
                        f"{s.mults:,} ({human(s.mults)})", f"{s.mults / steps[0].mults:.2f}",
                        f"{flops ** s.phi:.2f}") for s in steps]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))) for r in rows]
    note = f"alpha={alpha} beta={beta} gamma={gamma}: alpha * beta^2 * gamma^2 = {flops:.3f}"
    return "\n".join([note, *lines]) + "\n"
