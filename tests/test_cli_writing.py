"""The writing commands, driven through Typer's CliRunner."""

from __future__ import annotations

import json

import pytest
from builders import build_writing_project as build_project
from typer.testing import CliRunner

from assistant.cli import app
from assistant.project import Project
from index.embeddings import HashingEmbedder

runner = CliRunner()


@pytest.fixture()
def folder(tmp_path, monkeypatch):
    build_project(tmp_path / "proj").close()
    monkeypatch.setattr(Project, "embedder", property(lambda self: HashingEmbedder(256)))
    monkeypatch.setenv("THEMATIC_PROJECT", str(tmp_path / "proj"))
    return tmp_path / "proj"


def run(*args: str):
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result


def test_quotes_json_and_add_to_basket(folder):
    out = json.loads(run("quotes", "--code", "Housing and health", "-k", "3", "--add", "--json").stdout)
    assert len(out["quotes"]) == 3 and out["quotes"][0]["origin"] == "coding"
    assert out["spread"].startswith("3 quotes from") and len(out["basket_ids"]) == 3
    items = json.loads(run("basket", "list", "--json").stdout)
    assert [i["quote"]["text"] for i in items] == [q["text"] for q in out["quotes"]]
    run("basket", "note", str(items[0]["id"]), "key quote")
    run("basket", "move", str(items[0]["id"]), "3")
    run("basket", "remove", str(items[1]["id"]))
    items2 = json.loads(run("basket", "list", "--json").stdout)
    assert len(items2) == 2 and items2[-1]["note"] == "key quote"


def test_quotes_needs_exactly_one_target(folder):
    assert runner.invoke(app, ["quotes"]).exit_code != 0
    assert runner.invoke(app, ["quotes", "--code", "X", "--query", "y"]).exit_code != 0


def test_unknown_code_is_one_line_error(folder):
    r = runner.invoke(app, ["quotes", "--code", "No such code"])
    assert r.exit_code == 1 and "no code" in r.output and "Traceback" not in r.output


def test_themes_flow(folder):
    run("themes", "draft", "--n", "1")
    themes = json.loads(run("themes", "list", "--json").stdout)
    assert len(themes) == 1
    name = themes[0]["name"]
    run("themes", "rename", name, "Cold homes")
    run("themes", "accept", "Cold homes")
    shown = json.loads(run("themes", "show", "Cold homes", "--json").stdout)
    assert shown["theme"]["status"] == "accepted" and "participants_never" in shown["crosstab"]


def test_ask_and_writeup_export(folder, tmp_path):
    out = json.loads(run("ask", "What about data sharing?", "--json").stdout)
    assert out["text"] is None and out["evidence"]
    none = json.loads(run("ask", "quantum chromodynamics lattice", "--json").stdout)
    assert none["no_evidence"] is True
    run("quotes", "--query", "funding", "-k", "2", "--add")
    target = tmp_path / "out.docx"
    run("writeup", "export", "--format", "docx", "--out", str(target))
    assert target.exists() and target.stat().st_size > 0
