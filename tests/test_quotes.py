"""Quote retrieval: accepted codings first, whole sentences, balanced, verbatim, attributed."""

from __future__ import annotations

import numpy as np
import pytest
from builders import add_coding
from builders import build_writing_project as build_project

from assistant.verbatim import is_verbatim
from assistant.writing.attribution import Attributor, fill_template
from assistant.writing.quotes import balance, choose_window, find_quotes
from index.text import sentence_spans


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    p = build_project(tmp_path_factory.mktemp("quotes") / "proj")
    add_coding(p, "P04", "Patients with cold homes come to the surgery with chest infections every winter.",
               "Housing and health", "ai:offline")
    yield p
    p.close()


def _verbatim(project, quotes):
    texts = project.store.source_texts()
    return all(is_verbatim(texts[q.source_id], q.start, q.end, q.text) for q in quotes)


def test_accepted_codings_lead_and_ai_codings_do_not_count(project):
    r = find_quotes(project, code="Housing and health", k=5)
    assert [q.origin for q in r.quotes[:2]] == ["coding", "coding"]
    assert {q.source_name for q in r.quotes[:2]} == {"P01", "P03"}
    assert all("alice" in q.why for q in r.quotes[:2])
    # the AI coder's span is not presented as an accepted coding
    assert not any(q.origin == "coding" and q.source_name == "P04" for q in r.quotes)
    assert _verbatim(project, r.quotes)


def test_quotes_are_whole_sentences_within_length(project):
    r = find_quotes(project, query="prevention funding grants", k=6, min_chars=40, max_chars=200)
    texts = project.store.source_texts()
    for q in r.quotes:
        spans = [sp for e in project.store.list_excerpts(source_id=q.source_id)
                 for sp in sentence_spans(texts[q.source_id], e.start, e.end)]
        starts, ends = {s for s, _ in spans}, {e for _, e in spans}
        assert q.start in starts and q.end in ends
        assert len(q.text) <= 200 or len(sentence_spans(q.text)) == 1
    assert _verbatim(project, r.quotes)


def test_interviewer_words_left_out_unless_asked(project):
    r = find_quotes(project, query="How do emergency admissions relate to housing?", k=8)
    assert not any("How do emergency" in q.text for q in r.quotes)
    r2 = find_quotes(project, query="How do emergency admissions relate to housing?", k=8, include_interviewer=True)
    assert any("How do emergency admissions relate to housing?" in q.text for q in r2.quotes)


def test_per_participant_cap_and_spread_text(project):
    r = find_quotes(project, query="funding prevention housing data sharing council", k=10, per_participant=1)
    names = [q.source_name for q in r.quotes]
    assert len(names) == len(set(names))
    assert r.spread_text.startswith(f"{len(r.quotes)} quotes from ")
    assert "of 4 participants" in r.spread_text and "from documents" in r.spread_text
    assert "sectors:" in r.spread_text and r.stats["by_kind"]["document"] == 1


def test_filters_apply_to_codings_and_search(project):
    r = find_quotes(project, code="Housing and health", k=5, filters={"sector": "NHS"})
    assert r.quotes and all(q.attributes["sector"] == "NHS" for q in r.quotes)


def test_include_coded_false_returns_only_new_evidence(project):
    r = find_quotes(project, code="Housing and health", k=5, include_coded=False)
    assert all(q.origin == "search" for q in r.quotes)
    assert not any(q.text.startswith("Cold damp housing drives") for q in r.quotes)
    assert any("coded example" in q.why for q in r.quotes)


def test_pseudonymised_attribution_is_stable(project):
    project.settings.privacy.pseudonymise_attributions = True
    try:
        a = find_quotes(project, code="Housing and health", k=5)
        b = find_quotes(project, query="data sharing", k=5)
    finally:
        project.settings.privacy.pseudonymise_attributions = False
    labels = {q.source_name: q.attribution for q in a.quotes + b.quotes if q.attributes["kind"] == "interview"}
    assert labels["P01"].startswith("Participant 1,") and labels["P03"].startswith("Participant 3,")
    assert not any("Smith" in q.attribution or "White" in q.attribution for q in a.quotes + b.quotes)


def test_fill_template_drops_empty_fields():
    assert fill_template("{participant}, {organisation}, {kind}", {"participant": "P1", "kind": "interview"}) == "P1, interview"
    assert fill_template("{organisation} ({sector})", {"organisation": "Council"}) == "Council"


def test_attributor_numbers_by_source_id():
    """Pseudonyms count documents and participants separately, in source-id order: not the order
    the sources are listed in, nor their names; a participant's second transcript keeps their
    number, and a source added later (a higher id) renumbers nobody."""
    from assistant.models import Source
    from assistant.settings import Settings

    def src(id_, name, kind, participant=""):
        return Source(id=id_, name=name, kind=kind, text="x", attributes={"participant": participant} if participant else {})

    sources = [src(9, "A annual report", "document"), src(2, "Z strategy", "document"),
               src(7, "P2 follow-up", "interview", "Bea"), src(3, "P3 interview", "interview", "Cy"),
               src(5, "M minutes", "document"), src(1, "P2 interview", "interview", "Bea")]
    settings = Settings(analyst="alice")
    settings.privacy.pseudonymise_attributions = True
    att = Attributor(reversed(sources), settings)
    by_id = {s.id: att.participant(s) for s in sources}
    assert by_id == {2: "Source 1", 5: "Source 2", 9: "Source 3",
                     1: "Participant 1", 7: "Participant 1", 3: "Participant 2"}
    added = [src(10, "B briefing", "document"), src(11, "A interview", "interview", "Al")]
    later = Attributor([*added, *sources], settings)
    assert {s.id: later.participant(s) for s in sources + added} == by_id | {10: "Source 4", 11: "Participant 3"}


def test_choose_window_prefers_matching_sentence_and_never_cuts():
    sents = [(0, 50), (51, 120), (121, 400)]
    vecs = np.eye(3, dtype=np.float32)
    span, _ = choose_window(sents, vecs, np.array([0, 1.0, 0]), 40, 100)
    assert span == (51, 120)
    span, _ = choose_window(sents, vecs, np.array([0, 0, 1.0]), 40, 100)
    assert span == (121, 400)  # one long sentence kept whole
    span, _ = choose_window([(0, 10), (11, 20)], vecs[:2], np.array([1.0, 0, 0]), 60, 100)
    assert span == (0, 20)  # too short: take the whole region


def test_balance_caps_and_avoids_overlap():
    vecs = np.eye(4)
    groups = [{"participant": "a"}, {"participant": "a"}, {"participant": "a"}, {"participant": "b"}]
    spans = [(1, 0, 10), (1, 20, 30), (1, 40, 50), (2, 0, 10)]
    assert sorted(balance([1.0, 0.9, 0.8, 0.1], groups, vecs, 4, 2, spans)) == [0, 1, 3]
    assert balance([1.0, 0.9], groups[:2], vecs[:2], 2, None, [(1, 0, 10), (1, 5, 12)]) == [0]


def test_quote_windows_stop_at_paragraph_breaks_and_skip_headings():
    from assistant.writing.quotes import quote_sentences

    text = "We saw damp in every flat we visited.\n\n## 4. What we achieved\n\nWe fixed forty homes this year."
    sents = quote_sentences(text, 0, len(text))
    assert [text[s:e] for s, e in sents] == ["We saw damp in every flat we visited.", "We fixed forty homes this year."]
    vecs = np.array([[1.0, 0, 0], [1.0, 0, 0]])
    joinable = [True, False]
    span, _ = choose_window(sents, vecs, np.array([1.0, 0, 0]), 10, 400, None, joinable)
    assert "\n\n" not in text[span[0]:span[1]]


def test_code_quotes_include_all_descendants_codings(tmp_path):
    """Housing > Damp > Mould: a quote coded with the grandchild counts for the top code."""
    from assistant.models import Code

    p = build_project(tmp_path / "proj", codings=False)
    try:
        housing = p.store.get_code("Housing and health")
        damp = p.store.add_code(Code(name="Damp", definition="Damp homes", parent_id=housing.id))
        p.store.add_code(Code(name="Mould", definition="Mould in homes", parent_id=damp.id))
        add_coding(p, "P04", "Social prescribing links them to housing advice and warm home grants.", "Mould", "alice")
        for code in ("Housing and health", "Damp", "Mould"):
            r = find_quotes(p, code=code, k=5)
            coded = [q for q in r.quotes if q.origin == "coding"]
            assert [q.source_name for q in coded] == ["P04"], code
            assert "Social prescribing" in coded[0].text
            assert _verbatim(p, r.quotes)
    finally:
        p.close()
