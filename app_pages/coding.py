"""Code: the analyst codes in the document (select words in the reading pane, apply codes, remove
or resize a coding from its stripe), and reviews what the AI proposes (accept / reject / edit /
undo, one key each) beside the codebook editor and the engine.

Every write is one library call that writes its audit row (`assistant.coding.decisions`,
`assistant.coding.codebook`, `assistant.coding.blind`); what a coder may see on a source they code
blind comes from `assistant.coding.blind`, never from the store directly."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app_pages import _common as ui
from app_pages import render
from app_pages.components.reading_pane import Stripe, reading_pane, speaker_labels
from app_pages.support import REVIEW_ORDERS, is_structural, order_suggestions, preview
from assistant.coding import blind, decisions
from assistant.coding import codebook as cb
from assistant.coding.suggest import list_suggestions
from assistant.corpus.view import source_matches
from assistant.verbatim import snap_to_words
from index.text import line_number

project = ui.open_project()
store = project.store
me = project.analyst
ui.heading("Code", "Code by hand in the document, or review what the AI proposes; you decide.")

ver = ui.version(project)
codes = store.list_codes()
code_by_id = {int(c.id): c for c in store.list_codes(include_inactive=True)}  # type: ignore[arg-type]
all_sources = store.list_sources()
sources = {int(s.id): render.name(s.name) for s in all_sources}  # type: ignore[arg-type]
blind_here = blind.blind_sources(project, me)

# -- which view, which source: kept across reruns and pages (session state; the URL when given) ------
qp = st.query_params
VIEWS = {"document": ":material/edit_note: Code in the document", "review": ":material/smart_toy: Review AI suggestions"}
# a link with a span (a search hit, a citation) opens the document on those words, ready to code
qp_view = qp.get("view") or ("document" if qp.get("start") and qp.get("end") else None)
qp_mark = f"{qp_view}:{qp.get('source')}:{qp.get('start')}:{qp.get('end')}"
if qp_view in VIEWS and st.session_state.get("_code_view_qp") != qp_mark:
    st.session_state["code_view_keep"] = st.session_state["code_view"] = qp_view
    st.session_state["_code_view_qp"] = qp_mark
if "code_view" not in st.session_state:
    st.session_state["code_view"] = st.session_state.get("code_view_keep", "review")
view = st.segmented_control("View", list(VIEWS), format_func=VIEWS.get, key="code_view", label_visibility="collapsed") or "review"
st.session_state["code_view_keep"] = view
if qp.get("view") != view:  # in the address too: a reload or a bookmark opens the same view
    qp["view"] = view

qp_source = qp.get("source")
if qp_source and qp_source.isdigit() and int(qp_source) in sources and st.session_state.get("_code_src_qp") != qp_mark:
    st.session_state["code_source_keep"] = int(qp_source)
    st.session_state["_code_src_qp"] = qp_mark
    st.session_state.pop("code_source", None)
    if qp.get("start", "").isdigit() and qp.get("end", "").isdigit():
        st.session_state["code_focus"] = (int(qp_source), int(qp["start"]), int(qp["end"]))
        st.session_state["pane_sel"] = st.session_state["code_focus"]


def _stripes(source_id: int) -> list[Stripe]:
    """The codings of a source the analyst may see (all, or only their own while coding it blind)."""
    out = []
    for c in blind.visible_codings(project, me, source_id):
        code = code_by_id.get(int(c.code_id))
        if code is None:
            continue
        label = code.name if c.coder == me else f"{code.name} · {c.coder}"
        out.append(Stripe(int(c.id), int(c.start), int(c.end), label, render.safe_colour(code.colour), c.coder))  # type: ignore[arg-type]
    return out


# =============================== the document ======================================================
def document_view() -> None:
    if not sources:
        st.info("No sources yet: add documents on the Corpus page.")
        return
    ids = list(sources)
    keep = st.session_state.get("code_source_keep")
    if "code_source" not in st.session_state:
        st.session_state["code_source"] = keep if keep in sources else ids[0]
    top1, top2 = st.columns([3, 2], vertical_alignment="bottom")
    sid = top1.selectbox("Source", ids, format_func=sources.get, key="code_source")
    st.session_state["code_source_keep"] = sid
    if qp.get("source") != str(sid):  # the address follows the choice; a link's span belongs to its own source
        for k in ("start", "end"):
            qp.pop(k, None)
        qp["source"] = str(sid)
        st.session_state["_code_src_qp"] = st.session_state["_code_view_qp"] = f"{view}:{sid}:None:None"
    src = store.get_source(sid)
    is_blind = sid in blind_here
    with top2:
        want = st.toggle("Code this source blind", value=is_blind, key=f"blind_{sid}",
                         help="For double coding: while on, you see no AI suggestions and no other coder's "
                              "codings on this source, so your coding is an independent judgement.")
        if want != is_blind and ui.run(lambda: blind.set_blind(project, me, [sid], on=want),
                                       "Changing blind mode") is not None:
                ui.flash("Blind coding on for this source" if want else "Blind coding off for this source")
                st.rerun()
    if is_blind:
        st.warning(render.label(f"Blind coding is on for you ({me}) on {src.name}: AI suggestions and other "
                                "coders' codings are hidden here."), icon=":material/visibility_off:")

    stripes = _stripes(sid)
    by_id = {s.id: s for s in stripes}
    focus = st.session_state.get("code_focus")
    focus_span = (focus[1], focus[2]) if focus and focus[0] == sid else None
    sel_key = f"pane_{sid}"
    selected = st.session_state.get("pane_coding")
    selected = selected[1] if selected and selected[0] == sid and selected[1] in by_id else None

    st.html(_WIDE)  # the document needs the width: narrower page margins on this view only
    left, right = st.columns([7.3, 2.7], gap="medium")
    with left:
        event = reading_pane(src.text, stripes, key=sel_key, height=700, selected=selected, focus=focus_span,
                             doc_key=f"{sid}:{src.version}",  # speaker labels by pseudonym when display is
                             speakers={sp: render.name(sp) for sp in speaker_labels(src.text)})  # pseudonymised
    if event and event.get("seq") != st.session_state.get(f"_seen_{sel_key}"):
        st.session_state[f"_seen_{sel_key}"] = event.get("seq")
        if event.get("kind") == "selection":
            st.session_state["pane_sel"] = (sid, int(event["start"]), int(event["end"]))
        elif event.get("kind") == "clear":
            st.session_state.pop("pane_sel", None)
        elif event.get("kind") == "coding":
            st.session_state["pane_coding"] = (sid, int(event["id"]))
            selected = int(event["id"]) if int(event["id"]) in by_id else None
    sel = st.session_state.get("pane_sel")
    span = None
    if sel and sel[0] == sid:
        span = snap_to_words(src.text, sel[1], sel[2])

    with right:
        _selection_panel(sid, src.text, span)
        if selected is not None:
            _coding_panel(sid, src.text, selected, span)
        _undo_row()
        _codings_list(sid, src.text, stripes)


_WIDE = ('<style>[data-testid="stMainBlockContainer"]{padding-left:2.5rem;padding-right:2.5rem}</style>')


def _selection_panel(sid: int, text: str, span: tuple[int, int] | None) -> None:
    with st.container(border=True):
        st.markdown("**Selection**")
        if span is None:
            render.caption("Select words in the text to code them. A selection that cuts a word takes the whole word.")
            return
        a, b = span
        words = text[a:b]
        render.caption(f"{len(words.split())} words · line {line_number(text, a)}"
                       + (f"–{line_number(text, b)}" if line_number(text, b) != line_number(text, a) else ""))
        render.quote(preview(words))
        names = {int(c.id): c.name for c in codes}  # type: ignore[arg-type]
        picked = st.multiselect("Codes", list(names), format_func=names.get, key="hc_codes", placeholder="Choose codes")
        new_name = st.text_input("…or a new code", key=f"hc_new_{st.session_state.get('hc_round', 0)}",
                                 placeholder="Name of a new code")
        if st.button("Apply", type="primary", icon=":material/label:", key="hc_apply",
                     disabled=not picked and not new_name.strip()):
            _apply(sid, a, b, picked, new_name.strip())


def _apply(sid: int, a: int, b: int, picked: list[int], new_name: str) -> None:
    done: list[str] = []
    targets: list[int | str] = list(picked)
    if new_name:
        made = ui.run(lambda: cb.add_code(project, new_name), f"Adding the code {new_name!r}")
        if made is None:
            return
        targets.append(int(made.id))  # type: ignore[arg-type]
    already = {int(c.code_id) for c in blind.visible_codings(project, me, sid)
               if c.coder == me and (c.start, c.end) == (a, b)}
    for code in targets:
        name = code_by_id[code].name if code in code_by_id else new_name
        if code in already:  # the codes stay picked for the next passage: a second click must not code twice
            st.info(render.label(f"These words are already coded {name}."))
            continue
        if ui.run(lambda code=code: decisions.add_coding(project, sid, a, b, code), f"Coding with {name!r}") is not None:
            done.append(name)
    if done:
        ui.flash("Coded as " + ", ".join(done))
        st.session_state["hc_round"] = st.session_state.get("hc_round", 0) + 1  # a fresh box for the next new code
        st.rerun()


def _coding_panel(sid: int, text: str, coding_id: int, span: tuple[int, int] | None) -> None:
    c = store.get_coding(coding_id)
    code = code_by_id.get(int(c.code_id))
    with st.container(border=True, key="coding_card"):
        st.markdown("**Coding**")
        if code is not None:
            render.chips([(code.name, code.colour)])
        render.caption(f"Coded by {c.coder} · line {line_number(text, c.start)}"
                       + (f"–{line_number(text, c.end)}" if line_number(text, c.end) != line_number(text, c.start) else "")
                       + f" · {c.origin}")
        render.quote(preview(c.text, 260, 100))
        mine = c.coder == me
        with st.container(horizontal=True, gap="small"):
            if st.button("Remove", icon=":material/delete:", key="hc_remove", disabled=not mine,
                         help=None if mine else "Another coder's coding: only they can remove it.") \
                    and ui.run(lambda: decisions.remove_coding(project, coding_id), "Removing the coding") is not None:
                    ui.flash(f"Removed {code.name if code else 'the coding'}", ":material/delete:")
                    st.session_state.pop("pane_coding", None)
                    st.rerun()
            if st.button("Resize to the selection", icon=":material/straighten:", key="hc_resize",
                         disabled=not mine or span is None,
                         help="Select the words this coding should cover, then click.") \
                    and ui.run(lambda: decisions.resize_coding(project, coding_id, span[0], span[1]),  # type: ignore[index]
                               "Resizing the coding") is not None:
                    ui.flash(f"Resized {code.name if code else 'the coding'}", ":material/straighten:")
                    st.rerun()


@st.cache_data(show_spinner=False, max_entries=16)
def _last_change(folder: str, version: int, analyst: str):
    """The analyst's newest change still standing (a coding added, removed or resized, a decision)."""
    steps = decisions.undoable_changes(ui._open(folder), analyst)
    return steps[0] if steps else None


_UNDO_WORDS = {"add": "coding with", "remove": "removing", "resize": "resizing", "accept": "accepting",
               "edit": "accepting (edited)", "reject": "rejecting"}


def _undo_row() -> None:
    """Undo in the document: takes back the analyst's last change, whichever it was (applying a
    code, removing or resizing a coding, a decision in the queue), as a new audited write."""
    step = _last_change(str(project.folder), ver, me)
    what = ""
    if step is not None and step.coding_id is not None:
        try:
            code = code_by_id.get(int(store.get_coding(step.coding_id).code_id))
            what = f" {code.name}" if code else ""
        except Exception:  # noqa: BLE001 - the label only: a coding gone from view still undoes
            what = ""
    label = "Undo" if step is None else f"Undo {_UNDO_WORDS.get(step.action, step.action)}{what}"

    def _undo() -> None:
        if step is not None and ui.run(lambda: decisions.undo_change(project, step), "Undo") is not None:
            ui.flash(f"Undid {_UNDO_WORDS.get(step.action, step.action)}{what}", ":material/undo:")

    st.button(render.label(label), on_click=_undo, key="hc_undo", icon=":material/undo:", disabled=step is None, shortcut="U",
              help="Take back your last change (a coding applied, removed or resized, or a decision). "
                   "The audit log keeps both the change and the undo.")


def _codings_list(sid: int, text: str, stripes: list[Stripe]) -> None:
    with st.expander(f"Codings in this source ({len(stripes)})", expanded=False):
        if not stripes:
            render.caption("None yet.")
            return
        rows = pd.DataFrame([{"line": line_number(text, s.start), "code": s.label, "words": text[s.start:s.end][:120]}
                             for s in sorted(stripes, key=lambda s: s.start)])
        st.dataframe(rows, hide_index=True, width="stretch", height=min(360, 38 + 35 * len(rows)),
                     column_config={"line": st.column_config.NumberColumn(width="small")})


# =============================== the review queue ==================================================
@st.cache_data(show_spinner=False, max_entries=64)
def _views(folder: str, version: int, code: int | None, source: int | None, engine: str | None,
           min_score: float | None, viewer: str):
    """Pending suggestions with the filters, as `viewer` may see them: none on a source they code
    blind (`blind.visible_suggestions`), and never on a heading, title, front matter or a speaker
    label (marked by the engine; checked again here for older suggestions)."""
    p = ui._open(folder)
    hidden = blind.blind_sources(p, viewer)
    views = [v for v in list_suggestions(p, status="pending", code=code, source=source, engine=engine, min_score=min_score)
             if v.suggestion.source_id not in hidden]
    for sid in sorted(hidden):
        if source is None or source == sid:
            views += [v for v in blind.visible_suggestions(p, viewer, sid)
                      if (code is None or v.suggestion.code_id == code) and (engine is None or v.suggestion.engine == engine)
                      and (min_score is None or (v.suggestion.score or 0) >= min_score)]
    return [v for v in views if not is_structural(v.excerpt_text, v.flags)]


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


SPAN_WORDS = {"evidence": "The evidence", "sentence": "Its sentence", "excerpt": "The whole turn"}


def review_view() -> None:
    review, side = st.columns([5, 3], gap="large")
    with review:
        _review()
    with side:
        _codebook_and_engine()


def _review() -> None:
    f1, f2, f3 = st.columns([3, 3, 2.4])
    code_f = f1.selectbox("Code", [None, *[int(c.id) for c in codes]],  # type: ignore[arg-type]
                          format_func=lambda i: "All codes" if i is None else code_by_id[i].name, key="rv_code")
    keep = st.session_state.get("code_source_keep")
    if "rv_source" not in st.session_state and qp.get("source") and keep in sources:
        st.session_state["rv_source"] = keep
    source_f = f2.selectbox("Source", [None, *sources], format_func=lambda i: "All sources" if i is None else sources[i],
                            key="rv_source")
    if source_f is not None:
        st.session_state["code_source_keep"] = source_f
    order = f3.selectbox("Order", list(REVIEW_ORDERS), format_func=REVIEW_ORDERS.get, key="rv_order",
                         help="By score: the engine's most confident proposals first. By code: grouped by code, "
                              "best first. By source: source by source, in document order.")
    with st.expander("More filters: engine, score, source attributes"):
        from app_pages.panels import attribute_filters, filters_caption

        g1, g2, _ = st.columns([2, 2, 3])
        engine_f = g1.selectbox("Engine", [None, "offline", "llm"], format_func=lambda e: e or "Any", key="rv_engine")
        min_score = g2.number_input("Min score", value=0.0, step=0.25, key="rv_min",
                                    help="The engine's score (offline engine: how many standard deviations above "
                                         "typical similarity for that code).")
        filters = attribute_filters(project, "rv")
        if filters:
            render.caption("Showing suggestions on sources where " + filters_caption(filters))
    views = _views(str(project.folder), ver, code_f, source_f, engine_f, min_score or None, me)
    if filters:
        keep_ids = {int(s.id) for s in all_sources if source_matches(s, filters)}  # type: ignore[arg-type]
        views = [v for v in views if v.suggestion.source_id in keep_ids]
    views = order_suggestions(views, order)
    if source_f is not None and source_f in blind_here and not views:
        st.warning(render.label(f"Blind coding is on for you on {sources[source_f]}: its AI suggestions are hidden."),
                   icon=":material/visibility_off:")
        return
    if not views:
        st.success("Nothing waiting for review with these filters. Run the engine on the right to get suggestions.")
        return
    idx = min(st.session_state.get("rv_idx", 0), len(views) - 1)
    v = views[idx]
    s = v.suggestion
    ex = store.get_excerpt(s.excerpt_id)
    src = store.get_source(s.source_id)
    code = None if v.is_new_code else code_by_id.get(s.code_id)  # type: ignore[arg-type]
    colour = code.colour if code else "#9e9e9e"
    evidence = ((s.evidence_start, s.evidence_end) if s.evidence_start is not None and s.evidence_end is not None
                else None)
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
        ev = evidence or (ex.start, ex.end)
        ui.page_link("corpus", f"{v.source}" + (f" · {ex.speaker}" if ex.speaker else "")
                     + f" · line {line_number(src.text, ex.start)}" + (f" · p.{ex.page}" if ex.page else "")
                     + " — open in the source", {"source": s.source_id, "start": ev[0], "end": ev[1]}, ":material/description:")
        st.html(render.excerpt_html(src.text, ex.start, ex.end, evidence, colour))
        for n in store.neighbours(ex, before=0, after=1):
            _context(n.speaker, n.text, before=False)
        if s.rationale:  # model output: shown as text, never as Markdown
            render.caption(f"Why the AI suggests it: {s.rationale}")

    choices = ["evidence", "sentence", "excerpt"] if evidence else ["excerpt"]
    default = ("evidence" if decisions.evidence_is_sentence(src.text, ex, s) else "sentence") if evidence else "excerpt"
    span_choice = st.radio("Accept codes", choices, index=choices.index(default), horizontal=True,
                           format_func=SPAN_WORDS.get, key=f"rv_span_{s.id}",
                           help="What the coding covers: the highlighted evidence, the sentence(s) it is in, "
                                "or the speaker's whole turn.")
    if span_choice != "excerpt":
        a, b = decisions.accept_span(src.text, ex, s, span_choice)
        render.caption("Will code: " + preview(src.text[a:b], 200, 80))

    def _accept() -> None:
        coding = ui.run(lambda: decisions.accept(project, int(s.id), span=span_choice),  # type: ignore[arg-type]
                        f"Accepting suggestion {s.id} ({v.label} in {v.source})")
        if coding is not None:
            ui.flash(f"Coded as {v.label}")

    def _reject() -> None:
        if ui.run(lambda: decisions.reject(project, int(s.id)), f"Rejecting suggestion {s.id}") is not None:  # type: ignore[arg-type]
            ui.flash(f"Rejected {v.label}", ":material/close:")

    def _move(step: int) -> None:
        st.session_state["rv_idx"] = max(0, min(len(views) - 1, idx + step))

    def _undo() -> None:  # the analyst's last change, whichever view it was made in (as the document's Undo)
        if not decisions.undoable_changes(project):
            ui.flash("Nothing to undo", ":material/info:")
            return
        d = ui.run(lambda: decisions.undo_last_change(project), "Undo")
        if d is not None:
            ui.flash(f"Undid your last {d.action}", ":material/undo:")

    with st.container(horizontal=True, gap="small"):
        st.button("Accept" + (" and add the code" if v.is_new_code else ""), type="primary", shortcut="A",
                  on_click=_accept, key="rv_accept", icon=":material/check:",
                  help="This code is not in your codebook: accepting adds it." if v.is_new_code else None)
        st.button("Reject", shortcut="X", on_click=_reject, key="rv_reject", icon=":material/close:")
        st.space("stretch")
        st.button("", shortcut="P", on_click=_move, args=(-1,), key="rv_prev", icon=":material/arrow_back:",
                  help="Previous suggestion", disabled=idx == 0)
        st.button("", shortcut="N", on_click=_move, args=(1,), key="rv_next", icon=":material/arrow_forward:",
                  help="Next suggestion (skip)", disabled=idx >= len(views) - 1)
        st.button("Undo", shortcut="U", on_click=_undo, key="rv_undo", icon=":material/undo:",
                  help="Undo your last change: a decision here, or a coding applied, removed or resized")
    st.caption("Keys: A accept · X reject · N next · P previous · U undo")

    with st.expander("Edit before accepting (change the code or the words coded)"), st.form(f"edit_{s.id}"):
        ids = [int(c.id) for c in codes]  # type: ignore[arg-type]
        new_code = st.selectbox("Code", ids, format_func=lambda i: code_by_id[i].name,
                                index=ids.index(s.code_id) if s.code_id in ids else 0)
        words = st.text_area("Words to code (trim to the span you want; they must appear in the source, whole)",
                             value=s.evidence_text or ex.text, height=140, key=f"edit_words_{s.id}")
        if st.form_submit_button("Save edit"):
            done = ui.run(lambda: decisions.edit(project, int(s.id), code=new_code, start=ex.start, end=ex.end,  # type: ignore[arg-type]
                                                 text=words), f"Editing suggestion {s.id}")
            if done is not None:
                ui.flash(f"Coded as {code_by_id[new_code].name} (edited): “{preview(done.text, 60, 30)}”")
                st.rerun()

    with st.expander(f"Queue ({len(views)} waiting) · click a row to jump to it"):
        table = pd.DataFrame([{"#": i + 1, "code": x.label, "source": render.name(x.source), "speaker": render.name(x.speaker),
                               "score": x.suggestion.score, "engine": x.suggestion.engine,
                               "check": "suspicious evidence" if x.suspicious else "",
                               "excerpt": x.excerpt_text[:140]} for i, x in enumerate(views)])
        picked = st.dataframe(table, hide_index=True, width="stretch", height=320, on_select="rerun",
                              selection_mode="single-row", key="rv_queue",
                              column_config={"#": st.column_config.NumberColumn(width="small"),
                                             "score": st.column_config.NumberColumn(format="%.2f", width="small")})
        rows = picked.selection.rows if picked is not None and hasattr(picked, "selection") else []
        if rows and rows[0] != idx and st.session_state.get("_rv_jump") != (rows[0], len(views)):
            st.session_state["_rv_jump"] = (rows[0], len(views))
            st.session_state["rv_idx"] = int(rows[0])
            st.rerun()


def _codebook_and_engine() -> None:
    st.subheader("Codebook", anchor=False)
    table = _code_table(str(project.folder), ver)
    # tall enough for every code (up to a screenful): the panel used to show 6 of 18
    st.dataframe(table, hide_index=True, width="stretch", height=min(38 + 35 * len(table), 680),
                 column_config={"code": st.column_config.TextColumn(width="medium", pinned=True),
                                "codings": st.column_config.NumberColumn(width="small"),
                                "to review": st.column_config.NumberColumn(width="small"),
                                "definition": st.column_config.TextColumn(width="large")})
    ui.page_link("codes", "Code tree: every definition in full, each code's passages", None, ":material/account_tree:")
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
    source_f = st.session_state.get("rv_source")
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


if view == "document":
    document_view()
else:
    review_view()
