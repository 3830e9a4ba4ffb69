"""The test suite's own machinery: the one turn writer the store-built projects share, the demo
project built once and copied per test, and the environment every test starts from."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from builders import (
    CODING_TURNS,
    INTERVIEWS,
    add_turns_source,
    copy_project,
    new_project,
    turns_text,
)

from assistant.coding import codebook as cb
from assistant.project import Project


def test_turns_are_the_words_said_without_their_labels():
    text, spans = turns_text([("Interviewer", "Why?"), ("Ann Lee", "Because: the damp.")])
    assert text == "Interviewer: Why?\nAnn Lee: Because: the damp.\n"
    assert spans == [("Interviewer", 13, 17), ("Ann Lee", 27, 45)]
    assert [text[s:e] for _, s, e in spans] == ["Why?", "Because: the damp."]


@pytest.mark.parametrize("turns", [CODING_TURNS["P01"], INTERVIEWS["P03"][1]], ids=["coding", "writing"])
def test_store_built_interviews_hold_verbatim_excerpts(tmp_path: Path, turns):
    project = new_project(tmp_path / "proj")
    try:
        src = add_turns_source(project, "P9", turns, {"participant": "Someone"})
        excerpts = project.store.list_excerpts(source_id=src.id)
        assert [(e.speaker, e.text) for e in excerpts] == list(turns)
        assert all(src.text[e.start:e.end] == e.text for e in excerpts)
        assert [e.is_interviewer for e in excerpts] == [sp == "Interviewer" for sp, _ in turns]
    finally:
        project.close()


def test_demo_project_copies_are_complete_and_private(ui_project: Path, ui_templates, tmp_path: Path):
    """A copy opens as the whole project (sources, excerpts, codebook, suggestions, index); what a
    test writes to its copy reaches neither the template nor the next test's copy."""
    template = ui_templates()
    assert not [p for p in template.rglob("*-wal") if p.stat().st_size]  # checkpointed before copying
    with Project.open(ui_project) as p:
        counts = p.store.counts()
        assert (counts["sources"], p.settings.analyst) == (3, "tester")
        assert counts["excerpts"] > 50 and counts["codes"] > 3 and counts["suggestions_pending"] > 0
        assert (ui_project / "index" / "manifest.json").exists()
        cb.add_code(p, "Only in this copy", definition="Written by this test.")
    other = copy_project(template, tmp_path / "other")
    with Project.open(other) as q:
        assert q.store.counts() == counts
        assert "Only in this copy" not in {c.name for c in q.store.list_codes()}


@pytest.fixture(scope="module")
def _leaked_variable():
    """What a careless module fixture does: set a THEMATIC_ variable in the process environment."""
    os.environ["THEMATIC_ANALYST"] = "leaked-from-a-fixture"
    yield
    os.environ.pop("THEMATIC_ANALYST", None)


def test_no_thematic_variable_reaches_a_test(_leaked_variable, monkeypatch: pytest.MonkeyPatch):
    assert not [k for k in os.environ if k.startswith("THEMATIC_")]
    assert os.environ["HF_HUB_OFFLINE"] == os.environ["TRANSFORMERS_OFFLINE"] == "1"
    from assistant.settings import Settings

    assert Settings().analyst != "leaked-from-a-fixture"
    monkeypatch.setenv("THEMATIC_ANALYST", "set-by-the-test")  # a test that needs one sets it itself
    assert Settings().analyst == "set-by-the-test"


def test_shared_pdf_text_layer_is_pypdfs_own(pdpilot_dir: Path):
    """The run-wide text layer of a third-party PDF (conftest) is exactly what pypdf extracts,
    the second time too (then from the shared file)."""
    from index.readers import pdf

    path = pdpilot_dir / "original_pdfs" / "code-system.pdf"
    if not hasattr(pdf._extract, "__wrapped__"):
        pytest.skip("the text layers are not shared in this run")
    direct = pdf._extract.__wrapped__(path)
    assert direct and pdf._extract(path) == direct and pdf._extract(path) == direct
