"""The project store: one SQLite database per project folder. All SQL lives in this package.

WAL mode lets the UI read while a batch run writes; writes take the lock up front (BEGIN
IMMEDIATE) and wait up to `busy_timeout` before failing with a clear message."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from assistant.errors import ProjectLocked
from assistant.store.analysis import AnalysisStore
from assistant.store.coding import CodingStore
from assistant.store.corpus import CorpusStore
from assistant.store.migrations import apply_migrations
from assistant.store.workspace import WorkspaceStore

BUSY_TIMEOUT_MS = 15_000


class ProjectStore(CorpusStore, CodingStore, AnalysisStore, WorkspaceStore):
    """Given a connection, migrates its schema on creation (so every opened store is current)."""

    def __init__(self, conn: sqlite3.Connection):
        super().__init__(conn)
        try:
            self.applied_migrations = apply_migrations(conn)
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc):
                raise ProjectLocked("the project database is locked by another process; try again") from exc
            raise

    @classmethod
    def open(cls, path: str | Path) -> "ProjectStore":
        path = Path(path)
        new = not path.exists()
        conn = connect(path)
        if new:
            os.chmod(path, 0o600)
        return cls(conn)

    def close(self) -> None:
        self.conn.close()


def connect(path: str | Path) -> sqlite3.Connection:
    conn = sqlite3.connect(
        str(path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
    )
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    if str(path) != ":memory:":
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
    return conn


__all__ = ["ProjectStore", "connect"]
