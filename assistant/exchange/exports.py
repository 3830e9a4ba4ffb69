"""Flat exports for spreadsheets, R/Python and archiving: codings (CSV/JSON), the codebook with
counts per code and per source kind (CSV/JSON), and the audit log (JSON lines/CSV).

Every file is written to a temp file beside the target and moved into place with os.replace, so an
interrupted export never leaves a truncated file that looks complete. Coded text is exported
verbatim (`source.text[start:end]`), offsets are characters of the canonical text."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from assistant.models import SOURCE_KINDS, StoredExcerpt, is_ai_coder
from assistant.plain import csv_text
from assistant.project import Project
from index.storage import write_text_atomic

TableFormat = Literal["csv", "json"]
AuditFormat = Literal["jsonl", "csv"]




def _speaker(excerpts: list[StoredExcerpt], excerpt_id: int | None, start: int, end: int) -> StoredExcerpt | None:
    """The excerpt the coding was made on, else the one it overlaps most (for its speaker)."""
    best, best_overlap = None, 0
    for e in excerpts:
        if e.id == excerpt_id:
            return e
        overlap = min(end, e.end) - max(start, e.start)
        if overlap > best_overlap:
            best, best_overlap = e, overlap
    return best


# --- codings ---------------------------------------------------------------------------------------


def coding_rows(project: Project, coder: str | None = None) -> list[dict[str, Any]]:
    from assistant.coding.codebook import code_paths

    store = project.store
    codes = store.list_codes(include_inactive=True)
    names = {c.id: c.name for c in codes}
    paths = code_paths(codes)
    sources = {s.id: s for s in store.list_sources()}
    decisions = {d.suggestion_id: d.action for d in store.list_decisions() if d.suggestion_id is not None}
    by_source: dict[int, list[StoredExcerpt]] = {}
    rows = []
    for c in store.list_codings(coder=coder):
        src = sources[c.source_id]
        if c.source_id not in by_source:
            by_source[c.source_id] = store.list_excerpts(source_id=c.source_id)
        ex = _speaker(by_source[c.source_id], c.excerpt_id, c.start, c.end)
        rows.append({
            "coding_id": c.id, "source": src.name, "kind": src.kind, "attributes": dict(src.attributes),
            "excerpt_id": ex.id if ex else None, "speaker": ex.speaker if ex else None,
            "start": c.start, "end": c.end, "text": c.text, "code": names.get(c.code_id),
            "code_path": paths.get(c.code_id), "coder": c.coder, "origin": c.origin,
            "decision": decisions.get(c.suggestion_id) if c.suggestion_id else None,
            "suggestion_id": c.suggestion_id, "time": c.created_at,
        })
    return rows


CODING_COLUMNS = ["coding_id", "source", "kind", "speaker", "start", "end", "text", "code", "code_path",
                  "coder", "origin", "decision", "suggestion_id", "excerpt_id", "time"]


def export_codings(project: Project, path: str | Path, fmt: TableFormat = "csv", coder: str | None = None) -> int:
    """Source attributes become `attr:<name>` columns in CSV and an `attributes` object in JSON."""
    rows = coding_rows(project, coder)
    if fmt == "json":
        text = json.dumps(rows, ensure_ascii=False, indent=2)
    elif fmt == "csv":
        keys = sorted({k for r in rows for k in r["attributes"]})
        flat = [{**r, **{f"attr:{k}": r["attributes"].get(k, "") for k in keys}} for r in rows]
        text = csv_text(flat, CODING_COLUMNS[:3] + [f"attr:{k}" for k in keys] + CODING_COLUMNS[3:])
    else:
        raise ValueError(f"unknown format {fmt!r}; choose csv or json")
    write_text_atomic(path, text)
    project.store.audit(project.analyst, "export.codings", "project", None, path=str(path), format=fmt, rows=len(rows))
    return len(rows)


# --- codebook with counts ------------------------------------------------------------------------


def codebook_rows(project: Project) -> list[dict[str, Any]]:
    from assistant.coding.codebook import code_paths

    store = project.store
    codes = store.list_codes()
    paths = code_paths(codes)
    names = {c.id: c.name for c in codes}
    per_kind = store.code_counts()
    codings = store.list_codings()
    sources: dict[int, set[int]] = {}
    coders: dict[int, Counter] = {}
    for c in codings:
        sources.setdefault(c.code_id, set()).add(c.source_id)
        coders.setdefault(c.code_id, Counter())[c.coder] += 1
    kinds = sorted(set(SOURCE_KINDS) | {k for d in per_kind.values() for k in d})
    rows = []
    for c in codes:
        counts = per_kind.get(c.id, {})
        rows.append({
            "id": c.id, "code": c.name, "code_path": paths.get(c.id), "parent": names.get(c.parent_id),
            "definition": c.definition, "include": c.include, "exclude": c.exclude, "examples": c.examples,
            "colour": c.colour, "codings": sum(counts.values()),
            "sources": len(sources.get(c.id, ())),
            **{f"codings_{k}": counts.get(k, 0) for k in kinds},
            "by_coder": dict(coders.get(c.id, {})),
        })
    return rows


def export_codebook_counts(project: Project, path: str | Path, fmt: TableFormat = "csv") -> int:
    rows = codebook_rows(project)
    if fmt == "json":
        text = json.dumps(rows, ensure_ascii=False, indent=2)
    elif fmt == "csv":
        cols = list(rows[0].keys()) if rows else ["id", "code", "code_path", "parent", "definition", "codings"]
        text = csv_text(rows, cols)
    else:
        raise ValueError(f"unknown format {fmt!r}; choose csv or json")
    write_text_atomic(path, text)
    project.store.audit(project.analyst, "export.codebook", "project", None, path=str(path), format=fmt, codes=len(rows))
    return len(rows)


# --- audit log -----------------------------------------------------------------------------------


def export_audit(project: Project, path: str | Path, fmt: AuditFormat = "jsonl") -> int:
    """The whole append-only log, oldest first; `details` stays a JSON object (a JSON string in CSV)."""
    events = [e.model_dump(mode="json") for e in project.store.list_audit()]
    if fmt == "jsonl":
        text = "".join(json.dumps(e, ensure_ascii=False, sort_keys=True) + "\n" for e in events)
    elif fmt == "csv":
        text = csv_text(events, ["id", "time", "actor", "action", "entity_type", "entity_id", "details"])
    else:
        raise ValueError(f"unknown format {fmt!r}; choose jsonl or csv")
    write_text_atomic(path, text)
    return len(events)


# --- importing another coder's codings (JSON lines) ------------------------------------------------


class CodingsImport(BaseModel):
    coder: str
    added: int = 0
    exact: int = 0
    relocated: int = 0
    duplicates: int = 0
    problems: list[str] = Field(default_factory=list)  # "line N: why", for every segment not placed


def _find_source(sources: dict[str, Any], ref: str) -> Any:
    if ref in sources:
        return sources[ref]
    stem = {Path(name).stem: s for name, s in sources.items()}
    return stem.get(ref) or stem.get(Path(ref).stem)


def _read_lines(path: str | Path, max_mb: float) -> list[str]:
    """A JSON-lines file's lines: size checked before reading, the encoding detected as ingest
    does; a file that is not text is one line naming it, not a traceback."""
    from assistant.errors import ExchangeError
    from index.errors import ReadError
    from index.text import decode_bytes

    p = Path(path)
    if not p.is_file():
        raise ExchangeError(f"{p}: no such file")
    if p.stat().st_size > max_mb * 1024 * 1024:
        raise ExchangeError(f"{p}: file is {p.stat().st_size / 1024 / 1024:.1f} MB, over the limit of "
                            f"{max_mb:g} MB (set ingest.max_file_mb)")
    try:
        return decode_bytes(p.read_bytes(), p).removeprefix("\ufeff").splitlines()
    except ReadError as exc:
        raise ExchangeError(str(exc)) from None


def import_codings(project: Project, path: str | Path, coder: str, min_ratio: float = 0.9) -> CodingsImport:
    """Codings from another tool or coder, one JSON object a line: {doc|source, code_path|code,
    char_start, char_end, text}. Each segment is verified against the source text: kept where the
    offsets give exactly its text, otherwise re-anchored with `verbatim.locate` (near the given
    offsets first, then anywhere); a segment that cannot be located is reported, never guessed."""
    from assistant.coding.codebook import code_paths
    from assistant.models import Coding
    from assistant.verbatim import locate

    store = project.store
    sources = {s.name: s for s in store.list_sources(with_text=True)}
    codes = store.list_codes()
    by_path = {p.casefold(): cid for cid, p in code_paths(codes).items()}
    by_name = {c.name.casefold(): c.id for c in codes}
    existing = {(c.source_id, c.code_id, c.start, c.end) for c in store.list_codings(coder=coder)}
    report = CodingsImport(coder=coder)
    store.ensure_coder(coder, "ai" if is_ai_coder(coder) else "analyst")
    excerpts: dict[int, list[StoredExcerpt]] = {}
    lines = _read_lines(path, project.settings.ingest.max_file_mb)
    with store.transaction():
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                ref = str(row.get("doc") or row.get("source") or "")
                label = str(row.get("code_path") or row.get("code") or "")
                text = str(row.get("text") or "")
                start, end = row.get("char_start"), row.get("char_end")
            except (json.JSONDecodeError, AttributeError) as exc:
                report.problems.append(f"line {n}: not a JSON object ({exc})")
                continue
            src = _find_source(sources, ref)
            code_id = by_path.get(label.casefold()) or by_name.get(label.split(" > ")[-1].strip().casefold())
            if src is None or code_id is None:
                what = f"unknown source {ref!r}" if src is None else f"unknown code {label!r}"
                report.problems.append(f"line {n}: {what}")
                continue
            if isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(src.text) \
                    and src.text[start:end] == text:
                s, e, how = start, end, "exact"
            else:
                near = (max(0, start - 500), min(len(src.text), end + 500)) if isinstance(start, int) and isinstance(end, int) else None
                found = (locate(src.text, text, within=near, min_ratio=min_ratio) if near else None) \
                    or locate(src.text, text, min_ratio=min_ratio)
                if found is None:
                    report.problems.append(f"line {n}: text {text[:50]!r} not found in {src.name!r}")
                    continue
                s, e, how = found.start, found.end, "relocated"
            if (src.id, code_id, s, e) in existing:
                report.duplicates += 1
                continue
            existing.add((src.id, code_id, s, e))
            if src.id not in excerpts:
                excerpts[src.id] = store.list_excerpts(source_id=src.id)
            ex = _speaker(excerpts[src.id], None, s, e)
            store.add_coding(Coding(source_id=src.id, excerpt_id=ex.id if ex else None, code_id=code_id,
                                    start=s, end=e, text=src.text[s:e], coder=coder, origin="import"))
            report.added += 1
            setattr(report, how, getattr(report, how) + 1)
        store.audit(project.analyst, "import.codings", "project", None, path=str(path), coder=coder,
                    added=report.added, relocated=report.relocated, problems=len(report.problems))
    return report
