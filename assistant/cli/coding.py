"""Coding commands: codebook, suggestions, review, decisions, hand coding, pre-coding, LLM setup."""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from assistant.cli.common import (
    FilterOpt,
    JsonOpt,
    ProjectOpt,
    Table,
    console,
    err_console,
    open_project,
    parse_filters,
    print_json,
    say,
)

codebook_app = typer.Typer(help="Import, export and list the codebook.", no_args_is_help=True)
llm_app = typer.Typer(help="Configure and inspect the language model.", no_args_is_help=True)

def _suggestion_row(v) -> dict:
    s = v.suggestion
    return {"id": s.id, "excerpt_id": s.excerpt_id, "source": v.source, "code": v.code, "new_code": v.is_new_code,
            "label": v.label, "proposed_name": s.proposed_name, "proposed_definition": s.proposed_definition,
            "flags": v.flags, "suspicious": v.suspicious, "score": s.score,
            "engine": s.engine, "model": s.model, "status": s.status, "evidence_start": s.evidence_start,
            "evidence_end": s.evidence_end, "evidence": s.evidence_text, "excerpt": v.excerpt_text,
            "rationale": s.rationale}


def _highlight(v) -> list[str | tuple[str, str]]:
    """The excerpt as `say()` parts, the evidence in bold yellow."""
    s, text = v.suggestion, v.excerpt_text
    if s.evidence_start is None or s.evidence_end is None:
        return [text]
    a = min(max(s.evidence_start - v.excerpt_start, 0), len(text))
    b = min(max(s.evidence_end - v.excerpt_start, a), len(text))
    return [text[:a], (text[a:b], "bold yellow"), text[b:]]


# --- codebook ------------------------------------------------------------------------------------


@codebook_app.command("import")
def codebook_import(file: Path, fmt: Annotated[str | None, typer.Option("--format")] = None,
                    project: ProjectOpt = None, json_out: JsonOpt = False) -> None:
    """Import a codebook (YAML, CSV or REFI-QDA .qdc); existing codes are merged by name."""
    from assistant.exchange.codebook_files import import_codebook

    with open_project(project) as p:
        rep = import_codebook(p, str(file), fmt)
    if json_out:
        return print_json(rep)
    for w in rep.warnings:
        say(("warning:", "yellow"), " ", w, err=True)
    console.print(f"added {len(rep.added)}, updated {len(rep.updated)}, unchanged {len(rep.unchanged)}")


@codebook_app.command("export")
def codebook_export(file: Path, fmt: Annotated[str | None, typer.Option("--format", help="yaml|csv|qdc")] = None,
                    project: ProjectOpt = None) -> None:
    """Export the codebook."""
    from assistant.exchange.codebook_files import export_codebook

    with open_project(project) as p:
        console.print(f"wrote {export_codebook(p, str(file), fmt)}")


@codebook_app.command("list")
def codebook_list(project: ProjectOpt = None, json_out: JsonOpt = False) -> None:
    """List active codes with their paths and coding counts."""
    from assistant.coding.codebook import code_paths

    with open_project(project) as p:
        codes = p.store.list_codes()
        counts = p.store.code_counts()
    paths = code_paths(codes)
    rows = [{**c.model_dump(mode="json"), "path": paths[c.id], "codings": sum(counts.get(c.id, {}).values())}
            for c in codes]
    if json_out:
        return print_json(rows)
    t = Table("id", "code", "codings", "definition")
    for r in rows:
        t.add_row(str(r["id"]), r["path"], str(r["codings"]), r["definition"][:70])
    console.print(t)


# --- suggestions and decisions -------------------------------------------------------------------


def suggest_cmd(excerpt_id: int, engine: Annotated[str, typer.Option(help="offline|llm")] = "offline",
                project: ProjectOpt = None, json_out: JsonOpt = False) -> None:
    """Suggest codes for one excerpt (recorded as pending suggestions)."""
    from assistant.coding.suggest import list_suggestions, suggest_excerpts

    with open_project(project) as p:
        rows = suggest_excerpts(p, [excerpt_id], engine)
        # the views carry the label faces share ("new code: X" for a code not in the codebook)
        views = {v.suggestion.id: v for v in list_suggestions(p, None, source=rows[0].source_id)} if rows else {}
    if json_out:
        return print_json(rows)
    for s in rows:
        v = views.get(s.id)
        label = v.label if v is not None else (s.proposed_name or "?")
        console.print(f"#{s.id} {label} score={s.score:.2f} evidence {s.evidence_start}:{s.evidence_end}")
    if not rows:
        console.print("no suggestions")


def suggestions_cmd(code: Annotated[str | None, typer.Option()] = None,
                    source: Annotated[str | None, typer.Option()] = None,
                    status: Annotated[str, typer.Option(help="pending|accepted|rejected|edited|all")] = "pending",
                    project: ProjectOpt = None, json_out: JsonOpt = False) -> None:
    """List suggestions."""
    from assistant.coding.suggest import list_suggestions

    with open_project(project) as p:
        views = list_suggestions(p, None if status == "all" else status, code, source)
    rows = [_suggestion_row(v) for v in views]
    if json_out:
        return print_json(rows)
    t = Table("id", "source", "code", "score", "engine", "evidence")
    for r in rows:
        t.add_row(str(r["id"]), r["source"], r["label"], f"{r['score']:.2f}", r["engine"],
                  ("(suspicious) " if r["suspicious"] else "") + (r["evidence"] or "")[:60])
    console.print(t)


def review_cmd(code: Annotated[str | None, typer.Option()] = None,
               source: Annotated[str | None, typer.Option()] = None, project: ProjectOpt = None) -> None:
    """Review pending suggestions in the terminal: keys a (accept), r (reject), e (edit code), s (skip), q (quit)."""
    from assistant.coding import decisions
    from assistant.coding.suggest import list_suggestions

    with open_project(project) as p:
        views = list_suggestions(p, "pending", code, source)
        tally = {"accepted": 0, "rejected": 0, "edited": 0, "skipped": 0}
        for i, v in enumerate(views, 1):
            console.rule(f"{i}/{len(views)}  {v.source}  suggestion #{v.suggestion.id}")
            say((v.speaker or "", "dim"), " ", *_highlight(v))
            say("code: ", (v.label, "bold"), f"  score {v.suggestion.score:.2f}  ({v.suggestion.rationale})")
            if v.suspicious:
                say(("  warning:", "yellow"), " the evidence reads as an instruction to the model; judge it yourself")
            if v.is_new_code:
                say(("  accepting adds it to the codebook", "dim"),
                    *([": ", v.suggestion.proposed_definition] if v.suggestion.proposed_definition else []))
            key = typer.prompt("a/r/e/s/q", default="s").strip().lower()[:1]
            if key == "q":
                break
            if key == "a":
                decisions.accept(p, v.suggestion.id)
                tally["accepted"] += 1
            elif key == "r":
                decisions.reject(p, v.suggestion.id, note=typer.prompt("note", default=""))
                tally["rejected"] += 1
            elif key == "e":
                new_code = typer.prompt("code", default=v.code or "")
                # keeping a proposed new code's name means "add that code", not "find it"
                keep_new = v.is_new_code and new_code == v.code
                decisions.edit(p, v.suggestion.id, code=None if keep_new else new_code)
                tally["edited"] += 1
            else:
                tally["skipped"] += 1
    console.print(", ".join(f"{k} {n}" for k, n in tally.items()))


def accept_cmd(suggestion_id: int, note: Annotated[str, typer.Option()] = "",
               project: ProjectOpt = None, json_out: JsonOpt = False) -> None:
    """Accept a suggestion: it becomes your coding."""
    from assistant.coding.decisions import accept

    with open_project(project) as p:
        coding = accept(p, suggestion_id, note=note)
    print_json(coding) if json_out else console.print(f"coding #{coding.id} added")


def reject_cmd(suggestion_id: int, note: Annotated[str, typer.Option()] = "",
               project: ProjectOpt = None, json_out: JsonOpt = False) -> None:
    """Reject a suggestion."""
    from assistant.coding.decisions import reject

    with open_project(project) as p:
        d = reject(p, suggestion_id, note=note)
    print_json(d) if json_out else console.print(f"suggestion {suggestion_id} rejected")


def undo_cmd(decision_id: Annotated[int | None, typer.Argument(help="A decision id; default: your last decision.")] = None,
             note: Annotated[str, typer.Option()] = "", project: ProjectOpt = None, json_out: JsonOpt = False) -> None:
    """Undo a decision (default: your most recent one still standing), as the workspace's Undo does."""
    from assistant.coding import decisions

    with open_project(project) as p:
        d = decisions.undo(p, decision_id, note=note) if decision_id is not None else decisions.undo_last(p, note=note)
    if json_out:
        return print_json(d)
    console.print("nothing to undo" if d is None else f"undid decision {d.id} ({d.action})")


def code_cmd(source: str, start: int, end: int, code: str, note: Annotated[str, typer.Option()] = "",
             project: ProjectOpt = None, json_out: JsonOpt = False) -> None:
    """Code a span of a source by hand (snapped to the source's own text)."""
    from assistant.coding.decisions import add_coding

    with open_project(project) as p:
        c = add_coding(p, source, start, end, code, note=note)
    print_json(c) if json_out else console.print(f"coding #{c.id} [{c.start}:{c.end}]: {c.text[:80]!r}")


def codings_cmd(coder: Annotated[str | None, typer.Option()] = None, code: Annotated[str | None, typer.Option()] = None,
                project: ProjectOpt = None, json_out: JsonOpt = False) -> None:
    """List codings (use --coder ai:... for the AI's own codings, derived from its suggestions)."""
    from assistant.coding.suggest import ai_codings
    from assistant.models import is_ai_coder

    with open_project(project) as p:
        code_id = p.store.get_code(code).id if code else None
        if coder and is_ai_coder(coder):
            rows = [c for c in ai_codings(p) if c.coder.lower().startswith(coder.lower())
                    and (code_id is None or c.code_id == code_id)]
        else:
            rows = p.store.list_codings(coder=coder, code_id=code_id)
    if json_out:
        return print_json(rows)
    for c in rows:
        console.print(f"#{c.id} source {c.source_id} {c.start}:{c.end} code {c.code_id} by {c.coder}")


def precode_cmd(
    engine: Annotated[str, typer.Option(help="offline|llm")] = "offline",
    codes: Annotated[list[str] | None, typer.Option("--codes", help="Only these codes (repeatable).")] = None,
    filters: FilterOpt = None,
    concurrency: Annotated[int | None, typer.Option()] = None,
    budget_usd: Annotated[float | None, typer.Option("--budget-usd")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would be sent and the cost; call nothing.")] = False,
    show: Annotated[int, typer.Option(help="Prompts to show in a dry run.")] = 1,
    run_id: Annotated[str | None, typer.Option("--run-id")] = None,
    include_interviewer: Annotated[bool, typer.Option("--include-interviewer")] = False,
    validation: Annotated[str, typer.Option(
        "--validation", help="Validation report gating the run: latest (accepted), an id, or none.")] = "latest",
    executor: Annotated[str, typer.Option("--executor", help="local (this machine, default) or ray.")] = "local",
    address: Annotated[str | None, typer.Option("--address", help="Ray cluster (with --executor ray).")] = None,
    block_size: Annotated[int, typer.Option("--block-size", min=1, help="Excerpts per block (--executor ray).")] = 1000,
    actors: Annotated[int, typer.Option("--actors", min=1, help="Ray actors, one model each.")] = 1,
    cpus_per_actor: Annotated[float, typer.Option("--cpus-per-actor", min=0.0)] = 1.0,
    gpus_per_actor: Annotated[float, typer.Option("--gpus-per-actor", min=0.0)] = 0.0,
    endpoint: Annotated[list[str] | None, typer.Option("--endpoint", help="LLM server base URL (repeatable).")] = None,
    per_endpoint: Annotated[int, typer.Option("--per-endpoint", min=1, help="Calls in flight per endpoint.")] = 2,
    project: ProjectOpt = None, json_out: JsonOpt = False,
) -> None:
    """Suggest codes for every excerpt (resumable; interviewer turns skipped by default)."""
    from assistant.coding import precode as pc

    flt = parse_filters(filters)
    with open_project(project) as p:
        if dry_run:
            if engine != "llm":
                err_console.print("the offline engine sends nothing anywhere; --dry-run applies to --engine llm")
                raise typer.Exit(0)
            rep = pc.dry_run(p, codes, flt, n=show, include_interviewer=include_interviewer)
            if json_out:
                return print_json(rep)
            for pr in rep.prompts:
                console.rule(f"excerpt {pr['excerpt_id']} ({pr['tokens']} tokens)")
                say(("system", "bold"), "\n", pr["system"])
                say(("user", "bold"), "\n", pr["user"])
            console.rule()
            console.print(f"model {rep.model} ({'remote' if rep.remote else 'local'}"
                          f"{', not enabled' if rep.remote and not rep.remote_allowed else ''}); "
                          f"pseudonymised: {rep.pseudonymised}; {rep.excerpts} excerpts; ~{rep.input_tokens} input "
                          f"+ ~{rep.output_tokens} output tokens ({rep.token_method}); est. cost ${rep.cost_usd:.4f}")
            return
        gate = None if validation.lower() == "none" else validation
        if executor != "local" or endpoint:
            from assistant.cli.batch import precode_on_executor

            rep = _with_progress(lambda cb: precode_on_executor(
                p, executor=executor, address=address, engine=engine, codes=codes, filters=flt, run_id=run_id,
                include_interviewer=include_interviewer, block_size=block_size, batch_size=64, actors=actors,
                cpus_per_actor=cpus_per_actor, gpus_per_actor=gpus_per_actor, endpoints=endpoint,
                per_endpoint=per_endpoint, concurrency=concurrency, budget_usd=budget_usd, progress=cb,
                validation=gate))
        else:
            rep = _with_progress(lambda cb: pc.precode(
                p, engine, codes, flt, concurrency, budget_usd, run_id, include_interviewer, progress=cb,
                validation=gate))
    if json_out:
        return print_json(asdict(rep))
    console.print(f"run {rep.run_id}: {rep.status}{' (resumed)' if rep.resumed else ''}; done {rep.done}, "
                  f"failed {rep.failed}, skipped {rep.skipped_finished} finished + {rep.skipped_interviewer} "
                  f"interviewer, not started {rep.not_started}; {rep.suggestions} suggestions in {rep.seconds:.1f}s "
                  f"({rep.rate_per_s}/s); cost ${rep.cost_usd:.4f}")
    for note in rep.notes:
        console.print(f"note: {note}")
    if rep.counts:
        console.print("checks: " + ", ".join(f"{k} {v}" for k, v in sorted(rep.counts.items())))
    for name, n in rep.per_code.items():
        console.print(f"  {n:5d}  {name}")
    for e in rep.errors[:5]:
        err_console.print(f"excerpt {e['excerpt_id']}: {e['error']}")


# --- language model ------------------------------------------------------------------------------


@llm_app.command("status")
def llm_status_cmd(project: ProjectOpt = None, json_out: JsonOpt = False) -> None:
    """Provider, model, local or remote, and any local Ollama models. Never prints a key."""
    from assistant.llm.providers import llm_status

    with open_project(project) as p:
        st = llm_status(p.settings.llm)
    if json_out:
        return print_json(st)
    for k, v in st.items():
        console.print(f"{k}: {v}")


@llm_app.command("set")
def llm_set_cmd(
    provider: Annotated[str | None, typer.Option(help="none|ollama|openai|anthropic|llamacpp")] = None,
    model: Annotated[str | None, typer.Option()] = None,
    base_url: Annotated[str | None, typer.Option("--base-url")] = None,
    api_key_env: Annotated[str | None, typer.Option("--api-key-env", help="NAME of the env var holding the key")] = None,
    model_path: Annotated[str | None, typer.Option("--model-path")] = None,
    allow_remote: Annotated[bool | None, typer.Option("--allow-remote/--no-remote")] = None,
    project: ProjectOpt = None,
) -> None:
    """Configure the language model for this project."""
    from assistant.llm.providers import llm_status

    with open_project(project) as p:
        # validated on assignment; a refused value (a key pasted as --api-key-env) exits 2 with one
        # line that never repeats it (see common.handle_errors)
        llm = p.settings.llm.model_copy()
        for k, v in (("provider", provider), ("model", model), ("base_url", base_url),
                     ("api_key_env", api_key_env), ("model_path", model_path), ("allow_remote", allow_remote)):
            if v is not None:
                setattr(llm, k, v)
        p.settings.llm = type(p.settings.llm).model_validate(llm.model_dump())
        p.save_settings()
        st = llm_status(p.settings.llm, probe_ollama=False)
    console.print(f"provider {st['provider']}, model {st['model']}, {'local' if st['local'] else 'remote'}"
                  f"{'' if st['local'] or st['remote_allowed'] else ' (remote calls are OFF until --allow-remote)'}")


def _with_progress(run):
    """A rich bar with rate and ETA, driven by the library's progress(done, total) callback."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    start = time.perf_counter()
    with Progress(TextColumn("pre-coding"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[rate]}"), TimeRemainingColumn(), console=err_console) as bar:
        task = bar.add_task("precode", total=None, rate="")

        def cb(done: int, total: int) -> None:
            el = time.perf_counter() - start
            bar.update(task, completed=done, total=total, rate=f"{done / el:.1f}/s" if el > 0 else "")

        return run(cb)


def register(app: typer.Typer) -> None:
    """Add this module's commands and sub-apps to the root app."""
    app.add_typer(codebook_app, name="codebook")
    app.add_typer(llm_app, name="llm")
    for name, fn in (("suggest", suggest_cmd), ("suggestions", suggestions_cmd), ("review", review_cmd),
                     ("accept", accept_cmd), ("reject", reject_cmd), ("undo", undo_cmd), ("code", code_cmd),
                     ("codings", codings_cmd), ("precode", precode_cmd)):
        app.command(name)(fn)
