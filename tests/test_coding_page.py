"""The Code page headless (Streamlit's AppTest): blind coding hides the AI's suggestions and the
other coders' codings on that source, says so in a banner, and the reading pane is given only the
coder's own codings; the review queue leads with the highest score."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("streamlit")
from builders import build_coding_project, excerpt_with
from streamlit.testing.v1 import AppTest

from assistant.coding import blind, decisions
from assistant.models import Suggestion

APP = str(Path(__file__).resolve().parents[1] / "streamlit_app.py")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    p = build_coding_project(tmp_path)
    p.save_settings()
    text = p.store.get_source("P01").text
    at = text.index("black mould")
    decisions.add_coding(p, "P01", at, at + 11, "Drivers", analyst="bob")
    decisions.add_coding(p, "P01", at, at + 5, "Housing and living conditions")  # alice's own
    code = p.store.get_code("Drivers").id
    for needle, score in (("black mould", 1.5), ("post advertised", 2.5)):
        ex = excerpt_with(p, needle)
        p.store.add_suggestions([Suggestion(excerpt_id=ex.id, source_id=ex.source_id, code_id=code, score=score,
                                            rationale=f"score {score}")])
    other = next(s for s in p.store.list_sources() if s.name != "P01")
    ex = next(e for e in p.store.list_excerpts(source_id=other.id) if not e.is_interviewer)
    p.store.add_suggestions([Suggestion(excerpt_id=ex.id, source_id=ex.source_id, code_id=code, score=0.5, rationale="other")])
    folder = p.folder
    p.close()
    return folder


def _page(folder: Path, monkeypatch: pytest.MonkeyPatch, **state) -> AppTest:
    monkeypatch.setenv("THEMATIC_PROJECT", str(folder))
    monkeypatch.setenv("THEMATIC_FAKE_EMBEDDER", "256")
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    for k, v in state.items():
        at.session_state[k] = v
    at.switch_page("app_pages/coding.py").run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def _pane_codings(at: AppTest) -> list[dict]:
    (pane,) = [n for n in at.get("component_instance")]
    return json.loads(pane.proto.json_args)["codings"]


def test_queue_leads_with_the_highest_score(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _page(folder, monkeypatch)
    assert any("Suggestion 1 of 3" in c.value and "score 2\\.50" in c.value for c in at.caption)


def test_blind_coding_hides_suggestions_and_other_coders(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from assistant.project import Project

    with Project.open(folder) as p:
        p1 = int(p.store.get_source("P01").id)  # type: ignore[arg-type]
        at = _page(folder, monkeypatch, code_view="document", code_source_keep=p1)
        assert {c["coder"] for c in _pane_codings(at)} == {"alice", "bob"}  # not blind: everyone's codings
        assert not any("Blind coding is on" in w.value for w in at.warning)
        blind.set_blind(p, "alice", ["P01"])

    at = _page(folder, monkeypatch, code_view="document", code_source_keep=p1)
    assert any("Blind coding is on for you (alice) on P01" in w.value.replace("\\", "") for w in at.warning)
    assert {c["coder"] for c in _pane_codings(at)} == {"alice"}

    at = _page(folder, monkeypatch)  # the queue over all sources: none of P01's suggestions
    assert any("Suggestion 1 of 1" in c.value and "score 0\\.50" in c.value for c in at.caption)
    at = _page(folder, monkeypatch, rv_source=p1)
    assert any("its AI suggestions are hidden" in w.value for w in at.warning)
    assert not [b for b in at.button if b.key == "rv_accept"]


def test_agreement_marks_a_comparison_that_is_not_independent(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THEMATIC_PROJECT", str(folder))
    monkeypatch.setenv("THEMATIC_FAKE_EMBEDDER", "256")
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.switch_page("app_pages/agreement.py").run()
    assert not at.exception, [e.message for e in at.exception]
    at.selectbox[0].set_value("alice").run()
    at.selectbox[1].set_value("bob").run()
    assert any("Not an independent comparison" in e.value for e in at.error)
    assert any("Not independent" in m.value and "not coded independently" in m.value for m in at.markdown)


def test_a_link_with_a_span_opens_the_document_ready_to_code(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What a search hit links to: the document view of that source, the pane scrolled to the
    words, and the words already the selection (snapped to whole words) with the codes to apply."""
    from assistant.project import Project

    with Project.open(folder) as p:
        src = p.store.get_source("P01")
        at_ = src.text.index("heat their homes")
    monkeypatch.setenv("THEMATIC_PROJECT", str(folder))
    monkeypatch.setenv("THEMATIC_FAKE_EMBEDDER", "256")
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.switch_page("app_pages/coding.py")
    at.query_params.update({"source": str(src.id), "start": str(at_ + 1), "end": str(at_ + 14)})
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    (pane,) = at.get("component_instance")
    assert json.loads(pane.proto.json_args)["focus"] == [at_ + 1, at_ + 14]
    bodies = " ".join(h.proto.body for h in at.get("html"))
    assert "heat their homes" in bodies  # "eat their hom" snapped to whole words
    assert any(m.label == "Codes" for m in at.multiselect)


def test_queue_filtered_by_source_attributes(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _page(folder, monkeypatch)
    assert any("Suggestion 1 of 3" in c.value for c in at.caption)
    at.multiselect(key="rv_f_participant").set_value(["Sarah Jones"]).run()  # P01's participant
    assert not at.exception, [e.message for e in at.exception]
    assert any("Suggestion 1 of 2" in c.value for c in at.caption)
    at.selectbox(key="rv_order").set_value("source").run()
    assert any("Suggestion 1 of 2" in c.value and "score 1\\.50" in c.value for c in at.caption)  # document order
