"""Reading source files into `Document`s with one canonical text each.

`read_path` is the single entry point: it checks the things every format shares (exists, not a
directory, not empty, not over the size limit -- checked before reading, so a 2 GB video named
.txt never reaches memory), then dispatches by suffix through `READERS`. Every failure is a
`ReadError(path, problem)` whose problem a researcher can act on, never a traceback.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from index.errors import ReadError, failures_named
from index.readers.names import display_name, display_path
from index.readers.options import ReadOptions
from index.speakers import turn_notes
from index.types import Document

__all__ = ["ReadOptions", "READERS", "read_path", "supported_suffixes"]

Reader = Callable[[Path, ReadOptions], list[Document]]
_MB = 1024 * 1024


def _registry() -> dict[str, Reader]:
    from index.readers.captions import read_srt, read_vtt
    from index.readers.office import read_docx
    from index.readers.pdf import read_pdf
    from index.readers.plain import read_text
    from index.readers.tabular import read_csv, read_xlsx
    from index.readers.web import read_html

    return {
        ".txt": read_text, ".md": read_text, ".pdf": read_pdf, ".docx": read_docx,
        ".html": read_html, ".htm": read_html, ".vtt": read_vtt, ".srt": read_srt,
        ".csv": read_csv, ".xlsx": read_xlsx,
    }


READERS: dict[str, Reader] = _registry()


def supported_suffixes() -> list[str]:
    return sorted(READERS)


def read_path(path: str | Path, options: ReadOptions | None = None) -> list[Document]:
    """Read one file into documents (one, or one per respondent for CSV/XLSX).

    What every format shares is settled here: errors and names are valid text (`names`: a
    latin-1 file name must neither fail nor reach the store as surrogates), and a text whose
    turns are found by detection gets the notes of `turn_notes` (lines that look like an unread
    speaker turn), since that detection is the same whatever the format."""
    options = options or ReadOptions()
    p = Path(path)
    try:
        docs = _read(p, options)
    except ReadError as exc:
        shown, problem = display_path(p), display_name(exc.problem)
        if (exc.path, exc.problem) == (shown, problem):
            raise
        raise ReadError(shown, problem) from exc
    for doc in docs:
        doc.name = display_name(doc.name)
        if doc.turns is None:
            doc.notes.extend(turn_notes(doc.text))
    return docs


def _read(p: Path, options: ReadOptions) -> list[Document]:
    reader = _check(p, options)
    with failures_named(p):
        docs = reader(p, options)
    if not any(d.text.strip() for d in docs):
        raise ReadError(p, "file is empty (no text found)")
    return docs


def _check(p: Path, options: ReadOptions) -> Reader:
    """The checks shared by all formats, in the order a user would want them reported."""
    if not p.exists():
        raise ReadError(p, "no such file")
    if p.is_dir():
        raise ReadError(p, "is a directory, not a file")
    reader = READERS.get(p.suffix.lower())
    if reader is None:
        kind = f"'{p.suffix}'" if p.suffix else "(no suffix)"
        raise ReadError(p, f"unsupported file type {kind}; supported: {', '.join(supported_suffixes())}")
    size = p.stat().st_size
    if size == 0:
        raise ReadError(p, "file is empty")
    if size > options.max_file_mb * _MB:
        raise ReadError(
            p, f"file is {size / _MB:.1f} MB, over the limit of {options.max_file_mb:g} MB "
               "(set ingest.max_file_mb)",
        )
    return reader
