from __future__ import annotations

from pathlib import Path

import pytest
from builders import build_coding_project as make_project

from assistant.coding.precode import precode
from assistant.coding.suggest import list_suggestions, suggest_source


def test_offline_evidence_is_verbatim_and_codes_from_codebook(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    rep = precode(project)
    assert rep.done == 4 and rep.suggestions > 0
    texts = project.store.source_texts()
    ids = {c.id for c in project.store.list_codes()}
    for v in list_suggestions(project):
        s = v.suggestion
        assert s.code_id in ids and s.engine == "offline"
        assert texts[s.source_id][s.evidence_start:s.evidence_end] == s.evidence_text
        assert v.excerpt_start <= s.evidence_start < s.evidence_end <= v.excerpt_start + len(v.excerpt_text)
    top = {v.code for v in list_suggestions(project) if "mould" in v.excerpt_text and v.suggestion.score > 2}
    assert "Housing and living conditions" in top


def test_suggest_source_supersedes_pending(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    first = suggest_source(project, "P02")
    second = suggest_source(project, "P02")
    assert len(first) == len(second)
    assert all(project.store.get_suggestion(s.id).status == "superseded" for s in first)


# --- learning from the analyst's decisions ------------------------------------------------------

import numpy as np

from assistant.coding.suggest.learn import ACCEPTED, REJECTED, SEEN
from assistant.coding.suggest.offline import CodeSpecVec, OfflineScorer, ScorerParams
from index.embeddings import HashingEmbedder

BACKGROUND = [
    "The damp and mould in the flat made the children ill.",
    "Funding is annual so we cannot plan beyond March.",
    "The bus route to the clinic was cut, so patients miss appointments.",
    "Buses stopped running to the estate after six in the evening.",
    "We lost two nurses to agency work this year.",
    "Cold homes and fuel poverty bring older people into A&E.",
    "The grant was renewed for one more year only.",
    "Patients without cars cannot get to the hospital on the bus.",
]
CODES = [CodeSpecVec(key=0, name="Housing", definition="Damp, mould, cold homes as causes of ill health."),
         CodeSpecVec(key=1, name="Funding", definition="Short-term grants and annual funding.")]


def _scorer() -> OfflineScorer:
    emb = HashingEmbedder(256)
    scorer = OfflineScorer(lambda texts: emb.embed_batch(list(texts)), ScorerParams(threshold=-1e9))
    scorer.fit(CODES, BACKGROUND, list(range(len(BACKGROUND))))
    return scorer


def test_accepted_examples_raise_a_similar_excerpts_score() -> None:
    query = ["The bus to the clinic was cut and patients miss appointments."]
    scorer = _scorer()
    before = scorer.score(query, ["q"])[0][0, 0]
    # the analyst codes transport problems as Housing (their codebook, their call)
    labels = np.array([[ACCEPTED, SEEN], [ACCEPTED, SEEN], [SEEN, ACCEPTED], [SEEN, ACCEPTED]], np.int8)
    scorer.learn([BACKGROUND[i] for i in (2, 3, 1, 6)], [2, 3, 1, 6], labels)
    after = scorer.score(query, ["q"])[0][0, 0]
    assert after > before + 0.1


def test_rejected_pattern_score_falls() -> None:
    query = ["Older people in cold homes with fuel poverty end up in A&E."]
    scorer = _scorer()
    before = scorer.score(query, ["q"])[0][0, 0]
    labels = np.array([[REJECTED, SEEN], [ACCEPTED, SEEN]], np.int8)
    scorer.learn([BACKGROUND[5], BACKGROUND[0]], [5, 0], labels)
    after = scorer.score(query, ["q"])[0][0, 0]
    assert after < before


def test_an_excerpt_is_not_its_own_neighbour() -> None:
    scorer = _scorer()
    base = scorer.score([BACKGROUND[2]], [2])[0][0, 1]
    scorer.learn([BACKGROUND[2]], [2], np.array([[SEEN, ACCEPTED]], np.int8))
    assert scorer.score([BACKGROUND[2]], [2])[0][0, 1] == pytest.approx(base)  # only one decision: no vote
    assert scorer.score([BACKGROUND[2]], ["other"])[0][0, 1] > base


def test_engine_learns_from_accepted_and_rejected_suggestions(tmp_path: Path) -> None:
    from assistant.coding.decisions import accept, reject

    project = make_project(tmp_path)
    precode(project)
    views = list_suggestions(project)
    target = next(v for v in views if "mould" in v.excerpt_text)
    wrong = [v for v in views if v.suggestion.excerpt_id != target.suggestion.excerpt_id]
    accept(project, target.suggestion.id)
    for v in wrong:
        reject(project, v.suggestion.id)
    from assistant.coding.suggest import SuggestContext, make_engine

    eng = make_engine(project, "offline")
    codes = project.store.list_codes()
    eng.prepare(codes, SuggestContext.for_project(project))
    fb, col = eng.scorer.feedback, {c.id: j for j, c in enumerate(codes)}
    row = {k[1]: n for n, k in enumerate(fb.keys)}
    assert fb.labels[row[target.suggestion.excerpt_id], col[target.suggestion.code_id]] == ACCEPTED
    assert all(fb.labels[row[v.suggestion.excerpt_id], col[v.suggestion.code_id]] == REJECTED for v in wrong)
    assert precode(project, eng).done == 4


def test_bm25_lexical_scores_the_code_words_and_unseen_texts_alike() -> None:
    """The keyword score is BM25 of each code's words (see offline.py). A text
    outside the background is scored in an index that also holds it, on the same scale."""
    emb = HashingEmbedder(256)
    scorer = OfflineScorer(lambda texts: emb.embed_batch(list(texts)), ScorerParams(threshold=-1e9))
    scorer.fit(CODES, BACKGROUND, list(range(len(BACKGROUND))))
    lex = scorer.features(BACKGROUND)["lexical"]
    assert lex.shape == (len(BACKGROUND), 2)
    assert lex[0, 0] > 0 and lex[0, 1] == 0  # "damp and mould" vs the Housing definition's words
    assert lex[6, 1] > 0 and lex[6, 0] == 0  # "the grant was renewed": Funding's "grants"
    unseen = "Damp and mould again, and the grant is annual."
    both = scorer.features([unseen, BACKGROUND[0]])["lexical"]
    assert both[0, 0] > 0 and both[0, 1] > 0
    assert both[1, 0] == pytest.approx(lex[0, 0], rel=0.2)  # collection statistics barely move
    assert scorer.score([unseen])[0].shape == (1, 2)


def test_question_scoped_code_is_only_suggested_on_its_question(tmp_path: Path) -> None:
    from builders import IMPROVE, WELL, build_survey

    from assistant.coding.codebook import CodeSpec

    words = "what went well on the ward"
    codes = [CodeSpec(name="Scoped praise", definition=words, scope={"question": IMPROVE}),
             CodeSpec(name="Praise", definition=words), CodeSpec(name="Next time", definition="better next time")]
    project = build_survey(tmp_path, 12, codes, lambda *a: [])
    project.set_embedder(HashingEmbedder(256))
    precode(project)
    texts = project.store.source_texts()
    on: dict[str, set[str]] = {}
    for v in list_suggestions(project):
        e = project.store.list_excerpts(ids=[v.suggestion.excerpt_id])[0]
        on.setdefault(v.code, set()).add(" ".join(texts[e.source_id][e.context_start:e.context_end].split()))
    assert WELL in on.get("Praise", set())  # the words fit the other question's answers...
    assert WELL not in on.get("Scoped praise", set())  # ...but the scope keeps the code off them
    project.close()
