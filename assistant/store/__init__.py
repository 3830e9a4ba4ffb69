"""The project store: one database per project, SQLite (a file in the project folder, the default)
or PostgreSQL (a team's server). All SQL lives in this package.

On SQLite, WAL mode lets the UI read while a batch run writes; on both engines writes take the
project's write lock up front (see `assistant.store.engine`) and wait up to `BUSY_TIMEOUT_MS` before
failing with a clear message."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from assistant.errors import ProjectLocked
from assistant.store.analysis import AnalysisStore
from assistant.store.batch import BatchStore
from assistant.store.coding import CodingStore
from assistant.store.corpus import CorpusStore
from assistant.store.engine import BUSY_TIMEOUT_MS, OperationalError, StoreConnection, is_database_url
from assistant.store.migrations import apply_migrations
from assistant.store.team import TeamStore
from assistant.store.validation import ValidationStore
from assistant.store.workspace import WorkspaceStore


class ProjectStore(CorpusStore, CodingStore, AnalysisStore, WorkspaceStore, TeamStore, ValidationStore, BatchStore):
    """Given a connection, migrates its schema on creation (so every opened store is current)."""

    def __init__(self, conn: StoreConnection):
        super().__init__(conn)
        try:
            self.applied_migrations = apply_migrations(conn)
        except OperationalError as exc:
            if "locked" in str(exc):
                raise ProjectLocked("the project database is locked by another process; try again") from exc
            raise

    @classmethod
    def open(cls, target: str | Path, password: str | None = None, **pool: Any) -> "ProjectStore":
        """A SQLite file (created private to its owner) or a database URL (`postgresql://...`;
        the password, if any, given separately: see `assistant.store.engine.password_from_env`)."""
        conn = connect(target, password, **pool)
        try:
            return cls(conn)
        except BaseException:
            conn.close()
            raise

    @property
    def url(self) -> str:
        """Where the store lives, printable (never a password)."""
        from assistant.store.engine import describe

        return describe(self.conn.url)

    def close(self) -> None:
        self.conn.close()


def connect(target: str | Path, password: str | None = None, **pool: Any) -> StoreConnection:
    """Open a store's connection without migrating it (a new SQLite file is made mode 600)."""
    if is_database_url(target):
        return StoreConnection.open(str(target), password, **pool)
    path = Path(target)
    new = str(path) != ":memory:" and not path.exists()
    conn = StoreConnection.open(path)
    if new:
        conn.execute("SELECT 1")  # creates the file
        os.chmod(path, 0o600)
    return conn


__all__ = ["BUSY_TIMEOUT_MS", "ProjectStore", "StoreConnection", "connect"]
