"""Decisions: accept writes a coding and an audit row, reject writes no coding, edits must be
verbatim, undo restores without deleting anything."""

from __future__ import annotations

from pathlib import Path

import pytest
from builders import build_coding_project as make_project
from builders import excerpt_with

from assistant.coding import decisions
from assistant.coding.suggest import ai_codings
from assistant.errors import ThematicError, VerificationError
from assistant.models import Suggestion

pytestmark = pytest.mark.usefixtures("store_engine")  # every test on SQLite and on PostgreSQL


def _suggest(project, needle="damp", code="Housing and living conditions"):  # noqa: ANN001, ANN202
    ex = excerpt_with(project, needle)
    return project.store.add_suggestions([Suggestion(
        excerpt_id=ex.id, source_id=ex.source_id, code_id=project.store.get_code(code).id, score=2.0,
        engine="offline", model="hashing-256", params={"top_k": 3})])[0], ex


def test_accept_writes_coding_and_audit(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    s, ex = _suggest(project)
    coding = decisions.accept(project, s.id, note="clear case")
    assert coding.coder == "alice" and coding.origin == "suggestion" and coding.suggestion_id == s.id
    assert (coding.start, coding.end, coding.text) == (ex.start, ex.end, ex.text)
    assert project.store.get_suggestion(s.id).status == "accepted"
    row = [e for e in project.store.list_audit("suggestion", s.id) if e.action == "decision.accept"][0]
    assert row.actor == "alice" and row.details["engine"] == "offline" and row.details["params"] == {"top_k": 3}
    assert row.details["coding_id"] == coding.id
    with pytest.raises(ThematicError, match="already accepted"):
        decisions.accept(project, s.id)


def test_reject_writes_no_coding(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    s, _ = _suggest(project)
    decisions.reject(project, s.id, note="wrong")
    assert project.store.list_codings() == []
    assert project.store.get_suggestion(s.id).status == "rejected"
    assert any(e.action == "decision.reject" for e in project.store.list_audit("suggestion", s.id))


def test_edit_span_must_be_verbatim(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    s, ex = _suggest(project)
    with pytest.raises(VerificationError):
        decisions.edit(project, s.id, start=ex.start, end=ex.start + 20, text="words that are not in the source at all")
    coding = decisions.edit(project, s.id, code="Drivers", start=ex.start + 3, text="black mould in thes flats")
    src = project.store.get_source(ex.source_id)
    assert coding.text == "black mould in these flats" == src.text[coding.start:coding.end]
    assert coding.code_id == project.store.get_code("Drivers").id
    assert project.store.get_suggestion(s.id).status == "edited"


def test_hand_coding_and_undo(tmp_path: Path) -> None:
    """A selection from inside the speaker label's blank to mid-word ("equent attend") codes the
    whole words "Frequent attenders" in the answer; undo removes that coding and only that one."""
    project = make_project(tmp_path)
    text = project.store.get_source("P02").text
    phrase = "Frequent attenders"
    at = text.index(phrase)  # where the words are, found independently of the excerpts
    keep = decisions.add_coding(project, "P02", at, at + len(phrase), "Drivers")
    c = decisions.add_coding(project, "P02", at - 1, at + len(phrase) - 3, "Frequent attenders")
    assert (c.start, c.end, c.text) == (at, at + len(phrase), phrase)
    assert c.origin == "manual" and c.coder == "alice" and c.excerpt_id == excerpt_with(project, phrase).id
    d = project.store.list_decisions()[-1]
    assert (d.action, d.start, d.end, d.code_id) == ("add", at, at + len(phrase), c.code_id)
    decisions.undo(project, d.id)
    assert project.store.get_coding(c.id).status == "removed"
    assert project.store.get_coding(keep.id).status == "active"  # same span, other code: untouched
    assert decisions.is_undone(project, d.id)


def test_undo_accept_restores_pending(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    s, _ = _suggest(project)
    coding = decisions.accept(project, s.id)
    d = decisions.last_decision(project, s.id)
    n_audit = len(project.store.list_audit())
    decisions.undo(project, d.id)
    assert project.store.get_suggestion(s.id).status == "pending"
    assert project.store.get_coding(coding.id).status == "removed"
    assert len(project.store.list_audit()) == n_audit + 1  # appended, nothing deleted
    assert len(project.store.list_decisions()) == 1
    with pytest.raises(ThematicError, match="already undone"):
        decisions.undo(project, d.id)
    decisions.accept(project, s.id)  # can decide again


def test_accept_new_code_proposal_adds_code(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    ex = excerpt_with(project, "Frequent")
    s = project.store.add_suggestions([Suggestion(excerpt_id=ex.id, source_id=ex.source_id, proposed_name="Loneliness",
                                                  proposed_definition="Isolation", engine="llm")])[0]
    coding = decisions.accept(project, s.id)
    assert project.store.get_code("Loneliness").id == coding.code_id



def test_accept_new_code_reuses_existing_name_up_to_whitespace(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    existing = project.store.get_code("Workforce capacity")
    n = len(project.store.list_codes())
    ex = excerpt_with(project, "Frequent")
    s = project.store.add_suggestions([Suggestion(excerpt_id=ex.id, source_id=ex.source_id,
                                                  proposed_name="  workforce   CAPACITY ", engine="llm")])[0]
    coding = decisions.accept(project, s.id)
    assert coding.code_id == existing.id
    assert len(project.store.list_codes()) == n

def test_ai_codings_are_derived(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    s, ex = _suggest(project)
    decisions.reject(project, s.id)
    ai = ai_codings(project)
    assert len(ai) == 1 and ai[0].coder == "ai:offline:hashing-256" and ai[0].origin == "ai"
    assert (ai[0].start, ai[0].end) == (ex.start, ex.end)


def test_hand_coding_snaps_to_whole_words(tmp_path: Path) -> None:
    """A selection that cuts words codes the whole words (and no surrounding blanks), verbatim."""
    project = make_project(tmp_path)
    text = project.store.get_source("P01").text
    at = text.index("black mould")
    c = decisions.add_coding(project, "P01", at + 2, at + 8, "Housing and living conditions")  # "ack mo"
    assert c.text == "black mould" == text[c.start:c.end]
    c = decisions.add_coding(project, "P01", at - 3, at + 5, "Drivers")  # "nd blac"
    assert c.text == "and black" == text[c.start:c.end]
    c = decisions.add_coding(project, "P01", at - 1, at + 5, "Workforce capacity")  # " black" minus "k"
    assert c.text == "black" == text[c.start:c.end]
    with pytest.raises(VerificationError):
        decisions.add_coding(project, "P01", at - 1, at, "Drivers")  # only a blank


def test_snap_to_words_keeps_apostrophes_and_marks() -> None:
    from assistant.verbatim import snap_to_words

    text = "they don\u2019t  see caf\u00e9s"
    assert snap_to_words(text, 6, 7) == (5, 10)  # "o" -> "don’t"
    assert snap_to_words(text, 10, 12) is None  # blanks only
    assert snap_to_words(text, 17, 19) == (16, 21)  # "af" -> "cafés"
