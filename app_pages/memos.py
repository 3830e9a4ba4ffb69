"""Memos: the analyst's notes on the project, a source, a code, a coding or a theme. Write one,
edit it, link it to more things it is about, search them all, read a memo's history.

Opened with `?on=code:12` (the "All memos" link beside a code, a source or a theme) it lists that
target's memos and writes new ones there. Every write is one call into `assistant.coding.memos`
(the change and its audit row in one transaction, shared with `thematic memo`); memo text is shown
exactly as written, never as Markdown."""

from __future__ import annotations

import streamlit as st

from app_pages import _common as ui
from app_pages import pseudonyms as pz
from app_pages import render
from app_pages.panels import memo_card
from assistant.coding import memos as mm
from assistant.coding.codebook import code_paths
from assistant.models import MEMO_TARGET_TYPES

project = ui.open_project()
store = project.store
ui.heading("Memos", "Your notes on the project, sources, codes, codings and themes: written, linked, searchable, "
           "and kept in the audit log, the write-up and the .qdpx export.")

KIND_WORDS = {"project": "The project", "source": "A source", "code": "A code", "coding": "A coding", "theme": "A theme"}


def _targets() -> dict[str, list[tuple[int | None, str]]]:
    """What a memo can be about, by type: (id, label) pairs for the pickers."""
    codes = store.list_codes()
    paths = code_paths(codes)
    sources = store.list_sources()
    src_names = {int(s.id): s.name for s in sources}  # type: ignore[arg-type]
    names = {int(c.id): c.name for c in store.list_codes(include_inactive=True)}  # type: ignore[arg-type]
    codings = [c for c in store.list_codings() if c.source_id in src_names]
    return {
        "project": [(None, "the project")],
        "source": [(int(s.id), s.name) for s in sources],  # type: ignore[arg-type]
        "code": sorted(((int(c.id), paths.get(c.id, c.name)) for c in codes), key=lambda x: x[1].casefold()),  # type: ignore[arg-type]
        "coding": [(int(c.id), f"#{c.id} {names.get(c.code_id, '?')} · {src_names[c.source_id]} · "  # type: ignore[arg-type]
                    + " ".join(c.text.split())[:70]) for c in codings[::-1]],
        "theme": [(int(t.id), t.name) for t in store.list_themes() if t.status != "rejected"],  # type: ignore[arg-type]
    }


targets = _targets()


def _from_query() -> tuple[str, int | None] | None:
    raw = st.query_params.get("on")
    if not raw:
        return None
    kind, ref = mm.parse_target(raw)
    if kind not in MEMO_TARGET_TYPES:
        return None
    try:
        return kind, (int(ref) if ref not in (None, "", "None") else None)
    except ValueError:
        return None


asked = _from_query()
if asked and st.session_state.get("_memo_qp") != asked:  # a link named a target: preselect it once
    st.session_state["_memo_qp"] = asked
    st.session_state["memo_kind"] = asked[0]
    st.session_state[f"memo_target_{asked[0]}"] = asked[1]
    st.session_state["memo_scope"] = "target"

left, right = st.columns([3, 2], gap="large")

with right, st.container(border=True, key="memo_write"):
    st.markdown("**Write a memo**")
    kind = st.radio("About", list(MEMO_TARGET_TYPES), format_func=KIND_WORDS.get, horizontal=True, key="memo_kind")
    options = targets[kind]
    labels = dict(options)
    target_id: int | None = None
    if kind != "project":
        if not options:
            st.caption(f"There is no {kind} to write on yet.")
        else:
            ids = [i for i, _ in options]
            if st.session_state.get(f"memo_target_{kind}") not in ids:
                st.session_state.pop(f"memo_target_{kind}", None)
            target_id = st.selectbox(render.label(kind.capitalize()), ids, format_func=lambda i: render.name(labels.get(i, str(i))),
                                     key=f"memo_target_{kind}")
    with st.form("memo_add", clear_on_submit=True, border=False):
        text = st.text_area("Memo", height=180, key="memo_add_text",
                            placeholder="What you notice, a hunch to check, how this relates to the rest…")
        link_opts = [f"{k}:{i}" for k in ("code", "source", "theme") for i, _ in targets[k]]
        all_labels = {f"{k}:{i}": f"{k} {lab}" for k in targets for i, lab in targets[k]}
        extra = st.multiselect("Also about (optional)", link_opts, format_func=lambda x: render.name(all_labels.get(x, x)),
                               placeholder="link it to more codes, sources or themes")
        saved = st.form_submit_button("Save memo", type="primary", icon=":material/save:",
                                      disabled=kind != "project" and target_id is None)
    if saved:
        links = [mm.parse_target(x) for x in extra]
        made = ui.run(lambda: mm.add_memo(project, text, kind, target_id, links=links), "Saving the memo")
        if made is not None:
            ui.flash(f"Memo {made.memo.id} saved on {made.targets[0].label}")
            st.rerun()

ALL_LABELS = {f"{k}:{i}": f"{k} {lab}" for k in targets for i, lab in targets[k]}

with left:
    c1, c2 = st.columns([3, 2])
    query = c1.text_input("Search memos", key="memo_query", placeholder='words or a "quoted phrase"')
    scope = c2.radio("Show", ["all", "target"], horizontal=True, key="memo_scope",
                     format_func=lambda x: "all memos" if x == "all" else "memos on the chosen item")
    if scope == "target":
        views = ui.run(lambda: mm.list_memos(project, kind, target_id if kind != "project" else None), "Listing memos")
    else:
        views = ui.run(lambda: mm.list_memos(project), "Listing memos")
    views = views or []
    if query.strip():
        found = ui.run(lambda: mm.search_memos(project, query), "Searching memos") or []
        keep = {v.memo.id for v in found}
        views = [v for v in views if v.memo.id in keep]
    views = sorted(views, key=lambda v: v.memo.updated_at or v.memo.created_at, reverse=True)
    what = "the chosen item" if scope == "target" else "this project"
    st.markdown(f"**{len(views)} memo{'s' if len(views) != 1 else ''}**"
                + (render.label(f" matching {query.strip()}") if query.strip() else "") + f" on {what}")
    if not views:
        st.info("No memos here yet. Write one on the right; memos on codes, sources and themes also show on the "
                "Code tree, Corpus and Themes pages.")
    for v in views:
        memo_card(v)
        mid = int(v.memo.id)  # type: ignore[arg-type]
        with st.expander("Edit, link or see its history"):
            with st.form(f"memo_edit_{mid}", border=False):
                new_text = st.text_area("Text", v.memo.text, height=140, key=f"memo_edit_text_{mid}")
                if st.form_submit_button("Save changes"):
                    done = ui.run(lambda mid=mid, new_text=new_text: mm.edit_memo(project, mid, new_text), "Saving the memo")
                    if done is not None:
                        ui.flash(f"Memo {mid} saved")
                        st.rerun()
            have = {f"{t.type}:{t.id}" for t in v.targets}
            more = [x for x in [f"{k}:{i}" for k in ("code", "source", "theme", "coding") for i, _ in targets[k]]
                    if x not in have]
            lc1, lc2 = st.columns([4, 1], vertical_alignment="bottom")
            pick = lc1.selectbox("Link to", more, key=f"memo_link_{mid}", format_func=lambda x: render.name(ALL_LABELS.get(x, x)),
                                 index=None, placeholder="a code, source, theme or coding")
            if lc2.button("Link", key=f"memo_link_btn_{mid}", disabled=pick is None):
                done = ui.run(lambda mid=mid, pick=pick: mm.link_memo(project, mid, [mm.parse_target(pick)]), "Linking the memo")
                if done is not None:
                    ui.flash(f"Memo {mid} linked")
                    st.rerun()
            for t in v.targets[1:]:
                if st.button(render.label(f"Unlink from {t.label}"), key=f"memo_unlink_{mid}_{t.type}_{t.id}",
                             icon=":material/link_off:") and ui.run(
                        lambda mid=mid, t=t: mm.unlink_memo(project, mid, t.type, t.id), "Unlinking") is not None:
                    st.rerun()
            history = ui.run(lambda mid=mid: mm.memo_history(project, mid), "Reading the memo's history") or []
            st.markdown("**History** (from the audit log)")
            for e in history:
                render.caption(f"{e.time[:16].replace('T', ' ')} · {e.actor} · {e.action.removeprefix('memo.')}")
    if views:
        st.download_button("Download these memos (Markdown)", mm.memos_markdown(pz.memo_views(views)), file_name="memos.md",
                           mime="text/markdown", icon=":material/download:")
