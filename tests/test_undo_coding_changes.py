"""Undo covers every hand-coding change, not only applying a code: removing a coding and resizing
one are taken back by a new audited write (`coding.undo`, naming the row it takes back), never by
deleting an audit row; the analyst's changes are walked back newest first, whichever kind they are."""

from __future__ import annotations

from pathlib import Path

import pytest
from builders import build_coding_project as make_project

from assistant.coding import decisions
from assistant.errors import ThematicError
from assistant.project import Project

pytestmark = pytest.mark.usefixtures("store_engine")  # SQLite and PostgreSQL


def _code(p: Project, phrase: str, code: str = "Drivers", coder: str | None = None):
    text = p.store.get_source("P01").text
    at = text.index(phrase)
    return decisions.add_coding(p, "P01", at, at + len(phrase), code, analyst=coder)


def _actions(p: Project) -> list[str]:
    return [e.action for e in p.store.list_audit()]


@pytest.fixture
def project(tmp_path: Path):
    p = make_project(tmp_path)
    yield p
    p.close()


def test_undo_of_remove_restores_the_coding_with_a_new_audit_row(project: Project) -> None:
    c = _code(project, "black mould")
    decisions.remove_coding(project, c.id)
    log_before = [(e.id, e.action) for e in project.store.list_audit()]
    (step, *_) = decisions.undoable_changes(project)
    assert (step.kind, step.coding_id) == ("remove", c.id)

    done = decisions.undo_last_change(project)
    assert done is not None and done.kind == "remove"
    back = project.store.get_coding(c.id)
    assert back.status == "active" and (back.start, back.end, back.text) == (c.start, c.end, "black mould")
    log_after = [(e.id, e.action) for e in project.store.list_audit()]
    assert log_after[:len(log_before)] == log_before  # nothing deleted or rewritten
    (row,) = log_after[len(log_before):]
    assert row[1] == decisions.CODING_UNDO_ACTION
    undo_row = project.store.list_audit("coding", c.id)[-1]
    assert undo_row.details["undid"] == "coding.remove" and undo_row.details["undid_audit_id"] == step.audit_id
    assert undo_row.actor == "alice"
    # taken back once only; the next step back is the hand coding itself
    with pytest.raises(ThematicError, match="already undone"):
        decisions.undo_change(project, step)
    (nxt, *_) = decisions.undoable_changes(project)
    assert (nxt.kind, nxt.action, nxt.coding_id) == ("decision", "add", c.id)


def test_undo_of_resize_moves_the_coding_back_to_its_old_words(project: Project) -> None:
    c = _code(project, "black mould")
    text = project.store.get_source("P01").text
    wider = text.index("The damp and black mould in these flats")
    moved = decisions.resize_coding(project, c.id, wider, wider + len("The damp and black mould in these flats"))
    assert moved.text == "The damp and black mould in these flats"
    n = len(_actions(project))

    done = decisions.undo_last_change(project)
    assert done is not None and (done.kind, done.coding_id) == ("resize", c.id)
    back = project.store.get_coding(c.id)
    assert (back.start, back.end, back.text, back.status) == (c.start, c.end, "black mould", "active")
    assert text[back.start:back.end] == back.text
    assert back.excerpt_id == c.excerpt_id
    assert _actions(project)[n:] == [decisions.CODING_UNDO_ACTION]
    row = project.store.list_audit("coding", c.id)[-1]
    assert row.details["undid"] == "coding.resize"
    assert (row.details["old_text"], row.details["start"], row.details["end"]) == (moved.text, c.start, c.end)


def test_changes_are_walked_back_newest_first_across_kinds(project: Project) -> None:
    """add A, add B, resize B, remove A: undo takes back remove A, then resize B, then add B."""
    a = _code(project, "black mould")
    b = _code(project, "damp", code="Housing and living conditions")
    text = project.store.get_source("P01").text
    decisions.resize_coding(project, b.id, b.start, text.index("black mould") + len("black mould"))
    decisions.remove_coding(project, a.id)
    assert [s.action for s in decisions.undoable_changes(project)][:4] == ["remove", "resize", "add", "add"]

    decisions.undo_last_change(project)
    assert project.store.get_coding(a.id).status == "active"
    decisions.undo_last_change(project)
    assert project.store.get_coding(b.id).text == "damp"
    decisions.undo_last_change(project)  # the add of B: its coding removed, found by id
    assert project.store.get_coding(b.id).status == "removed"
    assert project.store.get_coding(a.id).status == "active"


def test_an_add_undone_after_its_coding_was_resized_removes_that_coding(project: Project) -> None:
    """The decision-level undo finds the hand coding it made by id, not only by its first span."""
    c = _code(project, "black mould")
    text = project.store.get_source("P01").text
    wider = text.index("The damp and black mould")
    decisions.resize_coding(project, c.id, wider, c.end)
    d = decisions.undoable(project)[0]
    decisions.undo(project, d.id)
    assert project.store.get_coding(c.id).status == "removed"


def test_undo_refuses_what_would_overwrite_a_later_change(project: Project) -> None:
    c = _code(project, "black mould")
    text = project.store.get_source("P01").text
    wider = text.index("The damp and black mould")
    decisions.resize_coding(project, c.id, wider, c.end)
    first = decisions.undoable_changes(project)[0]
    decisions.remove_coding(project, c.id)  # a later change on the same coding
    n = len(_actions(project))
    with pytest.raises(ThematicError, match="changed after that resize"):
        decisions.undo_change(project, first)
    assert len(_actions(project)) == n  # refused: nothing written
    assert project.store.get_coding(c.id).status == "removed"


def test_one_analysts_undo_never_takes_back_anothers_change(project: Project) -> None:
    c = _code(project, "black mould", coder="bob")
    decisions.remove_coding(project, c.id, analyst="bob")
    assert all(s.coding_id != c.id for s in decisions.undoable_changes(project))  # alice's list
    (bobs, *_) = decisions.undoable_changes(project, analyst="bob")
    assert bobs.kind == "remove"
    decisions.undo_last_change(project, analyst="bob")
    assert project.store.get_coding(c.id).status == "active"
