"""Themes a person can read, and the plain-words pieces of the workspace: draft names from the
distinctive terms, the no-model summary as short paragraphs with one verified quote per point,
re-drafting that never duplicates an accepted theme, document codings kept apart from
participants, search ranks said in words, and `thematic analyst set`."""

from __future__ import annotations

import json

import pytest
from builders import add_coding, build_themes_project
from typer.testing import CliRunner

from assistant.errors import ThematicError
from assistant.verbatim import is_verbatim
from assistant.writing import themes as th
from index.types import ExcerptHit, ordinal


@pytest.fixture()
def project(tmp_path):
    p = build_themes_project(tmp_path / "proj")
    yield p
    p.close()


def test_names_come_from_distinctive_terms_not_code_names(project):
    themes = th.draft_themes(project, n_themes=2)
    names = [t.name for t in themes]
    assert len(set(names)) == 2
    for t in themes:
        assert not t.name.endswith("…") and " & " not in t.name
        assert t.name[0].isupper()
    funding = next(t for t in themes if project.store.get_code("Short-term funding").id in t.code_ids)
    assert "funding" in funding.name.lower() or "prevention" in funding.name.lower()


def test_theme_name_helper_prefers_codebook_phrases_and_never_repeats_a_name():
    class C:  # the two attributes theme_name reads
        def __init__(self, name, definition=""):
            self.name, self.definition = name, definition

    codes = [C("Short-term funding", "Prevention funding that is short-term or cut")]
    assert th.theme_name(["council", "prevention funding", "winter"], codes) == "Prevention funding and council"
    assert th.theme_name([], codes) == "Short-term funding"
    taken = ["Prevention funding and council"]
    assert th.theme_name(["council", "prevention funding"], codes, taken) == \
        "Prevention funding and council (Short-term funding)"


def test_readable_terms_drop_fillers_and_phrases_not_in_the_text():
    texts = ["Following the Agreement in October the population health team said it was fine.",
             "The population health data was noted.", "Population health again."]
    got = th.readable_terms(["agreement october", "said", "population health", "noted", "team"], texts)
    assert got == ["population health"]  # "team" appears in one coding of three: one quote's wording


def test_extractive_summary_is_paragraphs_with_one_verified_quote_per_point(project):
    themes = th.draft_themes(project, n_themes=2)
    texts = project.store.source_texts()
    for t in themes:
        paras = t.summary.split("\n\n")
        assert paras[0].startswith("Extractive draft") and "accepted coding" in paras[0]
        points = [p for p in paras if "\u201c" in p]
        assert points, t.summary
        quoted = {q.text: q for q in t.quotes}
        for p in points:
            inner = p[p.index("\u201c") + 1:p.rindex("\u201d")]
            assert inner in quoted, "each point quotes one of the theme's verified quotes, exactly"
            q = quoted[inner]
            assert is_verbatim(texts[q.source_id], q.start, q.end, inner)
        assert "Distinctive terms:" not in t.summary and "; " not in paras[0].split(":")[0]


def test_redrafting_never_duplicates_an_accepted_theme(project):
    first = th.draft_themes(project, n_themes=2)
    kept = th.accept_theme(project, first[0].id)
    again = th.draft_themes(project)
    assert all(not set(t.code_ids) & set(kept.code_ids) for t in again)
    assert [t.id for t in project.store.list_themes() if t.status == "accepted"] == [kept.id]
    th.accept_theme(project, again[0].id)
    with pytest.raises(ThematicError, match="already in a theme you accepted"):
        th.draft_themes(project)


def test_coverage_by_participant_keeps_documents_apart(project):
    add_coding(project, "Strategy 2024", project.store.get_source("Strategy 2024").text.split("\n")[0], "Data sharing",
               "alice")
    frame = th.coverage_matrix(project, by="participant", unit="code")
    assert list(frame.columns)[-1] == th.DOCUMENTS_COLUMN
    assert "Strategy 2024" not in frame.columns
    assert frame.loc["Data sharing", th.DOCUMENTS_COLUMN] == 1


def test_search_ranks_are_said_in_words():
    assert [ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 101)] == [
        "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "101st"]
    hit = ExcerptHit(id=1, text="x", source_id=1, source="s", kind="interview", start=0, end=1, score=1.0,
                     dense_rank=6, bm25_rank=4)
    assert hit.why == "6th closest in meaning, 4th by its words"
    assert "#" not in hit.why and "bm25" not in hit.why


def test_analyst_set_from_the_command_line(tmp_path):
    from assistant.cli import app
    from assistant.project import Project

    Project.init(tmp_path / "p").close()
    runner = CliRunner()
    out = runner.invoke(app, ["analyst", "set", "  A.   Researcher ", "-p", str(tmp_path / "p")])
    assert out.exit_code == 0, out.output
    shown = runner.invoke(app, ["analyst", "show", "-p", str(tmp_path / "p"), "--json"])
    assert json.loads(shown.stdout) == {"analyst": "A. Researcher", "needs_name": False}
    with Project.open(tmp_path / "p") as p:
        rows = p.store.list_audit(entity_type="analyst")
        assert rows and rows[-1].details["after"] == "A. Researcher" and rows[-1].actor == "A. Researcher"
    bad = runner.invoke(app, ["analyst", "set", "ai:offline:x", "-p", str(tmp_path / "p")])
    assert bad.exit_code == 1 and "ai:" in bad.output
