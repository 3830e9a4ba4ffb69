"""`thematic llm setup`: find the local models this machine can run (Ollama, llama.cpp and other
OpenAI-compatible servers, GGUF files), recommend one for pre-coding, try it on one excerpt with
timing, and save the choice. Registered on the `thematic llm` group next to `status` and `set`."""

from __future__ import annotations

import sys
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from assistant.cli.common import (
    JsonOpt,
    ProjectOpt,
    Table,
    console,
    err_console,
    open_project,
    print_json,
    say,
)

if TYPE_CHECKING:  # the library is imported inside the command, so `--help` stays fast
    from assistant.llm.setup import FoundModel


def _pick(models: list[FoundModel], choose: str | None, best: FoundModel | None) -> FoundModel | None:
    if choose is None:
        return best
    if choose.isdigit() and 1 <= int(choose) <= len(models):
        return models[int(choose) - 1]
    for m in models:
        if choose in (m.label, m.model, m.model_path):
            return m
    raise typer.BadParameter(f"no model {choose!r} in the list (give its number or name)", param_hint="--choose")


def llm_setup_cmd(
    gguf: Annotated[list[Path] | None, typer.Option("--gguf", help="A .gguf file or a folder of them (repeatable).")] = None,
    port: Annotated[list[int] | None, typer.Option("--port", help="Another local port to look for an OpenAI-compatible server on.")] = None,
    choose: Annotated[str | None, typer.Option(help="Use this model (its number in the list or its name) instead of the recommended one.")] = None,
    trial: Annotated[bool, typer.Option("--trial/--no-trial", help="Try the model on one excerpt, timed.")] = True,
    excerpt: Annotated[int | None, typer.Option(help="Excerpt id for the trial (default: the first long participant turn).")] = None,
    save: Annotated[bool | None, typer.Option("--save/--no-save", help="Save the choice to the project (asked when omitted).")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for each local server.")] = 0.5,
    project: ProjectOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Find local models, recommend one for pre-coding, try it on one excerpt, and save it."""
    from assistant.coding.suggest.trial import TrialResult, run_trial
    from assistant.errors import ThematicError
    from assistant.llm.setup import COMMON_PORTS, discover, recommend, settings_for

    ports = tuple(dict.fromkeys([*COMMON_PORTS, *(port or [])]))
    with open_project(project) as p:
        found = discover(gguf_paths=[str(g) for g in gguf or []], ports=ports, timeout=max(0.05, min(timeout, 10.0)))
        rec = recommend(found.models, found.machine)
        ranked = [r.model for r in rec.ranked]
        chosen = _pick(ranked, choose, rec.best)
        result = None
        if chosen is not None and trial:
            if not json_out:
                say(f"trying {chosen.label} on one excerpt...", err=True)
            try:
                result = run_trial(p, settings_for(chosen, p.settings.llm), excerpt_id=excerpt)
            except ThematicError as exc:  # no codebook or no excerpts yet: say so, keep the list
                result = TrialResult(ok=False, model=chosen.label, seconds=0.0, error=str(exc))
        do_save = save
        if do_save is None and chosen is not None and not json_out and sys.stdin.isatty():
            do_save = typer.confirm(f"save {chosen.label} as this project's model?", default=bool(result and result.ok))
        saved = None
        if do_save and chosen is not None:
            saved = save_and_report(p, chosen, result)
    if json_out:
        return print_json({"machine": asdict(found.machine), "servers": [asdict(s) for s in found.servers],
                           "models": [{**asdict(r.model), "score": r.score, "fits": r.fits, "reasons": r.reasons}
                                      for r in rec.ranked],
                           "recommended": asdict(rec.best) if rec.best else None, "why": rec.why,
                           "chosen": asdict(chosen) if chosen else None, "trial": result.to_dict() if result else None,
                           "saved": saved.model_dump(mode="json") if saved else None})
    m = found.machine
    console.print(f"machine: {m.ram_gb or '?'} GB RAM, {m.cores} cores")
    for s in found.servers:
        console.print(f"found {s.kind} at {s.url} ({s.models} models)")
    if not rec.ranked:
        say(("no local model found.", "yellow"), " ", rec.why)
        return
    t = Table("#", "model", "where", "size GB", "params", "notes")
    for i, r in enumerate(rec.ranked, 1):
        mark = " (recommended)" if rec.best is r.model else ""
        t.add_row(str(i), r.model.label + mark, r.model.where, f"{r.model.size_gb or '?'}",
                  f"{r.model.parameters:g}B" if r.model.parameters else "?", "; ".join(r.reasons))
    console.print(t)
    console.print(f"recommended: {rec.best.label if rec.best else 'none'}: {rec.why}")
    if result is not None:
        if result.ok:
            console.print(f"trial: {result.seconds:.1f} s, {len(result.codes)} code(s) on excerpt {result.excerpt_id} "
                          f"({result.source}): {', '.join(result.codes) or 'none'}")
            for ev in result.evidence[:3]:
                say("  evidence: ", ev)
        else:
            say(("trial failed:", "red"), " ", f"{result.error} ({result.seconds:.1f} s)")
    if saved is not None:
        console.print(f"saved: provider {saved.provider}, model {saved.model or saved.model_path}")
    elif chosen is not None:
        err_console.print("not saved; run again with --save to keep it")


def save_and_report(project, chosen, result):
    from assistant.llm.setup import save_choice

    return save_choice(project, chosen, trial=result.to_dict() if result is not None else None)


def register(app: typer.Typer) -> None:
    """Adds `setup` to the `thematic llm` group (made by `assistant.cli.coding`)."""
    from assistant.cli.coding import llm_app

    llm_app.command("setup")(llm_setup_cmd)
