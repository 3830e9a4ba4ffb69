"""Memos: write, edit (the old text kept in the audit row), link to more targets, list by target,
search, export to .qdpx as Notes with a NoteRef per target, and the `thematic memo` commands."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from _workspace_helpers import code_phrase, make_project, no_audit, one_audit
from typer.testing import CliRunner

from assistant.cli import app
from assistant.coding import memos
from assistant.errors import NotFound, ThematicError
from assistant.models import Theme
from assistant.project import Project

pytestmark = pytest.mark.usefixtures("store_engine")  # every test on SQLite and on PostgreSQL

runner = CliRunner()
DATA = "Damp *matters* [laughs] <b>x</b> \x1b[31m\n# not a heading"


@pytest.fixture
def project(tmp_path: Path):
    p = make_project(tmp_path)
    yield p
    p.close()


def test_add_on_a_code_linked_to_a_source_writes_one_audit_row(project: Project) -> None:
    v, ev = one_audit(project, lambda: memos.add_memo(project, DATA, "code", "housing and living conditions",
                                                      links=[("source", "P01")]), "memo.add")
    assert v.memo.text == DATA  # data, kept exactly
    assert [(t.type, t.label) for t in v.targets] == [
        ("code", "code Drivers > Housing and living conditions"), ("source", "source P01")]
    assert ev.entity_type == "memo" and ev.entity_id == v.memo.id and ev.details["text"] == DATA
    code_id = project.store.get_code("Housing and living conditions").id
    assert [m.memo.id for m in memos.list_memos(project, "code", code_id)] == [v.memo.id]
    assert [m.memo.id for m in memos.list_memos(project, "source", "P01")] == [v.memo.id]  # by its link
    assert [m.memo.id for m in memos.list_memos(project, "source")] == [v.memo.id]
    assert memos.list_memos(project, "source", "P02") == []
    assert memos.list_memos(project, "theme") == []


def test_edit_keeps_the_previous_text_in_its_audit_row(project: Project) -> None:
    v = memos.add_memo(project, "first thoughts")
    edited, ev = one_audit(project, lambda: memos.edit_memo(project, v.memo.id, "second thoughts"), "memo.edit")
    assert ev.details == {"before": "first thoughts", "after": "second thoughts"}
    assert edited.memo.text == "second thoughts" and edited.memo.updated_at
    no_audit(project, lambda: memos.edit_memo(project, v.memo.id, "second thoughts"))  # unchanged: nothing written
    assert [e.action for e in memos.memo_history(project, v.memo.id)] == ["memo.add", "memo.edit"]


def test_link_and_unlink(project: Project) -> None:
    v = memos.add_memo(project, "codes that travel together", "code", "Workforce capacity")
    theme = project.store.add_theme(Theme(name="Pressure"))
    linked, ev = one_audit(project, lambda: memos.link_memo(
        project, v.memo.id, [("code", "Short-term funding"), ("theme", "Pressure"), ("code", "Workforce capacity")]),
        "memo.link")
    assert [t.label for t in linked.targets] == ["code Workforce capacity", "code Short-term funding", "theme Pressure"]
    assert len(ev.details["targets"]) == 2  # the home target is not linked again
    no_audit(project, lambda: memos.link_memo(project, v.memo.id, [("theme", theme.id)]))
    with pytest.raises(ThematicError, match="stays there"):
        memos.unlink_memo(project, v.memo.id, "code", "Workforce capacity")
    out, _ = one_audit(project, lambda: memos.unlink_memo(project, v.memo.id, "theme", "Pressure"), "memo.unlink")
    assert [t.type for t in out.targets] == ["code", "code"]
    with pytest.raises(NotFound):
        memos.unlink_memo(project, v.memo.id, "theme", theme.id)


@pytest.mark.parametrize("call, error", [
    (lambda p: memos.add_memo(p, "   \n"), "needs some text"),
    (lambda p: memos.add_memo(p, "x" * (memos.MAX_MEMO_CHARS + 1)), "limit"),
    (lambda p: memos.add_memo(p, "x", "participant", "P01"), "one of project"),
    (lambda p: memos.add_memo(p, "x", "source", "P99"), "no source"),
    (lambda p: memos.add_memo(p, "x", "coding", "abc"), "by its id"),
    (lambda p: memos.add_memo(p, "x", "coding", 999), "no coding 999"),
    (lambda p: memos.add_memo(p, "x", "project", 3), "no target id"),
    (lambda p: memos.add_memo(p, "x", "code", None), "say which code"),
    (lambda p: memos.add_memo(p, "x", links=[("theme", "nope")]), "no theme"),
    (lambda p: memos.edit_memo(p, 42, "x"), "no memo 42"),
])
def test_refusals_name_the_problem_and_write_nothing(project: Project, call, error) -> None:
    with pytest.raises((ThematicError, NotFound), match=error):
        no_audit(project, lambda: call(project))
    assert project.store.list_memos() == []


def test_memo_on_a_coding_and_a_deleted_source_is_kept(project: Project) -> None:
    c = code_phrase(project, "P02", "lonely older people", "Frequent attenders")
    on_coding = memos.add_memo(project, "telling", "coding", c.id)
    assert on_coding.targets[0].label == f"coding #{c.id}: Drivers > Frequent attenders on P02 [{c.start}:{c.end}]"
    on_source = memos.add_memo(project, "about P01", "source", "P01")
    project.store.delete_source(project.store.get_source("P01").id)
    kept = memos.get_memo(project, on_source.memo.id)
    assert kept.memo.text == "about P01" and not kept.targets[0].exists and "deleted" in kept.targets[0].label


def test_search_words_and_phrases(project: Project) -> None:
    a = memos.add_memo(project, "Damp and MOULD keep\n coming back")
    memos.add_memo(project, "funding is short term")
    assert [v.memo.id for v in memos.search_memos(project, 'mould "keep coming"')] == [a.memo.id]
    assert memos.search_memos(project, "mould funding") == []
    with pytest.raises(ThematicError):
        memos.search_memos(project, "  ")


def test_markdown_renders_the_exact_characters(project: Project) -> None:
    v = memos.add_memo(project, DATA, "code", "Drivers")
    md = memos.memos_markdown([v])
    assert "\\*matters\\*" in md and "\\[laughs\\]" in md and "\\<b\\>" in md and "\\# not a heading" in md
    assert "*matters*" not in md.replace("\\*", "")


def test_qdpx_keeps_every_target_of_a_memo(project: Project, tmp_path: Path) -> None:
    from assistant.exchange.refi.export import export_qdpx
    from assistant.exchange.refi.writer import import_qdpx

    v = memos.add_memo(project, "one memo, two codes", "code", "Drivers", links=[("code", "Workforce capacity")])
    out = tmp_path / "p.qdpx"
    export_qdpx(project, out)
    with zipfile.ZipFile(out) as zf:
        qde = zf.read("project.qde").decode("utf-8")
    guid = project.store.entity_guids("memos")[v.memo.id]
    assert qde.count(f'targetGUID="{guid}"') == 2  # a NoteRef from each code
    into = tmp_path / "copy"
    import_qdpx(out, into)
    copy = Project.open(into)
    try:
        (back,) = [m for m in memos.list_memos(copy) if m.memo.text == v.memo.text]
        assert sorted(t.label for t in back.targets) == ["code Drivers", "code Workforce capacity"]
    finally:
        copy.close()


# --- the command line ----------------------------------------------------------------------------


def test_cli_memo_commands(project: Project, tmp_path: Path) -> None:
    folder = str(project.folder)
    r = runner.invoke(app, ["memo", "add", "[laughs] is data", "--on", "code:Drivers", "--on", "source:P01",
                            "-p", folder, "--json"])
    assert r.exit_code == 0, r.output
    memo_id = json.loads(r.stdout)["memo"]["id"]
    r = runner.invoke(app, ["memo", "list", "--on", "source:P01", "-p", folder])
    assert r.exit_code == 0 and "[laughs] is data" in r.stdout
    file = tmp_path / "memo.txt"
    file.write_text("new text [/inaudible]", encoding="utf-8")
    assert runner.invoke(app, ["memo", "edit", str(memo_id), "--file", str(file), "-p", folder]).exit_code == 0
    r = runner.invoke(app, ["memo", "show", str(memo_id), "--history", "-p", folder])
    assert r.exit_code == 0 and "new text [/inaudible]" in r.stdout and "before: [laughs] is data" in r.stdout
    r = runner.invoke(app, ["memo", "list", "--search", "inaudible", "-p", folder, "--json"])
    assert [v["memo"]["id"] for v in json.loads(r.stdout)] == [memo_id]
    r = runner.invoke(app, ["memo", "add", "x", "--on", "source:P99", "-p", folder])
    assert r.exit_code == 1 and "no source 'P99'" in r.output and "Traceback" not in r.output
    r = runner.invoke(app, ["memo", "add", "-p", folder])
    assert r.exit_code == 1 and "argument or with --file" in r.output


def test_the_workspace_commands_never_write_the_store() -> None:
    from test_audited_writes import ROOT, STORE_WRITES, _store_calls

    extra = {"add_memo_link", "remove_memo_link", "update_memo_text", "open_blind_period", "close_blind_period"}
    STORE_WRITES.update(extra)
    try:
        assert _store_calls(ROOT / "assistant" / "cli" / "analysis.py") == []
    finally:
        STORE_WRITES.difference_update(extra)
