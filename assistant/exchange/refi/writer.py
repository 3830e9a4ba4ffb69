"""Write a parsed REFI-QDA project (see `importer.parse_qdpx`) into a new thematic project, and merge
`.qdc` codebooks. Kept apart from parsing so the parser stays pure and testable on its own."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from assistant.errors import ExchangeError
from assistant.exchange.refi.export import parse_criteria, rgb
from assistant.exchange.refi.importer import (
    ImportReport,
    Parsed,
    PNote,
    Progress,
    code_names,
    parse_qdpx,
    zip_limits,
)
from assistant.exchange.refi.offsets import OffsetMode
from assistant.exchange.refi.provenance import params_of, quotes_of, score_of
from assistant.models import SOURCE_KINDS, is_ai_coder
from assistant.settings import Settings

# --- writing into a new project ------------------------------------------------------------------


def import_qdpx(path: str | Path, into: str | Path, offsets: OffsetMode = "chars",
                settings: Settings | None = None, progress: Progress | None = None) -> ImportReport:
    """Create a new project at `into` holding the archive's users, codebook, text sources (with
    attributes and excerpts), codings, notes and source sets. The search index is not built here
    (`thematic index` or search builds it on first use)."""
    from assistant.project import DB_NAME, Project

    parsed = parse_qdpx(path, offsets, zip_limits((settings or Settings()).ingest))
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
        store.ensure_coder(name, "ai" if is_ai_coder(name) else "analyst", guid or None)
    code_ids = _write_codes(store, parsed, report)
    coding_ids: dict[str, int] = {}
    source_ids: dict[str, int] = {}
    taken: set[str] = set()
    n_codings = n_ai = 0
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
            store.ensure_coder(pc.coder, "ai" if is_ai_coder(pc.coder) else "analyst")
            excerpt_id = _best_excerpt(excerpts, pc.start, pc.end)
            prov = parsed.provenance.get(pc.guid)
            suggestion_id = None
            if prov is not None and excerpt_id is not None:
                suggestion_id = _suggestion_from(store, prov, int(src.id), excerpt_id, code_ids[pc.code],
                                                 ps.text, pc)
            elif prov is not None:
                report.warnings.append(f"coding {pc.guid} on {name!r}: AI provenance kept in the audit log only "
                                       "(no excerpt holds its span)")
            coding = store.add_coding(Coding(
                source_id=int(src.id), excerpt_id=excerpt_id,
                code_id=code_ids[pc.code], start=pc.start, end=pc.end, text=ps.text[pc.start:pc.end],
                coder=pc.coder, origin="suggestion" if suggestion_id else "import", suggestion_id=suggestion_id,
            ))
            if prov is not None:
                store.audit(project.analyst, "import.provenance", "coding", int(coding.id), suggestion_id=suggestion_id,
                            qdpx_coding=pc.guid, **{f"ai_{k}": v for k, v in prov.items() if k != "params"},
                            params=params_of(prov))
                n_ai += 1
            coding_ids[pc.guid] = int(coding.id)
            if _guid_ok(pc.guid):
                store.set_entity_guid("codings", coding.id, pc.guid)
            n_codings += 1
        if progress:
            progress(i + 1, len(parsed.sources))
    theme_ids = _write_themes(store, parsed, code_ids, report)
    targets = {"code": code_ids, "source": source_ids, "coding": coding_ids, "theme": theme_ids}
    n_memos = _write_notes(store, parsed, targets, code_ids, report)
    for guid, name, desc, members in parsed.sets:
        ids = [source_ids[m] for m in members if m in source_ids]
        set_id = store.add_source_set(name, ids, desc)
        if _guid_ok(guid):
            store.set_entity_guid("source_sets", set_id, guid)
    report.counts = {"users": len(parsed.user_guids), "codes": len(code_ids), "sources": len(source_ids),
                     "codings": n_codings, "memos": n_memos, "sets": len(parsed.sets), "themes": len(theme_ids),
                     "ai_codings": n_ai}
    return report


def _suggestion_from(store, prov: dict[str, str], source_id: int, excerpt_id: int, code_id: int, text: str,
                     pc) -> int:
    """The AI origin of an imported coding as the suggestion record it came from (decided, so it
    never enters the review queue): engine, model, prompt version, score, run and parameters, with
    the suggestion's id in the exporting project under `params["imported_from"]`."""
    from assistant.models import Suggestion

    params = params_of(prov)
    params.setdefault("imported_from", {  # the first project's suggestion, kept over later round trips
        "suggestion": prov.get("suggestion", ""), "decided_by": prov.get("decided_by", ""),
        "prompt": prov.get("prompt", ""), "prompt_sha256": prov.get("prompt_sha256", "")})
    if prov.get("prompt_sha256") and "prompt_sha256" not in params:
        params["prompt_sha256"] = prov["prompt_sha256"]
    status = "edited" if prov.get("decision") == "edit" else "accepted"
    saved = store.add_suggestions([Suggestion(
        excerpt_id=excerpt_id, source_id=source_id, code_id=code_id, score=score_of(prov),
        evidence_start=pc.start, evidence_end=pc.end, evidence_text=text[pc.start:pc.end],
        engine=prov.get("engine") or "unknown", model=prov.get("model", ""),
        prompt_version=prov.get("prompt_version", ""), params=params, run_id=prov.get("run") or None,
        status=status, **({"created_at": pc.created} if pc.created else {}),
    )])
    return int(saved[0].id)


def _theme_quotes(pt, sources: dict, report: ImportReport) -> list:
    """The theme record's quotes, each re-pointed at the imported source of its name and kept only
    if it is still verbatim there."""
    from pydantic import ValidationError

    from assistant.models import Quote

    out = []
    for raw in quotes_of(pt.record):
        try:
            q = Quote.model_validate(raw)
        except ValidationError:
            report.warnings.append(f"theme {pt.name!r}: a quote in its record is malformed; left out")
            continue
        src = sources.get(q.source_name)
        if src is None or src.text[q.start:q.end] != q.text:
            report.warnings.append(f"theme {pt.name!r}: quote from {q.source_name!r} is not verbatim in the "
                                   "imported source; left out")
            continue
        out.append(q.model_copy(update={"source_id": int(src.id), "excerpt_id": None}))
    return out


def _write_themes(store, parsed: Parsed, code_ids: dict[str, int], report: ImportReport) -> dict[str, int]:
    """Sets of codes become themes (summary = the Set's Description); thematic's theme record
    restores status, the summarising engine and the chosen quotes."""
    from assistant.models import Theme

    out: dict[str, int] = {}
    sources = {s.name: s for s in store.list_sources(with_text=True)} if any(pt.record for pt in parsed.themes) else {}
    for pt in parsed.themes:
        rec = pt.record
        extra = {k: rec[k] for k in ("engine", "model", "prompt_version") if rec.get(k)}
        if rec.get("status") in ("draft", "accepted", "rejected"):
            extra["status"] = rec["status"]
        if rec.get("summary_kind") in ("extractive", "llm", "analyst"):
            extra["summary_kind"] = rec["summary_kind"]
        theme = store.add_theme(Theme(name=pt.name, summary=pt.summary, quotes=_theme_quotes(pt, sources, report),
                                      code_ids=[code_ids[g] for g in pt.codes if g in code_ids], **extra))
        out[pt.guid] = int(theme.id)
    return out


def _guid_ok(guid: str) -> bool:
    from assistant.exchange.refi.guids import is_guid

    return is_guid(guid)


def _write_codes(store, parsed: Parsed, report: ImportReport) -> dict[str, int]:
    from assistant.models import Code

    ids: dict[str, int] = {}
    names, renamed = code_names(parsed.codes)  # the rule `.qdc` imports use too
    report.warnings += renamed
    for c in parsed.codes:
        name = names[c.guid]
        colour = rgb(c.colour)
        if c.colour and colour is None:
            report.warnings.append(f"code {name!r}: colour {c.colour!r} is not a #RRGGBB colour; left out")
        code = store.add_code(Code(name=name, parent_id=ids.get(c.parent) if c.parent else None,
                                   definition=c.definition, **({"colour": colour} if colour else {})))
        ids[c.guid] = int(code.id)
        if _guid_ok(c.guid):
            store.set_entity_guid("codes", code.id, c.guid)
    return ids


def _excerpts(project, src, kind: str | None) -> list:
    """Cut the imported text into excerpts exactly as ingest does (`assistant.corpus.excerpting`),
    so search, suggestions and agreement work on imported sources; the kind comes from a `kind`
    variable or, as in ingest, the transcript's shape."""
    from assistant.corpus.excerpting import (
        excerpt_records,
        excerpt_spans,
        guess_kind,
        interviewer_names,
    )

    spans = excerpt_spans(src.text, interviewer_names(project.settings.ingest.interviewer, src.attributes),
                          project.settings.chunking, name=src.name)
    if kind not in SOURCE_KINDS:
        kind = guess_kind(spans)
    project.store.update_source_attributes(int(src.id), src.attributes, kind)
    return project.store.add_excerpts(excerpt_records(src, spans))


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
        memo = None  # one memo per note: written on its first target, linked to the others
        for kind, target in dict.fromkeys(places):
            if kind != "project" and target is None:
                report.warnings.append(f"note {note.name!r}: its {kind} was not imported; kept as a project memo")
                kind = "project"
            if memo is not None:
                if (kind, target) != (memo.target_type, memo.target_id):
                    store.add_memo_link(int(memo.id), kind, target, memo.created_at)
                continue
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
    project by code name; new codes keep the file's GUIDs. The same reader and merge as `thematic
    codebook import x.qdc` (`codebook_files.import_codebook`): one naming rule, one refusal."""
    from assistant.coding.codebook import import_specs
    from assistant.exchange.refi.qdc import read_qdc

    specs, warnings = read_qdc(path, zip_limits(project.settings.ingest))
    result = import_specs(project, specs, origin=str(path))
    return ImportReport(project=str(project.folder), counts={
        "added": len(result.added), "updated": len(result.updated), "unchanged": len(result.unchanged)},
        warnings=warnings)
