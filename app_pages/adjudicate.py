"""Double coding: assignments and adjudication. The lead assigns sources (named, or a seeded sample
stratified by an attribute) to two or more coders, who code them blind on the Code page and mark
their part done here; when everyone is done the lead sees agreement per code (kappa, alpha, AC1)
and decides each disagreement (keep A, keep B, both, neither, or an edited span or code), which
becomes the consensus coder's codings. Every action is one library call
(`assistant.coding.assignments`, `assistant.coding.adjudication`), audited as the signed-in person."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app_pages import _common as ui
from app_pages import render, signin
from assistant.coding import adjudication as adj
from assistant.coding import assignments as asg
from assistant.people.users import list_users

project = ui.open_project()
me = project.analyst
ui.heading("Double coding", "Blind double coding, agreement per code, and adjudication into the consensus coder.")
lead_block = signin.write_block("lead")


def _coders() -> list[str]:
    team = [u.name for u in list_users(project) if u.role != "viewer"]
    if team:
        return team
    return sorted(c["name"] for c in project.store.list_coders()
                  if c["kind"] == "analyst" and c["name"] != asg.CONSENSUS)


def _new_assignment() -> None:
    sources = project.store.list_sources()
    names = {int(s.id): s.name for s in sources}  # type: ignore[arg-type]
    keys = sorted({"kind"} | {k for s in sources for k in s.attributes})
    with st.expander("Assign sources to code blind", expanded=not asg.list_assignments(project)):
        if lead_block:
            st.info(render.label(lead_block))
        with st.form("assign_form"):
            coders = st.multiselect("Coders (two or more)", _coders(), key="assign_coders")
            how = st.radio("Sources", ["sample", "named"], horizontal=True, key="assign_how",
                           format_func=lambda x: "a stratified sample" if x == "sample" else "these sources")
            chosen = st.multiselect("Sources (when named)", list(names), format_func=lambda i: render.name(names[i]),
                                    key="assign_sources")
            c1, c2, c3 = st.columns(3)
            size = c1.number_input("How many (sample)", min_value=1, max_value=max(1, len(names)),
                                   value=min(2, max(1, len(names))), key="assign_size")
            by = c2.selectbox("Stratified by", ["(none)", *keys], key="assign_by")
            seed = c3.number_input("Seed", min_value=0, value=0, step=1, key="assign_seed")
            hide_ai = st.checkbox("Hide AI suggestions from the coders", value=True, key="assign_hide_ai")
            label = st.text_input("Name", key="assign_name", placeholder="e.g. pilot double coding")
            if st.form_submit_button("Assign", type="primary", disabled=bool(lead_block), help=lead_block):
                kwargs = ({"sample": int(size), "by": None if by == "(none)" else by, "seed": int(seed)}
                          if how == "sample" else {})
                a = ui.run(lambda: asg.assign(project, coders, chosen if how == "named" else None, hide_ai=hide_ai,
                                              name=label, **kwargs), "Assigning")
                if a is not None:
                    ui.flash(f"Assignment {a.id}: {len(a.source_ids)} sources to {', '.join(a.coders)}")
                    st.rerun()


def _assignment(a: asg.Assignment) -> None:
    state = "closed" if a.status == "closed" else ("everyone is done" if a.all_done
                                                     else "waiting for " + ", ".join(a.waiting_for))
    st.subheader(render.label(f"{a.id}. {a.name}"), anchor=False)
    render.caption(f"{len(a.source_ids)} sources to {', '.join(a.coders)} · AI suggestions "
                   f"{'hidden' if a.hide_ai else 'shown'} · {state}")
    render.caption("Sources: " + ", ".join(a.sources))
    if me in a.coders and a.status == "open" and not a.all_done:
        mine = a.coders[me] is not None
        label = "Not done after all" if mine else "I have finished coding these"
        if st.button(label, key=f"done_{a.id}", disabled=bool(signin.write_block("coder")),
                     help=signin.write_block("coder")) and ui.run(
                lambda: asg.mark_done(project, a.id, done=not mine), "Marking done") is not None:
            st.rerun()
    if not a.all_done:
        return
    reports = ui.run(lambda: asg.assignment_agreement(project, a.id), "Agreement")
    for r in reports or []:
        st.markdown(f"**{render.label(r.coder_a)} vs {render.label(r.coder_b)}** · "
                    f"{r.excerpts_compared} excerpts compared")
        rows = [{"code": x.code, "units": x.units, "A": x.a_applied, "B": x.b_applied, "both": x.both,
                 "kappa": x.kappa, "alpha": x.alpha, "AC1": x.ac1} for x in [*r.per_code, r.overall]]
        st.dataframe(pd.DataFrame(rows), hide_index=True, use_container_width=True)
    if signin.role() not in (None, "lead"):
        render.caption("The lead adjudicates the disagreements.")
        return
    _queue(a)


def _queue(a: asg.Assignment) -> None:
    items = ui.run(lambda: adj.queue(project, a.id), "The adjudication queue") or []
    left = sum(1 for i in items if not i.decision)
    st.markdown(f"**Adjudication:** {len(items)} disagreements, {left} to decide")
    if st.button("Copy what everyone agreed on to the consensus coder", key=f"agreed_{a.id}",
                 disabled=bool(lead_block), help=lead_block):
        ids = ui.run(lambda: adj.adopt_agreements(project, a.id), "Copying agreed codings")
        if ids is not None:
            ui.flash(f"{len(ids)} agreed codings copied")
            st.rerun()
    codes = {int(c.id): c.name for c in project.store.list_codes()}  # type: ignore[arg-type]
    coders = list(a.coders)
    for item in items:
        with st.container(border=True):
            head = (f"{item.source} · {item.code} · applied by {', '.join(item.applied_by)}, "
                    f"not by {', '.join(item.not_applied_by)}")
            st.markdown(render.label(head))
            render.quote(item.preview)
            for s in item.spans:
                st.caption(render.md(f"{s.coder} coded {s.start}:{s.end}: {s.text}"))  # the words verbatim
            if item.decision:
                render.caption(f"Decided: {item.decision} by {item.decided_by} (codebook version "
                               f"{item.codebook_version})")
            cols = st.columns(4)
            choices = [("keep_a", f"Keep {coders[0]}"), ("keep_b", f"Keep {coders[1]}"), ("both", "Both"),
                       ("neither", "Neither")]
            for col, (kind, text) in zip(cols, choices):
                if col.button(render.label(text), key=f"adj_{a.id}_{item.key}_{kind}", disabled=bool(lead_block),
                              help=lead_block):
                    done = ui.run(lambda k=kind, key=item.key: adj.decide(project, a.id, key, k), "Deciding")
                    if done is not None:
                        ui.flash(f"{item.source} · {item.code}: {done.decision}")
                        st.rerun()
            with st.expander("Edit: another span or code"):  # noqa: SIM117 - a form inside the expander
                with st.form(f"adj_edit_{a.id}_{item.key}"):
                    c1, c2 = st.columns(2)
                    start = c1.number_input("Start", value=int(item.start), step=1, key=f"adj_s_{item.key}")
                    end = c2.number_input("End", value=int(item.end), step=1, key=f"adj_e_{item.key}")
                    code = st.selectbox("Code", list(codes), index=list(codes).index(item.code_id)
                                        if item.code_id in codes else 0, format_func=codes.get,
                                        key=f"adj_c_{item.key}")
                    new_code = st.text_input("Or a new code", key=f"adj_n_{item.key}")
                    note = st.text_input("Note (kept in the audit log)", key=f"adj_note_{item.key}")
                    if st.form_submit_button("Decide with this span", disabled=bool(lead_block), help=lead_block):
                        edit = {"start": int(start), "end": int(end), "code": code, "new_code": new_code or None,
                                "note": note}
                        done = ui.run(lambda key=item.key, kw=edit: adj.decide(project, a.id, key, "edit", **kw),
                                      "Deciding")
                        if done is not None:
                            ui.flash(f"{item.source}: edited span decided")
                            st.rerun()


if signin.role() in (None, "lead"):
    _new_assignment()
mine = signin.role() not in (None, "lead")
shown = asg.list_assignments(project, coder=me if mine else None)
if not shown:
    st.info("No assignments yet." if not mine else "Nothing is assigned to you yet.")
for a in reversed(shown):
    _assignment(a)
