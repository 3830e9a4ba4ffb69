"""Asking the corpus: evidence-only without a model, verified citations with one, plain
"no evidence" when the corpus is silent, filters from phrases, follow-ups."""

from __future__ import annotations

import pytest
from builders import build_writing_project as build_project
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from assistant.verbatim import is_verbatim
from assistant.writing.ask import (
    NO_EVIDENCE_TEXT,
    SENTINEL,
    ask,
    parse_filter_phrases,
    retrieval_query,
)
from assistant.writing.citations import parse_citations


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    p = build_project(tmp_path_factory.mktemp("ask") / "proj")
    yield p
    p.close()


def test_without_a_model_the_evidence_is_the_answer(project):
    a = ask(project, "What gets in the way of data sharing?")
    assert a.text is None and not a.no_evidence and a.evidence
    assert "Data sharing" in a.evidence[0].text
    texts = project.store.source_texts()
    assert all(is_verbatim(texts[q.source_id], q.start, q.end, q.text) for q in a.evidence)


def test_no_evidence_is_said_plainly_and_the_model_is_not_called(project):
    llm = FakeListChatModel(responses=["Quarks are confined [E1]."])
    a = ask(project, "quantum chromodynamics lattice gauge", llm=llm)
    assert a.no_evidence and a.text == NO_EVIDENCE_TEXT and not a.evidence and not a.citations


def test_model_sentinel_means_no_evidence(project):
    a = ask(project, "What about data sharing?", llm=FakeListChatModel(responses=[SENTINEL]), cache=False)
    assert a.no_evidence and a.text == NO_EVIDENCE_TEXT and a.evidence


def test_citations_verified_converted_and_counted(project):
    reply = ('Sharing data is the main barrier [E1]. "Data sharing between the council and the hospital" '
             'is how one put it [E1]. "We share everything happily" [E2]. Unknown source [E42].')
    a = ask(project, "What about data sharing?", llm=FakeListChatModel(responses=[reply]), cache=False)
    assert a.removed_citations == 1 and a.report["fabricated_quotes"] == 1
    assert "[E" not in a.text and "We share everything" not in a.text
    texts = project.store.source_texts()
    for c in parse_citations(a.text):
        assert any(e.source_id == c.source_id and e.start <= c.start < c.end <= e.end for e in a.evidence)
    assert all(is_verbatim(texts[q.source_id], q.start, q.end, q.text) for q in a.citations)
    assert any(q.text == "Data sharing between the council and the hospital" for q in a.citations)


def test_answer_with_no_valid_citation_is_withheld(project):
    a = ask(project, "What about data sharing?", llm=FakeListChatModel(responses=["Everyone agrees [E77]."]), cache=False)
    assert a.text is None and a.report["unverified"] and a.evidence


def test_filter_phrases():
    values = {"sector": {"NHS", "Local authority"}, "organisation": {"Council"}}
    f, q = parse_filter_phrases("What do only NHS interviewees say about discharge?", values)
    assert f == {"sector": "NHS", "kind": "interview"} and q == "What do say about discharge?"
    f, _ = parse_filter_phrases("Among NHS and local authority participants, what helps?", values)
    assert f == {"sector": ["NHS", "Local authority"], "kind": "interview"}
    assert parse_filter_phrases("Is funding only short-term?", values) == ({}, "Is funding only short-term?")


def test_phrase_filters_reach_retrieval(project):
    a = ask(project, "What do only NHS interviewees say about data sharing?")
    assert a.report["filters"] == {"sector": "NHS", "kind": "interview"}
    assert a.evidence and all(q.attributes["sector"] == "NHS" and q.attributes["kind"] == "interview" for q in a.evidence)


def test_follow_up_keeps_context():
    hist = [("What do GPs say about cold homes?", "They see chest infections [S1:0-10].")]
    assert retrieval_query("And what about them?", hist) == "What do GPs say about cold homes? And what about them?"
    long_q = "Which documents describe the warm homes programme budget in detail?"
    assert retrieval_query(long_q, hist) == long_q
