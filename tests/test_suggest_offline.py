from __future__ import annotations

from pathlib import Path

from assistant.precode import precode
from assistant.suggest import list_suggestions, suggest_source
from coding_helpers import make_project


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
