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


AI_CODER_PREFIX = "ai:"


def ai_coder_name(engine: str, model: str) -> str:
    """The AI as a coder is named "ai:<engine>:<model>", so each model's codings can be compared
    with an analyst's like any other coder's."""
    return f"{AI_CODER_PREFIX}{engine}:{model}"


def is_ai_coder(coder: str) -> bool:
    """The one test for "this coder is the AI" (case-insensitive prefix "ai:"), used by counts,
    exports, quotes and agreement alike so they never disagree about who coded what."""
    return coder[: len(AI_CODER_PREFIX)].lower() == AI_CODER_PREFIX


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


class SourceVersion(Record):
    """An earlier text of a source, kept when a re-ingest replaced it: orphaned codings point into
    it, and nothing the analyst saw is lost."""

    source_id: int
    version: int
    text: str
    content_hash: str
    path: str = ""
    pages: list[tuple[int, int, int]] = Field(default_factory=list)
    added_at: str = ""
    replaced_at: str = Field(default_factory=utcnow)


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


class UndoStep(Record):
    """One change of an analyst's that Undo can take back, newest first in
    `decisions.undoable_changes`: a decision (accept, edit, reject, a hand coding added) or a
    coding removed or resized. `audit_id` is the audit row that recorded the change (its place in
    time); `decision_id` is set for a decision, `coding_id` for the coding it touched."""

    kind: Literal["decision", "remove", "resize"]
    action: str  # what is undone, in words: "accept", "add", "remove", "resize", ...
    audit_id: int
    decision_id: int | None = None
    coding_id: int | None = None
    time: str = ""


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
    # orphaned: a re-ingest could not find its words in the new text; start/end/text then refer to
    # `source_version` (kept in `source_versions`) until the analyst re-attaches or dismisses it
    status: Literal["active", "removed", "orphaned", "dismissed"] = "active"
    source_version: int | None = None
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


MemoTargetType = Literal["project", "source", "code", "coding", "theme"]
MEMO_TARGET_TYPES: tuple[str, ...] = ("project", "source", "code", "coding", "theme")


class Memo(Record):
    """An analyst's note. `target_type/target_id` is where it was written (its home; target_id is
    None for the project); more targets are linked in `memo_links` (`assistant.coding.memos`)."""

    id: int | None = None
    target_type: MemoTargetType
    target_id: int | None = None
    text: str
    author: str
    created_at: str = Field(default_factory=utcnow)
    updated_at: str | None = None  # last edit of the text; the earlier texts are in the audit log


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


# -- records as the store holds them: saved, so they have an id
#
# A record is built without an id (`id=None`) and SQLite gives it one when it is saved. Everything
# the store returns, from an add_* or a get_*/list_*, is one of these subclasses: the same fields
# and behaviour, but `id: int`, so code that reads a record back can use its id directly instead
# of checking for None at every step. Annotate a parameter with the Stored* type when the function
# needs the record's id, and with the base type when it works on a record that may be unsaved.


class StoredSource(Source):
    id: int


class StoredExcerpt(Excerpt):
    id: int


class StoredCode(Code):
    id: int


class StoredSuggestion(Suggestion):
    id: int


class StoredDecision(Decision):
    id: int


class StoredCoding(Coding):
    id: int


class StoredTheme(Theme):
    id: int


class StoredMemo(Memo):
    id: int


class StoredBasketItem(BasketItem):
    id: int


class StoredAuditEvent(AuditEvent):
    id: int


# -- the analyst's workspace: memos, the code tree, coded segments, text search, matrices, blind coding


class MemoTarget(Record):
    """One thing a memo is about. `label` names it for a reader ("source P01", "code Drivers >
    Housing"); `exists` is False when the thing was deleted after the memo was written (the memo
    is kept: nothing the analyst wrote is lost)."""

    type: MemoTargetType
    id: int | None = None
    label: str = ""
    exists: bool = True


class MemoView(Record):
    """A memo with everything it is about, its home target first."""

    memo: Memo
    targets: list[MemoTarget] = Field(default_factory=list)


class CodeCounts(Record):
    codings: int = 0
    sources: int = 0
    participants: int = 0


class CodeNode(Record):
    """One code in the workspace tree. `own` counts the code's own codings; `total` rolls up its
    descendants too (sources and participants as distinct unions, never sums). `parent_id` is the
    parent in the tree as walked (a damaged store's parent cycle is cut, see `codebook.Hierarchy`)."""

    id: int
    name: str
    path: str
    parent_id: int | None = None
    depth: int = 0
    children: list[int] = Field(default_factory=list)
    definition: str = ""
    include: str = ""
    exclude: str = ""
    colour: str = "#888888"
    own: CodeCounts = Field(default_factory=CodeCounts)
    total: CodeCounts = Field(default_factory=CodeCounts)
    memos: int = 0


class Segment(Record):
    """A coded segment as the workspace retrieves it: `text == source.text[start:end]` always (the
    source's own characters); `changed` is True when the stored coding's text no longer equals
    them (the source changed under it). `line` is the 1-based line of `start` in the source text;
    `speaker` and `excerpt_id` are of the turn the segment falls in."""

    coding_id: int
    code_id: int
    code: str
    code_path: str
    source_id: int
    source: str
    kind: str = ""
    start: int
    end: int
    text: str
    line: int
    speaker: str | None = None
    excerpt_id: int | None = None
    is_interviewer: bool = False
    participant: str = ""
    coder: str
    origin: str = "manual"
    attributes: dict[str, str] = Field(default_factory=dict)
    created_at: str = ""
    changed: bool = False


class KwicHit(Record):
    """A text-search hit in keyword-in-context form. `text == source.text[start:end]`, `left ==
    source.text[context_start:start]` and `right == source.text[end:context_end]`: every piece is
    the source's own characters. `line` is 1-based; `speaker`/`excerpt_id` are of the turn the hit
    falls in (None outside any turn, e.g. in a speaker label)."""

    source_id: int
    source: str
    kind: str = ""
    start: int
    end: int
    text: str
    left: str
    right: str
    context_start: int
    context_end: int
    line: int
    term: str
    speaker: str | None = None
    excerpt_id: int | None = None
    is_interviewer: bool = False
    page: int | None = None


class FindResult(Record):
    query: str
    terms: list[str]
    hits: list[KwicHit] = Field(default_factory=list)
    total: int = 0  # every hit that passed the filters (counted up to `total_cap`)
    total_capped: bool = False
    truncated: bool = False  # more hits than `limit`: only the first `limit` are in `hits`
    sources_searched: int = 0
    seconds: float = 0.0


class MatrixCell(Record):
    count: int = 0
    coding_ids: list[int] = Field(default_factory=list)


class MatrixRow(Record):
    code_id: int
    code: str
    path: str
    depth: int = 0
    cells: dict[str, MatrixCell] = Field(default_factory=dict)  # column value -> cell
    total: MatrixCell = Field(default_factory=MatrixCell)


class MatrixTable(Record):
    """Codes by the values of one attribute. Every column value is a key of every row's `cells`;
    `(none)` collects the codings whose source has no value for the attribute."""

    attribute: str
    count: Literal["codings", "sources", "participants"] = "codings"
    columns: list[str] = Field(default_factory=list)
    rows: list[MatrixRow] = Field(default_factory=list)
    column_totals: dict[str, int] = Field(default_factory=dict)
    rollup: bool = False
    filters: dict[str, Any] = Field(default_factory=dict)


class BlindPeriod(Record):
    """A coder coding a source blind, from `started_at` until `ended_at` (None: still blind)."""

    coder: str
    source_id: int
    source: str = ""
    started_at: str
    ended_at: str | None = None


class IndependenceIssue(Record):
    """Why one coder's codings of one source are not independent of the other coder's."""

    coder: str
    other: str
    source_id: int
    source: str
    reason: Literal["accepted_ai_suggestions", "saw_ai_suggestions", "saw_other_codings", "ai_learned_from_coder"]
    codings: int = 0
    detail: str = ""


class Independence(Record):
    """Whether an agreement comparison between two coders is independent, and if not, why (one
    sentence per reason in `reasons`, the details per source in `issues`)."""

    coder_a: str
    coder_b: str
    independent: bool
    reasons: list[str] = Field(default_factory=list)
    issues: list[IndependenceIssue] = Field(default_factory=list)
    sources_compared: list[int] = Field(default_factory=list)
    dependent_sources: list[int] = Field(default_factory=list)
