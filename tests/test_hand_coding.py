"""Hand coding beyond adding: removing and resizing a coding (audited, nothing deleted), accepting
a suggestion as its evidence, its sentence or the whole turn, and the review queue's order and
its filter of headings, titles, front matter and speaker labels."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from builders import build_coding_project as make_project
from builders import excerpt_with

from app_pages.support import is_structural, order_suggestions
from assistant.coding import decisions
from assistant.errors import ThematicError, VerificationError
from assistant.models import Suggestion


def test_remove_marks_the_coding_removed_and_keeps_its_words(tmp_path: Path) -> None:
    p = make_project(tmp_path)
    text = p.store.get_source("P01").text
    at = text.index("black mould")
    c = decisions.add_coding(p, "P01", at, at + len("black mould"), "Drivers")
    gone = decisions.remove_coding(p, c.id)
    assert gone.status == "removed" and p.store.get_coding(c.id).text == "black mould"
    (row,) = [e for e in p.store.list_audit("coding", c.id) if e.action == "coding.remove"]
    assert row.details["text"] == "black mould" and row.actor == "alice"
    with pytest.raises(ThematicError, match="not active"):
        decisions.remove_coding(p, c.id)


def test_resize_snaps_to_words_and_records_the_old_span(tmp_path: Path) -> None:
    p = make_project(tmp_path)
    text = p.store.get_source("P01").text
    at = text.index("black mould")
    c = decisions.add_coding(p, "P01", at, at + 5, "Drivers")  # "black"
    wider = text.index("The damp and black mould in these flats")
    moved = decisions.resize_coding(p, c.id, wider + 1, at + len("black mould in these fl"))  # cuts "The" and "flats"
    assert moved.text == "The damp and black mould in these flats" == text[moved.start:moved.end]
    (row,) = [e for e in p.store.list_audit("coding", c.id) if e.action == "coding.resize"]
    assert (row.details["old_start"], row.details["old_text"]) == (at, "black")
    before = p.store.last_audit_id()
    assert decisions.resize_coding(p, c.id, moved.start, moved.end).id == c.id  # unchanged: nothing written
    assert p.store.last_audit_id() == before
    with pytest.raises(VerificationError):
        decisions.resize_coding(p, c.id, 0, 0)


def test_accept_codes_the_evidence_its_sentence_or_the_turn(tmp_path: Path) -> None:
    p = make_project(tmp_path)
    ex = excerpt_with(p, "black mould")
    text = p.store.get_source(ex.source_id).text
    ev = text.index("black mould", ex.start)
    code = p.store.get_code("Housing and living conditions").id

    def suggestion(start: int, end: int) -> int:
        (s,) = p.store.add_suggestions([Suggestion(excerpt_id=ex.id, source_id=ex.source_id, code_id=code, score=1.0,
                                                   evidence_start=start, evidence_end=end, evidence_text=text[start:end])])
        return int(s.id)  # type: ignore[arg-type]

    first = "The damp and black mould in these flats is terrible."
    s1 = suggestion(ev, ev + len("black mould"))
    assert not decisions.evidence_is_sentence(text, ex, p.store.get_suggestion(s1))
    assert decisions.accept(p, s1, span="sentence").text == first
    s2 = suggestion(ev, ev + len("black mould"))
    assert decisions.accept(p, s2, span="evidence").text == "black mould"
    s3 = suggestion(ev, ev + 3)
    assert decisions.accept(p, s3, span="excerpt").text == ex.text
    whole = text.index(first)
    s4 = suggestion(whole, whole + len(first))
    assert decisions.evidence_is_sentence(text, ex, p.store.get_suggestion(s4))


@pytest.mark.parametrize(("text", "structural"), [
    ("Interview transcript: P03, Northbridge Food Network", True),
    ("Northbridge Housing and Health Partnership", True),
    ("Interviewer:", True),
    ("Dr Patel:", True),
    ("Date: 23 April 2024", True),
    ("## 4. What we achieved", True),
    ("Yes, every winter.", False),
    ("Interviewer: What about funding?", False),
    ("Damp homes every winter bring the children in.", False),
    ("we never hear back from them", False),
])
def test_headings_front_matter_and_labels_are_not_content(text: str, structural: bool) -> None:
    assert is_structural(text) is structural


def test_an_engine_mark_is_enough() -> None:
    assert is_structural("A perfectly ordinary sentence, said by someone.", ["heading"])


def _view(label: str, source: str, start: int, score: float):
    return SimpleNamespace(label=label, source=source, excerpt_start=start, suggestion=SimpleNamespace(score=score))


def test_queue_orders() -> None:
    vs = [_view("B", "P02", 10, 1.0), _view("A", "P01", 50, 3.0), _view("A", "P01", 5, 2.0), _view("B", "P01", 7, 4.0)]
    assert [v.suggestion.score for v in order_suggestions(vs, "score")] == [4.0, 3.0, 2.0, 1.0]
    assert [(v.label, v.suggestion.score) for v in order_suggestions(vs, "code")] == [("A", 3.0), ("A", 2.0), ("B", 4.0), ("B", 1.0)]
    assert [(v.source, v.excerpt_start) for v in order_suggestions(vs, "source")] == [("P01", 5), ("P01", 7), ("P01", 50), ("P02", 10)]
