"""Theme drafts (extractive and LLM-checked), the analyst's decisions, cross-source views."""

from __future__ import annotations

import pytest
from builders import add_coding, build_themes_project
from builders import build_writing_project as build_project
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from assistant.verbatim import is_verbatim
from assistant.writing import themes as th


@pytest.fixture()
def project(tmp_path):
    p = build_themes_project(tmp_path / "proj")
    yield p
    p.close()


def test_extractive_drafts_group_codes_with_spread_quotes(project):
    result = th.draft_themes_report(project, n_themes=2)
    assert len(result.themes) == 2
    assert sorted(c for t in result.themes for c in t.code_ids) == sorted(c.id for c in project.store.list_codes())
    texts = project.store.source_texts()
    for t in result.themes:
        assert t.summary_kind == "extractive" and t.summary.startswith("Extractive draft")
        assert 3 <= len(t.quotes) <= 6
        assert all(is_verbatim(texts[q.source_id], q.start, q.end, q.text) for q in t.quotes)
        assert result.reports[t.id]["distinctive_terms"]
    assert any(e.action == "draft" for e in project.store.list_audit("theme"))


def test_silhouette_chooses_the_number_of_themes(tmp_path, monkeypatch):
    """Twelve codes in four tight groups of three: the silhouette score, computed over the whole
    range searched (2..8 for twelve codes), peaks at four themes -- neither end of the range, so
    taking the first, the last or the lowest score would pick another k -- and the drafts group the
    codes exactly as the groups were made."""
    import numpy as np
    from sklearn.metrics import silhouette_score

    from assistant.models import Code

    eye = np.eye(256)  # the embedder's width; group g points along axis g, its members lean to 4, 5, 6
    groups = [[f"Group {g} code {j}" for j in range(3)] for g in range(4)]
    vectors = {name: eye[g] + 0.3 * eye[4 + j] for g, names in enumerate(groups) for j, name in enumerate(names)}
    p = build_project(tmp_path / "proj", codings=False)
    try:
        for name in vectors:
            p.store.add_code(Code(name=name, definition=name))
            add_coding(p, "P04", "Data sharing with the council would let us find the people at risk.", name, "alice")
        monkeypatch.setattr(th, "code_vectors", lambda project, codes, codings: np.stack([vectors[c.name] for c in codes]))
        result = th.draft_themes_report(p)
        assert sorted(result.silhouette) == list(range(2, 9))
        best = max(result.silhouette, key=lambda k: result.silhouette[k])
        assert best == 4 == result.n_themes == len(result.themes)
        assert all(score < result.silhouette[4] for k, score in result.silhouette.items() if k != 4)
        truth = np.array([g for g, names in enumerate(groups) for _ in names])
        matrix = np.stack([v for names in groups for v in (vectors[n] for n in names)])
        assert result.silhouette[4] == round(float(silhouette_score(matrix, truth, metric="cosine")), 4)
        drafted = {frozenset(p.store.get_code(c).name for c in t.code_ids) for t in result.themes}
        assert drafted == {frozenset(names) for names in groups}
    finally:
        p.close()


def test_llm_summary_sentences_with_bad_citations_are_removed(project):
    reply = ('Participants describe barriers [Q1]. "This was never said" [Q2]. An unknown quote [Q99]. '
             'The picture is mixed.')
    llm = FakeListChatModel(responses=[reply] * 3)
    result = th.draft_themes_report(project, n_themes=2, llm=llm, cache=False)
    for t in result.themes:
        rep = result.reports[t.id]
        assert t.summary_kind == "llm"
        # the uncited sentence goes too: nothing the analyst can check supports it
        assert t.summary == "Participants describe barriers [Q1]."
        assert rep["removed_sentences"] == 3 and rep["fabricated_quotes"] == 1 and rep["removed_citations"] == 1
        assert rep["dropped_uncited"] == 1 and rep["supported_sentences"] == 1


def test_analyst_decisions_are_audited(project):
    a, b = th.draft_themes(project, n_themes=2)
    th.rename_theme(project, a.id, "Barriers")
    th.edit_theme_summary(project, "Barriers", "My own words.")
    th.accept_theme(project, "Barriers")
    th.reject_theme(project, b.id)
    t = project.store.get_theme("Barriers")
    assert (t.status, t.summary, t.summary_kind) == ("accepted", "My own words.", "analyst")
    merged = th.merge_themes(project, [a.id, b.id], "All")
    assert sorted(merged.code_ids) == sorted(a.code_ids + b.code_ids)
    parts = th.split_theme(project, merged.id, [[merged.code_ids[0]], merged.code_ids[1:]])
    assert len(parts) == 2 and all(p.quotes for p in parts)
    actions = [e.action for e in project.store.list_audit("theme")]
    for act in ("rename", "edit", "accept", "reject", "merge", "split"):
        assert act in actions
    assert all(e.actor == "alice" for e in project.store.list_audit("theme") if e.action != "draft")


def test_crosstab_and_coverage(project):
    t = th.draft_themes(project, n_themes=2)
    funding = next(x for x in t if project.store.get_code("Short-term funding").id in x.code_ids)
    cross = th.theme_crosstab(project, funding.id)
    assert cross["codings_by_kind"]["interview"] >= 3
    frame = th.coverage_matrix(project, by="sector", unit="code")
    assert frame.loc["Short-term funding", "NHS"] == 1 and frame.loc["Data sharing", "Local authority"] == 1
    assert frame.loc["Housing and health"].sum() == 2
    by_kind = th.coverage_matrix(project, by="kind", unit="theme")
    assert by_kind.to_numpy().sum() == 7
    everyone = set(cross["participants_touching"]) | set(cross["participants_never"])
    assert everyone == {"Alice Smith", "Bob Jones", "Carol White", "Dan Brown"}


def test_rest_of_corpus_leaves_out_excerpts_coded_in_the_middle(project, monkeypatch):
    """P04's answer is coded mid-excerpt ("Data sharing with the council ..."): it is coded text,
    not "rest of the corpus", even though no coding starts where the excerpt starts."""
    seen = {}
    real = th.distinctive_terms

    def spy(docs, rest, top=8):
        seen["rest"] = rest
        return real(docs, rest, top)

    monkeypatch.setattr(th, "distinctive_terms", spy)
    th.draft_themes_report(project, n_themes=2)
    assert "Data sharing with the council would let us find the people at risk." not in seen["rest"]
    assert "Patients with cold homes" not in seen["rest"]  # same excerpt, before the coding
    assert "Trust with the community took years to build." not in seen["rest"]  # P03 answer is coded (housing)
    assert "Volunteers keep the food network going" not in seen["rest"]  # coded at its start
    assert "What do you see in general practice?" in seen["rest"]  # uncoded excerpts stay


def test_codings_are_read_with_one_query(project, monkeypatch):
    calls = []
    real = project.store.list_codings

    def counting(*a, **k):
        calls.append((a, k))
        return real(*a, **k)

    monkeypatch.setattr(project.store, "list_codings", counting)
    frame = th.coverage_matrix(project, by="kind", unit="code")
    assert len(calls) == 1 and frame.to_numpy().sum() == 7
    calls.clear()
    monkeypatch.setattr(th, "quotes_for_spans", lambda *a, **k: type("R", (), {"quotes": []})())
    monkeypatch.setattr("assistant.writing.quotes.find_quotes", lambda *a, **k: type("R", (), {"quotes": []})())
    th.draft_themes_report(project, n_themes=2)
    assert len(calls) == 1
