"""The MCP tools as plain functions over a project: each takes a `ToolContext` (the project, the
server's policy, its presenter and the calling client) and returns a typed record from
`assistant.mcp.models`. No MCP types here, so every tool is testable without a transport, and the
server (`assistant.mcp.server`) only adds the protocol, the audit row and the time bound.

Each tool calls the library function the faces call (search, find, quotes, segments, the offline
suggestion engine, hand coding, memos), so results are the ones the workspace shows, and passes
every span through the presenter (verbatim check, pseudonyms, caps)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from assistant.errors import NotFound, ThematicError
from assistant.mcp.models import (
    CodeOut,
    CodesOut,
    FindHit,
    FindOut,
    Passage,
    QuoteOut,
    QuotesOut,
    SearchHit,
    SearchOut,
    SegmentOut,
    SegmentsOut,
    ShowOut,
    SourceOut,
    SourcesOut,
    SuggestionOut,
    SuggestOut,
    WriteOut,
)
from assistant.mcp.policy import ServePolicy
from assistant.mcp.present import Budget, Presenter
from assistant.project import Project

MAX_QUERY = 1000
MAX_FILTERS = 12
MAX_MEMO = 20_000
SEARCH_MODES = ("hybrid", "bm25", "dense")


@dataclass
class ToolContext:
    project: Project
    policy: ServePolicy
    presenter: Presenter
    client: str = "unknown"
    engine: Any = field(default=None, repr=False)  # the offline suggestion engine, prepared once

    @property
    def actor(self) -> str:
        return f"mcp:{self.client}"

    def budget(self, k: int | None = None) -> Budget:
        n = self.policy.max_results if k is None else max(1, min(int(k), self.policy.max_results))
        # asking for more than the server returns is said, not silently shortened
        return Budget(items=n, chars=self.policy.max_chars, truncated=k is not None and int(k) > n)


class BadArgument(ThematicError):
    """A tool argument the server will not act on (too long, unknown mode, bad filter)."""


def _query(ctx: ToolContext, query: str, what: str = "query") -> str:
    q = ctx.presenter.decode((query or "").strip())
    if not q:
        raise BadArgument(f"the {what} is empty")
    if len(q) > MAX_QUERY:
        raise BadArgument(f"the {what} is {len(q)} characters; at most {MAX_QUERY}")
    return q


def _filters(ctx: ToolContext, filters: Mapping[str, Any] | None) -> dict[str, str | list[str]] | None:
    if not filters:
        return None
    if len(filters) > MAX_FILTERS:
        raise BadArgument(f"at most {MAX_FILTERS} filters")
    out: dict[str, str | list[str]] = {}
    for k, v in filters.items():
        if isinstance(v, (list, tuple)):
            out[str(k)] = [ctx.presenter.unlabel(str(x)) for x in v][:50]
        else:
            out[str(k)] = ctx.presenter.unlabel(str(v))
    return out


# -- read ---------------------------------------------------------------------------------------------
def search(ctx: ToolContext, query: str, k: int = 10, mode: str = "hybrid",
           filters: Mapping[str, Any] | None = None, include_interviewer: bool = False) -> SearchOut:
    from assistant.corpus.search import search as corpus_search

    if mode not in SEARCH_MODES:
        raise BadArgument(f"mode {mode!r}: use one of {', '.join(SEARCH_MODES)}")
    q, budget = _query(ctx, query), ctx.budget(k)
    hits = corpus_search(ctx.project, q, k=budget.items, mode=mode, filters=_filters(ctx, filters),
                         exclude_interviewer=not include_interviewer)
    out = []
    for rank, h in enumerate(hits, 1):
        p = ctx.presenter.passage(h.source_id, h.start, h.end, expected=h.text, budget=budget, cls=SearchHit,
                                  speaker=h.speaker, page=h.page, excerpt_id=h.id, score=round(float(h.score), 4),
                                  rank=rank)
        if p is not None:
            out.append(p)
    return SearchOut(query=ctx.presenter.enc(q), mode=mode, hits=out, truncated=budget.truncated)


def find(ctx: ToolContext, query: str, filters: Mapping[str, Any] | None = None, limit: int = 25,
         context: int = 60, case_sensitive: bool = False) -> FindOut:
    from assistant.corpus.find import find as corpus_find

    q, budget = _query(ctx, query), ctx.budget(limit)
    res = corpus_find(ctx.project, q, filters=_filters(ctx, filters), limit=budget.items,
                      context=max(0, min(int(context), 300)), case_sensitive=case_sensitive)
    out = []
    for h in res.hits:
        text = ctx.presenter.text_of(h.source_id)
        if text[h.context_start:h.start] != h.left or text[h.end:h.context_end] != h.right:
            budget.dropped += 1
            continue
        p = ctx.presenter.passage(h.source_id, h.start, h.end, expected=h.text, budget=budget, cls=FindHit,
                                  speaker=h.speaker, page=h.page, excerpt_id=h.excerpt_id, left=h.left, right=h.right,
                                  context_start=h.context_start, context_end=h.context_end, term=h.term)
        if p is not None:
            out.append(p)
    return FindOut(query=ctx.presenter.enc(q), hits=out, total=res.total,
                   truncated=budget.truncated or res.truncated)


def quotes(ctx: ToolContext, code: str | None = None, query: str | None = None, theme: str | None = None,
           k: int = 5, per_participant: int | None = None, filters: Mapping[str, Any] | None = None) -> QuotesOut:
    from assistant.writing.quotes import find_quotes

    if sum(x is not None and str(x).strip() != "" for x in (code, query, theme)) != 1:
        raise BadArgument("give exactly one of code, query or theme")
    budget = ctx.budget(k)
    q = _query(ctx, query) if query else None
    res = find_quotes(ctx.project, code=code, theme=theme, query=q, k=budget.items,
                      per_participant=per_participant, filters=_filters(ctx, filters))
    out = []
    for quote in res.quotes:
        p = ctx.presenter.passage(quote.source_id, quote.start, quote.end, expected=quote.text, budget=budget,
                                  cls=QuoteOut, excerpt_id=quote.excerpt_id, score=round(float(quote.score), 4),
                                  origin=quote.origin, why=quote.why)
        if p is not None:
            out.append(p)
    target = code or theme or ctx.presenter.enc(q or "")
    return QuotesOut(target=target, quotes=out, spread=ctx.presenter.enc(res.spread_text), truncated=budget.truncated)


def show(ctx: ToolContext, source: str | int, start: int = 0, end: int | None = None) -> ShowOut:
    src = ctx.presenter.source(source)
    sid = int(src.id)  # type: ignore[arg-type]
    text = ctx.presenter.text_of(sid)
    start = max(0, min(int(start), len(text)))
    end = len(text) if end is None else max(start, min(int(end), len(text)))
    truncated = end - start > ctx.policy.max_chars
    if truncated:
        end = start + ctx.policy.max_chars
    p = ctx.presenter.passage(sid, start, end, expected=None, budget=None)
    assert p is not None  # offsets were clamped to the text
    return ShowOut(passage=p, source_length=len(text), truncated=truncated)


def list_sources(ctx: ToolContext) -> SourcesOut:
    budget, out = ctx.budget(10_000), []
    limit = max(ctx.policy.max_results * 20, 200)
    for i, (sid, src) in enumerate(sorted(ctx.presenter.sources.items())):
        if i >= limit:
            budget.truncated = True
            break
        out.append(SourceOut(id=sid, name=ctx.presenter.label(sid), kind=src.kind,
                             chars=int(getattr(src, "chars", 0) or len(ctx.presenter.text_of(sid))),
                             attributes=ctx.presenter.attributes(sid)))
    return SourcesOut(sources=out, truncated=budget.truncated)


def list_codes(ctx: ToolContext) -> CodesOut:
    from assistant.coding.codebook import code_paths

    codes = ctx.project.store.list_codes()
    counts = ctx.project.store.code_counts()
    paths = code_paths(codes)
    limit, chars, truncated = 2000, 0, False
    out: list[CodeOut] = []
    for c in codes:
        definition = ctx.presenter.enc(c.definition or "")
        chars += len(definition) + len(c.name)
        if len(out) >= limit or chars > ctx.policy.max_chars * 5:
            truncated = True
            break
        out.append(CodeOut(id=int(c.id), name=c.name, path=paths.get(int(c.id), c.name),  # type: ignore[arg-type]
                           definition=definition, parent_id=c.parent_id,
                           codings=sum(counts.get(c.id, {}).values())))
    return CodesOut(codes=out, truncated=truncated)


def code_segments(ctx: ToolContext, code: str, include_children: bool = True,
                  filters: Mapping[str, Any] | None = None, limit: int | None = None) -> SegmentsOut:
    from assistant.coding.segments import code_segments as segments

    budget = ctx.budget(limit)
    segs = segments(ctx.project, code, include_children=include_children, filters=_filters(ctx, filters))
    out = []
    for s in segs:
        p = ctx.presenter.passage(s.source_id, s.start, s.end, expected=s.text, budget=budget, cls=SegmentOut,
                                  speaker=s.speaker, excerpt_id=s.excerpt_id, coding_id=s.coding_id, code=s.code,
                                  coder=s.coder, origin=s.origin)
        if p is not None:
            out.append(p)
        elif budget.truncated:
            break
    return SegmentsOut(code=code, segments=out, total=len(segs), truncated=budget.truncated)


def _excerpt(ctx: ToolContext, excerpt_id: int | None, source: str | int | None, offset: int | None) -> Any:
    store = ctx.project.store
    if excerpt_id is not None:
        return store.get_excerpt(int(excerpt_id))
    if source is None or offset is None:
        raise BadArgument("give excerpt_id, or source and offset")
    src = ctx.presenter.source(source)
    for e in store.list_excerpts(source_id=src.id):
        if e.start <= int(offset) < e.end:
            return e
    raise NotFound(f"no excerpt of {ctx.presenter.label(int(src.id))!r} holds offset {offset}")  # type: ignore[arg-type]


def suggest_codes(ctx: ToolContext, excerpt_id: int | None = None, source: str | int | None = None,
                  offset: int | None = None, record: bool = False) -> SuggestOut:
    """The offline engine's codes for one excerpt; shown only, or (propose level) recorded as
    pending suggestions, exactly as `thematic suggest` records them."""
    from assistant.coding.suggest import SuggestContext, make_engine, record_results

    if record:
        ctx.policy.require("propose", "suggest_codes with record=true")
    ex = _excerpt(ctx, excerpt_id, source, offset)
    budget = ctx.budget()
    excerpt = ctx.presenter.passage(ex.source_id, ex.start, ex.end, expected=ex.text, budget=None,
                                    speaker=ex.speaker, excerpt_id=ex.id)
    if excerpt is None:
        raise ThematicError(f"excerpt {ex.id} no longer matches its source; re-run `thematic verify`")
    if ctx.engine is None:
        ctx.engine = make_engine(ctx.project, "offline")
    codes = ctx.project.store.list_codes()
    sctx = SuggestContext.for_project(ctx.project)
    ctx.engine.prepare(codes, sctx)
    results = ctx.engine.suggest([ex], codes, sctx)
    names = {c.id: c.name for c in codes}
    saved_ids: list[int | None] = [None] * len(results[0].proposals) if results else []
    if record and results:
        saved = record_results(ctx.project, ctx.engine, {ex.id: ex}, results, actor=ctx.actor)
        saved_ids = [int(s.id) for s in saved]  # type: ignore[arg-type]
    out = []
    for i, prop in enumerate(results[0].proposals if results else []):
        ev = None
        if prop.evidence_start is not None and prop.evidence_end is not None:
            ev = ctx.presenter.passage(ex.source_id, prop.evidence_start, prop.evidence_end,
                                       expected=prop.evidence_text, budget=budget, speaker=ex.speaker,
                                       excerpt_id=ex.id)
        out.append(SuggestionOut(code_id=prop.code_id, code=names.get(prop.code_id, prop.proposed_name or "?"),
                                 score=round(float(prop.score), 4), evidence=ev, rationale=prop.rationale,
                                 suggestion_id=saved_ids[i] if i < len(saved_ids) else None,
                                 status="pending" if record else "shown"))
    return SuggestOut(excerpt=excerpt, engine=ctx.engine.name, model=ctx.engine.model, suggestions=out,
                      recorded=bool(record))


# -- propose ----------------------------------------------------------------------------------------
def propose_coding(ctx: ToolContext, source: str | int, start: int, end: int, code: str, rationale: str = "",
                   quote: str | None = None, definition: str = "", confidence: float = 0.5) -> WriteOut:
    from assistant.mcp.writes import propose_suggestion

    ctx.policy.require("propose", "propose_coding")
    src = ctx.presenter.source(source)
    words = ctx.presenter.decode(quote) if quote else None
    s = propose_suggestion(ctx.project, ctx.actor, ctx.client, int(src.id), int(start), int(end),  # type: ignore[arg-type]
                           code=code, text=words, rationale=ctx.presenter.decode(rationale or ""),
                           definition=definition, confidence=confidence)
    p = ctx.presenter.passage(s.source_id, int(s.evidence_start), int(s.evidence_end),  # type: ignore[arg-type]
                              expected=s.evidence_text, budget=None, excerpt_id=s.excerpt_id)
    return WriteOut(action="suggestion.create", id=int(s.id), passage=p, status=s.status,  # type: ignore[arg-type]
                    detail="waits in the review queue for the analyst")


# -- write ------------------------------------------------------------------------------------------
def add_coding(ctx: ToolContext, source: str | int, start: int, end: int, code: str, quote: str | None = None,
               note: str = "") -> WriteOut:
    from assistant.coding.decisions import add_coding as hand_code

    ctx.policy.require("write", "add_coding")
    src = ctx.presenter.source(source)
    words = ctx.presenter.decode(quote) if quote else None
    c = hand_code(ctx.project, int(src.id), int(start), int(end), code, analyst=ctx.actor,  # type: ignore[arg-type]
                  text=words, note=(note or "")[:MAX_MEMO])
    p = ctx.presenter.passage(c.source_id, c.start, c.end, expected=c.text, budget=None, excerpt_id=c.excerpt_id)
    return WriteOut(action="decision.add", id=int(c.id), passage=p, status="coded")  # type: ignore[arg-type]


def add_memo(ctx: ToolContext, text: str, target_type: str = "project", target: str | int | None = None) -> WriteOut:
    from assistant.coding.memos import add_memo as write_memo

    ctx.policy.require("write", "add_memo")
    body = (text or "")
    if len(body) > MAX_MEMO:
        raise BadArgument(f"a memo of at most {MAX_MEMO} characters")
    m = write_memo(ctx.project, ctx.presenter.decode(body), target_type, target, author=ctx.actor)
    memo_id = getattr(getattr(m, "memo", m), "id", None)
    return WriteOut(action="memo.add", id=int(memo_id or 0), status="saved")


def codebook(ctx: ToolContext) -> CodesOut:
    return list_codes(ctx)


__all__ = [
    "BadArgument",
    "Passage",
    "ToolContext",
    "add_coding",
    "add_memo",
    "code_segments",
    "find",
    "list_codes",
    "list_sources",
    "propose_coding",
    "quotes",
    "search",
    "show",
    "suggest_codes",
]
