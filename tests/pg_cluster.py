"""A throwaway PostgreSQL cluster for the store's tests: initdb under a temporary folder, started on a
free port (localhost only, trust authentication, fsync off: it holds nothing worth keeping), stopped
and deleted at the end. Never the system's cluster.

`conftest.py` starts one per test process (so each pytest-xdist worker has its own) the first time a
test asks for PostgreSQL, and gives every test a fresh database of its own, copied from a template
migrated once (`new_database_url`), or an empty schema (`new_schema_url`) where a test needs the
migrations to run.

The binaries are looked for in $THEMATIC_PG_BIN, /usr/lib/postgresql/*/bin (newest first; Debian's
`postgresql` package, see scripts/postgres.sh) and the PATH. initdb refuses to run as root, so as
root the cluster belongs to the `postgres` user (`runuser -u postgres`)."""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

# read once, at import: the tests' own fixtures clear THEMATIC_* variables from the environment
REQUIRED = os.environ.get("THEMATIC_REQUIRE_POSTGRES", "").strip() not in ("", "0", "false", "no")
OWNER = "postgres"


def _version(path: str) -> tuple[int, ...]:
    part = Path(path).parent.name
    return tuple(int(x) for x in part.split(".") if x.isdigit()) or (0,)


def find_bin_dir() -> Path | None:
    candidates: list[Path] = []
    if os.environ.get("THEMATIC_PG_BIN"):
        candidates.append(Path(os.environ["THEMATIC_PG_BIN"]))
    candidates += [Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version, reverse=True)]
    found = shutil.which("initdb")
    if found:
        candidates.append(Path(found).parent)
    for c in candidates:
        if (c / "initdb").exists() and (c / "pg_ctl").exists():
            return c
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Cluster:
    """`start()`, then `url(dbname)` / `new_database_url()`, then `stop()`."""

    def __init__(self, bin_dir: Path, base: Path | None = None):
        self.bin_dir = bin_dir
        self.base = Path(base or tempfile.mkdtemp(prefix="thematic-pg-"))
        self.data = self.base / "data"
        self.port = 0
        self._schemas = itertools.count(1)
        self._databases = itertools.count(1)
        self._template = ""
        self._as_root = os.geteuid() == 0
        self.started = False

    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.bin_dir / args[0]), *args[1:]]
        if self._as_root:
            cmd = ["runuser", "-u", OWNER, "--", *cmd]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=self.base)
        if result.returncode != 0:
            log = (self.base / "log").read_text(errors="replace")[-2000:] if (self.base / "log").exists() else ""
            raise RuntimeError(f"{args[0]} failed ({result.returncode}): {result.stderr.strip()[-1500:]}\n{log}")
        return result

    def start(self) -> Cluster:
        self.base.mkdir(parents=True, exist_ok=True)
        if self._as_root:
            pw = pwd.getpwnam(OWNER)
            os.chown(self.base, pw.pw_uid, pw.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                  "--locale=C.UTF-8", "--no-sync")
        self.port = _free_port()
        opts = (f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c max_connections=300")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.base / "log"), "-w", "-t", "60", "-o", opts, "start")
        self.started = True
        self.create_database("thematic_test")
        return self

    def url(self, dbname: str = "postgres", **query: str) -> str:
        q = "&".join(f"{k}={v}" for k, v in query.items())
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}" + (f"?{q}" if q else "")

    def execute(self, sql: str, dbname: str = "postgres") -> None:
        import psycopg

        with psycopg.connect(self.url(dbname).replace("postgresql://", "postgresql://", 1), autocommit=True) as c:
            c.execute(sql)

    def create_database(self, name: str) -> str:
        self.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def new_database_url(self) -> str:
        """A fresh database holding a current, empty project schema: a copy of a template migrated
        once per cluster (copying takes a quarter of a second; migrating, over a second)."""
        if not self._template:
            from assistant.store import ProjectStore

            url = self.create_database("thematic_template")
            ProjectStore.open(url).close()  # every migration, then no connection left on it
            self._template = "thematic_template"
        name = f"db{next(self._databases)}"
        self.execute(f'CREATE DATABASE "{name}" TEMPLATE "{self._template}"')
        return self.url(name)

    def new_schema_url(self, dbname: str = "thematic_test") -> str:
        """A fresh, empty schema in `dbname`, named in the URL (search_path), so a store opened on
        it sees only its own tables."""
        name = f"t{next(self._schemas)}"
        self.execute(f"CREATE SCHEMA {name}", dbname)
        return self.url(dbname, options=f"-csearch_path%3D{name}")

    def restart(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "restart")

    def stop(self) -> None:
        if self.started:
            try:
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop", timeout=60)
            except Exception:  # noqa: BLE001 - removing the folder below is what matters
                pass
            self.started = False
        shutil.rmtree(self.base, ignore_errors=True)
