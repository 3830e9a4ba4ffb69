"""Themes: draft themes from the accepted codings, then accept, reject, rename, merge and split
them; see each theme's codes, summary and quotes, and how codes or themes spread across
participants, source kinds and sectors (a heat map from the library's coverage matrix)."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from app_pages import _common as ui
from app_pages import render
from assistant.writing import themes as th

project = ui.open_project()
store = project.store
ui.heading("Themes", "Drafts are proposals from your accepted codings; you accept, reject, rename, merge or split them.")


@st.cache_data(show_spinner=False, max_entries=16)
def _coverage(folder: str, version: int, by: str, unit: str) -> pd.DataFrame:
    return th.coverage_matrix(ui._open(folder), by=by, unit=unit)


@st.cache_data(show_spinner=False, max_entries=64)
def _crosstab(folder: str, version: int, theme_id: int) -> dict:
    return th.theme_crosstab(ui._open(folder), theme_id)


ver = ui.version(project)
code_by_id = {int(c.id): c for c in store.list_codes(include_inactive=True)}  # type: ignore[arg-type]
themes = store.list_themes()
left, right = st.columns([3, 2], gap="large")

with right:
    with st.container(border=True):
        st.markdown("**Draft themes**")
        st.caption("Groups codes with accepted codings into themes and picks supporting quotes. "
                   "Untouched earlier drafts are replaced; accepted or edited themes stay.")
        n = st.number_input("Number of themes (0 = choose automatically)", 0, th.MAX_THEMES, 0)
        use_llm = project.settings.llm.provider != "none" and st.checkbox(
            render.label(f"Write summaries with {ui.engine_label(project)}"), value=False)
        if st.button("Draft themes", type="primary"):
            llm = None
            if use_llm:
                from assistant.llm import chat_model_for

                llm = ui.run(lambda: chat_model_for(project, required=True), "Connecting to the model")
            bar = st.progress(0.0, text="Drafting…")
            rep = ui.run(lambda: th.draft_themes_report(project, n_themes=int(n) or None, llm=llm,
                                                        progress=lambda d, t: bar.progress(d / t if t else 1.0,
                                                                                           text=f"Drafting: {d}/{t} themes")),
                         "Drafting themes")
            if rep is not None:
                ui.flash(f"{len(rep.themes)} theme drafts")
                st.rerun()
    live = [t for t in themes if t.status != "rejected"]
    if len(live) >= 2:
        with st.form("theme_merge"):
            st.markdown("**Merge themes**")
            picked = st.multiselect("Themes", [int(t.id) for t in live],  # type: ignore[arg-type]
                                    format_func=lambda i: next(t.name for t in live if t.id == i))
            name = st.text_input("Name of the merged theme")
            if st.form_submit_button("Merge") and len(picked) >= 2 and name.strip():
                if ui.run(lambda: th.merge_themes(project, picked, name.strip()), "Merging themes") is not None:
                    ui.flash(f"Merged into {name}")
                    st.rerun()

with left:
    if not themes:
        st.info("No themes yet. Accept some suggestions on the Code page, then draft themes.")
    status_icon = {"draft": ":material/edit_note:", "accepted": ":material/check_circle:", "rejected": ":material/cancel:"}
    for t in themes:
        label = (f"{status_icon.get(t.status, '')} "
                 + render.label(f"{t.name} · {t.status} · {len(t.code_ids)} codes · {len(t.quotes)} quotes"))
        with st.expander(label, expanded=t.status == "draft" and t is themes[0]):
            ui.chips([(code_by_id[c].name, code_by_id[c].colour) for c in t.code_ids if c in code_by_id])
            kind = {"extractive": "extractive summary (no AI model)", "llm": f"AI summary · {t.model}",
                    "analyst": "written by the analyst"}.get(t.summary_kind, t.summary_kind)
            render.caption(kind + (f" · drafted by {t.engine}" if t.engine else ""))
            if t.summary:  # a model may have written it: shown as text
                render.text(t.summary)
            else:
                st.caption("No summary.")
            for q in t.quotes[:6]:
                render.quote(q.text)
                render.caption(f"— {q.attribution or q.source_name}")
            cross = ui.run(lambda t=t: _crosstab(str(project.folder), ver, int(t.id)), "Cross-tabulating")  # type: ignore[arg-type]
            if cross:
                render.caption(f"Codings by kind: {cross['codings_by_kind']} · by sector: {cross['codings_by_sector']}"
                               + (f" · participants never touching it: {', '.join(cross['participants_never'])}"
                                  if cross["participants_never"] else ""))
            b1, b2, _ = st.columns([1, 1, 3])
            if b1.button("Accept", key=f"t_acc_{t.id}", type="primary", disabled=t.status == "accepted"):
                ui.run(lambda t=t: th.accept_theme(project, int(t.id)), f"Accepting {t.name}")  # type: ignore[arg-type]
                st.rerun()
            if b2.button("Reject", key=f"t_rej_{t.id}", disabled=t.status == "rejected"):
                ui.run(lambda t=t: th.reject_theme(project, int(t.id)), f"Rejecting {t.name}")  # type: ignore[arg-type]
                st.rerun()
            with st.form(f"t_edit_{t.id}"):
                new_name = st.text_input("Name", t.name)
                summary = st.text_area("Summary", t.summary, height=120)
                if st.form_submit_button("Save name and summary"):
                    if new_name != t.name:
                        ui.run(lambda t=t, new_name=new_name: th.rename_theme(project, int(t.id), new_name), f"Renaming {t.name}")  # type: ignore[arg-type]
                    if summary != t.summary:
                        ui.run(lambda t=t, summary=summary: th.edit_theme_summary(project, int(t.id), summary), f"Editing {t.name}")  # type: ignore[arg-type]
                    st.rerun()
            if len(t.code_ids) >= 2:
                with st.form(f"t_split_{t.id}"):
                    st.markdown("**Split**: the codes you pick form a new theme; the rest stay together.")
                    first = st.multiselect("Codes for the new theme", t.code_ids,
                                           format_func=lambda c: code_by_id[c].name if c in code_by_id else str(c))
                    names = st.text_input("Names of the two themes (comma-separated, optional)")
                    if st.form_submit_button("Split") and first and len(first) < len(t.code_ids):
                        rest = [c for c in t.code_ids if c not in first]
                        nm = [x.strip() for x in names.split(",") if x.strip()] or None
                        if ui.run(lambda t=t, groups=[first, rest], nm=nm: th.split_theme(project, int(t.id), groups, nm), f"Splitting {t.name}") is not None:  # type: ignore[arg-type]
                            ui.flash(f"Split {t.name}")
                            st.rerun()

st.divider()
st.subheader("Spread across the corpus", anchor=False)
c1, c2, _ = st.columns([1, 2, 2])
unit = c1.radio("Rows", ["code", "theme"], horizontal=True, key="cov_unit")
by = c2.radio("Columns", ["participant", "kind", "sector"], horizontal=True, key="cov_by")
frame = ui.run(lambda: _coverage(str(project.folder), ver, by, unit), "Building the coverage matrix")
if frame is not None and not frame.empty and frame.to_numpy().sum() > 0:
    long = frame.reset_index().melt(id_vars=unit, var_name=by, value_name="codings")
    base = alt.Chart(long).encode(
        x=alt.X(f"{by}:N", title=by.capitalize(), axis=alt.Axis(labelAngle=-40)),
        y=alt.Y(f"{unit}:N", title=None, sort=list(frame.index), axis=alt.Axis(labelLimit=220)))
    heat = base.mark_rect().encode(
        color=alt.Color("codings:Q", scale=alt.Scale(scheme="blues"), title="Codings"),
        tooltip=[unit, by, "codings"])
    labels = base.mark_text(fontSize=10).encode(
        text=alt.condition(alt.datum.codings > 0, "codings:Q", alt.value("")),
        color=alt.condition(alt.datum.codings > frame.to_numpy().max() / 2, alt.value("white"), alt.value("#1f2a33")))
    # room for the rotated column labels below the rows, however few rows there are
    st.altair_chart((heat + labels).properties(height=max(200, 24 * len(frame) + 110)), width="stretch")
else:
    st.caption("No accepted codings yet: the heat map fills in as you accept suggestions.")
