"""Cutting a canonical text into excerpts: the units that are coded, searched and quoted.

Excerpts follow the structure a researcher reads: a participant's answer (starting after its
speaker label, with the interviewer's question kept as context), or a paragraph of a document.
Consecutive turns of the same participant are merged into one excerpt, and the labels of the
turns after the first stay inside it, so the excerpt remains one contiguous span of the text
(its offsets are a single `text[start:end]`). Long units are cut at sentence boundaries so a
quote never starts mid-sentence.

Invariants of every result (tests check them on random input): 0 <= start < end <= len(text);
text[start:end] is non-empty with no leading/trailing whitespace; spans are sorted and do not
overlap; every non-whitespace character outside the excerpts' leading turn labels lies in some
span.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from index.front_matter import excerpt_kinds, is_standalone_block, split_trailing_boilerplate
from index.speakers import detect_turns, looks_like_transcript, mark_interviewers
from index.text import sentence_spans, trim_span
from index.types import Document, ExcerptSpan, Page, Turn

__all__ = ["ChunkSettings", "chunk", "chunk_transcript", "chunk_document"]

Span = tuple[int, int]

_BLANK_LINE_RE = re.compile(r"\n[ \t]*\n")
_BLOCK_BLANK_RE = re.compile(r"\S(?:.*\S)?(?:\n(?![ \t]*\n)[ \t]*\S(?:.*\S)?)*")
_BLOCK_LINE_RE = re.compile(r"\S(?:.*\S)?")


@dataclass(frozen=True)
class ChunkSettings:
    """Sizes in characters. ~700 chars is a long interview answer's worth of meaning: big enough
    for a code to apply, small enough for embedding models (256 tokens) and for a reviewer."""

    target_chars: int = 700
    max_chars: int = 1600
    min_chars: int = 120


# --- splitting and packing -------------------------------------------------------------------------


def _split_at_whitespace(text: str, s: int, e: int, max_chars: int) -> list[Span]:
    """Cut one over-long sentence at the last whitespace before max_chars (hard cut if none)."""
    pieces: list[Span] = []
    pos = s
    while e - pos > max_chars:
        cut = pos + max_chars
        k = cut
        while k > pos and not text[k].isspace():
            k -= 1
        if k == pos:
            pieces.append((pos, cut))
            pos = cut
            continue
        end = k
        while text[end - 1].isspace():
            end -= 1
        pieces.append((pos, end))
        pos = k
        while text[pos].isspace():
            pos += 1
    pieces.append((pos, e))
    return pieces


def _pack(units: Sequence[Span], settings: ChunkSettings) -> list[Span]:
    """Greedily join consecutive units (sentences, paragraphs) into spans of about target size.

    A unit is added while the span stays within target_chars; a span still under min_chars may
    grow up to max_chars, so tiny fragments ("Yes.") do not become excerpts of their own. A small
    tail is folded into the previous span when that fits within max_chars."""
    out: list[Span] = []
    cur: Span | None = None
    for a, b in units:
        if cur is None:
            cur = (a, b)
        elif b - cur[0] <= settings.target_chars or (
            cur[1] - cur[0] < settings.min_chars and b - cur[0] <= settings.max_chars
        ):
            cur = (cur[0], b)
        else:
            out.append(cur)
            cur = (a, b)
    if cur is not None:
        if out and cur[1] - cur[0] < settings.min_chars and cur[1] - out[-1][0] <= settings.max_chars:
            cur = (out.pop()[0], cur[1])
        out.append(cur)
    return out


def _split_long(text: str, s: int, e: int, settings: ChunkSettings) -> list[Span]:
    """Spans for one trimmed unit: whole if within max_chars, else packed sentences."""
    if e - s <= settings.max_chars:
        return [(s, e)]
    units: list[Span] = []
    for a, b in sentence_spans(text, s, e):
        if b - a > settings.max_chars:
            units.extend(_split_at_whitespace(text, a, b, settings.max_chars))
        else:
            units.append((a, b))
    return _pack(units, settings)


# --- documents -------------------------------------------------------------------------------------


def _blocks(text: str, s: int, e: int, by_blank_lines: bool) -> list[Span]:
    pattern = _BLOCK_BLANK_RE if by_blank_lines else _BLOCK_LINE_RE
    return [m.span() for m in pattern.finditer(text, s, e)]


def _document_spans(text: str, s: int, e: int, settings: ChunkSettings, by_blank: bool) -> list[Span]:
    """Paragraph spans of text[s:e]: short paragraphs packed, long ones split at sentences."""
    out: list[Span] = []
    run: list[Span] = []
    for a, b in _blocks(text, s, e, by_blank):
        if by_blank and is_standalone_block(text[a:b]):
            # a heading, a title block or a table of contents stands alone, so it is never
            # packed into the paragraph after it and can be kept out of coding and quotes
            out.extend(_pack(run, settings) if run else [])
            run = []
            out.append((a, b))
        elif b - a > settings.max_chars:
            out.extend(_pack(run, settings) if run else [])
            run = []
            out.extend(_split_long(text, a, b, settings))
        else:
            run.append((a, b))
    out.extend(_pack(run, settings) if run else [])
    return out


def _page_of(pages: Sequence[Page], starts: list[int], offset: int) -> int | None:
    i = bisect_right(starts, offset) - 1
    return pages[i].number if i >= 0 else None


def chunk_document(
    text: str, pages: Sequence[Page] | None = None, settings: ChunkSettings | None = None
) -> list[ExcerptSpan]:
    """Excerpts of a non-transcript text: paragraphs (blank-line blocks, or lines when the text
    has no blank lines at all -- one-paragraph-per-line exports), each tagged with the page its
    start lies on."""
    settings = settings or ChunkSettings()
    pages = sorted(pages or [], key=lambda p: p.start)
    starts = [p.start for p in pages]
    by_blank = _BLANK_LINE_RE.search(text) is not None
    return [
        ExcerptSpan(a, b, page=_page_of(pages, starts, a) if pages else None)
        for a, b in _document_spans(text, 0, len(text), settings, by_blank)
    ]


# --- transcripts -----------------------------------------------------------------------------------


def _mergeable(turns: Sequence[Turn], i: int, j: int, settings: ChunkSettings) -> bool:
    """Turn j may join the excerpt starting at turn i: same participant, no interviewer between
    (turn j directly follows), and the result stays within the target size. Merging across an
    interviewer turn would put the interviewer's words into a participant's quote."""
    nxt = turns[j]
    return (
        not nxt.is_interviewer
        and nxt.speaker == turns[i].speaker
        and nxt.end - turns[i].body_start <= settings.target_chars
    )


def chunk_transcript(
    text: str,
    turns: Sequence[Turn],
    settings: ChunkSettings | None = None,
    pages: Sequence[Page] | None = None,
) -> list[ExcerptSpan]:
    """Excerpts of a transcript: one per participant answer, the interviewer's turns as their
    own excerpts (is_interviewer=True) and as `context` of the answers after them.

    An excerpt starts after its first turn's speaker label. When consecutive turns of the same
    participant are merged, the labels of the later turns stay inside the excerpt, so its
    offsets remain one contiguous span of `text`.

    Text outside any turn (a title before the first label) is chunked like a document, so no
    words are lost."""
    settings = settings or ChunkSettings()
    turns = sorted(turns, key=lambda t: t.start)
    by_blank = _BLANK_LINE_RE.search(text) is not None
    spans: list[ExcerptSpan] = []
    pos = 0
    question: Span | None = None
    i = 0
    while i < len(turns):
        turn = turns[i]
        if turn.start > pos:
            spans.extend(ExcerptSpan(a, b) for a, b in _document_spans(text, pos, turn.start, settings, by_blank))
        j = i
        if not turn.is_interviewer:
            while j + 1 < len(turns) and _mergeable(turns, i, j + 1, settings):
                j += 1
        body = trim_span(text, max(turn.body_start, pos), turns[j].end)
        pos = max(pos, turns[j].end)
        i = j + 1
        if body is None:
            continue
        for a, b in _split_long(text, body[0], body[1], settings):
            spans.append(_turn_span(turn, a, b, question))
        if turn.is_interviewer:
            question = body
    if pos < len(text):
        spans.extend(ExcerptSpan(a, b) for a, b in _document_spans(text, pos, len(text), settings, by_blank))
    return _with_pages(spans, pages)


def _turn_span(turn: Turn, a: int, b: int, question: Span | None) -> ExcerptSpan:
    context = None if turn.is_interviewer else question
    return ExcerptSpan(
        a, b, speaker=turn.speaker, is_interviewer=turn.is_interviewer, time=turn.time,
        context_start=context[0] if context else None,
        context_end=context[1] if context else None,
    )


def _with_pages(spans: list[ExcerptSpan], pages: Sequence[Page] | None) -> list[ExcerptSpan]:
    if not pages:
        return spans
    pages = sorted(pages, key=lambda p: p.start)
    starts = [p.start for p in pages]
    return [
        ExcerptSpan(s.start, s.end, s.speaker, s.is_interviewer, _page_of(pages, starts, s.start),
                    s.time, s.context_start, s.context_end)
        for s in spans
    ]


def chunk(
    document: Document,
    interviewer: Iterable[str] | None = None,
    settings: ChunkSettings | None = None,
) -> list[ExcerptSpan]:
    """Excerpts of a document, as a transcript when it is one.

    Turns given by the reader (VTT/SRT speakers, tabular answers) are trusted; if the reader
    already flagged interviewer turns (questions of a survey) those flags are kept, otherwise
    they are set from `interviewer`. Without reader turns, labels are detected in the text and
    used only if `looks_like_transcript` agrees."""
    settings = settings or ChunkSettings()
    text = document.text
    if document.turns:
        turns = list(document.turns)
        if not any(t.is_interviewer for t in turns):
            turns = mark_interviewers(turns, text, interviewer)
        return _with_kinds(text, chunk_transcript(text, turns, settings, document.pages))
    turns = detect_turns(text, interviewer)
    if looks_like_transcript(turns, text):
        return _with_kinds(text, chunk_transcript(text, turns, settings, document.pages))
    return _with_kinds(text, chunk_document(text, document.pages, settings))


def _split_boilerplate(text: str, span: ExcerptSpan) -> list[ExcerptSpan]:
    """A transcription service's trailer ("Transcribed by https://otter.ai") after a blank line
    at the end of the last turn becomes an excerpt of its own (marked "header" after)."""
    cut = split_trailing_boilerplate(text, span.start, span.end)
    if cut is None:
        return [span]
    body_end, tail_start = cut
    return [replace(span, end=body_end), ExcerptSpan(tail_start, span.end, page=span.page)]


def _with_kinds(text: str, spans: list[ExcerptSpan]) -> list[ExcerptSpan]:
    """Mark header blocks, front matter, headings and label-only turns (`index.front_matter`)."""
    spans = [piece for s in spans for piece in _split_boilerplate(text, s)]
    kinds = excerpt_kinds([text[s.start:s.end] for s in spans], [s.speaker for s in spans])
    return [replace(s, kind=k) if k != s.kind else s for s, k in zip(spans, kinds)]
