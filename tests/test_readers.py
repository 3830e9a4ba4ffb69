"""Readers: each format into canonical text, and each failure as one clear ReadError."""

from __future__ import annotations

import pytest

from index.chunking import chunk
from index.errors import ReadError
from index.readers import ReadOptions, read_path
from index.readers.pdf import clean_pages
from index.text import canonicalise


def _error(path, options=None) -> str:
    with pytest.raises(ReadError) as err:
        read_path(path, options)
    assert str(path) in str(err.value)
    return err.value.problem


def _one(path, options=None):
    docs = read_path(path, options)
    assert len(docs) == 1
    doc = docs[0]
    assert canonicalise(doc.text) == doc.text and doc.reader and doc.reader_version and doc.format
    return doc


def test_text_encodings(tmp_path):
    accents = "Caf\u00e9 na\u00efve r\u00e9sum\u00e9 \u00e0 bient\u00f4t, cr\u00e8me br\u00fbl\u00e9e.\r\nLine two."
    (tmp_path / "a.txt").write_bytes(accents.encode("cp1252"))
    (tmp_path / "b.md").write_bytes(accents.encode("utf-16"))
    expected = accents.replace("\r\n", "\n")
    assert _one(tmp_path / "a.txt").text == expected
    doc = _one(tmp_path / "b.md")
    assert doc.text == expected and doc.format == "markdown" and doc.name == "b"


def test_common_errors(tmp_path):
    assert _error(tmp_path / "missing.txt") == "no such file"
    (tmp_path / "dir.txt").mkdir()
    assert "directory" in _error(tmp_path / "dir.txt")
    (tmp_path / "empty.txt").write_bytes(b"")
    assert "empty" in _error(tmp_path / "empty.txt")
    (tmp_path / "blank.txt").write_text("  \n\n ")
    assert "empty" in _error(tmp_path / "blank.txt")
    (tmp_path / "x.odt").write_text("x")
    assert ".pdf" in _error(tmp_path / "x.odt") and "unsupported" in _error(tmp_path / "x.odt")
    (tmp_path / "bin.txt").write_bytes(b"\x7fELF\x02\x01\x01\x00\x00\x00" * 100)
    assert "binary" in _error(tmp_path / "bin.txt")
    (tmp_path / "big.txt").write_text("word " * 100_000)
    problem = _error(tmp_path / "big.txt", ReadOptions(max_file_mb=0.1))
    assert "0.5 MB" in problem and "limit of 0.1 MB" in problem and "ingest.max_file_mb" in problem


def _pdf(path, pages):
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    c = canvas.Canvas(str(path), pagesize=A4)
    for n, lines in enumerate(pages, start=1):
        c.drawString(72, 800, f"{n}/{len(pages)}")
        for i, line in enumerate(lines):
            c.drawString(72, 760 - 14 * i, line)
        c.showPage()
    c.save()


WRAPPED = [
    ["Dan:", "So what do you think about the tool and the way it presents", "the plots?",
     "Participant:", "I think it is useful because we usually build all of these plots", "by hand."],
    ["Dan:", "Why by hand?", "Participant:", "No tool did it before, and that is the main reason.",
     "1", "2", "3"],
]


def test_pdf_two_pages_offsets_headers_and_wrapping(tmp_path):
    _pdf(tmp_path / "i.pdf", WRAPPED)
    doc = _one(tmp_path / "i.pdf")
    assert doc.reader == "pypdf" and [p.number for p in doc.pages] == [1, 2]
    page1 = doc.text[doc.pages[0].start:doc.pages[0].end]
    page2 = doc.text[doc.pages[1].start:doc.pages[1].end]
    assert page1 == ("Dan: So what do you think about the tool and the way it presents the plots?\n\n"
                     "Participant: I think it is useful because we usually build all of these plots by hand.")
    assert page2.startswith("Dan: Why by hand?") and page2.endswith("main reason.")
    assert "1/2" not in doc.text and doc.pages[1].start == doc.pages[0].end + 2
    spans = chunk(doc)
    assert any(s.is_interviewer and s.page == 2 for s in spans)


def test_clean_pages_drops_maxqda_repeats_and_numbers():
    pages = ["1/2\nDan:\nA long question that wraps across the line and onto the", "next line?\n1\n2\n3",
             "2/2\nA long question that wraps across the line and onto the\nnext line?\nParticipant:\nYes.\n4\n5"]
    cleaned = clean_pages([pages[0] + "\n" + pages[1], pages[2]])
    assert cleaned[0] == "Dan: A long question that wraps across the line and onto the next line?"
    assert cleaned[1] == "Participant: Yes."


def test_pdf_encrypted_corrupt_and_scanned(tmp_path):
    from pypdf import PdfReader, PdfWriter

    _pdf(tmp_path / "plain.pdf", WRAPPED)
    writer = PdfWriter(clone_from=PdfReader(tmp_path / "plain.pdf"))
    writer.encrypt(user_password="secret", algorithm="RC4-128")
    with open(tmp_path / "locked.pdf", "wb") as fh:
        writer.write(fh)
    assert "encrypted PDF" in _error(tmp_path / "locked.pdf")
    data = (tmp_path / "plain.pdf").read_bytes()
    (tmp_path / "broken.pdf").write_bytes(data[: len(data) // 3])
    assert "corrupt or unreadable PDF" in _error(tmp_path / "broken.pdf")
    blank = PdfWriter()
    blank.add_blank_page(width=200, height=200)
    with open(tmp_path / "scan.pdf", "wb") as fh:
        blank.write(fh)
    assert "no text layer" in _error(tmp_path / "scan.pdf")


def test_docx_paragraphs_and_tables(tmp_path):
    import docx

    d = docx.Document()
    d.add_heading("Report", 1)
    d.add_paragraph("First para\u00a0\u2014 caf\u00e9.")
    d.add_paragraph("")
    table = d.add_table(rows=2, cols=2)
    for r, row in enumerate([["Ward", "Rate"], ["North", "12"]]):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    d.add_paragraph("After table.")
    d.save(tmp_path / "r.docx")
    doc = _one(tmp_path / "r.docx")
    assert doc.text == "Report\n\nFirst para\u00a0\u2014 caf\u00e9.\n\nWard\tRate\n\nNorth\t12\n\nAfter table."
    (tmp_path / "bad.docx").write_bytes(b"PK\x03\x04 not really a zip")
    assert "corrupt" in _error(tmp_path / "bad.docx")


def test_html(tmp_path):
    html = ("<html><head><title>T</title><style>p{}</style></head><body><nav>Menu</nav>"
            "<header>Site</header><h1>Title</h1><p>Some   <b>bold</b>\n text.<br>Next line</p>"
            "<script>var x;</script><ul><li>One</li><li>Two</li></ul>"
            "<table><tr><td>a</td><td>b</td></tr></table><footer>Foot</footer></body></html>")
    (tmp_path / "p.html").write_text(html, encoding="utf-8")
    doc = _one(tmp_path / "p.html")
    assert doc.text == "Title\n\nSome bold text.\nNext line\n\nOne\n\nTwo\n\na\tb"


def test_vtt_voice_tags(tmp_path):
    vtt = ("WEBVTT\n\n00:00:01.000 --> 00:00:03.000\n<v Dr Smith>How are you?</v>\n\n"
           "00:00:03.500 --> 00:00:05.000\n<v Ann>Fine,\n\n00:00:05.000 --> 00:00:07.000\n<v Ann>thanks.\n\n"
           "01:02:03.000 --> 01:02:04.000\n<v Dr Smith>Good.\n")
    (tmp_path / "c.vtt").write_text(vtt)
    doc = _one(tmp_path / "c.vtt")
    assert doc.text == "[00:00:01] Dr Smith: How are you?\n[00:00:03] Ann: Fine, thanks.\n[01:02:03] Dr Smith: Good."
    assert [(t.speaker, t.time, doc.text[t.body_start:t.end]) for t in doc.turns] == [
        ("Dr Smith", "00:00:01", "How are you?"), ("Ann", "00:00:03", "Fine, thanks."),
        ("Dr Smith", "01:02:03", "Good.")]
    spans = chunk(doc, interviewer=["Dr Smith"])
    assert [(doc.text[s.start:s.end], s.is_interviewer) for s in spans][:2] == [
        ("How are you?", True), ("Fine, thanks.", False)]


def test_srt_name_prefixes(tmp_path):
    srt = "1\n00:00:01,000 --> 00:00:02,000\nDan: Hello\nthere.\n\n2\n00:00:02,500 --> 00:00:04,000\nAnn: Hi.\n"
    (tmp_path / "s.srt").write_text(srt)
    doc = _one(tmp_path / "s.srt")
    assert doc.text == "[00:00:01] Dan: Hello there.\n[00:00:02] Ann: Hi."
    assert [t.speaker for t in doc.turns] == ["Dan", "Ann"]
    (tmp_path / "bad.vtt").write_text("not a caption file")
    assert "VTT" in _error(tmp_path / "bad.vtt")


def test_csv_wide_long_and_missing_column(tmp_path):
    (tmp_path / "w.csv").write_text("id,answer,region\n1,Too long a wait.,North\n2,,South\n3,Kind staff.,East\n")
    opts = ReadOptions(id_column="id", text_column="answer", attr_columns=["region"])
    docs = read_path(tmp_path / "w.csv", opts)
    assert [(d.name, d.text, d.attributes) for d in docs] == [
        ("w#1", "Too long a wait.", {"region": "North"}), ("w#3", "Kind staff.", {"region": "East"})]
    (tmp_path / "l.csv").write_bytes("pid;q;a\nP1;Why?;Caf\u00e9 was shut.\nP1;When?;Monday.\n".encode("cp1252"))
    doc, = read_path(tmp_path / "l.csv", ReadOptions(id_column="pid", text_column="a", question_column="q"))
    assert doc.text == "Why?\nCaf\u00e9 was shut.\n\nWhen?\nMonday."
    assert [(t.speaker, t.is_interviewer, doc.text[t.body_start:t.end]) for t in doc.turns] == [
        ("q", True, "Why?"), ("P1", False, "Caf\u00e9 was shut."), ("q", True, "When?"), ("P1", False, "Monday.")]
    spans = chunk(doc)
    answer = [s for s in spans if doc.text[s.start:s.end] == "Monday."][0]
    assert answer.speaker == "P1" and doc.text[answer.context_start:answer.context_end] == "When?"
    problem = _error(tmp_path / "w.csv", ReadOptions(id_column="id", text_column="response"))
    assert problem == "text column 'response' not found; columns are: id, answer, region"


def test_xlsx(tmp_path):
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Answers"
    ws.append(["id", "text", "age"])
    ws.append([7, "Good service.", 41.0])
    ws.append([8, "Poor access.", 52])
    wb.save(tmp_path / "s.xlsx")
    docs = read_path(tmp_path / "s.xlsx", ReadOptions(id_column="id", text_column="text", attr_columns=["age"]))
    assert [(d.name, d.text, d.attributes["age"], d.format) for d in docs] == [
        ("s#7", "Good service.", "41", "xlsx"), ("s#8", "Poor access.", "52", "xlsx")]
    assert "sheet 'Nope' not found; sheets are: Answers" in _error(
        tmp_path / "s.xlsx", ReadOptions(text_column="text", sheet="Nope"))
    assert "column 'answer' not found" in _error(tmp_path / "s.xlsx", ReadOptions(text_column="answer"))


def test_clean_pages_keeps_paragraph_breaks():
    # the line before the break is full width, so only the blank line says the paragraph ends
    para1 = "The first paragraph of the policy runs across two lines\nand its last line is full width too."
    para2 = "A second paragraph starts after the blank line here."
    cleaned = clean_pages([para1 + "\n\n" + para2])
    assert cleaned[0] == ("The first paragraph of the policy runs across two lines and its last line is"
                          " full width too.\n\n" + para2)
    # a MAXQDA carry-over is still dropped, and the blank lines after it are kept
    repeat = "a paragraph cut by the page break"
    cleaned = clean_pages(["Intro line of the first page.\n" + repeat, repeat + "\n\nNew paragraph.\n\nAnother."])
    assert cleaned[1] == "New paragraph.\n\nAnother."


def test_caption_entities_are_unescaped(tmp_path):
    vtt = "WEBVTT\n\n00:00:01.000 --> 00:00:03.000\n<v Ann>Fine &amp; well, &lt;mostly&gt;.\n"
    (tmp_path / "e.vtt").write_text(vtt)
    assert _one(tmp_path / "e.vtt").text == "[00:00:01] Ann: Fine & well, <mostly>."
    srt = "1\n00:00:01,000 --> 00:00:02,000\nDan: Fine &amp; well\n"
    (tmp_path / "e.srt").write_text(srt)
    assert _one(tmp_path / "e.srt").text == "[00:00:01] Dan: Fine & well"


def test_csv_dialect_delimiter_detection_and_errors(tmp_path):
    opts = {"id_column": "id", "text_column": "a"}
    (tmp_path / "semi.csv").write_text('id;a\n1;"He said ""yes""; then left"\n2;Fine, thanks.\n')
    assert [d.text for d in read_path(tmp_path / "semi.csv", ReadOptions(**opts))] == [
        'He said "yes"; then left', "Fine, thanks."]
    (tmp_path / "tab.csv").write_text("id\ta\n1\tOne, two; three\n")
    for delimiter in (None, "tab", "\\t", "\t"):
        doc, = read_path(tmp_path / "tab.csv", ReadOptions(**opts, csv_delimiter=delimiter))
        assert doc.text == "One, two; three"
    doc, = read_path(tmp_path / "tab.csv", ReadOptions(**opts, csv_dialect="excel-tab"))
    assert doc.text == "One, two; three"
    (tmp_path / "one.csv").write_text("a\nJust one column\n")
    assert read_path(tmp_path / "one.csv", ReadOptions(text_column="a"))[0].text == "Just one column"
    (tmp_path / "both.csv").write_text("id;x\ta\n1;2\t3\n")
    assert "cannot tell whether the CSV delimiter is semicolon or tab" in _error(tmp_path / "both.csv", ReadOptions(**opts))
    assert _error(tmp_path / "tab.csv", ReadOptions(**opts, csv_delimiter="::")) == (
        "CSV delimiter must be one character (or 'tab'), not '::'")
    assert _error(tmp_path / "tab.csv", ReadOptions(**opts, csv_dialect="excel-comma")).startswith(
        "unknown CSV dialect 'excel-comma'; choose from excel, excel-tab, unix")
    (tmp_path / "open.csv").write_text('id,a\n1,ok\n\n2,"never closed\n3,x\n')
    assert _error(tmp_path / "open.csv", ReadOptions(**opts)) == (
        "malformed CSV at row 3 (line 4) (a quote opened there is never closed); nothing was read "
        "(name the delimiter if it is not a comma)")
    (tmp_path / "short.csv").write_text("id,a,b\n1,x,y\n2,x\n")
    assert _error(tmp_path / "short.csv", ReadOptions(**opts, csv_delimiter=",")) == (
        "row 3 has 2 fields but the header has 3 (a missing or extra delimiter, or an unclosed quote?); "
        "nothing was read")


def test_pdf_empty_page_notes():
    from index.readers.pdf import empty_page_notes

    assert empty_page_notes(["a", "b"]) == []
    assert empty_page_notes(["a", " ", "b"]) == [
        "page 2 has no text layer (scanned?); it was stored empty (run OCR to include it)"]
    assert empty_page_notes(["", "a", "", "", "", "b", ""]) == [
        "pages 1, 3-5, 7 have no text layer (scanned?); they were stored empty (run OCR to include them)"]


def test_file_names_that_are_not_utf8(tmp_path):
    import os

    from index.readers.names import (
        display_name,
        display_path,
        path_from_stored,
        stored_path,
    )

    assert display_name("Entrevista_José.txt") == "Entrevista_José.txt"
    folder = os.fsencode(tmp_path / "Año")  # a UTF-8 folder ...
    os.mkdir(folder)
    raw = os.path.join(folder, b"Jos\xe9 \x81.txt")  # ... holding a latin-1 name (0x81: no cp1252)
    with open(raw, "wb") as fh:
        fh.write(b"Bien.")
    path = os.fsdecode(raw)
    assert display_path(path) == f"{tmp_path}/Año/José \x81.txt"
    assert display_name(os.fsdecode(b"Jos\xe9 \x80.txt")) == "José €.txt"  # cp1252 first
    assert stored_path(tmp_path) == str(tmp_path)
    assert stored_path(path).startswith("file://") and path_from_stored(stored_path(path)).read_bytes() == b"Bien."
    assert display_name("lone \ud800") == "lone \\ud800"
    doc, = read_path(path)
    assert doc.name == "José \x81" and doc.text == "Bien."
    (tmp_path / "Año" / "ok.txt").write_bytes(b"")
    os.rename(os.fsencode(tmp_path / "Año" / "ok.txt"), os.path.join(folder, b"vac\xedo.txt"))
    with pytest.raises(ReadError) as err:
        read_path(os.fsdecode(os.path.join(folder, b"vac\xedo.txt")))
    assert str(err.value) == f"{tmp_path}/Año/vacío.txt: file is empty"
