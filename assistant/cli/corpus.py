"""Project and corpus commands: init, ingest, sources, show, remove, status, demo."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from assistant.cli.common import (
    JsonOpt,
    ProjectOpt,
    Table,
    console,
    err_console,
    handle_errors,
    open_project,
    print_json,
    project_dir,
    say,
)
from assistant.cli.store import (
    AppRoleOpt,
    DatabaseOpt,
    PasswordEnvOpt,
    database_settings,
)

if TYPE_CHECKING:  # the library is imported inside each command, so `thematic --help` stays fast
    from assistant.coding.orphans import Orphan
    from assistant.corpus.ingest import IngestPlan, IngestReport
    from assistant.project import Project


def progress_bar() -> Progress:
    """One look for every long job: what, how far, rate-derived ETA."""
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        TextColumn("eta"), TimeRemainingColumn(), console=err_console, transient=False,
    )


def progress_callback(bar: Progress, description: str):
    task = bar.add_task(description, total=None)

    def update(done: int, total: int) -> None:
        bar.update(task, completed=done, total=total)

    return update


@contextmanager
def progress_when_needed(description: str) -> Iterator[Callable[[int, int], None]]:
    """A progress callback whose bar appears only once work reports progress: the index check
    before a search is usually instant, but a rebuild it triggers must not be silent."""
    bar: Progress | None = None
    task = None

    def update(done: int, total: int) -> None:
        nonlocal bar, task
        if bar is None:
            bar = progress_bar()
            bar.start()
            task = bar.add_task(description, total=total)
        bar.update(task, completed=done, total=total)

    try:
        yield update
    finally:
        if bar is not None:
            bar.stop()


def notice(message: str) -> None:
    """One line on stderr for the analyst (e.g. waiting for another process), printed as text."""
    say(message, err=True)


def init(
    folder: Annotated[Path, typer.Argument(help="Folder for the new project.")] = Path("."),
    analyst: Annotated[str | None, typer.Option(help="Your name, recorded on every decision.")] = None,
    database: DatabaseOpt = None,
    password_env: PasswordEnvOpt = None,
    app_role: AppRoleOpt = None,
) -> None:
    """Create a project in FOLDER (private to you: mode 700); with --database, its store is on a
    PostgreSQL server (a database that already holds the team's project is joined)."""
    with handle_errors():
        settings = None
        if database or password_env or app_role:
            from assistant.settings import Settings

            settings = Settings(database=database_settings(database, password_env))
        from assistant.project import Project

        project = Project.init(folder, settings=settings)
        if analyst:
            project.settings.analyst = analyst
            project.save_settings()
        if app_role:
            project.grant_app_role(app_role)
        where = f", store: {project.store.url}" if project.settings.database.url else ""
        console.print(f"Created project in {project.folder} (analyst: {project.analyst}{where})")
        project.close()


def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders to ingest.")],
    project: ProjectOpt = None,
    kind: Annotated[str | None, typer.Option(help="interview, document, survey, field_notes")] = None,
    meta: Annotated[Path | None, typer.Option(help="Sidecar metadata.csv: one row per file.")] = None,
    attr: Annotated[list[str] | None, typer.Option("--attr", help="KEY=VALUE attribute for every file.")] = None,
    text_column: Annotated[str | None, typer.Option(help="CSV/XLSX: column with the answer text.")] = None,
    id_column: Annotated[str | None, typer.Option(help="CSV/XLSX: column identifying the respondent.")] = None,
    attr_columns: Annotated[str | None, typer.Option(help="CSV/XLSX: comma-separated attribute columns.")] = None,
    question_column: Annotated[str | None, typer.Option(help="CSV/XLSX (long format): question column.")] = None,
    csv_delimiter: Annotated[str | None, typer.Option(help="CSV: the delimiter (one character, or 'tab'); default: comma, RFC 4180.")] = None,
    csv_dialect: Annotated[str | None, typer.Option(help="CSV: excel, excel-tab or unix.")] = None,
    no_index: Annotated[bool, typer.Option("--no-index", help="Skip embedding/indexing (do it later with `thematic reindex`).")] = False,
    rows_as: Annotated[str | None, typer.Option("--rows-as", help="CSV/XLSX: stream the table a block of rows at a time, "
                                                "storing each answer as a source ('sources') or as an excerpt of "
                                                "one source per block ('excerpts', the default for large files).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only say what would happen (to codings too); change nothing.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Read files into the project; unchanged files are skipped, changed ones replaced (earlier
    versions are kept; codings are re-anchored or kept as orphaned, never removed)."""
    from index.readers import ReadOptions

    attributes = dict(a.split("=", 1) for a in attr or [] if "=" in a)
    with open_project(project) as proj:
        options = ReadOptions(
            max_file_mb=proj.settings.ingest.max_file_mb, max_member_mb=proj.settings.ingest.max_member_mb,
            max_unpacked_mb=proj.settings.ingest.max_unpacked_mb,
            max_unpack_ratio=proj.settings.ingest.max_unpack_ratio, id_column=id_column, text_column=text_column,
            attr_columns=[c.strip() for c in (attr_columns or "").split(",") if c.strip()],
            question_column=question_column, csv_delimiter=csv_delimiter, csv_dialect=csv_dialect,
        )
        if dry_run:
            from assistant.corpus.ingest import plan_ingest

            plan = plan_ingest(proj, paths, kind=kind, meta=meta, attributes=attributes, read_options=options)
            _print_plan(plan, json_out)
            if plan.count("failed"):
                raise typer.Exit(2)
            return
        with progress_bar() as bar:
            from assistant.corpus.survey import ingest_with_tables

            report = ingest_with_tables(
                proj, paths, kind=kind, meta=meta, attributes=attributes, read_options=options,
                progress=progress_callback(bar, "reading"), index=not no_index,
                index_progress=progress_callback(bar, "embedding"), index_notify=notice, rows_as=rows_as,
            )
    _print_ingest(report, json_out)
    if not report.ok:
        raise typer.Exit(2)
    if report.index_error:
        raise typer.Exit(1)


def _print_ingest(report: IngestReport, json_out: bool) -> None:
    if json_out:
        print_json({"results": report.results, "index": report.index, "index_error": report.index_error})
        return
    for r in report.results:
        if r.status == "failed":
            say(("failed", "red"), " ", str(r.error), err=True)
        else:
            console.print(f"{r.status:>10}  {r.path}  ({r.excerpts} excerpts)", highlight=False, soft_wrap=True)
        for note in r.notes:
            console.print(f"            {note}", highlight=False, soft_wrap=True)
    counts = {s: report.count(s) for s in ("added", "updated", "unchanged", "attributes", "failed")}
    console.print(", ".join(f"{n} {s}" for s, n in counts.items() if n) or "nothing to ingest")
    if report.index and any(report.index.values()):
        i = report.index
        console.print(f"index: {i['added']} added, {i['changed']} changed, {i['removed']} removed, "
                      f"{i['embedded']} embedded")
    if report.index_error:
        say(("error:", "red"), " ", report.index_error, err=True)


def _print_plan(plan: IngestPlan, json_out: bool) -> None:
    """The dry run: per file what would happen, per changed source where each coding would go."""
    if json_out:
        print_json({"dry_run": True, "files": plan.files, "codings": plan.outcomes()})
        return
    for f in plan.files:
        if f.status == "failed":
            say(("would fail", "red"), " ", str(f.error), err=True)
            continue
        console.print(f"would be {f.status:>10}  {f.path}")
        for s in f.sources:
            for ch in s.codings:
                where = (f"-> {ch.start}:{ch.end}" + (f" (words {ch.ratio:.0%} alike)" if ch.outcome == "moved-fuzzy" else "")
                         if ch.outcome != "orphaned" else "(kept, orphaned)")
                console.print(f"            coding {ch.coding_id} {ch.code}: {ch.outcome} "
                              f"{ch.old_start}:{ch.old_end} {where}  {ch.old_text[:60]!r}")
            for note in s.notes:
                console.print(f"            {note}")
    counts = {s: plan.count(s) for s in ("added", "updated", "unchanged", "attributes", "failed")}
    console.print("dry run, nothing changed: " + (", ".join(f"{n} {s}" for s, n in counts.items() if n) or "nothing to ingest"))
    o = plan.outcomes()
    if any(o.values()):
        console.print(f"codings: {o['moved']} would move, {o['moved-fuzzy']} move by their words, "
                      f"{o['orphaned']} be kept as orphaned")


def sources(project: ProjectOpt = None, json_out: JsonOpt = False) -> None:
    """List the project's sources with their attributes."""
    with open_project(project) as proj:
        items = proj.store.list_sources()
        n_excerpts = {}
        for e in proj.store.list_excerpts():
            n_excerpts[e.source_id] = n_excerpts.get(e.source_id, 0) + 1
    if json_out:
        print_json([{**s.model_dump(exclude={"text"}), "excerpts": n_excerpts.get(s.id, 0)} for s in items])
        return
    table = Table("id", "name", "kind", "excerpts", "attributes")
    for s in items:
        attrs = ", ".join(f"{k}={v}" for k, v in s.attributes.items())
        table.add_row(str(s.id), s.name, s.kind, str(n_excerpts.get(s.id, 0)), attrs)
    console.print(table)


def show(
    source: Annotated[str, typer.Argument(help="Source id or name.")],
    project: ProjectOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Show a source's excerpts with speakers and offsets."""
    with open_project(project) as proj:
        src = proj.store.get_source(source)
        excerpts = proj.store.list_excerpts(source_id=src.id)
    if json_out:
        print_json({"source": src.model_dump(exclude={"text"}), "text": src.text, "excerpts": excerpts})
        return
    say((src.name, "bold"), f" ({src.kind}) {src.attributes}")
    for e in excerpts:
        who = e.speaker or (f"p.{e.page}" if e.page else "")
        line = f"#{e.id} [{e.start}:{e.end}] {who}: {e.text}"
        say((line, "dim") if e.is_interviewer else line)


def remove(
    source: Annotated[str, typer.Argument(help="Source id or name.")],
    project: ProjectOpt = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Remove a source and its excerpts, suggestions and codings (reported, and audited)."""
    with open_project(project) as proj:
        src = proj.store.get_source(source)
        deps = proj.store.source_dependents(int(src.id))  # type: ignore[arg-type]
        if not yes and not typer.confirm(
            f"Remove {src.name} with {deps['excerpts']} excerpts, {deps['codings']} codings, "
            f"{deps['suggestions']} suggestions?"
        ):
            raise typer.Exit(1)
        from assistant.corpus.ingest import remove_source

        result = remove_source(proj, int(src.id))  # type: ignore[arg-type]
        from assistant.corpus.search import sync_index

        if proj.index_dir.exists():
            sync_index(proj, notify=notice)
    console.print(f"Removed {result['source']}: {result['excerpts']} excerpts, {result['codings']} codings, "
                  f"{result['suggestions']} suggestions")


def status(project: ProjectOpt = None, json_out: JsonOpt = False) -> None:
    """What the project holds, and what still needs the analyst."""
    with open_project(project) as proj:
        data = {"project": str(proj.folder), "analyst": proj.analyst, **proj.store.counts(),
                "llm": {"provider": proj.settings.llm.provider, "model": proj.settings.llm.model,
                        "remote": proj.settings.llm.is_remote},
                "embedding_model": proj.settings.search.embedding.model}
        from assistant.coding.orphans import list_orphans

        orphans = list_orphans(proj, suggest=False)
    if json_out:
        print_json({**data, "orphaned_codings": orphans})
        return
    for key, value in data.items():
        console.print(f"{key:>20}: {value}", highlight=False)
    if orphans:
        console.print(f"{len(orphans)} orphaned codings need you (a re-ingest could not place them; "
                      "`thematic orphans list` to re-attach or dismiss):")
        for o in orphans:
            _print_orphan(o)


def _print_orphan(o: Orphan) -> None:
    console.print(f"  coding {o.coding_id}  {o.source} v{o.source_version} {o.start}:{o.end}  {o.code}  ({o.coder})")
    console.print(f"      {o.text}")
    if o.suggestion:
        s, e, text, ratio = o.suggestion
        console.print(f"      closest now (v{o.current_version}, words {ratio:.0%} alike): {s}:{e}  {text}")


def orphans_list(source: Annotated[str | None, typer.Option(help="Only this source (id or name).")] = None,
                 project: ProjectOpt = None, json_out: JsonOpt = False) -> None:
    """Codings a re-ingest could not place, with their old text and the closest span of the new text."""
    with open_project(project) as proj:
        from assistant.coding.orphans import list_orphans

        items = list_orphans(proj, source)
    if json_out:
        print_json(items)
        return
    if not items:
        console.print("no orphaned codings")
    for o in items:
        _print_orphan(o)


def orphans_reattach(coding_id: int, start: int, end: int,
                     note: Annotated[str, typer.Option(help="Why (kept in the audit log).")] = "",
                     project: ProjectOpt = None, json_out: JsonOpt = False) -> None:
    """Put an orphaned coding on START:END of the source's current text (snapped to whole words)."""
    with open_project(project) as proj:
        from assistant.coding.orphans import reattach

        coding = reattach(proj, coding_id, start, end, note=note)
    if json_out:
        print_json(coding)
        return
    console.print(f"coding {coding.id} re-attached at {coding.start}:{coding.end}:")
    console.print(f"      {coding.text}")


def orphans_dismiss(coding_id: int, note: Annotated[str, typer.Option(help="Why (kept in the audit log).")] = "",
                    project: ProjectOpt = None, json_out: JsonOpt = False) -> None:
    """Say an orphaned coding no longer applies (it stays in the store and the log, dismissed)."""
    with open_project(project) as proj:
        from assistant.coding.orphans import dismiss

        coding = dismiss(proj, coding_id, note=note)
    if json_out:
        print_json(coding)
        return
    console.print(f"coding {coding.id} dismissed")


def demo(
    folder: Annotated[Path, typer.Argument(help="Where to build the demo project.")] = Path("demo-project"),
    rebuild: Annotated[bool, typer.Option(help="Delete and rebuild if it exists.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Build the bundled demo project (a key-informant study of a city's health inequalities)."""
    from assistant.demo import build_demo

    with handle_errors(), progress_bar() as bar:
        project = build_demo(folder, rebuild=rebuild, progress=lambda stage: progress_callback(bar, stage))
    with project:
        data = {"project": str(project.folder), **project.store.counts(),
                "sources_by_kind": _by_kind(project)}
    if json_out:
        print_json(data)
        return
    console.print(f"Demo project ready in {data['project']}")
    console.print(f"  {data['sources']} sources ({', '.join(f'{n} {k}' for k, n in data['sources_by_kind'].items())}), "
                  f"{data['excerpts']} excerpts, {data['words']} words")
    console.print(f"  {data['codes']} codes, {data['suggestions_pending']} suggestions waiting for review, "
                  f"{data['codings']} codings")
    console.print(f"  Open it: thematic app --project {data['project']}")


def _by_kind(project: Project) -> dict[str, int]:
    out: dict[str, int] = {}
    for s in project.store.list_sources():
        out[s.kind] = out.get(s.kind, 0) + 1
    return out


def app_cmd(
    project: ProjectOpt = None,
    port: Annotated[int, typer.Option(help="Port for the workspace.")] = 8501,
    host: Annotated[str, typer.Option(help="Address to listen on; 127.0.0.1 keeps it private.")] = "127.0.0.1",
) -> None:
    """Open the Streamlit workspace (listens on 127.0.0.1 unless told otherwise)."""
    from assistant.cli.workspace import check_listen, run_workspace, streamlit_command

    with handle_errors():
        check_listen(project_dir(project).resolve(), host)
    cmd = streamlit_command(project_dir(project).resolve(), host, port)  # works from an installed wheel too
    console.print(f"thematic workspace on http://{host}:{port}")
    raise typer.Exit(run_workspace(cmd))


def register(app: typer.Typer) -> None:
    for fn in (init, ingest, sources, show, remove, status, demo):
        app.command()(fn)
    orphans_app = typer.Typer(help="Codings a re-ingest could not place: list, re-attach, dismiss.",
                              no_args_is_help=True)
    orphans_app.command("list")(orphans_list)
    orphans_app.command("reattach")(orphans_reattach)
    orphans_app.command("dismiss")(orphans_dismiss)
    app.add_typer(orphans_app, name="orphans")
    app.command("app")(app_cmd)
