"""The canonical plain text of a source, and the offset-preserving text utilities built on it.

Every offset in the product (pages, turns, excerpts, coded segments, REFI-QDA exports) is a
character offset into the string returned by `canonicalise`. Keeping that one definition in one
place is what lets a quote be checked with `text[start:end]` years later, in another tool.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left
from functools import lru_cache
from pathlib import Path
from typing import Any

from index.errors import ReadError

__all__ = ["canonicalise", "sentence_spans", "find_verbatim", "decode_bytes", "trim_span"]

# C0 controls other than \t and \n, plus DEL. \r is handled before this runs.
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def canonicalise(raw: str) -> str:
    """Return the one canonical plain text of a source.

    The rules, in order (they are part of the product's data contract, do not change lightly):

    1. strip a leading BOM (U+FEFF) -- it is an encoding artefact, not content;
    2. CRLF and lone CR become LF -- Windows and old-Mac files must give the same offsets as Unix
       ones (the REFI-QDA offset trap);
    3. remove NUL and the other C0 control characters (U+0000-U+001F) except TAB and LF, and DEL
       -- they are invisible, break XML export, and come from broken extractions;
    4. Unicode NFC -- "é" typed as e + combining accent and as one code point must be the same
       text, or a quote copied from one rendering would not be found in the other. NFC comes last
       so that removing a control character cannot leave a combining sequence un-normalised.

    Nothing else is changed (no whitespace collapsing, no quote normalisation), so the text stays
    verbatim. The function is idempotent: canonicalise(canonicalise(x)) == canonicalise(x).
    """
    text = raw[1:] if raw.startswith("\ufeff") else raw
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL_RE.sub("", text)
    if not text.isascii():
        text = unicodedata.normalize("NFC", text)
    return text


# --- sentences -----------------------------------------------------------------------------------

# A candidate boundary: terminal punctuation, optional closing quotes/brackets, then whitespace.
# Decimals ("3.5") and URLs never match because a boundary needs whitespace right after it.
_BOUNDARY_RE = re.compile(r"(?:[.!?\u2026]+[\"'\u201d\u2019)\]\u00bb]*)(?=[ \t\u00a0]+(\S))|\n")
_WORD_BEFORE_RE = re.compile(r"(\S+)$")
# Abbreviations that are (almost) never the end of a sentence: titles and Latin shorthands.
_NEVER_END = frozenset(
    "dr mr mrs ms mx prof rev st sr jr e.g eg i.e ie cf vs approx fig vol pp ca al"
    " dept govt est inc ltd co corp".split()
)
_OPENERS = "\"'\u201c\u2018([\u00ab"


def _is_boundary(text: str, punct_start: int, next_char: str) -> bool:
    """Decide whether the punctuation at `punct_start` really ends a sentence.

    Why these rules: a following lower-case letter means the sentence goes on ("etc. and",
    "... and then"); a title or Latin abbreviation before a full stop is followed by a name or
    example; a single capital letter is an initial ("J. Smith"). Acronyms like "NHS." are NOT
    abbreviations: they often end sentences, so they split when a capital follows.
    """
    if next_char.islower():
        return False
    if text[punct_start] != ".":
        return True
    word = _WORD_BEFORE_RE.search(text, max(0, punct_start - 40), punct_start)
    if word is None:
        return True
    token = word.group(1).lstrip(_OPENERS).lower()
    if token in _NEVER_END:
        return False
    if len(token) == 1 and token.isalpha() and text[punct_start - 1].isupper():
        return False
    return not (next_char.isdigit() and token in ("no", "nos", "p", "pp", "para"))


def trim_span(text: str, s: int, e: int) -> tuple[int, int] | None:
    """`(s, e)` narrowed past leading and trailing whitespace; None if nothing is left."""
    while s < e and text[s].isspace():
        s += 1
    while e > s and text[e - 1].isspace():
        e -= 1
    return (s, e) if s < e else None


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Sentence boundaries within text[start:end] as whitespace-trimmed (start, end) offsets.

    The spans partition the non-whitespace content of the range: every non-whitespace character
    lies in exactly one span, so callers that cut at sentences never lose text. Line breaks are
    hard boundaries because in transcripts and extracted documents a new line is a new unit.
    Regex-based on purpose: it runs over whole corpora, and punkt-style models need downloads.
    """
    end = len(text) if end is None else min(end, len(text))
    spans: list[tuple[int, int]] = []
    seg_start = start
    for m in _BOUNDARY_RE.finditer(text, start, end):
        if m.group(0) == "\n":
            cut = m.start()
        elif _is_boundary(text, m.start(), m.group(1)):
            cut = m.end()
        else:
            continue
        span = trim_span(text, seg_start, cut)
        if span:
            spans.append(span)
        seg_start = cut
    span = trim_span(text, seg_start, end)
    if span:
        spans.append(span)
    return spans


# --- verbatim search -----------------------------------------------------------------------------

_EQUIVALENTS = {
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'", "`": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"',
    "\u00ab": '"', "\u00bb": '"',
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2015": "-",
    "\u2212": "-", "\u00ad": "",
    "\u2026": "...",
}


def _loose(text: str, drop_space: bool = False) -> tuple[str, list[int]]:
    """Fold quotes/dashes and collapse whitespace runs (or drop them), keeping a map back to
    source offsets.

    out[i] came from text[index[i]]; an expansion ("…" -> "...") maps all its chars to one source
    char, a dropped soft hyphen maps to nothing.
    """
    out: list[str] = []
    index: list[int] = []
    in_space = False
    for i, ch in enumerate(text):
        if ch.isspace():
            if not in_space and not drop_space:
                out.append(" ")
                index.append(i)
                in_space = True
            continue
        in_space = False
        rep = _EQUIVALENTS.get(ch, ch)
        out.extend(rep)
        index.extend([i] * len(rep))
    return "".join(out), index


@lru_cache(maxsize=16)
def _loose_cached(text: str, drop_space: bool) -> tuple[str, list[int]]:
    """Verifying many quotes against one document must not re-fold it each time."""
    return _loose(text, drop_space)


# Below this many non-space characters, matching with whitespace ignored is too ambiguous.
_MIN_SPACELESS = 20


def find_verbatim(haystack: str, needle: str, start_hint: int = 0) -> tuple[int, int] | None:
    """Locate `needle` in `haystack`; return (start, end) so that haystack[start:end] is shown.

    Exact match first (searching from `start_hint`, then from the beginning). Failing that, a
    tolerant match where any whitespace run equals any other and curly/straight quotes and the
    dash family are interchangeable -- the differences LLMs and copy-paste introduce. The offsets
    always point into `haystack`, so what the user sees is the source's own wording, never the
    needle's. Leading/trailing whitespace of the needle is ignored. Last resort, for needles of
    20+ non-space characters: whitespace ignored entirely, because PDF extraction both drops and
    inserts spaces ("one way" / "oneway"); that long a run of characters is still specific.
    """
    needle = needle.strip()
    if not needle:
        return None
    start_hint = max(0, min(start_hint, len(haystack)))
    pos = haystack.find(needle, start_hint)
    if pos < 0 and start_hint:
        pos = haystack.find(needle, 0)
    if pos >= 0:
        return pos, pos + len(needle)
    found = _find_folded(haystack, needle, start_hint, drop_space=False)
    if found is None and len(_loose(needle, True)[0]) >= _MIN_SPACELESS:
        found = _find_folded(haystack, needle, start_hint, drop_space=True)
    return found


def _find_folded(haystack: str, needle: str, start_hint: int, drop_space: bool) -> tuple[int, int] | None:
    loose_hay, index = _loose_cached(haystack, drop_space)
    loose_needle = _loose(needle, drop_space)[0]
    if not loose_needle.strip():
        return None
    hint = _first_at_or_after(index, start_hint)
    pos = loose_hay.find(loose_needle, hint)
    if pos < 0 and hint:
        pos = loose_hay.find(loose_needle, 0)
    if pos < 0:
        return None
    return index[pos], index[pos + len(loose_needle) - 1] + 1


def _first_at_or_after(index: list[int], offset: int) -> int:
    return bisect_left(index, offset)


# --- decoding ------------------------------------------------------------------------------------

_BOMS = (
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xef\xbb\xbf", "utf-8-sig"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)
_BINARY_CONTROL_SHARE = 0.02


def decode_bytes(data: bytes, path: str | Path) -> str:
    """Decode a text file's bytes; raise ReadError naming `path` if it is not text.

    Order matters: a BOM is authoritative; then strict UTF-8 (almost everything today, and
    UTF-8 is self-validating, so a successful decode is nearly never wrong); then
    charset-normalizer for legacy files (cp1252 Word exports, latin-1 survey dumps). NUL bytes
    without a UTF-16/32 BOM, or many control characters, mean a binary file renamed to .txt.
    """
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data[len(bom):].decode(encoding.replace("-sig", ""))
            except UnicodeDecodeError as exc:
                raise ReadError(path, f"cannot be decoded as {encoding} despite its BOM ({exc.reason})")
    if b"\x00" in data:
        raise ReadError(path, "looks like a binary file, not text")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = _detect(data, path)
    _reject_binary_looking(text, path)
    return text


_PREFERRED = ("cp1252", "iso8859_15", "latin_1")


def _detect(data: bytes, path: str | Path) -> str:
    return str(detect_match(data, path))


def detect_match(data: bytes, path: str | Path) -> Any:
    """charset-normalizer's pick (a `CharsetMatch`), except that among equally plausible
    candidates the Western encodings win: for short accented text cp1250 and cp1252 tie, and a
    UK/European research corpus is far more likely to be a cp1252 Word/Excel export. The
    streaming table reader uses it too, so both decode a file the same way."""
    from charset_normalizer import from_bytes

    results = list(from_bytes(data))
    if not results:
        raise ReadError(path, "looks like a binary file, not text (no text encoding fits)")
    best = results[0]
    for match in results:
        fits = set(match.could_be_from_charset) | {match.encoding}
        if fits & set(_PREFERRED) and match.chaos <= best.chaos and match.coherence >= best.coherence:
            return match
    return best


def _reject_binary_looking(text: str, path: str | Path) -> None:
    sample = text[:200_000]
    if not sample:
        return
    controls = len(_CONTROL_RE.findall(sample.replace("\r", "").replace("\f", "")))
    if controls / len(sample) > _BINARY_CONTROL_SHARE:
        raise ReadError(path, "looks like a binary file, not text")


def line_number(text: str, offset: int) -> int:
    """The 1-based line of `offset` in `text`, as an analyst counts lines in the source."""
    return text.count("\n", 0, max(0, offset)) + 1
