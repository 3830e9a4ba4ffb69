"""What every command shares: finding the project, printing JSON for scripts, and turning domain
errors into one plain line and a non-zero exit code instead of a traceback."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from assistant.errors import ThematicError
from assistant.project import Project


class _Console(Console):
    """Reads COLUMNS at print time, not import time, so `COLUMNS=200 thematic agreement` (and
    scripts that pipe output) get the width they ask for."""

    @property  # type: ignore[override]
    def width(self) -> int:
        cols = os.environ.get("COLUMNS", "")
        return int(cols) if cols.isdigit() else Console.width.fget(self)  # type: ignore[attr-defined]

    @width.setter
    def width(self, value: int) -> None:
        Console.width.fset(self, value)  # type: ignore[attr-defined]


console = _Console()
err_console = _Console(stderr=True, soft_wrap=True)

ProjectOpt = Annotated[
    Path | None,
    typer.Option(
        "--project", "-p", envvar="THEMATIC_PROJECT",
        help="Project folder (default: the current folder).", show_default=False,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
FilterOpt = Annotated[
    list[str] | None,
    typer.Option("--filter", "-f", help="Attribute filter KEY=VALUE (repeatable; VALUE may be a|b)."),
]


def project_dir(path: Path | None) -> Path:
    return Path(path) if path is not None else Path(os.getcwd())


@contextmanager
def open_project(path: Path | None) -> Iterator[Project]:
    with handle_errors():
        project = Project.open(project_dir(path))
    try:
        with handle_errors():
            yield project
    finally:
        project.close()


@contextmanager
def handle_errors() -> Iterator[None]:
    try:
        yield
    except ThematicError as exc:
        err_console.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(1) from None


def parse_filters(filters: list[str] | None) -> dict[str, str | list[str]]:
    """`--filter sector=NHS --filter kind=interview|document` -> {"sector": "NHS", "kind": [...]}"""
    out: dict[str, str | list[str]] = {}
    for item in filters or []:
        if "=" not in item:
            raise typer.BadParameter(f"filter {item!r} must look like KEY=VALUE")
        key, value = item.split("=", 1)
        values = [v.strip() for v in value.split("|") if v.strip()]
        out[key.strip()] = values if len(values) > 1 else values[0]
    return out


def print_json(data: Any) -> None:
    """Pydantic models and dataclasses print as plain JSON objects."""
    sys.stdout.write(json.dumps(_plain(data), ensure_ascii=False, indent=2) + "\n")


def _plain(data: Any) -> Any:
    if hasattr(data, "model_dump"):
        return data.model_dump(mode="json")
    if hasattr(data, "__dataclass_fields__"):
        from dataclasses import asdict

        return _plain(asdict(data))
    if isinstance(data, dict):
        return {str(k): _plain(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [_plain(v) for v in data]
    if isinstance(data, Path):
        return str(data)
    return data
