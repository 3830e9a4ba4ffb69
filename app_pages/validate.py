"""Validate before batch coding: draw a stratified sample, code it blind (the AI's suggestions are
hidden on its sources), let the engine code the same excerpts without learning from your codings,
and read per code how far to trust it (kappa, AC1, prevalence, precision, recall, with 95%
bootstrap intervals). Accept the report and batch runs leave out, or flag, the codes below your bar.
All of it goes through `assistant.coding.validation`; every write is audited there."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app_pages import _common as ui
from app_pages import render
from assistant.coding import decisions
from assistant.coding import validation as va

project = ui.open_project()
ui.heading("Validate", "Before the AI codes the corpus, measure it against your own blind coding of a sample.")

store = project.store
validations = store.list_validations()

with st.expander("Draw a new sample", expanded=not validations), st.form("draw"):
    c1, c2 = st.columns(2)
    size = c1.number_input("Excerpts", min_value=2, max_value=2000, value=va.DEFAULT_SIZE, step=5,
                           help="Stratified across sources and participants.")
    seed = c2.number_input("Seed", min_value=0, value=0, step=1, help="The same seed draws the same sample.")
    if st.form_submit_button("Draw sample", type="primary"):
        vid = ui.run(lambda: va.draw_sample(project, int(size), int(seed)), "Drawing the sample")
        if vid is not None:
            ui.flash(f"Validation {vid}: sample drawn; its sources are blind for you until the run")
            st.rerun()

if not validations:
    st.info(render.label("No validation yet: draw a sample above."))
    st.stop()

labels = {v["id"]: f"Validation {v['id']} · {v['status']} · {v['size']} excerpts · {v['created_at'][:16]}"
          for v in validations}
# option labels are shown as plain text (not Markdown), as on every page: no escaping here
vid = st.selectbox("Validation", list(reversed(list(labels))), format_func=labels.get)
v = store.get_validation(vid)
decided, todo = va.analyst_labels(project, vid)
items = {i["excerpt_id"]: i for i in store.validation_items(vid)}
exs = va.sample_excerpts(project, vid)
codes = store.list_codes()
code_names = {c.id: c.name for c in codes}
sources = {s.id: s.name for s in store.list_sources()}

st.progress((len(exs) - len(todo)) / max(1, len(exs)),
            text=render.label(f"{len(exs) - len(todo)} of {len(exs)} sample excerpts coded"))

tab_code, tab_report = st.tabs(["Code the sample", "Report"])

with tab_code:
    only_todo = st.toggle("Only those still to code", value=bool(todo))
    for e in exs:
        if only_todo and e.id not in todo:
            continue
        with st.container(border=True):
            who = sources.get(e.source_id, "?") + (f" · {e.speaker}" if e.speaker else "")
            render.caption(f"Excerpt {e.id} · {who} · {'to code' if e.id in todo else 'coded'}")
            render.text(e.text)
            have = sorted(decided.get(e.id, set()))
            chosen = st.multiselect("Codes", [c.id for c in codes], default=[c for c in have if c in code_names],
                                    format_func=lambda i: render.label(code_names.get(i, "?")), key=f"codes-{vid}-{e.id}")
            none = st.checkbox("No code applies", value=bool(items[e.id]["no_code"]), key=f"none-{vid}-{e.id}")
            if st.button("Save", key=f"save-{vid}-{e.id}"):
                def save(e=e, chosen=chosen, have=have, none=none) -> int:
                    n = 0
                    for cid in chosen:
                        if cid not in have:
                            decisions.add_coding(project, e.source_id, e.start, e.end, cid)
                            n += 1
                    if bool(none) != bool(items[e.id]["no_code"]):
                        va.mark_no_code(project, vid, [e.id], bool(none))
                    return n
                added = ui.run(save, "Saving the coding")
                if added is not None:
                    ui.flash(f"Excerpt {e.id} saved ({added} coding(s) added)")
                    st.rerun()
            if set(have) - set(chosen):
                st.caption(render.label("To take a code off, remove the coding on the Code page."))

with tab_report:
    with st.form("run"):
        c1, c2, c3, c4 = st.columns(4)
        bar0 = v["bar"] or {}
        metric = c1.selectbox("Measure", list(va.METRICS), index=list(va.METRICS).index(bar0.get("metric", "kappa")))
        bound = c2.selectbox("Judged on", ["low", "point"], index=0 if bar0.get("bound", "low") == "low" else 1,
                             format_func=lambda b: "lower end of the 95% interval" if b == "low" else "the estimate")
        minimum = c3.number_input("Bar", value=float(bar0.get("minimum", 0.4)), min_value=-1.0, max_value=1.0, step=0.05)
        action = c4.selectbox("Codes below the bar", ["flag", "exclude"], index=0 if bar0.get("action", "flag") == "flag" else 1,
                              format_func=lambda a: "flag them in the queue" if a == "flag" else "leave them out of batch runs")
        if st.form_submit_button("Run the engine on the sample", type="primary"):
            bar = va.Bar(metric=metric, bound=bound, minimum=float(minimum), action=action)  # type: ignore[arg-type]
            with st.spinner("The engine is coding the sample (it does not see your codings of it)…"):
                rep = ui.run(lambda: va.run_validation(project, vid, bar), "Running the validation")
            if rep is not None:
                ui.flash(f"Validation {vid} run: {rep['summary']['passes']} codes pass, "
                         f"{rep['summary']['below_bar']} below the bar")
                st.rerun()
    report = v["report"]
    if report:
        s = report["summary"]
        st.markdown(render.md(
            f"{report['engine']} engine ({report['model'] or 'no model'}) against {report['coder']} on "
            f"{report['units']} excerpts. Bar: {report['bar_words']}. {s['passes']} codes pass, {s['below_bar']} are "
            f"below the bar, {s['unassessed']} were not assessed (nobody applied them in the sample). Intervals: 95% "
            f"bootstrap over the sampled excerpts."))
        if report.get("baseline"):
            line = va.baseline_words(report).removeprefix("- ")
            (st.warning if report["baseline"].get("engine_below_offline") else st.caption)(render.label(line))
        rows = [{"Code": r["code"], "Verdict": r["status"].replace("_", " "), "Prevalence": r["prevalence"],
                 **{f"{m.capitalize() if m != 'ac1' else 'AC1'}": r[m] for m in va.METRICS},
                 **{f"{m} 95% CI": f"{r[m + '_low']} – {r[m + '_high']}" if r[m + "_low"] is not None else "n/a"
                    for m in va.METRICS},
                 "Analyst yes": r["analyst_yes"], "Engine yes": r["engine_yes"],
                 **({"Offline engine's kappa": r.get("offline_kappa")} if report.get("baseline") else {})}
                for r in report["codes"]]
        st.dataframe(pd.DataFrame(rows), hide_index=True, use_container_width=True)
        c1, c2, c3 = st.columns(3)
        if v["status"] != "accepted":
            if c1.button("Accept: gate batch runs by this report", type="primary") and ui.run(
                    lambda: (va.accept_validation(project, vid), True)[1], "Accepting the report"):
                ui.flash(f"Validation {vid} accepted: precode is gated by it")
                st.rerun()
        else:
            c1.success(render.label("Accepted: batch runs are gated by this report"))
        for col, fmt, mime in ((c2, "csv", "text/csv"), (c3, "md", "text/markdown")):
            text = va.report_csv(report) if fmt == "csv" else va.report_markdown(report)
            if col.download_button(f"Download {fmt.upper()}", text, file_name=f"validation-{vid}.{fmt}", mime=mime):
                ui.run(lambda fmt=fmt: va.export_report(project, vid, fmt), "Saving the export")
    else:
        st.caption(render.label("Not run yet."))
