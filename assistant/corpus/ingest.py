"""Ingest: files -> canonical source texts -> excerpts in the store, incrementally.

Each file is its own unit of work: a file that fails is reported with its name and problem and the
rest of the batch goes on; a file that succeeds is written in one transaction, so the store never
holds half a source. Re-ingesting an unchanged file does nothing. A changed file replaces the old
version, which is kept; the analyst's codings are re-anchored by their words and the ones that
cannot be are kept as orphaned (`assistant.corpus.replace`), never removed.

`plan_ingest` answers "what would this do?" without writing anything: the same reading and the same
decisions as `ingest_paths`, so its plan is what the real run then does (for `--dry-run`, and for
the UI to ask before replacing a source that has codings)."""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.corpus.attributes import clean_attributes, set_attributes
from assistant.corpus.excerpting import (
    excerpt_records,
    excerpt_spans,
    guess_kind,
    interviewer_names,
)
from assistant.corpus.replace import (
    CodingChange,
    carried_codings,
    change_notes,
    codings_after,
    plan_changes,
    replace_source,
)
from assistant.errors import IngestError, ThematicError
from assistant.models import SOURCE_KINDS, Source, StoredCoding
from assistant.project import Project
from index.corpus_index import Notify
from index.errors import ReadError
from index.readers import ReadOptions, read_path, supported_suffixes
from index.readers.names import display_name, display_path, stored_path
from index.text import decode_bytes
from index.types import Document, ExcerptSpan

Progress = Callable[[int, int], None]
META_FILE_COLUMN = ("file", "filename", "path", "source")


@dataclass
class FileResult:
    path: str
    status: str  # added | updated | unchanged | attributes | failed
    sources: list[str] = field(default_factory=list)
    excerpts: int = 0
    error: str | None = None
    notes: list[str] = field(default_factory=list)
    codings: list[CodingChange] = field(default_factory=list)  # what happened to codings of changed sources


@dataclass
class IngestReport:
    results: list[FileResult] = field(default_factory=list)
    index: dict[str, int] | None = None
    index_error: str | None = None  # the files are stored, but the index could not be updated

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
        raise IngestError(f"{display_path(path)}: cannot read metadata ({exc.strerror or exc})") from exc
    except ReadError as exc:
        raise IngestError(str(exc)) from exc
    reader = csv.DictReader(io.StringIO(text))
    columns = [c.strip() for c in reader.fieldnames or []]
    key = next((c for c in columns if c.lower() in META_FILE_COLUMN), None)
    if key is None:
        raise IngestError(
            f"{display_path(path)}: metadata needs a 'file' column naming each file; columns are: {', '.join(columns) or '(none)'}"
        )
    rows: dict[str, dict[str, str]] = {}
    for n, row in enumerate(reader, start=2):
        row = {(k or "").strip(): (v or "").strip() for k, v in row.items()}
        name = Path(row.pop(key, "")).name
        if not name:
            raise IngestError(f"{display_path(path)}, row {n}: empty '{key}' value")
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
    index_notify: Notify | None = None,
) -> IngestReport:
    metadata, options, files = _setup(project, paths, kind, meta, read_options)
    report = IngestReport()
    for i, path in enumerate(files):
        row = {**metadata.get(display_name(path.name), {}), **(attributes or {})}
        report.results.append(_ingest_file(project, path, kind, row, options))
        if progress:
            progress(i + 1, len(files))
    if index:
        update_index(project, report, index_progress, index_notify)
    return report


def update_index(project: Project, report: IngestReport, index_progress: Progress | None = None,
                 index_notify: Notify | None = None) -> None:
    """Bring the index up to date after an ingest, recording the outcome on `report`. The files
    are stored whatever happens to the index, so a failure is said (`index_error`), never undone."""
    from assistant.corpus.search import ensure_index, sync_index

    try:
        if any(r.status in ("added", "updated", "attributes") for r in report.results):
            sync = sync_index(project, progress=index_progress, notify=index_notify)
        else:
            sync = ensure_index(project, index_progress, index_notify)
    except ThematicError as exc:
        report.index_error = str(exc)
    else:
        if sync is not None:
            report.index = {"added": sync.added, "removed": sync.removed, "changed": sync.changed,
                            "embedded": sync.embedded}


@dataclass
class SourcePlan:
    """What an ingest would do to one source: its status, and for a changed source with codings,
    where each coding would go (moved, moved fuzzily, orphaned)."""

    name: str
    status: str  # added | updated | unchanged | attributes
    source_id: int | None = None
    version: int = 1  # the version the source would have
    kind: str = ""
    excerpts: int = 0
    suggestions_removed: int = 0
    codings: list[CodingChange] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def outcomes(self) -> dict[str, int]:
        out = {"moved": 0, "moved-fuzzy": 0, "orphaned": 0}
        for ch in self.codings:
            out[ch.outcome] += 1
        return out


@dataclass
class FilePlan:
    path: str
    status: str  # added | updated | unchanged | attributes | failed
    sources: list[SourcePlan] = field(default_factory=list)
    error: str | None = None


@dataclass
class IngestPlan:
    """`plan_ingest`'s answer. `at_risk` lists the changed sources that carry codings: the ones an
    interface should ask about before replacing."""

    files: list[FilePlan] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for f in self.files if f.status == status)

    @property
    def sources(self) -> list[SourcePlan]:
        return [s for f in self.files for s in f.sources]

    @property
    def at_risk(self) -> list[SourcePlan]:
        return [s for s in self.sources if s.status == "updated" and s.codings]

    def outcomes(self) -> dict[str, int]:
        out = {"moved": 0, "moved-fuzzy": 0, "orphaned": 0}
        for s in self.sources:
            for k, n in s.outcomes().items():
                out[k] += n
        return out


def plan_ingest(
    project: Project,
    paths: Iterable[str | Path],
    *,
    kind: str | None = None,
    meta: str | Path | dict[str, dict[str, str]] | None = None,
    attributes: dict[str, str] | None = None,
    read_options: ReadOptions | None = None,
    progress: Progress | None = None,
) -> IngestPlan:
    """What `ingest_paths` with the same arguments would do, writing nothing (no store row, no
    audit row, no index). Files are read and decided exactly as the real run does, in order, so a
    file that changes a source a later file of the batch changes again is planned against it."""
    metadata, options, files = _setup(project, paths, kind, meta, read_options)
    state: dict[str, tuple[Source | None, list[StoredCoding]]] = {}  # what earlier files would leave
    plan = IngestPlan()
    for i, path in enumerate(files):
        row = {**metadata.get(display_name(path.name), {}), **(attributes or {})}
        documents = _read(path, options)
        if isinstance(documents, FileResult):
            plan.files.append(FilePlan(display_path(path), "failed", error=documents.error))
        else:
            file_plan, file_state = FilePlan(display_path(path), "unchanged"), dict(state)
            try:
                for doc in documents:
                    name = _source_name(path, doc)
                    old, codings = file_state[name] if name in file_state else _current(project, name)
                    work = _decide(project, path, doc, kind, row, old, codings)
                    file_plan.sources.append(work.plan())
                    file_plan.status = _merge_status(file_plan.status, work.status)
                    file_state[name] = work.after(codings)
            except IngestError as exc:
                file_plan = FilePlan(display_path(path), "failed", error=str(exc))
            except Exception as exc:  # as in the real run: name the file, go on with the batch
                file_plan = FilePlan(display_path(path), "failed", error=f"{display_path(path)}: could not be stored ({type(exc).__name__}: {exc})")
            else:
                state = file_state  # a failed file changes nothing, in the plan as in the store
            plan.files.append(file_plan)
        if progress:
            progress(i + 1, len(files))
    return plan


def _setup(project: Project, paths: Iterable[str | Path], kind: str | None,
           meta: str | Path | dict[str, dict[str, str]] | None,
           read_options: ReadOptions | None) -> tuple[dict[str, dict[str, str]], ReadOptions, list[Path]]:
    if kind is not None and kind not in SOURCE_KINDS:
        raise IngestError(f"unknown kind {kind!r}; choose from {', '.join(SOURCE_KINDS)}")
    metadata = read_metadata(meta) if isinstance(meta, (str, Path)) else (meta or {})
    ing = project.settings.ingest
    options = read_options or ReadOptions(max_file_mb=ing.max_file_mb, max_member_mb=ing.max_member_mb,
                                          max_unpacked_mb=ing.max_unpacked_mb, max_unpack_ratio=ing.max_unpack_ratio)
    return metadata, options, expand_paths(paths)


def _read(path: Path, options: ReadOptions) -> list[Document] | FileResult:
    try:
        return read_path(path, options)
    except ReadError as exc:
        return FileResult(display_path(path), "failed", error=str(exc))
    except Exception as exc:  # a reader bug must not stop the batch; name the file
        return FileResult(display_path(path), "failed", error=f"{display_path(path)}: unexpected error while reading ({type(exc).__name__}: {exc})")


def _current(project: Project, name: str) -> tuple[Source | None, list[StoredCoding]]:
    old = project.store.find_source(name)
    return old, (carried_codings(project, old.id) if old is not None else [])


def _ingest_file(project: Project, path: Path, kind: str | None, row: dict[str, str], options: ReadOptions) -> FileResult:
    documents = _read(path, options)
    if isinstance(documents, FileResult):
        return documents
    result = FileResult(display_path(path), "unchanged")
    try:
        with project.store.transaction():
            for doc in documents:
                old, codings = _current(project, _source_name(path, doc))
                work = _decide(project, path, doc, kind, row, old, codings)
                result.sources.append(work.name)
                result.excerpts += _apply(project, work)
                result.notes += work.notes
                result.codings += work.changes
                result.status = _merge_status(result.status, work.status)
    except IngestError as exc:  # the transaction rolled back: nothing of this file was written
        return FileResult(display_path(path), "failed", error=str(exc))
    except Exception as exc:  # likewise rolled back; name the file rather than stop the batch
        return FileResult(display_path(path), "failed", error=f"{display_path(path)}: could not be stored ({type(exc).__name__}: {exc})")
    return result


def _merge_status(a: str, b: str) -> str:
    order = ["unchanged", "attributes", "updated", "added"]
    return max(a, b, key=order.index)


def _source_name(path: Path, doc: Document) -> str:
    """File name with its suffix (P1.txt and P1.pdf are different sources); tabular rows get
    `#<id>` so each respondent is its own source."""
    name = display_name(path.name)  # a latin-1 file name is stored as text, not surrogates
    if "#" in doc.name:
        return f"{name}#{doc.name.split('#', 1)[1]}"
    return name


def _attributes(doc: Document, row: dict[str, str]) -> tuple[str | None, dict[str, str]]:
    attrs = {**doc.attributes, **row}
    return attrs.pop("kind", None), attrs


@dataclass
class _Work:
    """One document's decision, made by reading only: what `_apply` will write (or a plan shows)."""

    name: str
    status: str  # added | updated | unchanged | attributes
    old: Source | None
    source: Source  # the source as it will be (for "attributes": the old one with new attributes)
    spans: list[ExcerptSpan] = field(default_factory=list)
    changes: list[CodingChange] = field(default_factory=list)
    dependents: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def plan(self) -> SourcePlan:
        version = self.old.version + 1 if self.status == "updated" and self.old else self.source.version
        return SourcePlan(
            name=self.name, status=self.status, source_id=self.old.id if self.old else None, version=version,
            kind=self.source.kind, excerpts=len(self.spans),
            suggestions_removed=self.dependents.get("suggestions", 0), codings=list(self.changes),
            notes=list(self.notes),
        )

    def after(self, codings: list[StoredCoding]) -> tuple[Source | None, list[StoredCoding]]:
        """The source and its codings as this decision leaves them (for planning a later file)."""
        if self.status == "updated" and self.old is not None:
            version = self.old.version + 1
            return (self.source.model_copy(update={"id": self.old.id, "version": version}),
                    codings_after(codings, self.changes, self.old.version))
        return self.source, codings


def _decide(project: Project, path: Path, doc: Document, kind: str | None, row: dict[str, str],
            old: Source | None, codings: list[StoredCoding]) -> _Work:
    """`_decide_source`, with what the reader noticed (a scanned page stored empty, a line that
    looks like an unread speaker turn) reported first, under the source's name."""
    work = _decide_source(project, path, doc, kind, row, old, codings)
    work.notes = [f"{work.name}: {note}" for note in doc.notes] + work.notes
    return work


def _decide_source(project: Project, path: Path, doc: Document, kind: str | None, row: dict[str, str],
                   old: Source | None, codings: list[StoredCoding]) -> _Work:
    name = _source_name(path, doc)
    row_kind, attrs = _attributes(doc, row)
    attrs = clean_attributes(attrs)
    content_hash = hashlib.sha256(doc.text.encode("utf-8")).hexdigest()
    if old is not None:  # attributes given before are kept unless given again: nothing is lost
        merged = {**old.attributes, **attrs}
        # a new interviewer name changes which turns are questions, so the excerpts are rebuilt
        same_turns = merged.get("interviewer") == old.attributes.get("interviewer")
        attrs = merged
        if old.content_hash == content_hash and same_turns:  # decided before chunking: reruns are cheap
            final_kind = kind or row_kind or old.kind
            _check_kind(path, final_kind)
            if attrs == old.attributes and old.kind == final_kind:
                return _Work(name, "unchanged", old, old)
            return _Work(name, "attributes", old, old.model_copy(update={"attributes": attrs, "kind": final_kind}))
    spans = excerpt_spans(doc, interviewer_names(project.settings.ingest.interviewer, attrs), project.settings.chunking)
    final_kind = kind or row_kind or (old.kind if old else None) or guess_kind(spans, path.suffix)
    _check_kind(path, final_kind)
    source = Source(
        name=name, path=stored_path(path.resolve()), kind=final_kind, content_hash=content_hash, text=doc.text,
        attributes=attrs, pages=[(p.number, p.start, p.end) for p in doc.pages], reader=doc.reader,
        reader_version=doc.reader_version, format=doc.format or path.suffix.lower().lstrip("."),
    )
    if old is None:
        return _Work(name, "added", None, source, spans)
    changes = plan_changes(project, old, doc.text, codings)
    dependents = project.store.source_dependents(int(old.id))  # type: ignore[arg-type]
    notes = change_notes(name, old.version, dependents["excerpts"], len(spans), dependents["suggestions"], changes)
    return _Work(name, "updated", old, source, spans, changes, dependents, notes)


def _apply(project: Project, work: _Work) -> int:
    """Write one decision (inside the file's transaction); return the number of excerpts stored."""
    store = project.store
    if work.status == "unchanged":
        return 0
    if work.status == "attributes":
        set_attributes(project, int(work.old.id), work.source.attributes, work.source.kind, origin="ingest")  # type: ignore[union-attr, arg-type]
        return 0
    if work.status == "added":
        source = store.add_source(work.source)
        excerpts = store.add_excerpts(excerpt_records(source, work.spans))
        store.audit(project.analyst, "ingest", "source", source.id, path=source.path,
                    hash=source.content_hash, excerpts=len(excerpts), reader=source.reader)
        return len(excerpts)
    replace_source(project, work.old, work.source, work.spans, work.changes)  # type: ignore[arg-type]
    return len(work.spans)


def _check_kind(path: Path, kind: str) -> None:
    if kind not in SOURCE_KINDS:
        raise IngestError(f"{display_path(path)}: unknown kind {kind!r}; choose from {', '.join(SOURCE_KINDS)}")


def remove_source(project: Project, ref: int | str) -> dict[str, Any]:
    """Remove a source and everything that hangs off it; the returned counts are what went."""
    source = project.store.get_source(ref)
    with project.store.transaction():
        counts = project.store.delete_source(source.id)
        project.store.audit(project.analyst, "remove", "source", source.id, name=source.name, **counts)
    return {"source": source.name, **counts}
