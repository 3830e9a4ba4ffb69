"""`thematic validate`: the validation gate before batch coding (see `assistant.coding.validation`).

    thematic validate sample --size 40      # draw the sample; you code it blind
    thematic validate items                 # what to code (and what is still to do)
    thematic validate none 12 15            # excerpts where no code applies
    thematic validate run --min 0.4 --action exclude
    thematic validate accept 1              # precode is gated by it from now on
    thematic validate show | export --format md"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from assistant.cli.common import (
    FilterOpt,
    JsonOpt,
    ProjectOpt,
    Table,
    console,
    open_project,
    parse_filters,
    print_json,
    say,
)

validate_app = typer.Typer(help="Measure the AI against your own blind coding before a batch run.",
                           no_args_is_help=True)

IdOpt = Annotated[int | None, typer.Argument(help="Validation id (default: the latest).")]


def _latest(p, vid: int | None) -> int:
    from assistant.coding.validation import latest_validation

    return vid if vid is not None else latest_validation(p, ("sampled", "run", "accepted"))


@validate_app.command("sample")
def sample_cmd(
    size: Annotated[int, typer.Option(help="Excerpts to draw (stratified by source and participant).")] = 40,
    seed: Annotated[int, typer.Option(help="Random seed (the same seed draws the same sample).")] = 0,
    coder: Annotated[str | None, typer.Option(help="Who codes the sample (default: you).")] = None,
    filters: FilterOpt = None, project: ProjectOpt = None, json_out: JsonOpt = False,
) -> None:
    """Draw a validation sample and start blind coding of its sources (AI suggestions hidden)."""
    from assistant.coding.validation import draw_sample

    with open_project(project) as p:
        vid = draw_sample(p, size, seed, coder, parse_filters(filters) or None)
        v = p.store.get_validation(vid)
        items = p.store.validation_items(vid)
    if json_out:
        return print_json({"validation_id": vid, "size": v["size"], "coder": v["coder"], "items": items})
    console.print(f"validation {vid}: {v['size']} excerpts from {len({i['source_id'] for i in items})} sources, "
                  f"{len({i['stratum'] for i in items})} source/participant strata; {v['coder']} codes them blind "
                  "(the AI's suggestions are hidden on those sources). See them with `thematic validate items`.")


@validate_app.command("items")
def items_cmd(validation_id: IdOpt = None, project: ProjectOpt = None, json_out: JsonOpt = False) -> None:
    """The sample's excerpts and whether each is coded yet."""
    from assistant.coding.validation import analyst_labels, sample_excerpts

    with open_project(project) as p:
        vid = _latest(p, validation_id)
        decided, todo = analyst_labels(p, vid)
        exs = sample_excerpts(p, vid)
        names = {s.id: s.name for s in p.store.list_sources()}
        codes = {c.id: c.name for c in p.store.list_codes(include_inactive=True)}
    rows = [{"excerpt_id": e.id, "source": names.get(e.source_id, "?"), "speaker": e.speaker,
             "start": e.start, "end": e.end, "state": "to code" if e.id in todo else "coded",
             "codes": [codes.get(c, "?") for c in sorted(decided.get(e.id, ()))], "text": e.text} for e in exs]
    if json_out:
        return print_json({"validation_id": vid, "items": rows})
    t = Table("excerpt", "source", "speaker", "state", "codes", "text", title=f"validation {vid}")
    for r in rows:
        t.add_row(str(r["excerpt_id"]), r["source"], r["speaker"] or "", r["state"], ", ".join(r["codes"]) or "-",
                  r["text"][:120])
    console.print(t)
    console.print(f"{len(todo)} of {len(rows)} still to code. Code with `thematic code SOURCE START END CODE`; "
                  "mark an excerpt where no code applies with `thematic validate none EXCERPT_ID`.")


@validate_app.command("none")
def none_cmd(
    excerpt_ids: Annotated[list[int], typer.Argument(help="Sample excerpts where no code applies.")],
    validation: Annotated[int | None, typer.Option("--validation", help="Validation id (default: latest).")] = None,
    undo: Annotated[bool, typer.Option("--undo", help="Take the mark back.")] = False,
    project: ProjectOpt = None,
) -> None:
    """Mark sample excerpts where no code of the codebook applies (they count as 'no' for every code)."""
    from assistant.coding.validation import mark_no_code

    with open_project(project) as p:
        n = mark_no_code(p, _latest(p, validation), excerpt_ids, not undo)
    console.print(f"{n} excerpt(s) {'unmarked' if undo else 'marked: no code applies'}")


@validate_app.command("run")
def run_cmd(
    validation_id: IdOpt = None,
    engine: Annotated[str | None, typer.Option(help="offline|llm (default: the configured one).")] = None,
    metric: Annotated[str, typer.Option(help="Bar metric: kappa, ac1, precision or recall.")] = "kappa",
    minimum: Annotated[float, typer.Option("--min", help="The bar: the metric must reach this.")] = 0.4,
    bound: Annotated[str, typer.Option(help="low (the 95% interval's lower end) or point.")] = "low",
    action: Annotated[str, typer.Option(help="For codes below the bar: exclude (from batch runs) or flag.")] = "flag",
    keep_blind: Annotated[bool, typer.Option("--keep-blind", help="Keep blind coding on afterwards.")] = False,
    project: ProjectOpt = None, json_out: JsonOpt = False,
) -> None:
    """Have the engine code the sample (never learning from your codings of it) and compare, per code."""
    from assistant.coding.validation import Bar, run_validation

    with open_project(project) as p:
        bar = Bar(metric=metric, bound=bound, minimum=minimum, action=action)  # type: ignore[arg-type]
        report = run_validation(p, _latest(p, validation_id), bar, engine, end_blind=not keep_blind)
    if json_out:
        return print_json(report)
    _print_report(report)


def _f(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2f}"


def _print_report(report: dict) -> None:
    s = report["summary"]
    base = bool(report.get("baseline"))
    t = Table("code", "verdict", "prev.", "kappa [95% CI]", "AC1 [95% CI]", "precision [95% CI]", "recall [95% CI]",
              *(["offline kappa"] if base else []),
              title=f"validation {report['validation_id']}: {report['engine']} engine vs {report['coder']}")
    for r in report["codes"]:
        t.add_row(r["code"], r["status"].replace("_", " "), _f(r["prevalence"]),
                  *[f"{_f(r[m])} [{_f(r[m + '_low'])}, {_f(r[m + '_high'])}]" for m in ("kappa", "ac1", "precision", "recall")],
                  *([_f(r.get("offline_kappa"))] if base else []))
    console.print(t)
    console.print(f"{report['units']} excerpts compared ({len(report['not_yet_coded'])} not yet coded left out); "
                  f"bar: {report['bar_words']}; {s['passes']} pass, {s['below_bar']} below the bar, "
                  f"{s['unassessed']} not assessed (nobody applied them in the sample). Mean kappa {_f(s['mean_kappa'])}, "
                  f"AC1 {_f(s['mean_ac1'])}. Accept it with `thematic validate accept {report['validation_id']}` "
                  "to gate batch runs.")
    if report.get("baseline"):
        from assistant.coding.validation import baseline_words

        console.print(baseline_words(report).removeprefix("- "))


@validate_app.command("accept")
def accept_cmd(validation_id: Annotated[int, typer.Argument()], project: ProjectOpt = None) -> None:
    """Gate batch runs (`thematic precode`) by this report from now on."""
    from assistant.coding.validation import accept_validation, gate_for

    with open_project(project) as p:
        accept_validation(p, validation_id)
        g = gate_for(p, validation_id)
    console.print(f"validation {validation_id} accepted: precode leaves out {len(g.excluded)} code(s) and flags "
                  f"{len(g.flagged)} below the bar ({len(g.unvalidated)} not assessed are flagged 'not validated')")


@validate_app.command("show")
def show_cmd(validation_id: IdOpt = None, project: ProjectOpt = None, json_out: JsonOpt = False) -> None:
    """A saved report."""
    with open_project(project) as p:
        v = p.store.get_validation(_latest(p, validation_id))
    if json_out:
        return print_json(v)
    if not v["report"]:
        say(f"validation {v['id']}: sample of {v['size']} drawn, not run yet (`thematic validate run`)")
        return
    _print_report(v["report"])
    console.print(f"status: {v['status']}")


@validate_app.command("list")
def list_cmd(project: ProjectOpt = None, json_out: JsonOpt = False) -> None:
    """Every validation with its status."""
    with open_project(project) as p:
        rows = [{k: v[k] for k in ("id", "coder", "size", "seed", "status", "engine", "model", "created_at",
                                   "run_at", "accepted_at")} | {"summary": v["report"].get("summary")}
                for v in p.store.list_validations()]
    if json_out:
        return print_json(rows)
    t = Table("id", "status", "coder", "size", "engine", "passes / below / unassessed", "created")
    for r in rows:
        s = r["summary"] or {}
        t.add_row(str(r["id"]), r["status"], r["coder"], str(r["size"]), r["engine"] or "-",
                  f"{s.get('passes', '-')} / {s.get('below_bar', '-')} / {s.get('unassessed', '-')}", r["created_at"])
    console.print(t)


@validate_app.command("export")
def export_cmd(
    validation_id: IdOpt = None,
    fmt: Annotated[str, typer.Option("--format", help="csv or md")] = "md",
    out: Annotated[Path | None, typer.Option("--out", help="File to write (default: exports/).")] = None,
    project: ProjectOpt = None,
) -> None:
    """Write a report as CSV or Markdown."""
    from assistant.coding.validation import export_report

    with open_project(project) as p:
        path = export_report(p, _latest(p, validation_id), fmt, out)
    console.print(f"wrote {path}")


def register(app: typer.Typer) -> None:
    app.add_typer(validate_app, name="validate")
