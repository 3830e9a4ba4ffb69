"""One audited write path: every change an analyst makes is one library function that writes the
change and exactly one audit row (the action named here) in the same transaction, and the
workspace and the command line call those functions rather than writing the store themselves."""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from builders import build_writing_project as build_project

from assistant.coding import decisions
from assistant.corpus.attributes import set_attributes
from assistant.errors import NotFound, ThematicError
from assistant.models import Suggestion, Theme
from assistant.project import Project
from assistant.verbatim import make_quote
from assistant.writing import basket, conversation
from assistant.writing import themes as th

pytestmark = pytest.mark.usefixtures("store_engine")  # every test on SQLite and on PostgreSQL

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def project(tmp_path: Path):
    p = build_project(tmp_path / "p")
    yield p
    p.close()


def _quote(p: Project, source: str = "P02", phrase: str = "Data sharing between the council and the hospital"):
    src = p.store.get_source(source)
    start = src.text.index(phrase)
    return make_quote(src, start, start + len(phrase))


def _suggestion(p: Project, code: str = "Data sharing") -> int:
    ex = next(e for e in p.store.list_excerpts(source_id=p.store.get_source("P02").id) if not e.is_interviewer)
    (s,) = p.store.add_suggestions([Suggestion(excerpt_id=ex.id, source_id=ex.source_id,
                                               code_id=p.store.get_code(code).id, score=1.0, rationale="r")])
    return int(s.id)  # type: ignore[arg-type]


def _theme(p: Project, name: str = "T") -> int:
    codes = [int(c.id) for c in p.store.list_codes()]  # type: ignore[arg-type]
    return int(p.store.add_theme(Theme(name=name, code_ids=codes)).id)  # type: ignore[arg-type]


def _basket_item(p: Project) -> int:
    return int(basket.add(p, [_quote(p)])[0].id)  # type: ignore[arg-type]


def _two_basket_items(p: Project) -> int:
    _basket_item(p)
    return int(basket.add(p, [_quote(p, "P01", "Funding for prevention is always the first thing cut.")])[0].id)  # type: ignore[arg-type]


def _span(p: Project, phrase: str, source: str = "P02") -> tuple[int, int]:
    at = p.store.get_source(source).text.index(phrase)
    return at, at + len(phrase)


def _hand_coding(p: Project) -> int:
    return int(decisions.add_coding(p, "P02", *_span(p, "Short-term funding"), "Short-term funding").id)  # type: ignore[arg-type]


def _accepted(p: Project) -> int:
    decisions.accept(p, _suggestion(p))
    return int(p.store.list_decisions()[-1].id)  # type: ignore[arg-type]


def _users():
    from assistant.people import users

    return users


def _team(p: Project) -> None:
    _users().add_user(p, "Lena", "a-password", actor=p.analyst)
    _users().add_user(p, "Cai", "a-password", actor="Lena")


def _asg():
    from assistant.coding import assignments

    return assignments


def _adj():
    from assistant.coding import adjudication

    return adjudication


def _merge():
    from assistant.exchange import merge

    return merge


def _assign(p: Project):
    return _asg().assign(p, ["Ann", "Ben"], ["P02"])


def _disagreement(p: Project) -> tuple[int, str]:
    a = _assign(p)
    at = p.store.get_source("P02").text.index("Short-term funding kills")
    decisions.add_coding(p, "P02", at, at + 24, "Short-term funding", analyst="Ann")
    for coder in ("Ann", "Ben"):
        _asg().mark_done(p, a.id, coder)
    return a.id, _adj().queue(p, a.id)[0].key


def _merge_input(p: Project):
    """Another analyst's coding of the same text, as merge input (no new code, so one audit row)."""
    m = _merge()
    src = p.store.get_source("P02")
    at = src.text.index("Short-term funding kills")
    code = p.store.get_code("Short-term funding")
    return m.MergeInput(origin="other.qdpx", digest="d1", sources=[m.InSource("s", "P02", src.text)],
                        codes=[m.InCode(str(code.id), code.name)],
                        codings=[m.InCoding("g1", "s", str(code.id), "visitor", at, at + 24)])


# (id, setup returning an argument, the call, the one action it must write)
CASES: list[tuple[str, Callable[[Project], Any], Callable[[Project, Any], Any], str]] = [
    ("basket-add", lambda p: _quote(p), lambda p, q: basket.add(p, [q]), "basket.add"),
    ("basket-note", _basket_item, lambda p, i: basket.set_note(p, i, "key quote"), "basket.note"),
    ("basket-move", _two_basket_items, lambda p, i: basket.move(p, i, 1), "basket.move"),
    ("basket-remove", _basket_item, lambda p, i: basket.remove(p, i), "basket.remove"),
    ("attributes-edit", lambda p: p.store.get_source("P01").id,
     lambda p, sid: set_attributes(p, sid, {"participant": "Alice Smith", "sector": "Private"}), "source.attributes"),
    ("attributes-kind", lambda p: p.store.get_source("P01").id,
     lambda p, sid: set_attributes(p, sid, p.store.get_source(sid).attributes, "field_notes"), "source.attributes"),
    ("decision-accept", _suggestion, lambda p, s: decisions.accept(p, s), "decision.accept"),
    ("decision-reject", _suggestion, lambda p, s: decisions.reject(p, s), "decision.reject"),
    ("decision-edit", _suggestion, lambda p, s: decisions.edit(p, s, code="Short-term funding"), "decision.edit"),
    ("decision-hand-coding", lambda p: p.store.get_source("P02").text.index("Short-term funding kills"),
     lambda p, at: decisions.add_coding(p, "P02", at, at + 24, "Short-term funding"), "decision.add"),
    ("coding-remove", lambda p: _hand_coding(p), lambda p, c: decisions.remove_coding(p, c), "coding.remove"),
    ("coding-resize", lambda p: _hand_coding(p), lambda p, c: decisions.resize_coding(p, c, *_span(p, "Short-term funding kills prevention")),
     "coding.resize"),
    ("decision-undo", _accepted, lambda p, d: decisions.undo(p, d), "decision.undo"),
    ("coding-undo-remove", lambda p: decisions.remove_coding(p, _hand_coding(p)),
     lambda p, _: decisions.undo_last_change(p), "coding.undo"),
    ("coding-undo-resize", lambda p: decisions.resize_coding(p, _hand_coding(p), *_span(p, "Short-term funding kills prevention")),
     lambda p, _: decisions.undo_last_change(p), "coding.undo"),
    ("decision-undo-last", _accepted, lambda p, _: decisions.undo_last(p), "decision.undo"),
    ("theme-accept", _theme, lambda p, t: th.accept_theme(p, t), "accept"),
    ("theme-reject", _theme, lambda p, t: th.reject_theme(p, t), "reject"),
    ("theme-rename", _theme, lambda p, t: th.rename_theme(p, t, "Renamed"), "rename"),
    ("theme-edit-summary", _theme, lambda p, t: th.edit_theme_summary(p, t, "The analyst's words."), "edit"),
    ("theme-merge", lambda p: [_theme(p, "A"), _theme(p, "B")], lambda p, ts: th.merge_themes(p, ts, "AB"), "merge"),
    ("conversation-append", lambda p: {"question": "q?", "text": None},
     lambda p, turn: conversation.append(p, turn), "conversation.append"),
    ("conversation-clear", lambda p: conversation.append(p, {"question": "q?"}),
     lambda p, _: conversation.clear(p), "conversation.clear"),
    ("user-add", lambda p: None, lambda p, _: _users().add_user(p, "Tess", "a-password", actor=p.analyst), "user.add"),
    ("user-role", _team, lambda p, _: _users().set_role(p, "Cai", "viewer", actor=p.analyst), "user.role"),
    ("user-remove", _team, lambda p, _: _users().remove_user(p, "Cai", actor=p.analyst), "user.remove"),
    ("assignment-create", lambda p: None, lambda p, _: _assign(p), "assignment.create"),
    ("assignment-done", _assign, lambda p, a: _asg().mark_done(p, a.id, "Ann"), "assignment.done"),
    ("adjudication-decide", _disagreement, lambda p, a: _adj().decide(p, a[0], a[1], "keep_a"),
     "adjudication.decide"),
    ("merge-apply", _merge_input, lambda p, inp: _merge().apply_merge(p, inp), "merge.apply"),
    ("settings-save", lambda p: None, lambda p, _: p.save_settings(), "settings"),
    ("analyst-set", lambda p: None, lambda p, _: p.set_analyst("Dr Test"), "analyst.set"),
    ("mcp-permit", lambda p: None, lambda p, _: _mcp_permit(p), "mcp.permit"),
    ("llm-setup", lambda p: None, lambda p, _: _llm_setup(p), "llm.setup"),
    ("validation-no-code", lambda p: _validation_item(p), lambda p, i: _mark_no_code(p, i), "validation.no_code"),
]


def _validation_item(p: Project) -> tuple[int, int]:
    from assistant.coding.validation import draw_sample

    vid = draw_sample(p, size=2, seed=0)
    return vid, int(p.store.validation_items(vid)[0]["excerpt_id"])


def _mark_no_code(p: Project, item: tuple[int, int]) -> Any:
    from assistant.coding.validation import mark_no_code

    return mark_no_code(p, item[0], [item[1]])


def _mcp_permit(p: Project) -> Any:
    from assistant.mcp.policy import permit

    return permit(p, "write", data_may_leave=True)


def _llm_setup(p: Project) -> Any:
    from assistant.llm.setup import FoundModel, save_choice

    return save_choice(p, FoundModel(provider="ollama", model="llama3.1:8b", where="ollama",
                                     base_url="http://127.0.0.1:11434"))


@pytest.mark.parametrize(("setup", "call", "action"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_every_change_writes_exactly_one_audit_row(project: Project, setup, call, action: str) -> None:
    arg = setup(project)
    before = project.store.last_audit_id()
    call(project, arg)
    new = [e for e in project.store.list_audit() if e.id > before]  # type: ignore[operator]
    assert [e.action for e in new] == [action]
    assert new[0].actor == project.analyst


def test_attribute_edits_keep_before_and_after_and_drop_blanks(project: Project) -> None:
    sid = int(project.store.get_source("P01").id)  # type: ignore[arg-type]
    assert set_attributes(project, sid, {"participant": " Alice Smith ", "sector": "NHS", "organisation": "City Hospital",
                                         "": "x", "note": float("nan"), "empty": "  "}) is False  # same after cleaning
    assert set_attributes(project, sid, {"participant": "Alice Smith", "sector": "Private"}) is True
    (event,) = [e for e in project.store.list_audit("source", sid) if e.action == "source.attributes"]
    assert event.details["before"]["attributes"]["sector"] == "NHS"
    assert event.details["after"] == {"attributes": {"participant": "Alice Smith", "sector": "Private"},
                                      "kind": "interview"}
    assert event.details["origin"] == "analyst"
    with pytest.raises(ThematicError, match="unknown source kind"):
        set_attributes(project, sid, {}, "podcast")


def test_ingest_records_attribute_changes_under_the_same_action(tmp_path: Path) -> None:
    from assistant.corpus.ingest import ingest_paths
    from index.embeddings import HashingEmbedder

    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.txt").write_text("Interviewer: Why?\n\nAmira: Damp homes, every winter.\n", encoding="utf-8")
    p = Project.init(tmp_path / "proj")
    p.set_embedder(HashingEmbedder(32))
    ingest_paths(p, [folder], attributes={"sector": "NHS"})
    ingest_paths(p, [folder], attributes={"sector": "Council"})
    actions = [e.action for e in p.store.list_audit("source")]
    assert "source.attributes" in actions and "update_attributes" not in actions
    (event,) = [e for e in p.store.list_audit("source") if e.action == "source.attributes"]
    assert event.details["origin"] == "ingest" and event.details["after"]["attributes"]["sector"] == "Council"
    p.close()


def test_unchanged_edits_write_nothing(project: Project) -> None:
    item = _basket_item(project)
    before = project.store.last_audit_id()
    assert basket.set_note(project, item, "") is False
    basket.move(project, item, 1)  # already first
    assert decisions.undo_last(project) is None  # no decision yet
    assert conversation.clear(project) == 0
    assert project.store.last_audit_id() == before


def test_missing_items_are_refused_in_one_sentence(project: Project) -> None:
    for call in (lambda: basket.set_note(project, 999, "x"), lambda: basket.move(project, 999, 1),
                 lambda: basket.remove(project, 999)):
        with pytest.raises(NotFound, match="no basket item 999"):
            call()


def test_undo_is_checked_one_way(project: Project) -> None:
    d = _accepted(project)
    assert [x.id for x in decisions.undoable(project)] == [d]
    decisions.undo(project, d)
    assert decisions.is_undone(project, d) and decisions.undoable(project) == []
    with pytest.raises(ThematicError, match="already undone"):
        decisions.undo(project, d)


WRITE_PREFIXES = ("add_", "update_", "set_", "delete_", "remove_", "replace_", "anchor_", "orphan_", "mark_",
                  "move_", "open_", "close_", "reorder_")


def _store_writes() -> set[str]:
    """Every method of the store that changes it, found from the class itself, so a new store
    write is covered by the face check below without anyone remembering to list it."""
    from assistant.store import ProjectStore

    names = {n for n in dir(ProjectStore) if not n.startswith("_") and callable(getattr(ProjectStore, n))}
    writes = {n for n in names if n.startswith(WRITE_PREFIXES)} | {"audit", "transaction"}
    assert {"add_coding", "add_memo", "update_source_attributes", "add_to_basket"} <= writes
    return writes - {"close"}


STORE_WRITES = _store_writes()


def _store_calls(path: Path) -> list[str]:
    """`<anything>.store.<method>(...)` and `store.<method>(...)` calls in a file."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            is_store = (isinstance(owner, ast.Name) and owner.id == "store") or (
                isinstance(owner, ast.Attribute) and owner.attr == "store")
            if is_store and node.func.attr in STORE_WRITES:
                out.append(f"{path.name}:{node.lineno} store.{node.func.attr}")
    return out


def test_faces_never_write_the_store() -> None:
    faces = [*sorted((ROOT / "app_pages").glob("*.py")), ROOT / "streamlit_app.py",
             *sorted((ROOT / "assistant" / "cli").glob("*.py"))]
    writes = [w for f in faces for w in _store_calls(f)]
    assert writes == []


def test_cli_basket_and_undo_use_the_same_audited_functions(project: Project) -> None:
    from typer.testing import CliRunner

    from assistant.cli import app

    folder = str(project.folder)
    project.save_settings()  # the command line works as the same analyst
    item = _basket_item(project)
    _accepted(project)
    project.close()
    runner = CliRunner()
    outputs = []
    for args in (["basket", "note", str(item), "key"], ["undo"], ["undo"], ["basket", "remove", str(item)]):
        result = runner.invoke(app, [*args, "--project", folder])
        assert result.exit_code == 0, result.output
        outputs.append(result.output)
    assert "nothing to undo" in outputs[2], outputs
    with Project.open(folder) as p:
        actions = [e.action for e in p.store.list_audit()]
    assert actions[-3:] == ["basket.note", "decision.undo", "basket.remove"]  # the second undo had nothing to undo
