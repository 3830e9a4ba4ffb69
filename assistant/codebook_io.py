"""Codebook files: YAML (a list of codes), CSV (name+parent columns, or a `code_path` column
"Parent > Child" as MAXQDA-style exports have) and REFI-QDA `.qdc` (QDA-XML codebook 1.0).
Readers return `CodeSpec`s with the row each came from; validation lives in `codebook.py`."""

from __future__ import annotations

import csv
import io
import uuid
from pathlib import Path
from typing import Any

import yaml
from lxml import etree

from .codebook import CodeSpec
from .errors import CodebookError

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
    raise CodebookError(f"{path}: unknown codebook format {suffix!r} (use .yaml, .csv or .qdc)")


def read_codebook(path: str | Path, fmt: str | None = None) -> list[CodeSpec]:
    path = Path(path)
    fmt = detect_format(path, fmt)
    if not path.exists():
        raise CodebookError(f"{path}: no such file")
    text = path.read_text(encoding="utf-8-sig") if fmt != "qdc" else ""
    if fmt == "yaml":
        return parse_yaml(text, str(path))
    if fmt == "csv":
        return parse_csv(text, str(path))
    return parse_qdc(path.read_bytes(), str(path))


def write_codebook(specs: list[CodeSpec], path: str | Path, fmt: str | None = None) -> str:
    path = Path(path)
    fmt = detect_format(path, fmt)
    text = {"yaml": to_yaml, "csv": to_csv, "qdc": to_qdc}[fmt](specs)
    path.write_text(text, encoding="utf-8")
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
    except Exception as exc:  # pydantic's message names the field
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
        examples = [e.strip() for e in row.get("examples", "").split("|") if e.strip()]
        specs.append(_spec({
            "name": name, "parent": parent, "definition": row.get("definition") or row.get("memo", ""),
            "include": row.get("include", ""), "exclude": row.get("exclude", ""), "examples": examples,
            "colour": row.get("colour") or row.get("color") or None,
        }, where))
    return specs


def to_csv(specs: list[CodeSpec]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    w.writeheader()
    for s in specs:
        w.writerow({"name": s.name, "parent": s.parent or "", "definition": s.definition, "include": s.include,
                    "exclude": s.exclude, "examples": EXAMPLE_SEP.join(s.examples), "colour": s.colour or ""})
    return buf.getvalue()


# -- REFI-QDA .qdc ------------------------------------------------------------------------------
def _description(s: CodeSpec) -> str:
    """QDC has one Description per code; include/exclude/examples go in labelled paragraphs so they
    survive a round trip through thematic and stay readable in other tools."""
    parts = [s.definition]
    if s.include:
        parts.append(f"Include: {s.include}")
    if s.exclude:
        parts.append(f"Exclude: {s.exclude}")
    for ex in s.examples:
        parts.append(f"Example: {ex}")
    return "\n\n".join(p for p in parts if p)


def _parse_description(text: str) -> dict[str, Any]:
    out: dict[str, Any] = {"definition": [], "include": "", "exclude": "", "examples": []}
    for para in (p.strip() for p in text.split("\n\n")):
        if para.startswith("Include: "):
            out["include"] = para[9:]
        elif para.startswith("Exclude: "):
            out["exclude"] = para[9:]
        elif para.startswith("Example: "):
            out["examples"].append(para[9:])
        elif para:
            out["definition"].append(para)
    out["definition"] = "\n\n".join(out["definition"])
    return out


def _qdc_colour(colour: str | None) -> str | None:
    if colour and colour.startswith("#") and len(colour) == 7:
        return colour.upper()
    return None


def to_qdc(specs: list[CodeSpec]) -> str:
    root = etree.Element(f"{{{QDC_NS}}}CodeBook", nsmap={None: QDC_NS}, origin="thematic")
    codes_el = etree.SubElement(root, f"{{{QDC_NS}}}Codes")
    children: dict[str | None, list[CodeSpec]] = {}
    for s in specs:
        children.setdefault(s.parent.casefold() if s.parent else None, []).append(s)

    def emit(parent_el: etree._Element, s: CodeSpec) -> None:
        attrs = {"guid": s.guid or str(uuid.uuid4()), "name": s.name, "isCodable": "true"}
        if _qdc_colour(s.colour):
            attrs["color"] = _qdc_colour(s.colour)  # type: ignore[assignment]
        el = etree.SubElement(parent_el, f"{{{QDC_NS}}}Code", **attrs)
        desc = _description(s)
        if desc:
            etree.SubElement(el, f"{{{QDC_NS}}}Description").text = desc
        for child in children.get(s.name.casefold(), []):
            emit(el, child)

    for s in children.get(None, []):
        emit(codes_el, s)
    return etree.tostring(root, xml_declaration=True, encoding="utf-8", pretty_print=True).decode("utf-8")


def parse_qdc(data: bytes, origin: str = "codebook.qdc") -> list[CodeSpec]:
    try:
        root = etree.fromstring(data, parser=etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError as exc:
        raise CodebookError(f"{origin}: not valid XML: {exc}") from None
    ns = root.nsmap.get(None) or QDC_NS
    q = lambda tag: f"{{{ns}}}{tag}"  # noqa: E731
    codes_el = root.find(q("Codes"))
    if codes_el is None:
        raise CodebookError(f"{origin}: no <Codes> element (namespace {QDC_NS})")
    specs: list[CodeSpec] = []

    def walk(el: etree._Element, parent: str | None) -> None:
        for code in el.findall(q("Code")):
            where = f"{origin} line {code.sourceline}"
            desc_el = code.find(q("Description"))
            desc = _parse_description(desc_el.text or "") if desc_el is not None else {}
            specs.append(_spec({"name": code.get("name", ""), "parent": parent, "colour": code.get("color"),
                                "guid": code.get("guid"), **desc}, where))
            walk(code, code.get("name"))

    walk(codes_el, None)
    return specs
