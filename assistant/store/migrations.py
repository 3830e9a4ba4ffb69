"""Versioned schema migrations. Each `mNNN_name(conn)` runs once, inside a transaction, and its name
is recorded in `_migrations`; a new feature adds a new function, never edits an applied one."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

Migration = Callable[[sqlite3.Connection], None]
MIGRATIONS: list[tuple[str, Migration]] = []


def migration(fn: Migration) -> Migration:
    if any(name == fn.__name__ for name, _ in MIGRATIONS):
        raise ValueError(f"duplicate migration name {fn.__name__}")
    MIGRATIONS.append((fn.__name__, fn))
    return fn


@migration
def m001_initial(conn: sqlite3.Connection) -> None:
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
def m002_source_versions(conn: sqlite3.Connection) -> None:
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
def m003_memo_links_and_blind_coding(conn: sqlite3.Connection) -> None:
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

def run_script(conn: sqlite3.Connection, script: str) -> None:
    """Execute statements one by one. `executescript` would COMMIT the migration's transaction
    first, so a failing migration could leave half a schema behind."""
    pending = ""
    for piece in script.split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \n;"):
                conn.execute(pending)
            pending = ""


def apply_migrations(conn: sqlite3.Connection) -> list[str]:
    """Apply pending migrations, each in its own transaction; return the names applied."""
    conn.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    done = {row[0] for row in conn.execute("SELECT name FROM _migrations")}
    applied: list[str] = []
    for name, fn in MIGRATIONS:
        if name in done:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            if name not in {r[0] for r in conn.execute("SELECT name FROM _migrations")}:
                fn(conn)
                conn.execute(
                    "INSERT INTO _migrations (name, applied_at) VALUES (?, datetime('now'))", (name,)
                )
                applied.append(name)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return applied
