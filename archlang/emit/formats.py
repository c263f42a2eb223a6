"""Rendering a :class:`~archlang.report.Report`: a rich table, JSON, Markdown, CSV and HTML."""

from __future__ import annotations

import io
from enum import StrEnum
from typing import TextIO

from ..core.errors import printable
from ..core.ir import Runs
from ..report import Report, Row
from ..scaling import Step
from ..core.shapes import Layout, fmt
from .table import (Column, Table, bold, console_for, draw_with_rich, plain_width, render, rich_table, shorten_middle,
                    table_lines, writes_codes)


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


_RUNS_NOTE = {Runs.ALWAYS: "", Runs.TRAINING: " (training)", Runs.NEVER: " (unused)"}


def _extra_cell(value: object) -> str:
    """An analysis figure in a table cell: ``427x427`` for a pair, ``-`` for none."""
    if value is None:
        return "-"
    if isinstance(value, (list, tuple)):
        return "x".join(str(v) for v in value)
    return f"{value:,}" if isinstance(value, int) else str(value)


def _cells(row: Row, layout: Layout = Layout.HWC, columns: list[tuple[str, str]] = []) -> tuple[str, ...]:
    name = (row.name + ("" if row.trainable else " (frozen)") + (" (training only)" if row.training_only else "")
            + _RUNS_NOTE[row.runs])
    extra = tuple(_extra_cell(row.extra.get(key)) for _, key in columns)
    return (name, row.op, fmt(row.output, layout), f"{row.params:,}", f"{row.mults:,}") + extra


def megabytes(n: int) -> str:
    """Bytes in torchinfo's unit, 10^6 bytes, two decimals."""
    return f"{n / 1e6:0.2f}"


def summary_lines(report: Report, layout: Layout = Layout.HWC) -> list[str]:
    """archlang's lines, then torchinfo's block (its names, its definitions, a batch of one)."""
    t = report.totals
    training = (f"; in training {t.train_mults:,} ({human(t.train_mults)})"
                if t.train_mults != t.mults else "")
    return [
        *output_lines(report, layout),
        f"parameters: {t.params:,} ({human(t.params)})",
        f"multiplies: {t.mults:,} ({human(t.mults)}){training}",
        f"activations: {t.activations:,} values ({human_bytes(t.activation_bytes)} at fp32)",
        f"parameter memory: {human_bytes(t.param_bytes)} at fp32",
        "",
        f"Total params: {t.params:,}",
        f"Trainable params: {t.trainable_params:,}",
        f"Non-trainable params: {t.frozen_params:,}",
        f"Input size (MB): {megabytes(report.input_bytes)}",
        f"Forward/backward pass size (MB): {megabytes(t.forward_backward_bytes)}",
        f"Params size (MB): {megabytes(t.param_bytes)}",
        f"Estimated Total Size (MB): {megabytes(report.estimated_total_bytes)}",
    ] + report.summary


def output_lines(report: Report, layout: Layout = Layout.HWC) -> list[str]:
    """``input A -> output B`` for one output; with several, one line listing each by name."""
    outs = report.outputs
    if len(outs) <= 1 and not any(o.training_only for o in outs):
        return [f"input {fmt(report.input, layout)} -> output {fmt(report.output, layout)}"]
    listed = ", ".join(f"{o.name} {fmt(o.shape, layout)}" + (" (training)" if o.training_only else "")
                       for o in outs)
    return [f"input {fmt(report.input, layout)} -> outputs {listed}"]


def write(report: Report, kind: str, out: TextIO, color: bool = False, width: int | None = None,
          layout: Layout = Layout.HWC) -> None:
    """Write ``report`` to ``out`` in one of :data:`FORMATS`, shapes in ``layout``."""
    if kind == Format.JSON:
        import json  # the formats' modules load when asked for: `check` prints a table

        json.dump(report.to_dict(layout), out, indent=2)
        out.write("\n")
    elif kind == Format.MARKDOWN:
        out.write(markdown_table(report, layout))
    elif kind == Format.CSV:
        out.write(csv_table(report, layout))
    else:
        write_table(report, out, color, width, layout)


COLUMNS = (Column("Layer", shrink=True), Column("Op", shrink=True), Column("Output"),
           Column("Params", right=True), Column("Mults", right=True))


def report_table(report: Report, layout: Layout = Layout.HWC) -> Table:
    """The layer table: a row per layer (frozen ones dimmed), the totals as its footer. Ops longer
    than :data:`OP_WIDTH` (folded block calls) are shortened in the middle; JSON has them whole."""
    t = report.totals
    table = Table(COLUMNS + tuple(Column(header, right=True) for header, _ in report.columns))
    for row in report.rows:
        name, op, out, params, mults, *extra = _cells(row, layout, report.columns)
        table.add(name, shorten_middle(op, OP_WIDTH), out, params, mults, *extra,
                  style="" if row.trainable else "dim")
    table.footer = ("total", "", fmt(report.output, layout), f"{t.params:,}", f"{t.mults:,}") + tuple(
        _extra_total(report, key) for _, key in report.columns)
    return table


def _extra_total(report: Report, key: str) -> str:
    """The totals cell of an analysis column: its total where the analysis has one."""
    total = report.extra_totals.get(key)
    return _extra_cell(total.get("total")) if isinstance(total, dict) else ""


def write_table(report: Report, out: TextIO, color: bool = False, width: int | None = None,
                layout: Layout = Layout.HWC) -> None:
    """The title, the table (fitted to ``width`` columns when given) and the summary, coloured
    when ``color``; rich draws it only where it alone knows what it would print (Windows)."""
    title = printable(f"{report.network} ({report.file})")  # a file name cannot drive the terminal
    table, summary = report_table(report, layout), summary_lines(report, layout)
    lines = table_lines(table, color, width)
    if lines is not None or not color:  # rich only where it alone knows what it would print
        out.write((bold(title) if lines is not None and writes_codes(color) else title) + "\n")
        if lines is None:
            draw_with_rich(table, out, color, width)
        else:
            out.write("".join(line + "\n" for line in lines))
        out.write("\n" + "".join(line + "\n" for line in summary))
        return
    from rich.text import Text

    console = console_for(out, color, width or plain_width(table))
    console.print(Text(title, style="bold"), crop=False)
    console.print(rich_table(table), crop=False)
    console.print()
    for line in summary:
        console.print(Text(line), crop=False)


def text_table(report: Report) -> str:
    """The table as ``archlang check`` prints it to a file."""
    buffer = io.StringIO()
    write_table(report, buffer)
    return buffer.getvalue()


def markdown_table(report: Report, layout: Layout = Layout.HWC) -> str:
    def esc(cell: str) -> str:
        return cell.replace("|", "\\|")

    lines = [f"| {' | '.join(HEADERS)} |", "| --- | --- | --- | ---: | ---: |"]
    lines += [f"| {' | '.join(esc(c) for c in _cells(r, layout))} |" for r in report.rows]
    t = report.totals
    lines.append(f"| **total** | | {fmt(report.output, layout)} | {t.params:,} | {t.mults:,} |")
    summary = "\n".join(f"- {line}" if line else "" for line in summary_lines(report, layout))
    return "\n".join(lines) + "\n\n" + summary + "\n"


def csv_table(report: Report, layout: Layout = Layout.HWC) -> str:
    import csv

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["name", "op", "output", "params", "mults", "trainable", "line"])
    for r in report.rows:
        writer.writerow([r.name, r.op, fmt(r.output, layout), r.params, r.mults, int(r.trainable), r.line])
    return buffer.getvalue()


def html_table(report: Report, layout: Layout = Layout.HWC) -> str:
    """A compact HTML table for Jupyter: numbers right-aligned, frozen rows greyed, the totals
    as the table's footer, the summary below."""
    import html

    right = ' style="text-align:right"'

    def row(cells: tuple[str, ...], tag: str = "td", attrs: str = "") -> str:
        return f"<tr{attrs}>" + "".join(f"<{tag}{right if i >= 3 else ''}>{html.escape(c)}</{tag}>"
                                        for i, c in enumerate(cells)) + "</tr>"

    t = report.totals
    body = "".join(row(_cells(r, layout), attrs="" if r.trainable else ' style="opacity:0.6"') for r in report.rows)
    total = row(("total", "", fmt(report.output, layout), f"{t.params:,}", f"{t.mults:,}"), "th")
    summary = "<br>".join(html.escape(line) for line in summary_lines(report, layout) if line)
    return (f'<div class="archlang-report"><b>{html.escape(report.network)}</b>'
            f'<table style="font-size:smaller"><thead>{row(HEADERS, "th")}</thead><tbody>{body}</tbody>'
            f"<tfoot>{total}</tfoot></table><p style=\"font-size:smaller\">{summary}</p></div>")


def variant_summary(reports: list[Report], kind: str, color: bool = False, width: int | None = None) -> str:
    """``check -V all``: one row per variant (name, parameters, multiplies, output shapes), fitted
    to ``width`` columns and coloured as asked; in JSON, the list of the per-variant reports."""
    if kind == Format.JSON:
        import json

        return json.dumps([r.to_dict() for r in reports], indent=2) + "\n"
    rows = [(r.variant or "", f"{r.totals.params:,}", f"{r.totals.mults:,}", f"{r.totals.train_mults:,}",
             ", ".join(fmt(o.shape) + (" (training)" if o.training_only else "") for o in r.outputs))
            for r in reports]
    if kind == Format.CSV:
        import csv

        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["variant", "params", "mults", "train_mults", "outputs"])
        writer.writerows([(r.variant, r.totals.params, r.totals.mults, r.totals.train_mults,
                           " ".join(fmt(o.shape) for o in r.outputs)) for r in reports])
        return buffer.getvalue()
    columns = [Column("Variant")] + [Column(h, right=True) for h in ("Params", "Mults", "Train mults")] + [
        Column("Outputs", shrink=True)]
    if kind == Format.MARKDOWN:
        lines = [f"| {' | '.join(c.header for c in columns)} |", "| --- | ---: | ---: | ---: | --- |"]
        return "\n".join(lines + [f"| {' | '.join(row)} |" for row in rows]) + "\n"
    table = Table(columns)
    for row in rows:
        table.add(*row)
    buffer = io.StringIO()
    if reports:
        buffer.write(printable(f"{reports[0].network} ({reports[0].file}), {len(reports)} variants") + "\n")
    render(table, buffer, color, width)
    return buffer.getvalue()


def scaling_table(steps: list[Step], alpha: float, beta: float, gamma: float) -> str:
    """The table of ``archlang scale``: each step's figures and its cost against phi = 0."""
    flops = alpha * beta ** 2 * gamma ** 2
    columns = [Column("phi")] + [Column(h, right=True) for h in
                                 ("depth", "width", "res", "params", "mults", "mults / phi=0", f"{flops:.3f}^phi")]
    table = Table(columns)
    for s in steps:
        table.add(str(s.phi), f"{s.depth:.3f}", f"{s.width:.3f}", str(s.res), f"{s.params:,}",
                  f"{s.mults:,} ({human(s.mults)})", f"{s.mults / steps[0].mults:.2f}", f"{flops ** s.phi:.2f}")
    buffer = io.StringIO()
    buffer.write(f"alpha={alpha} beta={beta} gamma={gamma}: alpha * beta^2 * gamma^2 = {flops:.3f}\n")
    render(table, buffer)
    return buffer.getvalue()
