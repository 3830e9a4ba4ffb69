"""Agreement and export: coder-vs-coder agreement (kappa, alpha, AC1, prevalence, F1) with a per-code
chart and the disagreements to discuss; exports (.qdpx, .qdc, CSV, audit log) as downloads. Each
download writes the file into the project's exports/ folder too, and is audited."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import altair as alt
import pandas as pd
import streamlit as st

from app_pages import _common as ui
from assistant.coding import agreement as ag

project = ui.open_project()
ui.heading("Agreement & export", "Inter-coder agreement for your methods section, and files for other tools.")


@st.cache_data(show_spinner=False, max_entries=16)
def _report(folder: str, version: int, a: str, b: str, overlap: float):
    p = ui._open(folder)
    return ag.agreement_report(p, a, b, overlap), ag.disagreements(p, a, b, overlap)


tab_agree, tab_export = st.tabs(["Agreement", "Export"])

with tab_agree:
    coders = ag.list_coders(project)
    names = [c["name"] for c in coders if c["codings"]]
    if len(names) < 2:
        st.info("Agreement needs two coders with codings. Import a colleague's coding as a .qdpx project "
                "(`thematic import`), have a second analyst code in this project under their own name "
                "(Settings → analyst), or pre-code with the AI (Coding page) to compare yourself with it.")
        if coders:
            st.dataframe(pd.DataFrame(coders), hide_index=True)
    else:
        c1, c2, c3 = st.columns([2, 2, 1])
        human = [n for n in names if not n.startswith("ai:")] or names
        a = c1.selectbox("Coder A (reference)", names, index=names.index(human[0]))
        b = c2.selectbox("Coder B", names, index=next((i for i, n in enumerate(names) if n != a), 1),
                         help="AI coders (ai:engine:model) are offered when the project has AI suggestions.")
        if any(n.startswith("ai:") for n in (a, b)):
            st.caption("AI coders (ai:engine:model) are compared through their suggestions, whatever you "
                       "decided about them; superseded suggestions are left out.")
        overlap = c3.slider("Overlap rule", 0.1, 1.0, 0.5, 0.1, help="How much a coding must cover an excerpt to count.")
        res = ui.run(lambda: _report(str(project.folder), ui.version(project), a, b, overlap), "Computing agreement")
        if res is not None:
            rep, diffs = res
            o = rep.overall
            m = st.columns(6)
            fmt = lambda x: "–" if x is None else f"{x:.2f}"
            m[0].metric("Cohen's kappa", fmt(o.kappa))
            m[1].metric("Krippendorff's alpha", fmt(o.alpha))
            m[2].metric("Gwet's AC1", fmt(o.ac1))
            m[3].metric("% agreement", fmt(o.percent_agreement))
            m[4].metric("F1 (B vs A)", fmt(o.f1))
            m[5].metric("Excerpts compared", rep.excerpts_compared)
            st.caption(rep.rule + (f" · macro kappa {rep.macro_kappa:.2f}" if rep.macro_kappa is not None else ""))
            rows = pd.DataFrame([r.model_dump(exclude={"code_id"}) for r in rep.per_code])
            if not rows.empty:
                st.dataframe(rows, hide_index=True, width="stretch",
                             column_config={k: st.column_config.NumberColumn(format="%.2f") for k in
                                            ("prevalence_either", "prevalence_both", "percent_agreement", "kappa", "alpha",
                                             "ac1", "precision", "recall", "f1", "span_iou", "span_precision", "span_recall")})
                long = rows.melt(id_vars="code", value_vars=["kappa", "ac1", "f1"], var_name="measure").dropna()
                chart = alt.Chart(long).mark_bar().encode(
                    y=alt.Y("code:N", title=None, axis=alt.Axis(labelLimit=240)), x=alt.X("value:Q", scale=alt.Scale(domain=[-0.2, 1])),
                    color=alt.Color("measure:N"), yOffset="measure:N", tooltip=["code", "measure", alt.Tooltip("value:Q", format=".2f")])
                st.altair_chart(chart.properties(height=max(200, 42 * len(rows))), width="stretch")
            st.markdown(f"**Disagreements to discuss** ({len(diffs)})")
            if diffs:
                st.dataframe(pd.DataFrame([d.model_dump(exclude={"excerpt_id", "code_id"}) for d in diffs]),
                             hide_index=True, width="stretch", height=300)

with tab_export:
    st.markdown("Files are built when you click, saved into "
                f"`{project.exports_dir}` as well, and recorded in the audit log.")

    def _build(name: str, writer: Callable[[Path], object]) -> Callable[[], bytes]:
        def data() -> bytes:
            out = project.exports_dir / name  # the exporters write atomically (temp file + os.replace)
            writer(out)
            return out.read_bytes()
        return data

    from assistant.exchange import exports
    from assistant.exchange.refi.export import export_qdc, export_qdpx

    stem = project.folder.name
    items = [
        ("REFI-QDA project (.qdpx)", f"{stem}.qdpx", lambda p: export_qdpx(project, p), "application/zip",
         "For NVivo, ATLAS.ti, MAXQDA, QualCoder: sources, codebook, codings, memos."),
        ("Codebook (.qdc)", f"{stem}-codebook.qdc", lambda p: export_qdc(project, p), "application/xml",
         "The codebook alone, in the REFI-QDA exchange format."),
        ("Codings (CSV)", f"{stem}-codings.csv", lambda p: exports.export_codings(project, p, "csv"), "text/csv",
         "One row per coding, with its verbatim text and source attributes."),
        ("Codebook with counts (CSV)", f"{stem}-codebook.csv", lambda p: exports.export_codebook_counts(project, p, "csv"),
         "text/csv", "Each code with its definition and counts per source kind."),
        ("Audit log (JSON lines)", f"{stem}-audit.jsonl", lambda p: exports.export_audit(project, p, "jsonl"),
         "application/json", "Every action: who, when, what, with which engine and prompt version."),
        ("Audit log (CSV)", f"{stem}-audit.csv", lambda p: exports.export_audit(project, p, "csv"), "text/csv",
         "The same, for a spreadsheet."),
    ]
    for n, (label, fname, writer, mime, helptext) in enumerate(items):
        c1, c2 = st.columns([1, 2])
        c1.download_button(label, _build(fname, writer), file_name=fname, mime=mime, key=f"exp_{n}", width="stretch")
        c2.caption(helptext)
