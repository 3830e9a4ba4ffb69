"""Regenerate the binary documents of the bundled demo corpus.

D01_healthy_northbridge_2030.pdf and D02_urgent_care_board_paper.docx are
rendered from the Markdown sources in scripts/demo_sources/. Output is
deterministic: fixed metadata and timestamps, so re-running the script on
unchanged sources gives byte-identical files.

Usage:  python scripts/build_demo_documents.py
Needs:  reportlab, python-docx
"""

from __future__ import annotations

import datetime as dt
import io
import re
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ROOT / "scripts" / "demo_sources"
CORPUS = ROOT / "assistant" / "demo" / "corpus"

FIXED_DATE = dt.datetime(2024, 1, 15, 9, 0, 0)
ZIP_DATE = (2024, 1, 15, 9, 0, 0)


# --------------------------------------------------------------------------
# A very small Markdown reader: headings, paragraphs, numbered and bulleted
# lists, pipe tables. Enough for the demo sources and nothing more.
# --------------------------------------------------------------------------

def parse_markdown(text: str) -> list[tuple]:
    blocks: list[tuple] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].rstrip()
        if not line.strip():
            i += 1
            continue
        m = re.match(r"^(#{1,3})\s+(.*)$", line)
        if m:
            blocks.append(("heading", len(m.group(1)), m.group(2).strip()))
            i += 1
            continue
        if line.lstrip().startswith("|"):
            rows = []
            while i < len(lines) and lines[i].lstrip().startswith("|"):
                cells = [c.strip() for c in lines[i].strip().strip("|").split("|")]
                if not all(re.fullmatch(r":?-{3,}:?", c) for c in cells):
                    rows.append(cells)
                i += 1
            blocks.append(("table", rows))
            continue
        if re.match(r"^\d+\.\s", line):
            items = []
            while i < len(lines) and re.match(r"^\d+\.\s", lines[i]):
                items.append(re.sub(r"^\d+\.\s+", "", lines[i]).strip())
                i += 1
            blocks.append(("olist", items))
            continue
        if re.match(r"^[-*]\s", line):
            items = []
            while i < len(lines) and re.match(r"^[-*]\s", lines[i]):
                items.append(lines[i][2:].strip())
                i += 1
            blocks.append(("ulist", items))
            continue
        para = [line.strip()]
        i += 1
        while i < len(lines) and lines[i].strip() and not re.match(
            r"^(#{1,3}\s|\||\d+\.\s|[-*]\s)", lines[i]
        ):
            para.append(lines[i].strip())
            i += 1
        blocks.append(("para", " ".join(para)))
    return blocks


# --------------------------------------------------------------------------
# PDF (reportlab)
# --------------------------------------------------------------------------

def build_pdf(src: Path, dest: Path, *, title: str, author: str, subject: str,
              footer: str) -> None:
    from reportlab import rl_config
    rl_config.invariant = 1  # fixed document ID and creation date

    from xml.sax.saxutils import escape

    from reportlab.lib import colors
    from reportlab.lib.enums import TA_LEFT
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
    from reportlab.lib.units import mm
    from reportlab.platypus import (
        BaseDocTemplate,
        Frame,
        ListFlowable,
        ListItem,
        PageTemplate,
        Paragraph,
        Spacer,
        Table,
        TableStyle,
    )

    styles = getSampleStyleSheet()
    body = ParagraphStyle("Body", parent=styles["BodyText"], fontName="Helvetica",
                          fontSize=10.5, leading=14.5, spaceAfter=6, alignment=TA_LEFT)
    h1 = ParagraphStyle("H1", parent=styles["Title"], fontName="Helvetica-Bold",
                        fontSize=20, leading=25, textColor=colors.HexColor("#1f4e79"),
                        alignment=TA_LEFT, spaceAfter=10)
    h2 = ParagraphStyle("H2", parent=styles["Heading2"], fontName="Helvetica-Bold",
                        fontSize=14, leading=18, textColor=colors.HexColor("#1f4e79"),
                        spaceBefore=12, spaceAfter=6)
    h3 = ParagraphStyle("H3", parent=styles["Heading3"], fontName="Helvetica-Bold",
                        fontSize=11.5, leading=15, spaceBefore=8, spaceAfter=4)
    cell = ParagraphStyle("Cell", parent=body, fontSize=9, leading=11.5, spaceAfter=0)
    cell_head = ParagraphStyle("CellHead", parent=cell, fontName="Helvetica-Bold",
                               textColor=colors.white)

    story = []
    for block in parse_markdown(src.read_text(encoding="utf-8")):
        kind = block[0]
        if kind == "heading":
            style = {1: h1, 2: h2, 3: h3}[block[1]]
            story.append(Paragraph(escape(block[2]), style))
        elif kind == "para":
            story.append(Paragraph(escape(block[1]), body))
        elif kind in ("olist", "ulist"):
            items = [ListItem(Paragraph(escape(t), body), leftIndent=14)
                     for t in block[1]]
            if kind == "olist":
                story.append(ListFlowable(items, bulletType="1", bulletFormat="%s.",
                                          leftIndent=16, bulletFontName="Helvetica"))
            else:
                story.append(ListFlowable(items, bulletType="bullet", start="•",
                                          leftIndent=16))
            story.append(Spacer(1, 4))
        elif kind == "table":
            rows = block[1]
            data = [[Paragraph(escape(c), cell_head if r == 0 else cell) for c in row]
                    for r, row in enumerate(rows)]
            ncols = len(rows[0])
            width = A4[0] - 40 * mm
            first = width * (0.4 if ncols > 2 else 0.5)
            col_widths = [first] + [(width - first) / (ncols - 1)] * (ncols - 1)
            table = Table(data, colWidths=col_widths, repeatRows=1)
            table.setStyle(TableStyle([
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#1f4e79")),
                ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#9aa9b8")),
                ("ROWBACKGROUNDS", (0, 1), (-1, -1),
                 [colors.white, colors.HexColor("#eef3f8")]),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("TOPPADDING", (0, 0), (-1, -1), 3),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
            ]))
            story.append(Spacer(1, 4))
            story.append(table)
            story.append(Spacer(1, 8))

    def on_page(canvas, doc):
        canvas.saveState()
        canvas.setFont("Helvetica", 8.5)
        canvas.setFillColor(colors.HexColor("#555555"))
        canvas.drawString(20 * mm, 12 * mm, footer)
        canvas.drawRightString(A4[0] - 20 * mm, 12 * mm, f"Page {doc.page}")
        canvas.restoreState()

    buf = io.BytesIO()
    doc = BaseDocTemplate(buf, pagesize=A4, leftMargin=20 * mm, rightMargin=20 * mm,
                          topMargin=20 * mm, bottomMargin=22 * mm,
                          title=title, author=author, subject=subject,
                          creator="thematic demo corpus builder",
                          producer="ReportLab")
    frame = Frame(doc.leftMargin, doc.bottomMargin, doc.width, doc.height, id="body")
    # Footer drawn at page end so it follows the body in the text layer.
    doc.addPageTemplates([PageTemplate(id="page", frames=[frame], onPageEnd=on_page)])
    doc.build(story)
    dest.write_bytes(buf.getvalue())


# --------------------------------------------------------------------------
# DOCX (python-docx)
# --------------------------------------------------------------------------

def build_docx(src: Path, dest: Path, *, title: str, author: str, subject: str) -> None:
    from docx import Document
    from docx.shared import Pt

    doc = Document()
    normal = doc.styles["Normal"]
    normal.font.name = "Calibri"
    normal.font.size = Pt(11)

    for block in parse_markdown(src.read_text(encoding="utf-8")):
        kind = block[0]
        if kind == "heading":
            # '#' -> Title, '##' -> Heading 1, '###' -> Heading 2
            doc.add_heading(block[2], level=block[1] - 1)
        elif kind == "para":
            doc.add_paragraph(block[1])
        elif kind == "olist":
            for item in block[1]:
                doc.add_paragraph(item, style="List Number")
        elif kind == "ulist":
            for item in block[1]:
                doc.add_paragraph(item, style="List Bullet")
        elif kind == "table":
            rows = block[1]
            table = doc.add_table(rows=len(rows), cols=len(rows[0]))
            table.style = "Table Grid"
            for r, row in enumerate(rows):
                for c, text in enumerate(row):
                    cell = table.cell(r, c)
                    cell.text = text
                    if r == 0:
                        for run in cell.paragraphs[0].runs:
                            run.bold = True
            doc.add_paragraph()

    props = doc.core_properties
    props.title = title
    props.author = author
    props.subject = subject
    props.last_modified_by = author
    props.created = FIXED_DATE
    props.modified = FIXED_DATE
    props.last_printed = FIXED_DATE
    props.revision = 1

    raw = io.BytesIO()
    doc.save(raw)
    dest.write_bytes(_normalise_zip(raw.getvalue()))


def _normalise_zip(data: bytes) -> bytes:
    """Rewrite a zip with fixed timestamps and entry order for reproducibility."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        names = src.namelist()
        # [Content_Types].xml must stay first
        names.sort(key=lambda n: (n != "[Content_Types].xml", n))
        for name in names:
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            dst.writestr(info, src.read(name))
    return out.getvalue()


def main() -> int:
    CORPUS.mkdir(parents=True, exist_ok=True)
    pdf = CORPUS / "D01_healthy_northbridge_2030.pdf"
    build_pdf(SOURCES / "D01_healthy_northbridge_2030.md", pdf,
              title="Healthy Northbridge 2030: Our Health Inequalities Strategy",
              author="Northbridge City Council and North and East Northbridge ICB",
              subject="Health inequalities strategy 2024-2030",
              footer="Healthy Northbridge 2030 – Our Health Inequalities Strategy")
    docx = CORPUS / "D02_urgent_care_board_paper.docx"
    build_docx(SOURCES / "D02_urgent_care_board_paper.md", docx,
               title="Reducing avoidable emergency admissions: winter 2023/24 review",
               author="North and East Northbridge Integrated Care Board",
               subject="ICB board paper NENICB/24/031")
    for path in (pdf, docx):
        print(f"wrote {path.relative_to(ROOT)} ({path.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
