"""Import a REFI-QDA `.qdpx` (from NVivo, ATLAS.ti, MAXQDA, QualCoder, or thematic) into a NEW project.

Two phases: `parse_qdpx` reads the archive into plain records and checks everything can be placed
(pure; raises ExchangeError naming the element it cannot place), then `import_qdpx` writes them in
one transaction. So a file that fails leaves no half-imported project behind.

Tolerated, with a warning in the report: an upper-case `Sources/` folder, byte-order marks, CRLF
source text (positions are mapped onto our canonical LF text, see `offsets.canonical_map`), empty
or unknown elements, inline PlainTextContent, PDF sources (their text Representation is imported;
area selections are not), picture/audio/video sources (skipped), links and graphs (skipped).
Rejected: a selection outside its source, a CodeRef to a code the file does not define.

Bounded: the archive is read through `index.archive.BoundedZip` (project.qde and each source text
are refused, naming the file and the limit, before they are unpacked if they would be over
`ingest.max_member_mb`, or all together over `ingest.max_unpacked_mb`). XML is parsed without
network or external entities; internal entities are expanded as XML defines (libxml2 bounds their
amplification, so "billion laughs" is refused) and the report says so."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

from lxml import etree
from pydantic import BaseModel, Field

from assistant.coding.codebook import name_key
from assistant.errors import ExchangeError
from assistant.exchange.refi.guids import norm_guid
from assistant.exchange.refi.offsets import (
    OffsetMode,
    UnitMap,
    canonical_map,
    from_mode,
    mode_length,
)
from assistant.exchange.refi.provenance import (
    AI_MARKER,
    AI_SET_NAME,
    THEME_MARKER,
    parse_block,
)
from assistant.settings import IngestSettings
from index.archive import BoundedZip, ZipLimits
from index.errors import ReadError
from index.text import decode_bytes

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
class PTheme:
    guid: str
    name: str
    summary: str = ""
    codes: list[str] = field(default_factory=list)  # code guids
    record: dict[str, str] = field(default_factory=dict)  # a thematic theme record note's fields


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
    themes: list[PTheme] = field(default_factory=list)  # Sets of codes (thematic's themes, or another tool's)
    provenance: dict[str, dict[str, str]] = field(default_factory=dict)  # coding key -> AI origin fields
    provenance_notes: set[str] = field(default_factory=set)  # guids of notes read as provenance, not memos
    theme_records: dict[str, dict[str, str]] = field(default_factory=dict)  # note guid -> theme record
    warnings: list[str] = field(default_factory=list)


def _ln(el: etree._Element) -> str | None:
    return etree.QName(el).localname if isinstance(el.tag, str) else None


def _kids(el: etree._Element, name: str | None = None) -> list[etree._Element]:
    return [c for c in el if _ln(c) is not None and (name is None or _ln(c) == name)]


def _kid_text(el: etree._Element, name: str) -> str | None:
    """The whole text of the first `name` child (all of it, should another tool have put markup
    inside: `.text` alone would stop at the first child element)."""
    found = _kids(el, name)
    return "".join(found[0].itertext()) if found else None


def zip_limits(ingest: IngestSettings | None = None) -> ZipLimits:
    """The unpack limits of the project's settings (the same ones ingest applies to .docx/.xlsx)."""
    ingest = ingest or IngestSettings()
    return ZipLimits(member_mb=ingest.max_member_mb, total_mb=ingest.max_unpacked_mb,
                     max_ratio=ingest.max_unpack_ratio)


class _Archive:
    """Bounded, case-insensitive access to the zip's members (`Sources/` vs `sources/`)."""

    def __init__(self, path: Path, limits: ZipLimits | None = None):
        self.path = path
        try:
            self.zip = BoundedZip(path, limits, path)
        except ReadError as exc:
            if exc.problem.startswith("corrupt"):
                raise ExchangeError(f"{path}: not a readable .qdpx (zip) archive: {exc.problem}") from exc
            raise ExchangeError(str(exc)) from exc
        self.names = {n.lower(): n for n in self.zip.names()}

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.zip.close()

    def _read(self, name: str) -> bytes:
        try:
            return self.zip.read(name)
        except ReadError as exc:  # over a limit, or a damaged member: one line naming both
            raise ExchangeError(str(exc)) from exc

    def qde(self) -> bytes:
        name = self.names.get("project.qde") or next((n for k, n in self.names.items() if k.endswith(".qde")), None)
        if name is None:
            raise ExchangeError(f"{self.path}: no project.qde inside the archive")
        return self._read(name)

    def source(self, internal: str) -> bytes | None:
        base = internal.split("://", 1)[-1].lstrip("/").lower()
        name = self.names.get(f"sources/{base}") or self.names.get(base)
        return None if name is None else self._read(name)


def decode_text(data: bytes, where: str, warnings: list[str]) -> str:
    """UTF-8 per the spec; a BOM is an encoding mark, not text (positions start after it). Text
    that is not UTF-8 is decoded as ingest decodes files (`index.text.decode_bytes`: the BOM, else
    the detected legacy encoding), with a warning; bytes that are not text are refused, naming the
    source, rather than imported as mojibake."""
    if not data.startswith((b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")):
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError:
            warnings.append(f"{where}: not valid UTF-8; read in the encoding detected for it")
    try:
        return decode_bytes(data, where)
    except ReadError as exc:
        raise ExchangeError(str(exc)) from exc


def parse_xml(data: bytes, where: str, warnings: list[str] | None = None) -> etree._Element:
    """project.qde / a .qdc, safely: no network, no external entities (a reference to one is a
    parse error, so no file is read), no DTD loaded. Internal entities are expanded, as XML
    defines: left unexpanded, lxml would hand back the text only up to the first reference and
    silently cut a source; libxml2's amplification limit refuses a "billion laughs". Comments and
    processing instructions are dropped, so they cannot cut a text either."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    parser = etree.XMLParser(resolve_entities="internal", no_network=True, load_dtd=False, huge_tree=True,
                             remove_comments=True, remove_pis=True)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise ExchangeError(f"{where}: not well-formed XML: {exc}") from exc
    dtd = root.getroottree().docinfo.internalDTD
    entities = [e.name for e in dtd.iterentities()] if dtd is not None else []
    if entities and warnings is not None:
        shown = ", ".join(f"&{n};" for n in entities[:5]) + (", ..." if len(entities) > 5 else "")
        warnings.append(f"{where}: declares XML entities ({shown}); their references were expanded into the text")
    for ent in root.iter(etree.Entity):  # should not survive the parser; never let one cut a text
        raise ExchangeError(f"{where}: {_owner(ent)} holds the unexpanded XML entity reference {ent.text}; "
                            "refused rather than cut its text")
    return root


def _owner(el: etree._Element) -> str:
    """The nearest named element around `el`, for messages ("TextSource 'Interview 3'")."""
    cur = el.getparent()
    while cur is not None and not cur.get("name"):
        cur = cur.getparent()
    return f"{_ln(cur)} {cur.get('name')!r}" if cur is not None else "the document"


def parse_codes(codes_el: etree._Element, warnings: list[str], seen: set[str] | None = None) -> list[PCode]:
    """The <Code> tree, parents first. A guid used twice is refused: the tree and the CodeRefs
    would be ambiguous."""
    out: list[PCode] = []
    seen = set() if seen is None else seen
    stack: list[tuple[etree._Element, str | None]] = [(c, None) for c in reversed(_kids(codes_el, "Code"))]
    while stack:  # depth-first without recursion: a deeply nested file cannot hit the stack limit
        c, parent = stack.pop()
        guid = norm_guid(c.get("guid"))
        name = (c.get("name") or "").strip() or "unnamed code"
        if not guid:
            raise ExchangeError(f"Code {c.get('name')!r} has no guid")
        if guid in seen:
            raise ExchangeError(f"Code {name!r}: guid {c.get('guid')} is used by another code too")
        seen.add(guid)
        out.append(PCode(guid, name, parent, (_kid_text(c, "Description") or "").strip(), c.get("color")))
        stack.extend((k, guid) for k in reversed(_kids(c, "Code")))
    return out


def code_names(codes: list[PCode]) -> tuple[dict[str, str], list[str]]:
    """The one naming rule for codes read from a REFI-QDA file (.qdpx project or .qdc codebook),
    as {guid: name} and one warning line per renamed code.

    REFI-QDA places codes by nesting and GUID, so other tools allow what thematic cannot: two codes
    of the same name under different parents ("Other" under each question) and '>' in a name
    (thematic's path separator). Such a file is imported rather than refused, with each code
    renamed visibly: '>' becomes '-', a repeated name gets its parent's name, then a number. The
    rule is deterministic (a re-import merges into the same names) and the code keeps the file's
    GUID, so an export maps back to the original code in the other tool."""
    names: dict[str, str] = {}
    taken: set[str] = set()
    warnings: list[str] = []
    for c in codes:
        base = c.name.replace(">", "-")
        if name_key(base) in taken and c.parent:
            base = f"{base} ({names.get(c.parent, 'parent')})"
        name, i = base, 2
        while name_key(name) in taken:
            name, i = f"{base} ({i})", i + 1
        taken.add(name_key(name))
        names[c.guid] = name
        if name != c.name:
            why = "'>' separates code paths" if ">" in c.name else "code names must be unique"
            warnings.append(f"code {c.name!r} renamed {name!r} ({why})")
    return names, warnings


def _value(vv: etree._Element, variables: dict[str, str]) -> tuple[str, str] | None:
    ref = _kids(vv, "VariableRef")
    if not ref:
        return None
    name = variables.get(norm_guid(ref[0].get("targetGUID")))
    vals = [c for c in _kids(vv) if _ln(c) != "VariableRef"]
    if name is None or not vals:
        return None
    return name, (vals[0].text or "").strip()


def parse_qdpx(path: str | Path, offsets: OffsetMode = "chars", limits: ZipLimits | None = None) -> Parsed:
    path = Path(path)
    with _Archive(path, limits) as archive:
        return _parse_project(path, archive, offsets)


def _parse_project(path: Path, archive: _Archive, offsets: OffsetMode) -> Parsed:
    warnings: list[str] = []
    root = parse_xml(archive.qde(), f"{path.name}/project.qde", warnings)
    if _ln(root) != "Project":
        raise ExchangeError(f"{path.name}: project.qde has root <{_ln(root)}>, expected <Project>")
    p = Parsed(name=root.get("name") or path.stem, origin=root.get("origin") or "", warnings=warnings)
    for el in _kids(root):
        if _ln(el) not in _KNOWN_TOP:
            p.warnings.append(f"unknown element <{_ln(el)}> ignored")
    for u in (u for users in _kids(root, "Users") for u in _kids(users, "User")):
        name = (u.get("name") or u.get("id") or f"user {norm_guid(u.get('guid'))[:8]}").strip()
        p.users[norm_guid(u.get("guid"))] = name
        p.user_guids.setdefault(name, u.get("guid") or "")
    seen: set[str] = set()
    for book in _kids(root, "CodeBook"):
        for codes in _kids(book, "Codes"):
            p.codes += parse_codes(codes, p.warnings, seen)
    variables = {norm_guid(v.get("guid")): v.get("name") or "variable"
                 for vs in _kids(root, "Variables") for v in _kids(vs, "Variable")}
    known_codes = {c.guid for c in p.codes}
    for sources in _kids(root, "Sources"):
        for el in _kids(sources):
            _parse_source(el, archive, p, offsets, known_codes, variables)
    _apply_cases(root, p, variables)
    _parse_notes(root, archive, p)
    _read_provenance(p)
    for sets in _kids(root, "Sets"):
        for st in _kids(sets, "Set"):
            _parse_set(st, p, known_codes)
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


def _read_provenance(p: Parsed) -> None:
    """Notes in thematic's provenance form are data about a coding or a theme, not memos: an AI
    origin note referenced from codings becomes those codings' provenance; a theme record is kept
    for its Set. An AI origin note that no coding references stays a memo (its text is not lost)."""
    for guid, note in list(p.notes.items()):
        block = parse_block(note.text)
        if block is None:
            continue
        marker, fields = block
        if marker == THEME_MARKER:
            p.theme_records[guid] = fields
            p.provenance_notes.add(guid)
            del p.notes[guid]
            continue
        codings = [g for kind, g in note.targets if kind == "coding"]
        if marker == AI_MARKER and codings:
            for key in codings:
                p.provenance[key] = fields
            p.provenance_notes.add(guid)
            del p.notes[guid]
        elif marker == AI_MARKER:
            p.warnings.append(f"note {note.name!r}: AI provenance of no coding in the file; kept as a memo")


def _parse_set(st: etree._Element, p: Parsed, known_codes: set[str]) -> None:
    """A Set of sources -> a source set; a Set with codes (or thematic's theme record) -> a theme,
    its other MemberNotes its memos; the "AI-assisted codings" Set of provenance notes is already
    read through the notes (nothing to create)."""
    guid, name = norm_guid(st.get("guid")), st.get("name") or "set"
    desc = _kid_text(st, "Description") or ""
    notes = [norm_guid(m.get("targetGUID")) for m in _kids(st, "MemberNote")]
    codes = [norm_guid(m.get("targetGUID")) for m in _kids(st, "MemberCode")]
    sources = [norm_guid(m.get("targetGUID")) for m in _kids(st, "MemberSource")]
    if name == AI_SET_NAME and not codes and not sources and all(n in p.provenance_notes for n in notes):
        return
    records = [p.theme_records[n] for n in notes if n in p.theme_records]
    if codes or records:
        unknown = [c for c in codes if c not in known_codes]
        if unknown:
            p.warnings.append(f"Set {name!r}: {len(unknown)} member code(s) not in the codebook; left out")
        p.themes.append(PTheme(guid, name, desc.strip(), [c for c in codes if c in known_codes],
                               records[0] if records else {}))
        for n in notes:
            if n in p.notes:
                p.notes[n].targets.append(("theme", guid))
            elif n not in p.theme_records:
                p.warnings.append(f"Set {name!r}: member note {n} is not in the file; ignored")
        if sources:
            p.warnings.append(f"Set {name!r}: {len(sources)} source member(s) of a code set not imported")
        return
    other = len([n for n in notes if n not in p.provenance_notes])
    if other:
        p.warnings.append(f"Set {name!r}: {other} note members not imported (source sets only)")
    p.sets.append((st.get("guid") or "", name, desc, sources))


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
