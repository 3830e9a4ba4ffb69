"""Streaming survey exports (CSV, XLSX) too large to hold in memory: rows are read one at a time
and handed on in blocks of answers, so memory is bounded by the block, not the file.

`read_path` reads a table whole and groups rows by respondent; that needs the whole file in
memory (a 1M-row export is hundreds of MB). Here each non-empty answer is one `Answer` with its
row number, respondent key, attribute values and question, in file order; grouping across the
file is not done (a long-format export streamed this way gives one answer per row).

The CSV rules are `tabular.parse_csv`'s, applied while streaming: RFC 4180, strict quoting, every
row as wide as the header; the delimiter is taken as named, else detected exactly as there (the
only candidate that parses the whole file into a table of two or more columns, comma first). So
`check_table` reads the file once before anything is stored: a malformed row 900,000 is one line
naming the row, and nothing of the file is stored, as for a small file. Encoding: a BOM is
authoritative, else strict UTF-8 (checked over the whole file in that first pass), else
charset-normalizer's pick from the first megabyte.

XLSX: the archive's declared sizes are checked first (`archive.BoundedZip.check_all`) on the same
open file that openpyxl then reads in read-only mode (`iter_rows`), so it reads what was checked.
openpyxl keeps the workbook's shared-strings table in memory; the rows themselves are streamed.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from index.errors import ReadError, failures_named
from index.readers.options import ReadOptions
from index.readers.tabular import (
    _DELIMITER_NAMES,
    _DELIMITERS,
    _cell,
    _chosen_format,
    _column,
    strict_records,
)
from index.text import _BOMS, canonicalise, detect_match

_MB = 1024 * 1024
_SAMPLE = 1024 * 1024  # bytes used to guess a legacy encoding


@dataclass
class Answer:
    """One non-empty answer: its 1-based data-row number (header excluded), the respondent key
    (the id column, else the row number), the canonical answer text, attributes and question."""

    row: int
    key: str
    text: str
    attributes: dict[str, str] = field(default_factory=dict)
    question: str = ""


@dataclass
class TableInfo:
    """What the checking pass found: the format to read with, the header, and how many rows."""

    suffix: str
    header: list[str]
    rows: int  # data rows (non-blank), header excluded
    fmt: dict[str, str] = field(default_factory=dict)  # CSV dialect and delimiter
    encoding: str = "utf-8"
    skip: int = 0  # bytes of BOM before the first character


# --- CSV -------------------------------------------------------------------------------------------

def _encoding(path: Path) -> tuple[str, int]:
    """(encoding, bytes to skip) from the BOM, else UTF-8 if the whole file is valid UTF-8
    (checked incrementally), else the detected legacy encoding of the first megabyte."""
    with open(path, "rb") as fh:
        head = fh.read(4)
        for bom, encoding in _BOMS:
            if head.startswith(bom):
                return encoding.replace("-sig", ""), len(bom)
        fh.seek(0)
        decoder = codecs.getincrementaldecoder("utf-8")()
        try:
            while chunk := fh.read(_MB):
                if b"\x00" in chunk:
                    raise ReadError(path, "looks like a binary file, not text")
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
            return "utf-8", 0
        except UnicodeDecodeError:
            fh.seek(0)
            return _detect_encoding(fh.read(_SAMPLE), path), 0


def _detect_encoding(data: bytes, path: Path) -> str:
    """The encoding `index.text._detect` would decode this sample with (the same preference for
    the Western encodings among equally plausible candidates)."""
    return str(detect_match(data, path).encoding)


@contextmanager
def _text(path: Path, encoding: str, skip: int) -> Iterator[IO[str]]:
    raw = open(path, "rb")  # noqa: SIM115 - closed below, with the wrapper
    try:
        raw.seek(skip)
        yield io.TextIOWrapper(raw, encoding=encoding, newline="", errors="strict")
    finally:
        raw.close()


def _csv_records(path: Path, fmt: dict[str, str], encoding: str, skip: int) -> Iterator[list[str]]:
    """Strictly parsed non-blank records, each as wide as the header; `ReadError` names the row."""
    params = {k: v for k, v in fmt.items() if k != "dialect"}
    with _text(path, encoding, skip) as fh:
        reader = csv.reader(fh, fmt["dialect"], strict=True, **params)
        yield from strict_records(
            reader, lambda problem: ReadError(path, f"{problem}; nothing was stored"),
            lambda exc, line: ReadError(path, f"cannot be decoded as {encoding} near line {line} ({exc.reason})"))


def _count(path: Path, fmt: dict[str, str], encoding: str, skip: int) -> tuple[list[str], int]:
    header: list[str] = []
    n = 0
    for n, row in enumerate(_csv_records(path, fmt, encoding, skip)):
        if n == 0:
            header = row
    return header, n  # n = data rows (header excluded)


def _check_csv(path: Path, options: ReadOptions) -> TableInfo:
    encoding, skip = _encoding(path)
    if options.csv_delimiter or options.csv_dialect:
        fmt = _chosen_format(path, options)
        header, n = _count(path, fmt, encoding, skip)
        return TableInfo(".csv", header, n, fmt, encoding, skip)
    problems: dict[str, str] = {}
    tables: dict[str, tuple[list[str], int]] = {}
    for delimiter in _DELIMITERS:
        fmt = {"dialect": "excel", "delimiter": delimiter}
        try:
            header, n = _count(path, fmt, encoding, skip)
        except ReadError as exc:
            problems[delimiter] = exc.problem
            continue
        if delimiter == "," and len(header) >= 2:
            return TableInfo(".csv", header, n, fmt, encoding, skip)
        tables[delimiter] = (header, n)
    wide = [d for d, (h, _) in tables.items() if len(h) >= 2]
    if len(wide) == 1 or (not wide and "," in tables):
        d = wide[0] if wide else ","
        return TableInfo(".csv", tables[d][0], tables[d][1], {"dialect": "excel", "delimiter": d}, encoding, skip)
    if len(wide) > 1:
        names = " or ".join(_DELIMITER_NAMES[d] for d in wide)
        raise ReadError(path, f"cannot tell whether the CSV delimiter is {names}; set the CSV delimiter")
    raise ReadError(path, problems[","].replace("; nothing was stored", "") +
                    "; nothing was stored (name the delimiter if it is not a comma)")


# --- XLSX ------------------------------------------------------------------------------------------

@contextmanager
def _sheet_rows(path: Path, options: ReadOptions) -> Iterator[Iterator[list[str]]]:
    import zipfile

    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    from index.archive import BoundedZip

    with open(path, "rb") as fh:
        archive = BoundedZip(fh, options.zip_limits(), path)
        archive.check_all()  # declared sizes, on the very file object openpyxl reads next
        fh.seek(0)
        try:
            wb = openpyxl.load_workbook(fh, read_only=True, data_only=True)
        except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
            raise ReadError(path, f"corrupt or unreadable .xlsx ({type(exc).__name__}: {exc})") from exc
        try:
            if options.sheet is not None and options.sheet not in wb.sheetnames:
                raise ReadError(path, f"sheet '{options.sheet}' not found; sheets are: {', '.join(wb.sheetnames)}")
            ws = wb[options.sheet] if options.sheet is not None else wb.worksheets[0]
            yield ([_cell(v) for v in row] for row in ws.iter_rows(values_only=True)
                   if any(v is not None and str(v).strip() for v in row))
        finally:
            wb.close()


def _check_xlsx(path: Path, options: ReadOptions) -> TableInfo:
    header: list[str] = []
    n = 0
    with _sheet_rows(path, options) as rows:
        for n, row in enumerate(rows):
            if n == 0:
                header = row
    return TableInfo(".xlsx", header, n)


# --- shared ----------------------------------------------------------------------------------------

STREAMED_SUFFIXES = (".csv", ".xlsx")


def check_table(path: str | Path, options: ReadOptions) -> TableInfo:
    """The first pass: read the whole table once, streaming, and check it (encoding, quoting,
    widths, the named columns) before anything is stored. Raises `ReadError` naming the file."""
    p = Path(path)
    if not p.exists():
        raise ReadError(p, "no such file")
    if p.suffix.lower() not in STREAMED_SUFFIXES:
        raise ReadError(p, f"only .csv and .xlsx tables can be streamed, not '{p.suffix}'")
    size = p.stat().st_size
    if size == 0:
        raise ReadError(p, "file is empty")
    if size > options.max_stream_mb * _MB:
        raise ReadError(p, f"file is {size / _MB:.1f} MB, over the streaming limit of "
                           f"{options.max_stream_mb:g} MB (set ingest.max_stream_mb)")
    with failures_named(p):
        info = _check_csv(p, options) if p.suffix.lower() == ".csv" else _check_xlsx(p, options)
    if not info.header:
        raise ReadError(p, "file is empty (no rows)")
    _columns(p, info, options)  # named columns exist: said now, not after storing half the file
    return info


def _columns(path: Path, info: TableInfo, options: ReadOptions) -> tuple[int, int | None, int | None, dict[str, int]]:
    header = [h.strip() for h in info.header]
    if not options.text_column:
        raise ReadError(path, f"set the text column (text_column) to read a table; columns are: {', '.join(header)}")
    text_i = _column(header, options.text_column, path, "text")
    id_i = _column(header, options.id_column, path, "id") if options.id_column else None
    q_i = _column(header, options.question_column, path, "question") if options.question_column else None
    return text_i, id_i, q_i, {a: _column(header, a, path, "attribute") for a in options.attr_columns}


def iter_answers(path: str | Path, info: TableInfo, options: ReadOptions) -> Iterator[Answer]:
    """The second pass: every non-empty answer in file order (rows of a checked table)."""
    p = Path(path)
    text_i, id_i, q_i, attr_is = _columns(p, info, options)
    if info.suffix == ".csv":
        cm = None
        rows: Iterator[list[str]] = _csv_records(p, info.fmt, info.encoding, info.skip)
    else:
        cm = _sheet_rows(p, options)
        rows = cm.__enter__()
    try:
        next(rows, None)  # the header
        for n, row in enumerate(rows, start=1):
            row = row + [""] * (len(info.header) - len(row))
            answer = canonicalise(row[text_i]).strip()
            if not answer:
                continue
            key = (canonicalise(row[id_i]).strip() if id_i is not None else "") or f"row{n}"
            yield Answer(n, key, answer, {a: canonicalise(row[i]).strip() for a, i in attr_is.items()},
                         canonicalise(row[q_i]).strip() if q_i is not None else "")
    finally:
        if cm is not None:
            cm.__exit__(None, None, None)

