"""Text search over the sources' own text: whole words, phrases and wildcards, keyword-in-context
hits whose every piece is the source's characters, filters with the search filters' semantics,
bounds, and `thematic find`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _workspace_helpers import make_project
from typer.testing import CliRunner

from assistant.cli import app
from assistant.coding.decisions import add_coding
from assistant.corpus.find import MAX_TERMS, find, parse_query
from assistant.errors import ThematicError
from assistant.models import Excerpt, KwicHit, Source
from assistant.project import Project

runner = CliRunner()
NOTES = ("Site visit notes.\nDamp everywhere; the damper rooms worst. Dampness, DAMP, damp's smell.\n"
         "Don't forget: don t. [laughs] İstanbul damp\n")


@pytest.fixture
def project(tmp_path: Path):
    p = make_project(tmp_path)
    p.store.add_source(Source(name="Notes", kind="field_notes", text=NOTES, content_hash="n",
                              attributes={"organisation": "Northbridge Council", "sector": "Council"}))
    yield p
    p.close()


def check(project: Project, hit: KwicHit) -> None:
    """Every piece of a hit is the source's own characters, and its line and turn are right."""
    text = project.store.get_source(hit.source_id).text
    assert text[hit.start:hit.end] == hit.text
    assert text[hit.context_start:hit.start] == hit.left and text[hit.end:hit.context_end] == hit.right
    assert hit.line == text.count("\n", 0, hit.start) + 1
    turns = [e for e in project.store.list_excerpts(source_id=hit.source_id) if e.start <= hit.start < e.end]
    assert hit.excerpt_id == (turns[0].id if turns else None)
    assert hit.speaker == (turns[0].speaker if turns else None)


def texts(res) -> list[str]:
    return [h.text for h in res.hits]


def test_whole_words_any_case(project: Project) -> None:
    res = find(project, "damp")
    assert texts(res) == ["Damp", "DAMP", "damp", "damp", "damp"]  # Notes first (name order), then P01
    assert [h.source for h in res.hits] == ["Notes"] * 4 + ["P01"]
    for h in res.hits:
        check(project, h)
    p01 = res.hits[-1]
    assert p01.speaker == "Sarah Jones" and p01.line == 2 and p01.left.endswith("Sarah Jones: The ")
    assert texts(find(project, "damp", case_sensitive=True)) == ["damp", "damp", "damp"]


def test_phrases_and_wildcards(project: Project) -> None:
    assert texts(find(project, '"black mould"')) == ["black mould"]
    assert texts(find(project, '"notes. damp"')) == ["notes.\nDamp"]  # any whitespace matches a space
    assert texts(find(project, "damp*")) == ["Damp", "damper", "Dampness", "DAMP", "damp's", "damp", "damp"]
    assert texts(find(project, "d?mp")) == ["Damp", "DAMP", "damp", "damp", "damp"]
    assert texts(find(project, "don")) == ["don"]  # not the "Don" of "Don't"
    assert texts(find(project, "t")) == ["t"]  # not the t of "Don't"
    assert texts(find(project, "A&E")) == ["A&E"]
    assert texts(find(project, "istanbul")) == ["İstanbul"]  # lower-casing changes its length: still exact
    for h in find(project, "damp* istanbul mould").hits:
        check(project, h)


def test_several_terms_find_any_of_them(project: Project) -> None:
    res = find(project, "mould funding")
    assert {h.term for h in res.hits} == {"funding", "mould"}
    assert [h.start for h in res.hits if h.source == "P01"] == sorted(h.start for h in res.hits if h.source == "P01")


def test_filters_have_the_search_semantics(project: Project) -> None:
    assert {h.source for h in find(project, "damp", filters={"kind": "interview"}).hits} == {"P01"}
    assert {h.source for h in find(project, "damp", filters={"sector": "council"}).hits} == {"Notes"}
    tom = find(project, "the", filters={"participant": "Tom Okafor"})
    assert tom.hits and {h.source for h in tom.hits} == {"P02"}
    asked = find(project, "about", filters={"speaker": "Interviewer"})
    assert texts(asked) == ["about", "about"] and {h.speaker for h in asked.hits} == {"Interviewer"}
    # a speaker label lies outside every turn: found without turn filters, never with them
    label = find(project, '"Sarah Jones"')
    assert [h.excerpt_id for h in label.hits] == [None, None]
    assert find(project, '"Sarah Jones"', filters={"speaker": "Sarah Jones"}).hits == []
    assert texts(find(project, "staffing")) == ["staffing"]
    assert find(project, "staffing", exclude_interviewer=True).total == 0


def test_bounds(project: Project) -> None:
    res = find(project, "the", limit=2)
    assert len(res.hits) == 2 and res.truncated and res.total > 2
    capped = find(project, "the", total_cap=3)
    assert capped.total == 3 and capped.total_capped
    big = "the damp " * 50_000
    project.store.add_source(Source(name="Big", kind="document", text=big, content_hash="big"))
    res = find(project, "damp", limit=10)
    assert res.total == 50_005 and len(res.hits) == 10 and res.seconds < 5


@pytest.mark.parametrize("query, error", [
    ("", "say what to find"), ("*ould", "must start with a letter"), ('"open', "unclosed quote"),
    ("a*b*c*d*e*", "at most 4 wildcards"), ("...", "at least one letter"), ('""', "only empty quotes"),
    ("x" * 501, "limit is 500"), (" ".join(f"w{i}" for i in range(MAX_TERMS + 1)), "terms"),
    ('"black *ould"', "each word of a phrase"),
])
def test_bad_queries_are_one_sentence(query: str, error: str) -> None:
    with pytest.raises(ThematicError, match=error):
        parse_query(query)


def test_regex_characters_are_literal(project: Project) -> None:
    assert find(project, "(a+)+$").total == 0
    assert texts(find(project, "[laughs]")) == ["[laughs]"]


def test_a_hit_is_codable(project: Project) -> None:
    hit = find(project, '"black mould"').hits[0]
    c = add_coding(project, hit.source_id, hit.start, hit.end, "Housing and living conditions")
    assert (c.start, c.end, c.text) == (hit.start, hit.end, hit.text)


def test_turns_of_a_survey_of_many_sources(project: Project) -> None:
    for i in range(30):
        text = f"Answer {i}: the ambulance came late"
        src = project.store.add_source(Source(name=f"R{i:02d}", kind="survey", text=text, content_hash=f"r{i}"))
        s = text.index("the")
        project.store.add_excerpts([Excerpt(source_id=src.id, ordinal=0, start=s, end=len(text), text=text[s:],
                                            speaker=f"R{i:02d}")])
    res = find(project, "ambulance", filters={"kind": "survey"}, limit=100)
    assert res.total == 30 and [h.speaker for h in res.hits] == [f"R{i:02d}" for i in range(30)]
    for h in res.hits:
        check(project, h)


def test_cli_find(project: Project) -> None:
    folder = str(project.folder)
    r = runner.invoke(app, ["find", "damp", "--filter", "kind=interview", "-p", folder, "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["total"] == 1 and data["hits"][0]["text"] == "damp" and data["hits"][0]["speaker"] == "Sarah Jones"
    r = runner.invoke(app, ["find", "laughs", "-p", folder])
    assert r.exit_code == 0 and "[laughs]" in r.stdout and "Notes:3" in r.stdout
    r = runner.invoke(app, ["find", "*x", "-p", folder])
    assert r.exit_code == 1 and "must start with a letter" in r.output
