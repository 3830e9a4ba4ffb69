"""Hostile input for the readers and speaker turns: a focus-group participant who speaks once, a
scanned page inside a text PDF, a file name that is not UTF-8, and CSV files that a guessed
dialect reads wrongly. Each case builds its input and asserts what must come out of it."""

from __future__ import annotations

import csv
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from assistant.corpus.ingest import ingest_paths
from assistant.project import Project
from index.chunking import chunk
from index.embeddings import HashingEmbedder
from index.errors import ReadError
from index.readers import ReadOptions, read_path
from index.readers.names import path_from_stored
from index.types import Document

FOCUS_GROUP = (
    "Moderator: Welcome, everyone. What do you make of the new clinic?\n"
    "Alice: I only went once, but the staff were kind to my mother.\n"
    "Bob: It is too far for me, two buses each way.\n"
    "Carol: I never heard of it until today, to be honest.\n"
    "Moderator: Why do you think that is?\n"
    "Bob: Nobody told us, there were no leaflets at the surgery.\n"
)
ALICE = "I only went once, but the staff were kind to my mother."
CAROL = "I never heard of it until today, to be honest."


def _project(tmp_path: Path) -> Project:
    project = Project.init(tmp_path / "study")
    project.set_embedder(HashingEmbedder(64))
    return project


def _spans_by_speaker(text: str) -> list[tuple[str | None, bool, str]]:
    return [(s.speaker, s.is_interviewer, text[s.start:s.end]) for s in chunk(Document("fg", text))]


def focus_group_once(tmp_path: Path) -> None:
    spans = _spans_by_speaker(FOCUS_GROUP)
    assert ("Alice", False, ALICE) in spans  # her own excerpt, not the moderator's
    assert not any(ALICE in words for _, interviewer, words in spans if interviewer)
    assert {who for who, interviewer, _ in spans if interviewer} == {"Moderator"}


def carol_not_bob(tmp_path: Path) -> None:
    spans = _spans_by_speaker(FOCUS_GROUP)
    assert ("Carol", False, CAROL) in spans
    assert not any(CAROL in words for who, _, words in spans if who != "Carol")
    assert [who for who, _, _ in spans] == ["Moderator", "Alice", "Bob", "Carol", "Moderator", "Bob"]


def unparsed_turn_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "group.txt"
    path.write_text(FOCUS_GROUP + "bob: And the car park is always full.\n", encoding="utf-8")
    doc, = read_path(path)
    assert any(n.startswith("line 7 ('bob: And the car park") and "part of Bob's turn" in n for n in doc.notes), doc.notes
    project = _project(tmp_path)
    try:
        result, = ingest_paths(project, [path], index=False).results
    finally:
        project.close()
    assert any(n.startswith("group.txt: line 7 (") for n in result.notes), result.notes


def scanned_page(tmp_path: Path) -> None:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    path = tmp_path / "report.pdf"
    pdf = canvas.Canvas(str(path), pagesize=A4)
    pdf.drawString(72, 760, "Page one has a text layer about damp housing.")
    pdf.showPage()
    pdf.setFillGray(0.4)  # what a scan looks like to a text extractor: marks, no text
    for y in range(100, 700, 40):
        pdf.rect(72, y, 400, 20, fill=1, stroke=0)
    pdf.showPage()
    pdf.drawString(72, 760, "Page three has text again.")
    pdf.save()
    doc, = read_path(path)
    assert [doc.text[p.start:p.end] for p in doc.pages][1] == ""
    assert doc.notes == ["page 2 has no text layer (scanned?); it was stored empty (run OCR to include it)"]
    project = _project(tmp_path)
    try:
        result, = ingest_paths(project, [path], index=False).results
    finally:
        project.close()
    assert result.status == "added"
    assert "report.pdf: page 2 has no text layer (scanned?); it was stored empty (run OCR to include it)" in result.notes


def latin1_name(tmp_path: Path) -> None:
    folder = os.fsencode(tmp_path / "in")
    os.mkdir(folder)
    good = os.path.join(folder, b"Entrevista_Jos\xe9.txt")
    with open(good, "wb") as fh:
        fh.write("Interviewer: ¿Qué tal?\nJosé: Bien.\nInterviewer: ¿Y?\nJosé: Nada.\n".encode())
    with open(os.path.join(folder, b"Vac\xedo.txt"), "wb"):
        pass  # an empty file: its error must name it as text too
    project = _project(tmp_path)
    try:
        report = ingest_paths(project, [os.fsdecode(folder)], index=False)
        by_status = {r.status: r for r in report.results}
        assert by_status["added"].sources == ["Entrevista_José.txt"]
        assert by_status["failed"].error.endswith("in/Vacío.txt: file is empty")
        for r in report.results:
            (r.path + (r.error or "")).encode("utf-8")  # printable and storable
        source, = project.store.list_sources(with_text=True)
        assert source.name == "Entrevista_José.txt"
        assert path_from_stored(source.path).read_bytes() == Path(os.fsdecode(good)).read_bytes()
        assert {r.status for r in ingest_paths(project, [os.fsdecode(folder)], index=False).results} == {
            "unchanged", "failed"}
    finally:
        project.close()


def _survey(path: Path, rows: list[tuple[str, ...]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, quoting=csv.QUOTE_ALL)
        writer.writerow(("id", "question", "answer"))
        writer.writerows(rows)


def csv_doubled_quotes(tmp_path: Path) -> None:
    long = 'I said "no" to it, and that was that. ' + "The waiting room was cold and nobody came. " * 18
    assert len(long) > 800
    path = tmp_path / "survey.csv"
    _survey(path, [("r1", "Q1", long), ("r2", "Q1", "The staff were kind."), ("r3", "Q1", "Too far away.")])
    assert csv.Sniffer().sniff(path.read_text()).doublequote is False  # the guess that truncated it
    docs = read_path(path, ReadOptions(id_column="id", text_column="answer"))
    assert [d.text for d in docs] == [long.strip(), "The staff were kind.", "Too far away."]


def csv_ragged_row(tmp_path: Path) -> None:
    path = tmp_path / "ragged.csv"
    path.write_text('id,answer\nr1,"Fine, thanks."\nr2,Too far,away\nr3,Kind staff.\n', encoding="utf-8")
    with pytest.raises(ReadError) as err:
        read_path(path, ReadOptions(id_column="id", text_column="answer"))
    assert err.value.problem.startswith("row 3 has 3 fields but the header has 2")
    assert "nothing was read" in err.value.problem


@dataclass(frozen=True)
class Case:
    id: str
    check: Callable[[Path], None]


CASES = [
    # F2: a participant who speaks once was merged into the moderator's turn, flagged interviewer
    Case("F2-focus-group-once", focus_group_once),
    # F2: Carol's single answer was filed under Bob, the speaker before her
    Case("F2-carol-not-bob", carol_not_bob),
    # F2: a line that looks like a turn but is not read as one must be reported, not silent
    Case("F2-unparsed-turn-note", unparsed_turn_is_reported),
    # F6: a scanned page inside a text PDF was stored empty without a word
    Case("F6-scanned-page", scanned_page),
    # F14: a latin-1 file name failed with "surrogates not allowed"
    Case("F14-latin1-name", latin1_name),
    # F17: csv.Sniffer guessed undoubled quotes for a QUOTE_ALL file and truncated the answer
    Case("F17-csv-doubled-quotes", csv_doubled_quotes),
    # F17: a row with an extra field was read (padded or cut) instead of refused by row number
    Case("F17-ragged-row", csv_ragged_row),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_readers(case: Case, tmp_path: Path) -> None:
    case.check(tmp_path)
