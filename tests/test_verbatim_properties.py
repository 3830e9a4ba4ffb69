"""Property tests of the verbatim guarantee: whatever the model says (random text, random or
fabricated citations, invented quotes, mangled whitespace), every quote, evidence span and
citation the product returns is `source.text[start:end]`, and invented quotes are caught."""

from __future__ import annotations

import re

import pytest
from builders import build_writing_project as build_project
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from assistant.verbatim import is_verbatim, locate, make_quote
from assistant.writing.ask import ask
from assistant.writing.citations import _units, parse_citations, verify_text
from assistant.writing.quotes import find_quotes

PROPS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                        HealthCheck.too_slow])


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    p = build_project(tmp_path_factory.mktemp("props") / "proj")
    yield p
    p.close()


def mangle(text: str, data: st.DataObject) -> str:
    """Same words, different whitespace and quote characters."""
    out = re.sub(r" ", lambda m: data.draw(st.sampled_from([" ", "  ", "\n", "\t "])), text)
    return out.replace("'", data.draw(st.sampled_from(["'", "\u2019"])))


citation = st.one_of(
    st.builds(lambda n: f"[E{n}]", st.integers(0, 12)),
    st.builds(lambda n: f"[Q{n}]", st.integers(0, 12)),
    st.builds(lambda s, a, b: f"[S{s}:{a}-{b}]", st.integers(0, 7), st.integers(0, 900), st.integers(0, 900)),
)
words = st.text(alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), max_size=40)


def model_output(data: st.DataObject, sources: list[str]) -> tuple[str, list[str]]:
    """Sentences of random text, citations, real passages (mangled) and invented quotes."""
    parts, invented = [], []
    for _ in range(data.draw(st.integers(1, 6))):
        kind = data.draw(st.sampled_from(["text", "real", "fake"]))
        if kind == "text":
            parts.append(data.draw(words))
        elif kind == "real":
            text = data.draw(st.sampled_from(sources))
            a = data.draw(st.integers(0, max(0, len(text) - 20)))
            b = data.draw(st.integers(a + 1, min(len(text), a + 120)))
            parts.append(f'"{mangle(text[a:b], data)}"')
        else:
            fake = "zqx " + data.draw(st.text(alphabet="abcdefgh ", min_size=3, max_size=30)) + " qzx"
            invented.append(fake)
            parts.append(f'"{fake}"')
        parts += data.draw(st.lists(citation, max_size=3))
        parts.append(data.draw(st.sampled_from([". ", "! ", "\n", " "])))
    return "".join(parts), invented


def assert_verbatim(texts: dict[int, str], quotes) -> None:
    for q in quotes:
        assert is_verbatim(texts[q.source_id], q.start, q.end, q.text), q


@PROPS
@given(data=st.data())
def test_verify_text_never_returns_an_unverified_span(project, data):
    texts = project.store.source_texts()
    sources = {s.id: s for s in project.store.list_sources(with_text=True)}
    ev = {}
    for i in range(1, data.draw(st.integers(1, 5)) + 1):
        sid = data.draw(st.sampled_from(sorted(texts)))
        a = data.draw(st.integers(0, len(texts[sid]) - 2))
        b = data.draw(st.integers(a + 1, min(len(texts[sid]), a + 300)))
        ev[f"E{i}"] = make_quote(sources[sid], a, b)
    reply, invented = model_output(data, [q.text for q in ev.values()])
    mode = data.draw(st.sampled_from(["drop_citation", "drop_sentence"]))
    v = verify_text(reply, ev, sources, bad_citation=mode, render_spans=data.draw(st.booleans()))
    assert_verbatim(texts, v.citations)
    for c in parse_citations(v.text):
        if c.ref is None:
            assert any(q.source_id == c.source_id and q.start <= c.start < c.end <= q.end for q in ev.values())
        else:
            assert c.ref in ev
    for fake in invented:
        assert fake not in v.text
    if invented:  # caught: counted as fabricated, or its sentence went for a bad citation first
        assert v.fabricated_quotes >= 1 or (mode == "drop_sentence" and v.removed_sentences)
        if mode == "drop_citation":
            # every invented quote is counted, even several in one sentence
            units = [reply[a:b] for a, b in _units(reply)]
            assert v.fabricated_quotes >= max(1, sum(any(f in u for f in invented) for u in units))
            assert v.fabricated_quotes >= len(set(invented))


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_ask_with_any_model_output(project, data):
    texts = project.store.source_texts()
    evidence_texts = [q.text for q in ask(project, "data sharing funding housing").evidence]
    reply, invented = model_output(data, evidence_texts)
    a = ask(project, "data sharing funding housing", llm=FakeListChatModel(responses=[reply]), cache=False)
    assert_verbatim(texts, a.evidence)
    assert_verbatim(texts, a.citations)
    for c in parse_citations(a.text or ""):
        assert c.ref is None and any(e.source_id == c.source_id and e.start <= c.start < c.end <= e.end for e in a.evidence)
    assert all(fake not in (a.text or "") for fake in invented)


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(query=words, k=st.integers(1, 8), lo=st.integers(0, 200), span=st.integers(0, 300),
       interviewer=st.booleans(), per=st.one_of(st.none(), st.integers(1, 3)))
def test_find_quotes_with_any_query_and_lengths(project, query, k, lo, span, interviewer, per):
    if not query.strip():
        query = "housing"
    r = find_quotes(project, query=query, k=k, min_chars=lo, max_chars=lo + span,
                    include_interviewer=interviewer, per_participant=per)
    assert_verbatim(project.store.source_texts(), r.quotes)
    assert len(r.quotes) <= k


@settings(max_examples=200, deadline=None)
@given(data=st.data(), text=st.text(min_size=1, max_size=300))
def test_locate_returns_source_characters(data, text):
    a = data.draw(st.integers(0, len(text) - 1))
    b = data.draw(st.integers(a + 1, len(text)))
    claim = data.draw(st.one_of(st.just(text[a:b]), st.builds(lambda s: mangle(s, data), st.just(text[a:b])), words))
    loc = locate(text, claim)
    if loc is not None:
        assert text[loc.start:loc.end] == loc.text
        assert is_verbatim(text, loc.start, loc.end, loc.text)  # what locate returned, not a rebuilt quote


def test_theme_drafts_with_scripted_fabrications(tmp_path):
    from builders import add_coding

    from assistant.writing.themes import draft_themes_report

    p = build_project(tmp_path / "proj")
    add_coding(p, "P02", "Short-term funding kills prevention work.", "Short-term funding", "alice")
    add_coding(p, "P03", "Our funding is year to year, so prevention work is always at risk.", "Short-term funding", "alice")
    reply = 'Funding is precarious "so prevention work is always at risk" [Q1, Q2, Q3]. "Money grows on trees" [Q1].'
    result = draft_themes_report(p, n_themes=2, llm=FakeListChatModel(responses=[reply] * 2), cache=False)
    texts = p.store.source_texts()
    assert sum(r["fabricated_quotes"] for r in result.reports.values()) >= 2
    for t in result.themes:
        assert_verbatim(texts, t.quotes)
        assert "Money grows on trees" not in t.summary
        for m in re.finditer(r'"([^"]+)"', t.summary):
            assert any(m.group(1) in q.text for q in t.quotes)
    p.close()
