"""Parsing and verifying [S3:120-245] / [E2] / [Q4] citations in generated text."""

from __future__ import annotations

from assistant.models import Source
from assistant.verbatim import make_quote
from assistant.writing.citations import parse_citations, verify_text

TEXT = "Cold damp housing drives admissions. Funding is always cut first. Data sharing is slow."
SRC = Source(id=7, name="P07", kind="interview", text=TEXT)
EVIDENCE = {"E1": make_quote(SRC, 0, 36), "E2": make_quote(SRC, 37, 65)}
SOURCES = {7: SRC}


def test_parse_forms():
    cites = parse_citations("a [S3:120-245] b [E2, E3] c [Q1; S4:5–9]")
    assert [(c.source_id, c.start, c.end, c.ref) for c in cites] == [
        (3, 120, 245, None), (None, None, None, "E2"), (None, None, None, "E3"),
        (None, None, None, "Q1"), (4, 5, 9, None)]


def test_valid_ids_render_as_spans_and_narrow_to_quoted_words():
    v = verify_text('Housing matters [E1]. One said "damp housing drives" [E1].', EVIDENCE, SOURCES, render_spans=True)
    assert v.text == 'Housing matters [S7:0-36]. One said "damp housing drives" [S7:5-24].'
    assert v.removed_citations == 0 and [c.text for c in v.citations][1] == "damp housing drives"


def test_unknown_ids_and_out_of_evidence_spans_are_removed_and_counted():
    reply = "A [E9]. B [S7:66-80]. C [S7:0-10]. D [S8:0-5]."
    kept = verify_text(reply, EVIDENCE, SOURCES, uncited="keep")
    assert kept.removed_citations == 3
    assert kept.text == "A. B. C [S7:0-10]. D."
    assert [c.text for c in kept.citations] == [TEXT[0:10]]
    # by default a sentence left without a valid citation is unsupported, and goes
    v = verify_text(reply, EVIDENCE, SOURCES)
    assert v.text == "C [S7:0-10]." and v.removed_citations == 3 and v.dropped_uncited == 3
    assert [c.text for c in v.citations] == [TEXT[0:10]]


def test_drop_sentence_mode_removes_the_whole_claim():
    v = verify_text("Good [Q1]. Bad [Q3]. Plain.", {"Q1": EVIDENCE["E1"]}, SOURCES, bad_citation="drop_sentence",
                    uncited="keep")
    assert v.text == "Good [Q1]. Plain."
    assert len(v.removed_sentences) == 1 and v.uncited_sentences == 1
    strict = verify_text("Good [Q1]. Bad [Q3]. Plain.", {"Q1": EVIDENCE["E1"]}, SOURCES, bad_citation="drop_sentence")
    assert strict.text == "Good [Q1]." and len(strict.removed_sentences) == 2


def test_every_sentence_reports_its_support():
    v = verify_text('Housing matters [E1]. Nobody can say why. Fake "housing is fine" [E1]. Gone [E9].',
                    EVIDENCE, SOURCES, render_spans=True)
    assert v.text == "Housing matters [S7:0-36]."
    assert [(s.text, s.supported, s.reason, s.kept) for s in v.sentences] == [
        ("Housing matters [S7:0-36].", True, "cited", True),
        ("Nobody can say why.", False, "uncited", False),
        ('Fake "housing is fine".', False, "fabricated_quote", False),
        ("Gone.", False, "uncited", False)]
    assert [s.text for s in v.unsupported] == ["Nobody can say why.", 'Fake "housing is fine".', "Gone."]
    assert v.sentences[0].citations[0].text == TEXT[0:36] and not any(s.citations for s in v.unsupported)
    rep = v.report()
    assert rep["sentences"] == 4 and rep["supported_sentences"] == 1 and rep["dropped_uncited"] == 2


def test_fabricated_or_uncited_quotes_remove_the_sentence():
    v = verify_text('Fake "housing is fine" [E1]. Loose "Funding is always cut first". Real \u201cFunding  is always cut first\u201d [E2].',
                    EVIDENCE, SOURCES)
    assert v.fabricated_quotes == 2
    assert v.text == 'Real \u201cFunding is always cut first\u201d [E2].'


def test_quote_spanning_sentences_is_checked_as_one_unit():
    v = verify_text('She said "Cold damp housing drives admissions. Funding is" [E1].', EVIDENCE, SOURCES)
    assert v.fabricated_quotes == 1 and v.text == ""
