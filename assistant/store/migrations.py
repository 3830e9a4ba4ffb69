"""Versioned schema migrations. Each `mNNN_name(conn)` runs once, inside a transaction, and its name
is recorded in `_migrations`; a new feature adds a new function, never edits an applied one.

The same migrations build the schema on SQLite and on PostgreSQL. They are written in SQLite's
dialect and run statement by statement through `run_script`, which hands PostgreSQL the translated
form (`assistant.store.dialect.pg_ddl`: identity keys, BIGINT, DOUBLE PRECISION, BYTEA, byte-wise
TEXT collation, the audit log's forbid triggers as PL/pgSQL); a statement with no automatic form
(another trigger, a PRAGMA) is written per engine inside the migration (`conn.dialect`). Both
engines run DDL transactionally, so a failing migration leaves nothing behind on either; on
PostgreSQL the migration also holds the project's write lock, so two app servers starting at once
cannot both apply it.

Why not Alembic: the migrations m001..m003 are already shipped and recorded by name in every
existing project's `_migrations` table, and each project folder is its own SQLite database
opened (and migrated) at run time by the library, not one application database upgraded by an
operator. Alembic would add a second version table to stamp and keep in step, an env.py and script
directory per deployment, its SQLite "batch mode" table rebuilds, and autogenerate needs table
metadata this store (plain SQL, no ORM models) does not keep. The runner here is a few dozen lines
that already do what Alembic's upgrade would: ordered, recorded, transactional, on both engines.
"""

from __future__ import annotations

import re
import sqlite3  # noqa: F401 - some migrations annotate `conn` as sqlite3.Connection
import uuid
from collections.abc import Callable
from typing import Any

from assistant.models import utcnow
from assistant.store.dialect import pg_ddl, split_script
from assistant.store.engine import DatabaseError, StoreConnection

Migration = Callable[[Any], None]  # called with the store's StoreConnection
MIGRATIONS: list[tuple[str, Migration]] = []


def migration(fn: Migration) -> Migration:
    if any(name == fn.__name__ for name, _ in MIGRATIONS):
        raise ValueError(f"duplicate migration name {fn.__name__}")
    MIGRATIONS.append((fn.__name__, fn))
    return fn


@migration
def m001_initial(conn: StoreConnection) -> None:
    run_script(
        conn,
        """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

        CREATE TABLE sources (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            path TEXT NOT NULL DEFAULT '',
            kind TEXT NOT NULL,
            content_hash TEXT NOT NULL,
            text TEXT NOT NULL,
            attributes TEXT NOT NULL DEFAULT '{}',
            pages TEXT NOT NULL DEFAULT '[]',
            reader TEXT NOT NULL DEFAULT '',
            reader_version TEXT NOT NULL DEFAULT '',
            format TEXT NOT NULL DEFAULT '',
            version INTEGER NOT NULL DEFAULT 1,
            added_at TEXT NOT NULL
        );
        CREATE INDEX sources_path ON sources(path);

        CREATE TABLE excerpts (
            id INTEGER PRIMARY KEY,
            source_id INTEGER NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
            ordinal INTEGER NOT NULL,
            start INTEGER NOT NULL,
            "end" INTEGER NOT NULL,
            text TEXT NOT NULL,
            speaker TEXT,
            is_interviewer INTEGER NOT NULL DEFAULT 0,
            page INTEGER,
            time TEXT,
            context_start INTEGER,
            context_end INTEGER,
            CHECK (start >= 0 AND "end" > start)
        );
        CREATE INDEX excerpts_source ON excerpts(source_id, ordinal);

        CREATE TABLE coders (
            name TEXT PRIMARY KEY,
            kind TEXT NOT NULL CHECK (kind IN ('analyst', 'ai', 'import')),
            guid TEXT,
            created_at TEXT NOT NULL
        );

        CREATE TABLE codes (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            parent_id INTEGER REFERENCES codes(id),
            definition TEXT NOT NULL DEFAULT '',
            include TEXT NOT NULL DEFAULT '',
            exclude TEXT NOT NULL DEFAULT '',
            examples TEXT NOT NULL DEFAULT '[]',
            colour TEXT NOT NULL DEFAULT '#888888',
            scope TEXT,
            status TEXT NOT NULL DEFAULT 'active',
            merged_into INTEGER REFERENCES codes(id),
            guid TEXT,
            created_at TEXT NOT NULL
        );
        CREATE UNIQUE INDEX codes_active_name ON codes(name) WHERE status = 'active';

        CREATE TABLE suggestions (
            id INTEGER PRIMARY KEY,
            excerpt_id INTEGER NOT NULL REFERENCES excerpts(id) ON DELETE CASCADE,
            source_id INTEGER NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
            code_id INTEGER REFERENCES codes(id),
            proposed_name TEXT,
            proposed_definition TEXT,
            score REAL NOT NULL DEFAULT 0,
            rationale TEXT NOT NULL DEFAULT '',
            evidence_start INTEGER,
            evidence_end INTEGER,
            evidence_text TEXT,
            engine TEXT NOT NULL,
            model TEXT NOT NULL DEFAULT '',
            prompt_version TEXT NOT NULL DEFAULT '',
            params TEXT NOT NULL DEFAULT '{}',
            run_id TEXT,
            status TEXT NOT NULL DEFAULT 'pending',
            created_at TEXT NOT NULL
        );
        CREATE INDEX suggestions_status ON suggestions(status, code_id);
        CREATE INDEX suggestions_excerpt ON suggestions(excerpt_id);

        CREATE TABLE decisions (
            id INTEGER PRIMARY KEY,
            suggestion_id INTEGER REFERENCES suggestions(id) ON DELETE SET NULL,
            action TEXT NOT NULL,
            analyst TEXT NOT NULL,
            code_id INTEGER REFERENCES codes(id),
            source_id INTEGER REFERENCES sources(id) ON DELETE SET NULL,
            start INTEGER,
            "end" INTEGER,
            note TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL
        );

        CREATE TABLE codings (
            id INTEGER PRIMARY KEY,
            source_id INTEGER NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
            excerpt_id INTEGER REFERENCES excerpts(id) ON DELETE SET NULL,
            code_id INTEGER NOT NULL REFERENCES codes(id),
            start INTEGER NOT NULL,
            "end" INTEGER NOT NULL,
            text TEXT NOT NULL,
            coder TEXT NOT NULL,
            origin TEXT NOT NULL DEFAULT 'manual',
            suggestion_id INTEGER REFERENCES suggestions(id) ON DELETE SET NULL,
            status TEXT NOT NULL DEFAULT 'active',
            guid TEXT,
            created_at TEXT NOT NULL,
            CHECK (start >= 0 AND "end" > start)
        );
        CREATE INDEX codings_code ON codings(code_id, status);
        CREATE INDEX codings_source ON codings(source_id);

        CREATE TABLE themes (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            summary TEXT NOT NULL DEFAULT '',
            summary_kind TEXT NOT NULL DEFAULT 'extractive',
            status TEXT NOT NULL DEFAULT 'draft',
            engine TEXT NOT NULL DEFAULT '',
            model TEXT NOT NULL DEFAULT '',
            prompt_version TEXT NOT NULL DEFAULT '',
            code_ids TEXT NOT NULL DEFAULT '[]',
            quotes TEXT NOT NULL DEFAULT '[]',
            created_at TEXT NOT NULL
        );

        CREATE TABLE memos (
            id INTEGER PRIMARY KEY,
            target_type TEXT NOT NULL,
            target_id INTEGER,
            text TEXT NOT NULL,
            author TEXT NOT NULL,
            guid TEXT,
            created_at TEXT NOT NULL
        );

        CREATE TABLE source_sets (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            description TEXT NOT NULL DEFAULT '',
            guid TEXT
        );
        CREATE TABLE source_set_members (
            set_id INTEGER NOT NULL REFERENCES source_sets(id) ON DELETE CASCADE,
            source_id INTEGER NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
            PRIMARY KEY (set_id, source_id)
        );

        CREATE TABLE basket (
            id INTEGER PRIMARY KEY,
            position INTEGER NOT NULL,
            quote TEXT NOT NULL,
            note TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL
        );

        CREATE TABLE llm_cache (
            key TEXT PRIMARY KEY,
            model TEXT NOT NULL,
            prompt_version TEXT NOT NULL,
            response TEXT NOT NULL,
            created_at TEXT NOT NULL
        );

        CREATE TABLE runs (
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            engine TEXT NOT NULL,
            params TEXT NOT NULL DEFAULT '{}',
            status TEXT NOT NULL,
            stats TEXT NOT NULL DEFAULT '{}',
            started_at TEXT NOT NULL,
            finished_at TEXT
        );
        CREATE TABLE run_items (
            run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            excerpt_id INTEGER NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('done', 'failed')),
            error TEXT,
            PRIMARY KEY (run_id, excerpt_id)
        );

        CREATE TABLE audit_log (
            id INTEGER PRIMARY KEY,
            time TEXT NOT NULL,
            actor TEXT NOT NULL,
            action TEXT NOT NULL,
            entity_type TEXT NOT NULL,
            entity_id INTEGER,
            details TEXT NOT NULL DEFAULT '{}'
        );
        CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
            BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
        CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
            BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
        """,
    )



@migration
def m002_source_versions(conn: StoreConnection) -> None:
    """A re-ingest keeps the version it replaces (text, hash, path, pages), and a coding whose words
    the new text no longer holds is kept as `orphaned`: its start/end/text still refer to the
    version named in `source_version` (NULL for a coding anchored in the current text)."""
    run_script(
        conn,
        """
        CREATE TABLE source_versions (
            id INTEGER PRIMARY KEY,
            source_id INTEGER NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
            version INTEGER NOT NULL,
            text TEXT NOT NULL,
            content_hash TEXT NOT NULL,
            path TEXT NOT NULL DEFAULT '',
            pages TEXT NOT NULL DEFAULT '[]',
            added_at TEXT NOT NULL DEFAULT '',
            replaced_at TEXT NOT NULL,
            UNIQUE (source_id, version)
        );
        ALTER TABLE codings ADD COLUMN source_version INTEGER;
        CREATE INDEX codings_status ON codings(status, source_id);
        """,
    )


@migration
def m003_memo_links_and_blind_coding(conn: StoreConnection) -> None:
    """A memo is written on one target (`memos.target_type/target_id`, its home) and may be linked
    to more (`memo_links`; a NULL target_id is the project); `updated_at` says when its text was
    last edited (the earlier texts are in the audit log). `blind_periods` records when a coder
    coded a source blind (no AI suggestions, no other coder's codings): an open period has no
    `ended_at`, and the history is what tells whether an agreement comparison was independent."""
    run_script(
        conn,
        """
        ALTER TABLE memos ADD COLUMN updated_at TEXT;
        CREATE INDEX memos_target ON memos(target_type, target_id);
        CREATE TABLE memo_links (
            id INTEGER PRIMARY KEY,
            memo_id INTEGER NOT NULL REFERENCES memos(id) ON DELETE CASCADE,
            target_type TEXT NOT NULL,
            target_id INTEGER,
            created_at TEXT NOT NULL
        );
        CREATE UNIQUE INDEX memo_links_unique ON memo_links(memo_id, target_type, IFNULL(target_id, -1));
        CREATE INDEX memo_links_target ON memo_links(target_type, target_id);
        CREATE TABLE blind_periods (
            id INTEGER PRIMARY KEY,
            coder TEXT NOT NULL,
            source_id INTEGER NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
            started_at TEXT NOT NULL,
            ended_at TEXT
        );
        CREATE UNIQUE INDEX blind_periods_open ON blind_periods(coder, source_id) WHERE ended_at IS NULL;
        CREATE INDEX blind_periods_source ON blind_periods(source_id, coder);
        """,
    )


@migration
def m004_team(conn: sqlite3.Connection) -> None:
    """A team on one project. `users` sign in (argon2 hash; `active` 0 once removed, so the name
    in old audit rows still resolves); `sessions` keep only a SHA-256 of each token. An assignment
    gives sources to coders to double-code blind (`hide_ai`: AI suggestions hidden too); each coder
    marks it done. `adjudications` hold the lead's decision on each disagreement, with the codebook
    version it was made under (`codebook_versions` snapshots the codebook when it changes). `merges`
    is keyed by a merge id (the imported file's hash), so the same merge cannot be applied twice,
    even by two leads at once."""
    run_script(
        conn,
        """
        CREATE TABLE users (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            role TEXT NOT NULL CHECK (role IN ('lead', 'coder', 'viewer')),
            password_hash TEXT NOT NULL,
            active INTEGER NOT NULL DEFAULT 1,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE TABLE sessions (
            token_hash TEXT PRIMARY KEY,
            user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL,
            ended_at TEXT
        );
        CREATE INDEX sessions_user ON sessions(user_id);
        CREATE TABLE assignments (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            hide_ai INTEGER NOT NULL DEFAULT 1,
            sample TEXT NOT NULL DEFAULT '{}',
            status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
            created_by TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE TABLE assignment_sources (
            assignment_id INTEGER NOT NULL REFERENCES assignments(id) ON DELETE CASCADE,
            source_id INTEGER NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
            PRIMARY KEY (assignment_id, source_id)
        );
        CREATE TABLE assignment_coders (
            assignment_id INTEGER NOT NULL REFERENCES assignments(id) ON DELETE CASCADE,
            coder TEXT NOT NULL,
            done_at TEXT,
            PRIMARY KEY (assignment_id, coder)
        );
        CREATE TABLE codebook_versions (
            version INTEGER PRIMARY KEY,
            digest TEXT NOT NULL,
            snapshot TEXT NOT NULL,
            actor TEXT NOT NULL,
            reason TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL
        );
        CREATE TABLE adjudications (
            id INTEGER PRIMARY KEY,
            assignment_id INTEGER NOT NULL REFERENCES assignments(id) ON DELETE CASCADE,
            item_key TEXT NOT NULL,
            source_id INTEGER NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
            excerpt_id INTEGER,
            code_id INTEGER REFERENCES codes(id),
            decision TEXT NOT NULL CHECK (decision IN ('keep_a', 'keep_b', 'both', 'neither', 'edit')),
            consensus_coder TEXT NOT NULL,
            coding_ids TEXT NOT NULL DEFAULT '[]',
            codebook_version INTEGER NOT NULL,
            decided_by TEXT NOT NULL,
            decided_at TEXT NOT NULL,
            note TEXT NOT NULL DEFAULT '',
            UNIQUE (assignment_id, item_key)
        );
        CREATE TABLE merges (
            id TEXT PRIMARY KEY,
            origin TEXT NOT NULL,
            started_by TEXT NOT NULL,
            started_at TEXT NOT NULL,
            summary TEXT NOT NULL DEFAULT '{}'
        );
        """,
    )

@migration
def m005_validation_gate(conn: StoreConnection) -> None:
    """The validation gate: a seeded, stratified sample of excerpts the analyst codes blind
    (`validation_items`; `no_code` = the analyst said no code applies), and the report of the
    engine against the analyst on it (`report`, JSON) with the bar the analyst set. A precode run
    names the report it was gated by."""
    run_script(
        conn,
        """
        CREATE TABLE validations (
            id INTEGER PRIMARY KEY,
            coder TEXT NOT NULL,
            size INTEGER NOT NULL,
            seed INTEGER NOT NULL,
            status TEXT NOT NULL DEFAULT 'sampled' CHECK (status IN ('sampled', 'run', 'accepted', 'discarded')),
            engine TEXT NOT NULL DEFAULT '',
            model TEXT NOT NULL DEFAULT '',
            bar TEXT NOT NULL DEFAULT '{}',
            report TEXT NOT NULL DEFAULT '{}',
            created_by TEXT NOT NULL,
            created_at TEXT NOT NULL,
            run_at TEXT,
            accepted_at TEXT
        );
        CREATE TABLE validation_items (
            validation_id INTEGER NOT NULL REFERENCES validations(id) ON DELETE CASCADE,
            excerpt_id INTEGER NOT NULL,
            source_id INTEGER NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
            stratum TEXT NOT NULL DEFAULT '',
            no_code INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (validation_id, excerpt_id)
        );
        CREATE INDEX validation_items_excerpt ON validation_items(excerpt_id);
        """,
    )


@migration
def m006_batch_runs(conn: StoreConnection) -> None:
    """Batch runs in blocks (`assistant.batch`): one row per finished block of a run, written in
    the transaction that wrote the block's results, so a resumed run skips it and a second write
    of it fails on the primary key instead of doubling its suggestions."""
    run_script(
        conn,
        """
        CREATE TABLE batch_blocks (
            run_id TEXT NOT NULL,
            block INTEGER NOT NULL,
            first_id INTEGER NOT NULL,
            last_id INTEGER NOT NULL,
            items INTEGER NOT NULL,
            worker TEXT NOT NULL DEFAULT '',
            seconds REAL,
            finished_at TEXT NOT NULL,
            PRIMARY KEY (run_id, block)
        );
        """,
    )


@migration
def m008_store_engine(conn: StoreConnection) -> None:
    """The corpus generation: a number every change to `sources` or `excerpts` bumps in the same
    transaction, by triggers (so no writer can forget it; on SQLite an excerpt INSERT is bumped by
    `CorpusStore.add_excerpts`, see below), which each app server's search index
    compares before serving a search. `meta.store_id` names this store, so an index built from
    another database never looks current. On PostgreSQL the audit log also refuses TRUNCATE (the
    per-row triggers of m001 do not see it)."""
    run_script(conn, "CREATE TABLE corpus_generation (id INTEGER PRIMARY KEY CHECK (id = 1), generation INTEGER NOT NULL)")
    conn.execute("INSERT INTO corpus_generation (id, generation) VALUES (1, 1)")
    conn.execute("INSERT INTO meta (key, value) VALUES ('store_id', ?) ON CONFLICT (key) DO NOTHING", (str(uuid.uuid4()),))
    bump = "UPDATE corpus_generation SET generation = generation + 1 WHERE id = 1"
    if conn.dialect == "postgresql":
        conn.execute(
            "CREATE OR REPLACE FUNCTION bump_corpus_generation() RETURNS trigger LANGUAGE plpgsql AS "
            f"$fn$ BEGIN {bump}; RETURN NULL; END $fn$"
        )
        for table in ("sources", "excerpts"):
            conn.execute(
                f"CREATE TRIGGER corpus_generation_{table} AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION bump_corpus_generation()"
            )
        conn.execute(
            "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_no_update_fn()"
        )
    else:  # per-row triggers only: an excerpt INSERT trigger would cost a survey's ingest ~20 us a row,
        # so `add_excerpts` (the one place excerpts are inserted) bumps once per call instead
        for table, ops in (("sources", ("INSERT", "UPDATE", "DELETE")), ("excerpts", ("UPDATE", "DELETE"))):
            for op in ops:
                conn.execute(f"CREATE TRIGGER corpus_generation_{table}_{op.lower()} AFTER {op} ON {table} "
                             f"BEGIN {bump}; END")


_ROLE_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_$]{0,62}")


def grant_app_role(conn: StoreConnection, role: str) -> None:
    """PostgreSQL: let `role` (the one the app servers sign in as) read and write the project's
    tables, but only read and append to the audit log: UPDATE, DELETE and TRUNCATE on it are
    revoked, on top of the triggers that refuse them for everyone. Run by the tables' owner."""
    if conn.dialect != "postgresql":
        raise ValueError("an app role is a PostgreSQL idea; a SQLite project has none")
    if not _ROLE_RE.fullmatch(role):
        raise ValueError(f"{role!r} is not a plain role name (letters, digits, _ and $)")
    with conn.transaction():
        conn.execute(f'GRANT USAGE ON SCHEMA {_current_schema(conn)} TO "{role}"')
        conn.execute(f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {_current_schema(conn)} TO "{role}"')
        conn.execute(f'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {_current_schema(conn)} TO "{role}"')
        conn.execute(f'REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM "{role}"')
        conn.execute(f'REVOKE UPDATE, DELETE, TRUNCATE ON _migrations FROM "{role}"')


def _current_schema(conn: StoreConnection) -> str:
    name = conn.execute("SELECT current_schema()").fetchone()[0]
    return '"' + name.replace('"', '""') + '"'


def run_script(conn: StoreConnection, script: str) -> None:
    """Execute statements one by one (on PostgreSQL, each as `pg_ddl` translates it).
    `executescript` would COMMIT the migration's transaction first, so a failing migration could
    leave half a schema behind."""
    if getattr(conn, "dialect", "sqlite") == "postgresql":  # (a bare sqlite3 connection too, below)
        conn.execute_script([sql for stmt in split_script(script) for sql in pg_ddl(stmt)])
        return
    for stmt in split_script(script):
        conn.execute(stmt)


def applied_migrations(conn: StoreConnection) -> set[str] | None:
    """Names recorded in `_migrations`; None when the database has no such table yet."""
    try:
        return {row[0] for row in conn.execute("SELECT name FROM _migrations")}
    except DatabaseError:
        return None


def apply_migrations(conn: StoreConnection) -> list[str]:
    """Apply pending migrations in name order, each in its own transaction; return the names
    applied. A store that is current costs one read and takes no lock."""
    done = applied_migrations(conn)
    pending = [(name, fn) for name, fn in sorted(MIGRATIONS) if done is None or name not in done]
    if not pending:
        return []
    if done is None:
        with conn.transaction():
            conn.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    applied: list[str] = []
    for name, fn in pending:
        with conn.transaction():  # the write lock: another process may have applied it meanwhile
            if conn.execute("SELECT 1 FROM _migrations WHERE name = ?", (name,)).fetchone() is None:
                fn(conn)
                conn.execute("INSERT INTO _migrations (name, applied_at) VALUES (?, ?)", (name, utcnow()))
                applied.append(name)
    return applied
