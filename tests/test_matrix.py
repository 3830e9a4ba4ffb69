"""Code x attribute matrices: counts of codings, sources or participants per attribute value, with
the coding ids behind every cell (which open as segments), `(none)` for sources without a value,
roll-up, filters, CSV export and `thematic matrix`."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from _workspace_helpers import code_phrase, make_project, no_audit, one_audit
from typer.testing import CliRunner

from assistant.cli import app
from assistant.coding.matrix import NONE, export_matrix, matrix, matrix_csv
from assistant.coding.segments import segments_for_codings
from assistant.errors import NotFound, ThematicError
from assistant.models import Source
from assistant.project import Project

runner = CliRunner()


@pytest.fixture
def project(tmp_path: Path):
    p = make_project(tmp_path)
    p.store.update_source_attributes(p.store.get_source("P01").id, {"participant": "Sarah Jones", "sector": "NHS"})
    p.store.update_source_attributes(p.store.get_source("P02").id, {"participant": "Tom Okafor", "sector": "total"})
    p.store.add_source(Source(name="Memo doc", kind="document", text="Damp housing is the issue.", content_hash="d"))
    p.store.add_source(Source(name="P03", kind="interview", text="Nothing coded here.", content_hash="p3",
                              attributes={"participant": "Ann Lee", "sector": "NHS"}))
    code_phrase(p, "P01", "damp and black mould", "Housing and living conditions")
    code_phrase(p, "P01", "chest infections", "Housing and living conditions")
    code_phrase(p, "P02", "lonely older people", "Frequent attenders")
    code_phrase(p, "Memo doc", "Damp housing", "Housing and living conditions")
    yield p
    p.close()


def cells(table, path: str) -> dict[str, int]:
    row = next(r for r in table.rows if r.path == path)
    return {c: row.cells[c].count for c in table.columns}


def test_codes_by_sector(project: Project) -> None:
    t = matrix(project, "sector")
    assert t.columns == ["NHS", "total", NONE]  # sorted, (none) last; a value named "total" is data
    assert cells(t, "Drivers > Housing and living conditions") == {"NHS": 2, "total": 0, NONE: 1}
    assert cells(t, "Drivers > Frequent attenders") == {"NHS": 0, "total": 1, NONE: 0}
    assert cells(t, "Drivers") == {"NHS": 0, "total": 0, NONE: 0}
    assert t.column_totals == {"NHS": 2, "total": 1, NONE: 1}
    housing = next(r for r in t.rows if r.code == "Housing and living conditions")
    assert housing.total.count == 3 and housing.depth == 1
    ids = housing.cells["NHS"].coding_ids
    segs = segments_for_codings(project, ids)
    assert sorted(s.coding_id for s in segs) == ids and {s.source for s in segs} == {"P01"}
    for s in segs:
        assert project.store.get_source(s.source_id).text[s.start:s.end] == s.text


def test_counts_sources_and_participants(project: Project) -> None:
    by_sources = matrix(project, "sector", count="sources")
    assert cells(by_sources, "Drivers > Housing and living conditions") == {"NHS": 1, "total": 0, NONE: 1}
    people = matrix(project, "participant", count="participants")
    assert people.columns == ["Ann Lee", "Sarah Jones", "Tom Okafor", NONE]  # Ann never coded: still a column
    assert cells(people, "Drivers > Housing and living conditions") == {
        "Ann Lee": 0, "Sarah Jones": 1, "Tom Okafor": 0, NONE: 0}  # the document is nobody's words


def test_rollup_filters_and_rows(project: Project) -> None:
    rolled = matrix(project, "kind", rollup=True)
    assert cells(rolled, "Drivers") == {"document": 1, "interview": 3}
    assert cells(matrix(project, "kind"), "Drivers") == {"document": 0, "interview": 0}
    only = matrix(project, "Sector", codes=["Frequent attenders"], filters={"kind": "interview"})
    assert [r.code for r in only.rows] == ["Frequent attenders"] and only.attribute == "Sector"
    assert only.columns == ["NHS", "total"]  # case-insensitive key; the document is filtered out
    assert cells(matrix(project, "speaker"), "Drivers > Frequent attenders") == {"Sarah Jones": 0, "Tom Okafor": 1, NONE: 0}


def test_refusals(project: Project) -> None:
    with pytest.raises(ThematicError, match="count codings"):
        matrix(project, "sector", count="words")  # type: ignore[arg-type]
    with pytest.raises(ThematicError, match="which attribute"):
        matrix(project, " ")
    with pytest.raises(NotFound):
        matrix(project, "sector", codes=["Nope"])


def test_csv_export(project: Project, tmp_path: Path) -> None:
    t = matrix(project, "sector")
    text = matrix_csv(t)
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["code_id", "code", "NHS", "total", NONE, "total"]
    housing = next(r for r in rows if r[1] == "Drivers > Housing and living conditions")
    assert housing[2:] == ["2", "0", "1", "3"]
    path, ev = one_audit(project, lambda: export_matrix(project, t, tmp_path / "m.csv"), "export")
    assert path.read_text(encoding="utf-8") == text and ev.entity_type == "matrix"
    no_audit(project, lambda: matrix(project, "sector"))  # reading writes nothing


def test_cli_matrix(project: Project, tmp_path: Path) -> None:
    folder = str(project.folder)
    r = runner.invoke(app, ["matrix", "--by", "sector", "--count", "sources", "-p", folder, "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["count"] == "sources" and data["columns"] == ["NHS", "total", NONE]
    r = runner.invoke(app, ["matrix", "--by", "sector", "-p", folder])
    assert r.exit_code == 0 and "Drivers > Housing and living conditions" in r.stdout
    out = tmp_path / "m.csv"
    r = runner.invoke(app, ["matrix", "--by", "participant", "--csv", str(out), "-p", folder])
    assert r.exit_code == 0 and out.read_text(encoding="utf-8").startswith("code_id,code,Ann Lee")
    r = runner.invoke(app, ["matrix", "--by", "sector", "--count", "words", "-p", folder])
    assert r.exit_code == 1 and "count codings" in r.output
