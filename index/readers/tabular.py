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
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

from index.archive import checked_zip_bytes
from index.errors import ReadError
from index.readers.options import ReadOptions, library_version
from index.text import canonicalise, decode_bytes
from index.types import Document, Turn


def read_csv(path: Path, options: ReadOptions) -> list[Document]:
    text = canonicalise(decode_bytes(path.read_bytes(), path))
    rows = parse_csv(path, text, options)
    return rows_to_documents(path, rows, options, "csv", library_version("charset-normalizer"), "csv")


# --- CSV -------------------------------------------------------------------------------------------
#
# RFC 4180, not `csv.Sniffer`: the sniffer guesses the quoting too, and on a standard file (even
# one written by Python's own csv module with QUOTE_ALL) it can decide that quotes inside a
# field are not doubled, which cuts an answer at its first quotation and drops the rest without
# an error. So quoting is never guessed: quotes are doubled, parsing is strict (a stray quote is
# an error, not a guess), and every row must have as many fields as the header. Only the
# delimiter is detected, and only when exactly one candidate parses the whole file into a
# consistent table; otherwise comma, the RFC's delimiter.

_DELIMITERS = (",", ";", "\t", "|")
_DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "'|'"}
_DELIMITER_ALIASES = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}


class _CsvProblem(Exception):
    """A file that does not parse with one dialect; `message` names the row."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def parse_csv(path: Path, text: str, options: ReadOptions) -> list[list[str]]:
    """The rows of a CSV text, every one with the header's number of fields (blank lines
    dropped). With `csv_delimiter`/`csv_dialect` set, exactly that dialect; else see above."""
    if options.csv_delimiter or options.csv_dialect:
        try:
            return _parse_table(text, _chosen_format(path, options))
        except _CsvProblem as exc:
            raise ReadError(path, exc.message + "; nothing was read") from exc
    problems: dict[str, str] = {}
    tables: dict[str, list[list[str]]] = {}
    for delimiter in _DELIMITERS:
        try:
            rows = _parse_table(text, {"dialect": "excel", "delimiter": delimiter})
        except _CsvProblem as exc:
            problems[delimiter] = exc.message
            continue
        if delimiter == "," and _width(rows) >= 2:
            return rows  # the common case, parsed once
        tables[delimiter] = rows
    wide = [d for d, rows in tables.items() if _width(rows) >= 2]
    if len(wide) == 1:
        return tables[wide[0]]
    if len(wide) > 1:
        names = " or ".join(_DELIMITER_NAMES[d] for d in wide)
        raise ReadError(path, f"cannot tell whether the CSV delimiter is {names}; set the CSV delimiter")
    if "," in tables:
        return tables[","]  # one column
    raise ReadError(path, problems[","] + "; nothing was read (name the delimiter if it is not a comma)")


def _chosen_format(path: Path, options: ReadOptions) -> dict[str, str]:
    fmt = {"dialect": options.csv_dialect or "excel"}
    if fmt["dialect"] not in csv.list_dialects():
        raise ReadError(path, f"unknown CSV dialect '{fmt['dialect']}'; choose from {', '.join(sorted(csv.list_dialects()))}")
    if options.csv_delimiter:
        delimiter = _DELIMITER_ALIASES.get(options.csv_delimiter.lower(), options.csv_delimiter)
        if len(delimiter) != 1 or delimiter in "\"\r\n":
            raise ReadError(path, f"CSV delimiter must be one character (or 'tab'), not {options.csv_delimiter!r}")
        fmt["delimiter"] = delimiter
    return fmt


def _parse_table(text: str, fmt: dict[str, str]) -> list[list[str]]:
    """Strictly parsed, non-blank rows; `_CsvProblem` names the first row that is malformed or
    whose number of fields differs from the header's. Rows are counted as records (the header
    is row 1); the line is added when a quoted line break makes the two differ."""
    params = {k: v for k, v in fmt.items() if k != "dialect"}
    reader = csv.reader(io.StringIO(text), fmt["dialect"], strict=True, **params)
    return list(strict_records(reader, _CsvProblem))


def strict_records(reader: Iterator[list[str]], fail: Callable[[str], Exception],
                   undecodable: Callable[[UnicodeDecodeError, int], Exception] | None = None
                   ) -> Iterator[list[str]]:
    """The non-blank records of a `csv.reader`, each as wide as the header. The first malformed
    or wrongly wide record raises `fail(message)`, the message naming its row (and line, where
    a quoted line break makes them differ); shared by the whole-file and the streaming reader.
    A file decoded as it is read fails with `undecodable(error, line)` when given."""
    width = 0
    record = 0
    while True:
        line = reader.line_num + 1  # type: ignore[attr-defined]
        try:
            row = next(reader)
        except StopIteration:
            return
        except UnicodeDecodeError as exc:
            if undecodable is None:
                raise
            raise undecodable(exc, line) from exc
        except csv.Error as exc:
            why = "a quote opened there is never closed" if "end of data" in str(exc) else str(exc)
            raise fail(f"malformed CSV at {_where(record + 1, line)} ({why})") from exc
        if not any(cell.strip() for cell in row):
            continue
        record += 1
        if record == 1:
            width = len(row)
        elif len(row) != width:
            raise fail(
                f"{_where(record, line)} has {len(row)} fields but the header has {width} "
                "(a missing or extra delimiter, or an unclosed quote?)"
            )
        yield row


def _where(record: int, line: int) -> str:
    return f"row {record}" if record == line else f"row {record} (line {line})"


def _width(rows: list[list[str]]) -> int:
    return len(rows[0]) if rows else 0


def read_xlsx(path: Path, options: ReadOptions) -> list[Document]:
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    data = checked_zip_bytes(path, options.zip_limits())  # openpyxl unzips itself: check first
    try:
        wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
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
