"""Codebook files: YAML (a list of codes), CSV (name+parent columns, or a `code_path` column
"Parent > Child" as MAXQDA-style exports have) and REFI-QDA `.qdc` (QDA-XML codebook 1.0).
Readers return `CodeSpec`s with the row each came from; validation lives in `codebook.py`.

Bad files get one line naming the file: over the size limit (checked before reading), text in a
legacy encoding (detected as ingest does, `index.text.decode_bytes`) or not text at all. A
`.qdc` is read by `refi.qdc`, the reader `thematic import qdc` uses too."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from assistant.coding.codebook import (
    CodeSpec,
    ImportReport,
    import_specs,
    specs_from_project,
)
from assistant.coding.codebook import name_key as _key
from assistant.errors import CodebookError, ExchangeError
from assistant.exchange.refi.export import codebook_element, qdc_bytes
from assistant.exchange.refi.guids import is_guid, new_guid
from assistant.exchange.refi.importer import zip_limits
from assistant.exchange.refi.qdc import qdc_specs, read_qdc
from assistant.models import Code
from assistant.project import Project
from assistant.settings import IngestSettings
from index.errors import ReadError
from index.text import decode_bytes

QDC_NS = "urn:QDA-XML:codebook:1.0"
EXAMPLE_SEP = " | "
CSV_COLUMNS = ["name", "parent", "definition", "include", "exclude", "examples", "colour"]


def detect_format(path: str | Path, fmt: str | None = None) -> str:
    if fmt:
        return fmt.lower()
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix in ("yaml", "yml"):
        return "yaml"
    if suffix in ("csv", "qdc"):
        return suffix
    if suffix == "qdpx":  # a REFI-QDA project: its CodeBook, as `thematic import qdc` reads it
        return "qdc"
    raise CodebookError(f"{path}: unknown codebook format {suffix!r} (use .yaml, .csv, .qdc or .qdpx)")


def read_codebook(path: str | Path, fmt: str | None = None) -> list[CodeSpec]:
    return load_codebook(path, fmt)[0]


def load_codebook(path: str | Path, fmt: str | None = None,
                  ingest: IngestSettings | None = None) -> tuple[list[CodeSpec], list[str]]:
    """The specs of a codebook file and the reader's warning lines (codes a `.qdc` renamed,
    colours left out). Sizes are checked before reading, against the ingest limits."""
    path = Path(path)
    fmt = detect_format(path, fmt)
    ingest = ingest or IngestSettings()
    if not path.is_file():
        raise CodebookError(f"{path}: no such file" if not path.exists() else f"{path}: is not a file")
    if fmt == "qdc":
        return read_qdc(path, zip_limits(ingest))
    try:
        size = path.stat().st_size
        if size > ingest.max_file_mb * 1024 * 1024:
            raise CodebookError(f"{path}: file is {size / 1024 / 1024:.1f} MB, over the limit of "
                                f"{ingest.max_file_mb:g} MB (set ingest.max_file_mb)")
        text = decode_bytes(path.read_bytes(), path)
    except ReadError as exc:
        raise CodebookError(str(exc)) from None
    text = text.removeprefix("\ufeff")
    return (parse_yaml(text, str(path)) if fmt == "yaml" else parse_csv(text, str(path))), []


def _writable_format(path: str | Path, fmt: str | None) -> str:
    if Path(path).suffix.lower() == ".qdpx":
        raise CodebookError(f"{path}: a .qdpx is a whole project; write the codebook as .qdc "
                            "(or the project with `thematic export qdpx`)")
    return detect_format(path, fmt)


def write_codebook(specs: list[CodeSpec], path: str | Path, fmt: str | None = None) -> str:
    """Atomic write of bare specs (a project's `.qdc` goes through `refi.export_qdc`, see
    `codebook.export_codebook`)."""
    from index.storage import write_text_atomic

    path = Path(path)
    fmt = _writable_format(path, fmt)
    text = {"yaml": to_yaml, "csv": to_csv, "qdc": to_qdc}[fmt](specs)
    write_text_atomic(path, text)
    return str(path)


# -- YAML ---------------------------------------------------------------------------------------
def _spec(data: Any, row: str) -> CodeSpec:
    if not isinstance(data, dict):
        raise CodebookError(f"{row}: expected a mapping with at least `name`, got {type(data).__name__}")
    data = {k: v for k, v in data.items() if v is not None}
    if "color" in data and "colour" not in data:
        data["colour"] = data.pop("color")
    if isinstance(data.get("examples"), str):
        data["examples"] = [data["examples"]]
    for k in ("name", "parent", "definition", "include", "exclude", "colour"):
        if k in data and not isinstance(data[k], str):
            data[k] = str(data[k])
    if not str(data.get("name", "")).strip():
        raise CodebookError(f"{row}: missing code name")
    try:
        return CodeSpec(row=row, **data)
    except ValidationError as exc:  # one line naming the code and the field
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {str(e['msg']).removeprefix('Value error, ')}"
                             for e in exc.errors())
        raise CodebookError(f"{row} ({data['name']!r}): {problems}") from None
    except TypeError as exc:
        raise CodebookError(f"{row}: {exc}") from None


def parse_yaml(text: str, origin: str = "codebook.yaml") -> list[CodeSpec]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CodebookError(f"{origin}: not valid YAML: {exc}") from None
    if isinstance(data, dict) and "codes" in data:
        data = data["codes"]
    if not isinstance(data, list):
        raise CodebookError(f"{origin}: expected a list of codes")
    specs = [_spec(item, f"{origin} code {i + 1}") for i, item in enumerate(data)]
    return specs


def to_yaml(specs: list[CodeSpec]) -> str:
    rows = [
        {"name": s.name, "parent": s.parent, "definition": s.definition, "include": s.include,
         "exclude": s.exclude, "examples": list(s.examples), "colour": s.colour,
         **({"scope": s.scope} if s.scope else {})}
        for s in specs
    ]
    return yaml.safe_dump(rows, sort_keys=False, allow_unicode=True, width=100)


# -- CSV ----------------------------------------------------------------------------------------
def parse_csv(text: str, origin: str = "codebook.csv") -> list[CodeSpec]:
    reader = csv.DictReader(io.StringIO(text))
    cols = {c.strip().lower() for c in reader.fieldnames or []}
    if not ({"name", "code_path", "code"} & cols):
        raise CodebookError(f"{origin}: needs a `name` or `code_path` column (found {sorted(cols)})")
    specs = []
    for i, raw in enumerate(reader, start=2):  # row 1 is the header
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items()}
        where = f"{origin} row {i}"
        name, parent = row.get("name") or row.get("code", ""), row.get("parent") or None
        if row.get("code_path"):
            parts = [p.strip() for p in row["code_path"].split(">")]
            if any(not p for p in parts):
                raise CodebookError(f"{where}: malformed code_path {row['code_path']!r}")
            name, parent = parts[-1], (parts[-2] if len(parts) > 1 else None)
        examples = _csv_examples(row.get("examples", ""))
        specs.append(_spec({
            "name": name, "parent": parent, "definition": row.get("definition") or row.get("memo", ""),
            "include": row.get("include", ""), "exclude": row.get("exclude", ""), "examples": examples,
            "colour": row.get("colour") or row.get("color") or None,
        }, where))
    return specs


def _csv_examples(cell: str) -> list[str]:
    """A JSON list of strings (what `to_csv` writes when an example could be misread), else the
    older/hand-written "a | b" form."""
    if cell.startswith("["):
        try:
            value = json.loads(cell)
        except ValueError:
            value = None
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value
    return [e.strip() for e in cell.split("|") if e.strip()]


def _examples_cell(examples: list[str]) -> str:
    """ "a | b" when that reads back the same, otherwise a JSON list (an example holding "|",
    surrounding spaces, or that is empty, or a cell that would start with "[")."""
    if not examples:
        return ""
    plain = EXAMPLE_SEP.join(examples)
    if not plain.startswith("[") and all(e and "|" not in e and e == e.strip() for e in examples):
        return plain
    return json.dumps(list(examples), ensure_ascii=False)


def to_csv(specs: list[CodeSpec]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    w.writeheader()
    for s in specs:
        w.writerow({"name": s.name, "parent": s.parent or "", "definition": s.definition, "include": s.include,
                    "exclude": s.exclude, "examples": _examples_cell(s.examples), "colour": s.colour or ""})
    return buf.getvalue()


# -- REFI-QDA .qdc ------------------------------------------------------------------------------
# One implementation with `assistant.refi`: the <Codes> tree and the criteria format come from
# refi.export, the XML reading from refi.importer. A project's codebook is exported with
# `refi.export_qdc` (the store's stable GUIDs, atomic write); `to_qdc` serves bare specs.
def _spec_codes(specs: list[CodeSpec]) -> tuple[list[Code], dict[int, str]]:
    ids = {_key(s.name): i for i, s in enumerate(specs, start=1)}
    codes, guids = [], {}
    for i, s in enumerate(specs, start=1):
        codes.append(Code(id=i, name=s.name, parent_id=ids.get(_key(s.parent)) if s.parent else None,
                          definition=s.definition, include=s.include, exclude=s.exclude,
                          examples=list(s.examples), colour=s.colour or ""))
        guids[i] = s.guid if is_guid(s.guid) else new_guid()
    return codes, guids


def to_qdc(specs: list[CodeSpec]) -> str:
    codes, guids = _spec_codes(specs)
    return qdc_bytes(codebook_element(codes, guids)).decode("utf-8")


def parse_qdc(data: bytes, origin: str = "codebook.qdc") -> list[CodeSpec]:
    """A `.qdc` (or a `.qdpx`'s project.qde CodeBook) -> specs, through `refi.qdc` (warnings
    dropped; `load_codebook` keeps them)."""
    try:
        return qdc_specs(data, origin)[0]
    except ExchangeError as exc:
        raise CodebookError(str(exc)) from None


def import_codebook(project: Project, path: str | Path, fmt: str | None = None,
                    actor: str | None = None) -> ImportReport:
    """Merge a codebook file into the project by name; the report carries the reader's warnings."""
    specs, warnings = load_codebook(path, fmt, project.settings.ingest)
    report = import_specs(project, specs, actor, origin=str(path))
    report.warnings = warnings + report.warnings
    return report


def export_codebook(project: Project, path: str, fmt: str | None = None) -> str:
    """YAML/CSV from the specs; `.qdc` through `refi.export_qdc` (the one QDC writer: the store's
    stable GUIDs, criteria in the shared format, atomic write, audited)."""
    if _writable_format(path, fmt) == "qdc":
        from assistant.exchange.refi import export_qdc

        return export_qdc(project, path, with_criteria=True).path
    return write_codebook(specs_from_project(project), path, fmt)
