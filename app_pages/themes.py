"""Themes: draft themes from the accepted codings, then accept, reject, rename, merge and split
them; see each theme's codes, summary and quotes, and how codes or themes spread across
participants, source kinds and sectors (a heat map from the library's coverage matrix)."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from app_pages import _common as ui
from app_pages import render
from app_pages.panels import heat_layout, memos_expander
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


def _crosstab_tables(cross: dict) -> None:
    """Where the theme shows: codings by source kind and by sector as small tables, and the
    interview participants who never touch it."""
    c1, c2 = st.columns(2)
    for col, key, title in ((c1, "codings_by_kind", "Source kind"), (c2, "codings_by_sector", "Sector")):
        counts = cross.get(key) or {}
        if counts:
            col.html(render.table_html([title, "codings"], sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0]))),
                                       numeric=[1]))
    touching, never = cross.get("participants_touching") or [], cross.get("participants_never") or []
    if touching or never:
        render.caption(f"Interview participants: {len(touching)} touch this theme"
                       + (f"; {len(never)} never do: {', '.join(never)}" if never else "; every one does"))


ver = ui.version(project)
code_by_id = {int(c.id): c for c in store.list_codes(include_inactive=True)}  # type: ignore[arg-type]
themes = store.list_themes()
left, right = st.columns([3, 2], gap="large")

with right:
    with st.container(border=True):
        st.markdown("**Draft themes**")
        st.caption("Groups codes with accepted codings into themes and picks supporting quotes. "
                   "Untouched earlier drafts are replaced; accepted or edited themes stay, and their codes "
                   "are not drafted again.")
        n = st.number_input("Number of themes (0 = choose automatically)", 0, th.MAX_THEMES, 0)
        use_llm = project.settings.llm.provider != "none" and st.checkbox(
            render.label(f"Write summaries with {ui.engine_label(project)}"), value=False)
        if st.button("Draft themes", type="primary"):
            llm = None
            if use_llm:
                from assistant.llm import chat_model_for

                llm = ui.run(lambda: chat_model_for(project, required=True), "Connecting to the model")
            with st.status("Drafting themes: reading the accepted codings and grouping the codes…",
                           expanded=True) as status:
                bar = st.progress(0.0, text="Grouping codes by meaning (the first draft loads the embedding model)…")
                rep = ui.run(lambda: th.draft_themes_report(
                    project, n_themes=int(n) or None, llm=llm,
                    progress=lambda d, t: bar.progress(d / t if t else 1.0, text=f"Writing theme {d} of {t}: "
                                                                                 "quotes and summary")),
                    "Drafting themes")
                status.update(label="Themes drafted" if rep is not None else "Drafting stopped",
                              state="complete" if rep is not None else "error")
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
            if t.quotes:
                st.markdown(f"**Supporting quotes** ({len(t.quotes)})")
            for qn, q in enumerate(t.quotes[:6]):
                render.quote(q.text)
                with st.container(horizontal=True, gap="small", vertical_alignment="center"):
                    who = q.attribution or q.source_name
                    render.caption(f"— {who}" + (f" · {q.source_name}" if q.source_name not in who else "")
                                   + (f" · line {q.line}" if q.line else ""))
                    ui.page_link("corpus", "Open in source", {"source": q.source_id, "start": q.start, "end": q.end},
                                 ":material/open_in_new:")
            cross = ui.run(lambda t=t: _crosstab(str(project.folder), ver, int(t.id)), "Cross-tabulating")  # type: ignore[arg-type]
            if cross:
                _crosstab_tables(cross)
            memos_expander(project, "theme", int(t.id), f"theme {t.name}", key=f"theme_{t.id}")  # type: ignore[arg-type]
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
by = c2.radio("Columns", ["participant", "kind", "sector"], horizontal=True, key="cov_by",
              format_func={"participant": "participant", "kind": "source kind", "sector": "sector"}.get)
frame = ui.run(lambda: _coverage(str(project.folder), ver, by, unit), "Building the coverage matrix")
if frame is not None:  # participants' columns by pseudonym when display is pseudonymised
    frame = frame.rename(columns=lambda c: render.name(c))
if frame is not None and not frame.empty and frame.to_numpy().sum() > 0:
    long = frame.reset_index().melt(id_vars=unit, var_name=by, value_name="codings")
    columns = [str(c) for c in frame.columns]
    step, angle, row_px = heat_layout(columns, list(frame.index))
    x_title = {"participant": f"Participant ({th.DOCUMENTS_COLUMN}: every document, together)", "kind": "Source kind",
               "sector": "Sector"}[by]
    base = alt.Chart(long).encode(
        x=alt.X(f"{by}:N", title=x_title, sort=columns,
                axis=alt.Axis(labelAngle=angle, labelLimit=200, labelFontSize=12, orient="top", labelOverlap=False)),
        y=alt.Y(f"{unit}:N", title=None, sort=list(frame.index),
                axis=alt.Axis(labelLimit=row_px, labelFontSize=12, labelOverlap=False)))
    top = max(1, int(frame.to_numpy().max()))
    heat = base.mark_rect(stroke="#ffffff", strokeWidth=1).encode(
        color=alt.Color("codings:Q", scale=alt.Scale(scheme="blues", domain=[0, top]), title="Codings"),
        tooltip=[unit, by, "codings"])
    labels = base.mark_text(fontSize=12).encode(
        text=alt.condition(alt.datum.codings > 0, "codings:Q", alt.value("")),
        color=alt.condition(alt.datum.codings > top / 2, alt.value("white"), alt.value("#1f2a33")))
    # a fixed step per row and column: every label has its room, at 1400 px and in print alike
    st.altair_chart((heat + labels).properties(height=alt.Step(28), width=alt.Step(step)), width="content", theme=None)
    with st.expander("The same numbers as a table"):
        st.dataframe(frame, width="stretch", height=min(38 + 35 * len(frame), 720))
else:
    st.caption("No accepted codings yet: the heat map fills in as you accept suggestions.")
