"""Plain data that flows out of the corpus layer: documents, pages, speaker turns, excerpt spans.

All positions are character offsets into one canonical plain text per source (see `index.text`),
so anything downstream can check `text[start:end]` against what it shows.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Page:
    """A page of a paginated source; `start`/`end` are offsets into the canonical text."""

    number: int
    start: int
    end: int


@dataclass(frozen=True)
class Turn:
    """One speaker turn. `start` is where the turn (with its label) begins; `body_start` is where
    the spoken words begin, after any `[00:01:02] Name:` label; `end` is exclusive."""

    start: int
    body_start: int
    end: int
    speaker: str | None
    is_interviewer: bool = False
    time: str | None = None


@dataclass
class Document:
    """What a reader returns: one source's canonical text and the structure it could see.

    `turns` is set by readers that know the speakers (VTT voice tags, SRT, tabular answers);
    otherwise turn detection runs on the text. `attributes` carries per-row attributes for tabular
    sources. `name` is a suggested unique source name (file stem, or stem#row-id). `notes` are
    problems the reader worked around and the analyst should hear about (a scanned page stored
    empty, a line that looks like a speaker turn but was not read as one); each is one sentence
    without the file name, which the caller prefixes."""

    name: str
    text: str
    pages: list[Page] = field(default_factory=list)
    turns: list[Turn] | None = None
    attributes: dict[str, str] = field(default_factory=dict)
    reader: str = ""
    reader_version: str = ""
    format: str = ""
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ExcerptSpan:
    """An excerpt before it is stored: `text[start:end]` of its document.

    `context_start`/`context_end` point at the interviewer question an answer responds to, kept
    as context rather than merged into the answer."""

    start: int
    end: int
    speaker: str | None = None
    is_interviewer: bool = False
    page: int | None = None
    time: str | None = None
    context_start: int | None = None
    context_end: int | None = None
    kind: str = "body"  # index.front_matter: body | header | front_matter | heading | speaker_label


def ordinal(n: int) -> str:
    """1 -> "1st", 2 -> "2nd", 11 -> "11th", 23 -> "23rd"."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


@dataclass(frozen=True)
class ExcerptHit:
    """A search hit on one stored excerpt, with its evidence as typed fields: where it is
    (`source_id`, `start`, `end`, so `source.text[start:end] == text`), who says it, on which page,
    and why it was found (ranks and scores per retriever). `attributes` holds the source's own
    attributes (participant, organisation, ...), the only free-form part. Built from an index hit
    by `index.records.excerpt_hit`, the one place that reads an excerpt record's metadata."""

    id: int  # the excerpt id
    text: str
    source_id: int
    source: str
    kind: str
    start: int
    end: int
    score: float
    speaker: str | None = None
    is_interviewer: bool = False
    page: int | None = None
    ordinal: int | None = None
    attributes: dict[str, str] = field(default_factory=dict)
    dense_rank: int | None = None
    bm25_rank: int | None = None
    dense_score: float | None = None
    bm25_score: float | None = None
    rerank_score: float | None = None

    @property
    def span(self) -> tuple[int, int]:
        return (self.start, self.end)

    @property
    def why(self) -> str:
        """Why it was found, in words a reader follows: its rank by meaning (the embedding
        search) and by its words (the keyword search), e.g. "2nd closest in meaning, 5th by
        its words". Empty when neither retriever ranked it."""
        return ", ".join(x for x in (f"{ordinal(self.dense_rank)} closest in meaning" if self.dense_rank else "",
                                     f"{ordinal(self.bm25_rank)} by its words" if self.bm25_rank else "") if x)
