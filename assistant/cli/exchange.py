"""Exchange commands: REFI-QDA `.qdpx`/`.qdc` with NVivo, ATLAS.ti, MAXQDA and QualCoder, flat exports
(codings, codebook with counts, audit log), importing another coder's codings, and agreement
between coders."""

from __future__ import annotations

from pathlib import Path
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

export_app = typer.Typer(help="Export the project: qdpx, qdc, codings, codebook, audit.", no_args_is_help=True)
import_app = typer.Typer(help="Import a qdpx project, a qdc codebook or another coder's codings.",
                         no_args_is_help=True)

OffsetsOpt = Annotated[str, typer.Option(
    "--offsets", help="chars (REFI-QDA: Unicode characters) or utf16 (code units, as NVivo counts).")]
CoderOpt = Annotated[list[str], typer.Option("--coder", help="Coder name; give it twice (A then B).")]


def _offsets(value: str) -> str:
    if value not in ("chars", "utf16"):
        raise typer.BadParameter("--offsets must be chars or utf16")
    return value


def _fmt(value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise typer.BadParameter(f"--format must be one of {', '.join(allowed)}")
    return value


def _warnings(report) -> None:
    for w in report.warnings:
        say(("warning:", "yellow"), " ", w, err=True)


def _num(v: float | None) -> str:
    return "—" if v is None else f"{v:.2f}"


@export_app.command("qdpx")
def export_qdpx_cmd(out: Path, offsets: OffsetsOpt = "chars", project: ProjectOpt = None,
                    json_out: JsonOpt = False) -> None:
    """The whole project as a REFI-QDA archive (users, codebook, sources, codings, memos, sets)."""
    from assistant.exchange.refi import export_qdpx

    with open_project(project) as p:
        report = export_qdpx(p, out, offsets=_offsets(offsets))  # type: ignore[arg-type]
    if json_out:
        return print_json(report)
    _warnings(report)
    console.print(f"wrote {out}: " + ", ".join(f"{v} {k}" for k, v in report.counts.items()))


@export_app.command("qdc")
def export_qdc_cmd(out: Path, project: ProjectOpt = None) -> None:
    """The codebook alone as REFI-QDA .qdc."""
    from assistant.exchange.refi import export_qdc

    with open_project(project) as p:
        report = export_qdc(p, out)
    console.print(f"wrote {out}: {report.counts['codes']} codes")


@export_app.command("codings")
def export_codings_cmd(out: Path, fmt: Annotated[str, typer.Option("--format", help="csv|json")] = "csv",
                       coder: Annotated[str | None, typer.Option("--coder")] = None,
                       project: ProjectOpt = None) -> None:
    """Every active coding with its source, attributes, speaker, offsets, text, code and coder."""
    from assistant.exchange.exports import export_codings

    with open_project(project) as p:
        n = export_codings(p, out, _fmt(fmt, ("csv", "json")), coder)  # type: ignore[arg-type]
    console.print(f"wrote {out}: {n} codings")


@export_app.command("codebook")
def export_codebook_cmd(out: Path, fmt: Annotated[str, typer.Option("--format", help="csv|json")] = "csv",
                        project: ProjectOpt = None) -> None:
    """The codebook with counts per code, per source kind and per coder."""
    from assistant.exchange.exports import export_codebook_counts

    with open_project(project) as p:
        n = export_codebook_counts(p, out, _fmt(fmt, ("csv", "json")))  # type: ignore[arg-type]
    console.print(f"wrote {out}: {n} codes")


@export_app.command("audit")
def export_audit_cmd(out: Path, fmt: Annotated[str, typer.Option("--format", help="jsonl|csv")] = "jsonl",
                     project: ProjectOpt = None) -> None:
    """The append-only audit log."""
    from assistant.exchange.exports import export_audit

    with open_project(project) as p:
        n = export_audit(p, out, _fmt(fmt, ("jsonl", "csv")))  # type: ignore[arg-type]
    console.print(f"wrote {out}: {n} events")


@import_app.command("qdpx")
def import_qdpx_cmd(file: Path, into: Annotated[Path, typer.Option("--into", help="New project folder.")],
                    offsets: OffsetsOpt = "chars", json_out: JsonOpt = False) -> None:
    """Create a new project from a .qdpx exported by another tool."""
    from assistant.exchange.refi import import_qdpx

    with handle_errors():
        report = import_qdpx(file, into, offsets=_offsets(offsets))  # type: ignore[arg-type]
    if json_out:
        return print_json(report)
    _warnings(report)
    console.print(f"created {report.project}: " + ", ".join(f"{v} {k}" for k, v in report.counts.items()))


@import_app.command("qdc")
def import_qdc_cmd(file: Path, project: ProjectOpt = None, json_out: JsonOpt = False) -> None:
    """Merge a REFI-QDA codebook into this project's codebook (by code name)."""
    from assistant.exchange.refi import import_qdc

    with open_project(project) as p:
        report = import_qdc(p, file)
    if json_out:
        return print_json(report)
    _warnings(report)
    console.print(", ".join(f"{v} {k}" for k, v in report.counts.items()))


@import_app.command("codings")
def import_codings_cmd(file: Path, coder: Annotated[str, typer.Option("--coder", help="Name of the coder.")],
                       project: ProjectOpt = None, json_out: JsonOpt = False) -> None:
    """Another coder's codings (JSON lines: doc, code_path, char_start, char_end, text), verified
    against the source text."""
    from assistant.exchange.exports import import_codings

    with open_project(project) as p:
        report = import_codings(p, file, coder)
    if json_out:
        return print_json(report)
    for problem in report.problems:
        say(("not placed:", "yellow"), " ", problem, err=True)
    console.print(f"{report.added} codings added for {coder!r} ({report.exact} exact, {report.relocated} "
                  f"re-anchored, {report.duplicates} duplicates, {len(report.problems)} not placed)")


def coders_cmd(project: ProjectOpt = None, json_out: JsonOpt = False) -> None:
    """Analysts and AI coders in the project, with their number of codings."""
    from assistant.coding.agreement import list_coders

    with open_project(project) as p:
        rows = list_coders(p)
    if json_out:
        return print_json(rows)
    table = Table("coder", "kind", "codings")
    for r in rows:
        table.add_row(r["name"], r["kind"], str(r["codings"]))
    console.print(table)


AssignedOpt = Annotated[list[str] | None, typer.Option(
    "--assigned", help="Sources assigned to both coders: a source name, or KEY=VALUE (e.g. kind=survey); "
                       "repeatable. Their excerpts a coder left uncoded then count as 'code absent'.")]


def _assigned(values: list[str] | None) -> dict:
    """`--assigned` values as agreement_report's keyword arguments (names vs KEY=VALUE filters)."""
    from assistant.cli.common import parse_filters

    if not values:
        return {}
    names = [v for v in values if "=" not in v]
    filters = parse_filters([v for v in values if "=" in v])
    return {"assigned_sources": names, "assigned_filters": filters or None}


def agreement_cmd(coder: CoderOpt, overlap: Annotated[float, typer.Option(help="Overlap rule threshold.")] = 0.5,
                  assigned: AssignedOpt = None, project: ProjectOpt = None, json_out: JsonOpt = False) -> None:
    """Agreement between two coders, each code over the excerpts where it applies (its scope):
    kappa beside prevalence, alpha, AC1, F1, and how many units each figure used."""
    from assistant.coding.agreement import agreement_report

    if len(coder) != 2:
        raise typer.BadParameter("give exactly two coders: --coder A --coder B")
    with open_project(project) as p:
        report = agreement_report(p, coder[0], coder[1], overlap, **_assigned(assigned))
    if json_out:
        return print_json(report)
    table = Table("code", "units", "units from", "prevalence", "kappa", "alpha", "AC1", "% agree", "P", "R", "F1",
                  "span IoU", title=f"{coder[0]} vs {coder[1]}: {report.excerpts_compared} excerpts "
                                    f"({report.units_basis})")
    for r in [*report.per_code, report.overall]:
        table.add_row(r.code, str(r.units), r.units_basis, _num(r.prevalence_either), _num(r.kappa), _num(r.alpha),
                      _num(r.ac1), _num(r.percent_agreement), _num(r.precision), _num(r.recall), _num(r.f1),
                      _num(r.span_iou))
    console.print(table)
    for r in [*report.per_code, report.overall]:
        if r.units_basis != report.units_basis or r.code_id is None:
            console.print(f"units for {r.code}: {r.units_rule}", highlight=False)
    for name, n in report.outside_scope.items():
        console.print(f"{name}: {n} application{'s' if n != 1 else ''} outside its scope, left out of its figures",
                      highlight=False)
    console.print(f"mean kappa over codes: {_num(report.macro_kappa)}. Rule: {report.rule}", highlight=False)


def disagreements_cmd(coder: CoderOpt, code: Annotated[str | None, typer.Option("--code")] = None,
                      overlap: Annotated[float, typer.Option()] = 0.5, assigned: AssignedOpt = None,
                      project: ProjectOpt = None, json_out: JsonOpt = False) -> None:
    """Excerpts where one coder applied a code and the other did not, to discuss together."""
    from assistant.coding.agreement import disagreements

    if len(coder) != 2:
        raise typer.BadParameter("give exactly two coders: --coder A --coder B")
    with open_project(project) as p:
        rows = disagreements(p, coder[0], coder[1], overlap, code, **_assigned(assigned))
    if json_out:
        return print_json(rows)
    table = Table("excerpt", "source", "code", "applied by", "text")
    for r in rows:
        table.add_row(str(r.excerpt_id), r.source, r.code, r.applied_by,
                      r.preview[:100])
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add this module's commands and sub-apps to the root app."""
    app.add_typer(export_app, name="export")
    app.add_typer(import_app, name="import")
    app.command("coders")(coders_cmd)
    app.command("agreement")(agreement_cmd)
    app.command("disagreements")(disagreements_cmd)
