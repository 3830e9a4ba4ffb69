"""Quotes: find verbatim quotes by code, theme or free text (with attribute filters), see why each
matched, put the good ones in the write-up basket; order and annotate the basket and export it as
Markdown or DOCX."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from app_pages import _common as ui
from app_pages import pseudonyms as pz
from app_pages import render
from assistant.models import Quote
from assistant.writing import basket, writeup
from assistant.writing.quotes import find_quotes

project = ui.open_project()
store = project.store
ui.heading("Quotes", "Verbatim quotes for the write-up, balanced across participants and source kinds.")

sources = store.list_sources()
attr_values: dict[str, list[str]] = {"kind": sorted({s.kind for s in sources})}
for key in ("sector", "organisation", "participant"):
    vals = sorted({s.attributes[key] for s in sources if s.attributes.get(key)})
    if vals:
        attr_values[key] = vals

search_col, basket_col = st.columns([3, 2], gap="large")

with search_col:
    with st.form("quote_search"):
        mode = st.radio("Find quotes for", ["Code", "Theme", "Free text"], horizontal=True, key="q_mode")
        codes = [c.name for c in store.list_codes()]
        themes = [t.name for t in store.list_themes() if t.status != "rejected"]
        c1, c2 = st.columns([3, 1])
        code = c1.selectbox("Code", codes, key="q_code") if codes else None
        theme = c1.selectbox("Theme (when finding for a theme)", themes, key="q_theme") if themes else None
        text = c1.text_input("Free text (when finding for free text)", key="q_text",
                             placeholder="e.g. people wait until it is a crisis")
        k = c2.number_input("How many", 1, 50, 8, key="q_k")
        fcols = st.columns(2) if attr_values else []  # two per row: long values stay readable
        chosen = {key: fcols[i % 2].multiselect(key.capitalize(), vals, key=f"q_f_{key}",
                                                placeholder="any", format_func=render.name)
                  for i, (key, vals) in enumerate(attr_values.items())}
        include_coded = st.checkbox("Include passages already coded", value=True, key="q_coded",
                                    help="Untick for 'find more like these': new evidence only.")
        go = st.form_submit_button("Find quotes", type="primary")
    if go:
        filters = {k2: v for k2, v in chosen.items() if v} or None
        kwargs = {"code": code} if mode == "Code" else {"theme": theme} if mode == "Theme" else {"query": text}
        if not next(iter(kwargs.values())):
            st.error(f"Choose a {mode.lower()} first.")
        else:
            with st.status("Finding quotes: searching the corpus by meaning and by words, then choosing whole "
                           "sentences (the first search waits for the embedding model to load)…",
                           expanded=False) as status:
                res = ui.run(lambda: find_quotes(project, k=int(k), filters=filters, include_coded=include_coded, **kwargs),
                             "Finding quotes")
                status.update(label=f"{len(res.quotes)} quotes found" if res is not None else "The search stopped",
                              state="complete" if res is not None else "error")
            if res is not None:
                st.session_state["q_results"] = [q.model_dump() for q in res.quotes]
                st.session_state["q_spread"] = res.spread_text
    results = [Quote(**q) for q in st.session_state.get("q_results", [])]
    if results:
        render.caption(st.session_state.get("q_spread", ""))
    in_basket = {(i.quote.source_id, i.quote.start, i.quote.end) for i in store.list_basket()}
    for n, q in enumerate(results):
        with st.container(border=True):
            render.quote(q.text)
            a, b = st.columns([5, 2])
            with a:
                who = q.attribution or q.source_name
                origin = "already coded" if q.origin == "coding" else "found by search"
                render.caption(f"— {who}" + (f" · {q.source_name}" if q.source_name not in who else "")
                               + (f" · line {q.line}" if q.line else "") + f" · {origin} · relevance {q.score:.2f}")
                if q.why:
                    render.caption(f"Why it is here: {q.why}")
            with a:
                ui.page_link("corpus", "Open in source", {"source": q.source_id, "start": q.start, "end": q.end}, ":material/description:")
            if (q.source_id, q.start, q.end) in in_basket:
                b.button("In basket", key=f"q_add_{n}", disabled=True)
            elif b.button("Add to basket", key=f"q_add_{n}", type="primary", width="stretch"):
                if ui.run(lambda q=q: basket.add(project, [q]), f"Adding the quote from {q.source_name}") is not None:
                    ui.flash("Added to the basket")
                    st.rerun()

with basket_col:
    st.subheader("Write-up basket", anchor=False)
    items = store.list_basket()
    if not items:
        st.info("The basket is empty. Add quotes from the results.")
    for pos, item in enumerate(items):
        with st.container(border=True):
            q = item.quote
            render.quote(q.text[:400] + ("…" if len(q.text) > 400 else ""), prefix=f"{pos + 1}.")
            who = q.attribution or q.source_name
            with st.container(horizontal=True, gap="small", vertical_alignment="center"):
                render.caption(f"— {who}" + (f" · {q.source_name}" if q.source_name not in who else "")
                               + (f" · line {q.line}" if q.line else "")
                               + (f" · {q.attributes['_group']}" if q.attributes.get("_group") else ""))
                ui.page_link("corpus", "Open in source", {"source": q.source_id, "start": q.start, "end": q.end},
                             ":material/open_in_new:")
            note = st.text_input("Note", item.note, key=f"b_note_{item.id}", label_visibility="collapsed",
                                 placeholder="Your note for the write-up")
            c1, c2, c3, c4 = st.columns([3, 1, 1, 1])
            if c1.button("Save note", key=f"b_save_{item.id}", disabled=note == item.note):
                ui.run(lambda item=item, note=note: basket.set_note(project, int(item.id), note), "Saving the note")  # type: ignore[arg-type]
                st.rerun()
            if c2.button("", icon=":material/arrow_upward:", key=f"b_up_{item.id}", disabled=pos == 0, help="Move up"):
                ui.run(lambda item=item, pos=pos: basket.move(project, int(item.id), pos), "Moving the quote up")  # type: ignore[arg-type]
                st.rerun()
            if c3.button("", icon=":material/arrow_downward:", key=f"b_down_{item.id}", disabled=pos == len(items) - 1, help="Move down"):
                ui.run(lambda item=item, pos=pos: basket.move(project, int(item.id), pos + 2), "Moving the quote down")  # type: ignore[arg-type]
                st.rerun()
            if c4.button("", icon=":material/delete:", key=f"b_rm_{item.id}", help="Remove from the basket"):
                ui.run(lambda item=item: basket.remove(project, int(item.id)), "Removing the quote")  # type: ignore[arg-type]
                st.rerun()
    if items:
        checked = ui.run(lambda: writeup.checked_items(project, items), "Checking the basket against the sources")
        if checked is not None:
            memos = ui.run(lambda: writeup.writeup_memos(project), "Reading the memos") or []
            # the preview and the downloads name people as the screen does (pseudonyms when display is
            # pseudonymised); "Save to the exports folder" is the library's export, named as the quote
            # attribution setting says
            shown, shown_memos = pz.basket_items(checked), pz.memo_views(memos)
            markdown = writeup.to_markdown(shown, memos=shown_memos)

            def _docx() -> bytes:  # built in memory: a download writes nothing to disk
                return writeup.docx_bytes(shown, memos=shown_memos)

            def _save() -> list[Path]:
                return [writeup.export_writeup(project, fmt) for fmt in ("md", "docx")]

            bar = st.container(horizontal=True, gap="small")  # sized to their labels: none is cut off
            bar.download_button("Download Markdown", markdown, file_name="writeup.md", mime="text/markdown",
                                type="primary", key="dl_md", icon=":material/download:")
            bar.download_button("Download DOCX", _docx, file_name="writeup.docx", key="dl_docx",
                                mime="application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                                icon=":material/download:")
            if bar.button("Save to the exports folder", key="save_writeup",
                         help=render.label(f"Writes writeup.md and writeup.docx into {project.exports_dir} "
                                           "(recorded in the audit log)")):
                saved = ui.run(_save, "Exporting the write-up")
                if saved:
                    st.toast(render.label("Saved " + " and ".join(p.name for p in saved) + f" in {project.exports_dir}"))
            with st.expander("Preview (Markdown)"):
                st.code(markdown, language="markdown", wrap_lines=True)
