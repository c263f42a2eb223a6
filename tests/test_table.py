"""Tables as rich draws them: archlang writes what rich prints, plain and coloured, at the table's
own width and fitted to a narrower one, byte for byte; a table fits a given width by shortening
names in the middle, colours only on request, and `check` imports rich only where it alone knows
what it would print (a Windows console, characters wider than a column, a console with no room)."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys

import pytest
from rich.console import Console

import archlang
from archlang.emit.formats import report_table, write_table
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archlang.emit.table import (Column, Table, coloured_lines, console_for, plain_lines, plain_width, render,
                                 rich_table, shorten_middle, table_lines)
from conftest import ROOT, SPECS, run_cli

ALL_SPECS = sorted(p.stem for p in SPECS.glob("*.arch"))
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def rich_text(table: Table, width: int = 1000) -> list[str]:
    buffer = io.StringIO()
    Console(file=buffer, width=width, color_system=None).print(rich_table(table))
    return buffer.getvalue().splitlines()


@pytest.mark.parametrize("name", ALL_SPECS)
def test_plain_table_is_what_rich_prints(name: str) -> None:
    table = report_table(archlang.check(SPECS / f"{name}.arch"))
    assert plain_lines(table) == rich_text(table)


def rich_coloured(table: Table) -> str:
    buffer = io.StringIO()
    console_for(buffer, True, plain_width(table)).print(rich_table(table), crop=False)
    return buffer.getvalue()


@pytest.mark.parametrize("name", ALL_SPECS)
def test_coloured_table_is_what_rich_prints(name: str) -> None:
    table = report_table(archlang.check(SPECS / f"{name}.arch"))
    assert "".join(line + "\n" for line in coloured_lines(table)) == rich_coloured(table)


def test_coloured_frozen_rows_and_empty_cells_are_what_rich_prints() -> None:
    table = report_table(archlang.check("input 8x8x3\nfreeze(conv 3x3 x4 -> bn) -> relu -> flatten -> fc 2\n"))
    assert "dim" in table.styles
    assert "".join(line + "\n" for line in coloured_lines(table)) == rich_coloured(table)
    odd = Table([Column("a", shrink=True), Column("bb", right=True), Column("c")], footer=("", "", ""))
    odd.add("", "1", "long cell")
    odd.add("x", "", "", style="dim")
    assert "".join(line + "\n" for line in coloured_lines(odd)) == rich_coloured(odd)


def test_rich_draws_what_only_it_can(monkeypatch: pytest.MonkeyPatch) -> None:
    """A style the fast path does not know, a dumb terminal (plain, as rich prints it), Windows,
    a wide character, a console too narrow to give every column room."""
    table = report_table(archlang.check(SPECS / "lenet5.arch"))
    table.styles[0] = "green"
    assert table_lines(table, True) is None
    table.styles[0] = ""
    monkeypatch.setenv("TERM", "dumb")
    assert table_lines(table, True) == plain_lines(table)
    monkeypatch.setenv("TERM", "xterm-256color")
    assert table_lines(table, False, width=12) is None
    table.rows[0] = ("畳み込み1",) + table.rows[0][1:]
    assert table_lines(table, False) is None
    monkeypatch.setattr("archlang.emit.table.os.name", "nt")
    assert table_lines(table, True) is None


def rich_at(table: Table, color: bool, width: int) -> str:
    buffer = io.StringIO()
    console_for(buffer, color, width).print(rich_table(table), crop=False)
    return buffer.getvalue()


@pytest.mark.parametrize("name", ["resnet", "googlenet", "yolov8", "lenet5", "efficientnet", "cifar_augment"])
@pytest.mark.parametrize("color", [False, True])
def test_fitted_table_is_what_rich_prints(name: str, color: bool) -> None:
    table = report_table(archlang.check(SPECS / f"{name}.arch"))
    compared = 0
    for width in (plain_width(table) - 1, 120, 100, 80, 72, 60, 50, 40):
        lines = table_lines(table, color, width)
        if lines is not None:
            assert "".join(line + "\n" for line in lines) == rich_at(table, color, width), width
            compared += 1
    assert compared >= 4


CELL = st.text(st.sampled_from("abcx.19_- …"), max_size=14)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(CELL, st.booleans(), st.booleans()), min_size=1, max_size=6),
       st.lists(st.tuples(st.lists(CELL, min_size=6, max_size=6), st.sampled_from(["", "dim"])), max_size=5),
       st.booleans(), st.integers(2, 90), st.booleans())
def test_any_table_at_any_width_is_what_rich_prints(columns: list, rows: list, footer: bool, width: int,
                                                    color: bool) -> None:
    table = Table([Column(h or "h", right=r, shrink=s) for h, r, s in columns])
    for cells, style in rows:
        table.add(*cells[:len(columns)], style=style)
    if footer:
        table.footer = tuple(c[:3] for c, _, _ in columns)
    lines = table_lines(table, color, width)
    if lines is not None:
        assert "".join(line + "\n" for line in lines) == rich_at(table, color, width)


def test_scale_and_ops_tables_are_what_rich_prints() -> None:
    _, out, _ = run_cli("scale", str(SPECS / "efficientnet.arch"), "--phi", "2")
    assert out.splitlines()[1].split() == ["phi", "depth", "width", "res", "params", "mults", "mults", "/",
                                           "phi=0", "1.920^phi"]
    from archlang.emit.formats import scaling_table
    from archlang.scaling import Step

    steps = [Step(0, 1.0, 1.0, 224, 10, 100), Step(1, 1.2, 1.1, 256, 20, 300)]
    lines = scaling_table(steps, 1.2, 1.1, 1.15).splitlines()
    table = Table([Column("phi")] + [Column(h, right=True) for h in ("depth", "width", "res", "params", "mults",
                                                                     "mults / phi=0", "1.920^phi")])
    table.add("0", "1.000", "1.000", "224", "10", "100 (100)", "1.00", "1.00")
    table.add("1", "1.200", "1.100", "256", "20", "300 (300)", "3.00", "1.92")
    assert lines[1:] == plain_lines(table) == rich_text(table)


def test_shorten_middle_keeps_both_ends() -> None:
    assert shorten_middle("layer4.unit3.bottleneck1.conv3", 30) == "layer4.unit3.bottleneck1.conv3"
    assert shorten_middle("layer4.unit3.bottleneck1.conv3", 15) == "layer4.…1.conv3"
    assert shorten_middle("abcdef", 2) == "a…"
    assert shorten_middle("abcdef", 1) == "…"
    for width in range(1, 12):
        assert len(shorten_middle("features.layer4.conv3", width)) == width


@pytest.mark.parametrize("width", [60, 72, 90])
def test_table_fits_the_width_by_shortening_names(width: int) -> None:
    report = archlang.check(SPECS / "resnet.arch")
    out = io.StringIO()
    write_table(report, out, width=width)
    lines = out.getvalue().splitlines()
    table_lines = lines[1: 3 + len(report.rows) + 2]
    assert all(len(line) <= width for line in table_lines), max(map(len, table_lines))
    rows = table_lines[2: 2 + len(report.rows)]
    shortened = 0
    for row, line in zip(report.rows, rows):
        cells = re.split(r"\s{2,}", line.strip())
        assert cells[-2:] == [f"{row.params:,}", f"{row.mults:,}"]  # numbers are never cut
        name = cells[0]
        if name != row.name:
            shortened += 1
            head, _, tail = name.partition("…")
            assert row.name.startswith(head) and row.name.endswith(tail) and len(name) < len(row.name)
    assert shortened > 0
    assert f"{report.totals.mults:,}" in table_lines[-1]


def test_colour_only_when_asked() -> None:
    report = archlang.check(SPECS / "lenet5.arch")
    plain, coloured = io.StringIO(), io.StringIO()
    write_table(report, plain)
    write_table(report, coloured, color=True, width=200)
    assert "\x1b[" not in plain.getvalue()
    assert "\x1b[1m" in coloured.getvalue()  # bold header and totals
    assert ANSI.sub("", coloured.getvalue()) == plain.getvalue()


def test_frozen_rows_are_dimmed_on_a_terminal(tmp_path) -> None:
    report = archlang.check("input 8x8x3\nfreeze(conv 3x3 x4) -> flatten -> fc 2\n")
    out = io.StringIO()
    render(report_table(report), out, color=True, width=120)
    frozen = next(line for line in out.getvalue().splitlines() if "conv1 (frozen)" in line)
    assert "\x1b[2m" in frozen


@pytest.mark.parametrize("colour", ["", "1"])
def test_check_whose_table_fits_does_not_import_rich(colour: str) -> None:
    code = ("import sys; from archlang.cli import main; rc = main(['check', 'specs/resnet.arch']); "
            "assert 'rich' not in sys.modules, 'rich was imported'; sys.exit(rc)")
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR", "TERM")}
    env.update({"FORCE_COLOR": colour, "TERM": "xterm-256color"})
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    assert ("\x1b[1mresnet (specs/resnet.arch)\x1b[0m" in result.stdout) == bool(colour)


def test_check_at_a_narrow_terminal_does_not_import_rich() -> None:
    code = ("import sys; from archlang.cli import main; rc = main(['check', 'specs/resnet.arch', '--width', '80']); "
            "assert 'rich' not in sys.modules, 'rich was imported'; sys.exit(rc)")
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR", "TERM")}
    env.update({"FORCE_COLOR": "1", "TERM": "xterm-256color"})
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    table = [ANSI.sub("", line) for line in result.stdout.splitlines()[1:]]
    assert all(len(line) <= 80 for line in table[:table.index("")]) and "…" in result.stdout
