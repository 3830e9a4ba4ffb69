"""The verbatim guarantee. Every quote, evidence span and citation the product shows passes through
here: a claimed text is located in its source and replaced by the source's own characters, so what
is shown is always `source.text[start:end]`. A claim that cannot be located is refused, never
"approximately" shown.

Normalisation (documented for analysts): source texts are canonical (see `index.text.canonicalise`);
a claimed quote matches if it equals a span of the source exactly, or after treating any run of
whitespace as equal to any other run and curly quotes/dashes as their straight forms. A close but not
exact claim (an LLM dropping a word) may be *repaired*: aligned to the source span it best matches when
the similarity is at least `min_ratio`; the repaired span (the source's words) is what gets shown, and
the repair is counted."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from rapidfuzz import fuzz

from assistant.errors import VerificationError
from assistant.models import Quote, Source
from index.text import find_verbatim, trim_span


@dataclass(frozen=True)
class Located:
    start: int
    end: int
    text: str
    exact: bool  # matched after whitespace/quote normalisation only
    repaired: bool  # matched by fuzzy alignment
    ratio: float


def locate(
    source_text: str,
    claimed: str,
    within: tuple[int, int] | None = None,
    min_ratio: float = 0.9,
) -> Located | None:
    """Find `claimed` in `source_text[within]`; offsets returned are into the whole source text."""
    claimed = claimed.strip().strip('"“”').strip()
    if not claimed:
        return None
    lo, hi = within if within is not None else (0, len(source_text))
    window = source_text[lo:hi]
    found = find_verbatim(window, claimed)
    if found is not None:
        s, e = found
        return Located(lo + s, lo + e, window[s:e], True, False, 1.0)
    if len(claimed) < 12 or min_ratio >= 1.0:
        return None
    align = fuzz.partial_ratio_alignment(claimed, window, score_cutoff=min_ratio * 100)
    if align is None:
        return None
    snapped = snap_to_words(window, align.dest_start, align.dest_end)
    if snapped is None:
        return None
    s, e = snapped
    # partial_ratio aligns to a window of the claim's length; the ratio against the final span
    # guards against a claim that only matches a fragment of itself.
    ratio = fuzz.ratio(claimed, window[s:e]) / 100
    if ratio < min_ratio:
        return None
    return Located(lo + s, lo + e, window[s:e], False, True, ratio)


def snap_to_words(text: str, start: int, end: int) -> tuple[int, int] | None:
    """`(start, end)` without surrounding whitespace, then widened to whole words, so a span (a
    repaired quote, a hand-coded selection) never starts or ends mid-word: "ack mou" in "black
    mould" becomes "black mould". A word is letters, digits and combining marks, with an apostrophe
    inside it ("don't") kept; punctuation is left as given. None when nothing but whitespace is
    left. The result is offsets into `text`, so the caller stores `text[start:end]` verbatim."""
    trimmed = trim_span(text, max(0, start), min(len(text), end))
    if trimmed is None:
        return None
    s, e = trimmed
    while s > 0 and _joined(text, s):
        s -= 1
    while e < len(text) and _joined(text, e):
        e += 1
    return s, e


def _joined(text: str, i: int) -> bool:
    """Whether offset `i` (between text[i-1] and text[i]) falls inside a word."""
    return _word_char(text, i - 1) and _word_char(text, i)


def _word_char(text: str, i: int) -> bool:
    c = text[i]
    if c.isalnum() or unicodedata.category(c).startswith("M"):
        return True
    return c in "'\u2019" and 0 < i < len(text) - 1 and text[i - 1].isalnum() and text[i + 1].isalnum()


def is_verbatim(source_text: str, start: int, end: int, text: str) -> bool:
    return 0 <= start < end <= len(source_text) and source_text[start:end] == text


def make_quote(source: Source, start: int, end: int, **fields: object) -> Quote:
    """The only way to build a Quote: the text is taken from the source, never from the caller."""
    if not (0 <= start < end <= len(source.text)):
        raise VerificationError(f"span {start}:{end} is outside source {source.name!r}")
    assert source.id is not None
    return Quote(
        source_id=source.id, source_name=source.name, start=start, end=end,
        text=source.text[start:end], line=source.text.count("\n", 0, start) + 1, **fields,  # type: ignore[arg-type]
    )


def check_quote(source_text: str, quote: Quote) -> None:
    if not is_verbatim(source_text, quote.start, quote.end, quote.text):
        raise VerificationError(
            f"quote {quote.text[:40]!r} is not verbatim at {quote.start}:{quote.end} of {quote.source_name!r}"
        )
