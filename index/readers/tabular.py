"""Survey and interview-grid exports (CSV, XLSX): one Document per respondent.

The user names the columns (`id_column`, `text_column`, `attr_columns`, `question_column`).
Rows are grouped by id, in order of first appearance. One row per id (wide format): the answer
is the text. Several rows per id (long format, one answer per row): each answer becomes a
participant turn (speaker = the id) and, when there is a question column, the question is
rendered on the line before it as an interviewer-style turn, so it is visible and becomes the
answer's context. Empty answers are skipped.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path

from index.errors import ReadError
from index.readers.options import ReadOptions, library_version
from index.text import canonicalise, decode_bytes
from index.types import Document, Turn


def read_csv(path: Path, options: ReadOptions) -> list[Document]:
    text = canonicalise(decode_bytes(path.read_bytes(), path))
    try:
        dialect = csv.Sniffer().sniff(text[:65536], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    try:
        rows = list(csv.reader(io.StringIO(text), dialect))
    except csv.Error as exc:
        raise ReadError(path, f"malformed CSV ({exc})") from exc
    return rows_to_documents(path, rows, options, "csv", library_version("charset-normalizer"), "csv")


def read_xlsx(path: Path, options: ReadOptions) -> list[Document]:
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise ReadError(path, f"corrupt or unreadable .xlsx ({type(exc).__name__}: {exc})") from exc
    try:
        if options.sheet is not None and options.sheet not in wb.sheetnames:
            raise ReadError(path, f"sheet '{options.sheet}' not found; sheets are: {', '.join(wb.sheetnames)}")
        ws = wb[options.sheet] if options.sheet is not None else wb.worksheets[0]
        rows = [[_cell(v) for v in row] for row in ws.iter_rows(values_only=True)]
    finally:
        wb.close()
    return rows_to_documents(path, rows, options, "openpyxl", library_version("openpyxl"), "xlsx")


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    return canonicalise(str(value))


def _column(header: Sequence[str], name: str, path: Path, role: str) -> int:
    """Index of a named column; exact match first, then case/space-insensitive."""
    if name in header:
        return header.index(name)
    folded = [h.strip().casefold() for h in header]
    if name.strip().casefold() in folded:
        return folded.index(name.strip().casefold())
    raise ReadError(path, f"{role} column '{name}' not found; columns are: {', '.join(header)}")


def rows_to_documents(
    path: Path, rows: Iterable[Sequence[str]], options: ReadOptions,
    reader: str, reader_version: str, fmt: str,
) -> list[Document]:
    rows = [list(r) for r in rows if any(str(c).strip() for c in r)]
    if not rows:
        raise ReadError(path, "file is empty (no rows)")
    header = [h.strip() for h in rows[0]]
    if not options.text_column:
        raise ReadError(path, f"set the text column (text_column) to read a table; columns are: {', '.join(header)}")
    text_i = _column(header, options.text_column, path, "text")
    id_i = _column(header, options.id_column, path, "id") if options.id_column else None
    q_i = _column(header, options.question_column, path, "question") if options.question_column else None
    attr_is = {a: _column(header, a, path, "attribute") for a in options.attr_columns}
    groups: dict[str, list[list[str]]] = {}
    for n, row in enumerate(rows[1:], start=1):
        row = row + [""] * (len(header) - len(row))
        key = row[id_i].strip() if id_i is not None else str(n)
        groups.setdefault(key or f"row{n}", []).append(row)
    docs = []
    for key, group in groups.items():
        answers = [(r[q_i].strip() if q_i is not None else "", canonicalise(r[text_i]).strip())
                   for r in group]
        answers = [(q, a) for q, a in answers if a]
        if not answers:
            continue
        text, turns = _render(key, answers, header[q_i] if q_i is not None else "question")
        docs.append(Document(
            name=f"{path.stem}#{key}", text=text, turns=turns,
            attributes={a: group[0][i].strip() for a, i in attr_is.items()},
            reader=reader, reader_version=reader_version, format=fmt,
        ))
    if not docs:
        raise ReadError(path, f"no answers found in column '{options.text_column}'")
    return docs


def _render(key: str, answers: list[tuple[str, str]], question_label: str) -> tuple[str, list[Turn] | None]:
    """Text and turns for one respondent (see module docstring for the layout)."""
    if len(answers) == 1:
        return answers[0][1], None
    parts: list[str] = []
    turns: list[Turn] = []
    pos = 0
    for question, answer in answers:
        if parts:
            parts.append("\n\n")
            pos += 2
        if question:
            q = " ".join(canonicalise(question).split())
            turns.append(Turn(pos, pos, pos + len(q), question_label, is_interviewer=True))
            parts.append(q + "\n")
            pos += len(q) + 1
        turns.append(Turn(pos, pos, pos + len(answer), key))
        parts.append(answer)
        pos += len(answer)
    return "".join(parts), turns
