"""Flat exports: codings, codebook with counts, audit log; written atomically."""

from __future__ import annotations

import csv
import io
import json

import pytest
from test_refi_roundtrip import build_project

from assistant.exchange.exports import (
    codebook_rows,
    coding_rows,
    export_audit,
    export_codebook_counts,
    export_codings,
)


@pytest.fixture
def project(tmp_path):
    p = build_project(tmp_path / "p")
    yield p
    p.close()


def test_codings_csv_and_json_carry_source_attributes_speaker_and_verbatim_text(project, tmp_path):
    assert export_codings(project, tmp_path / "c.csv", "csv") == 6
    rows = list(csv.DictReader(io.StringIO((tmp_path / "c.csv").read_text(encoding="utf-8"))))
    assert {"source", "attr:participant", "attr:sector", "speaker", "start", "end", "text", "code_path",
            "coder", "origin", "time"} <= set(rows[0])
    texts = {s.name: s.text for s in project.store.list_sources(with_text=True)}
    for r in rows:
        assert texts[r["source"]][int(r["start"]):int(r["end"])] == r["text"]
    joy = next(r for r in rows if r["text"].startswith("Great"))
    assert joy["code_path"] == "Feelings > Joy" and joy["speaker"] == "Participant"
    export_codings(project, tmp_path / "c.json", "json", coder="alice")
    data = json.loads((tmp_path / "c.json").read_text(encoding="utf-8"))
    assert len(data) == 3 and data[0]["attributes"]["sector"] == "NHS"
    assert not list(tmp_path.glob(".*tmp"))  # no temp files left behind


def test_codebook_counts_per_code_and_kind(project, tmp_path):
    rows = {r["code"]: r for r in codebook_rows(project)}
    assert rows["Joy"]["codings"] == 3 and rows["Joy"]["codings_interview"] == 3
    assert rows["Places"]["by_coder"] == {"alice": 2, "ai:offline:test": 1}
    assert rows["Places"]["codings_document"] == 1 and rows["Places"]["sources"] == 3
    export_codebook_counts(project, tmp_path / "b.csv", "csv")
    got = {r["code"]: r for r in csv.DictReader((tmp_path / "b.csv").read_text(encoding="utf-8").splitlines())}
    assert got["Joy"]["code_path"] == "Feelings > Joy" and got["Joy"]["codings"] == "3"


def test_audit_log_jsonl_and_csv(project, tmp_path):
    n = export_audit(project, tmp_path / "a.jsonl", "jsonl")
    events = [json.loads(line) for line in (tmp_path / "a.jsonl").read_text().splitlines()]
    assert len(events) == n and events[0]["action"] == "init"
    export_audit(project, tmp_path / "a.csv", "csv")
    rows = list(csv.DictReader(io.StringIO((tmp_path / "a.csv").read_text(encoding="utf-8"))))
    assert len(rows) == n  # exporting the audit log is not itself an audited change
    assert isinstance(json.loads(rows[0]["details"]), dict)


def test_unknown_format_is_refused(project, tmp_path):
    with pytest.raises(ValueError, match="csv or json"):
        export_codings(project, tmp_path / "x", "xlsx")  # type: ignore[arg-type]
    assert coding_rows(project, coder="nobody") == []
