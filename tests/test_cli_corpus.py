"""The corpus commands, driven as a user would (through Typer's CliRunner)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from assistant.cli import app

runner = CliRunner()


@pytest.fixture
def project_dir(tmp_path, monkeypatch):
    # the fake embedder keeps CLI tests fast; the real model is exercised in slow tests
    from index import embeddings

    monkeypatch.setattr(embeddings.SentenceTransformerEmbedder, "from_settings",
                        classmethod(lambda cls, s: embeddings.HashingEmbedder(64)))
    folder = tmp_path / "study"
    result = runner.invoke(app, ["init", str(folder), "--analyst", "alice"])
    assert result.exit_code == 0, result.output
    return folder


def test_ingest_sources_show_status(project_dir, tmp_path):
    t = tmp_path / "P1.txt"
    t.write_text("Interviewer: What gets people to A&E?\nP1: Damp flats, mostly.\n"
                 "Interviewer: Anything else?\nP1: Loneliness. People come in for company.\n")
    meta = tmp_path / "metadata.csv"
    meta.write_text("file,kind,participant,sector\nP1.txt,interview,P1,NHS\n")
    result = runner.invoke(app, ["ingest", str(t), "--meta", str(meta), "--project", str(project_dir)])
    assert result.exit_code == 0, result.output
    out = runner.invoke(app, ["sources", "--json", "-p", str(project_dir)])
    [src] = json.loads(out.stdout)
    assert src["name"] == "P1.txt" and src["attributes"]["sector"] == "NHS" and src["excerpts"] >= 2
    shown = json.loads(runner.invoke(app, ["show", "P1.txt", "--json", "-p", str(project_dir)]).stdout)
    assert all(shown["text"][e["start"]:e["end"]] == e["text"] for e in shown["excerpts"])
    status = json.loads(runner.invoke(app, ["status", "--json", "-p", str(project_dir)]).stdout)
    assert status["sources"] == 1 and status["analyst"] == "alice" and status["llm"]["remote"] is False
    hits = json.loads(runner.invoke(app, ["search", "loneliness", "--json", "-p", str(project_dir)]).stdout)
    assert hits and all(h["is_interviewer"] is False for h in hits)


def test_failed_files_set_the_exit_code(project_dir, tmp_path):
    good = tmp_path / "a.txt"
    good.write_text("A short document about funding.")
    result = runner.invoke(app, ["ingest", str(good), str(tmp_path / "missing.txt"), "-p", str(project_dir)])
    assert result.exit_code == 2
    assert "missing.txt: no such file" in result.output
    assert "1 added" in result.output


def test_errors_are_one_line_not_a_traceback(tmp_path):
    result = runner.invoke(app, ["sources", "-p", str(tmp_path / "nowhere")])
    assert result.exit_code == 1
    assert "not a thematic project" in result.output and "Traceback" not in result.output


def test_remove_and_verify(project_dir, tmp_path):
    doc = tmp_path / "d.md"
    doc.write_text("# Strategy\n\nWe will share data.\n\nWe will fund prevention.\n")
    runner.invoke(app, ["ingest", str(doc), "-p", str(project_dir)])
    assert runner.invoke(app, ["verify", "-p", str(project_dir)]).exit_code == 0
    result = runner.invoke(app, ["remove", "d.md", "--yes", "-p", str(project_dir)])
    assert result.exit_code == 0 and "Removed d.md" in result.output
    assert json.loads(runner.invoke(app, ["sources", "--json", "-p", str(project_dir)]).stdout) == []


def test_damaged_index_is_named_by_verify_and_rebuilt_by_reindex(project_dir, tmp_path):
    doc = tmp_path / "d.md"
    doc.write_text("# Strategy\n\nWe will share data.\n\nWe will fund prevention.\n")
    runner.invoke(app, ["ingest", str(doc), "-p", str(project_dir)])
    (project_dir / "index" / "manifest.json").write_text('{"trunc')
    result = runner.invoke(app, ["verify", "-p", str(project_dir)])
    assert result.exit_code == 1 and "cannot be read" in result.output and "Traceback" not in result.output
    assert runner.invoke(app, ["reindex", "-p", str(project_dir)]).exit_code == 0
    assert runner.invoke(app, ["verify", "-p", str(project_dir)]).exit_code == 0
