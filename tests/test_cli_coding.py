from __future__ import annotations

import json
from pathlib import Path

from builders import build_coding_project as make_project
from typer.testing import CliRunner

from assistant.cli import app

runner = CliRunner()


def test_cli_flow(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    folder = str(project.folder)
    project.close()
    # the CLI opens the project itself, with the default embedder; use the offline engine via library
    from assistant.project import Project
    from index.embeddings import HashingEmbedder

    p = Project.open(folder)
    p.set_embedder(HashingEmbedder(256))
    from assistant.coding.precode import precode

    precode(p)
    p.close()
    r = runner.invoke(app, ["suggestions", "-p", folder, "--json"])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)
    assert rows and {"excerpt", "source", "code", "score", "engine", "evidence_start", "evidence_end"} <= set(rows[0])
    r = runner.invoke(app, ["review", "-p", folder], input="a\nr\n\nq\n")
    assert r.exit_code == 0, r.output
    assert "accepted 1" in r.stdout and "rejected 1" in r.stdout
    r = runner.invoke(app, ["codings", "-p", folder, "--json"])
    assert len(json.loads(r.stdout)) == 1
    r = runner.invoke(app, ["codebook", "list", "-p", folder, "--json"])
    assert len(json.loads(r.stdout)) == 5
    out = tmp_path / "cb.qdc"
    assert runner.invoke(app, ["codebook", "export", str(out), "-p", folder]).exit_code == 0
    assert "urn:QDA-XML:codebook:1.0" in out.read_text()
    r = runner.invoke(app, ["llm", "set", "--provider", "openai", "--model", "gpt-x", "--base-url",
                            "https://api.example.com/v1", "-p", folder])
    assert r.exit_code == 0 and "OFF" in r.stdout
    r = runner.invoke(app, ["precode", "--engine", "llm", "--dry-run", "-p", folder])
    assert r.exit_code == 0 and "<excerpt>" in r.stdout and "Sarah" not in r.stdout and "chars/4" in r.stdout
    r = runner.invoke(app, ["accept", "999", "-p", folder])
    assert r.exit_code == 1
