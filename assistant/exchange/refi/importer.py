"""Import a REFI-QDA `.qdpx` (from NVivo, ATLAS.ti, MAXQDA, QualCoder, or thematic) into a NEW project.

Two phases: `parse_qdpx` reads the archive into plain records and checks everything can be placed
(pure; raises ExchangeError naming the element it cannot place), then `import_qdpx` writes them in
one transaction. So a file that fails leaves no half-imported project behind.

Tolerated, with a warning in the report: an upper-case `Sources/` folder, byte-order marks, CRLF
source text (positions are mapped onto our canonical LF text, see `offsets.canonical_map`), empty
or unknown elements, inline PlainTextContent, PDF sources (their text Representation is imported;
area selections are not), picture/audio/video sources (skipped), links and graphs (skipped).
Rejected: a selection outside its source, a CodeRef to a code the file does not define."""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree
from pydantic import BaseModel, Field

from assistant.errors import ExchangeError
from assistant.exchange.refi.guids import norm_guid
from assistant.exchange.refi.offsets import (
    OffsetMode,
    UnitMap,
    canonical_map,
    from_mode,
    mode_length,
)

Progress = Callable[[int, int], None]
_KNOWN_TOP = {"Users", "CodeBook", "Variables", "Cases", "Sources", "Notes", "Links", "Sets", "Graphs",
              "Description", "NoteRef"}
_MEDIA = {"PictureSource": "picture", "AudioSource": "audio", "VideoSource": "video"}


class ImportReport(BaseModel):
    project: str
    offsets: str = "chars"
    origin: str = ""
    counts: dict[str, int] = Field(default_factory=dict)
    warnings: list[str] = Field(default_factory=list)


@dataclass
class PCode:
    guid: str
    name: str
    parent: str | None
    definition: str = ""
    colour: str | None = None


@dataclass
class PCoding:
    guid: str
    code: str
    coder: str
    start: int
    end: int
    created: str | None = None


@dataclass
class PSource:
    guid: str
    name: str
    text: str
    attributes: dict[str, str] = field(default_factory=dict)
    codings: list[PCoding] = field(default_factory=list)


@dataclass
class PNote:
    guid: str
    name: str
    text: str
    author: str
    created: str | None = None
    targets: list[tuple[str, str]] = field(default_factory=list)  # (kind, guid): code/source/coding


@dataclass
class Parsed:
    name: str = ""
    origin: str = ""
    users: dict[str, str] = field(default_factory=dict)  # norm guid -> name
    user_guids: dict[str, str] = field(default_factory=dict)  # name -> original guid
    codes: list[PCode] = field(default_factory=list)
    sources: list[PSource] = field(default_factory=list)
    notes: dict[str, PNote] = field(default_factory=dict)
    sets: list[tuple[str, str, str, list[str]]] = field(default_factory=list)  # guid, name, desc, sources
    warnings: list[str] = field(default_factory=list)


def _ln(el: etree._Element) -> str | None:
    return etree.QName(el).localname if isinstance(el.tag, str) else None


def _kids(el: etree._Element, name: str | None = None) -> list[etree._Element]:
    return [c for c in el if _ln(c) is not None and (name is None or _ln(c) == name)]


def _kid_text(el: etree._Element, name: str) -> str | None:
    found = _kids(el, name)
    return (found[0].text or "") if found else None


class _Archive:
    """Case-insensitive access to the zip's members (`Sources/` vs `sources/`)."""

    def __init__(self, path: Path):
        try:
            self.zf = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as exc:
            raise ExchangeError(f"{path}: not a readable .qdpx (zip) archive: {exc}") from exc
        self.names = {n.lower(): n for n in self.zf.namelist()}
        self.path = path

    def qde(self) -> bytes:
        name = self.names.get("project.qde") or next((n for k, n in self.names.items() if k.endswith(".qde")), None)
        if name is None:
            raise ExchangeError(f"{self.path}: no project.qde inside the archive")
        return self.zf.read(name)

    def source(self, internal: str) -> bytes | None:
        base = internal.split("://", 1)[-1].lstrip("/").lower()
        name = self.names.get(f"sources/{base}") or self.names.get(base)
        return None if name is None else self.zf.read(name)


def decode_text(data: bytes, where: str, warnings: list[str]) -> str:
    """UTF-8 per the spec; a BOM is an encoding mark, not text (positions start after it)."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        warnings.append(f"{where}: not valid UTF-8; read as Windows-1252")
        return data.decode("cp1252", errors="replace")


def parse_xml(data: bytes, where: str) -> etree._Element:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True, remove_comments=True)
    try:
        return etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise ExchangeError(f"{where}: not well-formed XML: {exc}") from exc


def parse_codes(codes_el: etree._Element, warnings: list[str]) -> list[PCode]:
    out: list[PCode] = []

    def walk(el: etree._Element, parent: str | None) -> None:
        for c in _kids(el):
            if _ln(c) != "Code":
                continue
            guid = norm_guid(c.get("guid"))
            if not guid:
                raise ExchangeError(f"Code {c.get('name')!r} has no guid")
            out.append(PCode(guid, (c.get("name") or "").strip() or "unnamed code", parent,
                             (_kid_text(c, "Description") or "").strip(), c.get("color")))
            walk(c, guid)

    walk(codes_el, None)
    return out


def _value(vv: etree._Element, variables: dict[str, str]) -> tuple[str, str] | None:
    ref = _kids(vv, "VariableRef")
    if not ref:
        return None
    name = variables.get(norm_guid(ref[0].get("targetGUID")))
    vals = [c for c in _kids(vv) if _ln(c) != "VariableRef"]
    if name is None or not vals:
        return None
    return name, (vals[0].text or "").strip()


def parse_qdpx(path: str | Path, offsets: OffsetMode = "chars") -> Parsed:
    path = Path(path)
    archive = _Archive(path)
    root = parse_xml(archive.qde(), f"{path.name}/project.qde")
    if _ln(root) != "Project":
        raise ExchangeError(f"{path.name}: project.qde has root <{_ln(root)}>, expected <Project>")
    p = Parsed(name=root.get("name") or path.stem, origin=root.get("origin") or "")
    for el in _kids(root):
        if _ln(el) not in _KNOWN_TOP:
            p.warnings.append(f"unknown element <{_ln(el)}> ignored")
    for u in (u for users in _kids(root, "Users") for u in _kids(users, "User")):
        name = (u.get("name") or u.get("id") or f"user {norm_guid(u.get('guid'))[:8]}").strip()
        p.users[norm_guid(u.get("guid"))] = name
        p.user_guids.setdefault(name, u.get("guid") or "")
    for book in _kids(root, "CodeBook"):
        for codes in _kids(book, "Codes"):
            p.codes += parse_codes(codes, p.warnings)
    variables = {norm_guid(v.get("guid")): v.get("name") or "variable"
                 for vs in _kids(root, "Variables") for v in _kids(vs, "Variable")}
    known_codes = {c.guid for c in p.codes}
    for sources in _kids(root, "Sources"):
        for el in _kids(sources):
            _parse_source(el, archive, p, offsets, known_codes, variables)
    _apply_cases(root, p, variables)
    _parse_notes(root, archive, p)
    for sets in _kids(root, "Sets"):
        for st in _kids(sets, "Set"):
            members = [norm_guid(m.get("targetGUID")) for m in _kids(st, "MemberSource")]
            other = len(_kids(st, "MemberCode")) + len(_kids(st, "MemberNote"))
            if other:
                p.warnings.append(f"Set {st.get('name')!r}: {other} code/note members not imported (source sets only)")
            p.sets.append((st.get("guid") or "", st.get("name") or "set", _kid_text(st, "Description") or "", members))
    for tag in ("Links", "Graphs"):
        n = sum(len(_kids(e)) for e in _kids(root, tag))
        if n:
            p.warnings.append(f"{n} {tag.lower()[:-1]}(s) not imported: thematic has no {tag.lower()}")
    if offsets == "chars" and "nvivo" in p.origin.lower() and any(
        any(ord(ch) >= 0x10000 for ch in s.text) for s in p.sources
    ):
        p.warnings.append("exported by NVivo and the text has emoji/astral characters: if codings look shifted, "
                          "import again with --offsets utf16")
    return p


def _user(p: Parsed, *guids: str | None) -> str:
    for g in guids:
        if g and norm_guid(g) in p.users:
            return p.users[norm_guid(g)]
    g = next((g for g in guids if g), None)
    if g:
        name = f"user {norm_guid(g)[:8]}"
        p.users[norm_guid(g)] = name
        p.warnings.append(f"user GUID {g} is not in <Users>; named {name!r}")
        return name
    return "import:unknown"


def _source_text(el: etree._Element, archive: _Archive, p: Parsed, label: str) -> str | None:
    inline = _kid_text(el, "PlainTextContent")
    path = el.get("plainTextPath")
    if path:
        if not path.lower().startswith("internal://"):
            p.warnings.append(f"{label}: external text {path!r} not in the archive; source skipped")
            return None
        data = archive.source(path)
        if data is None:
            if inline is not None:
                return inline
            raise ExchangeError(f"{label}: plainTextPath {path!r} is missing from the archive")
        return decode_text(data, label, p.warnings)
    if inline is not None:
        return inline
    p.warnings.append(f"{label}: no plain text (neither plainTextPath nor PlainTextContent); skipped")
    return None


def _parse_source(el: etree._Element, archive: _Archive, p: Parsed, offsets: OffsetMode,
                  known_codes: set[str], variables: dict[str, str]) -> None:
    kind = _ln(el)
    name = (el.get("name") or "").strip() or f"source {norm_guid(el.get('guid'))[:8]}"
    label = f"{kind} {name!r}"
    if kind in _MEDIA:
        n = sum(len(_kids(s, "Coding")) for s in el.iter() if _ln(s) and _ln(s).endswith("Selection"))
        p.warnings.append(f"{label}: {_MEDIA[kind]} sources are not supported; skipped ({n} codings)")
        return
    text_el = el
    if kind == "PDFSource":
        reps = _kids(el, "Representation")
        area = len(_kids(el, "PDFSelection"))
        if area:
            p.warnings.append(f"{label}: {area} area selection(s) on PDF pages not imported")
        if not reps:
            p.warnings.append(f"{label}: PDF without a text Representation; skipped")
            return
        text_el = reps[0]
    elif kind != "TextSource":
        p.warnings.append(f"unknown source element <{kind}> {name!r} ignored")
        return
    raw = _source_text(text_el, archive, p, label)
    if raw is None:
        return
    cmap = canonical_map(raw)
    umap = UnitMap.of(raw) if offsets == "utf16" else None
    limit = mode_length(raw, offsets, umap)
    src = PSource(norm_guid(el.get("guid")), name, cmap.canonical)
    creator = el.get("creatingUser")
    for vv in _kids(el, "VariableValue"):
        kv = _value(vv, variables)
        if kv:
            src.attributes[kv[0]] = kv[1]
    for ref in _kids(el, "NoteRef"):
        p.notes.setdefault(norm_guid(ref.get("targetGUID")), PNote("", "", "", "")).targets.append(("source", src.guid))
    desc = (_kid_text(el, "Description") or "").strip()
    if desc:
        _add_memo(p, f"{src.guid}:description", "Description", desc, _user(p, creator), ("source", src.guid))
    for c in _kids(text_el, "Coding"):  # a coding of the whole source
        s, e = _trim(cmap.canonical, 0, len(cmap.canonical))
        _coding(c, p, src, s, e, known_codes, label, creator)
    for sel in _kids(text_el, "PlainTextSelection"):
        _selection(sel, p, src, cmap, umap, offsets, limit, raw, known_codes, label)
    p.sources.append(src)


def _trim(text: str, s: int, e: int) -> tuple[int, int]:
    while s < e and text[s].isspace():
        s += 1
    while e > s and text[e - 1].isspace():
        e -= 1
    return s, e


def _selection(sel: etree._Element, p: Parsed, src: PSource, cmap, umap, offsets: OffsetMode, limit: int,
               raw: str, known_codes: set[str], label: str) -> None:
    sguid = sel.get("guid") or "?"
    try:
        a, b = int(sel.get("startPosition", "")), int(sel.get("endPosition", ""))
    except ValueError:
        raise ExchangeError(f"PlainTextSelection {sguid} in {label}: startPosition/endPosition are not integers") from None
    if a > b:
        a, b = b, a
        p.warnings.append(f"PlainTextSelection {sguid} in {label}: start after end; swapped")
    if a < 0 or b > limit:
        unit = "UTF-16 code units" if offsets == "utf16" else "characters"
        raise ExchangeError(
            f"PlainTextSelection {sguid} in {label}: range {a}-{b} is outside the source text ({limit} {unit})"
        )
    ra, rb = from_mode(raw, a, b, offsets, umap)
    s, e = cmap.span(ra, rb)
    codings = _kids(sel, "Coding")
    if e <= s:
        if codings:
            p.warnings.append(f"PlainTextSelection {sguid} in {label}: empty range {a}-{b}; {len(codings)} coding(s) skipped")
        return
    made = [_coding(c, p, src, s, e, known_codes, label, sel.get("creatingUser")) for c in codings]
    targets = [("coding", g) for g in made] or [("source", src.guid)]
    prefix = "" if made else f"[on {src.text[s:e][:80]!r}] "
    desc = (_kid_text(sel, "Description") or "").strip()
    if desc:
        _add_memo(p, f"{norm_guid(sguid)}:description", "Selection note", prefix + desc,
                  _user(p, sel.get("creatingUser")), *targets)
    for ref in _kids(sel, "NoteRef"):
        note = p.notes.setdefault(norm_guid(ref.get("targetGUID")), PNote("", "", "", ""))
        note.targets += targets
        if prefix:
            note.name = note.name or prefix


def _coding(c: etree._Element, p: Parsed, src: PSource, s: int, e: int, known_codes: set[str],
            label: str, fallback_user: str | None) -> str:
    guid = c.get("guid") or ""
    refs = _kids(c, "CodeRef")
    if not refs:
        raise ExchangeError(f"Coding {guid} in {label}: no CodeRef")
    target = norm_guid(refs[0].get("targetGUID"))
    if target not in known_codes:
        raise ExchangeError(f"Coding {guid} in {label}: CodeRef to unknown code GUID {refs[0].get('targetGUID')}")
    coder = _user(p, c.get("creatingUser"), fallback_user)
    key = norm_guid(guid) or f"{src.guid}:{len(src.codings)}"
    src.codings.append(PCoding(key, target, coder, s, e, c.get("creationDateTime")))
    for ref in _kids(c, "NoteRef"):
        p.notes.setdefault(norm_guid(ref.get("targetGUID")), PNote("", "", "", "")).targets.append(("coding", key))
    return key


def _add_memo(p: Parsed, key: str, name: str, text: str, author: str, *targets: tuple[str, str]) -> None:
    p.notes[key] = PNote(key, name, text, author, None, list(targets))


def _apply_cases(root: etree._Element, p: Parsed, variables: dict[str, str]) -> None:
    """Case variables (NVivo/MAXQDA keep participant attributes on cases) become attributes of the
    case's sources; a source's own values win."""
    by_guid = {s.guid: s for s in p.sources}
    for cases in _kids(root, "Cases"):
        for case in _kids(cases, "Case"):
            values = dict(kv for vv in _kids(case, "VariableValue") if (kv := _value(vv, variables)))
            if case.get("name"):
                values.setdefault("case", case.get("name"))
            for ref in _kids(case, "SourceRef"):
                src = by_guid.get(norm_guid(ref.get("targetGUID")))
                if src is not None:
                    src.attributes = {**values, **src.attributes}
            if _kids(case, "SelectionRef") or _kids(case, "CodeRef"):
                p.warnings.append(f"Case {case.get('name')!r}: selection/code members not imported")


def _parse_notes(root: etree._Element, archive: _Archive, p: Parsed) -> None:
    for ref in _kids(root, "NoteRef"):
        p.notes.setdefault(norm_guid(ref.get("targetGUID")), PNote("", "", "", "")).targets.append(("project", ""))
    desc = (_kid_text(root, "Description") or "").strip()
    if desc:
        _add_memo(p, "project:description", "Project description", desc, "import", ("project", ""))

    def code_refs(el: etree._Element) -> None:
        for c in _kids(el, "Code"):
            for ref in _kids(c, "NoteRef"):
                p.notes.setdefault(norm_guid(ref.get("targetGUID")), PNote("", "", "", "")).targets.append(
                    ("code", norm_guid(c.get("guid"))))
            code_refs(c)

    for book in _kids(root, "CodeBook"):
        for codes in _kids(book, "Codes"):
            code_refs(codes)
    for notes in _kids(root, "Notes"):
        for n in _kids(notes, "Note"):
            guid = norm_guid(n.get("guid"))
            label = f"Note {n.get('name')!r}"
            text = _source_text(n, archive, p, label) if (n.get("plainTextPath") or _kids(n, "PlainTextContent")) else ""
            text = (text or _kid_text(n, "Description") or "").strip()
            entry = p.notes.setdefault(guid, PNote("", "", "", ""))
            prefix = entry.name if entry.name.startswith("[on ") else ""
            entry.guid, entry.name, entry.text = guid, n.get("name") or "", prefix + text
            entry.author, entry.created = _user(p, n.get("creatingUser")), n.get("creationDateTime")
    for key in [k for k, n in p.notes.items() if not n.guid]:
        p.warnings.append(f"NoteRef to unknown note {key} ignored")
        del p.notes[key]
