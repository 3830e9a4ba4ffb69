"""Search and index lifecycle commands: search, verify, reindex."""

from __future__ import annotations

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
)


def search(
    query: Annotated[str, typer.Argument(help="What to look for.")],
    project: ProjectOpt = None,
    k: Annotated[int, typer.Option("-k", help="How many hits.")] = 10,
    filter: FilterOpt = None,
    mode: Annotated[str, typer.Option(help="hybrid, dense or bm25.")] = "hybrid",
    interviewer: Annotated[bool, typer.Option("--interviewer", help="Include the interviewer's turns.")] = False,
    diversify: Annotated[float | None, typer.Option(help="MMR lambda (e.g. 0.7) to spread hits across sources.")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Hybrid (dense + BM25) search over the project's excerpts, with attribute filters."""
    # the library is imported inside the commands, so `thematic --help` loads no store or index
    if mode not in ("hybrid", "dense", "bm25"):
        raise typer.BadParameter("mode must be hybrid, dense or bm25")
    from assistant.cli.corpus import notice, progress_when_needed
    from assistant.corpus.search import search as run_search

    with open_project(project) as proj, progress_when_needed("updating index") as progress:
        hits = run_search(proj, query, k=k, mode=mode, filters=parse_filters(filter),
                          exclude_interviewer=not interviewer, diversify=diversify,
                          progress=progress, notify=notice)
    if json_out:
        print_json(hits)
        return
    table = Table("#", "score", "source", "who", "offsets", "why", "text", show_lines=True)
    for i, h in enumerate(hits, 1):
        table.add_row(str(i), f"{h.score:.3f}", h.source, h.speaker or h.attributes.get("participant") or "",
                      f"{h.start}-{h.end}", h.why, h.text[:300])
    console.print(table)


def verify(
    project: ProjectOpt = None,
    check_only: Annotated[bool, typer.Option("--check-only", help="Only report; change nothing.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Check every excerpt against the search index and fix what is wrong (missing, stale or extra
    excerpts, a damaged index). Exit 0: in step; 1: problems found (and fixed, unless
    --check-only)."""
    from assistant.cli.corpus import notice, progress_when_needed
    from assistant.corpus.search import repair_index

    with open_project(project) as proj, progress_when_needed("embedding") as progress:
        result = repair_index(proj, progress=progress, notify=notice, check_only=check_only)
    report, fixed = result.found, result.fixed
    if json_out:
        print_json({"ok": report.ok, "missing": report.missing, "stale": report.stale, "extra": report.extra,
                    "settings_changed": report.settings_changed, "unreadable": report.unreadable,
                    "fixed": fixed})
    elif report.ok:
        console.print("index is in step with the project")
    else:
        if report.unreadable:
            found = f"index cannot be read ({report.unreadable})"
        else:
            found = (f"index was out of step: {len(report.missing)} missing, {len(report.stale)} stale, "
                     f"{len(report.extra)} extra{', settings changed' if report.settings_changed else ''}")
        if fixed is None:
            console.print(f"{found}; run `thematic verify` without --check-only to fix it")
        else:
            console.print(f"{found}; fixed: {fixed.added} added, {fixed.changed} changed, "
                          f"{fixed.removed} removed, {fixed.embedded} embedded "
                          f"({fixed.from_cache} from cache), {fixed.total} in the index now")
    if not report.ok:
        raise typer.Exit(1)


def reindex(project: ProjectOpt = None, json_out: JsonOpt = False) -> None:
    """Bring the search index in line with the project (embeds only what changed)."""
    from assistant.cli.corpus import notice, progress_bar, progress_callback
    from assistant.corpus.search import sync_index

    with open_project(project) as proj, progress_bar() as bar:
        report = sync_index(proj, progress=progress_callback(bar, "embedding"), notify=notice)
    if json_out:
        print_json(report)
    else:
        console.print(f"index: {report.added} added, {report.changed} changed, {report.removed} removed, "
                      f"{report.embedded} embedded ({report.from_cache} from cache), {report.total} in all")


def register(app: typer.Typer) -> None:
    for fn in (search, verify, reindex):
        app.command()(fn)
