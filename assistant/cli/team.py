"""Team commands: the project's users and roles, blind double-coding assignments, adjudication
of disagreements, and merging another analyst's .qdpx or project folder.

The command line acts as the project's analyst (settings, or THEMATIC_ANALYST): when that name is
a user of the project their role applies; otherwise the person at the terminal is the project's
owner (whoever can open the database can change it anyway). Passwords are read from a hidden
prompt with confirmation, or from standard input with `--password-stdin`, never from an argument
(arguments are visible to every user of the machine and kept in shell history)."""

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

users_app = typer.Typer(help="The project's team: add, list, remove users, change roles.", no_args_is_help=True)
assign_app = typer.Typer(help="Blind double coding: assign sources to coders, mark done, agreement.",
                         no_args_is_help=True)
adjudicate_app = typer.Typer(help="Decide the disagreements of a double-coded assignment.", no_args_is_help=True)

PasswordStdin = Annotated[bool, typer.Option("--password-stdin", help="Read the password from standard input.")]


def _password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        return line.rstrip("\r\n")
    return typer.prompt("Password", hide_input=True, confirmation_prompt=True)


# --- users -------------------------------------------------------------------------------------------


@users_app.command("add")
def users_add(name: str, role: Annotated[str, typer.Option(help="lead, coder or viewer.")] = "coder",
              password_stdin: PasswordStdin = False, project: ProjectOpt = None) -> None:
    """Add a user (the first one becomes the lead)."""
    from assistant.people.users import add_user

    password = _password(password_stdin)
    with open_project(project) as p:
        user = add_user(p, name, password, role, actor=p.analyst)
    console.print(f"added {user.name} as {user.role}")


@users_app.command("list")
def users_list(project: ProjectOpt = None, json_out: JsonOpt = False,
               removed: Annotated[bool, typer.Option("--removed", help="Include removed users.")] = False) -> None:
    """The users and their roles."""
    from assistant.people.users import list_users

    with open_project(project) as p:
        rows = list_users(p, include_removed=removed)
    if json_out:
        print_json(rows)
        return
    if not rows:
        console.print("no users: this project is one analyst's, with no sign-in")
        return
    table = Table("name", "role", "active", "since")
    for u in rows:
        table.add_row(u.name, u.role, "yes" if u.active else "removed", u.created_at[:10])
    console.print(table)


@users_app.command("remove")
def users_remove(name: str, project: ProjectOpt = None) -> None:
    """Remove a user: they can no longer sign in; their codings and audit rows stay."""
    from assistant.people.users import remove_user

    with open_project(project) as p:
        remove_user(p, name, actor=p.analyst)
    console.print(f"removed {name}")


@users_app.command("role")
def users_role(name: str, role: str, project: ProjectOpt = None) -> None:
    """Change a user's role (lead, coder or viewer)."""
    from assistant.people.users import set_role

    with open_project(project) as p:
        user = set_role(p, name, role, actor=p.analyst)
    console.print(f"{user.name} is now {user.role}")


@users_app.command("password")
def users_password(name: str, password_stdin: PasswordStdin = False, project: ProjectOpt = None) -> None:
    """Set a user's password (their open sessions end)."""
    from assistant.people.users import set_password

    password = _password(password_stdin)
    with open_project(project) as p:
        set_password(p, name, password, actor=p.analyst)
    console.print(f"password changed for {name}")


# --- assignments -----------------------------------------------------------------------------------


def _print_assignment(a) -> None:
    state = "closed" if a.status == "closed" else ("done" if a.all_done else "waiting for " + ", ".join(a.waiting_for))
    console.print(f"assignment {a.id} {a.name!r}: {len(a.source_ids)} sources to {', '.join(a.coders)}; "
                  f"AI suggestions {'hidden' if a.hide_ai else 'shown'}; {state}")


@assign_app.command("create")
def assign_create(
    coders: Annotated[list[str], typer.Argument(help="Two or more coders.")],
    source: Annotated[list[str] | None, typer.Option("--source", "-s", help="A source (repeatable).")] = None,
    filters: FilterOpt = None,
    sample: Annotated[float | None, typer.Option(help="How many sources (e.g. 4) or what share (e.g. 0.2).")] = None,
    by: Annotated[str | None, typer.Option(help="Stratify the sample by this attribute (e.g. sector, kind).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the sample (the same seed draws the same sources).")] = 0,
    show_ai: Annotated[bool, typer.Option("--show-ai", help="Let the coders see AI suggestions.")] = False,
    name: Annotated[str, typer.Option(help="A name for the assignment.")] = "",
    project: ProjectOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Assign sources (all, named, filtered, or a stratified sample) to coders to code blind."""
    from assistant.coding.assignments import assign

    size: int | float | None = None
    if sample is not None:
        size = int(sample) if sample >= 1 and float(sample).is_integer() else float(sample)
    with open_project(project) as p:
        a = assign(p, coders, source or None, filters=parse_filters(filters) or None, sample=size, by=by,
                   seed=seed, hide_ai=not show_ai, name=name, actor=p.analyst)
    if json_out:
        print_json(a)
        return
    _print_assignment(a)
    console.print("sources: " + ", ".join(a.sources))


@assign_app.command("list")
def assign_list(coder: Annotated[str | None, typer.Option(help="Only this coder's.")] = None,
                project: ProjectOpt = None, json_out: JsonOpt = False) -> None:
    """Assignments and who is still coding."""
    from assistant.coding.assignments import list_assignments

    with open_project(project) as p:
        rows = list_assignments(p, coder=coder)
    if json_out:
        print_json(rows)
        return
    if not rows:
        console.print("no assignments yet (thematic assign create CODER CODER ...)")
    for a in rows:
        _print_assignment(a)


@assign_app.command("done")
def assign_done(assignment: int, coder: Annotated[str | None, typer.Option(help="Whose (default: you).")] = None,
                undo: Annotated[bool, typer.Option("--undo", help="Not done after all.")] = False,
                project: ProjectOpt = None) -> None:
    """Mark your part of an assignment done; when everyone is, blind coding ends."""
    from assistant.coding.assignments import mark_done

    with open_project(project) as p:
        a = mark_done(p, assignment, coder, done=not undo, actor=p.analyst)
    _print_assignment(a)


def _num(v: float | None) -> str:
    return "—" if v is None else f"{v:.2f}"


@assign_app.command("agreement")
def assign_agreement(assignment: int, early: Annotated[bool, typer.Option(help="Before everyone is done.")] = False,
                     project: ProjectOpt = None, json_out: JsonOpt = False) -> None:
    """Agreement per code (kappa, Krippendorff's alpha, Gwet's AC1) between the assignment's coders."""
    from assistant.coding.assignments import assignment_agreement

    with open_project(project) as p:
        reports = assignment_agreement(p, assignment, early=early)
    if json_out:
        print_json(reports)
        return
    for r in reports:
        console.print(f"{r.coder_a} vs {r.coder_b}: {r.excerpts_compared} excerpts compared")
        table = Table("code", "units", "A", "B", "both", "kappa", "alpha", "AC1")
        for row in [*r.per_code, r.overall]:
            table.add_row(row.code, str(row.units), str(row.a_applied), str(row.b_applied), str(row.both),
                          _num(row.kappa), _num(row.alpha), _num(row.ac1))
        console.print(table)


# --- adjudication ----------------------------------------------------------------------------------


@adjudicate_app.command("list")
def adjudicate_list(assignment: int, undecided: Annotated[bool, typer.Option(help="Only undecided ones.")] = False,
                    project: ProjectOpt = None, json_out: JsonOpt = False) -> None:
    """The disagreements of an assignment, each with its key, and the decision if made."""
    from assistant.coding.adjudication import queue

    with open_project(project) as p:
        items = queue(p, assignment, undecided_only=undecided)
    if json_out:
        print_json(items)
        return
    if not items:
        console.print("no disagreements" + (" left to decide" if undecided else ""))
        return
    table = Table("key", "source", "code", "applied by", "not by", "excerpt", "decision")
    for i in items:
        table.add_row(i.key, i.source, i.code, ", ".join(i.applied_by), ", ".join(i.not_applied_by), i.preview[:80],
                      i.decision or "")
    console.print(table)


@adjudicate_app.command("decide")
def adjudicate_decide(
    assignment: int, key: str,
    decision: Annotated[str, typer.Argument(help="keep_a, keep_b, keep (with --coder), both, neither or edit.")],
    coder: Annotated[str | None, typer.Option(help="For keep: whose codings.")] = None,
    start: Annotated[int | None, typer.Option(help="For edit: span start.")] = None,
    end: Annotated[int | None, typer.Option(help="For edit: span end.")] = None,
    code: Annotated[str | None, typer.Option(help="For edit: another code.")] = None,
    new_code: Annotated[str | None, typer.Option(help="For edit: a new code to add and apply.")] = None,
    note: Annotated[str, typer.Option(help="Why (kept in the audit log).")] = "",
    project: ProjectOpt = None,
) -> None:
    """Decide one disagreement; the decision becomes the consensus coder's codings."""
    from assistant.coding.adjudication import decide

    with open_project(project) as p:
        item = decide(p, assignment, key, decision, coder=coder, start=start, end=end, code=code,  # type: ignore[arg-type]
                      new_code=new_code, note=note, actor=p.analyst)
    console.print(f"{item.key}: {item.decision} ({len(item.consensus_coding_ids)} consensus coding(s), "
                  f"codebook version {item.codebook_version})")


@adjudicate_app.command("agreed")
def adjudicate_agreed(assignment: int, project: ProjectOpt = None) -> None:
    """Copy what every coder agreed on to the consensus coder (once)."""
    from assistant.coding.adjudication import adopt_agreements

    with open_project(project) as p:
        ids = adopt_agreements(p, assignment, actor=p.analyst)
    console.print(f"{len(ids)} agreed coding(s) copied to the consensus coder")


# --- merge -------------------------------------------------------------------------------------------


def merge_cmd(
    file: Annotated[Path, typer.Argument(help="A .qdpx file or another thematic project folder.")],
    preview: Annotated[bool, typer.Option("--preview", help="Show where everything goes; write nothing.")] = False,
    maps: Annotated[list[str] | None, typer.Option("--map", help="coder:OLD=NEW or code:OLD=NEW (repeatable).")] = None,
    project: ProjectOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Merge another analyst's .qdpx or project: coders and codes mapped explicitly, nothing dropped silently."""
    from assistant.exchange.merge import apply_merge, parse_maps, plan_merge, read_input

    with handle_errors():
        coder_map, code_map = parse_maps(maps)
    with open_project(project) as p:
        inp = read_input(file)
        if preview:
            plan = plan_merge(p, inp, coder_map, code_map)
            if json_out:
                print_json(plan)
                return
            table = Table("kind", "item", "action", "goes to", "why")
            for r in plan.rows:
                table.add_row(r.kind, r.what, r.action, r.to, r.reason)
            console.print(table)
            for w in plan.warnings:
                say(("warning:", "yellow"), " ", w, err=True)
            counts = plan.counts()
            console.print("; ".join(f"{k}: " + ", ".join(f"{n} {a}" for a, n in sorted(v.items()))
                                    for k, v in sorted(counts.items())))
            return
        report = apply_merge(p, inp, coder_map, code_map, actor=p.analyst)
    if json_out:
        print_json(report)
        return
    console.print(f"merged {file.name}: " + ", ".join(f"{n} {k}" for k, n in report.added.items()) + " added")
    for r in report.unplaceable:
        say(("not placed:", "yellow"), " ", f"{r.kind} {r.what}: {r.reason}", err=True)


def register(app: typer.Typer) -> None:
    app.add_typer(users_app, name="users")
    app.add_typer(assign_app, name="assign")
    app.add_typer(adjudicate_app, name="adjudicate")
    app.command("merge")(merge_cmd)
