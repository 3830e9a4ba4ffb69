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
    from assistant.cli import (
        analysis,
        coding,
        corpus,
        exchange,
        llm_setup,
        search,
        team,
        validate,
        writing,
    )
    from assistant.cli import analyst as analyst_cli
    from assistant.cli import batch as batch_cli
    from assistant.cli import mcp as mcp_cli
    from assistant.cli import report as report_cli
    from assistant.cli import store as store_cli

    for module in (corpus, search, coding, writing, exchange, analysis, analyst_cli, mcp_cli, llm_setup, team, validate, store_cli, batch_cli, report_cli):
        module.register(app)


_register_all()


def main() -> None:
    try:
        app()
    finally:
        # Skip the collection the interpreter runs at exit: with the store, index and their libraries
        # loaded it costs a fresh `thematic search` 0.2-0.4 s on a busy 2-core box, to free memory the
        # process hands back anyway. Files and the store are closed by then (context managers).
        import gc

        gc.freeze()
