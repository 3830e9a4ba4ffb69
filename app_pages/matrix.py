"""Matrix: codes by an attribute (sector, participant, source kind, speaker, organisation, ...),
counted as codings, distinct sources or distinct participants, as a heat map and a table, with a
CSV download. Click a cell (in the chart or the table) to read the segments behind it.

The numbers are `assistant.coding.matrix` (the code tree's rule of what counts, the search
filters' semantics), so a cell's count and the segments it opens always agree. The chart is
Vega-Lite drawn by Streamlit's bundled renderer in the browser: nothing is fetched."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from app_pages import _common as ui
from app_pages import pseudonyms as pz
from app_pages import render
from app_pages.panels import (
    attribute_filters,
    attribute_values,
    filters_caption,
    heat_layout,
    segment_cards,
)
from assistant.coding import matrix as mx
from assistant.coding import segments as sg
from assistant.models import MatrixTable

project = ui.open_project()
store = project.store
ui.heading("Matrix", "How each code spreads across sectors, participants, source kinds or any attribute. "
           "Click a cell to read its passages.")

COUNT_WORDS = {"codings": "codings (passages)", "sources": "sources (documents and transcripts)",
               "participants": "participants (people)"}


@st.cache_data(show_spinner=False, max_entries=32)
def _matrix(folder: str, version: int, attribute: str, count: str, filters: tuple, rollup: bool,
            include_ai: bool) -> MatrixTable:
    return mx.matrix(ui._open(folder), attribute, count=count, filters=dict(filters) or None,  # type: ignore[arg-type]
                     rollup=rollup, include_ai=include_ai)


values = attribute_values(project)
attributes = ["sector", "participant", "kind", "speaker", "source"]
attributes = [a for a in attributes if a in values or a in mx.BUILT_IN] + sorted(
    a for a in values if a not in attributes)

with st.container(border=True, key="matrix_controls"):
    c1, c2, c3 = st.columns([2, 3, 2], vertical_alignment="bottom")
    attribute = c1.selectbox("Columns: codes by", attributes, key="mx_attr")
    count = c2.radio("Count", list(COUNT_WORDS), format_func=COUNT_WORDS.get, horizontal=True, key="mx_count")
    with c3:
        rollup = st.checkbox("Parents include their sub-codes", key="mx_rollup")
        include_ai = st.checkbox("Count the AI's own codings", key="mx_ai")
    filters = attribute_filters(project, "mx")
fkey = tuple(sorted((k, tuple(v)) for k, v in filters.items()))
table = ui.run(lambda: _matrix(str(project.folder), ui.version(project), attribute, count, fkey, rollup, include_ai),
               "Building the matrix")
if table is not None:  # participants, speakers, sources...: shown (and downloaded) by pseudonym when display is
    table = pz.matrix(table)  # pseudonymised; each cell keeps its codings, so a click opens the same passages

if table is not None:
    rows = [r for r in table.rows]
    frame = pd.DataFrame([{"code": r.path, **{c: r.cells[c].count for c in table.columns}, "total": r.total.count}
                          for r in rows])
    unit = count
    st.markdown(f"**{len(rows)} codes × {len(table.columns)} {render.label(attribute)} values**, counting {unit}"
                + " · " + render.label(filters_caption(filters)))
    if not rows or not table.columns or frame["total"].sum() == 0:
        st.info("Nothing to count yet: code some passages (Code page or Text search), or loosen the filters.")
    else:
        long = frame.melt(id_vars="code", value_vars=table.columns, var_name="value", value_name="n")
        order = list(frame["code"])
        pick = alt.selection_point(fields=["code", "value"], name="cell", on="click")
        col_w, angle, row_px = heat_layout(table.columns, order)
        base = alt.Chart(long).encode(
            x=alt.X("value:N", title=attribute.capitalize(), sort=table.columns,
                    axis=alt.Axis(labelAngle=angle, labelLimit=200, orient="top", labelFontSize=12, labelOverlap=False)),
            y=alt.Y("code:N", title=None, sort=order, axis=alt.Axis(labelLimit=row_px, labelFontSize=12,
                                                                     labelOverlap=False)))
        top = max(1, int(long["n"].max()))
        heat = base.mark_rect(stroke="#ffffff", strokeWidth=1).encode(
            color=alt.Color("n:Q", scale=alt.Scale(scheme="blues", domain=[0, top]), title=unit.capitalize()),
            opacity=alt.condition(pick, alt.value(1.0), alt.value(0.55)),
            tooltip=[alt.Tooltip("code:N", title="Code"), alt.Tooltip("value:N", title=attribute.capitalize()),
                     alt.Tooltip("n:Q", title=unit.capitalize())]).add_params(pick)
        labels = base.mark_text(fontSize=12).encode(
            text=alt.condition(alt.datum.n > 0, "n:Q", alt.value("")),
            color=alt.condition(alt.datum.n > top / 2, alt.value("white"), alt.value("#1f2a33")))
        chart = (heat + labels).properties(height=alt.Step(26), width=alt.Step(col_w))
        event = st.altair_chart(chart, key="mx_chart", on_select="rerun", selection_mode="cell", width="content",
                                theme=None)
        st.caption("Click a cell to read the passages behind it, here below the chart; the table further down "
                   "has the same numbers (a click on one of its cells works too).")
        cell_box = st.container()  # filled once both the chart's and the table's selections are read
        chosen = None
        sel = (event or {}).get("selection", {}).get("cell") if event else None
        if sel:
            first = sel[0] if isinstance(sel, list) else sel
            if isinstance(first, dict) and first.get("code") is not None and first.get("value") is not None:
                chosen = (str(first["code"]), str(first["value"]))
        d1, d2 = st.columns([4, 1], vertical_alignment="bottom")
        d2.download_button("Download CSV", mx.matrix_csv(table), file_name=f"matrix-{attribute}-{count}.csv",
                           mime="text/csv", icon=":material/download:", key="mx_dl", width="stretch")
        with d1:
            st.markdown("**Table**")
        picked = st.dataframe(frame, hide_index=True, width="stretch", key="mx_table", on_select="rerun",
                              selection_mode="single-cell", height=min(38 + 35 * len(frame), 760),
                              column_config={"code": st.column_config.TextColumn(width="large", pinned=True)})
        cells = getattr(getattr(picked, "selection", None), "cells", None) or []
        if cells:
            r, col = cells[0][0], cells[0][1]
            if col in table.columns and 0 <= int(r) < len(rows):
                chosen = (rows[int(r)].path, col)
        if chosen:
            with cell_box:
                row = next((r for r in rows if r.path == chosen[0]), None)
                if row is not None and chosen[1] in row.cells:
                    cell = row.cells[chosen[1]]
                    st.subheader(render.label(f"{row.path} × {chosen[1]}"), anchor=False)
                    segs = ui.run(lambda: sg.segments_for_codings(project, cell.coding_ids), "Reading the cell's segments")
                    if segs is not None:
                        st.caption(f"{cell.count} {unit} · {len(segs)} coded segment{'s' if len(segs) != 1 else ''}")
                        if segs:
                            st.download_button("Download these segments (CSV)", sg.segments_csv(pz.segments(segs)),
                                               mime="text/csv",
                                               file_name="matrix-cell-segments.csv", key="mx_cell_dl",
                                               icon=":material/download:")
                        segment_cards(segs, key="mx")
