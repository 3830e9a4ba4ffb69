"""Copy a project's store into an empty database on a server (`thematic migrate --to URL`), and
prove the copy: rows counted per table on both sides, and a SHA-256 of every row (every source
text, coding, audit event and the rest) compared id by id.

The copy is one transaction on the target: ids are preserved (identity columns accept explicit
values), foreign keys are satisfied by copying tables parents first (a table that refers to itself,
the code tree, gets those columns in a second pass), the identity sequences are reset past the
highest id, and the verification runs before COMMIT, so a copy that does not match leaves the
target as empty as it was. The source is read inside its own transaction (a consistent snapshot;
on SQLite other writers wait for the copy). The target must be empty: a database that holds any
project data, or tables that are not a thematic project's, is refused."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from assistant.errors import ProjectError
from assistant.store.engine import (
    DatabaseError,
    create_store_engine,
    describe,
    store_url,
)

BATCH = 1000
# rows the migrations themselves write: a target holding only these is still empty
SEEDED = {"_migrations", "meta", "corpus_generation"}
LAST = ("corpus_generation",)  # triggers on sources/excerpts bump it: copied after them


class CopyError(ProjectError):
    """The copy could not be made or did not verify; the target was left unchanged."""


@dataclass
class TableCheck:
    table: str
    source_rows: int
    target_rows: int
    source_sha256: str
    target_sha256: str
    mismatched: list[Any] = field(default_factory=list)  # primary keys of rows that differ (first 10)

    @property
    def ok(self) -> bool:
        return self.source_rows == self.target_rows and self.source_sha256 == self.target_sha256

    def as_dict(self) -> dict[str, Any]:
        return {"table": self.table, "source_rows": self.source_rows, "target_rows": self.target_rows,
                "sha256": self.source_sha256, "target_sha256": self.target_sha256, "ok": self.ok,
                "mismatched": self.mismatched}


@dataclass
class CopyReport:
    source: str
    target: str
    tables: list[TableCheck]
    seconds: float

    @property
    def ok(self) -> bool:
        return all(t.ok for t in self.tables)

    @property
    def rows(self) -> int:
        return sum(t.source_rows for t in self.tables)

    def as_dict(self) -> dict[str, Any]:
        return {"source": self.source, "target": self.target, "ok": self.ok, "rows": self.rows,
                "seconds": self.seconds, "tables": [t.as_dict() for t in self.tables]}


@dataclass
class _Table:
    name: str
    columns: list[str]
    key: list[str]
    self_refs: list[str]
    parents: set[str]


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _tables(engine: sa.Engine) -> dict[str, _Table]:
    insp = sa.inspect(engine)
    out: dict[str, _Table] = {}
    for name in insp.get_table_names():
        if name.startswith("sqlite_") or name == "_migrations":
            continue
        columns = [c["name"] for c in insp.get_columns(name)]
        key = list(insp.get_pk_constraint(name).get("constrained_columns") or []) or columns
        fks = insp.get_foreign_keys(name)
        self_refs = [c for fk in fks if fk["referred_table"] == name for c in fk["constrained_columns"]]
        parents = {fk["referred_table"] for fk in fks if fk["referred_table"] != name}
        out[name] = _Table(name, columns, key, self_refs, parents)
    return out


def _order(tables: dict[str, _Table]) -> list[_Table]:
    """Parents before children; `LAST` at the end."""
    done: list[str] = []
    pending = sorted(n for n in tables if n not in LAST)
    while pending:
        ready = [n for n in pending if all(p in done or p not in tables for p in tables[n].parents)]
        if not ready:
            raise CopyError(f"foreign keys form a cycle between {', '.join(pending)}; cannot order the copy")
        done += ready
        pending = [n for n in pending if n not in ready]
    return [tables[n] for n in done + [n for n in LAST if n in tables]]


def _canonical(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return {"hex": bytes(value).hex()}
    if isinstance(value, float):
        return {"float": repr(value)}
    return value


def _digests(conn: Any, table: _Table) -> dict[tuple, str]:
    """Primary key -> SHA-256 of the row's values (canonical JSON, in column order)."""
    cols = ", ".join(_quote(c) for c in table.columns)
    at = [table.columns.index(k) for k in table.key]
    out: dict[tuple, str] = {}
    for row in conn.execute(f"SELECT {cols} FROM {_quote(table.name)}").fetchall():
        values = [_canonical(v) for v in row]
        blob = json.dumps(values, ensure_ascii=False, separators=(",", ":"))
        out[tuple(row[i] for i in at)] = hashlib.sha256(blob.encode("utf-8")).hexdigest()
    return out


def _table_digest(digests: dict[tuple, str]) -> str:
    h = hashlib.sha256()
    for key in sorted(digests, key=lambda k: tuple((v is None, v) for v in k)):
        h.update(digests[key].encode("ascii"))
    return h.hexdigest()


def check_empty(url: sa.URL) -> None:
    """Refuse a target that holds anything: project data, or tables not a thematic project's."""
    from assistant.store.migrations import MIGRATIONS  # noqa: F401 - the schema a target may hold

    engine = create_store_engine(url)
    try:
        with engine.connect() as c:
            insp = sa.inspect(c)
            names = set(insp.get_table_names())
            if not names:
                return
            if "_migrations" not in names:
                raise CopyError(f"the target database holds other tables ({', '.join(sorted(names)[:5])}): "
                                "migrate into a new, empty database")
            for name in sorted(names - SEEDED):
                n = c.exec_driver_sql(f"SELECT COUNT(*) FROM {_quote(name)}").scalar()
                if n:
                    raise CopyError(f"the target database is not empty ({n} rows in {name}): "
                                    "migrate into a new, empty database")
    except DatabaseError as exc:
        raise CopyError(f"cannot read the target database: {_first_line(exc)}") from exc
    finally:
        engine.dispose()


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def copy_store(source: Any, target: str | sa.URL, password: str | None = None) -> CopyReport:
    """Copy `source` (an open ProjectStore) into the empty database `target`; see the module
    docstring. Returns the verification; raises CopyError (target unchanged) when anything fails."""
    from assistant.store import ProjectStore

    t0 = time.perf_counter()
    url = store_url(target, password)
    if url.get_backend_name() != "postgresql":
        raise CopyError("migrate copies a project into a PostgreSQL server: give a postgresql://... URL")
    check_empty(url)
    try:
        dest = ProjectStore.open(url)
    except DatabaseError as exc:
        raise CopyError(f"cannot prepare the target database: {_first_line(exc)}") from exc
    try:
        src_done = {r[0] for r in source.conn.execute("SELECT name FROM _migrations")}
        dest_done = {r[0] for r in dest.conn.execute("SELECT name FROM _migrations")}
        if src_done - dest_done:
            raise CopyError(f"the project has migrations this version does not know ({', '.join(sorted(src_done - dest_done))})")
        tables = _tables(source.conn.engine)
        dest_tables = _tables(dest.conn.engine)
        for name, t in tables.items():
            if name not in dest_tables or set(dest_tables[name].columns) != set(t.columns):
                raise CopyError(f"table {name} differs between the project and the target schema")
        checks: list[TableCheck] = []
        with source.transaction(), dest.transaction():
            current = ""
            try:
                for seeded in SEEDED - {"_migrations"}:
                    if seeded in tables:
                        dest.conn.execute(f"DELETE FROM {_quote(seeded)}")
                for t in _order(tables):
                    current = t.name
                    _copy_table(source.conn, dest.conn, t)
                _reset_sequences(dest.conn, tables.values())
                for t in _order(tables):
                    current = t.name
                    a, b = _digests(source.conn, t), _digests(dest.conn, t)
                    bad = [list(k) for k in sorted(set(a) | set(b), key=str) if a.get(k) != b.get(k)][:10]
                    checks.append(TableCheck(t.name, len(a), len(b), _table_digest(a), _table_digest(b), bad))
            except DatabaseError as exc:
                raise CopyError(f"the copy failed at table {current}: {_first_line(exc)}; "
                                "the target was left unchanged") from exc
            failed = [c.table for c in checks if not c.ok]
            if failed:
                raise CopyError(f"the copy did not verify ({', '.join(failed)} differ); the target was left unchanged")
    finally:
        dest.close()
    return CopyReport(describe(source.conn.url), describe(url), checks, round(time.perf_counter() - t0, 3))


def _copy_table(src: Any, dest: Any, t: _Table) -> None:
    cols = ", ".join(_quote(c) for c in t.columns)
    marks = ", ".join("?" * len(t.columns))
    insert = f"INSERT INTO {_quote(t.name)} ({cols}) VALUES ({marks})"
    refs = [t.columns.index(c) for c in t.self_refs]
    order = ", ".join(_quote(k) for k in t.key)
    cur = src.execute(f"SELECT {cols} FROM {_quote(t.name)} ORDER BY {order}")
    later: list[tuple] = []
    while True:
        rows = cur.fetchmany(BATCH)
        if not rows:
            break
        batch = [list(r) for r in rows]
        if refs:  # a row may refer to one copied later: those columns in a second pass
            for r in batch:
                if any(r[i] is not None for i in refs):
                    later.append(tuple(r[i] for i in refs) + tuple(r[t.columns.index(k)] for k in t.key))
                    for i in refs:
                        r[i] = None
        dest.executemany(insert, batch)
    if later:
        sets = ", ".join(f"{_quote(c)} = ?" for c in t.self_refs)
        where = " AND ".join(f"{_quote(k)} = ?" for k in t.key)
        dest.executemany(f"UPDATE {_quote(t.name)} SET {sets} WHERE {where}", later)


def _reset_sequences(dest: Any, tables: Any) -> None:
    for t in tables:
        if len(t.key) != 1:
            continue
        seq = dest.execute("SELECT pg_get_serial_sequence(?, ?)", (_quote(t.name), t.key[0])).fetchone()[0]
        if seq:
            dest.execute(f"SELECT setval(?, COALESCE((SELECT MAX({_quote(t.key[0])}) FROM {_quote(t.name)}), 0) + 1, false)",
                         (seq,))
