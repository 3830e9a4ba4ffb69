"""The project store: migrations, transactions, the append-only audit log, two processes -- each on
SQLite and on PostgreSQL (the `store_target` fixture; see tests/pg_cluster.py)."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest

from assistant.errors import NotFound, ProjectError
from assistant.models import Code, Coding, Excerpt, Source
from assistant.project import Project
from assistant.store import ProjectStore
from assistant.store.engine import DatabaseError
from assistant.store.migrations import MIGRATIONS, apply_migrations


def test_migrations_apply_once_and_are_recorded(store_target):
    store = ProjectStore.open(store_target)
    names = [r[0] for r in store.conn.execute("SELECT name FROM _migrations ORDER BY name")]
    assert names == sorted(n for n, _ in MIGRATIONS)
    assert apply_migrations(store.conn) == []  # nothing left to do
    again = ProjectStore.open(store_target)
    assert again.applied_migrations == []
    again.close()
    store.close()


def test_transaction_rolls_back_everything_on_error(store_target):
    store = ProjectStore.open(store_target)
    with pytest.raises(RuntimeError):
        with store.transaction():
            store.add_source(Source(name="a.txt", text="hello there", kind="interview"))
            with store.transaction():  # nested: only the outer block commits
                store.add_code(Code(name="X"))
            raise RuntimeError("crash half-way")
    assert store.list_sources() == []
    assert store.list_codes() == []


def test_audit_log_is_append_only(store_target, store_engine):
    store = ProjectStore.open(store_target)
    store.audit("alice", "accept", "suggestion", 3, engine="offline")
    with pytest.raises(DatabaseError, match="append-only"):
        store.conn.execute("UPDATE audit_log SET actor = 'mallory'")
    with pytest.raises(DatabaseError, match="append-only"):
        store.conn.execute("DELETE FROM audit_log")
    if store_engine == "postgresql":  # the per-row triggers do not see TRUNCATE: its own trigger does
        with pytest.raises(DatabaseError, match="append-only"):
            store.conn.execute("TRUNCATE audit_log")
    [event] = store.list_audit()
    assert (event.actor, event.details) == ("alice", {"engine": "offline"})


def test_excerpt_model_refuses_mismatched_span():
    with pytest.raises(ValueError):
        Excerpt(source_id=1, ordinal=0, start=0, end=5, text="hey")


def test_removing_a_source_reports_what_goes(store_target):
    store = ProjectStore.open(store_target)
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


def test_two_processes_write_without_corruption(store_target, store_engine):
    ProjectStore.open(store_target).close()
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, store_target, tag]) for tag in ("a", "b")]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    store = ProjectStore.open(store_target)
    assert len(store.list_sources()) == 80
    assert store.corpus_generation() == 1 + 80  # every insert bumped it, none lost
    if store_engine == "sqlite":
        assert store.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    store.close()


# --- the connection adapter: one style of SQL for both engines -------------------------------------


def test_rows_read_by_name_and_index_on_both_engines(store_target):
    store = ProjectStore.open(store_target)
    src = store.add_source(Source(name="a.txt", text="100% sure? Yes.", kind="interview"))
    row = store.conn.execute("SELECT id, name AS label, '50% off?' AS lit FROM sources WHERE name = ?", ("a.txt",)).fetchone()
    assert (row[0], row["id"], row["Label"], row["label"], row["lit"]) == (src.id, src.id, "a.txt", "a.txt", "50% off?")
    assert dict(row) == {"id": src.id, "label": "a.txt", "lit": "50% off?"}  # PostgreSQL folds unquoted names
    assert tuple(row) == (src.id, "a.txt", "50% off?")
    with pytest.raises(IndexError):
        row["nope"]
    n = store.conn.execute("SELECT COUNT(*), SUM(version), SUM(LENGTH(text)) FROM sources").fetchone()
    assert tuple(n) == (1, 1, 15) and all(type(v) is int for v in n)  # never Decimal
    assert store.conn.execute("SELECT text FROM sources WHERE text LIKE ?", ("100%",)).fetchone()[0] == src.text
    store.close()


def test_an_inner_savepoint_fails_alone(store_target):
    store = ProjectStore.open(store_target)
    with store.transaction():
        store.add_code(Code(name="Kept"))
        with pytest.raises(DatabaseError):
            with store.transaction(savepoint=True):
                store.add_code(Code(name="Gone"))
                store.conn.execute("INSERT INTO codes (name, created_at) VALUES (NULL, 'x')")  # NOT NULL
        store.add_code(Code(name="Also kept"))  # PostgreSQL would refuse this without the savepoint
    assert [c.name for c in store.list_codes()] == ["Kept", "Also kept"]
    store.close()


def test_threads_each_have_their_own_transaction(store_target):
    """A team server's sessions are threads: each writes in its own transaction, under the
    project's write lock, so a read-modify-write (the basket's next position) never collides."""
    from assistant.models import Quote

    store = ProjectStore.open(store_target)
    src = store.add_source(Source(name="a.txt", text="Housing is damp.", kind="interview"))
    quote = Quote(source_id=src.id, source_name=src.name, start=0, end=7, text="Housing")
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(15):
                store.add_to_basket(quote)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    positions = [item.position for item in store.list_basket()]
    assert sorted(positions) == list(range(60))
    store.close()


def test_every_corpus_change_bumps_the_generation_and_nothing_else_does(store_target):
    store = ProjectStore.open(store_target)
    seen = [store.corpus_generation()]

    def step() -> int:
        seen.append(store.corpus_generation())
        return seen[-1] - seen[-2]

    src = store.add_source(Source(name="a.txt", text="One two three.", kind="interview"))
    assert step() >= 1
    store.add_excerpts([Excerpt(source_id=src.id, ordinal=0, start=0, end=14, text="One two three.")])
    assert step() >= 1
    store.update_source_attributes(src.id, {"sector": "NHS"})
    assert step() >= 1
    code = store.add_code(Code(name="Numbers"))
    store.add_coding(Coding(source_id=src.id, code_id=code.id, start=0, end=3, text="One", coder="alice"))
    store.audit("alice", "x", "y")
    assert step() == 0  # codes, codings and the audit log are not the index's business
    fingerprint = store.corpus_fingerprint()
    store.delete_source(src.id)
    assert step() >= 1 and store.corpus_fingerprint() != fingerprint
    store.close()


def test_a_database_url_is_named_without_its_password(tmp_path, pg_url, monkeypatch):
    """`Project.init(..., database=URL)` keeps the URL (never a password) in settings.json, and
    opening the folder opens the server's store."""
    from assistant.settings import Settings

    with pytest.raises(ValueError, match="holds a password"):
        Settings().database.url = "postgresql://app:s3cret@127.0.0.1/db"
    project = Project.init(tmp_path / "team", database=pg_url)
    project.store.add_source(Source(name="a.txt", text="hello there", kind="interview"))
    project.close()
    assert not (tmp_path / "team" / "thematic.db").exists()
    with Project.open(tmp_path / "team") as again:
        assert [s.name for s in again.store.list_sources()] == ["a.txt"]
        assert again.store.dialect == "postgresql"
    # a second app server joins the same database from its own folder
    with Project.init(tmp_path / "server-b", database=pg_url) as b:
        assert [s.name for s in b.store.list_sources()] == ["a.txt"]
        assert [e.action for e in b.store.list_audit(entity_type="project")] == ["init", "project.attach"]
    monkeypatch.setenv("TEAM_DB_PASSWORD", "not-needed-with-trust")
    settings = Settings.load(tmp_path / "team" / "settings.json")
    settings.database.password_env = "TEAM_DB_PASSWORD"
    settings.save(tmp_path / "team" / "settings.json")
    with Project.open(tmp_path / "team") as again:  # the password comes from the environment
        assert again.store.counts()["sources"] == 1
    monkeypatch.delenv("TEAM_DB_PASSWORD")
    with pytest.raises(ProjectError, match=r"\$TEAM_DB_PASSWORD"):
        Project.open(tmp_path / "team")


def test_the_app_role_may_append_to_the_audit_log_but_not_change_it(pg_url, pg_cluster):
    import psycopg

    from assistant.store.migrations import grant_app_role

    store = ProjectStore.open(pg_url)
    store.audit("alice", "init", "project")
    pg_cluster.execute("DO $$ BEGIN CREATE ROLE thematic_app LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$")
    grant_app_role(store.conn, "thematic_app")
    with psycopg.connect(pg_url.replace("postgres@", "thematic_app@"), autocommit=True) as c:
        c.execute("INSERT INTO audit_log (time, actor, action, entity_type, details) VALUES ('t', 'bob', 'x', 'y', '{}')")
        c.execute("UPDATE sources SET kind = kind")  # ordinary tables stay writable
        for sql in ("UPDATE audit_log SET actor = 'mallory'", "DELETE FROM audit_log", "TRUNCATE audit_log"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                c.execute(sql)
    assert [e.actor for e in store.list_audit()] == ["alice", "bob"]
    store.close()


def test_a_dropped_server_connection_is_one_clear_error_then_reconnects(pg_url, pg_cluster):
    from assistant.errors import StoreUnavailable

    store = ProjectStore.open(pg_url)
    store.add_source(Source(name="a.txt", text="hello there", kind="interview"))
    pg_cluster.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                       "WHERE application_name = 'thematic' AND pid <> pg_backend_pid()")
    with pytest.raises(StoreUnavailable, match="cannot be reached"):
        store.list_sources()
    assert [s.name for s in store.list_sources()] == ["a.txt"]  # a fresh connection from the pool
    store.close()


def test_sql_translation_for_postgresql():
    from assistant.store.dialect import MigrationSQLError, pg_ddl, pg_sql

    assert pg_sql("SELECT * FROM t WHERE a = ? AND b LIKE '50%?' AND c = :name -- why?") == (
        "SELECT * FROM t WHERE a = %s AND b LIKE '50%%?' AND c = %(name)s -- why?")
    assert pg_sql("SELECT IFNULL(x, -1)::int FROM t") == "SELECT COALESCE(x, -1)::int FROM t"
    [ddl] = pg_ddl('CREATE TABLE s (id INTEGER PRIMARY KEY, text TEXT NOT NULL, "end" INTEGER, score REAL, data BLOB, '
                   "note TEXT DEFAULT 'TEXT')")
    assert ddl == ('CREATE TABLE s (id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, text TEXT COLLATE "C" '
                   'NOT NULL, "end" BIGINT, score DOUBLE PRECISION, data BYTEA, note TEXT COLLATE "C" DEFAULT \'TEXT\')')
    fn, trigger = pg_ddl("CREATE TRIGGER t_no_update BEFORE UPDATE ON t BEGIN SELECT RAISE(ABORT, 'read-only'); END;")
    assert "RAISE EXCEPTION 'read-only'" in fn and trigger.endswith("FOR EACH ROW EXECUTE FUNCTION t_no_update_fn()")
    for bad in ("PRAGMA foreign_keys = ON", "CREATE TRIGGER x AFTER INSERT ON t BEGIN UPDATE u SET a = 1; END"):
        with pytest.raises(MigrationSQLError, match="per engine"):
            pg_ddl(bad)


def test_a_project_made_with_the_shipped_migrations_upgrades_in_place(tmp_path):
    """An existing SQLite project (m001..m003, as shipped, through a bare sqlite3 connection as the
    old store ran them) gains the later migrations, its rows untouched, and the corpus generation
    starts counting from there."""
    import sqlite3

    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("CREATE TABLE _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    for name, fn in MIGRATIONS[:3]:
        fn(conn)
        conn.execute("INSERT INTO _migrations VALUES (?, datetime('now'))", (name,))
    conn.execute("INSERT INTO sources (name, kind, content_hash, text, added_at) VALUES ('a.txt', 'document', 'h', "
                 "'Damp flats.', 'now')")
    conn.execute("INSERT INTO audit_log (time, actor, action, entity_type) VALUES ('now', 'alice', 'init', 'project')")
    conn.close()
    store = ProjectStore.open(path)
    assert "m008_store_engine" in store.applied_migrations and "m001_initial" not in store.applied_migrations
    assert [s.name for s in store.list_sources()] == ["a.txt"] and store.last_audit_id() == 1
    before = store.corpus_generation()
    store.add_excerpts([Excerpt(source_id=1, ordinal=0, start=0, end=4, text="Damp")])
    assert store.corpus_generation() == before + 1
    with pytest.raises(DatabaseError, match="append-only"):
        store.conn.execute("DELETE FROM audit_log")
    store.close()
