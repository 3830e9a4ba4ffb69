"""Report commands: `thematic report methods` writes the methods report (how the analysis was done
and how AI was used in it, every figure traced to the audit log) as Markdown or DOCX."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from assistant.cli.common import (
    JsonOpt,
    ProjectOpt,
    open_project,
    print_json,
    say,
    visible,
)

report_app = typer.Typer(help="Reports for a paper: the methods report.", no_args_is_help=True)


@report_app.command("methods")
def methods_cmd(
    out: Annotated[Path | None, typer.Option("--out", "-o", help="FILE.md or FILE.docx (default: Markdown on stdout).")] = None,
    fmt: Annotated[str | None, typer.Option("--format", help="md or docx (default: from the file's suffix).")] = None,
    project: ProjectOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Corpus, codebook versions, engines and models (prompt versions and hashes, settings),
    suggestions made/accepted/edited/rejected per code and analyst, validation gate, agreement,
    pseudonymisation and what left the machine, a suggested paragraph, and an appendix tracing
    every figure to audit-log rows."""
    from assistant.exchange.methods_report import write_methods_report

    if fmt is not None and fmt not in ("md", "docx"):
        raise typer.BadParameter("--format must be md or docx")
    with open_project(project) as p:
        report, text = write_methods_report(p, out, fmt)
    if json_out:
        print_json(report)
        return
    if out is None and text is not None:
        sys.stdout.write(visible(text))
        return
    say(("wrote", "green"), " ", str(out), f" ({len(report.figures)} figures traced to audit rows "
        f"1-{report.last_audit_id})")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.add_typer(report_app, name="report")
