"""Write a parsed REFI-QDA project (see `importer.parse_qdpx`) into a new thematic project, and merge
`.qdc` codebooks. Kept apart from parsing so the parser stays pure and testable on its own."""

from __future__ import annotations

import hashlib
import shutil
import zipfile
from pathlib import Path

from assistant.errors import ExchangeError
from assistant.exchange.refi.export import parse_criteria, split_description
from assistant.exchange.refi.importer import (
    ImportReport,
    Parsed,
    PNote,
    Progress,
    _Archive,
    _kids,
    _ln,
    parse_codes,
    parse_qdpx,
    parse_xml,
)
from assistant.exchange.refi.offsets import OffsetMode
from assistant.models import SOURCE_KINDS
from assistant.settings import Settings

# --- writing into a new project ------------------------------------------------------------------


def import_qdpx(path: str | Path, into: str | Path, offsets: OffsetMode = "chars",
                settings: Settings | None = None, progress: Progress | None = None) -> ImportReport:
    """Create a new project at `into` holding the archive's users, codebook, text sources (with
    attributes and excerpts), codings, notes and source sets. The search index is not built here
    (`thematic index` or search builds it on first use)."""
    from assistant.project import DB_NAME, Project

    parsed = parse_qdpx(path, offsets)
    into = Path(into).expanduser()
    if (into / DB_NAME).exists():
        raise ExchangeError(f"{into} is already a thematic project; import into a new folder")
    existed = into.exists()
    project = Project.init(into, settings)
    try:
        with project.store.transaction():
            report = _write(project, parsed, progress)
            report.offsets = offsets
            project.store.audit(project.analyst, "import.qdpx", "project", None, path=str(path),
                                origin=parsed.origin, offsets=offsets, counts=report.counts,
                                warnings=len(report.warnings))
    except BaseException:
        project.close()
        _remove_new_project(Path(project.folder), existed)
        raise
    project.close()
    return report


def _remove_new_project(folder: Path, existed: bool) -> None:
    """Undo Project.init after a failed import: only what init created is removed."""
    if not existed:
        shutil.rmtree(folder, ignore_errors=True)
        return
    for name in ("thematic.db", "thematic.db-wal", "thematic.db-shm", "settings.json"):
        (folder / name).unlink(missing_ok=True)


def _unique(name: str, taken: set[str]) -> str:
    out, i = name, 2
    while out.casefold() in taken:
        out, i = f"{name} ({i})", i + 1
    taken.add(out.casefold())
    return out


def _write(project, parsed: Parsed, progress: Progress | None) -> ImportReport:
    from assistant.models import Coding, Source

    store = project.store
    report = ImportReport(project=str(project.folder), origin=parsed.origin, warnings=list(parsed.warnings))
    for name, guid in parsed.user_guids.items():
        store.ensure_coder(name, "ai" if name.startswith("ai:") else "analyst", guid or None)
    code_ids = _write_codes(store, parsed, report)
    coding_ids: dict[str, int] = {}
    source_ids: dict[str, int] = {}
    taken: set[str] = set()
    n_codings = 0
    for i, ps in enumerate(parsed.sources):
        attrs = dict(ps.attributes)
        kind = attrs.pop("kind", None)
        name = _unique(ps.name, taken)
        if name != ps.name:
            report.warnings.append(f"two sources named {ps.name!r}; the second is {name!r}")
        src = store.add_source(Source(
            name=name, path=f"qdpx:{ps.guid}", kind="document", text=ps.text, attributes=attrs,
            content_hash=hashlib.sha256(ps.text.encode("utf-8")).hexdigest(), reader="refi-qda", format="txt",
        ))
        excerpts = _excerpts(project, src, kind)
        source_ids[ps.guid] = int(src.id)
        for pc in ps.codings:
            store.ensure_coder(pc.coder, "ai" if pc.coder.startswith("ai:") else "analyst")
            coding = store.add_coding(Coding(
                source_id=int(src.id), excerpt_id=_best_excerpt(excerpts, pc.start, pc.end),
                code_id=code_ids[pc.code], start=pc.start, end=pc.end, text=ps.text[pc.start:pc.end],
                coder=pc.coder, origin="import",
            ))
            coding_ids[pc.guid] = int(coding.id)
            if _guid_ok(pc.guid):
                store.set_entity_guid("codings", coding.id, pc.guid)
            n_codings += 1
        if progress:
            progress(i + 1, len(parsed.sources))
    targets = {"code": code_ids, "source": source_ids, "coding": coding_ids}
    n_memos = _write_notes(store, parsed, targets, code_ids, report)
    for guid, name, desc, members in parsed.sets:
        ids = [source_ids[m] for m in members if m in source_ids]
        set_id = store.add_source_set(name, ids, desc)
        if _guid_ok(guid):
            store.set_entity_guid("source_sets", set_id, guid)
    report.counts = {"users": len(parsed.user_guids), "codes": len(code_ids), "sources": len(source_ids),
                     "codings": n_codings, "memos": n_memos, "sets": len(parsed.sets)}
    return report


def _guid_ok(guid: str) -> bool:
    from assistant.exchange.refi.guids import is_guid

    return is_guid(guid)


def _write_codes(store, parsed: Parsed, report: ImportReport) -> dict[str, int]:
    from assistant.models import Code

    ids: dict[str, int] = {}
    taken: set[str] = set()
    names = {c.guid: c.name for c in parsed.codes}
    for c in parsed.codes:
        base = c.name.replace(">", "-")
        if base.casefold() in taken and c.parent:
            base = f"{base} ({names.get(c.parent, 'parent')})"
        name = _unique(base, taken)
        if name != c.name:
            report.warnings.append(f"code {c.name!r} renamed {name!r} (code names must be unique and without '>')")
        colour = _colour(c.colour)
        code = store.add_code(Code(name=name, parent_id=ids.get(c.parent) if c.parent else None,
                                   definition=c.definition, **({"colour": colour} if colour else {})))
        ids[c.guid] = int(code.id)
        if _guid_ok(c.guid):
            store.set_entity_guid("codes", code.id, c.guid)
    return ids


def _colour(value: str | None) -> str | None:
    from assistant.exchange.refi.export import rgb

    c = rgb(value)
    if c and len(c) == 4:
        c = "#" + "".join(ch * 2 for ch in c[1:])
    return c


def _excerpts(project, src, kind: str | None) -> list:
    """Cut the imported text into excerpts like ingest does, so search, suggestions and agreement
    work on imported sources; the kind comes from a `kind` variable or the transcript shape."""
    from assistant.models import Excerpt
    from index.chunking import ChunkSettings, chunk
    from index.types import Document

    cs = project.settings.chunking
    spans = chunk(Document(name=src.name, text=src.text), list(project.settings.ingest.interviewer),
                  ChunkSettings(target_chars=cs.target_chars, max_chars=cs.max_chars, min_chars=cs.min_chars))
    if kind not in SOURCE_KINDS:
        kind = "interview" if len({s.speaker for s in spans if s.speaker}) >= 2 else "document"
    project.store.update_source_attributes(int(src.id), src.attributes, kind)
    return project.store.add_excerpts([
        Excerpt(source_id=int(src.id), ordinal=i, start=s.start, end=s.end, text=src.text[s.start:s.end],
                speaker=s.speaker, is_interviewer=s.is_interviewer, page=s.page, time=s.time,
                context_start=s.context_start, context_end=s.context_end)
        for i, s in enumerate(spans)
    ])


def _best_excerpt(excerpts: list, start: int, end: int) -> int | None:
    best, best_overlap = None, 0
    for e in excerpts:
        overlap = min(end, e.end) - max(start, e.start)
        if overlap > best_overlap:
            best, best_overlap = e.id, overlap
    return best


def _write_notes(store, parsed: Parsed, targets: dict[str, dict[str, int]], code_ids: dict[str, int],
                 report: ImportReport) -> int:
    """Notes become memos on what referenced them; a thematic criteria note goes back into the
    code's include/exclude/examples."""
    from assistant.exchange.refi.export import CRITERIA_PREFIX
    from assistant.models import Memo

    n, used = 0, set()
    for note in parsed.notes.values():
        places = [(k, targets[k].get(g)) for k, g in note.targets if k in targets] or [("project", None)]
        places += [("project", None) for k, _ in note.targets if k == "project" and len(note.targets) > 1]
        if note.name.startswith(CRITERIA_PREFIX) and places[0][0] == "code" and places[0][1]:
            _criteria_into_code(store, int(places[0][1]), note.text)
            continue
        for kind, target in dict.fromkeys(places):
            if kind != "project" and target is None:
                report.warnings.append(f"note {note.name!r}: its {kind} was not imported; kept as a project memo")
                kind = "project"
            memo = store.add_memo(Memo(target_type=kind, target_id=target, text=_note_text(note),
                                       author=note.author or "import"))
            if _guid_ok(note.guid) and note.guid not in used:
                store.set_entity_guid("memos", memo.id, note.guid)
                used.add(note.guid)
            n += 1
    return n


def _note_text(note: PNote) -> str:
    """Keep a note's name unless it is just the start of its text (as our own exports write)."""
    head = note.name.rstrip("…").strip()
    if not head or head.startswith("[on ") or " ".join(note.text.split()).startswith(head):
        return note.text or note.name
    return f"{note.name}\n\n{note.text}" if note.text else note.name


def _criteria_into_code(store, code_id: int, text: str) -> None:
    """A "Criteria: <code>" note back into the code, through the one criteria parser (multi-line
    values and examples with blank lines survive)."""
    crit = parse_criteria(text)
    if crit is None:
        return
    code = store.get_code(code_id)
    store.update_code(code.model_copy(update=crit))


def import_qdc(project, path: str | Path) -> ImportReport:
    """Merge a codebook-only `.qdc` (urn:QDA-XML:codebook:1.0, or a .qdpx's CodeBook) into the
    project by code name, like a codebook CSV/YAML import; new codes keep the file's GUIDs."""
    from assistant.coding.codebook import CodeSpec, import_specs

    path = Path(path)
    data = _Archive(path).qde() if zipfile.is_zipfile(path) else path.read_bytes()
    root = parse_xml(data, path.name)
    books = [root] if _ln(root) == "CodeBook" else _kids(root, "CodeBook")
    warnings: list[str] = []
    codes = [c for b in books for cs in _kids(b, "Codes") for c in parse_codes(cs, warnings)]
    if not codes:
        raise ExchangeError(f"{path.name}: no <CodeBook><Codes> found")
    names: dict[str, str] = {}
    taken: set[str] = set()
    specs = []
    for c in codes:
        base = c.name.replace(">", "-")
        if base.casefold() in taken and c.parent:
            base = f"{base} ({names.get(c.parent, 'parent')})"
        names[c.guid] = _unique(base, taken)
        if names[c.guid] != c.name:
            warnings.append(f"code {c.name!r} renamed {names[c.guid]!r}")
        specs.append(CodeSpec(name=names[c.guid], parent=names.get(c.parent) if c.parent else None,
                              **split_description(c.definition), colour=_colour(c.colour), guid=c.guid,
                              row=f"Code {c.guid}"))
    with project.store.transaction():
        result = import_specs(project, specs, origin=str(path))
        by_name = {c.name.casefold(): c for c in project.store.list_codes()}
        for spec in specs:
            if spec.name in result.added and _guid_ok(spec.guid or ""):
                project.store.set_entity_guid("codes", by_name[spec.name.casefold()].id, spec.guid)
    return ImportReport(project=str(project.folder), counts={
        "added": len(result.added), "updated": len(result.updated), "unchanged": len(result.unchanged)},
        warnings=warnings)
