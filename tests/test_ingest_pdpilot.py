"""The real PDPilot interviews (MAXQDA exports, BSD-3) through the command line, as text and as PDF."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from assistant.cli import app
from index.speakers import detect_turns
from index.text import find_verbatim

runner = CliRunner()


@pytest.fixture(scope="module")
def pdpilot_project(tmp_path_factory, pdpilot_dir):
    folder = tmp_path_factory.mktemp("pdpilot") / "project"
    assert runner.invoke(app, ["init", str(folder)]).exit_code == 0
    pdfs = sorted((pdpilot_dir / "original_pdfs").glob("P*.pdf"))
    result = runner.invoke(app, ["ingest", str(pdpilot_dir / "transcripts"), *map(str, pdfs),
                                 "--attr", "interviewer=Dan", "--no-index", "-p", str(folder)])
    assert result.exit_code == 0, result.output
    return folder


def _show(folder, name):
    return json.loads(runner.invoke(app, ["show", name, "--json", "-p", str(folder)]).stdout)


def test_seven_interviews_with_speaker_turns_from_text_and_pdf(pdpilot_project):
    sources = json.loads(runner.invoke(app, ["sources", "--json", "-p", str(pdpilot_project)]).stdout)
    names = {s["name"] for s in sources}
    assert names == {f"P{i}.{ext}" for i in range(1, 8) for ext in ("txt", "pdf")}
    assert all(s["kind"] == "interview" for s in sources)
    for i in range(1, 8):
        txt, pdf = _show(pdpilot_project, f"P{i}.txt"), _show(pdpilot_project, f"P{i}.pdf")
        for shown in (txt, pdf):
            speakers = {e["speaker"] for e in shown["excerpts"]}
            assert {"Dan", "Participant"} <= speakers
            assert all(e["is_interviewer"] == (e["speaker"] == "Dan") for e in shown["excerpts"])
        # the PDF's text layer gives the same turns as the plain text
        assert abs(len(txt["excerpts"]) - len(pdf["excerpts"])) <= 2


def test_authors_segments_lie_inside_the_excerpts(pdpilot_project, pdpilot_dir):
    segments = [json.loads(line) for line in (pdpilot_dir / "coded_segments.jsonl").read_text().splitlines()]
    shown = {f"P{i}": _show(pdpilot_project, f"P{i}.txt") for i in range(1, 8)}
    found = 0
    for seg in segments:
        doc = shown[seg["doc"].split(".")[0]]
        labels = doc.setdefault("_labels", [(t.start, t.body_start) for t in detect_turns(doc["text"], ["Dan"])])
        span = find_verbatim(doc["text"], seg["text"])
        if span is None:
            continue
        found += 1
        covered = [(e["start"], e["end"]) for e in doc["excerpts"] if e["start"] < span[1] and e["end"] > span[0]]
        assert covered, seg["text"][:60]
        # every non-space character of the segment is inside some excerpt (labels aside)
        for pos in range(span[0], span[1]):
            ch = doc["text"][pos]
            if ch.isspace():
                continue
            inside = any(s <= pos < e for s, e in covered) or any(s <= pos < e for s, e in labels)
            assert inside, (seg["text"][:60], pos)  # a segment may include a "Dan:" label
    assert found >= 255  # 255 of 262 are exact substrings; the other 7 differ slightly in the export

