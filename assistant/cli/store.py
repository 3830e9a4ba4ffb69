"""Where the project's store lives: `thematic migrate --to postgresql://...` copies a project's SQLite
store into an empty PostgreSQL database and prints the verification (rows and SHA-256 per table).
(`thematic init DIR --database URL` is in the corpus commands.)"""

from __future__ import annotations

from typing import Annotated

import typer

from assistant.cli.common import (
    JsonOpt,
    ProjectOpt,
    Table,
    console,
    handle_errors,
    open_project,
    print_json,
    say,
)
from assistant.errors import ProjectError
from assistant.settings import DatabaseSettings

DatabaseOpt = Annotated[
    str | None,
    typer.Option("--database", help="postgresql://user@host:port/dbname: put the store on a PostgreSQL server "
                                    "(no password in it: see --password-env). Default: the folder's SQLite file."),
]
PasswordEnvOpt = Annotated[
    str | None,
    typer.Option("--password-env", help="NAME of the environment variable holding the database password "
                                        "(default: libpq's PGPASSWORD or ~/.pgpass)."),
]
AppRoleOpt = Annotated[
    str | None,
    typer.Option("--app-role", help="PostgreSQL role the app servers sign in as: granted the tables, "
                                    "append-only on the audit log (run this as the tables' owner)."),
]


def database_settings(url: str | None, password_env: str | None = None, app_role: str | None = None) -> DatabaseSettings:
    """The settings' database section, validated (a URL holding a password is refused without
    repeating it)."""
    return DatabaseSettings(url=url, password_env=password_env, app_role=app_role)


def migrate(
    to: Annotated[str, typer.Option("--to", help="postgresql://user@host:port/dbname of an EMPTY database.")],
    project: ProjectOpt = None,
    password_env: PasswordEnvOpt = None,
    switch: Annotated[bool, typer.Option("--switch", help="Afterwards, open the server from this folder "
                                                          "(the SQLite file stays as it was).")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Copy this project's store into an empty PostgreSQL database, with its ids, and verify it:
    rows per table and a SHA-256 of every row on both sides."""
    from assistant.store.copy import copy_store
    from assistant.store.engine import password_from_env

    with handle_errors():
        target = database_settings(to, password_env)
    with open_project(project) as p:
        if p.store.dialect != "sqlite":
            raise ProjectError(f"this project's store is already on a server ({p.store.url})")
        report = copy_store(p.store, target.url or to, password_from_env(target.password_env))
        if switch:
            p.switch_database(target.url or to, target.password_env, source=report.source, target=report.target,
                              rows=report.rows, tables={t.table: t.source_sha256 for t in report.tables})
        if json_out:
            print_json({**report.as_dict(), "switched": switch})
            return
        table = Table("table", "rows (SQLite)", "rows (server)", "sha256", "same")
        for t in report.tables:
            table.add_row(t.table, str(t.source_rows), str(t.target_rows), t.source_sha256[:16], "yes" if t.ok else "NO")
        console.print(table)
        say(f"Copied {report.rows} rows in {len(report.tables)} tables to {report.target} in {report.seconds} s; "
            "every row verified (SHA-256).")
        if switch:
            say("This folder now opens the server's store; thematic.db is kept as it was.")
        else:
            say("To use it: `thematic migrate` again with --switch into a new empty database, or set "
                "database.url in settings.json.")


def register(app: typer.Typer) -> None:
    app.command()(migrate)
