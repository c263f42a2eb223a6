"""The presenter that :class:`archlang.report.Report` shows itself through: the text table,
the HTML table and the diagram. Installed by ``archlang/__init__``."""

from __future__ import annotations

from typing import Any

from ..report import Report
from .formats import html_table, text_table


class ReportPresenter:
    """Text and HTML tables from :mod:`.formats`; diagrams from :mod:`.dot` (imported when asked)."""

    def text(self, report: Report) -> str:
        return text_table(report)

    def html(self, report: Report) -> str:
        return html_table(report)

    def diagram(self, report: Report, depth: int | None, direction: str) -> Any:
        from .dot import Diagram

        if report.graph is None:
            raise ValueError("this report carries no graph to draw")
        return Diagram(report.graph, depth=depth, direction=direction)
