"""The exchange commands end to end through the Typer app."""

from __future__ import annotations

import json
import zipfile

from test_refi_roundtrip import build_project
from typer.testing import CliRunner

from assistant.cli import app
from assistant.project import Project

runner = CliRunner()


def test_export_import_agreement_commands(tmp_path):
    build_project(tmp_path / "p").close()
    p = ["--project", str(tmp_path / "p")]
    r = runner.invoke(app, ["export", "qdpx", str(tmp_path / "x.qdpx"), "--offsets", "utf16", *p])
    assert r.exit_code == 0, r.output
    assert zipfile.is_zipfile(tmp_path / "x.qdpx")
    r = runner.invoke(app, ["import", "qdpx", str(tmp_path / "x.qdpx"), "--into", str(tmp_path / "q"),
                            "--offsets", "utf16", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["counts"]["codings"] == 6
    for kind, fmt in (("codings", "csv"), ("codings", "json"), ("codebook", "csv"), ("codebook", "json"),
                      ("audit", "jsonl"), ("audit", "csv")):
        out = tmp_path / f"{kind}.{fmt}"
        r = runner.invoke(app, ["export", kind, str(out), "--format", fmt, *p])
        assert r.exit_code == 0 and out.stat().st_size > 0, r.output
    r = runner.invoke(app, ["export", "qdc", str(tmp_path / "b.qdc"), *p])
    assert r.exit_code == 0
    r = runner.invoke(app, ["coders", "--json", *p])
    assert {c["name"] for c in json.loads(r.stdout)} >= {"alice", "bob", "ai:offline:test"}
    r = runner.invoke(app, ["agreement", "--coder", "alice", "--coder", "ai:offline:test", "--json", *p])
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    assert report["coder_b"] == "ai:offline:test"
    assert all("kappa" in row and "prevalence_either" in row for row in report["per_code"])
    r = runner.invoke(app, ["agreement", "--coder", "alice", "--coder", "ai:offline:test", *p])
    assert r.exit_code == 0 and "kappa" in r.stdout  # the table (its width follows the terminal)
    r = runner.invoke(app, ["disagreements", "--coder", "alice", "--coder", "ai:offline:test", "--json", *p])
    assert r.exit_code == 0 and isinstance(json.loads(r.stdout), list)


def test_import_codings_reports_unplaced_segments(tmp_path):
    build_project(tmp_path / "p").close()
    segs = tmp_path / "segs.jsonl"
    segs.write_text("\n".join(json.dumps(s) for s in [
        {"doc": "emoji", "code_path": "Feelings > Joy", "text": "really great", "char_start": 0, "char_end": 3},
        {"doc": "emoji.txt", "code": "Places", "text": "not in the text at all", "char_start": 0, "char_end": 5},
        {"doc": "nope", "code": "Places", "text": "x", "char_start": 0, "char_end": 1},
    ]) + "\n", encoding="utf-8")
    r = runner.invoke(app, ["import", "codings", str(segs), "--coder", "carol", "--json", "--project", str(tmp_path / "p")])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["added"] == 1 and out["relocated"] == 1 and len(out["problems"]) == 2
    with Project.open(tmp_path / "p") as project:
        (c,) = project.store.list_codings(coder="carol")
        assert c.text == "really great"


def test_import_into_existing_project_is_refused(tmp_path):
    build_project(tmp_path / "p").close()
    runner.invoke(app, ["export", "qdpx", str(tmp_path / "x.qdpx"), "--project", str(tmp_path / "p")])
    r = runner.invoke(app, ["import", "qdpx", str(tmp_path / "x.qdpx"), "--into", str(tmp_path / "p")])
    assert r.exit_code == 1 and "already a thematic project" in r.output
