"""Hostile re-ingest (finding F1): the analyst codes four spans, then the file changes under them:
lightly edited, reflowed, re-punctuated, truncated, reordered. Whatever the edit, no coding is
lost: it moves with its words (verbatim in the new text, on whole words) or is kept as orphaned
with its old text and offsets into the earlier version, which the store keeps. The audit row of
the re-ingest names every coding, its old text and what happened to it. `--dry-run` says all this
before anything changes, and `status` lists the orphans."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from typer.testing import CliRunner

from assistant.cli import app
from assistant.coding.decisions import add_coding
from assistant.corpus.ingest import ingest_paths
from assistant.models import Code
from assistant.project import Project
from index.embeddings import HashingEmbedder

pytestmark = pytest.mark.usefixtures("store_engine")  # every test on SQLite and on PostgreSQL

runner = CliRunner()

TEXT = (
    "Interviewer: What changed for you after the budget?\n"
    "P3: The short-term funding cuts hurt us badly. We lost two posts in the spring.\n"
    "Interviewer: And the families you work with?\n"
    "P3: Damp housing is the big one [laughs]. Families move every year, sometimes twice.\n"
    "Interviewer: Anything else?\n"
    "P3: The council says it will fix the flats, but nothing happens.\n"
)
CODED = {
    "Funding": "The short-term funding cuts hurt us badly.",
    "Staffing": "We lost two posts in the spring.",
    "Housing": "Damp housing is the big one [laughs].",
    "Council": "The council says it will fix the flats, but nothing happens.",
}
TAIL = TEXT.index("Interviewer: And the families")


@dataclass(frozen=True)
class Edit:
    id: str
    edit: Callable[[str], str]
    orphaned: frozenset[str] = frozenset()  # codes whose coding must end up orphaned; the rest move
    fuzzy: frozenset[str] = frozenset()  # codes that move by their words, not their exact characters


EDITS = [
    Edit("F1-light-edit", lambda t: t.replace("short-term", "short term"), fuzzy=frozenset({"Funding"})),
    Edit("F1-case-and-spacing", lambda t: t.replace("Damp housing is", "damp  housing\nis").replace("badly.", "BADLY."),
         fuzzy=frozenset({"Housing", "Funding"})),
    Edit("F1-punctuation", lambda t: t.replace("badly.", "badly!").replace("flats, but", "flats - but"),
         fuzzy=frozenset({"Funding", "Council"})),
    Edit("F1-word-inserted", lambda t: t.replace("but nothing happens", "but nothing ever happens"),
         fuzzy=frozenset({"Council"})),
    Edit("F1-paragraph-added", lambda t: "Interviewer: First, your role?\nP3: Housing officer.\n" + t),
    Edit("F1-turns-reordered", lambda t: t[TAIL:] + t[:TAIL]),
    Edit("F1-truncate", lambda t: t[:TAIL], orphaned=frozenset({"Housing", "Council"})),
    Edit("F1-truncate-mid-coding", lambda t: t[:t.index("the big one")], orphaned=frozenset({"Housing", "Council"})),
    Edit("F1-emptied-but-one-line", lambda t: "P3: Nothing to add.\n",
         orphaned=frozenset(CODED)),
]


@pytest.fixture
def coded(tmp_path):
    project = Project.init(tmp_path / "study")
    project.set_embedder(HashingEmbedder(64))
    path = tmp_path / "P3.txt"
    path.write_text(TEXT)
    ingest_paths(project, [path], index=False)
    src = project.store.get_source("P3.txt")
    for code, quote in CODED.items():
        project.store.add_code(Code(name=code))
        start = src.text.index(quote)
        add_coding(project, "P3.txt", start, start + len(quote), code)
    yield project, path
    project.close()


@pytest.mark.parametrize("case", EDITS, ids=[c.id for c in EDITS])
def test_reingest_never_loses_a_coding(coded, case: Edit):
    project, path = coded
    old = project.store.get_source("P3.txt")
    path.write_text(case.edit(TEXT))
    [result] = ingest_paths(project, [path], index=False).results
    assert result.status == "updated", result.error
    new = project.store.get_source("P3.txt")
    codes = {c.id: c.name for c in project.store.list_codes()}
    every = project.store.list_codings(source_id=new.id, status=None)
    assert len(every) == 4 and {c.status for c in every} <= {"active", "orphaned"}  # nothing removed
    for c in every:
        if codes[c.code_id] in case.orphaned:
            assert c.status == "orphaned" and c.text == CODED[codes[c.code_id]] and c.source_version == 1
            assert project.store.get_source_version(new.id, 1).text[c.start:c.end] == c.text
        else:
            assert c.status == "active", codes[c.code_id]
            assert new.text[c.start:c.end] == c.text  # verbatim in the new text
            assert (c.text == CODED[codes[c.code_id]]) == (codes[c.code_id] not in case.fuzzy), c.text
            assert c.start == 0 or not (new.text[c.start - 1].isalnum() and new.text[c.start].isalnum())
            assert c.end == len(new.text) or not (new.text[c.end - 1].isalnum() and new.text[c.end].isalnum())
    earlier = project.store.get_source_version(new.id, 1)
    assert earlier.text == old.text and earlier.content_hash == old.content_hash
    audit = project.store.list_audit("source", new.id)[-1]
    assert audit.action == "reingest"
    assert {(d["code"], d["old_text"]) for d in audit.details["codings"]} == set(CODED.items())
    assert {d["code"] for d in audit.details["codings"] if d["outcome"] == "orphaned"} == case.orphaned
    assert {d["code"] for d in audit.details["codings"] if d["outcome"] == "moved-fuzzy"} == case.fuzzy


def _db_rows(project: Project) -> dict[str, list[tuple]]:
    return {t: [tuple(r) for r in project.store.conn.execute(f"SELECT * FROM {t} ORDER BY 1")]
            for t in ("sources", "excerpts", "codings", "audit_log")}


@dataclass(frozen=True)
class Face:
    id: str
    args: list[str]
    check: Callable[[dict, str], None]
    reingest_first: bool = False  # run the real ingest of the truncated file before the command


def _dry_run_json(before: dict, out: str) -> None:
    plan = json.loads(out)
    assert plan["dry_run"] is True and plan["codings"] == {"moved": 2, "moved-fuzzy": 0, "orphaned": 2}
    [f] = plan["files"]
    assert f["status"] == "updated"
    orphaned = {c["old_text"] for c in f["sources"][0]["codings"] if c["outcome"] == "orphaned"}
    assert orphaned == {CODED["Housing"], CODED["Council"]}


def _dry_run_text(before: dict, out: str) -> None:
    assert "dry run, nothing changed" in out and "2 be kept as orphaned" in out
    assert "[laughs]" in out  # the coding's own characters, not markup


def _status(before: dict, out: str) -> None:
    data = json.loads(out)
    assert data["codings_orphaned"] == 2
    assert {o["text"] for o in data["orphaned_codings"]} == {CODED["Housing"], CODED["Council"]}
    assert all(o["source_version"] == 1 for o in data["orphaned_codings"])


def _orphans_list(before: dict, out: str) -> None:
    assert CODED["Housing"] in out and CODED["Council"] in out


FACES = [
    Face("F1-dry-run-json", ["ingest", "{path}", "--no-index", "--dry-run", "--json"], _dry_run_json),
    Face("F1-dry-run-text", ["ingest", "{path}", "--no-index", "--dry-run"], _dry_run_text),
    Face("F1-status-lists-orphans", ["status", "--json"], _status, reingest_first=True),
    Face("F1-orphans-list", ["orphans", "list"], _orphans_list, reingest_first=True),
]


@pytest.mark.parametrize("case", FACES, ids=[c.id for c in FACES])
def test_faces_say_what_a_reingest_does_to_codings(coded, case: Face):
    project, path = coded
    path.write_text(TEXT[:TAIL])
    if case.reingest_first:
        ingest_paths(project, [path], index=False)
    before = _db_rows(project)
    args = [a.replace("{path}", str(path)) for a in case.args] + ["--project", str(project.folder)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    case.check(before, result.stdout)
    assert _db_rows(project) == before  # dry runs and listings write nothing
