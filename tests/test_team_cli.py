"""The team commands: users (password from stdin, never an argument), assignments, adjudication,
merge preview and apply, and `thematic app` refusing to listen beyond this machine without sign-in."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from typer.testing import CliRunner

from assistant.cli import app
from assistant.people import auth
from assistant.project import Project

FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@pytest.fixture(autouse=True)
def _fast_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auth, "_HASHER", FAST)


@pytest.fixture
def folder(tmp_path: Path) -> str:
    from builders import build_writing_project

    build_writing_project(tmp_path / "proj", codings=False).close()
    return str(tmp_path / "proj")


def run(folder: str, *args: str, stdin: str | None = None, ok: bool = True):
    result = CliRunner().invoke(app, [*args, "--project", folder], input=stdin)
    if ok:
        assert result.exit_code == 0, result.output
    return result


def test_users_commands(folder: str) -> None:
    out = run(folder, "users", "add", "Lena", "--password-stdin", stdin="lead-password\n").output
    assert "added Lena as lead" in out
    run(folder, "users", "add", "Cai", "--role", "coder", "--password-stdin", stdin="coder-password\n")
    run(folder, "users", "add", "Vic", "--role", "viewer", "--password-stdin", stdin="viewer-password\n")
    short = run(folder, "users", "add", "Bad", "--password-stdin", stdin="x\n", ok=False)
    assert short.exit_code == 1 and "at least 8" in short.output and "Traceback" not in short.output
    rows = json.loads(run(folder, "users", "list", "--json").output)
    assert {r["name"]: r["role"] for r in rows} == {"Cai": "coder", "Lena": "lead", "Vic": "viewer"}
    assert all("password" not in k for r in rows for k in r)
    run(folder, "users", "role", "Vic", "coder")
    run(folder, "users", "remove", "Vic")
    assert [r["name"] for r in json.loads(run(folder, "users", "list", "--json").output)] == ["Cai", "Lena"]
    with Project.open(folder) as p:
        p.set_analyst("Cai")  # the command line now acts as a coder
    refused = run(folder, "users", "add", "Eve", "--password-stdin", stdin="eve-password\n", ok=False)
    assert refused.exit_code == 1 and "Cai is a coder" in refused.output
    prompt = CliRunner().invoke(app, ["users", "password", "Cai", "--project", folder], input="new-password\nnew-password\n")
    assert prompt.exit_code == 0, prompt.output
    with Project.open(folder) as p:
        assert auth.authenticate(p, "Cai", "new-password")["name"] == "Cai"


def test_assign_adjudicate_and_merge_commands(folder: str, tmp_path: Path) -> None:
    from builders import add_coding, build_writing_project

    for name, role in (("Lena", "lead"), ("Ann", "coder"), ("Ben", "coder")):
        run(folder, "users", "add", name, "--role", role, "--password-stdin", stdin="a-password\n")
    out = run(folder, "assign", "create", "Ann", "Ben", "--sample", "2", "--by", "sector", "--seed", "1",
              "--json").output
    a = json.loads(out)
    assert len(a["source_ids"]) == 2 and a["hide_ai"] is True
    assert "waiting for Ann, Ben" in run(folder, "assign", "list").output
    with Project.open(folder) as p:
        target = p.store.get_source(a["source_ids"][0]).name
        phrase = p.store.get_source(target).text.split("\n")[1].split(": ", 1)[1].split(". ")[0]
        add_coding(p, target, phrase, "Data sharing", "Ann")
    run(folder, "assign", "done", str(a["id"]), "--coder", "Ann")
    early = run(folder, "adjudicate", "list", str(a["id"]), ok=False)
    assert early.exit_code == 1 and "still being coded by Ben" in early.output
    run(folder, "assign", "done", str(a["id"]), "--coder", "Ben")
    assert "kappa" in run(folder, "assign", "agreement", str(a["id"])).output
    items = json.loads(run(folder, "adjudicate", "list", str(a["id"]), "--json").output)
    assert [(i["code"], i["applied_by"]) for i in items] == [("Data sharing", ["Ann"])]
    out = run(folder, "adjudicate", "decide", str(a["id"]), items[0]["key"], "keep_a", "--note", "agreed on review").output
    assert "keep_a (1 consensus coding(s), codebook version 1)" in out
    bad = run(folder, "adjudicate", "decide", str(a["id"]), items[0]["key"], "maybe", ok=False)
    assert bad.exit_code == 1 and "keep_a, keep_b" in bad.output

    other = build_writing_project(tmp_path / "other", codings=False)
    add_coding(other, "P04", "Patients with cold homes come to the surgery with chest infections every winter.",
               "Housing and health", "dr_b")
    other.close()
    preview = run(folder, "merge", str(tmp_path / "other"), "--preview", "--map", "coder:dr_b=Ben").output
    assert "coding: 1 add" in preview and "source: 5 present" in preview
    rows = json.loads(run(folder, "merge", str(tmp_path / "other"), "--preview", "--map", "coder:dr_b=Ben",
                          "--json").output)["rows"]
    assert [(r["what"], r["to"], r["reason"]) for r in rows if r["kind"] == "coder"] == [
        ("dr_b", "Ben", "mapped by the lead")]
    applied = run(folder, "merge", str(tmp_path / "other"), "--map", "coder:dr_b=Ben").output
    assert "1 codings, 0 memos added" in applied
    again = run(folder, "merge", str(tmp_path / "other"), "--map", "coder:dr_b=Ben", ok=False)
    assert again.exit_code == 1 and "applied already" in again.output
    badmap = run(folder, "merge", str(tmp_path / "other"), "--map", "dr_b=Ben", ok=False)
    assert badmap.exit_code == 1 and "coder:OLD=NEW" in badmap.output


def test_app_refuses_to_listen_beyond_this_machine_without_sign_in(folder: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import assistant.cli.workspace as ws

    started: list[list[str]] = []
    monkeypatch.setattr(ws, "run_workspace", lambda cmd: started.append(cmd) or 0)
    refused = run(folder, "app", "--host", "0.0.0.0", ok=False)
    assert refused.exit_code == 1 and started == []
    assert "refusing to listen on 0.0.0.0: sign-in is not configured" in refused.output
    assert len(refused.output.strip().splitlines()) == 1
    run(folder, "app")  # 127.0.0.1 is always fine
    run(folder, "users", "add", "Lena", "--password-stdin", stdin="lead-password\n")
    run(folder, "app", "--host", "0.0.0.0")
    assert len(started) == 2 and "0.0.0.0" in started[1]
