"""The real PDPilot interviews: readers, turn detection and chunking against the authors' coding."""

from __future__ import annotations

import json

import pytest

from index.chunking import chunk
from index.readers import read_path
from index.speakers import detect_turns, looks_like_transcript
from index.text import find_verbatim

NAMES = [f"P{i}" for i in range(1, 8)]


@pytest.fixture(scope="module")
def corpus(pdpilot_dir):
    txt = {n: read_path(pdpilot_dir / "transcripts" / f"{n}.txt")[0] for n in NAMES}
    pdf = {n: read_path(pdpilot_dir / "original_pdfs" / f"{n}.pdf")[0] for n in NAMES}
    segments = [json.loads(line) for line in (pdpilot_dir / "coded_segments.jsonl").open(encoding="utf-8")]
    return txt, pdf, segments


def test_seven_interviews_with_dan_as_interviewer(corpus):
    txt, pdf, _ = corpus
    assert len(txt) == len(pdf) == 7
    for docs in (txt, pdf):
        for name, doc in docs.items():
            for interviewer in (["Dan"], None):  # by name, then by the question heuristic
                turns = detect_turns(doc.text, interviewer)
                # P5 has one turn labelled "Particpant:" (sic): its own turn, not part of Dan's
                typo = {"Particpant"} if name == "P5" else set()
                assert {t.speaker for t in turns} == {"Dan", "Participant"} | typo, name
                assert {t.speaker for t in turns if t.is_interviewer} == {"Dan"}, name
                assert looks_like_transcript(turns, doc.text)


def test_pdf_turns_match_text_versions(corpus):
    txt, pdf, _ = corpus
    for name in NAMES:
        n_txt = len(detect_turns(txt[name].text))
        n_pdf = len(detect_turns(pdf[name].text))
        assert abs(n_txt - n_pdf) <= max(2, n_txt // 50), name
        assert [p.number for p in pdf[name].pages] == list(range(1, len(pdf[name].pages) + 1))
        assert "/" not in pdf[name].text[:5]


def test_coded_segments_found_and_inside_excerpts(corpus):
    txt, pdf, segments = corpus
    exact = 0
    for docs in (txt, pdf):
        for name, doc in docs.items():
            spans = chunk(doc, interviewer=["Dan"])
            turns = detect_turns(doc.text, ["Dan"])
            inside = bytearray(len(doc.text))
            for sp in spans:
                inside[sp.start:sp.end] = b"\x01" * (sp.end - sp.start)
            for t in turns:
                inside[t.start:t.body_start] = b"\x02" * (t.body_start - t.start)
            for seg in (s for s in segments if s["doc"] == name):
                if docs is txt and doc.text[seg["char_start"]:seg["char_end"]].split() == seg["text"].split():
                    exact += 1
                found = find_verbatim(doc.text, seg["text"])
                assert found is not None, (name, seg["segment_id"])
                s, e = found
                assert all(inside[i] for i in range(s, e) if not doc.text[i].isspace()), (name, seg["segment_id"])
                assert any(inside[i] == 1 for i in range(s, e))
    assert exact >= 250  # the authors' offsets hold for all but the 7 fuzzy-aligned segments
