"""Code tree: every code with its definition and how much it is used (codings, sources and
participants, rolled up from its sub-codes), collapsible; click a code to retrieve all its coded
segments (source, speaker, line, the words, a link that opens the source at them), filtered by
source attributes (sector = NHS, kind = interview, ...) and downloadable as CSV; move a code under
another parent; read and write the code's memos.

Counts and segments come from the library's one rule of what counts (`coding.tree`,
`coding.segments`: analysts' active codings; the AI's own codings are proposals and are left out
unless asked), so a node's numbers are exactly the segments a click on it lists. Re-parenting is
`tree.reparent_code`, the codebook's audited edit path (its cycle check included). `?code=ID`
opens a code."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app_pages import _common as ui
from app_pages import pseudonyms as pz
from app_pages import render
from app_pages.panels import (
    attribute_filters,
    filters_caption,
    memos_expander,
    segment_cards,
    segment_table,
)
from assistant.coding import segments as sg
from assistant.coding import tree as tr
from assistant.models import CodeNode, Segment

project = ui.open_project()
store = project.store
ui.heading("Code tree", "Your codebook as a tree, with how much each code is used. Click a code to see every passage "
           "coded with it.")


@st.cache_data(show_spinner=False, max_entries=32)
def _tree(folder: str, version: int, filters: tuple, include_ai: bool) -> list[CodeNode]:
    return tr.code_tree(ui._open(folder), filters=dict(filters) or None, include_ai=include_ai)


@st.cache_data(show_spinner=False, max_entries=32)
def _segments(folder: str, version: int, code_id: int, children: bool, filters: tuple, include_ai: bool) -> list[Segment]:
    return sg.code_segments(ui._open(folder), code_id, include_children=children, filters=dict(filters) or None,
                            include_ai=include_ai)


def _key(filters: dict) -> tuple:
    return tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in filters.items()))


ver = ui.version(project)
with st.container(border=True, key="tree_filters"):
    f1, f2 = st.columns([4, 1.4], vertical_alignment="bottom")
    with f1:
        filters = attribute_filters(project, "tree")
    include_ai = f2.toggle("Count the AI's own codings", key="tree_ai",
                           help="Off: only codings made or accepted by people (the AI's codings are proposals).")
fkey = _key(filters)
nodes = ui.run(lambda: _tree(str(project.folder), ver, fkey, include_ai), "Building the code tree") or []
by_id = {n.id: n for n in nodes}

qp_code = st.query_params.get("code")
if qp_code and qp_code.isdigit() and int(qp_code) in by_id and st.session_state.get("_tree_qp") != qp_code:
    st.session_state["tree_selected"] = int(qp_code)
    st.session_state["_tree_qp"] = qp_code
selected = st.session_state.get("tree_selected")
if selected not in by_id:
    selected = next((n.id for n in nodes if n.total.codings), nodes[0].id if nodes else None)
    st.session_state["tree_selected"] = selected

collapsed: set[int] = st.session_state.setdefault("tree_collapsed", set())


def _select(cid: int) -> None:
    st.session_state["tree_selected"] = cid


def _toggle(cid: int) -> None:
    collapsed.symmetric_difference_update({cid})


_TREE_CSS = """<style>
.st-key-code_tree [class*="st-key-tree_node_"] button {justify-content:flex-start; text-align:left; min-height:2rem;
  padding:0.15rem 0.5rem; width:100%;}
.st-key-code_tree [class*="st-key-tree_node_"] button > div {justify-content:flex-start;}
.st-key-code_tree button p {font-size:0.92rem; line-height:1.3; white-space:normal;}
.st-key-code_tree [data-testid="stVerticalBlock"] {gap:0.15rem;}
.st-key-code_tree [data-testid="stCaptionContainer"] p {white-space:nowrap; font-variant-numeric:tabular-nums;}
</style>"""


def _counts(n: CodeNode) -> str:
    t = n.total
    return (f"{t.codings} coding{'s' if t.codings != 1 else ''} · {t.sources} source{'s' if t.sources != 1 else ''}"
            f" · {t.participants} participant{'s' if t.participants != 1 else ''}")


left, right = st.columns([5, 6], gap="large")

with left:
    if not nodes:
        st.info("No codes yet. Import a codebook or add codes on the Code page.")
    else:
        st.caption(render.label(f"Counts ({filters_caption(filters)}): codings · sources · participants; "
                                "a parent's counts include its sub-codes."))
        with st.container(horizontal=True, gap="small"):
            if st.button("Expand all", key="tree_expand", icon=":material/unfold_more:"):
                collapsed.clear()
            if st.button("Collapse all", key="tree_collapse", icon=":material/unfold_less:"):
                collapsed.update(n.id for n in nodes if n.children)
        st.html(_TREE_CSS)
        hidden: set[int] = set()
        with st.container(key="code_tree", height=min(640, 60 + 40 * len(nodes)), border=True):
            for n in nodes:
                if n.parent_id is not None and (n.parent_id in collapsed or n.parent_id in hidden):
                    hidden.add(n.id)
                    continue
                indent = min(n.depth, 6) * 0.6
                cols = st.columns([0.001 + indent, 0.45, 5.2 - indent, 1.9], gap="small", vertical_alignment="center")
                if n.children:
                    cols[1].button("", key=f"tree_tog_{n.id}", on_click=_toggle, args=(n.id,), type="tertiary",
                                   icon=":material/chevron_right:" if n.id in collapsed else ":material/expand_more:",
                                   help="Show or hide its sub-codes")
                cols[2].button(render.label(n.name), key=f"tree_node_{n.id}", on_click=_select, args=(n.id,),
                               type="primary" if n.id == selected else "tertiary", width="stretch")
                t = n.total
                memo = f" · ✎{n.memos}" if n.memos else ""
                cols[3].caption(f"{t.codings} · {t.sources} · {t.participants}{memo}")  # numbers only
        with st.expander(f"The whole codebook as a table ({len(nodes)} codes)"):
            table = pd.DataFrame([{"code": "\u2003" * n.depth + n.name, "codings": n.total.codings,
                                   "sources": n.total.sources, "participants": n.total.participants,
                                   "definition": n.definition, "include when": n.include, "exclude when": n.exclude}
                                  for n in nodes])
            st.dataframe(table, hide_index=True, width="stretch", height=min(38 + 35 * len(nodes), 720),
                         column_config={"code": st.column_config.TextColumn(width="medium", pinned=True),
                                        "definition": st.column_config.TextColumn(width="large")})

with right:
    node = by_id.get(selected) if selected is not None else None
    if node is not None:
        with st.container(border=True, key="code_detail"):
            st.html(render.chip_html(node.path, node.colour))
            if node.definition:
                render.text(node.definition)
            else:
                st.caption("No definition yet (add one on the Code page, Edit tab).")
            if node.include or node.exclude:
                i1, i2 = st.columns(2)
                with i1:
                    if node.include:
                        st.markdown("**Include when**")
                        render.text(node.include, small=True)
                with i2:
                    if node.exclude:
                        st.markdown("**Exclude when**")
                        render.text(node.exclude, small=True)
            own, tot = node.own, node.total
            def _n(k: int, word: str) -> str:
                return f"**{k}** {word}{'s' if k != 1 else ''}"

            st.markdown(f"{_n(tot.codings, 'coding')} in {_n(tot.sources, 'source')} from "
                        f"{_n(tot.participants, 'participant')}"
                        + (f" (its own, without sub-codes: {own.codings})" if node.children else ""))
            with st.expander("Move this code under another parent"):
                below, todo = set(), list(node.children)
                while todo:  # a code cannot move under itself or one of its own sub-codes
                    below.add(c := todo.pop())
                    todo += [k for k in by_id[c].children if k not in below] if c in by_id else []
                others = [n for n in nodes if n.id != node.id and n.id not in below]
                choices = [None, *[n.id for n in others]]
                current = node.parent_id if node.parent_id in choices else None
                with st.form(f"reparent_{node.id}", border=False):
                    parent = st.selectbox("New parent", choices, index=choices.index(current),
                                          format_func=lambda i: "(top level)" if i is None else by_id[i].path)
                    if st.form_submit_button("Move", icon=":material/drive_file_move:"):
                        moved = ui.run(lambda: tr.reparent_code(project, node.id, parent), f"Moving {node.name}")
                        if moved is not None:
                            where = "the top level" if parent is None else by_id[parent].path
                            ui.flash(f"Moved {node.name} under {where}")
                            st.rerun()
            memos_expander(project, "code", node.id, f"code {node.name}", key=f"code_{node.id}")

        children = True
        if node.children:
            children = st.toggle("Include its sub-codes' segments", value=True, key="tree_children")
        segs = ui.run(lambda: _segments(str(project.folder), ver, node.id, children, fkey, include_ai),
                      f"Retrieving the segments of {node.name}")
        if segs is not None:
            st.markdown(f"#### {len(segs)} coded segment{'s' if len(segs) != 1 else ''}")
            render.caption(filters_caption(filters))
            if segs:
                st.download_button("Download CSV", sg.segments_csv(pz.segments(segs)), file_name=f"segments-{node.id}.csv",
                                   mime="text/csv", icon=":material/download:", key="tree_dl")
                view = st.radio("Show as", ["cards", "table"], horizontal=True, key="tree_view",
                                label_visibility="collapsed")
                if view == "table":
                    st.dataframe(segment_table(segs), hide_index=True, width="stretch", height=520,
                                 column_config={"words": st.column_config.TextColumn(width="large"),
                                                "line": st.column_config.NumberColumn(width="small")})
                else:
                    segment_cards(segs, key="tree", show_code=children and bool(node.children))
            else:
                st.caption("No passage is coded with this code" + (" under these filters." if filters else " yet."))
