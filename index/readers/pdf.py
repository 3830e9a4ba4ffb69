"""PDF text layers via pypdf, cleaned into readable paragraphs with exact page offsets.

A PDF's text layer is a layout, not a text: lines wrap mid-sentence, page headers repeat, and
QDA exports (MAXQDA) print paragraph numbers in the margin. Left as is, a transcript's
"Participant:" would sit on its own line with the words wrapped below it, and a quote spanning a
wrap would never match. The cleaning here is deliberately small and layout-agnostic:

1. per line: tabs and runs of spaces become one space (pypdf emits tabs between words);
2. running headers/footers: a first/last line of a page that recurs (digits ignored, so
   "1/5", "2/5" count as one) on at least half the pages is dropped; "Page 3 of 9" / "3/9"
   lines at the top or bottom are dropped on any page;
3. margin paragraph numbers: runs of two or more lines holding consecutive integers; lines a
   page repeats from the end of the previous page (MAXQDA reprints a paragraph cut by a break);
4. paragraphs: wrapped lines are rejoined with a space; a paragraph ends at a blank line, before
   a speaker label, or after a line clearly shorter than the page width. A label alone on its
   line ("Dan:") is joined with the words after it. A word hyphenated at a line end is rejoined
   keeping the hyphen (dropping it would corrupt real compounds such as "non-linear").

Paragraphs are separated by "\\n\\n", and so are pages; `Page.start/end` are offsets into the
final text, so `text[page.start:page.end]` is exactly that page's cleaned text.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from index.errors import ReadError
from index.readers.options import ReadOptions, library_version
from index.speakers import label_match
from index.text import canonicalise
from index.types import Document, Page

_SPACES_RE = re.compile(r"[ \t\u00a0]+")
_INT_RE = re.compile(r"\d{1,5}")
_PAGE_NO_RE = re.compile(r"(?:page\s*)?\d{1,4}(?:\s*(?:/|of)\s*\d{1,4})?", re.IGNORECASE)
_DIGITS_RE = re.compile(r"\d+")
_SHORT_LINE = 0.6


def read_pdf(path: Path, options: ReadOptions) -> list[Document]:
    raw_pages = _extract(path)
    if not any(p.strip() for p in raw_pages):
        raise ReadError(path, "PDF has no text layer (scanned? run OCR first)")
    cleaned = clean_pages(raw_pages)
    text, pages = join_pages(cleaned)
    return [Document(
        name=path.stem, text=text, pages=pages, reader="pypdf",
        reader_version=library_version("pypdf"), format="pdf", notes=empty_page_notes(cleaned),
    )]


def empty_page_notes(page_texts: list[str]) -> list[str]:
    """A note naming the pages that hold no text (a scanned page in a text PDF has no text
    layer): they are stored as empty pages, and the analyst must hear that their words are
    missing rather than find out when a quote cannot be found."""
    empty = [n for n, t in enumerate(page_texts, start=1) if not t.strip()]
    if not empty:
        return []
    if len(empty) == 1:
        return [f"page {empty[0]} has no text layer (scanned?); it was stored empty (run OCR to include it)"]
    return [f"pages {_ranges(empty)} have no text layer (scanned?); they were stored empty (run OCR to include them)"]


def _ranges(numbers: list[int]) -> str:
    """[2, 3, 4, 7] -> "2-4, 7"."""
    runs: list[list[int]] = []
    for n in numbers:
        if runs and n == runs[-1][-1] + 1:
            runs[-1].append(n)
        else:
            runs.append([n])
    return ", ".join(f"{r[0]}-{r[-1]}" if len(r) > 1 else str(r[0]) for r in runs)


def _extract(path: Path) -> list[str]:
    from pypdf import PdfReader

    try:
        reader = PdfReader(str(path))
        if reader.is_encrypted:
            _decrypt_or_fail(reader, path)
        return [page.extract_text() or "" for page in reader.pages]
    except ReadError:
        raise
    except Exception as exc:  # pypdf raises many types on damaged files
        raise ReadError(path, f"corrupt or unreadable PDF ({type(exc).__name__}: {exc})") from exc


def _decrypt_or_fail(reader, path: Path) -> None:
    """Many PDFs are 'encrypted' only to restrict printing, with an empty user password; those
    open fine. Anything else needs the owner to remove the password."""
    try:
        ok = reader.decrypt("")
    except Exception:
        ok = 0
    if not ok:
        raise ReadError(path, "encrypted PDF (password protected); remove the password and retry")


def clean_pages(raw_pages: list[str]) -> list[str]:
    """Cleaned text of each page (see module docstring); pure, so it is tested without PDFs."""
    pages = [[_SPACES_RE.sub(" ", ln).strip() for ln in canonicalise(p).split("\n")] for p in raw_pages]
    pages = [_drop_paragraph_numbers(lines) for lines in pages]
    pages = _drop_running_lines(pages)
    pages = _drop_repeated_carryover(pages)
    lengths = sorted(len(ln) for lines in pages for ln in lines if ln)
    width = lengths[int(0.9 * (len(lengths) - 1))] if lengths else 0
    return [_rejoin(lines, width) for lines in pages]


def join_pages(page_texts: list[str]) -> tuple[str, list[Page]]:
    """Join pages with a blank line, recording where each page's text lies."""
    parts: list[str] = []
    pages: list[Page] = []
    pos = 0
    for number, page_text in enumerate(page_texts, start=1):
        if page_text and parts:
            parts.append("\n\n")
            pos += 2
        pages.append(Page(number, pos, pos + len(page_text)))
        parts.append(page_text)
        pos += len(page_text)
    return "".join(parts), pages


def _drop_paragraph_numbers(lines: list[str]) -> list[str]:
    """Drop runs (2+) of lines holding consecutive integers: margin paragraph numbers."""
    drop: set[int] = set()
    run: list[int] = []
    for i, line in enumerate(lines):
        if _INT_RE.fullmatch(line) and (not run or int(line) == int(lines[run[-1]]) + 1):
            run.append(i)
            continue
        if len(run) >= 2:
            drop.update(run)
        run = [i] if _INT_RE.fullmatch(line) else []
    if len(run) >= 2:
        drop.update(run)
    return [ln for i, ln in enumerate(lines) if i not in drop]


def _edge_indexes(lines: list[str]) -> tuple[int | None, int | None]:
    filled = [i for i, ln in enumerate(lines) if ln]
    return (filled[0], filled[-1]) if filled else (None, None)


def _drop_running_lines(pages: list[list[str]]) -> list[list[str]]:
    """Drop page headers/footers: edge lines repeated across pages, and page-number lines."""
    keys: Counter[tuple[str, str]] = Counter()
    for lines in pages:
        for where, i in zip(("top", "bottom"), _edge_indexes(lines)):
            if i is not None:
                keys[(where, _DIGITS_RE.sub("#", lines[i].lower()))] += 1
    threshold = max(2, (len(pages) + 1) // 2)
    out = []
    for lines in pages:
        lines = list(lines)
        for where, i in zip(("top", "bottom"), _edge_indexes(lines)):
            if i is None or not lines[i]:
                continue
            key = (where, _DIGITS_RE.sub("#", lines[i].lower()))
            if keys[key] >= threshold or _PAGE_NO_RE.fullmatch(lines[i]):
                lines[i] = ""
        out.append(lines)
    return out


def _drop_repeated_carryover(pages: list[list[str]]) -> list[list[str]]:
    """Drop lines a page repeats from the end of the previous page.

    MAXQDA exports print a paragraph cut by a page break again at the top of the next page;
    kept, the repeated words would be coded twice and add false speaker turns."""
    out: list[list[str]] = []
    for lines in pages:
        body = [ln for ln in lines if ln]
        prev = [ln for ln in out[-1] if ln] if out else []
        kept = list(lines)  # blank lines stay: they are the paragraph breaks `_rejoin` needs
        for k in range(min(len(prev), len(body), 30), 0, -1):
            if prev[-k:] == body[:k] and sum(map(len, body[:k])) >= 20:
                kept = _without_first_filled(lines, k)
                break
        out.append(kept)
    return out


def _without_first_filled(lines: list[str], k: int) -> list[str]:
    """`lines` minus its first `k` non-empty lines (and the blank lines among them)."""
    seen = 0
    for i, ln in enumerate(lines):
        if ln:
            seen += 1
            if seen == k:
                return lines[i + 1:]
    return []


def _is_label_only(line: str) -> bool:
    m = label_match(line)
    return m is not None and m.end() >= len(line.rstrip()) and line.rstrip().endswith(":")


def _rejoin(lines: list[str], width: int) -> str:
    """Rejoin wrapped lines into paragraphs separated by blank lines."""
    paragraphs: list[str] = []
    current: list[str] = []
    for line in lines:
        if not line:
            _flush(current, paragraphs)
            continue
        if current:
            prev = current[-1]
            ends = len(prev) < _SHORT_LINE * width and not _is_label_only(prev)
            if ends or label_match(line):
                _flush(current, paragraphs)
        current.append(line)
    _flush(current, paragraphs)
    return "\n\n".join(paragraphs)


def _flush(current: list[str], paragraphs: list[str]) -> None:
    if not current:
        return
    text = current[0]
    for line in current[1:]:
        if text.endswith("-") and len(text) > 1 and text[-2].isalpha() and line[:1].islower():
            text += line
        else:
            text += " " + line
    paragraphs.append(text)
    current.clear()
