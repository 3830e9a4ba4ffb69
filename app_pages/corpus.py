"""Corpus: add sources (upload or a folder, with metadata.csv), read a source as speaker turns with
its codings in their codes' colours, edit its attributes. Opened with `?source=ID&start=S&end=E`
(citations on the Ask and Quotes pages) it scrolls to and outlines the cited words."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd
import streamlit as st

from app_pages import _common as ui
from app_pages.support import coding_marks, quote_html, source_html, update_attributes
from assistant.models import SOURCE_KINDS

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


# -- read -------------------------------------------------------------------------------------------
with tab_read:
    if not sources:
        st.info("No sources yet: add some in the **Add sources** tab.")
    else:
        ids = [int(s.id) for s in sources]  # type: ignore[arg-type]
        names = {int(s.id): f"{s.name} · {s.kind}" for s in sources}  # type: ignore[arg-type]
        wanted = _int(qp.get("source"))
        if wanted in ids and st.session_state.get("_corpus_qp") != wanted:
            st.session_state["corpus_source"] = wanted
            st.session_state["_corpus_qp"] = wanted
        chosen = st.selectbox("Source", ids, format_func=names.get, key="corpus_source")
        src = store.get_source(chosen)
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
                    st.html(quote_html(src.text[start:end]))
            box = st.container(height=640, border=True)
            with box:
                st.html(source_html(src, excerpts, coding_marks(codings, codes), cited))
            if cited:
                # scroll the source box to the cited words once they are on the page
                st.html("<script>(function(){var n=0;var t=setInterval(function(){var el=document.getElementById('cited');"
                        "if(el){el.scrollIntoView({block:'center'});clearInterval(t);}if(++n>40){clearInterval(t);}},100);})();"
                        "</script>", unsafe_allow_javascript=True)
        with right:
            st.markdown(f"**{src.name}**")
            st.caption(f"{src.kind} · {src.format or '?'} · {len(excerpts)} excerpts · version {src.version} · "
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
            frame = pd.DataFrame(sorted(src.attributes.items()), columns=["attribute", "value"])
            edited = st.data_editor(frame, num_rows="dynamic", hide_index=True, key=f"attrs_{chosen}",
                                    width="stretch")
            kind = st.selectbox("Kind", SOURCE_KINDS, index=SOURCE_KINDS.index(src.kind) if src.kind in SOURCE_KINDS else 0,
                                key=f"kind_{chosen}")
            if st.button("Save attributes", key=f"save_attrs_{chosen}"):
                attrs = {str(r["attribute"]): r["value"] for _, r in edited.iterrows() if r["attribute"]}
                changed = ui.run(lambda: update_attributes(project, chosen, attrs, kind), f"Saving attributes of {src.name}")
                if changed is not None:
                    ui.flash("Attributes saved" if changed else "Nothing changed")
                    st.rerun()


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
             "problem": r.error or "; ".join(r.notes)} for r in report.results]
    st.session_state["ingest_rows"] = rows
    for r in report.failed:
        st.error(f"{Path(r.path).name}: {r.error}")
    st.success(f"{report.count('added')} added, {report.count('updated')} updated, "
               f"{report.count('unchanged')} unchanged, {len(report.failed)} failed.")


with tab_add:
    st.markdown("Add transcripts and documents (txt, md, docx, pdf, html, vtt, srt, csv, xlsx). "
                "A `metadata.csv` with a `file` column gives each file its attributes (participant, sector, …).")
    kind_opt = st.selectbox("Kind (leave on auto to detect or take it from metadata)", ["auto", *SOURCE_KINDS])
    kind_arg = None if kind_opt == "auto" else kind_opt
    up, folder_col = st.columns(2, gap="large")
    with up:
        st.markdown("**Upload files**")
        files = st.file_uploader("Files", accept_multiple_files=True, label_visibility="collapsed")
        meta_up = st.file_uploader("metadata.csv (optional)", type=["csv"], key="meta_upload")
        if st.button("Add uploaded files", type="primary", disabled=not files):
            # uploads are confidential: the copies on disk are removed as soon as the ingest is done
            with tempfile.TemporaryDirectory(prefix="thematic-upload-") as tmpdir:
                tmp = Path(tmpdir)
                paths = []
                for f in files or []:
                    target = tmp / Path(f.name).name
                    target.write_bytes(f.getvalue())
                    paths.append(target)
                meta_path = None
                if meta_up is not None:
                    meta_path = tmp / "metadata.csv"
                    meta_path.write_bytes(meta_up.getvalue())
                _ingest(paths, meta_path, kind_arg)
    with folder_col:
        st.markdown("**Or a folder on this machine**")
        folder = st.text_input("Folder path", placeholder="/path/to/transcripts")
        meta_text = st.text_input("metadata.csv path (optional; default: metadata.csv in the folder)")
        if st.button("Add folder", disabled=not folder):
            fpath = Path(folder).expanduser()
            mpath = Path(meta_text).expanduser() if meta_text else (fpath / "metadata.csv")
            if not fpath.exists():
                st.error(f"{fpath}: no such folder or file")
            else:
                _ingest([fpath], mpath if mpath.exists() else None, kind_arg)
    if st.session_state.get("ingest_rows"):
        st.markdown("**Last import, file by file**")
        st.dataframe(pd.DataFrame(st.session_state["ingest_rows"]), hide_index=True, width="stretch")


with tab_project:
    st.markdown(f"This session works in **{project.folder}**.")
    counts = store.counts()
    st.json(counts, expanded=False)
    st.markdown("**Open or create another project**")
    ui.project_chooser()
