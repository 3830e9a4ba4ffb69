"""Codebook: file formats round-trip, bad codebooks name the row, imports merge by name."""

from __future__ import annotations

from pathlib import Path

import pytest
import xmlschema  # noqa: F401 - available; QDC has no schema file in shared/, structure is checked below
from lxml import etree

from assistant.codebook import (CodeSpec, code_paths, import_codebook, import_specs, merge_codes, rename_code,
                                split_code, specs_from_project)
from assistant.codebook_io import QDC_NS, parse_csv, parse_qdc, parse_yaml, read_codebook, to_csv, to_qdc, to_yaml
from assistant.errors import CodebookError
from coding_helpers import CODES, make_project

DEMO = Path(__file__).resolve().parents[1] / "assistant" / "demo" / "codebook.yaml"


def _norm(specs: list[CodeSpec]) -> list[tuple]:
    return [(s.name, s.parent, s.definition, s.include, s.exclude, tuple(s.examples)) for s in specs]


@pytest.mark.parametrize("fmt", ["yaml", "csv", "qdc"])
def test_round_trip(fmt: str) -> None:
    specs = [c.model_copy(update={"include": "inc " + c.name, "exclude": "exc", "colour": "#AABBCC"}) for c in CODES]
    text = {"yaml": to_yaml, "csv": to_csv, "qdc": to_qdc}[fmt](specs)
    back = {"yaml": parse_yaml, "csv": parse_csv, "qdc": lambda t: parse_qdc(t.encode())}[fmt](text)
    assert _norm(back) == _norm(specs)
    assert all(b.colour == "#AABBCC" for b in back)


def test_qdc_structure() -> None:
    root = etree.fromstring(to_qdc(CODES).encode())
    assert root.tag == f"{{{QDC_NS}}}CodeBook"
    codes = root.findall(f".//{{{QDC_NS}}}Code")
    assert len(codes) == len(CODES)
    import re

    assert all(re.fullmatch(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}", c.get("guid"))
               for c in codes)
    housing = [c for c in codes if c.get("name") == "Housing and living conditions"][0]
    assert housing.getparent().get("name") == "Drivers"  # nested, not flat
    assert housing.get("isCodable") == "true"


@pytest.mark.parametrize("text, message", [
    ("name,parent\nA,\nB,A\nA,\n", "row 4: duplicate code name 'A'"),
    ("name,parent\nA,B\nB,A\n", "cycle"),
    ("name,parent\nA,\n,A\n", "row 3: missing code name"),
    ("name,parent\nA,\nB,Nope\n", "row 3: code 'B' has unknown parent 'Nope'"),
])
def test_errors_name_the_row(tmp_path: Path, text: str, message: str) -> None:
    project = make_project(tmp_path, codes=False)
    f = tmp_path / "cb.csv"
    f.write_text(text)
    with pytest.raises(CodebookError, match=message):
        import_codebook(project, str(f))
    assert project.store.list_codes() == []  # all or nothing


def test_yaml_missing_name_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(CodebookError, match="code 2: missing code name"):
        parse_yaml("- name: A\n- definition: x\n", "cb.yaml")
    with pytest.raises(CodebookError, match="not valid YAML"):
        parse_yaml("- name: [", "cb.yaml")


def test_demo_codebook_imports(tmp_path: Path) -> None:
    project = make_project(tmp_path, codes=False)
    rep = import_codebook(project, str(DEMO))
    assert len(rep.added) == 18 and project.store.get_code("Housing and living conditions").parent_id is not None


def test_pdpilot_csv_imports(tmp_path: Path, pdpilot_dir: Path) -> None:
    project = make_project(tmp_path, codes=False)
    rep = import_codebook(project, str(pdpilot_dir / "codebook.csv"))
    assert len(rep.added) == 91
    codes = project.store.list_codes()
    paths = set(code_paths(codes).values())
    assert "Explainability purposes > Guiding feature engineering" in paths
    assert sum(1 for c in codes if c.definition) == 22


def test_import_merges_by_name(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    n = len(project.store.list_codes())
    rep = import_specs(project, [CodeSpec(name="workforce CAPACITY", definition="New definition."),
                                 CodeSpec(name="Loneliness", parent="Drivers")])
    assert rep.updated == ["Workforce capacity"] and rep.added == ["Loneliness"]
    assert len(project.store.list_codes()) == n + 1
    assert project.store.get_code("Workforce capacity").definition == "New definition."
    assert any(e.action == "code.update" for e in project.store.list_audit("code"))


def test_rename_merge_split_history(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    rename_code(project, "Short-term funding", "Funding insecurity")
    with pytest.raises(CodebookError, match="already exists"):
        rename_code(project, "Funding insecurity", "Drivers")
    kids = split_code(project, "Drivers", ["Individual drivers", "System drivers"])
    assert all(k.parent_id == project.store.get_code("Drivers").id for k in kids)
    src_id = project.store.get_code("Frequent attenders").id
    merge_codes(project, "Frequent attenders", "Drivers")
    merged = project.store.get_code(src_id)
    assert merged.status == "merged" and merged.merged_into == project.store.get_code("Drivers").id
    actions = [e.action for e in project.store.list_audit("code")]
    assert {"code.rename", "code.split", "code.merge"} <= set(actions)
    assert "Frequent attenders" not in [s.name for s in specs_from_project(project)]


def test_export_import_file(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    from assistant.codebook import export_codebook

    for fmt in ("yaml", "csv", "qdc"):
        path = export_codebook(project, str(tmp_path / f"cb.{fmt}"))
        assert _norm(read_codebook(path)) == _norm(specs_from_project(project))
