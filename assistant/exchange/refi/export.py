"""Export a project as a REFI-QDA `.qdpx` (QDA-XML project 1.0) archive, or its codebook as `.qdc`.

Layout written: `project.qde` (UTF-8, children of <Project> in schema order) and one
`sources/<GUID>.txt` per text source holding exactly our canonical text (UTF-8, LF, no BOM), so
positions written are positions in that file. Each coding is its own PlainTextSelection with one
Coding (creatingUser = the coder's User), so analysts and the AI stay separate users in the other
tool; a coding made from an AI suggestion is the accepting analyst's, and its AI origin is a Note
referenced from the Coding and listed in the Set "AI-assisted codings" (`provenance`). Themes are
Sets of their codes, with the summary as Description and their memos as MemberNotes. What REFI-QDA
has no place for (include/exclude criteria) goes into Notes; what is left out is listed in the
report's warnings: the spec asks exporters to tell the user about data loss."""

from __future__ import annotations

import zipfile
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from pathlib import Path

from lxml import etree
from pydantic import BaseModel, Field

from assistant.coding.codebook import code_tree, hex_colour
from assistant.exchange.refi.guids import derived_guid, project_guid, source_guid
from assistant.exchange.refi.offsets import OffsetMode, UnitMap, to_mode
from assistant.exchange.refi.provenance import (
    AI_SET_DESCRIPTION,
    AI_SET_NAME,
    ai_note_name,
    ai_note_text,
    theme_note_text,
)
from assistant.models import Code, StoredCode, StoredMemo, is_ai_coder
from assistant.project import Project
from index.storage import write_bytes_atomic, write_file_atomic

NS = "urn:QDA-XML:project:1.0"
CODEBOOK_NS = "urn:QDA-XML:codebook:1.0"
CRITERIA_PREFIX = "Criteria: "  # name of the Note carrying include/exclude/examples of a code
ORIGIN = "thematic (local-first thematic analysis assistant)"
Progress = Callable[[int, int], None]


class ExportReport(BaseModel):
    path: str
    offsets: str = "chars"
    counts: dict[str, int] = Field(default_factory=dict)
    warnings: list[str] = Field(default_factory=list)


def _q(tag: str, ns: str = NS) -> str:
    return f"{{{ns}}}{tag}"


def xml_datetime(value: str | None) -> str:
    """Our ISO timestamps -> xsd:dateTime in UTC with a Z (what the other tools write)."""
    try:
        dt = datetime.fromisoformat(value or "")
    except ValueError:
        dt = datetime.now(timezone.utc)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def rgb(colour: str | None) -> str | None:
    """A colour as REFI-QDA's RGBType wants it ("#RRGGBB"), or None if it is not one."""
    try:
        return hex_colour(colour)
    except ValueError:
        return None


def codes_element(
    codes: Iterable[Code], guids: dict[int, str], ns: str = NS,
    note_refs: dict[int, list[str]] | None = None, criteria_in_description: bool = False,
) -> etree._Element:
    """The <Codes> tree (hierarchy by parent_id, definition as Description, colour as color).
    Shared with the codebook-only `.qdc` export: pass `ns=CODEBOOK_NS` there, and
    `criteria_in_description=True` (a codebook file has no Notes, so include/exclude/examples are
    appended to the Description in the `criteria_text` format; `split_description` reads them back)."""
    codes = list(codes)
    by_id = {int(c.id): c for c in codes}  # type: ignore[arg-type]
    root = etree.Element(_q("Codes", ns), nsmap={None: ns})
    els: dict[int, etree._Element] = {}
    for cid, parent, _ in code_tree(codes).walk():  # parents first; a damaged store's cycle is cut
        code = by_id[cid]
        el = els[cid] = etree.SubElement(els[parent] if parent is not None else root, _q("Code", ns),
                                         guid=guids[cid], name=code.name, isCodable="true")
        if rgb(code.colour):
            el.set("color", rgb(code.colour))
        desc = description_text(code) if criteria_in_description else code.definition
        if desc:
            etree.SubElement(el, _q("Description", ns)).text = desc
        for ref in (note_refs or {}).get(cid, []):
            etree.SubElement(el, _q("NoteRef", ns), targetGUID=ref)
    return root


def _field_lines(label: str, value: str) -> list[str]:
    """`label` + first line; further lines (blank ones too) indented by two spaces, so a value with
    line breaks or blank lines stays one value."""
    first, *rest = value.replace("\r\n", "\n").split("\n")
    return [f"{label}{first}"] + [f"  {line}" for line in rest]


def criteria_text(code: Code) -> str:
    """Include/exclude/examples as a plain-text note another tool can show; parsed back on import
    (`parse_criteria`). The one format for criteria in `.qdpx` notes and `.qdc` descriptions:

        Include: ...
        Exclude: ...
        Examples:
        - first example
        - second example, whose next line
          is indented by two spaces"""
    lines = []
    if code.include:
        lines += _field_lines("Include: ", code.include)
    if code.exclude:
        lines += _field_lines("Exclude: ", code.exclude)
    if code.examples:
        lines.append("Examples:")
        for e in code.examples:
            lines += _field_lines("- ", e)
    return "\n".join(lines)


def description_text(code: Code) -> str:
    """Definition, a blank line, then the criteria (for a `.qdc`, which has no Notes)."""
    return "\n\n".join(p for p in (code.definition, criteria_text(code)) if p)


_CRITERIA_STARTS = ("Include: ", "Exclude: ", "Example: ")


def _starts_criteria(line: str) -> bool:
    return line.startswith(_CRITERIA_STARTS) or line.rstrip() == "Examples:"


def parse_criteria(text: str) -> dict | None:
    """Inverse of `criteria_text` ({include, exclude, examples}), or None if `text` is not in that
    format. Also reads the older one-paragraph-per-field form ("Example: ..." paragraphs)."""
    out: dict = {"include": "", "exclude": "", "examples": []}
    cur: tuple[str, int] | None = None  # (field, index in examples) being continued
    in_examples, blanks = False, 0

    def append(extra: str) -> None:
        field, i = cur  # type: ignore[misc]
        if field == "examples":
            out["examples"][i] += extra
        else:
            out[field] += extra

    for line in text.replace("\r\n", "\n").split("\n"):
        if not line.strip() and not line.startswith("  "):
            blanks += 1  # a separator, or an indented blank line whose spaces another tool stripped
            continue
        if line.startswith("  ") and cur is not None:
            append("\n" * (blanks + 1) + line[2:])
        elif line.startswith("Include: "):
            out["include"], cur, in_examples = line[9:], ("include", 0), False
        elif line.startswith("Exclude: "):
            out["exclude"], cur, in_examples = line[9:], ("exclude", 0), False
        elif line.rstrip() == "Examples:":
            cur, in_examples = None, True
        elif line.startswith("Example: "):
            out["examples"].append(line[9:])
            cur = ("examples", len(out["examples"]) - 1)
        elif in_examples and (line.startswith("- ") or line == "-"):
            out["examples"].append(line[2:])
            cur = ("examples", len(out["examples"]) - 1)
        else:
            return None
        blanks = 0
    return out


def split_description(text: str) -> dict:
    """A `.qdc` Description -> {definition, include, exclude, examples}: the criteria block is the
    first paragraph, from which on everything parses as criteria; before it is the definition."""
    text = (text or "").replace("\r\n", "\n")
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if _starts_criteria(line) and (i == 0 or not lines[i - 1].strip()):
            crit = parse_criteria("\n".join(lines[i:]))
            if crit is not None:
                return {"definition": "\n".join(lines[:i]).strip(), **crit}
    return {"definition": text.strip(), "include": "", "exclude": "", "examples": []}


def _user_guids(project: Project) -> dict[str, str]:
    """Every coder, memo author and the analyst becomes a User; AI coders keep their `ai:` names."""
    store = project.store
    store.ensure_coder(project.analyst, "analyst")
    for c in {c.coder for c in store.list_codings()}:
        store.ensure_coder(c, "ai" if is_ai_coder(c) else "analyst")
    for author in {m.author for m in store.list_memos()}:
        store.ensure_coder(author, "ai" if is_ai_coder(author) else "analyst")
    return store.entity_guids("coders")


def build_project_xml(project: Project, offsets: OffsetMode = "chars",
                      progress: Progress | None = None) -> tuple[etree._Element, dict[str, str], ExportReport]:
    """The <Project> element and the source files (`sources/<GUID>.txt` -> text) to write."""
    store = project.store
    report = ExportReport(path="", offsets=offsets)
    users = _user_guids(project)
    pguid = project_guid(store)
    code_guids = store.entity_guids("codes")
    coding_guids = store.entity_guids("codings")
    memo_guids = store.entity_guids("memos")
    set_guids = store.entity_guids("source_sets")
    codes = store.list_codes()
    code_ids = {c.id for c in codes}
    memos = store.list_memos()
    sources = store.list_sources(with_text=True)
    src_guids = {s.id: source_guid(store, s.name) for s in sources}

    root = etree.Element(_q("Project"), nsmap={None: NS})
    root.set("name", project.folder.name)
    root.set("origin", ORIGIN)
    root.set("creatingUserGUID", users[project.analyst])
    root.set("creationDateTime", xml_datetime(None))

    notes, refs = _notes(project, memos, memo_guids, users, codes, code_guids, pguid, report)
    ai_notes = _ai_notes(project, code_ids, coding_guids, users, refs)
    themes = store.list_themes()
    theme_notes = _theme_notes(project, themes, pguid, users)
    for note in [*ai_notes.values(), *theme_notes.values()]:
        if notes is None:
            notes = etree.Element(_q("Notes"))
        notes.append(note)

    el = etree.SubElement(root, _q("Users"))
    for name, guid in sorted(users.items()):
        etree.SubElement(el, _q("User"), guid=guid, name=name)
    if codes:
        book = etree.SubElement(root, _q("CodeBook"))
        book.append(codes_element(codes, code_guids, note_refs=refs.get("code")))
    keys = sorted({k for s in sources for k in s.attributes} | ({"kind"} if sources else set()))
    var_guids = {k: derived_guid(pguid, "variable", k) for k in keys}
    if keys:
        el = etree.SubElement(root, _q("Variables"))
        for k in keys:
            etree.SubElement(el, _q("Variable"), guid=var_guids[k], name=k, typeOfVariable="Text")
    files: dict[str, str] = {}
    if sources:
        el = etree.SubElement(root, _q("Sources"))
        for i, s in enumerate(sources):
            guid = src_guids[s.id]
            files[f"sources/{guid}.txt"] = s.text
            _text_source(el, project, s, guid, offsets, users, code_ids, code_guids, coding_guids,
                         refs, var_guids, report)
            if progress:
                progress(i + 1, len(sources))
    if notes is not None:
        root.append(notes)
    sets = store.list_source_sets()
    if sets or themes or ai_notes:
        el = etree.SubElement(root, _q("Sets"))
        for st in sets:
            set_el = etree.SubElement(el, _q("Set"), guid=set_guids[st["id"]], name=st["name"])
            if st["description"]:
                etree.SubElement(set_el, _q("Description")).text = st["description"]
            for sid in st["source_ids"]:
                if sid in src_guids:
                    etree.SubElement(set_el, _q("MemberSource"), targetGUID=src_guids[sid])
        for t in themes:
            _theme_set(el, t, pguid, code_guids, code_ids, theme_notes, refs)
        if ai_notes:
            ai_set = etree.SubElement(el, _q("Set"), guid=derived_guid(pguid, "set", AI_SET_NAME), name=AI_SET_NAME)
            etree.SubElement(ai_set, _q("Description")).text = AI_SET_DESCRIPTION
            for note in ai_notes.values():
                etree.SubElement(ai_set, _q("MemberNote"), targetGUID=note.get("guid"))
    for ref in refs.get("project", {}).get(0, []):
        etree.SubElement(root, _q("NoteRef"), targetGUID=ref)
    report.counts.update(users=len(users), codes=len(codes), sources=len(sources), notes=len(memos),
                         sets=len(sets), variables=len(keys), themes=len(themes), ai_codings=len(ai_notes))
    return root, files, report


def _ai_notes(project: Project, code_ids: set, coding_guids: dict[int, str], users: dict[str, str],
              refs: dict) -> dict[int, etree._Element]:
    """One "AI origin" Note per active coding made from a suggestion (coding id -> Note), each
    referenced from its Coding and from its PlainTextSelection (tools differ in which of the two
    they show memos of). Its creatingUser is the analyst who accepted it."""
    store = project.store
    out: dict[int, etree._Element] = {}
    codings = [c for c in store.list_codings() if c.suggestion_id is not None and c.code_id in code_ids]
    suggestions = {s.id: s for s in store.list_suggestions(status=None)} if codings else {}
    for c in codings:
        s = suggestions.get(c.suggestion_id)  # type: ignore[arg-type]
        if s is None:  # a suggestion gone from a damaged store: no provenance to state
            continue
        guid = derived_guid(coding_guids[c.id], "ai-origin")
        note = etree.Element(_q("Note"), guid=guid, name=ai_note_name(s), creatingUser=users[c.coder],
                             creationDateTime=xml_datetime(c.created_at))
        etree.SubElement(note, _q("PlainTextContent")).text = ai_note_text(s, c.coder)
        refs.setdefault("coding", {}).setdefault(c.id, []).append(guid)
        refs.setdefault("selection", {}).setdefault(c.id, []).append(guid)
        out[c.id] = note
    return out


def _theme_notes(project: Project, themes: list, pguid: str, users: dict[str, str]) -> dict[int, etree._Element]:
    """Per theme, the Note stating its status and the engine that summarised it (theme id -> Note)."""
    out: dict[int, etree._Element] = {}
    for t in themes:
        note = etree.Element(_q("Note"), guid=derived_guid(pguid, "theme-record", str(t.id)),
                             name=f"Theme record: {t.name}", creatingUser=users[project.analyst],
                             creationDateTime=xml_datetime(t.created_at))
        etree.SubElement(note, _q("PlainTextContent")).text = theme_note_text(t)
        out[t.id] = note
    return out


def _theme_set(parent: etree._Element, t, pguid: str, code_guids: dict[int, str], code_ids: set,
               theme_notes: dict[int, etree._Element], refs: dict) -> None:
    """A theme as a Set: its summary as Description, its codes as MemberCodes, its memos and its
    record note as MemberNotes (a Set has no NoteRef in the schema)."""
    el = etree.SubElement(parent, _q("Set"), guid=derived_guid(pguid, "theme", str(t.id)), name=t.name)
    if t.summary:
        etree.SubElement(el, _q("Description")).text = t.summary
    for cid in t.code_ids:
        if cid in code_ids:
            etree.SubElement(el, _q("MemberCode"), targetGUID=code_guids[cid])
    for ref in [theme_notes[t.id].get("guid"), *refs.get("theme", {}).get(t.id, [])]:
        etree.SubElement(el, _q("MemberNote"), targetGUID=ref)


def _text_source(parent: etree._Element, project: Project, s, guid: str, offsets: OffsetMode,
                 users: dict[str, str], code_ids: set, code_guids: dict[int, str],
                 coding_guids: dict[int, str], refs: dict, var_guids: dict[str, str],
                 report: ExportReport) -> None:
    el = etree.SubElement(parent, _q("TextSource"), guid=guid, name=s.name,
                          plainTextPath=f"internal://{guid}.txt",
                          creationDateTime=xml_datetime(s.added_at))
    umap = UnitMap.of(s.text) if offsets == "utf16" else None
    n = 0
    for c in project.store.list_codings(source_id=s.id):
        if c.code_id not in code_ids:
            report.warnings.append(f"coding {c.id} on {s.name!r} skipped: its code {c.code_id} is not active")
            continue
        start, end = to_mode(s.text, c.start, c.end, offsets, umap)
        cguid = coding_guids[c.id]
        sel = etree.SubElement(el, _q("PlainTextSelection"), guid=derived_guid(cguid, "selection"),
                               name=_preview(c.text), startPosition=str(start), endPosition=str(end),
                               creatingUser=users[c.coder], creationDateTime=xml_datetime(c.created_at))
        coding = etree.SubElement(sel, _q("Coding"), guid=cguid, creatingUser=users[c.coder],
                                  creationDateTime=xml_datetime(c.created_at))
        etree.SubElement(coding, _q("CodeRef"), targetGUID=code_guids[c.code_id])
        for ref in refs.get("coding", {}).get(c.id, []):
            etree.SubElement(coding, _q("NoteRef"), targetGUID=ref)
        for ref in refs.get("selection", {}).get(c.id, []):  # the AI origin, where a tool shows segment memos
            etree.SubElement(sel, _q("NoteRef"), targetGUID=ref)
        n += 1
    for ref in refs.get("source", {}).get(s.id, []):
        etree.SubElement(el, _q("NoteRef"), targetGUID=ref)
    values = {"kind": s.kind, **s.attributes}
    for k in sorted(values):
        vv = etree.SubElement(el, _q("VariableValue"))
        etree.SubElement(vv, _q("VariableRef"), targetGUID=var_guids[k])
        etree.SubElement(vv, _q("TextValue")).text = str(values[k])
    report.counts["codings"] = report.counts.get("codings", 0) + n


def _preview(text: str, n: int = 80) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= n else flat[: n - 1] + "…"


def _notes(project: Project, memos: list[StoredMemo], memo_guids: dict[int, str], users: dict[str, str],
           codes: list[StoredCode], code_guids: dict[int, str], pguid: str,
           report: ExportReport) -> tuple[etree._Element | None, dict[str, dict[int, list[str]]]]:
    """Memos become Notes referenced from what they are about; criteria become per-code Notes."""
    refs: dict[str, dict[int, list[str]]] = {}
    notes = etree.Element(_q("Notes"))
    links = project.store.memo_links()
    for m in memos:
        guid = memo_guids[m.id]
        first = m.text.strip().splitlines()[0] if m.text.strip() else "memo"
        name = _preview(first, 60)
        note = etree.SubElement(notes, _q("Note"), guid=guid, name=name, creatingUser=users[m.author],
                                creationDateTime=xml_datetime(m.created_at))
        etree.SubElement(note, _q("PlainTextContent")).text = m.text
        for kind, tid in dict.fromkeys([(m.target_type, m.target_id), *links.get(m.id, [])]):
            if kind in ("project", "source", "code", "coding", "theme"):  # home and linked: one ref each
                key = 0 if kind == "project" else int(tid or 0)
                refs.setdefault(kind, {}).setdefault(key, []).append(guid)
    for c in codes:
        text = criteria_text(c)
        if not text:
            continue
        guid = derived_guid(code_guids[c.id], "criteria")
        note = etree.SubElement(notes, _q("Note"), guid=guid, name=f"{CRITERIA_PREFIX}{c.name}",
                                creatingUser=users[project.analyst])
        etree.SubElement(note, _q("PlainTextContent")).text = text
        refs.setdefault("code", {}).setdefault(c.id, []).append(guid)
    return (notes if len(notes) else None), refs


def qde_bytes(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)




def export_qdpx(project: Project, path: str | Path, offsets: OffsetMode = "chars",
                progress: Progress | None = None) -> ExportReport:
    root, files, report = build_project_xml(project, offsets, progress)
    data = qde_bytes(root)

    def write(tmp: Path) -> None:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("project.qde", data)
            for name, text in files.items():
                zf.writestr(name, text.encode("utf-8"))

    write_file_atomic(Path(path), write)
    report.path = str(path)
    project.store.audit(project.analyst, "export.qdpx", "project", None, path=str(path), offsets=offsets,
                        counts=report.counts)
    return report


def qdc_bytes(book: etree._Element) -> bytes:
    return etree.tostring(book, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def codebook_element(codes: Iterable[Code], guids: dict[int, str], with_criteria: bool = True) -> etree._Element:
    """<CodeBook origin=...><Codes>…</Codes></CodeBook> in the codebook namespace."""
    book = etree.Element(_q("CodeBook", CODEBOOK_NS), nsmap={None: CODEBOOK_NS}, origin=ORIGIN)
    book.append(codes_element(codes, guids, ns=CODEBOOK_NS, criteria_in_description=with_criteria))
    return book


def export_qdc(project: Project, path: str | Path, with_criteria: bool = True) -> ExportReport:
    """Codebook only (urn:QDA-XML:codebook:1.0): <CodeBook><Codes>…</Codes></CodeBook>, with the
    store's stable code GUIDs, written atomically. `with_criteria` appends include/exclude/examples
    to each Description (`description_text`), as `thematic codebook export` does; read back by
    `codebook_io.parse_qdc` (`split_description`)."""
    codes = project.store.list_codes()
    guids = project.store.entity_guids("codes")
    data = qdc_bytes(codebook_element(codes, guids, with_criteria))
    write_bytes_atomic(Path(path), data)
    project.store.audit(project.analyst, "export.qdc", "codebook", None, path=str(path), codes=len(codes))
    return ExportReport(path=str(path), counts={"codes": len(codes)})


def validate_qde(data: bytes, xsd_path: str | Path) -> list[str]:
    """Schema errors of a project.qde against the REFI-QDA XSD (empty list = valid). The XSD is
    not shipped with the package; callers pass its path."""
    schema = etree.XMLSchema(etree.parse(str(xsd_path)))
    doc = etree.fromstring(data)
    if schema.validate(doc):
        return []
    return [f"line {e.line}: {e.message}" for e in schema.error_log]

