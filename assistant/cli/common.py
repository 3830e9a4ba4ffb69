"""What every command shares: finding the project, printing JSON for scripts, turning domain
errors into one plain line and a non-zero exit code instead of a traceback, and printing data as
data.

Everything the CLI prints from a source, a code, an attribute, a coder or a model is data: a
transcript's `[laughs]` or `[/inaudible]` must reach the terminal as those characters. So the
consoles here are made with Rich markup, emoji codes and highlighting OFF: no call site can forget
to escape, because nothing is ever interpreted. The CLI's own styling is built explicitly with
`styled()` (a `rich.text.Text`), and control characters in data are shown as visible escapes so a
hostile file cannot drive the terminal."""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console, ConsoleDimensions
from rich.table import Table as _RichTable
from rich.text import Text

from assistant.errors import ThematicError

if TYPE_CHECKING:  # imported when a command opens a project: `--help` needs no store or models
    from assistant.project import Project

# C0 controls except TAB and LF, DEL and the C1 controls: invisible, and ESC/CSI sequences would
# let a document's text move the cursor, retitle the window or hide lines.
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def visible(text: str) -> str:
    """`text` with control characters shown as `\\x1b`-style escapes; every other character,
    brackets and colons included, is kept exactly."""
    return _CONTROL_RE.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def styled(*parts: str | tuple[str, str]) -> Text:
    """One line of output: plain `str` parts are data, printed exactly; `(text, style)` pairs are
    the CLI's own styling (e.g. `("error:", "red")`). Never parses markup."""
    return Text.assemble(*((visible(p[0]), p[1]) if isinstance(p, tuple) else visible(p) for p in parts))


class _Console(Console):
    """Markup, emoji codes and highlighting are off (see the module docstring): a plain string is
    printed as its characters, in tables and rules too. Reads COLUMNS at print time, not import
    time, so `COLUMNS=200 thematic agreement` (and scripts that pipe output) get the width they ask
    for. Text is not re-wrapped (`soft_wrap`): a quote piped to a file keeps its own line breaks."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(markup=False, emoji=False, highlight=False, soft_wrap=True, **kwargs)

    def render_str(self, text: str, **kwargs: Any) -> Text:  # type: ignore[override]
        kwargs["markup"] = kwargs["emoji"] = kwargs["highlight"] = False
        return super().render_str(visible(text), **kwargs)

    @property
    def size(self) -> ConsoleDimensions:
        dims = Console.size.fget(self)  # type: ignore[attr-defined]
        cols = os.environ.get("COLUMNS", "")
        return ConsoleDimensions(int(cols), dims.height) if cols.isdigit() else dims

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        Console.size.fset(self, new_size)  # type: ignore[attr-defined]


class Table(_RichTable):
    """A Rich table whose cells fold onto the next line instead of being cut with "…": a source
    name, a code or a quote in a table is printed whole, however narrow the terminal."""

    def add_column(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("overflow", "fold")
        super().add_column(*args, **kwargs)


console = _Console()
err_console = _Console(stderr=True)

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
        from assistant.project import Project

        project = Project.open(project_dir(path))
    try:
        with handle_errors():
            yield project
    finally:
        project.close()


def say(*parts: str | tuple[str, str], err: bool = False) -> None:
    """Print one `styled()` line to stdout (or stderr with `err=True`)."""
    (err_console if err else console).print(styled(*parts))


@contextmanager
def handle_errors() -> Iterator[None]:
    """Domain errors exit 1; invalid values (pydantic validation) exit 2, like a bad option. Both
    as one line on stderr, never a traceback."""
    try:
        yield
    except ThematicError as exc:
        say(("error:", "red"), " ", str(exc), err=True)
        raise typer.Exit(1) from None
    except ValidationError as exc:
        say(("error:", "red"), " ", validation_line(exc), err=True)
        raise typer.Exit(2) from None


def validation_line(exc: ValidationError) -> str:
    """A pydantic error as one line WITHOUT the rejected input: pydantic's own text repeats
    `input_value=...`, and the input may be a secret pasted into the wrong option."""
    problems = []
    for e in exc.errors(include_url=False, include_context=False, include_input=False):
        where = ".".join(str(part) for part in e.get("loc", ()))
        msg = str(e.get("msg", "invalid value")).removeprefix("Value error, ")
        problems.append(f"{where}: {msg}" if where else msg)
    return f"invalid {exc.title}: " + "; ".join(problems or ["invalid value"])


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
