"""Text -> excerpts, one way for every door a text comes in by (ingest, a .qdpx import): the same
chunking settings, the same interviewer names and the same guess of the source's kind, so a
transcript imported from another tool is cut and labelled exactly as if it had been ingested."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from assistant.models import Excerpt, Source
from assistant.settings import ChunkingSettings
from index.chunking import ChunkSettings, chunk
from index.types import Document, ExcerptSpan

TABULAR_SUFFIXES = frozenset({".csv", ".xlsx"})
SUBTITLE_SUFFIXES = frozenset({".vtt", ".srt"})


def interviewer_names(configured: Iterable[str], attributes: Mapping[str, str] | None = None) -> list[str]:
    """The project's interviewer labels plus the source's own `interviewer` attribute
    (`;`-separated), which is how a metadata row names who asked the questions."""
    names = list(configured)
    names += [n.strip() for n in (attributes or {}).get("interviewer", "").split(";") if n.strip()]
    return names


def excerpt_spans(text_or_doc: str | Document, interviewers: Sequence[str], settings: ChunkingSettings,
                  name: str = "") -> list[ExcerptSpan]:
    """Excerpt spans (speaker turns, paragraphs, pages) of a text; offsets are into its canonical text."""
    doc = text_or_doc if isinstance(text_or_doc, Document) else Document(name=name, text=text_or_doc)
    return chunk(doc, list(interviewers), ChunkSettings(
        target_chars=settings.target_chars, max_chars=settings.max_chars, min_chars=settings.min_chars,
    ))


def guess_kind(spans: Sequence[ExcerptSpan], suffix: str = "") -> str:
    """A kind when neither the analyst nor the metadata gave one: a table of answers is a survey;
    two or more speakers (or subtitles) make an interview; anything else is a document."""
    suffix = suffix.lower()
    if suffix in TABULAR_SUFFIXES:
        return "survey"
    speakers = {s.speaker for s in spans if s.speaker}
    return "interview" if len(speakers) >= 2 or suffix in SUBTITLE_SUFFIXES else "document"


def excerpt_records(source: Source, spans: Sequence[ExcerptSpan]) -> list[Excerpt]:
    """Excerpt records for a stored source (their text is the source's own characters)."""
    assert source.id is not None
    text = source.text
    return [
        Excerpt(
            source_id=source.id, ordinal=i, start=s.start, end=s.end, text=text[s.start:s.end],
            speaker=s.speaker, is_interviewer=s.is_interviewer, page=s.page, time=s.time,
            context_start=s.context_start, context_end=s.context_end,
        )
        for i, s in enumerate(spans)
    ]
