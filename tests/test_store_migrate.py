"""`thematic migrate --to postgresql://...`: a SQLite project copied into an empty server database,
ids kept, sequences reset, verified row by row (SHA-256) on both sides; a non-empty target is
refused, and a copy that fails leaves the target as it was."""

from __future__ import annotations

import json

import pytest
from builders import build_writing_project
from typer.testing import CliRunner

from assistant.cli import app
from assistant.coding import decisions
from assistant.coding.memos import add_memo
from assistant.models import Code
from assistant.project import Project
from assistant.store import ProjectStore
from assistant.store.copy import CopyError, check_empty, copy_store
from assistant.store.engine import store_url


@pytest.fixture
def sqlite_project(tmp_path):
    project = build_writing_project(tmp_path / "proj")
    codes = project.store.list_codes()
    child = codes[0]
    parent = project.store.add_code(Code(name="A later parent"))  # refers to a row copied after it
    project.store.update_code(child.model_copy(update={"parent_id": parent.id}))
    src = project.store.get_source("P01")
    decisions.add_coding(project, "P01", 0, src.text.index(" "), parent.name)
    add_memo(project, "A memo on the study, 100% mine.", "project", None)
    project.close()
    return project.folder


def _rows(store: ProjectStore, table: str) -> list[tuple]:
    return [tuple(r) for r in store.conn.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()]


def test_migrate_copies_every_row_with_its_id_and_verifies(sqlite_project, pg_url):
    runner = CliRunner()
    result = runner.invoke(app, ["migrate", "--to", pg_url, "--project", str(sqlite_project), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    tables = {t["table"]: t for t in report["tables"]}
    assert report["ok"] and {"sources", "codings", "audit_log", "codes", "memos", "excerpts"} <= set(tables)
    assert all(t["source_rows"] == t["target_rows"] and t["sha256"] == t["target_sha256"] for t in tables.values())
    assert tables["audit_log"]["source_rows"] >= 3 and tables["codings"]["source_rows"] >= 3
    local = ProjectStore.open(sqlite_project / "thematic.db")
    server = ProjectStore.open(pg_url)
    for table in ("sources", "excerpts", "codes", "codings", "memos", "audit_log", "meta", "corpus_generation"):
        assert _rows(server, table) == _rows(local, table), table
    assert server.corpus_fingerprint() == local.corpus_fingerprint()  # the index built here stays current
    # sequences reset: the next id follows the copied ones
    new = server.add_code(Code(name="After the move"))
    assert new.id == max(c.id for c in local.list_codes(include_inactive=True)) + 1
    assert server.audit("alice", "x", "y") == local.last_audit_id() + 1
    local.close()
    server.close()


def test_a_target_that_is_not_empty_is_refused_in_one_line(sqlite_project, pg_url):
    runner = CliRunner()
    assert runner.invoke(app, ["migrate", "--to", pg_url, "--project", str(sqlite_project)]).exit_code == 0
    again = runner.invoke(app, ["migrate", "--to", pg_url, "--project", str(sqlite_project)])
    assert again.exit_code == 1
    assert "not empty" in again.output and len(again.output.strip().splitlines()) == 1
    assert "Traceback" not in again.output


def test_a_password_in_the_url_is_refused_without_repeating_it(sqlite_project):
    result = CliRunner().invoke(app, ["migrate", "--to", "postgresql://app:Sup3rSecret@127.0.0.1/db",
                                      "--project", str(sqlite_project)])
    assert result.exit_code == 2 and "Sup3rSecret" not in result.output and "password" in result.output


def test_a_copy_that_fails_half_way_leaves_the_target_empty(sqlite_project, pg_cluster, monkeypatch):
    import assistant.store.copy as copy_mod
    from assistant.store.engine import DatabaseError

    url = pg_cluster.new_schema_url()  # empty: the copy runs the migrations too
    real = copy_mod._copy_table

    def failing(src, dest, t):
        real(src, dest, t)
        if t.name == "codings":
            dest.execute("INSERT INTO codings (id) VALUES (NULL)")  # a NOT NULL violation mid-copy

    monkeypatch.setattr(copy_mod, "_copy_table", failing)
    source = ProjectStore.open(sqlite_project / "thematic.db")
    with pytest.raises(CopyError, match="failed at table codings.*left unchanged"):
        copy_store(source, url)
    assert isinstance(DatabaseError, type)
    check_empty(store_url(url))  # still empty: nothing was committed
    monkeypatch.setattr(copy_mod, "_copy_table", real)
    report = copy_store(source, url)  # and the same target takes a clean copy afterwards
    assert report.ok
    source.close()


def test_switch_makes_the_folder_open_the_server(sqlite_project, pg_url):
    result = CliRunner().invoke(app, ["migrate", "--to", pg_url, "--project", str(sqlite_project), "--switch"])
    assert result.exit_code == 0, result.output
    assert "every row verified" in result.output
    with Project.open(sqlite_project) as p:
        assert p.store.dialect == "postgresql"
        assert p.store.list_audit()[-1].action == "store.migrate"
    assert "postgres@" in (sqlite_project / "settings.json").read_text()


def test_init_names_the_database_in_the_settings(tmp_path, pg_url):
    result = CliRunner().invoke(app, ["init", str(tmp_path / "team"), "--database", pg_url, "--analyst", "lead"])
    assert result.exit_code == 0, result.output
    assert "store: postgresql" in result.output
    settings = json.loads((tmp_path / "team" / "settings.json").read_text())
    assert settings["database"]["url"] == pg_url and not (tmp_path / "team" / "thematic.db").exists()
    with Project.open(tmp_path / "team") as p:
        assert p.store.dialect == "postgresql" and p.analyst == "lead"
