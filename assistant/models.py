"""Domain records: the evidence chain source -> excerpt -> suggestion -> decision -> coding ->
quote -> theme. Pydantic models with `extra="forbid"` so a typo in a field is an error, not a
silently dropped value. Offsets are always into `Source.text` (the canonical text)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

SourceKind = Literal["interview", "document", "survey", "field_notes", "other"]
SOURCE_KINDS: tuple[str, ...] = ("interview", "document", "survey", "field_notes", "other")
SuggestionStatus = Literal["pending", "accepted", "rejected", "edited", "superseded"]
DecisionAction = Literal["accept", "reject", "edit", "add"]
ThemeStatus = Literal["draft", "accepted", "rejected"]


def utcnow() -> str:
    """ISO-8601 UTC timestamps: sortable as text in SQLite and unambiguous across machines."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class Source(Record):
    id: int | None = None
    name: str
    path: str = ""
    kind: str = "document"
    content_hash: str = ""
    text: str
    attributes: dict[str, str] = Field(default_factory=dict)
    pages: list[tuple[int, int, int]] = Field(default_factory=list)  # (number, start, end)
    reader: str = ""
    reader_version: str = ""
    format: str = ""
    version: int = 1
    added_at: str = Field(default_factory=utcnow)

    def span(self, start: int, end: int) -> str:
        return self.text[start:end]


class Excerpt(Record):
    id: int | None = None
    source_id: int
    ordinal: int
    start: int
    end: int
    text: str
    speaker: str | None = None
    is_interviewer: bool = False
    page: int | None = None
    time: str | None = None
    context_start: int | None = None
    context_end: int | None = None

    @model_validator(mode="after")
    def _check_span(self) -> "Excerpt":
        if not (0 <= self.start < self.end) or len(self.text) != self.end - self.start:
            raise ValueError(f"excerpt span {self.start}:{self.end} does not match its text")
        return self


class Code(Record):
    id: int | None = None
    name: str
    parent_id: int | None = None
    definition: str = ""
    include: str = ""
    exclude: str = ""
    examples: list[str] = Field(default_factory=list)
    colour: str = "#888888"
    scope: dict[str, Any] | None = None  # e.g. {"filters": {"kind": "interview"}} or {"question": "..."}
    status: Literal["active", "merged", "deleted"] = "active"
    merged_into: int | None = None
    created_at: str = Field(default_factory=utcnow)


class Suggestion(Record):
    id: int | None = None
    excerpt_id: int
    source_id: int
    code_id: int | None = None  # None when the engine proposes a new code
    proposed_name: str | None = None
    proposed_definition: str | None = None
    score: float = 0.0
    rationale: str = ""
    evidence_start: int | None = None
    evidence_end: int | None = None
    evidence_text: str | None = None
    engine: str = "offline"
    model: str = ""
    prompt_version: str = ""
    params: dict[str, Any] = Field(default_factory=dict)
    run_id: str | None = None
    status: SuggestionStatus = "pending"
    created_at: str = Field(default_factory=utcnow)


class Decision(Record):
    id: int | None = None
    suggestion_id: int | None = None
    action: DecisionAction
    analyst: str
    code_id: int | None = None
    source_id: int | None = None
    start: int | None = None
    end: int | None = None
    note: str = ""
    created_at: str = Field(default_factory=utcnow)


class Coding(Record):
    """A code applied to a span of a source by a coder (an analyst, or the AI as its own coder)."""

    id: int | None = None
    source_id: int
    excerpt_id: int | None = None
    code_id: int
    start: int
    end: int
    text: str
    coder: str
    origin: Literal["manual", "suggestion", "import", "ai"] = "manual"
    suggestion_id: int | None = None
    status: Literal["active", "removed"] = "active"
    created_at: str = Field(default_factory=utcnow)


class Quote(Record):
    """A verbatim span of a source, ready for a write-up. Only built through
    `assistant.verbatim` so `source.text[start:end] == text` is checked at construction."""

    source_id: int
    source_name: str
    start: int
    end: int
    text: str
    attribution: str = ""
    excerpt_id: int | None = None
    score: float = 0.0
    origin: Literal["coding", "search"] = "search"
    why: str = ""
    attributes: dict[str, str] = Field(default_factory=dict)
    line: int | None = None


class Theme(Record):
    id: int | None = None
    name: str
    summary: str = ""
    summary_kind: Literal["extractive", "llm", "analyst"] = "extractive"
    status: ThemeStatus = "draft"
    code_ids: list[int] = Field(default_factory=list)
    quotes: list[Quote] = Field(default_factory=list)
    engine: str = ""
    model: str = ""
    prompt_version: str = ""
    created_at: str = Field(default_factory=utcnow)


class Memo(Record):
    id: int | None = None
    target_type: Literal["project", "source", "code", "coding", "theme"]
    target_id: int | None = None
    text: str
    author: str
    created_at: str = Field(default_factory=utcnow)


class BasketItem(Record):
    id: int | None = None
    position: int = 0
    quote: Quote
    note: str = ""
    created_at: str = Field(default_factory=utcnow)


class AuditEvent(Record):
    id: int | None = None
    time: str = Field(default_factory=utcnow)
    actor: str
    action: str
    entity_type: str
    entity_id: int | None = None
    details: dict[str, Any] = Field(default_factory=dict)
