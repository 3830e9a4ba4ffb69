"""Search and index lifecycle commands: search, verify, reindex."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from assistant.cli.common import (
    FilterOpt,
    JsonOpt,
    ProjectOpt,
    console,
    open_project,
    parse_filters,
    print_json,
)
from assistant.corpus.search import search as run_search
from assistant.corpus.search import sync_index, verify_index


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
    if mode not in ("hybrid", "dense", "bm25"):
        raise typer.BadParameter("mode must be hybrid, dense or bm25")
    with open_project(project) as proj:
        hits = run_search(proj, query, k=k, mode=mode, filters=parse_filters(filter),
                          exclude_interviewer=not interviewer, diversify=diversify)
    if json_out:
        print_json(hits)
        return
    table = Table("#", "score", "source", "who", "offsets", "why", "text", show_lines=True)
    for i, h in enumerate(hits, 1):
        m = h.meta
        why = f"dense #{h.dense_rank}" if h.dense_rank else ""
        why += (", " if why else "") + (f"bm25 #{h.bm25_rank}" if h.bm25_rank else "")
        table.add_row(str(i), f"{h.score:.3f}", str(m.get("source")), str(m.get("speaker") or m.get("participant") or ""),
                      f"{m.get('start')}-{m.get('end')}", why, h.text[:300])
    console.print(table)


def verify(project: ProjectOpt = None, json_out: JsonOpt = False) -> None:
    """Check the search index against the project store (missing or stale vectors)."""
    with open_project(project) as proj:
        report = verify_index(proj)
    if json_out:
        print_json({"ok": report.ok, "missing": report.missing, "stale": report.stale, "extra": report.extra,
                    "settings_changed": report.settings_changed, "unreadable": report.unreadable})
    elif report.ok:
        console.print("index is in step with the project")
    elif report.unreadable:
        console.print(f"index cannot be read ({report.unreadable}); run `thematic reindex` to rebuild it")
    else:
        console.print(f"index needs repair: {len(report.missing)} missing, {len(report.stale)} stale, "
                      f"{len(report.extra)} extra{', settings changed' if report.settings_changed else ''}; "
                      "run `thematic reindex`")
    if not report.ok:
        raise typer.Exit(1)


def reindex(project: ProjectOpt = None, json_out: JsonOpt = False) -> None:
    """Bring the search index in line with the project (embeds only what changed)."""
    from assistant.cli.corpus import progress_bar, progress_callback

    with open_project(project) as proj, progress_bar() as bar:
        report = sync_index(proj, progress=progress_callback(bar, "embedding"))
    if json_out:
        print_json(report)
    else:
        console.print(f"index: {report.added} added, {report.changed} changed, {report.removed} removed, "
                      f"{report.embedded} embedded ({report.from_cache} from cache), {report.total} in all")


def register(app: typer.Typer) -> None:
    for fn in (search, verify, reindex):
        app.command()(fn)
