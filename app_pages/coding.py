"""Code: the review queue of AI suggestions (accept / reject / edit / undo, one key each) beside the
codebook editor, and running the suggestion engine on a source or the whole corpus."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app_pages import _common as ui
from app_pages import render
from assistant.coding import codebook as cb
from assistant.coding import decisions
from assistant.coding.suggest import list_suggestions

project = ui.open_project()
store = project.store
ui.heading("Code", "Review what the AI proposes; you decide. Keys: A accept · X reject · N next · P previous · U undo.")


@st.cache_data(show_spinner=False, max_entries=64)
def _views(folder: str, version: int, code: int | None, source: int | None, engine: str | None, min_score: float | None):
    return list_suggestions(ui._open(folder), status="pending", code=code, source=source, engine=engine,
                            min_score=min_score)


@st.cache_data(show_spinner=False, max_entries=8)
def _code_table(folder: str, version: int) -> pd.DataFrame:
    p = ui._open(folder)
    codes = p.store.list_codes()
    tree = cb.code_tree(codes)
    depth = {cid: tree.depth(cid) for cid in tree.parents}
    counts = {k: sum(v.values()) for k, v in p.store.code_counts().items()}
    pending: dict[int, int] = {}
    for s in p.store.list_suggestions(status="pending"):
        if s.code_id is not None:
            pending[s.code_id] = pending.get(s.code_id, 0) + 1
    return pd.DataFrame([{"code": "\u2003" * depth[int(c.id)] + ("↳ " if depth[int(c.id)] else "") + c.name, "codings": counts.get(c.id, 0),  # type: ignore[arg-type]
                          "to review": pending.get(int(c.id), 0), "definition": c.definition}  # type: ignore[arg-type]
                         for c in codes])


def _context(speaker: str | None, text: str, before: bool, limit: int = 360) -> None:
    """A neighbouring turn, greyed and cut to its nearest part, so the excerpt stays the focus."""
    if len(text) > limit:
        text = "…" + text[-limit:] if before else text[:limit] + "…"
    st.html(render.context_html(speaker, text))


ver = ui.version(project)
codes = store.list_codes()
code_by_id = {int(c.id): c for c in store.list_codes(include_inactive=True)}  # type: ignore[arg-type]
sources = {int(s.id): s.name for s in store.list_sources()}  # type: ignore[arg-type]
review, side = st.columns([5, 3], gap="large")

# -- filters ----------------------------------------------------------------------------------------
with review:
    f1, f2, f3, f4 = st.columns([3, 3, 2.2, 1.8])
    code_f = f1.selectbox("Code", [None, *[int(c.id) for c in codes]],  # type: ignore[arg-type]
                          format_func=lambda i: "All codes" if i is None else code_by_id[i].name, key="rv_code")
    qp_source = st.query_params.get("source")
    if qp_source and qp_source.isdigit() and int(qp_source) in sources and "rv_source" not in st.session_state:
        st.session_state["rv_source"] = int(qp_source)
    source_f = f2.selectbox("Source", [None, *sources], format_func=lambda i: "All sources" if i is None else sources[i],
                            key="rv_source")
    engine_f = f3.selectbox("Engine", [None, "offline", "llm"], format_func=lambda e: e or "Any", key="rv_engine")
    min_score = f4.number_input("Min score", value=0.0, step=0.25, key="rv_min",
                                help="The engine's score (offline engine: how many standard deviations above "
                                     "typical similarity for that code).")
    views = _views(str(project.folder), ver, code_f, source_f, engine_f, min_score or None)

    if not views:
        st.success("Nothing waiting for review with these filters. Run the engine on the right to get suggestions.")
    else:
        idx = min(st.session_state.get("rv_idx", 0), len(views) - 1)
        v = views[idx]
        s = v.suggestion
        ex = store.get_excerpt(s.excerpt_id)
        src = store.get_source(s.source_id)
        code = None if v.is_new_code else code_by_id.get(s.code_id)  # type: ignore[arg-type]
        colour = code.colour if code else "#9e9e9e"
        with st.container(border=True):
            st.caption(f"Suggestion {idx + 1} of {len(views)} · " + ui.ai_caption(s.engine, s.model, s.score))
            if v.suspicious:  # first, before anything the model says: its say-so is no reason to trust it
                st.warning("**Suspicious evidence: check it against the words themselves.** This passage reads like "
                           "instructions to the AI (telling it which code to give, or to ignore its rules), so the "
                           "suggestion may come from the text steering the model rather than from what it means.",
                           icon=":material/gpp_maybe:")
            if code is not None:
                ui.chips([(code.name, code.colour)])
                if code.definition:
                    render.caption(code.definition)
            else:  # the model's proposal: marked as new, its name and definition shown as text
                st.html(render.chip_html(s.proposed_name or "?", colour, new=True))
                st.caption("The AI proposes a code that is not in your codebook; accepting adds it.")
                if s.proposed_definition:
                    render.caption(f"Proposed definition: {s.proposed_definition}")
            for n in store.neighbours(ex, before=1, after=0):
                _context(n.speaker, n.text, before=True)
            evidence = ((s.evidence_start, s.evidence_end) if s.evidence_start is not None and s.evidence_end is not None
                        else None)
            ev = evidence or (ex.start, ex.end)
            ui.page_link("corpus", f"{v.source}" + (f" · {ex.speaker}" if ex.speaker else "") + (f" · p.{ex.page}" if ex.page else "")
                         + " — open in the source", {"source": s.source_id, "start": ev[0], "end": ev[1]}, ":material/description:")
            st.html(render.excerpt_html(src.text, ex.start, ex.end, evidence, colour))
            for n in store.neighbours(ex, before=0, after=1):
                _context(n.speaker, n.text, before=False)
            if s.rationale:  # model output: shown as text, never as Markdown
                render.caption(f"Why the AI suggests it: {s.rationale}")

        def _accept(span: str = "excerpt") -> None:
            coding = ui.run(lambda: decisions.accept(project, int(s.id), span=span),  # type: ignore[arg-type]
                            f"Accepting suggestion {s.id} ({v.label} in {v.source})")
            if coding is not None:
                ui.flash(f"Coded as {v.label}")

        def _reject() -> None:
            if ui.run(lambda: decisions.reject(project, int(s.id)), f"Rejecting suggestion {s.id}") is not None:  # type: ignore[arg-type]
                ui.flash(f"Rejected {v.label}", ":material/close:")

        def _move(step: int) -> None:
            st.session_state["rv_idx"] = max(0, min(len(views) - 1, idx + step))

        def _undo() -> None:
            if not decisions.undoable(project):
                ui.flash("Nothing to undo", ":material/info:")
                return
            d = ui.run(lambda: decisions.undo_last(project), "Undo")
            if d is not None:
                ui.flash(f"Undid your last {d.action}", ":material/undo:")

        with st.container(horizontal=True, gap="small"):
            st.button("Accept" + (" and add the code" if v.is_new_code else ""), type="primary", shortcut="A",
                      on_click=_accept, key="rv_accept", icon=":material/check:",
                      help="This code is not in your codebook: accepting adds it." if v.is_new_code else None)
            st.button("Evidence only", on_click=_accept, args=("evidence",), key="rv_accept_ev",
                      disabled=evidence is None, help="Accept, coding just the highlighted evidence instead of the whole turn.")
            st.button("Reject", shortcut="X", on_click=_reject, key="rv_reject", icon=":material/close:")
            st.space("stretch")
            st.button("", shortcut="P", on_click=_move, args=(-1,), key="rv_prev", icon=":material/arrow_back:",
                      help="Previous suggestion", disabled=idx == 0)
            st.button("", shortcut="N", on_click=_move, args=(1,), key="rv_next", icon=":material/arrow_forward:",
                      help="Next suggestion (skip)", disabled=idx >= len(views) - 1)
            st.button("Undo", shortcut="U", on_click=_undo, key="rv_undo", icon=":material/undo:",
                      help="Undo your last decision")

        with st.expander("Edit before accepting (change the code or the words coded)"):
            with st.form(f"edit_{s.id}"):
                ids = [int(c.id) for c in codes]  # type: ignore[arg-type]
                new_code = st.selectbox("Code", ids, format_func=lambda i: code_by_id[i].name,
                                        index=ids.index(s.code_id) if s.code_id in ids else 0)
                words = st.text_area("Words to code (trim to the span you want; they must appear in the source)",
                                     value=s.evidence_text or ex.text, height=120)
                if st.form_submit_button("Save edit"):
                    done = ui.run(lambda: decisions.edit(project, int(s.id), code=new_code, start=ex.start, text=words),  # type: ignore[arg-type]
                                  f"Editing suggestion {s.id}")
                    if done is not None:
                        ui.flash(f"Coded as {code_by_id[new_code].name} (edited)")
                        st.rerun()

        with st.expander(f"Queue ({len(views)} waiting)"):
            st.dataframe(pd.DataFrame([{"#": i + 1, "code": x.label, "source": x.source, "speaker": x.speaker,
                                        "score": x.suggestion.score, "engine": x.suggestion.engine,
                                        "check": "suspicious evidence" if x.suspicious else "",
                                        "excerpt": x.excerpt_text[:140]} for i, x in enumerate(views)]),
                         hide_index=True, width="stretch", height=300)

# -- codebook and engine ----------------------------------------------------------------------------
with side:
    st.subheader("Codebook", anchor=False)
    st.dataframe(_code_table(str(project.folder), ver), hide_index=True, width="stretch", height=260,
                 column_config={"code": st.column_config.TextColumn(width="medium"),
                                "codings": st.column_config.NumberColumn(width="small"),
                                "to review": st.column_config.NumberColumn(width="small"),
                                "definition": st.column_config.TextColumn(width="large")})
    names = [c.name for c in codes]
    t_add, t_edit, t_rename, t_merge, t_split = st.tabs(["Add", "Edit", "Rename", "Merge", "Split"])
    with t_add, st.form("code_add", clear_on_submit=True):
        name = st.text_input("Name")
        parent = st.selectbox("Parent", [None, *names], format_func=lambda n: n or "(top level)")
        definition = st.text_area("Definition", height=80)
        colour = st.color_picker("Colour", "#4e79a7")
        if st.form_submit_button("Add code") and name:
            if ui.run(lambda: cb.add_code(project, name, parent=parent, definition=definition, colour=colour),
                      f"Adding code {name!r}") is not None:
                ui.flash(f"Added {name}")
                st.rerun()
    with t_edit:
        target = st.selectbox("Code", names, key="edit_code") if names else None
        if target:
            c = store.get_code(target)
            with st.form(f"code_edit_{c.id}"):
                d = st.text_area("Definition", c.definition, height=80)
                inc = st.text_area("Include when", c.include, height=60)
                exc = st.text_area("Exclude when", c.exclude, height=60)
                col = st.color_picker("Colour", render.safe_colour(c.colour))
                if st.form_submit_button("Save"):
                    if ui.run(lambda: cb.update_code(project, int(c.id), definition=d, include=inc, exclude=exc, colour=col),  # type: ignore[arg-type]
                              f"Saving code {c.name!r}") is not None:
                        ui.flash(f"Saved {c.name}")
                        st.rerun()
    with t_rename, st.form("code_rename"):
        old = st.selectbox("Code", names, key="rename_code")
        new = st.text_input("New name")
        if st.form_submit_button("Rename") and old and new:
            if ui.run(lambda: cb.rename_code(project, old, new), f"Renaming {old!r}") is not None:
                ui.flash(f"Renamed {old} → {new}")
                st.rerun()
    with t_merge, st.form("code_merge"):
        a = st.selectbox("Merge this code…", names, key="merge_from")
        b = st.selectbox("…into", names, key="merge_into")
        if st.form_submit_button("Merge") and a and b:
            if ui.run(lambda: cb.merge_codes(project, a, b), f"Merging {a!r} into {b!r}") is not None:
                ui.flash(f"Merged {a} into {b}")
                st.rerun()
    with t_split, st.form("code_split"):
        sc = st.selectbox("Split this code…", names, key="split_code")
        parts = st.text_input("…into new child codes (comma-separated)")
        if st.form_submit_button("Split") and sc and parts.strip():
            made = ui.run(lambda: cb.split_code(project, sc, [p.strip() for p in parts.split(",") if p.strip()]),
                          f"Splitting {sc!r}")
            if made is not None:
                ui.flash(f"Split {sc} into {len(made)} codes; re-code its excerpts as you go")
                st.rerun()

    st.subheader("Run the AI", anchor=False)
    engines = ["offline"] + (["llm"] if project.settings.llm.provider != "none" else [])
    engine = st.radio("Engine", engines, horizontal=True,
                      format_func=lambda e: "Offline (on this machine)" if e == "offline"
                      else render.label(f"LLM: {ui.engine_label(project)}"))
    run_src = st.selectbox("Source", list(sources), format_func=sources.get, key="run_source",
                           index=list(sources).index(source_f) if source_f in sources else 0) if sources else None
    c1, c2 = st.columns(2)
    if c1.button("Suggest for source", disabled=run_src is None):
        from assistant.coding.suggest import suggest_source

        with st.spinner(render.label(f"Suggesting codes for {sources.get(run_src)}…")):
            made = ui.run(lambda: suggest_source(project, run_src, engine=engine), f"Suggesting codes for {sources.get(run_src)}")
        if made is not None:
            ui.flash(f"{len(made)} suggestions for {sources.get(run_src)}")
            st.rerun()
    if c2.button("Pre-code all", help="Run the engine over every excerpt (resumable)."):
        from assistant.coding.precode import precode

        bar = st.progress(0.0, text="Pre-coding…")
        rep = ui.run(lambda: precode(project, engine=engine,
                                     progress=lambda d, t: bar.progress(d / t if t else 1.0, text=f"Pre-coding: {d}/{t} excerpts")),
                     "Pre-coding")
        if rep is not None:
            for err in rep.errors[:10]:
                st.error(render.md(f"Excerpt {err.get('excerpt_id')}: {err.get('error')}"))
            ui.flash(f"Pre-coding {rep.status}: {rep.suggestions} suggestions on {rep.done} excerpts"
                     + (f", {rep.failed} failed" if rep.failed else ""))
            st.rerun()
