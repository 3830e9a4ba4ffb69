"""Ingest: files -> canonical source texts -> excerpts in the store, incrementally.

Each file is its own unit of work: a file that fails is reported with its name and problem and the
rest of the batch goes on; a file that succeeds is written in one transaction, so the store never
holds half a source. Re-ingesting an unchanged file does nothing. A changed file replaces the old
version, and the analyst's codings on it are carried over where their words can still be found
(re-anchored by `verbatim.locate`); the ones that cannot be are removed and *reported*, never
silently dropped."""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.errors import IngestError
from assistant.models import SOURCE_KINDS, Excerpt, Source
from assistant.project import Project
from assistant.verbatim import locate
from index.chunking import ChunkSettings, chunk
from index.errors import ReadError
from index.readers import ReadOptions, read_path, supported_suffixes
from index.text import decode_bytes
from index.types import Document, ExcerptSpan

Progress = Callable[[int, int], None]
META_FILE_COLUMN = ("file", "filename", "path", "source")
TABULAR = {".csv", ".xlsx"}


@dataclass
class FileResult:
    path: str
    status: str  # added | updated | unchanged | attributes | failed
    sources: list[str] = field(default_factory=list)
    excerpts: int = 0
    error: str | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class IngestReport:
    results: list[FileResult] = field(default_factory=list)
    index: dict[str, int] | None = None

    def count(self, status: str) -> int:
        return sum(1 for r in self.results if r.status == status)

    @property
    def failed(self) -> list[FileResult]:
        return [r for r in self.results if r.status == "failed"]

    @property
    def ok(self) -> bool:
        return not self.failed


def read_metadata(path: str | Path) -> dict[str, dict[str, str]]:
    """Sidecar `metadata.csv`: one row per file, keyed by its file name; every other column is an
    attribute (kind, participant, organisation, sector, date, interviewer, anything)."""
    path = Path(path)
    try:
        text = decode_bytes(path.read_bytes(), path)
    except OSError as exc:
        raise IngestError(f"{path}: cannot read metadata ({exc.strerror or exc})") from exc
    except ReadError as exc:
        raise IngestError(str(exc)) from exc
    reader = csv.DictReader(io.StringIO(text))
    columns = [c.strip() for c in reader.fieldnames or []]
    key = next((c for c in columns if c.lower() in META_FILE_COLUMN), None)
    if key is None:
        raise IngestError(
            f"{path}: metadata needs a 'file' column naming each file; columns are: {', '.join(columns) or '(none)'}"
        )
    rows: dict[str, dict[str, str]] = {}
    for n, row in enumerate(reader, start=2):
        row = {(k or "").strip(): (v or "").strip() for k, v in row.items()}
        name = Path(row.pop(key, "")).name
        if not name:
            raise IngestError(f"{path}, row {n}: empty '{key}' value")
        rows[name] = {k: v for k, v in row.items() if k and v}
    return rows


def expand_paths(paths: Iterable[str | Path]) -> list[Path]:
    """Folders are walked for supported files; hidden files and the metadata sidecar are skipped.
    A path that does not exist is kept so that it is reported, not ignored."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                if f.is_file() and f.suffix.lower() in supported_suffixes() and not _skip(f):
                    out.append(f)
        else:
            out.append(p)
    return out


def _skip(path: Path) -> bool:
    return any(part.startswith(".") for part in path.parts[-1:]) or path.name.lower() == "metadata.csv"


def ingest_paths(
    project: Project,
    paths: Iterable[str | Path],
    *,
    kind: str | None = None,
    meta: str | Path | dict[str, dict[str, str]] | None = None,
    attributes: dict[str, str] | None = None,
    read_options: ReadOptions | None = None,
    progress: Progress | None = None,
    index: bool = True,
    index_progress: Progress | None = None,
) -> IngestReport:
    if kind is not None and kind not in SOURCE_KINDS:
        raise IngestError(f"unknown kind {kind!r}; choose from {', '.join(SOURCE_KINDS)}")
    metadata = read_metadata(meta) if isinstance(meta, (str, Path)) else (meta or {})
    options = read_options or ReadOptions(max_file_mb=project.settings.ingest.max_file_mb)
    files = expand_paths(paths)
    report = IngestReport()
    for i, path in enumerate(files):
        row = {**metadata.get(path.name, {}), **(attributes or {})}
        report.results.append(_ingest_file(project, path, kind, row, options))
        if progress:
            progress(i + 1, len(files))
    if index and any(r.status in ("added", "updated", "attributes") for r in report.results):
        from assistant.corpus.search import sync_index

        sync = sync_index(project, progress=index_progress)
        report.index = {"added": sync.added, "removed": sync.removed, "changed": sync.changed,
                        "embedded": sync.embedded}
    return report


def _ingest_file(project: Project, path: Path, kind: str | None, row: dict[str, str], options: ReadOptions) -> FileResult:
    try:
        documents = read_path(path, options)
    except ReadError as exc:
        return FileResult(str(path), "failed", error=str(exc))
    except Exception as exc:  # a reader bug must not stop the batch; name the file
        return FileResult(str(path), "failed", error=f"{path}: unexpected error while reading ({type(exc).__name__}: {exc})")
    result = FileResult(str(path), "unchanged")
    try:
        with project.store.transaction():
            for doc in documents:
                status, n, notes = _ingest_document(project, path, doc, kind, row)
                result.sources.append(_source_name(path, doc))
                result.excerpts += n
                result.notes += notes
                result.status = _merge_status(result.status, status)
    except IngestError as exc:  # the transaction rolled back: nothing of this file was written
        return FileResult(str(path), "failed", error=str(exc))
    except Exception as exc:  # likewise rolled back; name the file rather than stop the batch
        return FileResult(str(path), "failed", error=f"{path}: could not be stored ({type(exc).__name__}: {exc})")
    return result


def _merge_status(a: str, b: str) -> str:
    order = ["unchanged", "attributes", "updated", "added"]
    return max(a, b, key=order.index)


def _source_name(path: Path, doc: Document) -> str:
    """File name with its suffix (P1.txt and P1.pdf are different sources); tabular rows get
    `#<id>` so each respondent is its own source."""
    if "#" in doc.name:
        return f"{path.name}#{doc.name.split('#', 1)[1]}"
    return path.name


def _attributes(doc: Document, row: dict[str, str]) -> tuple[str | None, dict[str, str]]:
    attrs = {**doc.attributes, **row}
    return attrs.pop("kind", None), attrs


def _interviewers(project: Project, attrs: dict[str, str]) -> list[str]:
    names = list(project.settings.ingest.interviewer)
    names += [n.strip() for n in attrs.get("interviewer", "").split(";") if n.strip()]
    return names


def _ingest_document(
    project: Project, path: Path, doc: Document, kind: str | None, row: dict[str, str]
) -> tuple[str, int, list[str]]:
    store, name = project.store, _source_name(path, doc)
    row_kind, attrs = _attributes(doc, row)
    old = store.find_source(name)
    content_hash = hashlib.sha256(doc.text.encode("utf-8")).hexdigest()
    if old is not None:  # attributes given before are kept unless given again: nothing is lost
        merged = {**old.attributes, **attrs}
        # a new interviewer name changes which turns are questions, so the excerpts are rebuilt
        same_turns = merged.get("interviewer") == old.attributes.get("interviewer")
        attrs = merged
        if old.content_hash == content_hash and same_turns:  # decided before chunking: reruns are cheap
            final_kind = kind or row_kind or old.kind
            _check_kind(path, final_kind)
            if old.attributes == attrs and old.kind == final_kind:
                return "unchanged", 0, []
            store.update_source_attributes(int(old.id), attrs, final_kind)  # type: ignore[arg-type]
            store.audit(project.analyst, "update_attributes", "source", old.id, attributes=attrs, kind=final_kind)
            return "attributes", 0, []
    settings = project.settings.chunking
    spans = chunk(
        doc, _interviewers(project, attrs),
        ChunkSettings(target_chars=settings.target_chars, max_chars=settings.max_chars, min_chars=settings.min_chars),
    )
    final_kind = kind or row_kind or (old.kind if old else None) or _guess_kind(path, spans)
    _check_kind(path, final_kind)
    source = Source(
        name=name, path=str(path.resolve()), kind=final_kind, content_hash=content_hash, text=doc.text,
        attributes=attrs, pages=[(p.number, p.start, p.end) for p in doc.pages], reader=doc.reader,
        reader_version=doc.reader_version, format=doc.format or path.suffix.lower().lstrip("."),
    )
    if old is None:
        source = store.add_source(source)
        excerpts = _store_excerpts(project, source, spans)
        store.audit(project.analyst, "ingest", "source", source.id, path=source.path,
                    hash=content_hash, excerpts=len(excerpts), reader=doc.reader)
        return "added", len(excerpts), []
    notes = _replace_source(project, old, source, spans)
    return "updated", len(spans), notes


def _check_kind(path: Path, kind: str) -> None:
    if kind not in SOURCE_KINDS:
        raise IngestError(f"{path}: unknown kind {kind!r}; choose from {', '.join(SOURCE_KINDS)}")


def _guess_kind(path: Path, spans: list[ExcerptSpan]) -> str:
    if path.suffix.lower() in TABULAR:
        return "survey"
    speakers = {s.speaker for s in spans if s.speaker}
    return "interview" if len(speakers) >= 2 or path.suffix.lower() in (".vtt", ".srt") else "document"


def _store_excerpts(project: Project, source: Source, spans: list[ExcerptSpan]) -> list[Excerpt]:
    text = source.text
    return project.store.add_excerpts([
        Excerpt(
            source_id=int(source.id), ordinal=i, start=s.start, end=s.end, text=text[s.start:s.end],  # type: ignore[arg-type]
            speaker=s.speaker, is_interviewer=s.is_interviewer, page=s.page, time=s.time,
            context_start=s.context_start, context_end=s.context_end,
        )
        for i, s in enumerate(spans)
    ])


def _replace_source(project: Project, old: Source, new: Source, spans: list[ExcerptSpan]) -> list[str]:
    """Swap in a changed version of a source, carrying the analyst's codings across."""
    store = project.store
    dependents = store.source_dependents(int(old.id))  # type: ignore[arg-type]
    codings = store.list_codings(source_id=old.id)
    store.delete_excerpts(int(old.id))  # type: ignore[arg-type]  (suggestions on them go too)
    store.replace_source(int(old.id), new.model_copy(update={"version": old.version + 1}))  # type: ignore[arg-type]
    updated = new.model_copy(update={"id": old.id})
    excerpts = _store_excerpts(project, updated, spans)
    moved, lost = 0, []
    for c in codings:
        where = locate(new.text, c.text, min_ratio=1.0)
        if where is None:
            store.set_coding_status(int(c.id), "removed")  # type: ignore[arg-type]
            lost.append(c)
            continue
        ex = next((e for e in excerpts if e.start <= where.start < e.end), None)
        store.move_coding(int(c.id), where.start, where.end, where.text, ex.id if ex else None)  # type: ignore[arg-type]
        moved += 1
    notes = [f"{old.name}: new version {old.version + 1}; {dependents['excerpts']} old excerpts replaced by {len(excerpts)}"]
    if dependents["suggestions"]:
        notes.append(f"{old.name}: {dependents['suggestions']} suggestions on the old excerpts were removed")
    if moved:
        notes.append(f"{old.name}: {moved} codings re-anchored onto the new text")
    for c in lost:
        notes.append(f"{old.name}: coding {c.id} ({c.text[:50]!r}) no longer matches the text and was removed")
    store.audit(project.analyst, "reingest", "source", old.id, path=new.path, hash=new.content_hash,
                version=old.version + 1, excerpts=len(excerpts), codings_moved=moved,
                codings_removed=[c.id for c in lost], suggestions_removed=dependents["suggestions"])
    return notes


def remove_source(project: Project, ref: int | str) -> dict[str, Any]:
    """Remove a source and everything that hangs off it; the returned counts are what went."""
    source = project.store.get_source(ref)
    with project.store.transaction():
        counts = project.store.delete_source(int(source.id))  # type: ignore[arg-type]
        project.store.audit(project.analyst, "remove", "source", source.id, name=source.name, **counts)
    return {"source": source.name, **counts}
