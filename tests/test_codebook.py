"""Codebook: file formats round-trip, bad codebooks name the row, imports merge by name."""

from __future__ import annotations

from pathlib import Path

import pytest
from builders import CODES
from builders import build_coding_project as make_project
from lxml import etree

from assistant.coding.codebook import (
    CodeSpec,
    code_paths,
    import_specs,
    merge_codes,
    rename_code,
    specs_from_project,
    split_code,
)
from assistant.errors import CodebookError
from assistant.exchange.codebook_files import (
    QDC_NS,
    import_codebook,
    parse_csv,
    parse_qdc,
    parse_yaml,
    read_codebook,
    to_csv,
    to_qdc,
    to_yaml,
)

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
    housing = next(c for c in codes if c.get("name") == "Housing and living conditions")
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
    from assistant.exchange.codebook_files import export_codebook

    for fmt in ("yaml", "csv", "qdc"):
        path = export_codebook(project, str(tmp_path / f"cb.{fmt}"))
        assert _norm(read_codebook(path)) == _norm(specs_from_project(project))


TRICKY = [
    CodeSpec(name="Parent", definition="First paragraph.\n\nSecond paragraph.",
             include="line one\n\nline two", exclude="not | this",
             examples=["has a blank line\n\nin the middle", "a | b", "Include: not a field", "- dash", ""]),
    CodeSpec(name="Child", parent="Parent", examples=["[not json", " leading space"]),
    CodeSpec(name="Plain", examples=["one", "two"]),
]


@pytest.mark.parametrize("fmt", ["yaml", "csv", "qdc"])
def test_round_trip_keeps_tricky_examples(fmt: str) -> None:
    text = {"yaml": to_yaml, "csv": to_csv, "qdc": to_qdc}[fmt](TRICKY)
    back = {"yaml": parse_yaml, "csv": parse_csv, "qdc": lambda t: parse_qdc(t.encode())}[fmt](text)
    want = _norm(TRICKY)
    if fmt == "csv":  # CSV cells are stripped on read
        want = [(n, p, d.strip(), i.strip(), e.strip(), tuple(ex)) for n, p, d, i, e, ex in want]
    assert _norm(back) == want


def test_csv_examples_plain_when_safe_and_old_form_still_read() -> None:
    assert "one | two" in to_csv(TRICKY[2:])
    specs = parse_csv('name,examples\nA,"x | y"\nB,"[""p | q"", ""r""]"\nC,[not json\n')
    assert [s.examples for s in specs] == [["x", "y"], ["p | q", "r"], ["[not json"]]


def test_qdc_reads_old_paragraph_criteria() -> None:
    xml = (f'<CodeBook xmlns="{QDC_NS}"><Codes><Code guid="11111111-1111-1111-1111-111111111111" name="A" '
           'isCodable="true"><Description>Def.\n\nInclude: in\n\nExclude: out\n\nExample: e1\n\n'
           'Example: e2</Description></Code></Codes></CodeBook>')
    (spec,) = parse_qdc(xml.encode())
    assert (spec.definition, spec.include, spec.exclude, spec.examples) == ("Def.", "in", "out", ["e1", "e2"])


def test_project_qdc_export_is_stable_atomic_and_keeps_criteria(tmp_path: Path) -> None:
    from assistant.coding.codebook import update_code
    from assistant.exchange.codebook_files import export_codebook

    project = make_project(tmp_path)
    update_code(project, "Drivers", examples=["para one\n\npara two", "x | y"], include="a\n\nb")
    p1 = export_codebook(project, str(tmp_path / "a.qdc"))
    p2 = export_codebook(project, str(tmp_path / "b.qdc"), "qdc")
    guids = lambda p: [c.get("guid") for c in etree.parse(p).getroot().iter(f"{{{QDC_NS}}}Code")]
    assert guids(p1) == guids(p2)
    store_guids = project.store.entity_guids("codes")
    assert set(guids(p1)) == {store_guids[c.id] for c in project.store.list_codes()}
    assert _norm(read_codebook(p1)) == _norm(specs_from_project(project))
    assert not list(tmp_path.glob(".a.qdc.*"))  # temp file replaced
    # importing it into a fresh project keeps the file's GUIDs
    other = make_project(tmp_path / "other", codes=False)
    import_codebook(other, p1)
    assert set(other.store.entity_guids("codes").values()) == set(guids(p1))


def test_import_cycle_with_existing_codes_is_refused(tmp_path: Path) -> None:
    project = make_project(tmp_path, codes=False)
    import_specs(project, [CodeSpec(name="A"), CodeSpec(name="B", parent="A")])
    before = [(c.name, c.parent_id) for c in project.store.list_codes()]
    with pytest.raises(CodebookError, match=r"cb.csv row 2: cycle in parents.*a > B > a"):
        import_specs(project, [CodeSpec(name="a", parent="B", row="cb.csv row 2")])
    assert [(c.name, c.parent_id) for c in project.store.list_codes()] == before
    # re-parenting without a cycle still works
    rep = import_specs(project, [CodeSpec(name="B", parent=None), CodeSpec(name="C", parent="B")])
    assert rep.added == ["C"]


def test_one_walk_of_the_hierarchy_survives_a_damaged_tree() -> None:
    """A parent cycle (a damaged store) and a parent that is gone: every walk terminates, loses no
    code, and the users of the walk (paths, depth, descendants, the .qdc tree) agree."""
    from assistant.coding.codebook import Hierarchy, code_tree
    from assistant.exchange.refi.export import CODEBOOK_NS, codes_element
    from assistant.models import Code

    codes = [Code(id=1, name="Root"), Code(id=2, name="Kid", parent_id=1), Code(id=3, name="Grandkid", parent_id=2),
             Code(id=4, name="Loop A", parent_id=5), Code(id=5, name="Loop B", parent_id=4),
             Code(id=6, name="Under loop", parent_id=4), Code(id=7, name="Orphan", parent_id=99)]
    tree = code_tree(codes)
    assert tree.descendants(1) == [2, 3] and tree.depth(3) == 2 and tree.depth(7) == 0
    assert tree.cycle(4) == [4, 5, 4] and tree.cycle(6) is None and tree.cycle(1) is None
    walked = [k for k, _, _ in tree.walk()]
    assert sorted(walked) == [1, 2, 3, 4, 5, 6, 7]
    assert all(walked.index(p) < walked.index(k) for k, p, _ in tree.walk() if p is not None)
    paths = code_paths(codes)
    assert paths[3] == "Root > Kid > Grandkid" and paths[7] == "Orphan" and paths[6].endswith("Loop A > Under loop")
    root = codes_element(codes, {c.id: f"{c.id:08d}-0000-4000-8000-000000000000" for c in codes}, ns=CODEBOOK_NS)
    names = [el.get("name") for el in root.iter(f"{{{CODEBOOK_NS}}}Code")]
    assert sorted(names) == sorted(c.name for c in codes)  # nothing dropped, the loop cut once
    assert Hierarchy({"a": None, "b": "a"}).parents_first(["b", "a"]) == ["a", "b"]


def test_validate_orders_parents_first_and_checks_colours() -> None:
    from assistant.coding.codebook import validate_specs

    ordered = validate_specs([CodeSpec(name="Child", parent="Mid"), CodeSpec(name="Mid", parent="Top"),
                              CodeSpec(name="Top"), CodeSpec(name="Other")])
    assert [s.name for s in ordered] == ["Top", "Mid", "Child", "Other"]
    assert CodeSpec(name="A", colour="#abc").colour == "#AABBCC"
    assert CodeSpec(name="A", colour=" ").colour is None
    for bad in ("red", "#12345", "#fff;x:y", "url(x)"):
        with pytest.raises(ValueError, match="not a #RRGGBB colour"):
            CodeSpec(name="A", colour=bad)


def test_edits_check_colours_like_imports(tmp_path: Path) -> None:
    from assistant.coding.codebook import add_code, update_code

    project = make_project(tmp_path, codes=False)
    assert add_code(project, "Damp", colour="#abc").colour == "#AABBCC"
    with pytest.raises(CodebookError, match=r"code 'Mould': colour '#fff;background:url\(x\)' is not"):
        add_code(project, "Mould", colour="#fff;background:url(x)")
    with pytest.raises(CodebookError, match="code 'Damp': colour"):
        update_code(project, "Damp", colour="red;x:y")
    assert project.store.get_code("Damp").colour == "#AABBCC"


def test_a_qdpx_codebook_reads_like_import_qdc_and_is_never_written(tmp_path: Path) -> None:
    from assistant.exchange.codebook_files import export_codebook
    from assistant.exchange.refi import export_qdpx

    project = make_project(tmp_path)
    export_qdpx(project, tmp_path / "p.qdpx")
    names = lambda specs: [(s.name, s.parent, s.definition, s.guid) for s in specs]
    # (a .qdpx keeps criteria in Notes, not in the CodeBook: names, tree, definitions and GUIDs agree)
    assert names(read_codebook(tmp_path / "p.qdpx")) == names(read_codebook(export_codebook(project, str(tmp_path / "c.qdc"))))
    with pytest.raises(CodebookError, match=r"p2.qdpx: a .qdpx is a whole project"):
        export_codebook(project, str(tmp_path / "p2.qdpx"))
    assert not (tmp_path / "p2.qdpx").exists()
