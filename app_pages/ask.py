"""Ask: a conversation with the corpus. Answers cite the excerpts they rest on; every citation is
verified by the library and links to the source, opened at the cited words."""

from __future__ import annotations

import streamlit as st

from app_pages import _common as ui
from app_pages.support import (
    answer_turn,
    load_chat,
    quote_html,
    save_chat,
    split_citations,
)
from assistant.models import Quote
from assistant.writing.ask import ask

project = ui.open_project()
ui.heading("Ask", "Questions answered from the corpus only, with verified citations. "
                  "Say 'only NHS interviewees' or 'just documents' to narrow the evidence.")


@st.cache_resource(show_spinner=False)
def _chat_model(settings_json: str):
    from assistant.llm.providers import build_chat_model
    from assistant.settings import LLMSettings

    return build_chat_model(LLMSettings.model_validate_json(settings_json))


def _quote_link(n: int, q: Quote) -> None:
    preview = " ".join(q.text.split())
    preview = preview[:80] + ("…" if len(preview) > 80 else "")
    ui.page_link("corpus", f"[{n}] {q.attribution or q.source_name}: “{preview}”",
                 {"source": q.source_id, "start": q.start, "end": q.end}, ":material/description:")


def _render(turn: dict) -> None:
    with st.chat_message("user"):
        st.markdown(turn["question"])
    with st.chat_message("assistant", avatar=":material/smart_toy:"):
        evidence = [Quote(**q) for q in turn.get("evidence", [])]
        cites = [Quote(**q) for q in turn.get("citations", [])]
        if turn.get("no_evidence") and not turn.get("text"):
            st.markdown("The corpus holds no evidence on this question.")
        elif turn.get("text"):
            numbers: dict[tuple[int, int, int], int] = {}
            parts = []
            for piece in split_citations(turn["text"]):
                if isinstance(piece, tuple):
                    numbers.setdefault(piece, len(numbers) + 1)
                    parts.append(f"<sup>[{numbers[piece]}]</sup>")
                else:
                    parts.append(piece.replace("$", "\\$"))
            st.markdown("".join(parts), unsafe_allow_html=True)
            removed = turn.get("removed_citations") or 0
            st.caption(f":material/smart_toy: AI answer ({ui.engine_label(project)}) · every citation checked against the source"
                       + (f" · {removed} unverifiable citation(s) removed" if removed else ""))
            by_span = {(q.source_id, q.start, q.end): q for q in cites + evidence}
            for span, n in numbers.items():
                q = by_span.get(span)
                if q is not None:
                    _quote_link(n, q)
        else:
            st.markdown("No language model is configured (Settings), so here is the evidence the corpus holds, "
                        "ranked by relevance:" if turn.get("mode") == "evidence-only"
                        else "The model's answer could not be verified against the evidence; here is the evidence:")
        if evidence:
            with st.expander(f"Evidence considered ({len(evidence)} passages)", expanded=not turn.get("text")):
                for n, q in enumerate(evidence, start=1):
                    st.html(quote_html(q.text if len(q.text) <= 700 else q.text[:700] + "…", muted=True))
                    _quote_link(n, q)


turns = load_chat(project)
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
        turns.append(answer_turn(answer))
        save_chat(project, turns)
        st.rerun()

if turns and st.button("Clear the conversation"):
    save_chat(project, [])
    st.rerun()
