"""Connection handling shared by the store's parts: transactions, JSON columns, the audit log."""

from __future__ import annotations

import json
from contextlib import AbstractContextManager
from typing import Any, TypeVar

from pydantic import BaseModel

from assistant.models import StoredAuditEvent, utcnow
from assistant.store.engine import StoreConnection

StoredT = TypeVar("StoredT", bound=BaseModel)
Row = Any  # a result row, readable by name and index: sqlite3.Row on SQLite, engine.Row on PostgreSQL


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def loads(text: str | None, default: Any = None) -> Any:
    return default if text is None else json.loads(text)


def saved(stored_type: type[StoredT], record: BaseModel, record_id: int) -> StoredT:
    """`record` as the store now holds it: the same values (not validated again, shared as a
    shallow copy would share them) under the id the database gave it, as its `Stored*` type."""
    values = {**dict(record), "id": record_id}
    return stored_type.model_construct(_fields_set=record.model_fields_set | {"id"}, **values)


class StoreBase:
    """Owns the store's `StoreConnection` (SQLite or PostgreSQL, see `assistant.store.engine`);
    `transaction()` takes the project's write lock up front (SQLite BEGIN IMMEDIATE, PostgreSQL
    BEGIN plus an advisory lock) so a writer waits at the start instead of failing half-way.

    No lock of its own: each thread has its own connection and its own transactions, so a team
    server's sessions (threads) never share one; the in-memory database, which has a single
    connection, is serialised inside the adapter."""

    def __init__(self, conn: StoreConnection):
        self.conn = conn

    @property
    def dialect(self) -> str:
        """Either "sqlite" or "postgresql", for the few statements that must differ."""
        return self.conn.dialect

    def transaction(self, savepoint: bool = False) -> AbstractContextManager[StoreConnection]:
        """Nestable: only the outermost block commits, so library functions can each be atomic and
        still compose into one atomic operation (`savepoint=True`: an inner block that fails is
        undone on its own and the outer one may carry on)."""
        return self.conn.transaction(savepoint)

    def _one(self, sql: str, params: tuple | dict = ()) -> Any:
        return self.conn.execute(sql, params).fetchone()

    def _all(self, sql: str, params: tuple | dict = ()) -> list[Any]:
        return self.conn.execute(sql, params).fetchall()

    # -- meta ----------------------------------------------------------------------------------
    def get_meta(self, key: str, default: str | None = None) -> str | None:
        row = self._one("SELECT value FROM meta WHERE key = ?", (key,))
        return default if row is None else row[0]

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction():
            self.conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    # -- audit log (append-only, enforced by triggers) -------------------------------------------
    def audit(
        self,
        actor: str,
        action: str,
        entity_type: str,
        entity_id: int | None = None,
        **details: Any,
    ) -> int:
        with self.transaction():
            cur = self.conn.execute(
                "INSERT INTO audit_log (time, actor, action, entity_type, entity_id, details) "
                "VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                (utcnow(), actor, action, entity_type, entity_id, dumps(details)),
            )
            return int(cur.fetchone()[0])

    def last_audit_id(self) -> int:
        """A cheap "has anything changed?" token for UI caches: every write is audited."""
        return int(self._one("SELECT COALESCE(MAX(id), 0) FROM audit_log")[0])

    def list_audit(
        self, entity_type: str | None = None, entity_id: int | None = None, limit: int | None = None
    ) -> list[StoredAuditEvent]:
        sql, params = "SELECT * FROM audit_log WHERE 1=1", []
        if entity_type:
            sql += " AND entity_type = ?"
            params.append(entity_type)
        if entity_id is not None:
            sql += " AND entity_id = ?"
            params.append(entity_id)
        sql += " ORDER BY id"
        if limit:
            sql += f" LIMIT {int(limit)}"
        return [
            StoredAuditEvent(
                id=r["id"], time=r["time"], actor=r["actor"], action=r["action"],
                entity_type=r["entity_type"], entity_id=r["entity_id"],
                details=loads(r["details"], {}),
            )
            for r in self._all(sql, tuple(params))
        ]

    # -- coders --------------------------------------------------------------------------------
    def ensure_coder(self, name: str, kind: str = "analyst", guid: str | None = None) -> None:
        with self.transaction():
            self.conn.execute(
                "INSERT INTO coders (name, kind, guid, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (name) DO NOTHING",
                (name, kind, guid, utcnow()),
            )

    def list_coders(self) -> list[dict[str, str]]:
        return [dict(r) for r in self._all("SELECT * FROM coders ORDER BY name")]

    # -- exchange GUIDs (REFI-QDA): stable per entity once assigned -----------------------------
    _GUID_KEYS = {"coders": "name", "codes": "id", "codings": "id", "memos": "id", "source_sets": "id"}

    def entity_guids(self, table: str) -> dict[Any, str]:
        """Key (id, or name for coders) -> GUID, assigning a fresh uuid4 to rows that have none, so
        an entity keeps the same GUID across every export of the project."""
        import uuid

        key = self._GUID_KEYS[table]
        with self.transaction():
            out: dict[Any, str] = {}
            for r in self._all(f"SELECT {key}, guid FROM {table}"):
                guid = r[1]
                if not guid:
                    guid = str(uuid.uuid4())
                    self.conn.execute(f"UPDATE {table} SET guid = ? WHERE {key} = ?", (guid, r[0]))
                out[r[0]] = guid
            return out

    def set_entity_guid(self, table: str, key: Any, guid: str) -> None:
        """Keep the GUID another tool gave an entity (import), so a re-export matches it."""
        with self.transaction():
            self.conn.execute(f"UPDATE {table} SET guid = ? WHERE {self._GUID_KEYS[table]} = ?", (guid, key))
