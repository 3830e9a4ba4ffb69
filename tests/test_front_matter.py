"""Header blocks of transcripts (as Otter, Rev, Zoom and Teams write them), documents' front matter
and headings, and label-only turns are recognised at excerpting and kept out of suggestions,
validation samples and quotes."""

from __future__ import annotations

from pathlib import Path

import pytest
from builders import build_coding_project

from index.chunking import chunk
from index.front_matter import excerpt_kinds, is_label_only
from index.types import Document

OTTER = """P03 Bridges - Jo Whitfield
Tue, 26 Mar 2024 10:02AM \u2022 46:15
SUMMARY KEYWORDS
referrals, link workers, housing, damp, funding, caseloads, volunteers
SPEAKERS
Jo Whitfield, Interviewer

Interviewer  0:02
So that's going now, I think. Can you see the little red dot?

Jo Whitfield  0:07
Yeah, it says recording. Most of our referrals come from GPs, and housing is behind half of them.

Interviewer  0:15
What does a typical referral look like?

Jo Whitfield  0:19
Someone in a damp flat, lonely, who has been to A&E three times this winter.

Transcribed by https://otter.ai
"""

REV = """Transcript
Interview_P05_final.mp3
Speakers: Interviewer, P5
Date: 2 April 2024

Interviewer: (00:00:02)
Thanks for making time. How would you describe your practice?

P5: (00:00:09)
We serve a very deprived population; many patients live in cold, damp private rentals.

Interviewer: (00:00:20)
And the hospital?

P5: (00:00:24)
Discharge letters arrive late, so we never know who has been admitted.
"""

ZOOM = """WEBVTT style export: Team meeting transcript
Meeting title: Key informant interview P07
Date: 9 April 2024
Duration: 47 min

[00:00:03] Interviewer: Is that OK? I think we're recording now.
[00:00:07] Sam Patel: Yes, fine. The food network feeds about four hundred families a week now.
[00:00:15] Interviewer: What is driving that?
[00:00:19] Sam Patel: Energy bills, mostly. People choose between heating and eating.
[00:00:30] Interviewer: 00:00:31
"""

TEAMS = """Key informant interview P08
Recording started
Interviewer started transcription

Interviewer: Thanks very much for agreeing to this. Could you describe your role?
Daniel: I manage the private sector housing team. We inspect homes for damp and hazards.
Interviewer: How does housing connect to health?
Daniel: Directly. Mould in a child's bedroom means asthma admissions every winter.

Interviewer stopped transcription
"""

REPORT = """Healthy Northbridge 2030
Our Health Inequalities Strategy
Northbridge City Council

Contents
1. Foreword .......... 2
2. Where we are now .......... 4
3. Our priorities .......... 9

1. Foreword

Northbridge is a city of real strengths, but the gap in healthy life expectancy between our richest and poorest wards is eleven years.

2. Where we are now

Emergency admissions for respiratory illness rise every winter, and they rise most in the wards with the most damp private rented housing.
"""


def _kinds(text: str) -> list[tuple[str, str]]:
    doc = Document(name="x", text=text)
    return [(s.kind, text[s.start:s.end]) for s in chunk(doc, ["Interviewer"])]


@pytest.mark.parametrize("text", [OTTER, REV, ZOOM, TEAMS], ids=["otter", "rev", "zoom", "teams"])
def test_transcript_header_blocks_are_headers_and_answers_are_body(text: str) -> None:
    kinds = _kinds(text)
    assert kinds[0][0] == "header"  # the block before the first turn
    body = [t for k, t in kinds if k == "body"]
    assert any("damp" in t or "heating" in t or "four hundred" in t for t in body)
    answers = ("damp flat", "damp private", "heating and eating", "damp and hazards")
    assert not any(k != "body" and any(a in t for a in answers) for k, t in kinds)


def test_transcription_boilerplate_and_label_only_turns() -> None:
    kinds = {t: k for k, t in _kinds(OTTER)}
    assert kinds["Transcribed by https://otter.ai"] == "header"
    z = _kinds(ZOOM)
    assert ("speaker_label", "00:00:31") in z
    teams = {t: k for k, t in _kinds(TEAMS)}
    assert teams["Interviewer stopped transcription"] == "header"
    assert is_label_only("Speaker 1  0:03") and is_label_only("[00:01:02]") and not is_label_only("Yes.")


def test_document_front_matter_and_headings() -> None:
    kinds = _kinds(REPORT)
    by_text = {t.split("\n")[0]: k for k, t in kinds}
    assert by_text["Healthy Northbridge 2030"] == "front_matter"
    assert by_text["Contents"] == "front_matter"
    assert by_text["1. Foreword"] == "heading"
    assert all(k == "body" for k, t in kinds if "wards" in t)


def test_a_participant_who_speaks_once_is_not_a_header() -> None:
    texts = ["How are you?", "Fine.", "And the funding?", "Short term, always."]
    assert excerpt_kinds(texts, ["Interviewer", "Participant", "Interviewer", "Ann"]) == ["body"] * 4
    # a list of barriers in a report is content, not a heading
    assert excerpt_kinds(["Barriers we heard about:\n- damp homes\n- short-term grants\n- no data sharing"],
                         [None]) == ["body"]


def test_headers_never_reach_precode_validation_or_quotes(tmp_path: Path) -> None:
    from assistant.coding.precode import precode, select_excerpts
    from assistant.coding.validation import draw_sample, sample_excerpts
    from assistant.corpus.codable import codable_excerpts
    from assistant.corpus.ingest import ingest_paths

    project = build_coding_project(tmp_path)
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "P07.txt").write_text(OTTER, encoding="utf-8")
    ingest_paths(project, [folder], index=False)
    header = next(e for e in project.store.list_excerpts() if e.text.startswith("P03 Bridges"))
    assert header not in codable_excerpts(project)
    todo, _ = select_excerpts(project)
    assert header.id not in {e.id for e in todo}
    precode(project, "offline")
    assert header.id not in {s.excerpt_id for s in project.store.list_suggestions(status=None)}
    vid = draw_sample(project, size=50, seed=0)
    assert header.id not in {e.id for e in sample_excerpts(project, vid)}
    project.close()


def test_quotes_skip_header_hits(tmp_path: Path) -> None:
    from assistant.corpus.ingest import ingest_paths
    from assistant.writing.quotes import find_quotes

    project = build_coding_project(tmp_path)
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "P07.txt").write_text(OTTER, encoding="utf-8")
    ingest_paths(project, [folder])
    res = find_quotes(project, query="referrals link workers housing damp funding caseloads", k=10,
                      min_chars=10)
    assert res.quotes and not any("SUMMARY KEYWORDS" in q.text or "link workers, housing" in q.text
                                  for q in res.quotes)
    project.close()
