"""Agreement and export: coder-vs-coder agreement (kappa, alpha, AC1, prevalence, F1) with a per-code
chart and the disagreements to discuss; exports (.qdpx, .qdc, CSV, audit log) as downloads. Each
download writes the file into the project's exports/ folder too, and is audited.

The figures say what they are over: each code's units and how they were chosen (its scope, the
sources assigned to both coders, or the excerpts both coded), uses of a code outside its scope, and,
above everything, whether the comparison is of independent judgements at all
(`blind.comparison_independence`: a coder who accepted the AI's suggestions is not a second opinion
on that AI)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import altair as alt
import pandas as pd
import streamlit as st

from app_pages import _common as ui
from app_pages import pseudonyms as pz
from app_pages import render, signin
from assistant.coding import agreement as ag
from assistant.coding.blind import blind_sources, comparison_independence
from assistant.models import is_ai_coder

project = ui.open_project()
ui.heading("Agreement & export", "Inter-coder agreement for your methods section, and files for other tools.")


BASIS_WORDS = {"scope": "its scope", "assigned": "sources assigned to both", "all": "excerpts both coded",
               "mixed": "each code over its own units"}
COLUMNS_FIRST = ["code", "units", "units_basis", "units_rule"]


@st.cache_data(show_spinner=False, max_entries=16)
def _report(folder: str, version: int, a: str, b: str, overlap: float, sources: tuple[int, ...] | None,
            filters: tuple[tuple[str, tuple[str, ...]], ...] | None):
    p = ui._open(folder)
    kw = {"assigned_sources": list(sources) if sources is not None else None,
          "assigned_filters": {k: list(v) for k, v in filters} if filters else None}
    return ag.agreement_report(p, a, b, overlap, **kw), ag.disagreements(p, a, b, overlap, **kw)


@st.cache_data(show_spinner=False, max_entries=16)
def _independence(folder: str, version: int, a: str, b: str):
    return comparison_independence(ui._open(folder), a, b)


def _assigned_control() -> tuple[tuple[int, ...] | None, tuple[tuple[str, tuple[str, ...]], ...] | None]:
    """Which sources both coders were asked to code: named, or those matching an attribute. With
    them, an excerpt a coder left uncoded counts as "code absent" instead of being left out."""
    srcs = project.store.list_sources()
    names = {int(s.id): s.name for s in srcs}  # type: ignore[arg-type]
    with st.expander("Units: which excerpts count", expanded=st.session_state.get("ag_basis") == "assigned"):
        basis = st.radio("Compare over", ["coded", "assigned"], horizontal=True, key="ag_basis",
                         format_func=lambda x: "the excerpts both coders coded" if x == "coded"
                         else "every excerpt of the sources assigned to both coders")
        if basis != "assigned":
            return None, None
        chosen = st.multiselect("Sources assigned to both coders", list(names), format_func=lambda i: render.name(names[i]),
                                key="ag_sources")
        attrs: dict[str, set[str]] = {"kind": {s.kind for s in srcs}}
        for s in srcs:
            for k, v in s.attributes.items():
                if v not in (None, ""):
                    attrs.setdefault(k, set()).add(str(v))
        c1, c2 = st.columns(2)
        key = c1.selectbox("…and/or the sources whose attribute", [None, *sorted(attrs)], key="ag_attr",
                           format_func=lambda k: "(no attribute)" if k is None else k)
        values = c2.multiselect("is one of", sorted(attrs.get(key, ())), key="ag_attr_values",
                                format_func=render.name) if key else []
        if not chosen and not values:
            st.info("Choose the assigned sources, or an attribute and its values. Until then the figures are over "
                    "the excerpts both coders coded.")
            return None, None
        return tuple(sorted(chosen)), ((key, tuple(values)),) if key and values else None


def _independence_note(a: str, b: str):
    """The verdict, shown above the figures; returned so the figures can carry the mark too."""
    verdict = ui.run(lambda: _independence(str(project.folder), ui.version(project), a, b),
                     "Checking whether the comparison is independent")
    if verdict is None:
        return None
    if verdict.independent:
        st.success(render.label(f"Independent comparison: over the {len(verdict.sources_compared)} source(s) both "
                                "coded, neither coder could have seen the other's work."),
                   icon=":material/verified:")
        return verdict
    body = ("**Not an independent comparison**: these figures do not measure agreement between two "
            "independent judgements.  \n" + "  \n".join("• " + render.label(r) for r in verdict.reasons))
    st.error(body, icon=":material/link:")
    return verdict


tab_agree, tab_export = st.tabs(["Agreement", "Export"])

def _still_blind() -> int:
    """How many sources the person at this screen is still coding blind. Until their double coding is
    done, the figures and the disagreements would show them the other coder's work, so a coder sees
    neither; a lead (who assigns and adjudicates) always does."""
    if signin.role() == "lead":
        return 0
    return len(blind_sources(project, project.analyst)) if project.analyst else 0


with tab_agree:
    coders = ag.list_coders(project)
    names = [c["name"] for c in coders if c["codings"]]
    blind_left = _still_blind()
    if blind_left:
        st.info(render.label(f"You are coding {blind_left} source(s) blind. Agreement and the disagreements open "
                             "when your double coding is done, so they cannot shape it."),
                icon=":material/visibility_off:")
    elif len(names) < 2:
        st.info("Agreement needs two coders with codings. Import a colleague's coding as a .qdpx project "
                "(`thematic import`), have a second analyst code in this project under their own name "
                "(Settings → analyst), or pre-code with the AI (Coding page) to compare yourself with it.")
        if coders:
            st.dataframe(pd.DataFrame(coders), hide_index=True)
    else:
        c1, c2, c3 = st.columns([2, 2, 1])
        human = [n for n in names if not is_ai_coder(n)] or names
        a = c1.selectbox("Coder A (reference)", names, index=names.index(human[0]))
        b = c2.selectbox("Coder B", names, index=next((i for i, n in enumerate(names) if n != a), 1),
                         help="AI coders (ai:engine:model) are offered when the project has AI suggestions.")
        if any(is_ai_coder(n) for n in (a, b)):
            st.caption("AI coders (ai:engine:model) are compared through their suggestions, whatever you "
                       "decided about them; superseded suggestions are left out.")
        overlap = c3.slider("Overlap rule", 0.1, 1.0, 0.5, 0.1, help="How much a coding must cover an excerpt to count.")
        assigned, filters = _assigned_control()
        verdict = None
        if a == b:
            st.warning("Choose two different coders.")
        else:
            verdict = _independence_note(a, b)
        res = ui.run(lambda: _report(str(project.folder), ui.version(project), a, b, overlap, assigned, filters),
                     "Computing agreement") if a != b else None
        if res is not None:
            rep, diffs = res
            o = rep.overall
            if verdict is not None and not verdict.independent:  # beside the numbers too, where they get copied from
                st.markdown(":red-badge[:material/link: Not independent] "
                            + render.label(f"{len(verdict.dependent_sources)} of {len(verdict.sources_compared)} shared "
                                           "source(s) were not coded independently: read these figures as "
                                           "consistency with the other coder, not as agreement."))
            m = st.columns(6)
            fmt = lambda x: "–" if x is None else f"{x:.2f}"
            m[0].metric("Cohen's kappa", fmt(o.kappa))
            m[1].metric("Krippendorff's alpha", fmt(o.alpha))
            m[2].metric("Gwet's AC1", fmt(o.ac1))
            m[3].metric("% agreement", fmt(o.percent_agreement))
            m[4].metric("F1 (B vs A)", fmt(o.f1))
            m[5].metric("Units (excerpts)", o.units, help="Excerpts any code was compared on; each code is compared "
                        "over its own units (see the table).")
            basis = BASIS_WORDS.get(o.units_basis, o.units_basis)
            by_basis = ", ".join(f"{n} by {BASIS_WORDS.get(k, k)}" for k, n in rep.codes_by_basis.items())
            assigned_words = (f" · {rep.assigned_sources} source(s) assigned to both" if rep.assigned_sources is not None
                              else "")
            st.markdown(render.label(f"Units: {o.units} excerpts, {basis} ({rep.excerpts_compared} before scoping, "
                                     f"{BASIS_WORDS.get(rep.units_basis, rep.units_basis)}){assigned_words}"
                                     + (f" · codes: {by_basis}" if by_basis else "")))
            render.caption((o.units_rule + " · " if o.units_rule else "") + rep.rule
                           + (f" · macro kappa {rep.macro_kappa:.2f}" if rep.macro_kappa is not None else ""))
            if rep.outside_scope:
                total = sum(rep.outside_scope.values())
                st.warning(render.label(f"{total} use(s) of {len(rep.outside_scope)} code(s) outside their scope, left "
                                        "out of those codes' figures: " + ", ".join(
                                            f"{k} ({v})" for k, v in rep.outside_scope.items())),
                           icon=":material/crop_free:")
            rows = pd.DataFrame([r.model_dump(exclude={"code_id"}) for r in rep.per_code])
            if not rows.empty:
                rows = rows[[c for c in COLUMNS_FIRST if c in rows] + [c for c in rows if c not in COLUMNS_FIRST]]
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
                st.dataframe(pd.DataFrame(pz.rows([d.model_dump(exclude={"excerpt_id", "code_id"}) for d in diffs],
                                                  ["source"])),
                             hide_index=True, width="stretch", height=300)

with tab_export:
    st.markdown("Files are built when you click, saved into "
                f"{render.label(project.exports_dir)} as well, and recorded in the audit log.")

    def _build(name: str, writer: Callable[[Path], object]) -> Callable[[], bytes]:
        def data() -> bytes:
            out = project.exports_dir / name  # the exporters write atomically (temp file + os.replace)
            writer(out)
            return out.read_bytes()
        return data

    from assistant.exchange import exports
    from assistant.exchange.methods_report import write_methods_report
    from assistant.exchange.refi.export import export_qdc, export_qdpx

    stem = project.folder.name
    items = [
        ("REFI-QDA project (.qdpx)", f"{stem}.qdpx", lambda p: export_qdpx(project, p), "application/zip",
         "For NVivo, ATLAS.ti, MAXQDA, QualCoder: sources, codebook, codings, memos."),
        ("Codebook (.qdc)", f"{stem}-codebook.qdc", lambda p: export_qdc(project, p), "application/xml",
         "The codebook alone, in the REFI-QDA exchange format."),
        ("Methods report (Word)", f"{stem}-methods.docx", lambda p: write_methods_report(project, p),
         "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
         "How the analysis was done and how AI was used, with a draft paragraph; every figure traced to the audit log."),
        ("Methods report (Markdown)", f"{stem}-methods.md", lambda p: write_methods_report(project, p),
         "text/markdown", "The same report as Markdown."),
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
