"""Corpus: add sources (upload or a folder, with metadata.csv), read a source as speaker turns with
its codings in their codes' colours, edit its attributes. Opened with `?source=ID&start=S&end=E`
(citations on the Ask and Quotes pages) it scrolls to and outlines the cited words.

A re-ingest never loses work, and the analyst sees it coming: when an upload would replace a source
that carries codings, the page shows the plan (`plan_ingest`: how many codings move exactly, move
by their words, become orphaned) and ingests only once they confirm. Codings a re-ingest could not
place are listed under "Orphaned codings" with the closest words of the new text, to re-attach or
dismiss (`assistant.coding.orphans`, each an audited decision). `?orphans=all` opens that list for
every source."""

from __future__ import annotations

import tempfile
from pathlib import Path

import streamlit as st

from app_pages import _common as ui
from app_pages import pseudonyms as pz
from app_pages import render
from app_pages.panels import memos_expander
from app_pages.support import (
    around,
    files_digest,
    ingest_messages,
    plan_coding_rows,
    plan_rows,
    plan_signature,
)
from assistant.coding import orphans as orph
from assistant.corpus.attributes import set_attributes
from assistant.models import SOURCE_KINDS, Source

ORPHANS_SHOWN = 30  # per page load; the rest wait their turn (each one searches the text for its words)

project = ui.open_project()
store = project.store
ui.heading("Corpus", "Sources, speaker turns and codings. Add interviews and documents, edit their attributes.")

qp = st.query_params
sources = store.list_sources()
tab_read, tab_add, tab_project = st.tabs(["Read a source", "Add sources", "Project"])


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


# -- orphaned codings -------------------------------------------------------------------------------
@st.cache_data(show_spinner="Looking for the closest words in the current text…", max_entries=16)
def _orphans(folder: str, version: int, source_id: int | None) -> list[orph.Orphan]:
    return orph.list_orphans(ui._open(folder), source_id, suggest=True)


def _reattach(o: orph.Orphan) -> None:
    start, end = o.suggestion[0], o.suggestion[1]  # type: ignore[index]
    done = ui.run(lambda: orph.reattach(project, o.coding_id, start, end,
                                        note="re-attached at the suggested place (workspace)"),
                  f"Re-attaching the {o.code} coding in {o.source}")
    if done is not None:
        ui.flash(f"Re-attached {o.code} in {o.source}: {done.text[:60]}")


def _dismiss(o: orph.Orphan) -> None:
    done = ui.run(lambda: orph.dismiss(project, o.coding_id, note="dismissed in the workspace"),
                  f"Dismissing the {o.code} coding in {o.source}")
    if done is not None:
        ui.flash(f"Dismissed the orphaned {o.code} coding in {o.source}", ":material/link_off:")


def _orphan_card(o: orph.Orphan, text: str, colour: str, many_sources: bool) -> None:
    with st.container(border=True):
        st.html(render.chip_html(o.code, colour))
        where = f"{o.source} · " if many_sources else ""
        render.caption(f"{where}coded by {o.coder} · characters {o.start}–{o.end} of version {o.source_version} "
                       f"(the source is now version {o.current_version})")
        st.markdown("**Its words then**")
        render.quote(o.text, muted=True)
        if o.suggestion is not None:
            s, e, _words, ratio = o.suggestion
            st.markdown(f"**Suggested place in the current text** (characters {s}–{e}, words {ratio:.0%} alike)")
            lo, hi = around(text, s, e)
            body = render.highlight_html(text, lo, hi, [render.Mark(s, e, f"suggested place for {o.code}", colour)],
                                         cited=(s, e), anchor=None)
            st.html('<div style="white-space:pre-wrap;line-height:1.55">' + ("…" if lo > 0 else "") + body
                    + ("…" if hi < len(text) else "") + "</div>")
        else:
            st.caption("No words close enough in the current text: dismiss it, or code the passage again by hand.")
        with st.container(horizontal=True, gap="small"):
            st.button("Re-attach here", key=f"orph_re_{o.coding_id}", on_click=_reattach, args=(o,), type="primary",
                      icon=":material/link:", disabled=o.suggestion is None,
                      help="Put the coding on the suggested words (snapped to whole words, verbatim).")
            st.button("Dismiss", key=f"orph_dis_{o.coding_id}", on_click=_dismiss, args=(o,), icon=":material/link_off:",
                      help="It no longer applies. The coding is kept in the project, marked dismissed.")


def orphan_panel(chosen: int, total: int) -> None:
    """The orphaned codings of the selected source, or of all sources, each with its old words and
    the closest words of the current text, to re-attach or dismiss."""
    with st.container(border=True, key="orphan_panel"):
        st.markdown(f"#### :material/link_off: Orphaned codings ({total})")
        st.caption("Codings a re-ingest could not place in the new text of their source. Nothing was deleted: "
                   "re-attach each one to the suggested words, or dismiss it if it no longer applies. "
                   "Both are recorded in the audit log.")
        scope = st.radio("Orphaned codings of", ["this", "all"], horizontal=True, key="orphan_scope",
                         format_func=lambda x: "this source" if x == "this" else "all sources")
        found = ui.run(lambda: _orphans(str(project.folder), ui.version(project), chosen if scope == "this" else None),
                       "Listing orphaned codings")
        if not found:
            if found is not None:
                st.caption("None in this source.")
            return
        codes_now = {int(c.id): c for c in store.list_codes(include_inactive=True)}  # type: ignore[arg-type]
        texts: dict[int, str] = {}
        many = len({o.source_id for o in found}) > 1 or scope == "all"
        for o in found[:ORPHANS_SHOWN]:
            if o.source_id not in texts:
                texts[o.source_id] = store.get_source(o.source_id).text
            code = codes_now.get(o.code_id)
            _orphan_card(o, texts[o.source_id], code.colour if code else render.NEUTRAL, many)
        if len(found) > ORPHANS_SHOWN:
            st.caption(f"{len(found) - ORPHANS_SHOWN} more: they are shown as you re-attach or dismiss these.")


def _attribute_editor(chosen: int, src: Source) -> None:
    """The attributes of one source as an editable table, and its kind; saved through the library."""
    import pandas as pd

    frame = pd.DataFrame(sorted(src.attributes.items()), columns=["attribute", "value"])
    edited = st.data_editor(frame, num_rows="dynamic", hide_index=True, key=f"attrs_{chosen}",
                            width="stretch", column_config={
                                "attribute": st.column_config.TextColumn(width="small"),
                                "value": st.column_config.TextColumn(width="large")})
    kind = st.selectbox("Kind", SOURCE_KINDS, index=SOURCE_KINDS.index(src.kind) if src.kind in SOURCE_KINDS else 0,
                        key=f"kind_{chosen}")
    if st.button("Save attributes", key=f"save_attrs_{chosen}"):
        attrs = {r["attribute"]: r["value"] for _, r in edited.iterrows()}  # blanks dropped by the library
        changed = ui.run(lambda: set_attributes(project, chosen, attrs, kind), f"Saving attributes of {src.name}")
        if changed is not None:
            ui.flash("Attributes saved" if changed else "Nothing changed")
            st.rerun()


# -- read -------------------------------------------------------------------------------------------
with tab_read:
    if not sources:
        st.info("No sources yet: add some in the **Add sources** tab.")
    else:
        ids = [int(s.id) for s in sources]  # type: ignore[arg-type]
        names = {int(s.id): render.name(f"{s.name} · {s.kind}") for s in sources}  # type: ignore[arg-type]
        wanted = _int(qp.get("source"))
        if wanted in ids and st.session_state.get("_corpus_qp") != wanted:
            st.session_state["corpus_source"] = wanted
            st.session_state["_corpus_qp"] = wanted
        chosen = st.selectbox("Source", ids, format_func=names.get, key="corpus_source")
        src = store.get_source(chosen)
        n_orphans = store.counts().get("codings_orphaned", 0)
        if n_orphans:
            if qp.get("orphans") == "all" and not st.session_state.get("_orphans_qp"):
                st.session_state["orphan_scope"] = "all"
                st.session_state["_orphans_qp"] = True
            orphan_panel(chosen, n_orphans)
        start, end = _int(qp.get("start")), _int(qp.get("end"))
        cited = (start, end) if (wanted == chosen and start is not None and end is not None
                                 and 0 <= start < end <= len(src.text)) else None
        excerpts = store.list_excerpts(source_id=chosen)
        codes = {int(c.id): c for c in store.list_codes(include_inactive=True)}  # type: ignore[arg-type]
        codings = store.list_codings(source_id=chosen)
        left, right = st.columns([7, 3], gap="large")
        with left:
            if cited:
                with st.container(border=True):
                    st.markdown(f":material/push_pin: **Cited words** (characters {start}–{end}), outlined below:")
                    render.quote(src.text[start:end])
            box = st.container(height=640, border=True)
            with box:
                st.html(render.source_html(src, excerpts, render.coding_marks(codings, codes), cited))
            if cited:
                # scroll the source box to the cited words once they are on the page
                st.html("<script>(function(){var n=0;var t=setInterval(function(){var el=document.getElementById('cited');"
                        "if(el){el.scrollIntoView({block:'center'});clearInterval(t);}if(++n>40){clearInterval(t);}},100);})();"
                        "</script>", unsafe_allow_javascript=True)
        with right:
            st.markdown(f"**{render.label(src.name)}**")
            render.caption(f"{src.kind} · {src.format or '?'} · {len(excerpts)} excerpts · version {src.version} · "
                           f"added {src.added_at[:10]}")
            used = {}
            for c in codings:
                if c.code_id in codes:
                    used[c.code_id] = used.get(c.code_id, 0) + 1
            st.markdown("**Codes in this source**")
            if used:
                ui.chips([(f"{codes[k].name} · {n}", codes[k].colour) for k, n in sorted(used.items(), key=lambda x: -x[1])])
            else:
                st.caption("No codings yet. Review suggestions on the Code page.")
            pending = len(store.list_suggestions(status="pending", source_id=chosen))
            if pending:
                ui.page_link("code", f"Review {pending} suggestions for this source", {"source": chosen}, ":material/label:")
            st.markdown("**Attributes**")
            if src.attributes:  # read in full, wrapped (the editor's cells cut long values off)
                st.html('<dl style="margin:0 0 0.4rem 0;font-size:0.9rem;line-height:1.4">' + "".join(
                    f'<dt style="color:#5b6670;font-size:0.8rem">{render.html_text(k)}</dt>'
                    f'<dd style="margin:0 0 0.35rem 0;overflow-wrap:anywhere">{render.html_text(render.name(v))}</dd>'
                    for k, v in sorted(src.attributes.items())) + "</dl>")
            else:
                st.caption("No attributes yet.")
            # drawn only while open (on_change="rerun"): the table editor needs pandas and Arrow, seconds
            # to import on a cold start, and the first page shows without waiting for them
            editor = st.expander("Edit attributes and kind", key=f"attrs_open_{chosen}", on_change="rerun")
            if editor.open:
                with editor:
                    _attribute_editor(chosen, src)
            memos_expander(project, "source", chosen, f"source {src.name}", key=f"src_{chosen}")


# -- add --------------------------------------------------------------------------------------------
def _ingest(paths: list[Path], meta: Path | None, kind: str | None) -> None:
    from assistant.corpus.ingest import ingest_paths

    bar = st.progress(0.0, text="Reading files…")
    ibar = st.progress(0.0, text="Indexing for search…")

    def prog(done: int, total: int) -> None:
        bar.progress(done / total if total else 1.0, text=f"Reading files: {done}/{total}")

    def iprog(done: int, total: int) -> None:
        ibar.progress(done / total if total else 1.0, text=f"Indexing for search: {done}/{total}")

    report = ui.run(lambda: ingest_paths(project, paths, kind=kind, meta=meta, progress=prog, index_progress=iprog),
                    "Ingest")
    if report is None:
        return
    rows = [{"file": Path(r.path).name, "status": r.status, "sources": ", ".join(r.sources), "excerpts": r.excerpts,
             "problem": r.error or ""} for r in report.results]
    # kept for the rerun that follows, which shows the new counts (sidebar, orphaned codings) everywhere
    st.session_state["ingest_rows"] = rows
    st.session_state["ingest_notes"] = ingest_messages(report)
    st.session_state["ingest_summary"] = {
        "failed": [f"{Path(r.path).name}: {r.error}" for r in report.failed], "index_error": report.index_error,
        "done": f"{report.count('added')} added, {report.count('updated')} updated, "
                f"{report.count('unchanged')} unchanged, {len(report.failed)} failed."}
    st.rerun()


def _last_import() -> None:
    summary = st.session_state.get("ingest_summary") or {}
    for line in summary.get("failed", []):
        st.error(render.md(line))
    if summary.get("index_error"):
        st.warning(render.md(f"The files are stored, but the search index could not be updated: {summary['index_error']}"))
    if summary.get("done"):
        st.success(summary["done"])
    import pandas as pd

    st.markdown("**Last import, file by file**")
    # file and source names by pseudonym when display is pseudonymised
    st.dataframe(pd.DataFrame(pz.rows(st.session_state["ingest_rows"], ["file", "sources"])), hide_index=True,
                 width="stretch")
    notes = st.session_state.get("ingest_notes") or []
    if notes:
        with st.container(border=True, key="ingest_notes_box"):
            st.markdown(f"**Read these notes** ({len(notes)}): lines that may be misread as speaker turns, "
                        "pages with no text, codings that moved")
            for note in notes:
                st.markdown("- " + render.md(" ".join(note.split())))  # quotes source lines: verbatim, names too


def _materialise(request: dict, tmp: Path) -> tuple[list[Path], Path | None, str] | None:
    """The files a request names, as paths: uploads are written into `tmp` (removed as soon as
    the ingest is done: they are confidential), a folder is used where it is. With a fingerprint
    of the uploaded bytes, so a confirmation applies only to the files it asked about."""
    if request["from"] == "folder":
        meta = Path(request["meta"]) if request.get("meta") else None
        return [Path(request["folder"])], meta, ""
    files = st.session_state.get("upload_files") or []
    if not files:
        st.error("The upload box is empty now: add the files again.")
        return None
    paths, items = [], []
    for f in files:
        data = f.getvalue()
        target = tmp / Path(f.name).name
        target.write_bytes(data)
        paths.append(target)
        items.append((f.name, data))
    meta_path = None
    meta_up = st.session_state.get("meta_upload")
    if meta_up is not None:
        meta_path = tmp / "metadata.csv"
        meta_path.write_bytes(meta_up.getvalue())
        items.append(("metadata.csv", meta_up.getvalue()))
    return paths, meta_path, files_digest(items)


def _has_codings() -> bool:
    counts = store.counts()
    return bool(counts["codings"] or counts.get("codings_orphaned", 0))


def _add(request: dict, confirmed: tuple | None = None) -> None:
    """Ingest what `request` names. When it would replace a source that carries codings, ask
    first: the plan is kept in the session and shown below, and the ingest runs only when the
    analyst confirms that very plan (`confirmed`); if the files or the project changed in the
    meantime, the new plan is shown instead."""
    from assistant.corpus.ingest import plan_ingest

    with tempfile.TemporaryDirectory(prefix="thematic-upload-") as tmpdir:
        got = _materialise(request, Path(tmpdir))
        if got is None:
            st.session_state.pop("ingest_pending", None)
            return
        paths, meta, digest = got
        if _has_codings():  # nothing to lose in a project without codings: no need to read twice
            bar = st.progress(0.0, text="Checking what this changes…")
            plan = ui.run(lambda: plan_ingest(project, paths, kind=request["kind"], meta=meta,
                                              progress=lambda d, t: bar.progress(d / t if t else 1.0,
                                                                                 text=f"Checking files: {d}/{t}")),
                          "Checking what the ingest changes")
            bar.empty()
            if plan is None:
                return
            signature = (digest, plan_signature(plan))
            if plan.at_risk and signature != confirmed:
                st.session_state["ingest_pending"] = {
                    **request, "signature": signature, "rows": plan_rows(plan), "codings": plan_coding_rows(plan),
                    "totals": plan.outcomes(), "changed": confirmed is not None}
                return
        st.session_state.pop("ingest_pending", None)
        _ingest(paths, meta, request["kind"])


def _confirm_replace(pending: dict) -> None:
    """The question before a source with codings is replaced, with what would become of them."""
    import pandas as pd

    rows, totals = pending["rows"], pending["totals"]
    n = len(rows)
    with st.container(border=True, key="ingest_confirm_box"):
        st.warning(f"This {'upload' if pending['from'] == 'upload' else 'folder'} replaces {n} source"
                   f"{'s that carry' if n != 1 else ' that carries'} codings. Check what becomes of them before going on.",
                   icon=":material/warning:")
        if pending.get("changed"):
            st.info("The files or the project changed since you were asked: this is the new plan.")
        st.markdown(f"**{totals['moved']}** codings move exactly · **{totals['moved-fuzzy']}** move by their words "
                    f"(not exactly) · **{totals['orphaned']}** become orphaned")
        st.dataframe(pd.DataFrame(pz.rows(rows, ["source"])), hide_index=True, width="stretch")  # by pseudonym
        st.caption("Nothing is deleted: each old version is kept, and an orphaned coding stays in the project, "
                   "listed under Orphaned codings on the Read tab, until you re-attach or dismiss it.")
        with st.expander(f"Each coding ({len(pending['codings'])})"):
            st.dataframe(pd.DataFrame(pz.rows(pending["codings"], ["source"])), hide_index=True, width="stretch")
        with st.container(horizontal=True, gap="small"):
            go = st.button("Replace and move the codings", type="primary", key="ingest_confirm",
                           icon=":material/published_with_changes:")
            stop = st.button("Cancel", key="ingest_cancel")
    if go:
        _add(pending, confirmed=pending["signature"])
    elif stop:
        st.session_state.pop("ingest_pending", None)
        ui.flash("Nothing was added or replaced", ":material/close:")
        st.rerun()


with tab_add:
    st.markdown("Add transcripts and documents (txt, md, docx, pdf, html, vtt, srt, csv, xlsx). "
                "A `metadata.csv` with a `file` column gives each file its attributes (participant, sector, …). "
                "Adding a file again replaces its source by the new version; your codings move with their words.")
    kind_opt = st.selectbox("Kind (leave on auto to detect or take it from metadata)", ["auto", *SOURCE_KINDS])
    kind_arg = None if kind_opt == "auto" else kind_opt
    up, folder_col = st.columns(2, gap="large")
    with up:
        st.markdown("**Upload files**")
        files = st.file_uploader("Files", accept_multiple_files=True, label_visibility="collapsed", key="upload_files")
        st.file_uploader("metadata.csv (optional)", type=["csv"], key="meta_upload")
        if st.button("Add uploaded files", type="primary", disabled=not files):
            _add({"from": "upload", "kind": kind_arg})
    with folder_col:
        st.markdown("**Or a folder on this machine**")
        folder = st.text_input("Folder path", placeholder="/path/to/transcripts")
        meta_text = st.text_input("metadata.csv path (optional; default: metadata.csv in the folder)")
        if st.button("Add folder", disabled=not folder):
            fpath = Path(folder).expanduser()
            mpath = Path(meta_text).expanduser() if meta_text else (fpath / "metadata.csv")
            if not fpath.exists():
                st.error(render.label(f"{fpath}: no such folder or file"))
            else:
                _add({"from": "folder", "folder": str(fpath), "meta": str(mpath) if mpath.exists() else None,
                      "kind": kind_arg})
    if st.session_state.get("ingest_pending"):
        _confirm_replace(st.session_state["ingest_pending"])
    if st.session_state.get("ingest_rows"):
        _last_import()


with tab_project:
    st.markdown(f"This session works in **{render.label(project.folder)}**.")
    counts = store.counts()
    st.json(counts, expanded=False)
    st.markdown("**Open or create another project**")
    ui.project_chooser()
