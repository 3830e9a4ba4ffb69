"""Streaming ingest of large survey exports (CSV, XLSX): rows are read one at a time
(`index.readers.stream`) and stored a block at a time, one transaction per block.

Two layouts, the analyst's choice (`rows_as`):
- "sources": one source per answer (`survey.csv#<respondent>`), with the row's attribute columns,
  so filters, matrices and case attributes work per respondent, exactly as for a small table.
- "excerpts": one source per block of rows (`survey.csv#rows-0000001-0010000`), each answer an
  excerpt of it (speaker = the respondent key): a handful of source rows instead of a million.
  Attribute columns are not kept in this layout (a source has one set of attributes).

The default is "excerpts", chosen by measurement at 1M rows (`benchmarks/scale_ray.py`):
see `DEFAULT_ROWS_AS`.

The file is checked whole first (streaming, `check_table`): a malformed row anywhere stores nothing
and is reported as one line naming the file and the row. Then each block is decided and written
by the same code as every other ingest (`ingest._decide` / `ingest._apply`: replacement keeps the
old version, codings are carried, every source is audited), inside one transaction, so a crash
mid-file leaves whole blocks only; a re-run finds the stored blocks unchanged (by content hash,
read a block at a time without any text) and continues with the rest."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant.corpus import ingest as _ingest
from assistant.errors import IngestError, ThematicError
from assistant.project import Project
from index.errors import ReadError
from index.readers import ReadOptions
from index.readers.names import display_name, display_path
from index.readers.stream import Answer, TableInfo, check_table, iter_answers
from index.types import Document, Turn

ROWS_AS = ("sources", "excerpts")
# Measured at 1M synthetic answers on the shared 2-core box (benchmarks/scale_ray.py, see the
# README table): "excerpts" ingests several times faster and makes a smaller store, and every
# corpus-wide step that lists sources (pre-coding's context, the sources table, the workspace)
# stays small; "sources" is the layout to choose when per-respondent attribute filters matter.
DEFAULT_ROWS_AS = "excerpts"
DEFAULT_BLOCK_ROWS = 2000
Progress = Callable[[int, int], None]


@dataclass
class _Block:
    number: int
    first_row: int
    last_row: int
    answers: list[Answer]


def _blocks(answers: Iterable[Answer], block_rows: int) -> Iterator[_Block]:
    """Blocks by data-row number (rows 1-2000, 2001-4000, ...), so a block's bounds do not depend on
    which answers are empty: the same file gives the same blocks on every run."""
    current: _Block | None = None
    for a in answers:
        number = (a.row - 1) // block_rows
        if current is not None and current.number != number:
            yield current
            current = None
        if current is None:
            current = _Block(number, number * block_rows + 1, (number + 1) * block_rows, [])
        current.answers.append(a)
    if current is not None:
        yield current


def _block_document(path: Path, block: _Block, question_label: str, width: int) -> Document:
    """The block's answers as one text (blank line between answers), each answer a turn of its
    respondent, preceded by its question (an interviewer-style turn) when there is one."""
    parts: list[str] = []
    turns: list[Turn] = []
    pos = 0
    for a in block.answers:
        if parts:
            parts.append("\n\n")
            pos += 2
        if a.question:
            q = " ".join(a.question.split())
            turns.append(Turn(pos, pos, pos + len(q), question_label, is_interviewer=True))
            parts.append(q + "\n")
            pos += len(q) + 1
        turns.append(Turn(pos, pos, pos + len(a.text), a.key))
        parts.append(a.text)
        pos += len(a.text)
    name = f"{path.stem}#rows-{block.first_row:0{width}d}-{block.last_row:0{width}d}"
    return Document(name=name, text="".join(parts), turns=turns, reader="stream",
                    format=path.suffix.lower().lstrip("."))


def _row_documents(path: Path, block: _Block, seen: set[int]) -> list[Document]:
    """One document per answer; a respondent key seen before in the file gets `@row<N>` so two
    answers never share a source name (8 bytes of digest per key are kept, not the keys)."""
    docs = []
    for a in block.answers:
        digest = int.from_bytes(hashlib.blake2b(a.key.encode(), digest_size=8).digest(), "little")
        key = a.key if digest not in seen else f"{a.key}@row{a.row}"
        seen.add(digest)
        attrs = dict(a.attributes)
        if a.question:
            attrs.setdefault("question", a.question)
        docs.append(Document(name=f"{path.stem}#{key}", text=a.text, attributes=attrs, reader="stream",
                             format=path.suffix.lower().lstrip(".")))
    return docs


def ingest_survey(
    project: Project, path: str | Path, *, rows_as: str | None = None, block_rows: int = DEFAULT_BLOCK_ROWS,
    kind: str | None = None, row: dict[str, str] | None = None, read_options: ReadOptions | None = None,
    progress: Progress | None = None,
) -> _ingest.FileResult:
    """Stream one CSV/XLSX export into the store (see the module docstring). Returns the file's
    result; a bad file is `status="failed"` with one line, and nothing of it is stored."""
    p = Path(path)
    rows_as = rows_as or DEFAULT_ROWS_AS
    if rows_as not in ROWS_AS:
        raise IngestError(f"unknown --rows-as {rows_as!r}; choose from {', '.join(ROWS_AS)}")
    if block_rows < 1:
        raise IngestError("block_rows must be at least 1")
    options = read_options or ReadOptions()
    shown = display_path(p)
    try:
        info = check_table(p, options)
    except ReadError as exc:
        return _ingest.FileResult(shown, "failed", error=str(exc))
    result = _ingest.FileResult(shown, "unchanged")
    if rows_as == "excerpts" and options.attr_columns:
        result.notes.append(f"{shown}: attribute columns are kept only with rows stored as sources "
                            "(--rows-as sources); they were not stored")
    width = max(7, len(str(info.rows)))
    seen: set[int] = set()
    q_label = options.question_column or "question"
    done = 0
    try:
        for block in _blocks(iter_answers(p, info, options), block_rows):
            docs = (_row_documents(p, block, seen) if rows_as == "sources"
                    else [_block_document(p, block, q_label, width)])
            _store_block(project, p, docs, kind or "survey", row or {}, result)
            done = min(block.last_row, info.rows)
            if progress:
                progress(done, info.rows)
    except ReadError as exc:  # cannot happen after the check, unless the file changed meanwhile
        result.status, result.error = "failed", f"{exc} (after {done} rows were stored)"
    except (IngestError, ThematicError) as exc:
        result.status, result.error = "failed", f"{exc} (after {done} rows were stored)"
    return result


def _store_block(project: Project, path: Path, docs: list[Document], kind: str, row: dict[str, str],
                 result: _ingest.FileResult) -> None:
    """One transaction for the block. Unchanged sources are found from their hashes alone."""
    store = project.store
    names = [_ingest._source_name(path, d) for d in docs]
    known = store.source_digests(names)
    with store.transaction():
        for name, doc in zip(names, docs):
            old = known.get(name)
            if old is not None and old["content_hash"] == hashlib.sha256(doc.text.encode("utf-8")).hexdigest():
                attrs = _ingest.clean_attributes({**doc.attributes, **row})
                if {**old["attributes"], **attrs} == old["attributes"] and old["kind"] == kind:
                    continue  # unchanged: the common case on a resumed run
            current, codings = _ingest._current(project, name) if old is not None else (None, [])
            work = _ingest._decide(project, path, doc, kind, row, current, codings)
            if len(result.sources) < 1000:  # a million names would be the report's whole memory
                result.sources.append(work.name)
            result.excerpts += _ingest._apply(project, work)
            result.codings += work.changes
            result.notes += work.notes[:5]
            result.status = _ingest._merge_status(result.status, work.status)


def streams(path: Path, options: ReadOptions, rows_as: str | None) -> bool:
    """Whether a file goes through the streaming path: a CSV/XLSX table when a layout is asked for,
    or (with a text column named) when it is too large to read whole."""
    if path.suffix.lower() not in (".csv", ".xlsx"):
        return False
    if rows_as:
        return True
    try:
        return bool(options.text_column) and path.is_file() and path.stat().st_size > options.max_file_mb * 1024 * 1024
    except OSError:
        return False


def ingest_with_tables(
    project: Project, paths: Iterable[str | Path], *, rows_as: str | None = None, kind: str | None = None,
    meta: str | Path | dict[str, dict[str, str]] | None = None, attributes: dict[str, str] | None = None,
    read_options: ReadOptions | None = None, progress: Progress | None = None, index: bool = True,
    index_progress: Progress | None = None, index_notify: Any = None,
) -> _ingest.IngestReport:
    """`ingest.ingest_paths`, except that survey tables are streamed (`streams`): the other files
    go through `ingest_paths` unchanged, each table through `ingest_survey`, then the index is
    brought up to date once, as `ingest_paths` does."""
    metadata, options, files = _ingest._setup(project, paths, kind, meta, read_options)
    tables = [f for f in files if streams(f, options, rows_as)]
    if not tables:
        return _ingest.ingest_paths(project, files, kind=kind, meta=metadata, attributes=attributes,
                                    read_options=options, progress=progress, index=index,
                                    index_progress=index_progress, index_notify=index_notify)
    others = [f for f in files if f not in tables]
    report = (_ingest.ingest_paths(project, others, kind=kind, meta=metadata, attributes=attributes,
                                   read_options=options, progress=progress, index=False)
              if others else _ingest.IngestReport())
    for path in tables:
        row = {**metadata.get(display_name(path.name), {}), **(attributes or {})}
        result = ingest_survey(project, path, rows_as=rows_as, kind=kind, row=row, read_options=options,
                               progress=progress)
        if not rows_as and result.status != "failed":
            result.notes.insert(0, f"{result.path}: over {options.max_file_mb:g} MB, so streamed a block of "
                                   "rows at a time (choose the layout with --rows-as)")
        report.results.append(result)
    if index:
        _ingest.update_index(project, report, index_progress, index_notify)
    return report


__all__ = ["DEFAULT_BLOCK_ROWS", "DEFAULT_ROWS_AS", "ROWS_AS", "TableInfo", "ingest_survey", "ingest_with_tables",
           "streams"]
