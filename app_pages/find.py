"""Text search: every occurrence of a word, a "quoted phrase" or a wildcard (damp*, m?uld) across
the sources, as keyword-in-context lines with source, line and speaker. Each hit opens its source
at those words (Corpus page) and can be coded from the list: the hit's words, or its whole turn,
through `decisions.add_coding` (the hand-coding function the Code page and the CLI share, with its
audit row).

This searches the canonical texts themselves (`assistant.corpus.find`), not the semantic index:
what it lists is exactly where the words are, which is what an analyst checking a hunch needs."""

from __future__ import annotations

import streamlit as st

from app_pages import _common as ui
from app_pages import pseudonyms as pz
from app_pages import render
from app_pages.panels import attribute_filters, filters_caption
from assistant.coding.codebook import code_paths
from assistant.coding.decisions import add_coding
from assistant.corpus.find import find
from assistant.models import FindResult, KwicHit

PER_PAGE = 50
CONTEXT = 80  # characters of context either side of a hit

project = ui.open_project()
store = project.store
ui.heading("Text search", "Every place a word or phrase occurs, in context. Open a hit in its source, or code it "
           "from here.")


@st.cache_data(show_spinner=False, max_entries=16)
def _find(folder: str, version: int, query: str, filters: tuple, case: bool, no_interviewer: bool, limit: int) -> FindResult:
    return find(ui._open(folder), query, filters=dict(filters) or None, case_sensitive=case,
                exclude_interviewer=no_interviewer, limit=limit, context=CONTEXT)


with st.form("find_form", border=True):
    q1, q2, q3 = st.columns([4, 1.1, 1.5], vertical_alignment="bottom")
    query = q1.text_input("Find", key="find_query", placeholder='damp   "black mould"   damp*   m?uld')
    case = q2.checkbox("Match case", key="find_case")
    no_int = q3.checkbox("Skip interviewer", key="find_noint", help="Leave out what the interviewer says.")
    filters = attribute_filters(project, "find")
    go = st.form_submit_button("Search", type="primary", icon=":material/search:")
    st.caption('Words are whole words (mould does not match moulding). "Quotes" for a phrase; * for any letters '
               "(damp* finds damp, damper, dampness); ? for one letter. Several terms find any of them.")

if go:
    st.session_state["find_run"] = {"query": query, "filters": filters, "case": case, "no_int": no_int}
    st.session_state["find_page"] = 1
run = st.session_state.get("find_run")

codes = store.list_codes()
paths = code_paths(codes)
code_ids = sorted((int(c.id) for c in codes), key=lambda i: paths.get(i, "").casefold())  # type: ignore[arg-type]

if run and run["query"].strip():
    fkey = tuple(sorted((k, tuple(v)) for k, v in run["filters"].items()))
    with st.spinner("Searching the texts…"):
        res = ui.run(lambda: _find(str(project.folder), ui.version(project), run["query"], fkey, run["case"],
                                   run["no_int"], 2000), "Searching")
    if res is not None:
        more = f" (the first {len(res.hits)} are listed)" if res.truncated else ""
        capped = "+" if res.total_capped else ""
        st.markdown(f"**{res.total}{capped}** hit{'s' if res.total != 1 else ''} for "
                    f"**{render.label(', '.join(res.terms))}** in {len({h.source_id for h in res.hits})} of the "
                    f"{res.sources_searched} sources searched{more}")
        render.caption(f"{filters_caption(run['filters'])} · {res.seconds:.2f} s")
        if res.hits and code_ids:
            with st.container(border=True, key="find_code_bar"):
                c1, c2 = st.columns([3, 2], vertical_alignment="bottom")
                code = c1.selectbox("Code to apply from the list", code_ids, key="find_code",
                                    format_func=lambda i: paths.get(i, str(i)))
                extent = c2.radio("Code", ["words", "turn"], horizontal=True, key="find_extent",
                                  format_func=lambda x: "the hit's words" if x == "words" else "the whole turn",
                                  help="The turn is the speaker's whole answer (or paragraph) the hit is in.")
        else:
            code, extent = None, "words"
        coded: set[tuple[int, int, int]] = set()
        if code is not None:
            coded = {(c.source_id, c.start, c.end) for c in store.list_codings() if c.code_id == code}
        spans = {}
        if extent == "turn":
            ids = {h.excerpt_id for h in res.hits if h.excerpt_id is not None}
            spans = {int(e.id): (e.start, e.end) for sid in {h.source_id for h in res.hits}  # type: ignore[arg-type]
                     for e in store.list_excerpts(source_id=sid) if e.id in ids}

        def _span(h: KwicHit) -> tuple[int, int]:
            if extent == "turn" and h.excerpt_id in spans:
                return spans[h.excerpt_id]
            return h.start, h.end

        def _code(h: KwicHit) -> None:
            s, e = _span(h)
            done = ui.run(lambda: add_coding(project, h.source_id, s, e, code, note="coded from text search"),
                          f"Coding the hit in {h.source}")
            if done is not None:
                ui.flash(f"Coded {paths.get(code, code)} in {h.source}, line {h.line}: {' '.join(done.text.split())[:60]}")

        pages = max(1, -(-len(res.hits) // PER_PAGE))
        page = st.session_state.get("find_page", 1)
        if pages > 1:
            page = st.number_input(f"Page (of {pages}, {PER_PAGE} hits each)", 1, pages, key="find_page")
        shown = res.hits[(page - 1) * PER_PAGE: page * PER_PAGE]
        last_source = None
        for i, h in enumerate(shown, start=(page - 1) * PER_PAGE):
            if h.source_id != last_source:
                st.markdown(f"**{render.label(h.source)}** · {render.label(h.kind)}")
                last_source = h.source_id
            with st.container(border=True, key=f"hit_{i}"):
                # the words verbatim; a speaker label in the context by pseudonym (pseudonymised display)
                left = ("…" if h.context_start > 0 else "") + pz.speaker_labels(h.left, cut_at_start=h.context_start > 0)
                right = pz.speaker_labels(h.right) + ("…" if len(h.right) >= CONTEXT else "")
                st.html('<div style="white-space:pre-wrap;line-height:1.55;font-size:0.95rem">'
                        f'<span style="color:#5b6670">{render.html_text(left)}</span>'
                        f'<mark style="background:rgba(255,214,102,0.6);font-weight:600;border-radius:2px">'
                        f"{render.html_text(h.text)}</mark>"
                        f'<span style="color:#5b6670">{render.html_text(right)}</span></div>')
                who = f" · {h.speaker}" + (" (interviewer)" if h.is_interviewer else "") if h.speaker else ""
                page_no = f" · p.{h.page}" if h.page else ""
                with st.container(horizontal=True, gap="small", vertical_alignment="center"):
                    render.caption(f"line {h.line}{page_no}{who}")
                    ui.page_link("corpus", "Open in source", {"source": h.source_id, "start": h.start, "end": h.end},
                                 ":material/open_in_new:")
                    if code is not None:
                        s, e = _span(h)
                        if (h.source_id, s, e) in coded:
                            st.button("Coded", key=f"find_code_{i}", disabled=True, icon=":material/check:")
                        else:
                            st.button(render.label(f"Code as {paths.get(code, code)}", limit=48), key=f"find_code_{i}",
                                      on_click=_code, args=(h,), icon=":material/label:")
        if not res.hits:
            st.info("No hits. Try a wildcard (damp*), fewer words, or fewer filters.")
else:
    st.info('Type a word, a "quoted phrase" or a wildcard such as damp* and press Search.')
