"""The `thematic` command line: a thin face over the `assistant` library. Each area of commands
lives in its own module with a `register(app)` function."""

from __future__ import annotations

import os

import typer

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

app = typer.Typer(
    name="thematic",
    help="Local-first assistant for qualitative thematic analysis. Every quote verified.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _register_all() -> None:
    from assistant.cli import analysis, coding, corpus, exchange, search, writing

    for module in (corpus, search, coding, writing, exchange, analysis):
        module.register(app)


_register_all()


def main() -> None:
    app()
