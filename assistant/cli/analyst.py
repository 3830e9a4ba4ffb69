"""Who the analyst is: `thematic analyst show` and `thematic analyst set NAME`.

Every decision and audit row carries the analyst's name. Until one is given it is the computer's
login name ("root" names nobody), so the workspace asks on first use and this command sets it from
the terminal; both go through `Project.set_analyst`, which audits the change."""

from __future__ import annotations

from typing import Annotated

import typer

from assistant.cli.common import (
    JsonOpt,
    ProjectOpt,
    handle_errors,
    open_project,
    print_json,
    say,
)

analyst_app = typer.Typer(help="Who the analyst is (recorded on every decision).", no_args_is_help=True)


@analyst_app.command("show")
def show_cmd(project: ProjectOpt = None, as_json: JsonOpt = False) -> None:
    """The name decisions are recorded under, and whether it still needs to be given."""
    with open_project(project) as p:
        data = {"analyst": p.analyst, "needs_name": p.needs_analyst_name()}
        if as_json:
            print_json(data)
            return
        say("analyst: ", p.analyst or "(nobody)")
        if data["needs_name"]:
            say("this is the computer's login name; set yours with: thematic analyst set \"Your Name\"")


@analyst_app.command("set")
def set_cmd(name: Annotated[str, typer.Argument(help="Your name, as the audit log should record it.")],
            project: ProjectOpt = None, as_json: JsonOpt = False) -> None:
    """Record your name as the project's analyst (audited, with the name before and after)."""
    with open_project(project) as p:
        before = p.analyst
        with handle_errors():
            saved = p.set_analyst(name)
        if as_json:
            print_json({"analyst": saved, "before": before})
        elif saved == before:
            say("analyst unchanged: ", saved)
        else:
            say("analyst: ", saved, f" (was {before})" if before else "")


def register(app: typer.Typer) -> None:
    app.add_typer(analyst_app, name="analyst")
