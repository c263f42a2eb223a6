"""What a notebook shows: a report's compact HTML table with its totals row and a one-line repr,
a diagram's text outline and `.save`, and an ArchError's diagnostics without a traceback. IPython
calls these methods; the tests call them directly."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

import archlang
from archlang.api import load
from archlang.emit.dot import DotMissing, has_dot, to_dot
from conftest import SPECS


class Cells(HTMLParser):
    """The text of every cell, by table section (thead, tbody, tfoot), one list per row."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: dict[str, list[list[str]]] = {}
        self.section = ""
        self.cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in ("thead", "tbody", "tfoot"):
            self.section = tag
        elif tag == "tr":
            self.sections.setdefault(self.section, []).append([])
        elif tag in ("td", "th"):
            self.cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self.cell is not None:
            self.sections[self.section][-1].append("".join(self.cell))
            self.cell = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)


def test_report_repr_is_one_short_line() -> None:
    report = archlang.check(SPECS / "resnet.arch")
    text = repr(report)
    assert "\n" not in text and len(text) < 200
    assert text == ("<Report resnet: 175 rows, 25,557,032 params, 4,089,184,256 mults, "
                    "input 224x224x3 -> output 1000>")


def test_report_html_has_every_row_and_the_totals() -> None:
    report = archlang.check("network t\ninput 8x8x3\nfreeze(conv 3x3 x4) -> relu -> flatten -> fc 2\n")
    parsed = Cells()
    parsed.feed(report._repr_html_())
    assert parsed.sections["thead"] == [["Layer", "Op", "Output", "Params", "Mults"]]
    body = parsed.sections["tbody"]
    assert [row[0] for row in body] == ["conv1 (frozen)", "relu1", "flatten1", "fc1"]
    assert [int(row[3].replace(",", "")) for row in body] == [r.params for r in report.rows]
    (total,) = parsed.sections["tfoot"]
    assert total == ["total", "", "2", f"{report.totals.params:,}", f"{report.totals.mults:,}"]
    assert "Non-trainable params: 112" in report._repr_html_()


def test_html_escapes_what_it_shows() -> None:
    report = archlang.check("network t\ninput 8x8x3\nconv 3x3 x4\n")
    object.__setattr__(report.rows[0], "name", "<b>&")
    assert "&lt;b&gt;&amp;" in report._repr_html_()


def test_diagram_text_outline_names_every_layer_and_merge() -> None:
    report = archlang.check(SPECS / "inception_module.arch")
    diagram = report.diagram()
    text = str(diagram)
    assert repr(diagram) == text
    lines = text.splitlines()
    assert lines[0] == "inception_module: 14 boxes"
    assert lines[1] == "[0] input 28x28x192"
    assert lines[-1] == "[15] output 28x28x256"
    assert lines[-2] == "[14] concat · 28x28x256  <- [2], [6], [10], [13]"  # the four branches' ends
    assert "[3] conv 1x1 x96 · 28x28x96  <- [0]" in lines  # a branch starts again from the input
    for row, line in zip(report.rows, lines[2:-1]):
        assert re.sub(r"^\[\d+\] ", "", line).split("  <-")[0] == f"{row.op} · {'x'.join(map(str, row.output))}"


def test_folded_diagram_outline() -> None:
    report = archlang.check(SPECS / "resnet.arch", depth=18)
    lines = str(report.diagram(depth=0)).splitlines()
    folded = report.fold(0).rows
    assert len(lines) == 1 + 1 + len(folded) + 1  # title, input, a box per folded row, output
    unit = next(r for r in folded if r.folded)
    # torchvision's resnet18 layer1[0]: two 3x3 convs of 36,864 and two batch norms of 128
    assert unit.params == 2 * 36_864 + 2 * 128
    assert f"[5] unit(64) · 56x56x64 · {unit.params:,} params, {unit.mults:,} mults" == lines[6]


def test_diagram_saves_dot_anywhere_and_images_with_graphviz(tmp_path) -> None:
    diagram = archlang.check(SPECS / "lenet5.arch").diagram(direction="LR")
    diagram.save(tmp_path / "lenet.dot")
    assert (tmp_path / "lenet.dot").read_text() == to_dot(load(SPECS / "lenet5.arch"), direction="LR")
    with pytest.raises(ValueError, match="use .svg, .png, .pdf or .dot"):
        diagram.save(tmp_path / "lenet.jpg")
    if has_dot():
        diagram.save(tmp_path / "lenet.svg")
        assert "28x28x6" in (tmp_path / "lenet.svg").read_text()
        assert diagram._repr_svg_().lstrip().startswith("<?xml")
    else:
        with pytest.raises(DotMissing):
            diagram.save(tmp_path / "lenet.svg")
        assert diagram._repr_svg_() is None  # Jupyter then shows the text


def test_diagram_without_graphviz_falls_back_to_text(tmp_path, monkeypatch) -> None:
    import archlang.emit.dot as dot

    monkeypatch.setattr(dot.shutil, "which", lambda name: None)
    diagram = archlang.check(SPECS / "lenet5.arch").diagram()
    assert diagram._repr_svg_() is None and "conv 5x5 s1 p0 x6 · 28x28x6" in str(diagram)
    with pytest.raises(DotMissing, match="apt-get install graphviz"):
        diagram.save(tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def test_arch_error_in_a_notebook_shows_only_the_diagnostics() -> None:
    with pytest.raises(archlang.ArchError) as info:
        archlang.check("input 6x6x3\nconv 7x7 x10\n")
    lines = info.value._render_traceback_()
    plain = [re.sub(r"\x1b\[[0-9;]*m", "", line) for line in lines]
    assert plain == info.value.render().splitlines()
    assert plain[0] == "<spec>:2:6: error: the 7x7 kernel is larger than the padded input 6x6"
    assert plain[1:3] == ["2 | conv 7x7 x10", "  |      ^^^"]
    assert not any("Traceback" in line or ".py" in line for line in lines)
    assert "\x1b[1;31merror\x1b[0m" in lines[0]  # notebooks show ANSI colours
