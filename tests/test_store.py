"""The project store: migrations, transactions, the append-only audit log, two processes."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

import pytest

from assistant.errors import NotFound, ProjectError
from assistant.models import Code, Coding, Excerpt, Source
from assistant.project import Project
from assistant.store import ProjectStore
from assistant.store.migrations import MIGRATIONS, apply_migrations


def test_migrations_apply_once_and_are_recorded(tmp_path):
    store = ProjectStore.open(tmp_path / "p.db")
    names = [r[0] for r in store.conn.execute("SELECT name FROM _migrations ORDER BY name")]
    assert names == sorted(n for n, _ in MIGRATIONS)
    assert apply_migrations(store.conn) == []  # nothing left to do
    again = ProjectStore.open(tmp_path / "p.db")
    assert again.applied_migrations == []


def test_transaction_rolls_back_everything_on_error(tmp_path):
    store = ProjectStore.open(tmp_path / "p.db")
    with pytest.raises(RuntimeError):
        with store.transaction():
            store.add_source(Source(name="a.txt", text="hello there", kind="interview"))
            with store.transaction():  # nested: only the outer block commits
                store.add_code(Code(name="X"))
            raise RuntimeError("crash half-way")
    assert store.list_sources() == []
    assert store.list_codes() == []


def test_audit_log_is_append_only(tmp_path):
    store = ProjectStore.open(tmp_path / "p.db")
    store.audit("alice", "accept", "suggestion", 3, engine="offline")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        store.conn.execute("UPDATE audit_log SET actor = 'mallory'")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        store.conn.execute("DELETE FROM audit_log")
    [event] = store.list_audit()
    assert (event.actor, event.details) == ("alice", {"engine": "offline"})


def test_excerpt_model_refuses_mismatched_span():
    with pytest.raises(ValueError):
        Excerpt(source_id=1, ordinal=0, start=0, end=5, text="hey")


def test_removing_a_source_reports_what_goes(tmp_path):
    store = ProjectStore.open(tmp_path / "p.db")
    src = store.add_source(Source(name="a.txt", text="One two three.", kind="interview"))
    [ex] = store.add_excerpts([Excerpt(source_id=src.id, ordinal=0, start=0, end=14, text="One two three.")])
    code = store.add_code(Code(name="Numbers"))
    store.add_coding(Coding(source_id=src.id, excerpt_id=ex.id, code_id=code.id, start=0, end=3, text="One", coder="alice"))
    counts = store.delete_source(src.id)
    assert counts == {"excerpts": 1, "codings": 1, "suggestions": 0}
    with pytest.raises(NotFound):
        store.get_source("a.txt")
    assert store.list_codings() == []


def test_project_folder_is_private(tmp_path):
    project = Project.init(tmp_path / "study")
    assert (project.folder.stat().st_mode & 0o777) == 0o700
    assert ((project.folder / "thematic.db").stat().st_mode & 0o077) == 0
    assert ((project.folder / "settings.json").stat().st_mode & 0o077) == 0
    with pytest.raises(ProjectError, match="already"):
        Project.init(tmp_path / "study")
    with pytest.raises(ProjectError, match="not a thematic project"):
        Project.open(tmp_path / "elsewhere")


def test_settings_never_hold_a_key(tmp_path):
    project = Project.init(tmp_path / "study")
    with pytest.raises(ValueError, match="NAME of an environment variable"):
        project.settings.llm.api_key_env = "sk-live-abc123"
    project.settings.llm.api_key_env = "OPENAI_API_KEY"
    project.save_settings()
    assert "sk-" not in (project.folder / "settings.json").read_text()


def test_local_endpoints_count_as_local():
    from assistant.settings import LLMSettings

    assert not LLMSettings(provider="ollama").is_remote
    assert not LLMSettings(provider="openai", base_url="http://127.0.0.1:8080/v1").is_remote
    assert LLMSettings(provider="openai").is_remote
    assert LLMSettings(provider="anthropic").is_remote


WRITER = """
import sys
from assistant.models import Source
from assistant.store import ProjectStore
store = ProjectStore.open(sys.argv[1])
for i in range(40):
    with store.transaction():
        store.add_source(Source(name=f"{sys.argv[2]}-{i}.txt", text="words " * 50, kind="document"))
"""


def test_two_processes_write_without_corruption(tmp_path):
    db = tmp_path / "p.db"
    ProjectStore.open(db).close()
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(db), tag]) for tag in ("a", "b")]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    store = ProjectStore.open(db)
    assert len(store.list_sources()) == 80
    assert store.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
