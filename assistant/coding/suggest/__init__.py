"""Code suggestions: one interface over two engines (offline embeddings; an LLM through LangChain),
and the bookkeeping that makes every proposal auditable.

Design choice (AI as a coder): the AI's codings are DERIVED from its suggestions by `ai_codings()`
(coder "ai:<engine>:<model>", origin "ai", span = the excerpt) rather than written as rows in
`codings`. That keeps code counts, exports and the analyst's codings free of unreviewed AI output,
and a superseded run needs no clean-up; agreement (AI vs analyst) is computed from `ai_codings()`.

Proposals carry flags the reviewer must see: `new_code` (the code is not in the codebook; accepting
it adds it) and `suspicious_evidence` (the evidence reads as an instruction to the model, so the
model's say-so is no reason to trust it). Flags are stored with the suggestion (`params["flags"]`)
and surfaced on `SuggestionView` as `is_new_code`, `suspicious` and `flags`."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from assistant.models import (
    Coding,
    Source,
    StoredCode,
    StoredExcerpt,
    StoredSuggestion,
    Suggestion,
    ai_coder_name,
    is_ai_coder,
)
from assistant.project import Project


@dataclass
class Proposal:
    code_id: int | None
    score: float
    rationale: str = ""
    evidence_start: int | None = None
    evidence_end: int | None = None
    evidence_text: str | None = None
    proposed_name: str | None = None
    proposed_definition: str | None = None
    flags: list[str] = field(default_factory=list)  # FLAG_NEW_CODE, FLAG_SUSPICIOUS, ...


FLAG_NEW_CODE = "new_code"
FLAG_SUSPICIOUS = "suspicious_evidence"


def suggestion_flags(s: Suggestion) -> list[str]:
    """A stored suggestion's flags; `new_code` whenever it names no codebook code, whatever
    engine or version wrote it (older rows carry no flags of their own)."""
    flags = [str(f) for f in (s.params or {}).get("flags", []) if isinstance(f, str)]
    if s.code_id is None and FLAG_NEW_CODE not in flags:
        flags.insert(0, FLAG_NEW_CODE)
    return flags


@dataclass
class EngineResult:
    excerpt_id: int
    proposals: list[Proposal] = field(default_factory=list)
    error: str | None = None
    counts: Counter = field(default_factory=Counter)  # evidence_repaired, evidence_dropped, codes_dropped, ...
    call: dict[str, Any] | None = None  # CallRecord.to_dict() for LLM engines
    cost_usd: float = 0.0


@dataclass
class SuggestContext:
    project: Project
    sources: dict[int, Source]
    run_id: str | None = None
    # excerpts whose codings the engine must not learn from (a validation sample the analyst
    # coded blind: the engine is scored against those codings, so it may not have seen them)
    holdout: frozenset[int] = frozenset()

    @classmethod
    def for_project(cls, project: Project, run_id: str | None = None,
                    holdout: frozenset[int] = frozenset()) -> "SuggestContext":
        return cls(project, {s.id: s for s in project.store.list_sources(with_text=True)}, run_id,
                   frozenset(holdout))


class SuggestionEngine(ABC):
    """`suggest` must not write to the store: recording is `record_results`' job, so that engines
    stay testable and a batch can be written atomically per excerpt."""

    name: str = ""
    model: str = ""
    prompt_version: str = ""

    @property
    def params(self) -> dict[str, Any]:
        return {}

    def prepare(self, codes: list[StoredCode], context: SuggestContext) -> None:
        """Optional one-off work before a batch (embedding the codebook, calibration)."""

    @abstractmethod
    def suggest(self, excerpts: list[StoredExcerpt], codes: list[StoredCode], context: SuggestContext) -> list[EngineResult]:
        """One result per excerpt, in order."""

    def audit_info(self) -> dict[str, Any]:
        return {"engine": self.name, "model": self.model, "prompt_version": self.prompt_version, "params": self.params}


def make_engine(project: Project, engine: str = "offline", chat_model: Any = None) -> SuggestionEngine:
    if engine == "offline":
        from assistant.coding.suggest.offline import OfflineEngine

        return OfflineEngine.from_project(project)
    if engine == "llm":
        from assistant.coding.suggest.assisted import llm_engine_for

        return llm_engine_for(project, chat_model=chat_model)
    raise ValueError(f"unknown engine {engine!r} (use offline or llm)")


def record_results(
    project: Project, engine: SuggestionEngine, excerpts: dict[int, StoredExcerpt], results: list[EngineResult],
    run_id: str | None = None, actor: str | None = None,
) -> list[StoredSuggestion]:
    """Write an excerpt's proposals (superseding the engine's older pending ones) with an audit row
    each; one transaction per excerpt, and the run item is marked in the same transaction."""
    store, info = project.store, engine.audit_info()
    actor = actor or ai_coder_name(engine.name, engine.model)
    out: list[StoredSuggestion] = []
    for res in results:
        ex = excerpts[res.excerpt_id]
        with store.transaction():
            if res.error is None:
                store.supersede_pending(ex.id, engine.name)
                rows = [Suggestion(
                    excerpt_id=ex.id, source_id=ex.source_id, code_id=p.code_id, proposed_name=p.proposed_name,
                    proposed_definition=p.proposed_definition, score=round(float(p.score), 4), rationale=p.rationale,
                    evidence_start=p.evidence_start, evidence_end=p.evidence_end, evidence_text=p.evidence_text,
                    engine=engine.name, model=engine.model, prompt_version=engine.prompt_version,
                    params=_with_flags(engine.params, p), run_id=run_id) for p in res.proposals]
                saved = store.add_suggestions(rows)
                for s in saved:
                    store.audit(actor, "suggestion.create", "suggestion", s.id, excerpt_id=ex.id, code_id=s.code_id,
                                proposed_name=s.proposed_name, score=s.score, evidence=[s.evidence_start, s.evidence_end],
                                flags=suggestion_flags(s), run_id=run_id, cached=(res.call or {}).get("cached"), **info)
                out += saved
            if res.counts or res.error:
                store.audit(actor, "suggestion.run_item", "excerpt", ex.id, run_id=run_id, error=res.error,
                            counts=dict(res.counts), call=_call_summary(res.call), **info)
            if run_id:
                store.mark_run_item(run_id, ex.id, "failed" if res.error else "done", res.error)
    return out


def _with_flags(params: dict[str, Any], p: Proposal) -> dict[str, Any]:
    flags = list(dict.fromkeys(([FLAG_NEW_CODE] if p.code_id is None else []) + list(p.flags)))
    return {**params, "flags": flags} if flags else dict(params)


def _call_summary(call: dict[str, Any] | None) -> dict[str, Any] | None:
    if not call:
        return None
    keep = ("model", "prompt_version", "cache_key", "cached", "model_calls", "input_tokens", "output_tokens",
            "cost_usd", "pseudonymised", "error", "parse_errors")
    return {k: call.get(k) for k in keep}


def suggest_excerpts(
    project: Project, excerpt_ids: list[int], engine: str | SuggestionEngine = "offline",
    codes: list[StoredCode] | None = None, chat_model: Any = None, run_id: str | None = None,
) -> list[StoredSuggestion]:
    """Run an engine on some excerpts now and record the proposals (pending review)."""
    eng = make_engine(project, engine, chat_model) if isinstance(engine, str) else engine
    codes = codes if codes is not None else project.store.list_codes()
    excerpts = project.store.list_excerpts(ids=list(excerpt_ids))
    ctx = SuggestContext.for_project(project, run_id)
    eng.prepare(codes, ctx)
    results = eng.suggest(excerpts, codes, ctx)
    return record_results(project, eng, {e.id: e for e in excerpts}, results, run_id)


def suggest_source(
    project: Project, source: int | str, engine: str | SuggestionEngine = "offline",
    codes: list[StoredCode] | None = None, chat_model: Any = None, include_interviewer: bool = False,
) -> list[StoredSuggestion]:
    src = project.store.get_source(source)
    ids = [e.id for e in project.store.list_excerpts(source_id=src.id, include_interviewer=include_interviewer)]
    return suggest_excerpts(project, ids, engine, codes, chat_model)


@dataclass
class SuggestionView:
    """A suggestion with what a reviewer needs next to it. `code` is the codebook code's name, or
    the proposed name when `is_new_code`: a face must say which (use `label`), because accepting
    a new code adds it to the codebook."""

    suggestion: StoredSuggestion
    code: str | None
    source: str
    excerpt_text: str
    excerpt_start: int
    speaker: str | None
    flags: list[str] = field(default_factory=list)

    @property
    def suspicious(self) -> bool:
        """The evidence reads as an instruction to the model: show the warning in the rationale."""
        return FLAG_SUSPICIOUS in (self.flags or suggestion_flags(self.suggestion))

    @property
    def label(self) -> str:
        """The code as a reviewer should read it: "new code: X" for a proposal outside the codebook."""
        return f"new code: {self.code or '?'}" if self.is_new_code else (self.code or "?")

    @property
    def is_new_code(self) -> bool:
        """The engine proposed a code that is not in the codebook (`code` is its proposed name);
        accepting it adds the code. Every face must say so rather than list it like a real code."""
        return self.suggestion.code_id is None


def list_suggestions(
    project: Project, status: str | None = "pending", code: str | int | None = None,
    source: str | int | None = None, engine: str | None = None, min_score: float | None = None,
) -> list[SuggestionView]:
    store = project.store
    code_id = store.get_code(code).id if code is not None else None
    source_id = store.get_source(source).id if source is not None else None
    rows = store.list_suggestions(status=status, code_id=code_id, source_id=source_id, engine=engine, min_score=min_score)
    names = {c.id: c.name for c in store.list_codes(include_inactive=True)}
    srcs = {s.id: s.name for s in store.list_sources()}
    exs = {e.id: e for e in store.list_excerpts(ids=sorted({r.excerpt_id for r in rows}))}
    return [SuggestionView(r, names.get(r.code_id) if r.code_id else r.proposed_name, srcs.get(r.source_id, "?"),
                           exs[r.excerpt_id].text, exs[r.excerpt_id].start, exs[r.excerpt_id].speaker,
                           flags=suggestion_flags(r))
            for r in rows if r.excerpt_id in exs]


def ai_codings(project: Project, engine: str | None = None, model: str | None = None) -> list[Coding]:
    """The AI as its own coder: one coding per (excerpt, code) it proposed, whatever the analyst
    decided later (superseded proposals excluded). Span = the excerpt, matching accepted codings."""
    out: list[Coding] = []
    store = project.store
    rows = [s for s in store.list_suggestions(status=None, engine=engine)
            if s.code_id is not None and s.status != "superseded" and (model is None or s.model == model)]
    exs = {e.id: e for e in store.list_excerpts(ids=sorted({s.excerpt_id for s in rows}))}
    seen: set[tuple[str, int, int]] = set()
    for s in rows:
        ex = exs.get(s.excerpt_id)
        coder = ai_coder_name(s.engine, s.model)
        if ex is None or (coder, ex.id, s.code_id) in seen:
            continue
        seen.add((coder, ex.id, s.code_id))  # type: ignore[arg-type]
        out.append(Coding(source_id=ex.source_id, excerpt_id=ex.id, code_id=s.code_id, start=ex.start, end=ex.end,
                          text=ex.text, coder=coder, origin="ai", suggestion_id=s.id, created_at=s.created_at))
    return out


def accepted_examples(project: Project, holdout: frozenset[int] | set[int] = frozenset()
                      ) -> dict[int, list[tuple[int | None, str]]]:
    """Per code: (excerpt_id, text) of the analyst's active codings; the engines learn from these.
    Codings on (or overlapping) a `holdout` excerpt are left out: see `SuggestContext.holdout`."""
    spans: dict[int, list[tuple[int, int]]] = {}
    if holdout:
        for e in project.store.list_excerpts(ids=sorted(holdout)):
            spans.setdefault(e.source_id, []).append((e.start, e.end))
    out: dict[int, list[tuple[int | None, str]]] = {}
    for c in project.store.list_codings():
        if is_ai_coder(c.coder) or c.excerpt_id in holdout:
            continue
        if any(c.start < e and s < c.end for s, e in spans.get(c.source_id, ())):
            continue
        out.setdefault(c.code_id, []).append((c.excerpt_id, c.text))
    return out


def rejected_examples(project: Project, holdout: frozenset[int] | set[int] = frozenset()) -> dict[int, list[int]]:
    """Per code: excerpt ids whose suggestion the analyst rejected (negatives for calibration)."""
    out: dict[int, list[int]] = {}
    for s in project.store.list_suggestions(status="rejected"):
        if s.code_id is not None and s.excerpt_id not in holdout:
            out.setdefault(s.code_id, []).append(s.excerpt_id)
    return out
