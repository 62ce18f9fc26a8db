"""The daily report as PDF (fpdf2, pure Python), from the same layout as the Markdown.

The PDF uses the standard Helvetica font so that nothing (no font file) has to ship with the
service; that font covers Latin-1, which is all Indonesian needs. Typographic characters outside
it (dashes, curly quotes, the ellipsis) are written as their ASCII forms, anything else as "?".
"""

from __future__ import annotations

from typing import Final

from fpdf import FPDF
from fpdf.fonts import FontFace

from sinks.i18n import Lang, message
from sinks.report.daily import DailyReport
from sinks.report.render import Section, Table, layout

__all__ = ["latin1", "render_pdf"]

FONT: Final = "Helvetica"
BODY_PT: Final = 9
LINE_MM: Final = 5.0
_HEADING_FILL: Final = (225, 230, 240)
_ASCII_FORMS: Final = str.maketrans(
    {
        "—": "-",
        "–": "-",
        "‒": "-",
        "‐": "-",
        "…": "...",
        "“": '"',
        "”": '"',
        "„": '"',
        "‘": "'",
        "’": "'",
        "•": "-",
        "\u00a0": " ",
    }
)


def latin1(text: str) -> str:
    """``text`` as the core PDF fonts can show it."""
    return text.translate(_ASCII_FORMS).encode("latin-1", "replace").decode("latin-1")


class _ReportPdf(FPDF):
    def __init__(self, footer_text: str) -> None:
        super().__init__(orientation="landscape", format="A4")
        self._footer_text = footer_text

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(FONT, size=8)
        # "{nb}" is fpdf2's alias for the page count, filled in when the document is closed.
        text = self._footer_text.format(page=self.page_no(), pages="{nb}")
        self.cell(0, 6, latin1(text), align="R")


def _table(pdf: FPDF, table: Table) -> None:
    heading = FontFace(emphasis="BOLD", fill_color=_HEADING_FILL)
    with pdf.table(
        col_widths=table.widths,
        headings_style=heading,
        line_height=LINE_MM,
        text_align="LEFT",
        repeat_headings=1,
    ) as grid:
        rows = [table.headers, *table.rows]
        for cells in rows:
            row = grid.row()
            for column, text in enumerate(cells):
                align = "RIGHT" if column in table.numeric else "LEFT"
                row.cell(latin1(text), align=align)
        if table.footer is not None:
            row = grid.row()
            for column, text in enumerate(table.footer):
                align = "RIGHT" if column in table.numeric else "LEFT"
                row.cell(latin1(text), align=align, style=FontFace(emphasis="BOLD"))


def _section(pdf: FPDF, section: Section) -> None:
    pdf.ln(3)
    pdf.set_font(FONT, "B", 12)
    pdf.multi_cell(0, 7, latin1(section.title), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, size=BODY_PT)
    for line in section.lines:
        pdf.multi_cell(0, LINE_MM, latin1(f"- {line}"), new_x="LMARGIN", new_y="NEXT")
    if section.table is None:
        return
    if section.table.rows:
        _table(pdf, section.table)
    else:
        pdf.multi_cell(0, LINE_MM, latin1(section.empty), new_x="LMARGIN", new_y="NEXT")


def render_pdf(report: DailyReport, lang: Lang = "id", *, compress: bool = True) -> bytes:
    """A4 landscape; ``compress=False`` keeps the page text readable in the bytes (tests)."""
    page = layout(report, lang)
    pdf = _ReportPdf(message("daily_page", lang, page="{page}", pages="{pages}"))
    pdf.set_compression(compress)
    pdf.set_title(latin1(page.title))
    pdf.set_creator("sitrep")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    pdf.set_font(FONT, "B", 16)
    pdf.multi_cell(0, 9, latin1(page.title), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, size=BODY_PT + 1)
    for line in page.subtitle:
        pdf.multi_cell(0, LINE_MM, latin1(line), new_x="LMARGIN", new_y="NEXT")
    for section in page.sections:
        _section(pdf, section)
    return bytes(pdf.output())
