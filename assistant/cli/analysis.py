"""The analyst's own workspace on the command line: memos, text search (keyword in context), the
code tree and its coded segments, code x attribute matrices, and blind coding.

Each command resolves its inputs, makes one library call and prints the result; everything
printed from a source, a code or a memo is data (`say`, tables with markup off)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from assistant.cli.common import (
    FilterOpt,
    JsonOpt,
    ProjectOpt,
    Table,
    console,
    handle_errors,
    open_project,
    parse_filters,
    print_json,
    say,
)

memo_app = typer.Typer(help="Memos on the project, a source, a code, a coding or a theme.", no_args_is_help=True)
blind_app = typer.Typer(help="Blind coding: a coder sees no AI suggestions and no other coder's codings.",
                        no_args_is_help=True)

OnOpt = Annotated[
    list[str] | None,
    typer.Option("--on", help="What the memo is about: project, source:NAME, code:NAME, coding:ID, theme:NAME "
                              "(repeatable: the first is where it is written, the rest are links)."),
]
TextFileOpt = Annotated[Path | None, typer.Option("--file", help="Read the memo text from a file ('-': stdin).")]


def _memo_text(text: str | None, file: Path | None) -> str:
    """The memo text from the argument, a file or stdin, read no further than the memo limit."""
    from assistant.coding.memos import MAX_MEMO_CHARS
    from assistant.errors import ThematicError

    if (text is None) == (file is None):
        with handle_errors():
            raise ThematicError("give the memo text as an argument or with --file (not both)")
    if file is None:
        return text  # type: ignore[return-value]
    with handle_errors():
        try:
            if str(file) == "-":
                data = sys.stdin.read(MAX_MEMO_CHARS + 1)
            else:
                with open(file, encoding="utf-8") as fh:
                    data = fh.read(MAX_MEMO_CHARS + 1)
        except (OSError, UnicodeDecodeError) as exc:
            raise ThematicError(f"{file}: cannot read the memo text ({exc.__class__.__name__})") from None
    return data


def _targets(on: list[str] | None):
    from assistant.coding.memos import parse_target

    return [parse_target(t) for t in (on or ["project"])]


def _print_memo(v, full: bool = True) -> None:
    m = v.memo
    edited = f", edited {m.updated_at}" if m.updated_at else ""
    say((f"memo {m.id}", "bold"), f"  by {m.author}, {m.created_at}{edited}")
    say(("  on: ", "dim"), "; ".join(t.label + ("" if t.exists else " (missing)") for t in v.targets))
    text = m.text if full else (m.text.strip().splitlines() or [""])[0][:100]
    say(text)


# --- memos ---------------------------------------------------------------------------------------


@memo_app.command("add")
def memo_add(text: Annotated[str | None, typer.Argument(help="The memo text.")] = None, on: OnOpt = None,
             file: TextFileOpt = None, project: ProjectOpt = None, json_out: JsonOpt = False) -> None:
    """Write a memo (on the project unless --on says what it is about)."""
    from assistant.coding.memos import add_memo

    body = _memo_text(text, file)
    targets = _targets(on)
    with open_project(project) as p:
        (kind, ref), links = targets[0], targets[1:]
        v = add_memo(p, body, kind, ref, links=links)
    print_json(v) if json_out else say(f"memo {v.memo.id} written on ", "; ".join(t.label for t in v.targets))


@memo_app.command("list")
def memo_list(on: Annotated[str | None, typer.Option("--on", help="Only memos about this (e.g. code:Housing, "
                                                                  "or just 'code' for every code's).")] = None,
              search: Annotated[str | None, typer.Option("--search", help="Only memos holding these words.")] = None,
              project: ProjectOpt = None, json_out: JsonOpt = False) -> None:
    """List memos (by target, or holding words), oldest first."""
    from assistant.coding.memos import list_memos, parse_target, search_memos

    kind, ref = parse_target(on) if on else (None, None)
    with open_project(project) as p:
        if search:
            rows = search_memos(p, search, kind)
            if ref is not None:
                about = {v.memo.id for v in list_memos(p, kind, ref)}
                rows = [v for v in rows if v.memo.id in about]
        else:
            rows = list_memos(p, kind, ref)
    if json_out:
        return print_json(rows)
    for v in rows:
        _print_memo(v, full=False)
    if not rows:
        console.print("no memos")


@memo_app.command("show")
def memo_show(memo_id: int, history: Annotated[bool, typer.Option("--history", help="Every edit, from the audit log.")] = False,
              project: ProjectOpt = None, json_out: JsonOpt = False) -> None:
    """Show a memo in full, with what it is about (and its history)."""
    from assistant.coding.memos import get_memo, memo_history

    with open_project(project) as p:
        v = get_memo(p, memo_id)
        events = memo_history(p, memo_id) if history else []
    if json_out:
        return print_json({**v.model_dump(mode="json"), "history": [e.model_dump(mode="json") for e in events]}
                          if history else v)
    _print_memo(v)
    for e in events:
        say((f"{e.time} {e.actor} {e.action}", "dim"))
        if e.action == "memo.edit":
            say(("  before: ", "dim"), str(e.details.get("before", "")))


@memo_app.command("edit")
def memo_edit(memo_id: int, text: Annotated[str | None, typer.Argument(help="The new text.")] = None,
              file: TextFileOpt = None, project: ProjectOpt = None, json_out: JsonOpt = False) -> None:
    """Replace a memo's text (the old text stays in the audit log)."""
    from assistant.coding.memos import edit_memo

    body = _memo_text(text, file)
    with open_project(project) as p:
        v = edit_memo(p, memo_id, body)
    print_json(v) if json_out else say(f"memo {memo_id} saved")


@memo_app.command("link")
def memo_link(memo_id: int, on: OnOpt = None, project: ProjectOpt = None, json_out: JsonOpt = False) -> None:
    """Link a memo to more targets."""
    from assistant.coding.memos import link_memo

    with open_project(project) as p:
        v = link_memo(p, memo_id, _targets(on))
    print_json(v) if json_out else say(f"memo {memo_id} is on ", "; ".join(t.label for t in v.targets))


@memo_app.command("unlink")
def memo_unlink(memo_id: int, on: Annotated[str, typer.Option("--on", help="The linked target to remove.")],
                project: ProjectOpt = None, json_out: JsonOpt = False) -> None:
    """Remove a linked target from a memo."""
    from assistant.coding.memos import parse_target, unlink_memo

    kind, ref = parse_target(on)
    with open_project(project) as p:
        v = unlink_memo(p, memo_id, kind, ref)
    print_json(v) if json_out else say(f"memo {memo_id} is on ", "; ".join(t.label for t in v.targets))


# --- text search ---------------------------------------------------------------------------------


def find_cmd(
    query: Annotated[str, typer.Argument(help='A word, a "quoted phrase" or a wildcard (damp*, m?uld).')],
    filters: FilterOpt = None,
    limit: Annotated[int, typer.Option("--limit", "-n", help="Hits to show.")] = 50,
    context: Annotated[int, typer.Option("--context", help="Characters of context each side.")] = 40,
    case_sensitive: Annotated[bool, typer.Option("--case-sensitive")] = False,
    exclude_interviewer: Annotated[bool, typer.Option("--exclude-interviewer")] = False,
    project: ProjectOpt = None, json_out: JsonOpt = False,
) -> None:
    """Find words in the sources' own text: every hit in context, with source, line and speaker."""
    from assistant.corpus.find import find

    flt = parse_filters(filters)
    with open_project(project) as p:
        res = find(p, query, filters=flt, limit=limit, context=context, case_sensitive=case_sensitive,
                   exclude_interviewer=exclude_interviewer)
    if json_out:
        return print_json(res)
    for h in res.hits:
        where = f"{h.source}:{h.line}" + (f" {h.speaker}" if h.speaker else "")
        say((where, "dim"), "  ", _flat(h.left), (_flat(h.text), "bold yellow"), _flat(h.right))
    shown = f"{len(res.hits)} of {res.total}{'+' if res.total_capped else ''}"
    say((f"{shown} hits in {res.sources_searched} sources ({res.seconds:.2f}s)", "dim"), err=True)


def _flat(text: str) -> str:
    """Context on one line: line breaks shown as spaces (the JSON keeps the source's characters)."""
    return text.replace("\r", " ").replace("\n", " ")


# --- the code tree, segments, matrices -------------------------------------------------------------


CoderOpt = Annotated[list[str] | None, typer.Option("--coder", help="Only this coder's codings (repeatable).")]
AiOpt = Annotated[bool, typer.Option("--include-ai", help="Count coders named ai:... too.")]


def tree_cmd(filters: FilterOpt = None, coders: CoderOpt = None, include_ai: AiOpt = False,
             project: ProjectOpt = None, json_out: JsonOpt = False) -> None:
    """The code tree with counts: own codings, and codings, sources and participants rolled up."""
    from assistant.coding.tree import code_tree

    with open_project(project) as p:
        nodes = code_tree(p, filters=parse_filters(filters), coders=coders, include_ai=include_ai)
    if json_out:
        return print_json(nodes)
    t = Table("id", "code", "own", "codings", "sources", "participants", "memos", "definition")
    for n in nodes:
        t.add_row(str(n.id), "  " * n.depth + n.name, str(n.own.codings), str(n.total.codings),
                  str(n.total.sources), str(n.total.participants), str(n.memos), n.definition[:60])
    console.print(t)


def segments_cmd(
    code: str,
    no_children: Annotated[bool, typer.Option("--no-children", help="Only the code itself, not its descendants.")] = False,
    filters: FilterOpt = None, coders: CoderOpt = None, include_ai: AiOpt = False,
    out: Annotated[Path | None, typer.Option("--out", help="Export to a .csv or .md file.")] = None,
    project: ProjectOpt = None, json_out: JsonOpt = False,
) -> None:
    """Every coded segment of a code (and its descendants), with source, line and speaker."""
    from assistant.coding.segments import code_segments, export_segments

    with open_project(project) as p:
        segs = code_segments(p, code, include_children=not no_children, filters=parse_filters(filters),
                             coders=coders, include_ai=include_ai)
        path = export_segments(p, segs, out, title=f"Coded segments: {code}") if out else None
    if json_out:
        return print_json(segs)
    if path is not None:
        return say(f"wrote {len(segs)} segments to {path}")
    for s in segs:
        where = f"{s.source}:{s.line}" + (f" {s.speaker}" if s.speaker else "")
        say((where, "dim"), "  ", (s.code_path, "bold"), ("  (changed since coded)" if s.changed else ""))
        say("  ", s.text)
    say((f"{len(segs)} segments", "dim"), err=True)


def reparent_cmd(code: str, parent: Annotated[str | None, typer.Argument(help="New parent (omit for top level).")] = None,
                 project: ProjectOpt = None, json_out: JsonOpt = False) -> None:
    """Move a code under another code (or to the top level)."""
    from assistant.coding.codebook import code_paths
    from assistant.coding.tree import reparent_code

    with open_project(project) as p:
        c = reparent_code(p, code, parent)
        path = code_paths(p.store.list_codes()).get(int(c.id), c.name)  # type: ignore[arg-type]
    print_json(c) if json_out else say("code is now ", path)


def matrix_cmd(
    by: Annotated[str, typer.Option("--by", help="Attribute: sector, participant, kind, source, speaker, or any.")],
    count: Annotated[str, typer.Option("--count", help="codings|sources|participants")] = "codings",
    codes: Annotated[list[str] | None, typer.Option("--code", help="Only these codes (repeatable).")] = None,
    rollup: Annotated[bool, typer.Option("--rollup", help="A code's row counts its descendants too.")] = False,
    filters: FilterOpt = None, coders: CoderOpt = None, include_ai: AiOpt = False,
    csv_out: Annotated[Path | None, typer.Option("--csv", help="Export the table to a CSV file.")] = None,
    project: ProjectOpt = None, json_out: JsonOpt = False,
) -> None:
    """Codes by an attribute's values: a table of counts (each cell's coding ids in --json)."""
    from assistant.coding.matrix import export_matrix, matrix

    with open_project(project) as p:
        table = matrix(p, by, codes=codes, count=count, filters=parse_filters(filters), rollup=rollup,  # type: ignore[arg-type]
                       coders=coders, include_ai=include_ai)
        path = export_matrix(p, table, csv_out) if csv_out else None
    if json_out:
        return print_json(table)
    if path is not None:
        say(f"wrote {len(table.rows)} x {len(table.columns)} matrix to {path}")
        return
    t = Table("code", *table.columns, "total", title=f"{count} by {table.attribute}")
    for r in table.rows:
        t.add_row(r.path, *(str(r.cells[c].count) for c in table.columns), str(r.total.count))
    console.print(t)


# --- blind coding ----------------------------------------------------------------------------------


@blind_app.command("on")
def blind_on(coder: str, sources: Annotated[list[str], typer.Argument(help="Source names or ids.")],
             project: ProjectOpt = None, json_out: JsonOpt = False) -> None:
    """Start blind coding of these sources for a coder."""
    from assistant.coding.blind import set_blind

    with open_project(project) as p:
        changed = set_blind(p, coder, sources, True)
    print_json(changed) if json_out else say(f"{coder} now codes {len(changed)} more source(s) blind")


@blind_app.command("off")
def blind_off(coder: str, sources: Annotated[list[str], typer.Argument(help="Source names or ids.")],
              project: ProjectOpt = None, json_out: JsonOpt = False) -> None:
    """End blind coding of these sources for a coder."""
    from assistant.coding.blind import set_blind

    with open_project(project) as p:
        changed = set_blind(p, coder, sources, False)
    print_json(changed) if json_out else say(f"{coder} no longer codes {len(changed)} source(s) blind")


@blind_app.command("list")
def blind_list(coder: Annotated[str | None, typer.Option("--coder")] = None,
               project: ProjectOpt = None, json_out: JsonOpt = False) -> None:
    """Blind-coding periods (open ones have no end)."""
    from assistant.coding.blind import blind_periods

    with open_project(project) as p:
        rows = blind_periods(p, coder)
    if json_out:
        return print_json(rows)
    t = Table("coder", "source", "from", "until")
    for r in rows:
        t.add_row(r.coder, r.source, r.started_at, r.ended_at or "(blind now)")
    console.print(t)


def independence_cmd(coder_a: str, coder_b: str, project: ProjectOpt = None, json_out: JsonOpt = False) -> None:
    """Whether comparing two coders compares independent judgements, and if not why."""
    from assistant.coding.blind import comparison_independence

    with open_project(project) as p:
        rep = comparison_independence(p, coder_a, coder_b)
    if json_out:
        return print_json(rep)
    verdict = ("independent", "green") if rep.independent else ("NOT independent", "bold red")
    say(f"{coder_a} vs {coder_b} over {len(rep.sources_compared)} shared source(s): ", verdict)
    for r in rep.reasons:
        say("  - ", r)


def register(app: typer.Typer) -> None:
    """Add this module's commands and sub-apps to the root app."""
    app.add_typer(memo_app, name="memo")
    app.add_typer(blind_app, name="blind")
    for name, fn in (("find", find_cmd), ("tree", tree_cmd), ("segments", segments_cmd), ("reparent", reparent_cmd),
                     ("matrix", matrix_cmd), ("independence", independence_cmd)):
        app.command(name)(fn)
