"""Ask: a conversation with the corpus. Answers cite the excerpts they rest on; every citation is
verified by the library and links to the source, opened at the cited words.

What the model wrote is data: it is shown as text, never as Markdown or HTML. A sentence the
library could not tie to a verified citation is not part of the answer: it is listed apart, marked
as unsupported, and the answer's caption only claims what was checked."""

from __future__ import annotations

from typing import Any

import streamlit as st

from app_pages import _common as ui
from app_pages import render
from app_pages.support import answer_turn, split_citations
from assistant.models import Quote
from assistant.writing import conversation
from assistant.writing.ask import ask

project = ui.open_project()
ui.heading("Ask", "Questions answered from the corpus only, with verified citations. "
                  "Say 'only NHS interviewees' or 'just documents' to narrow the evidence.")

_REASONS = {
    "uncited": "cites nothing",
    "bad_citation": "its citation points at nothing in the evidence",
    "fabricated_quote": "quotes words the cited passage does not contain",
    "unpaired_quote": "has an unmatched quotation mark, so what it quotes cannot be checked",
}


@st.cache_resource(show_spinner=False)
def _chat_model(settings_json: str):
    from assistant.llm import chat_model_for
    from assistant.settings import LLMSettings

    return chat_model_for(LLMSettings.model_validate_json(settings_json), required=True)


def _quote_link(n: int, q: Quote) -> None:
    preview = " ".join(q.text.split())
    preview = preview[:80] + ("…" if len(preview) > 80 else "")
    who = q.attribution or q.source_name
    where = ", ".join(x for x in (q.source_name if q.source_name not in who else "",
                                  f"line {q.line}" if q.line else "") if x)
    # who and where by pseudonym (pseudonymised display); the quoted words verbatim
    st.page_link(ui.PAGES["corpus"], label=render.label(f"[{n}] {who}" + (f" ({where})" if where else ""))
                 + render.md(f": “{preview}”"), query_params={"source": str(q.source_id), "start": str(q.start),
                                                           "end": str(q.end)}, icon=":material/description:")


def _answer_html(sentences: list[str], numbers: dict[tuple[int, int, int], int]) -> str:
    """The supported sentences as escaped text, each citation a numbered superscript."""
    parts = []
    for sentence in sentences:
        for piece in split_citations(sentence):
            if isinstance(piece, tuple):
                numbers.setdefault(piece, len(numbers) + 1)
                parts.append(f"<sup>[{numbers[piece]}]</sup>")
            else:
                parts.append(render.html_text(piece))
        parts.append(" ")
    return f'<div style="white-space:pre-wrap;line-height:1.6">{"".join(parts).strip()}</div>'


def _unsupported(items: list[dict[str, Any]], *, answer_left: bool) -> None:
    """The model's sentences that no verified citation holds up: apart from the answer, marked."""
    if not items:
        return
    title = (f"{len(items)} sentence(s) removed from the answer: no verified citation supports them"
             if answer_left else "What the model wrote (no sentence is supported by a verified citation)")
    with st.expander(title, icon=":material/report:"):
        st.caption("Unsupported: shown for transparency only. Do not quote these; nothing in the corpus was found "
                   "to back them.")
        for item in items:
            why = _REASONS.get(str(item.get("reason")), "is not supported")
            st.html('<div style="margin:0 0 8px 0;padding:4px 10px;border-left:3px solid #c0392b;'
                    'background:#fbeeee;color:#5b6670;white-space:pre-wrap">'
                    '<b style="color:#c0392b;font-size:0.8em;letter-spacing:0.04em">UNSUPPORTED</b> '
                    f'<span style="font-size:0.8em">({render.html_text(why)})</span><br>'
                    f"{render.html_text(item.get('text', ''))}</div>")


def _render(turn: dict) -> None:
    with st.chat_message("user"):
        render.text(turn.get("question", ""))
    with st.chat_message("assistant", avatar=":material/smart_toy:"):
        evidence = [Quote(**q) for q in turn.get("evidence", [])]
        cites = [Quote(**q) for q in turn.get("citations", [])]
        sentences = turn.get("sentences")  # None: a turn stored before sentences were checked one by one
        unsupported = [s for s in sentences or [] if not s.get("supported")]
        if turn.get("no_evidence"):  # the library's fixed sentence, not the model's words
            st.markdown("The corpus holds no evidence on this question.")
        elif turn.get("text"):
            numbers: dict[tuple[int, int, int], int] = {}
            if sentences:
                shown = [s["text"] for s in sentences if s.get("supported")]
                claim = "each sentence shown cites a passage, checked word for word against the source"
            else:
                shown = [turn["text"]]
                claim = "citations checked against the source; sentences without one were not checked (earlier answer)"
            st.html(_answer_html(shown, numbers))
            removed = turn.get("removed_citations") or 0
            st.caption(":material/smart_toy: AI answer (" + render.label(ui.engine_label(project)) + ") · "
                       + render.label(claim)
                       + (f" · {removed} unverifiable citation(s) removed" if removed else ""))
            by_span = {(q.source_id, q.start, q.end): q for q in cites + evidence}
            for span, n in numbers.items():
                q = by_span.get(span)
                if q is not None:
                    _quote_link(n, q)
            _unsupported(unsupported, answer_left=True)
        else:
            st.markdown("No language model is configured (Settings), so here is the evidence the corpus holds, "
                        "ranked by relevance:" if turn.get("mode") == "evidence-only"
                        else "The model's answer could not be verified against the evidence; here is the evidence:")
            _unsupported(unsupported, answer_left=False)
        if evidence:
            with st.expander(f"Evidence considered ({len(evidence)} passages)", expanded=not turn.get("text")):
                for n, q in enumerate(evidence, start=1):
                    render.quote(q.text if len(q.text) <= 700 else q.text[:700] + "…", muted=True)
                    _quote_link(n, q)


turns = conversation.load(project)
for turn in turns:
    _render(turn)

question = st.chat_input("Ask the corpus, e.g. What do participants say drives avoidable admissions?")
if question:
    llm = None
    if project.settings.llm.provider != "none":
        llm = ui.run(lambda: _chat_model(project.settings.llm.model_dump_json()), "Connecting to the model")
    with st.spinner("Searching the corpus" + (" and asking the model…" if llm else "…")):
        answer = ui.run(lambda: ask(project, question, history=[(t["question"], t.get("text")) for t in turns], llm=llm),
                        f"Answering {question!r}")
    if answer is not None:
        ui.run(lambda: conversation.append(project, answer_turn(answer)), "Keeping the answer in the conversation")
        st.rerun()

if turns and st.button("Clear the conversation"):
    ui.run(lambda: conversation.clear(project), "Clearing the conversation")
    st.rerun()
