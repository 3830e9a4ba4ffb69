"""What every page of the workspace shares: the open project (one per folder, cached for the
process), cache keys that change whenever the store changes, the privacy banner, the sidebar, and
turning library errors into one plain sentence. No analysis here: pages call the library. Every
string built from data goes through `app_pages.render` (see there why)."""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import streamlit as st

from app_pages import render
from app_pages.support import (
    fake_embedder_dim,
    project_dir_from,
    remote_notice,
)
from assistant.errors import ThematicError
from assistant.project import DB_NAME, SETTINGS_NAME, Project
from assistant.settings import Settings

T = TypeVar("T")

HERE = Path(__file__).resolve().parent
# absolute paths: the same pages whether the workspace runs from a checkout or an installed wheel
PAGES = {
    "corpus": str(HERE / "corpus.py"),
    "code": str(HERE / "coding.py"),
    "codes": str(HERE / "codes.py"),
    "find": str(HERE / "find.py"),
    "memos": str(HERE / "memos.py"),
    "matrix": str(HERE / "matrix.py"),
    "quotes": str(HERE / "quotes.py"),
    "themes": str(HERE / "themes.py"),
    "ask": str(HERE / "ask.py"),
    "agreement": str(HERE / "agreement.py"),
    "settings": str(HERE / "settings.py"),
    "adjudicate": str(HERE / "adjudicate.py"),
    "validate": str(HERE / "validate.py"),
}


# -- the project ------------------------------------------------------------------------------------
@st.cache_resource(show_spinner="Opening the project…")
def _open(folder: str) -> Project:
    """One Project per folder for the whole server: the embedding model inside it is the slow
    part, and SQLite in WAL mode is happy to be shared by every session's thread."""
    project = Project.open(folder)
    dim = fake_embedder_dim()
    if dim:  # tests only, see assistant.ui_support.fake_embedder_dim
        from index.embeddings import HashingEmbedder

        project.set_embedder(HashingEmbedder(dim))
    project._ui_settings_mtime = _mtime(project)  # type: ignore[attr-defined]
    from app_pages.warmup import start_model_warmup

    start_model_warmup(project)  # the embedding model loads in the background once the first page is drawn
    return project


def _mtime(project: Project) -> float:
    path = project.folder / SETTINGS_NAME
    return path.stat().st_mtime if path.exists() else 0.0


def project_folder() -> tuple[Path, bool]:
    if "project_dir" in st.session_state:
        return Path(st.session_state["project_dir"]), False
    return project_dir_from(sys.argv[1:], os.environ)


def open_project() -> Project:
    """The session's project; builds the demo the first time when no project was named."""
    folder, is_demo = project_folder()
    folder = folder.expanduser().resolve()
    if not (folder / DB_NAME).exists():
        if is_demo:
            _build_demo(folder)
        else:
            _no_project(folder)
    project = _open(str(folder))
    if _mtime(project) != getattr(project, "_ui_settings_mtime", None):  # changed by the CLI or another tab
        project.settings = Settings.load(project.folder / SETTINGS_NAME)
        project._ui_settings_mtime = _mtime(project)  # type: ignore[attr-defined]
    from app_pages import signin

    project = signin.gate(project)  # a team project: as the signed-in person (unchanged without users)
    render.use_display_names(_display_names(str(project.folder), version(project),
                                            bool(project.settings.privacy.pseudonymise_display)))
    return project


@st.cache_resource(max_entries=8, show_spinner=False)
def _display_names(folder: str, version: int, on: bool) -> Any:
    """Real name -> pseudonym for this store version (rebuilt after any write, e.g. an ingest)."""
    from assistant.writing.attribution import display_names

    return display_names(_open(folder), on=on)


def _build_demo(folder: Path) -> None:
    from assistant.demo import build_demo

    with st.status("Building the demo project (first start only)…", expanded=True) as status:
        bar = st.progress(0.0)

        def stage(label: str) -> Callable[[int, int], None]:
            def progress(done: int, total: int) -> None:
                bar.progress(done / total if total else 1.0, text=f"{label}: {done}/{total}")
            return progress

        try:
            emb = None
            if fake_embedder_dim():
                from index.embeddings import HashingEmbedder

                emb = HashingEmbedder(fake_embedder_dim() or 64)
            build_demo(folder, progress=stage, embedder=emb).close()
        except Exception as exc:  # noqa: BLE001 - shown in plain words, the page cannot go on
            status.update(label="Could not build the demo project", state="error")
            st.error(render.md(f"Building the demo project in {folder} failed: {exc}"))
            st.stop()
        status.update(label="Demo project ready", state="complete")


def _no_project(folder: Path) -> None:
    st.title("Open a project")
    st.warning(render.label(f"{folder} is not a thematic project yet."))
    if st.button(render.label(f"Create a new project in {folder}"), type="primary"):
        run(lambda: Project.init(folder).close(), "Creating the project")
        st.rerun()
    project_chooser()
    st.stop()


def project_chooser() -> None:
    """Open another project folder (or create one) for this browser session."""
    with st.form("choose_project"):
        path = st.text_input("Project folder", placeholder="/path/to/project")
        create = st.checkbox("Create it if it is not a project yet")
        if st.form_submit_button("Open"):
            folder = Path(path).expanduser().resolve()
            if not (folder / DB_NAME).exists():
                if not create:
                    st.error(render.label(f"{folder} is not a thematic project (no {DB_NAME}); "
                                          "tick 'Create' to make one."))
                    return
                if not run(lambda: Project.init(folder).close(), "Creating the project"):
                    return
            st.session_state["project_dir"] = str(folder)
            st.rerun()


def version(project: Project) -> int:
    """Changes whenever anything is written (every write is audited): the key for cached views."""
    return project.store.last_audit_id()


# -- errors -----------------------------------------------------------------------------------------
def run(fn: Callable[[], T], what: str) -> T | None:
    """Call the library; a failure becomes one plain sentence naming what failed, not a traceback."""
    try:
        return fn()
    except ThematicError as exc:  # messages quote names and text from the data: shown as text
        st.error(render.md(f"{render.name(what)} failed: {exc}"))  # what: our words and names (masked); exc: as said
    except Exception as exc:  # noqa: BLE001 - unexpected: say so, keep the detail folded away
        st.error(render.md(f"{render.name(what)} failed unexpectedly: {type(exc).__name__}: {exc}"))
        with st.expander("Technical detail"):
            st.code(traceback.format_exc())
    return None


def flash(message: str, icon: str = ":material/check_circle:") -> None:
    """A toast that survives the rerun that follows an action. `message` is plain text (it names
    codes, sources and files): it is shown as written."""
    st.session_state.setdefault("_flash", []).append((message, icon))


def show_flash() -> None:
    for message, icon in st.session_state.pop("_flash", []):
        st.toast(render.label(message), icon=icon)


# -- chrome -----------------------------------------------------------------------------------------
_CSS = """<style>
[data-testid="stMainBlockContainer"] {padding-top: 2.2rem; padding-bottom: 3rem; max-width: 1500px;}
[data-testid="stSidebarUserContent"] {padding-top: 0.5rem;}
h2 {padding-top: 0.25rem !important;}
[data-testid="stPageLink"] p {font-size: 0.9rem;}
[data-testid="stPageLink"] a, [data-testid="stPageLink"] a * {white-space: normal !important; overflow: visible !important;
  text-overflow: clip !important; height: auto !important;}
@media print {[data-testid="stSidebar"], [data-testid="stHeader"] {display: none !important;}
  [data-testid="stMainBlockContainer"] {max-width: none !important; padding: 0 !important;}}
</style>"""


def style() -> None:
    """A little CSS for a denser, calmer analysis layout than Streamlit's defaults."""
    st.html(_CSS)


def remote_banner(project: Project) -> None:
    notice = remote_notice(project.settings.llm)
    if notice:
        level, text = notice
        (st.warning if level == "warning" else st.info)(render.label(text), icon=":material/public:" if level == "warning" else ":material/lock:")


def engine_label(project: Project) -> str:
    llm = project.settings.llm
    if llm.provider == "none":
        return "offline engine (on this machine)"
    where = "remote" if llm.is_remote else "local"
    return f"{llm.provider} · {llm.model or '?'} ({where})"


def sidebar(project: Project) -> None:
    counts = project.store.counts()
    with st.sidebar:
        st.markdown(f"### :material/folder_open: {render.label(project.folder.name)}")
        render.caption(project.folder)
        st.markdown(
            f"**{counts['sources']}** sources · **{counts['excerpts']}** excerpts  \n"
            f"**{counts['codes']}** codes · **{counts['codings']}** codings  \n"
            f"**{counts['suggestions_pending']}** suggestions to review  \n"
            f"**{counts['themes']}** themes · **{len(project.store.list_basket())}** quotes in basket"
        )
        orphaned = counts.get("codings_orphaned", 0)
        if orphaned:
            page_link("corpus", f"{orphaned} orphaned coding{'s' if orphaned != 1 else ''} to review",
                      {"orphans": "all"}, ":material/link_off:")
        render.caption(f"Analyst: {project.analyst} · AI: {engine_label(project)}")
        display_switch(project)
        if project.needs_analyst_name():
            analyst_prompt(project)


def display_switch(project: Project) -> None:
    """Pseudonymised display, on by default for a new project: speakers, participants and
    attributions shown by pseudonym on every page. Saved through
    `Project.set_display_pseudonymised` (audited); the widget's key follows the saved value, so a
    refused change (a coder may not reveal names) springs back."""
    on = bool(project.settings.privacy.pseudonymise_display)
    key = f"pseudonymise_display_{int(on)}"

    def _switch() -> None:
        wanted = bool(st.session_state.get(key))
        saved = run(lambda: project.set_display_pseudonymised(wanted), "Switching pseudonymised display")
        if saved is None:
            st.session_state[key] = on
            return
        project._ui_settings_mtime = _mtime(project)  # type: ignore[attr-defined]
        flash("Pseudonymised display on: real names are hidden" if saved else "Real names are shown")

    st.toggle("Pseudonymised display", value=on, key=key, on_change=_switch,
              help="On: speakers, participants, attributions and source names are shown by pseudonym "
                   "(Participant 3) on every page. Quoted text stays verbatim, so a name spoken inside a "
                   "quote is still shown. Display only: stored text, offsets and exports are unchanged.")
    render.caption("Pseudonymised display: on · names in labels are pseudonyms; quotes are verbatim" if on
                   else "Pseudonymised display: off · real names are shown")


def analyst_prompt(project: Project) -> None:
    """Ask who is working before their decisions are recorded under a login name ("root") that
    names nobody. Saved through `Project.set_analyst`, which writes the audit row."""
    with st.form("analyst_name", border=True):
        st.markdown("**Who is working?**")
        render.caption(f"Until you say, your decisions are recorded as {project.analyst or '(nobody)'}, "
                       "this computer's login name.")
        name = st.text_input("Your name (recorded in the audit log)", key="analyst_name_input",
                             placeholder=project.analyst)
        if st.form_submit_button("Save my name", type="primary"):
            saved = run(lambda: project.set_analyst(name), "Saving your name")
            if saved is not None:
                project._ui_settings_mtime = _mtime(project)  # type: ignore[attr-defined]
                flash(f"Your decisions are recorded as {saved}")
                st.rerun()


def chips(items: list[tuple[str, str]]) -> None:
    render.chips(items)


def ai_caption(engine: str, model: str, score: float | None = None) -> str:
    """Markdown for a caption: our icon, then the engine and model (data, escaped)."""
    bits = [f"{engine} engine" + (f" · {model}" if model else "")]
    if score is not None:
        bits.append(f"score {score:.2f}")
    return ":material/smart_toy: AI suggestion · " + render.label(" · ".join(bits))


def heading(title: str, subtitle: str | None = None) -> None:
    st.header(title, anchor=False)
    if subtitle:
        st.caption(subtitle)


def page_link(key: str, label: str, query: dict[str, Any] | None = None, icon: str | None = None) -> None:
    """A link to another page; `label` is plain text (it usually names a source or quotes it)."""
    st.page_link(PAGES[key], label=render.label(label), query_params={k: str(v) for k, v in (query or {}).items()},
                 icon=icon)
