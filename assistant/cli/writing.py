"""Writing commands: quotes, the write-up basket, theme drafts, asking the corpus, exports."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

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

basket_app = typer.Typer(help="The write-up basket: quotes chosen for the report.", no_args_is_help=True)
themes_app = typer.Typer(help="Theme drafts from the accepted codings, and the analyst's decisions.",
                         no_args_is_help=True)
writeup_app = typer.Typer(help="Export the write-up basket.", no_args_is_help=True)


def configured_llm(project: Any) -> Any:
    """The project's chat model when one is configured, else None (extractive/evidence only)."""
    from assistant.llm import chat_model_for

    return chat_model_for(project)


def quotes(
    code: Annotated[str | None, typer.Option("--code", help="Quotes for this code.")] = None,
    theme: Annotated[str | None, typer.Option("--theme", help="Quotes for this theme.")] = None,
    query: Annotated[str | None, typer.Option("--query", help="Quotes for a free question.")] = None,
    project: ProjectOpt = None,
    k: Annotated[int, typer.Option("-k", help="How many quotes.")] = 10,
    per_participant: Annotated[int | None, typer.Option("--per-participant", help="At most N per participant.")] = None,
    filter: FilterOpt = None,
    interviewer: Annotated[bool, typer.Option("--interviewer", help="Allow the interviewer's words.")] = False,
    add: Annotated[bool, typer.Option("--add", help="Put the quotes in the write-up basket.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Verbatim quotes for a code, theme or question: accepted codings first, then search, spread
    across participants, source kinds and sectors."""
    from assistant.writing.quotes import find_quotes
    from assistant.writing.writeup import add_quotes

    if sum(x is not None for x in (code, theme, query)) != 1:
        raise typer.BadParameter("give exactly one of --code, --theme or --query")
    with open_project(project) as proj:
        result = find_quotes(proj, code=code, theme=theme, query=query, k=k, per_participant=per_participant,
                             filters=parse_filters(filter), include_interviewer=interviewer)
        added = add_quotes(proj, result.quotes) if add else []
    if json_out:
        print_json({"quotes": result.quotes, "spread": result.spread_text, "stats": result.stats,
                    "basket_ids": [i.id for i in added]})
        return
    for i, q in enumerate(result.quotes, 1):
        say((f"{i}.", "bold"), f" \u201c{q.text}\u201d")
        say(f"   — {q.attribution}  ", (f"({q.source_name}, line {q.line}, {q.start}-{q.end}; {q.origin}: {q.why})",
                                        "dim"))
    console.print(result.spread_text)
    if added:
        console.print(f"added {len(added)} quote(s) to the basket")


@basket_app.command("list")
def basket_list(project: ProjectOpt = None, json_out: JsonOpt = False) -> None:
    """The basket in order."""
    with open_project(project) as proj:
        items = proj.store.list_basket()
    if json_out:
        print_json(items)
        return
    table = Table("id", "pos", "quote", "attribution", "note", show_lines=True)
    for it in items:
        table.add_row(str(it.id), str(it.position), it.quote.text[:200], it.quote.attribution, it.note)
    console.print(table)


@basket_app.command("note")
def basket_note(item_id: int, text: str, project: ProjectOpt = None) -> None:
    """Set an item's note."""
    from assistant.writing import basket

    with open_project(project) as proj:
        basket.set_note(proj, item_id, text)
    console.print(f"note set on item {item_id}")


@basket_app.command("move")
def basket_move(item_id: int, position: int, project: ProjectOpt = None) -> None:
    """Move an item to POSITION (1 = first)."""
    from assistant.writing import basket

    with open_project(project) as proj:
        basket.move(proj, item_id, position)
    console.print(f"item {item_id} moved to position {position}")


@basket_app.command("remove")
def basket_remove(item_id: int, project: ProjectOpt = None) -> None:
    """Take an item out of the basket."""
    from assistant.writing import basket

    with open_project(project) as proj:
        basket.remove(proj, item_id)
    console.print(f"item {item_id} removed")


@themes_app.command("draft")
def themes_draft(
    project: ProjectOpt = None,
    n: Annotated[int | None, typer.Option("--n", help="Number of themes (default: by silhouette).")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Draft candidate themes from the accepted codings."""
    from assistant.writing.themes import draft_themes_report

    with open_project(project) as proj:
        result = draft_themes_report(proj, n_themes=n, llm=configured_llm(proj))
    if json_out:
        print_json({"themes": result.themes, "reports": result.reports, "silhouette": result.silhouette})
        return
    for t in result.themes:
        _show_theme(t, result.reports.get(int(t.id or 0), {}))


def _show_theme(t: Any, report: dict | None = None) -> None:
    say((t.name, "bold"), f" (id {t.id}, {t.status}, {t.summary_kind})")
    console.print(t.summary)
    for q in t.quotes:
        console.print(f"  \u201c{q.text}\u201d — {q.attribution}")
    if report and report.get("removed_sentences"):
        say("  ", (f"{report['removed_sentences']} unverifiable sentence(s) removed", "yellow"))
    console.print()


@themes_app.command("list")
def themes_list(project: ProjectOpt = None, json_out: JsonOpt = False) -> None:
    """All themes with their status."""
    with open_project(project) as proj:
        themes = proj.store.list_themes()
        names = {c.id: c.name for c in proj.store.list_codes(include_inactive=True)}
    if json_out:
        print_json(themes)
        return
    table = Table("id", "name", "status", "codes", "quotes")
    for t in themes:
        table.add_row(str(t.id), t.name, t.status, ", ".join(names.get(c, str(c)) for c in t.code_ids), str(len(t.quotes)))
    console.print(table)


@themes_app.command("show")
def themes_show(name: str, project: ProjectOpt = None, json_out: JsonOpt = False) -> None:
    """One theme, with its cross-source view."""
    from assistant.writing.themes import theme_crosstab

    with open_project(project) as proj:
        t = proj.store.get_theme(name)
        cross = theme_crosstab(proj, int(t.id))  # type: ignore[arg-type]
    if json_out:
        print_json({"theme": t, "crosstab": cross})
        return
    _show_theme(t)
    console.print(f"codings by kind: {cross['codings_by_kind']}; by sector: {cross['codings_by_sector']}")
    console.print(f"participants who never touch it: {', '.join(cross['participants_never']) or 'none'}")


def _theme_action(fn_name: str, *args: Any) -> None:
    from assistant.writing import themes as th

    project, *rest = args
    with open_project(project) as proj:
        result = getattr(th, fn_name)(proj, *rest)
    console.print(f"{fn_name.replace('_theme', '').replace('_', ' ')}: {getattr(result, 'name', result)}")


@themes_app.command("accept")
def themes_accept(name: str, project: ProjectOpt = None) -> None:
    """Accept a draft theme."""
    _theme_action("accept_theme", project, name)


@themes_app.command("reject")
def themes_reject(name: str, project: ProjectOpt = None) -> None:
    """Reject a draft theme."""
    _theme_action("reject_theme", project, name)


@themes_app.command("rename")
def themes_rename(name: str, new: str, project: ProjectOpt = None) -> None:
    """Rename a theme."""
    _theme_action("rename_theme", project, name, new)


@themes_app.command("merge")
def themes_merge(a: str, b: str, name: Annotated[str, typer.Option("--name", help="Name of the merged theme.")],
                 project: ProjectOpt = None) -> None:
    """Merge two themes into one."""
    _theme_action("merge_themes", project, [a, b], name)


def ask(
    question: Annotated[str, typer.Argument(help="Your question about the corpus.")],
    project: ProjectOpt = None,
    filter: FilterOpt = None,
    k: Annotated[int, typer.Option("-k", help="How many evidence excerpts.")] = 8,
    json_out: JsonOpt = False,
) -> None:
    """Ask the corpus: an answer citing excerpts as [S<source>:<start>-<end>], or the evidence."""
    from assistant.writing.ask import UNVERIFIED_TEXT
    from assistant.writing.ask import ask as run_ask

    with open_project(project) as proj:
        answer = run_ask(proj, question, filters=parse_filters(filter), llm=configured_llm(proj), k=k)
    if json_out:
        print_json(answer)
        return
    if answer.text:
        console.print(answer.text)
    elif answer.report.get("unverified"):
        console.print(UNVERIFIED_TEXT)
    if answer.removed_citations:
        say((f"{answer.removed_citations} unverifiable citation(s) removed", "yellow"))
    for i, q in enumerate(answer.evidence, 1):
        say((f"E{i}", "bold"), f" [S{q.source_id}:{q.start}-{q.end}] {q.attribution} "
            f"({q.source_name}, line {q.line})\n   \u201c{q.text}\u201d")


@writeup_app.command("export")
def writeup_export(
    project: ProjectOpt = None,
    fmt: Annotated[str, typer.Option("--format", help="md or docx.")] = "md",
    out: Annotated[Path | None, typer.Option("--out", help="Output file.")] = None,
) -> None:
    """Export the basket as Markdown or Word."""
    from assistant.writing.writeup import export_writeup

    with open_project(project) as proj:
        path = export_writeup(proj, fmt, out)
    console.print(f"wrote {path}")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command()(quotes)
    app.command()(ask)
    app.add_typer(basket_app, name="basket")
    app.add_typer(themes_app, name="themes")
    app.add_typer(writeup_app, name="writeup")
