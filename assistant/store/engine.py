"""The store's connection to its database: SQLite (the project folder's file, the default) or
PostgreSQL (a team's server), both through a SQLAlchemy Core `Engine`.

SQLAlchemy owns what differs between the two and is easy to get wrong by hand: parsing database
URLs, the connection pool (checkout, reset on return, invalidation of a connection the server
dropped, pre-ping after a restart), the DBAPI's exceptions mapped to one hierarchy
(`sqlalchemy.exc.IntegrityError` whichever engine raised it), reflection for `thematic migrate`.
Statements themselves go straight to the pooled DBAPI connection: measured on this project's
SQLite, `Connection.exec_driver_sql` costs ~75 us a statement over the driver's ~13 us, which would
slow an ingest of 100k survey answers by seconds for nothing; the adapter keeps the driver's speed.

`StoreConnection` is what the store modules call `self.conn`. It keeps their style working on both
engines: `execute(sql, params)` with `?` placeholders, rows readable by name and index
(`row["id"]`, `row[0]`, `dict(row)`), `INSERT ... RETURNING id`, `ON CONFLICT`.

Threads. Each thread gets its own pooled connection (a team server serves many sessions from one
process), held until the thread ends or the store closes; a transaction belongs to the thread that
opened it. An in-memory SQLite database has a single connection, so there (only) one re-entrant
lock serialises transactions across threads, as the store always did.

Transactions are nestable (only the outermost commits) and take the project's write lock up front,
so every library function can be atomic and still compose, and read-modify-write code written for
SQLite stays correct on a server: SQLite `BEGIN IMMEDIATE`; PostgreSQL `BEGIN` plus a transaction-
scoped advisory lock, i.e. one writer at a time per project database, readers never blocked (MVCC).
Waiting for the lock is bounded (15 s) and then refused with `ProjectLocked`. `savepoint=True` makes
an inner block atomic on its own (PostgreSQL aborts a whole transaction on any failed statement, so
code that catches a database error and carries on must ask for one)."""

from __future__ import annotations

import os
import re
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import StaticPool

from assistant.errors import ProjectError, ProjectLocked, StoreUnavailable
from assistant.store.dialect import pg_sql

DatabaseError = sa_exc.DBAPIError
IntegrityError = sa_exc.IntegrityError
OperationalError = sa_exc.OperationalError

BUSY_TIMEOUT_MS = 15_000
WRITE_LOCK_KEY = 0x7468656D  # "them": the project's write lock on PostgreSQL
PG_POOL_SIZE = 5
PG_MAX_OVERFLOW = 45  # a server with 50 concurrent sessions: raise both for more


# -- naming a database ---------------------------------------------------------------------------------


def is_database_url(target: object) -> bool:
    return isinstance(target, str | URL) and "://" in str(target)


def store_url(target: str | Path | URL, password: str | None = None) -> URL:
    """A path (the project folder's SQLite file) or a URL; `postgresql://` (what users and libpq
    write) means psycopg 3. A password may come separately (from the environment, never settings)."""
    if isinstance(target, URL) or is_database_url(target):
        url = target if isinstance(target, URL) else make_url(str(target))
        driver = url.drivername
        if driver in ("postgresql", "postgres", "postgresql+psycopg2", "postgresql+psycopg"):
            url = url.set(drivername="postgresql+psycopg")
        elif driver in ("sqlite", "sqlite+pysqlite"):
            url = url.set(drivername="sqlite+pysqlite")
        else:
            raise ProjectError(f"unsupported database {driver!r}: use a postgresql://... URL or a project folder")
    else:
        url = URL.create("sqlite+pysqlite", database=str(target))
    if password:
        url = url.set(password=password)
    return url


def describe(url: URL) -> str:
    """The URL as it may be printed or logged: never the password."""
    return url.render_as_string(hide_password=True)


# -- rows (PostgreSQL; SQLite uses sqlite3.Row, which behaves the same) ------------------------------


class Row(tuple):
    """A result row readable by index and by column name, like `sqlite3.Row` (names are also
    matched case-insensitively, as SQLite does)."""

    __slots__ = ()
    _names: tuple[str, ...] = ()
    _index: dict[str, int] = {}

    def __getitem__(self, key):
        if key.__class__ is str:
            try:
                i = self._index[key]
            except KeyError:
                i = self._index.get(key.lower())  # type: ignore[assignment]
                if i is None:
                    raise IndexError(f"No item with that key: {key!r}") from None
            return tuple.__getitem__(self, i)
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._names)


_ROW_CLASSES: dict[tuple[str, ...], type[Row]] = {}


def _row_class(names: tuple[str, ...]) -> type[Row]:
    cls = _ROW_CLASSES.get(names)
    if cls is None:
        index = {n.lower(): i for i, n in reversed(list(enumerate(names)))}
        index.update({n: i for i, n in reversed(list(enumerate(names)))})
        cls = type("Row", (Row,), {"__slots__": (), "_names": names, "_index": index})
        if len(_ROW_CLASSES) < 10_000:
            _ROW_CLASSES[names] = cls
    return cls


def _pg_row_factory(cursor):
    desc = cursor.description
    if desc is None:
        return tuple
    return _row_class(tuple(c.name for c in desc))


def _configure_psycopg(dbapi_conn) -> None:
    """Values as SQLite's driver gives them: booleans bound as 0/1 (the schema's INTEGER
    columns), and NUMERIC results (SUM of BIGINT, AVG) as int when whole, else float."""
    from psycopg.adapt import Dumper, Loader
    from psycopg.pq import Format
    from psycopg.types import TypeInfo  # noqa: F401 - imported for its side effect of loading types

    class BoolAsInt(Dumper):  # untyped '1'/'0': an INTEGER column and a boolean parameter both take it
        format = Format.TEXT
        oid = 0

        def dump(self, obj: bool) -> bytes:
            return b"1" if obj else b"0"

    class NumericAsNumber(Loader):
        format = Format.TEXT

        def load(self, data) -> int | float:
            text = bytes(data).decode()
            try:
                return int(text)
            except ValueError:
                return float(text)

    dbapi_conn.adapters.register_dumper(bool, BoolAsInt)
    dbapi_conn.adapters.register_loader("numeric", NumericAsNumber)
    dbapi_conn.row_factory = _pg_row_factory


# -- the engine -----------------------------------------------------------------------------------


def create_store_engine(target: str | Path | URL, password: str | None = None, **pool: Any) -> sa.Engine:
    url = store_url(target, password)
    if url.get_backend_name() == "sqlite":
        memory = url.database in (None, "", ":memory:")
        engine = sa.create_engine(
            url,
            isolation_level="AUTOCOMMIT",  # the adapter issues BEGIN IMMEDIATE / COMMIT itself
            poolclass=StaticPool if memory else None,
            **({} if memory else {"pool_size": 5, "max_overflow": -1}),
            connect_args={"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
        )

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_conn, _record) -> None:
            dbapi_conn.isolation_level = None
            dbapi_conn.row_factory = sqlite3.Row
            dbapi_conn.execute("PRAGMA foreign_keys = ON")
            dbapi_conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            if not memory:
                dbapi_conn.execute("PRAGMA journal_mode = WAL")
                dbapi_conn.execute("PRAGMA synchronous = NORMAL")

        return engine

    engine = sa.create_engine(
        url,
        isolation_level="AUTOCOMMIT",
        pool_size=pool.get("pool_size", PG_POOL_SIZE),
        max_overflow=pool.get("max_overflow", PG_MAX_OVERFLOW),
        pool_pre_ping=True,  # a connection the server dropped (restart) is replaced before use
        connect_args={"connect_timeout": 10, "application_name": "thematic"},
    )

    @event.listens_for(engine, "connect")
    def _pg_connect(dbapi_conn, _record) -> None:
        _configure_psycopg(dbapi_conn)
        dbapi_conn.execute(f"SET lock_timeout = '{BUSY_TIMEOUT_MS}ms'")

    return engine


# -- the connection adapter ------------------------------------------------------------------------


class StoreConnection:
    """See the module docstring. `dialect` is "sqlite" or "postgresql"."""

    def __init__(self, engine: sa.Engine):
        self.engine = engine
        self.dialect: str = engine.dialect.name
        self.is_postgres = self.dialect == "postgresql"
        self._shared = isinstance(engine.pool, StaticPool)
        self._dbapi_error = engine.dialect.loaded_dbapi.Error
        self._local = threading.local()
        self._held: dict[int, tuple[threading.Thread, Any]] = {}
        self._held_lock = threading.Lock()
        self._lock = threading.RLock()  # shared (in-memory) connection only
        self._begin = "BEGIN" if self.is_postgres else "BEGIN IMMEDIATE"
        self._rowid_tables: dict[str, bool] = {}
        self.closed = False

    @classmethod
    def open(cls, target: str | Path | URL, password: str | None = None, **pool: Any) -> StoreConnection:
        return cls(create_store_engine(target, password, **pool))

    @property
    def url(self) -> URL:
        return self.engine.url

    def __repr__(self) -> str:
        return f"<StoreConnection {describe(self.engine.url)}>"

    # -- this thread's connection --------------------------------------------------------------
    def _raw(self) -> Any:
        raw = self._local.__dict__.get("raw")
        return raw if raw is not None else self._checkout()

    def _checkout(self) -> Any:
        if self.closed:
            raise ProjectError("the project store is closed")
        self._prune()
        try:
            fairy = self.engine.raw_connection()
        except sa_exc.DBAPIError as exc:
            raise self._unavailable(exc) from exc
        self._local.fairy, self._local.raw = fairy, fairy.driver_connection
        with self._held_lock:
            self._held[threading.get_ident()] = (threading.current_thread(), fairy)
        return self._local.raw

    def _prune(self) -> None:
        """Return to the pool the connections of threads that have ended."""
        with self._held_lock:
            dead = [k for k, (t, _) in self._held.items() if not t.is_alive()]
            fairies = [self._held.pop(k)[1] for k in dead]
        for fairy in fairies:
            try:
                fairy.close()
            except Exception:  # noqa: BLE001 - a dead connection is dropped by the pool anyway
                pass

    def _drop(self, invalidate: bool) -> None:
        fairy = self._local.__dict__.pop("fairy", None)
        self._local.__dict__.pop("raw", None)
        self._local.depth = 0
        with self._held_lock:
            self._held.pop(threading.get_ident(), None)
        if fairy is not None:
            try:
                fairy.invalidate() if invalidate else fairy.close()
            except Exception:  # noqa: BLE001
                pass

    def _unavailable(self, exc: BaseException) -> StoreUnavailable:
        return StoreUnavailable(
            f"the project database at {describe(self.engine.url)} cannot be reached just now "
            f"({str(getattr(exc, 'orig', exc)).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}); "
            "nothing was written; try again when it is back"
        )

    def _error(self, exc: Exception, sql: str, params: Any) -> Exception:
        raw = self._local.__dict__.get("fairy")
        try:
            disconnect = self.engine.dialect.is_disconnect(exc, raw, None)
        except Exception:  # noqa: BLE001
            disconnect = False
        if disconnect:
            self._drop(invalidate=True)
            return self._unavailable(exc)
        return sa_exc.DBAPIError.instance(
            sql, params, exc, self._dbapi_error, hide_parameters=True, dialect=self.engine.dialect
        )

    # -- statements ------------------------------------------------------------------------------
    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> Any:
        """Run one statement; returns the driver's cursor (fetchone, fetchall, iteration, rowcount)."""
        raw = self._local.__dict__.get("raw") or self._checkout()
        if self.is_postgres:
            sql = pg_sql(sql)
        else:
            table = _returning_id(sql)
            if table is not None and self._rowid_alias(table[1]):
                try:
                    return _NewId(raw.execute(table[0], params))
                except self._dbapi_error as exc:
                    raise self._error(exc, sql, params) from exc
        try:
            return raw.execute(sql, params)
        except self._dbapi_error as exc:
            raise self._error(exc, sql, params) from exc

    def _rowid_alias(self, table: str) -> bool:
        """SQLite: whether `table.id` is its INTEGER PRIMARY KEY, i.e. the rowid (then a new row's
        id is the cursor's lastrowid, and RETURNING's ~15 us per insert can be saved)."""
        known = self._rowid_tables.get(table)
        if known is None:
            cols = self._raw().execute(f'PRAGMA table_info("{table}")').fetchall()
            pks = [c for c in cols if c[5]]
            known = len(pks) == 1 and pks[0][1] == "id" and str(pks[0][2]).upper() == "INTEGER"
            if cols:  # a table not made yet is asked again
                self._rowid_tables[table] = known
        return known

    def execute_script(self, statements: Sequence[str]) -> None:
        """PostgreSQL: several statements without parameters in one round trip (a migration's DDL;
        psycopg sends a parameterless query by the simple protocol, which allows many)."""
        if not self.is_postgres:
            for sql in statements:
                self.execute(sql)
            return
        raw = self._local.__dict__.get("raw") or self._checkout()
        script = ";\n".join(statements)
        try:
            raw.execute(script)
        except self._dbapi_error as exc:
            raise self._error(exc, script, None) from exc

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        raw = self._local.__dict__.get("raw") or self._checkout()
        try:
            if self.is_postgres:
                with raw.cursor() as cur:
                    cur.executemany(pg_sql(sql), rows)
            else:
                raw.executemany(sql, rows)
        except self._dbapi_error as exc:
            raise self._error(exc, sql, None) from exc

    # -- transactions ----------------------------------------------------------------------------
    @property
    def in_transaction(self) -> bool:
        return self._local.__dict__.get("depth", 0) > 0

    def transaction(self, savepoint: bool = False) -> _Transaction:
        """Nestable; only the outermost block commits. See the module docstring. (A class, not a
        generator: every store write opens one, often nested, so it is kept cheap.)"""
        return _Transaction(self, savepoint)

    def _start(self) -> None:
        try:
            if self.is_postgres:  # one round trip for both
                self.execute_script(["BEGIN", f"SELECT pg_advisory_xact_lock({int(WRITE_LOCK_KEY)})"])
            else:
                self.execute(self._begin)
        except OperationalError as exc:
            if self.is_postgres and self.in_postgres_transaction():
                self._quiet("ROLLBACK")
            if _is_lock_timeout(exc):
                raise ProjectLocked(
                    "the project is busy: another change held its write lock for "
                    f"{BUSY_TIMEOUT_MS // 1000} s; try again"
                ) from exc
            raise

    def in_postgres_transaction(self) -> bool:
        raw = self._local.__dict__.get("raw")
        if raw is None:
            return False
        from psycopg.pq import TransactionStatus

        return raw.pgconn.transaction_status != TransactionStatus.IDLE

    def _quiet(self, sql: str) -> None:
        try:
            self.execute(sql)
        except Exception:  # noqa: BLE001 - the original error is the one to report
            pass

    # -- lifecycle ---------------------------------------------------------------------------------
    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        with self._held_lock:
            fairies = [f for _, f in self._held.values()]
            self._held.clear()
        for fairy in fairies:
            try:
                fairy.close()
            except Exception:  # noqa: BLE001
                pass
        self._local = threading.local()
        self.engine.dispose()


class _Transaction:
    __slots__ = ("conn", "depth", "locked", "raw", "savepoint")

    def __init__(self, conn: StoreConnection, savepoint: bool):
        self.conn, self.savepoint, self.locked, self.raw = conn, savepoint, False, None

    def __enter__(self) -> StoreConnection:
        conn = self.conn
        if conn._shared:  # the in-memory database's single connection
            conn._lock.acquire()
            self.locked = True
        loc = conn._local.__dict__
        depth = self.depth = loc.get("depth", 0)
        try:
            if depth == 0:
                conn._start()
                self.raw = loc.get("raw")
            elif self.savepoint:
                conn.execute(f"SAVEPOINT sp{depth}")
        except BaseException:
            self._release()
            raise
        loc["depth"] = depth + 1
        return conn

    def __exit__(self, exc_type: object, exc: object, tb: object) -> bool:
        conn, depth = self.conn, self.depth
        loc = conn._local.__dict__
        loc["depth"] = depth
        try:
            if exc_type is not None:
                if depth == 0:
                    if loc.get("raw") is self.raw:  # not when the server dropped the connection
                        conn._quiet("ROLLBACK")
                elif self.savepoint:
                    conn._quiet(f"ROLLBACK TO SAVEPOINT sp{depth}")
                return False
            if depth == 0:
                try:
                    conn.execute("COMMIT")
                except BaseException:
                    if loc.get("raw") is self.raw:
                        conn._quiet("ROLLBACK")
                    raise
            elif self.savepoint:
                conn.execute(f"RELEASE SAVEPOINT sp{depth}")
            return False
        finally:
            self._release()

    def _release(self) -> None:
        if self.locked:
            self.locked = False
            self.conn._lock.release()


_INSERT_RETURNING_ID = re.compile(
    r"\s*INSERT\s+INTO\s+\"?(?P<table>\w+)\"?\s*\([^()]*\)\s*VALUES\s*(?P<values>\(.*\))\s*RETURNING\s+id\s*;?\s*",
    re.IGNORECASE | re.DOTALL,
)


@lru_cache(maxsize=4096)
def _returning_id(sql: str) -> tuple[str, str] | None:
    """A one-row `INSERT INTO t (...) VALUES (...) RETURNING id`, as (the INSERT without RETURNING,
    t); None for anything else (ON CONFLICT, INSERT ... SELECT, several rows, other columns)."""
    m = _INSERT_RETURNING_ID.fullmatch(sql)
    if m is None:
        return None
    values, depth = m["values"], 0
    for i, ch in enumerate(values):  # exactly one parenthesised group: one row
        depth += ch == "("
        depth -= ch == ")"
        if depth == 0 and i != len(values) - 1:
            return None
    if "'" in values or '"' in values or re.search(r"\bSELECT\b", values, re.IGNORECASE):
        return None
    return sql[: m.start("values") + len(values)], m["table"]


class _NewId:
    """The result of an INSERT ... RETURNING id answered from the cursor's lastrowid."""

    __slots__ = ("_cur",)

    def __init__(self, cur: Any):
        self._cur = cur

    @property
    def rowcount(self) -> int:
        return self._cur.rowcount

    @property
    def lastrowid(self) -> int:
        return self._cur.lastrowid

    def fetchone(self) -> _IdRow:
        return _IdRow(self._cur.lastrowid)

    def fetchall(self) -> list[_IdRow]:
        return [_IdRow(self._cur.lastrowid)]

    def __iter__(self) -> Iterator[_IdRow]:
        return iter(self.fetchall())


class _IdRow(tuple):
    __slots__ = ()

    def __new__(cls, value: int) -> _IdRow:
        return tuple.__new__(cls, (value,))

    def __getitem__(self, key):
        if key.__class__ is str:
            if key.lower() != "id":
                raise IndexError(f"No item with that key: {key!r}")
            key = 0
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return ["id"]


def _is_lock_timeout(exc: BaseException) -> bool:
    orig = getattr(exc, "orig", exc)
    if getattr(orig, "sqlstate", None) == "55P03":  # lock_not_available
        return True
    return isinstance(orig, sqlite3.OperationalError) and "locked" in str(orig)


def password_from_env(name: str | None) -> str | None:
    """The password named by the settings (`database.password_env`); None lets libpq look in
    PGPASSWORD and ~/.pgpass as usual."""
    if not name:
        return None
    value = os.environ.get(name)
    if value is None:
        raise ProjectError(f"the project's database password is read from ${name}, which is not set")
    return value
