"""The analyst's decisions on suggestions: accept, reject, edit, add by hand, and undo.

Each decision is a `Decision` row plus an audit entry carrying the suggestion's engine, model, prompt
version and parameters, so any coding can be traced back to what proposed it and who approved it.
Undo never deletes: it writes its own audit entry, returns the suggestion to pending and marks the
coding it created as removed.

An accepted suggestion codes the whole excerpt by default (the unit the engine judged); pass
`span="evidence"` to code just the evidence."""

from __future__ import annotations

from typing import Literal

from assistant.errors import NotFound, ThematicError, VerificationError
from assistant.models import (
    Coding,
    Decision,
    Excerpt,
    StoredDecision,
    StoredSuggestion,
    Suggestion,
)
from assistant.project import Project
from assistant.verbatim import is_verbatim, locate, snap_to_words

UNDO_ACTION = "decision.undo"


def _trace(s: Suggestion) -> dict:
    return {"engine": s.engine, "model": s.model, "prompt_version": s.prompt_version, "params": s.params,
            "run_id": s.run_id, "score": s.score}


def _pending(project: Project, suggestion_id: int) -> StoredSuggestion:
    s = project.store.get_suggestion(suggestion_id)
    if s.status != "pending":
        raise ThematicError(f"suggestion {suggestion_id} is already {s.status}; undo that decision first")
    return s


def _code_for(project: Project, s: Suggestion, analyst: str) -> int:
    if s.code_id is not None:
        return s.code_id
    from assistant.coding.codebook import add_code, name_key

    want = name_key(s.proposed_name or "")
    existing = [c for c in project.store.list_codes() if name_key(c.name) == want]
    if existing:
        return existing[0].id
    return add_code(project, s.proposed_name or "new code", definition=s.proposed_definition or "",
                    actor=analyst).id


def accept(project: Project, suggestion_id: int, analyst: str | None = None, note: str = "",
           span: Literal["excerpt", "evidence"] = "excerpt") -> Coding:
    """The suggestion becomes a coding by the analyst (origin="suggestion"). A proposed new code is
    added to the codebook first."""
    store, analyst = project.store, analyst or project.analyst
    with store.transaction():
        s = _pending(project, suggestion_id)
        ex = store.get_excerpt(s.excerpt_id)
        code_id = _code_for(project, s, analyst)
        if span == "evidence" and s.evidence_start is not None and s.evidence_end is not None:
            start, end = s.evidence_start, s.evidence_end
        else:
            start, end = ex.start, ex.end
        coding = _write_coding(project, s.source_id, ex, code_id, start, end, analyst, "suggestion", s.id)
        d = store.add_decision(Decision(suggestion_id=s.id, action="accept", analyst=analyst, code_id=code_id,
                                        source_id=s.source_id, start=start, end=end, note=note))
        store.set_suggestion_status(s.id, "accepted")
        store.audit(analyst, "decision.accept", "suggestion", s.id, decision_id=d.id, coding_id=coding.id,
                    code_id=code_id, note=note, **_trace(s))
    return coding


def reject(project: Project, suggestion_id: int, analyst: str | None = None, note: str = "") -> Decision:
    store, analyst = project.store, analyst or project.analyst
    with store.transaction():
        s = _pending(project, suggestion_id)
        d = store.add_decision(Decision(suggestion_id=s.id, action="reject", analyst=analyst, code_id=s.code_id,
                                        source_id=s.source_id, note=note))
        store.set_suggestion_status(s.id, "rejected")
        store.audit(analyst, "decision.reject", "suggestion", s.id, decision_id=d.id, code_id=s.code_id,
                    note=note, **_trace(s))
    return d


def snap_span(source_text: str, start: int, end: int, text: str | None = None) -> tuple[int, int]:
    """A coded span must be verbatim and whole words. With `text`, it is located near (start, end)
    and replaced by the source's own span; without, the offsets must lie inside the source and not
    be blank. Either way the span is then trimmed of surrounding whitespace and widened to whole
    words (`verbatim.snap_to_words`): a selection that cuts "mould" to "ould" codes "mould", the
    same in every face."""
    if text is not None:
        if not is_verbatim(source_text, start, end, text):
            pad = max(200, len(text))
            loc = locate(source_text, text, within=(max(0, start - pad), min(len(source_text), end + pad)))
            if loc is None:
                raise VerificationError(
                    f"the edited span {text[:40]!r} is not verbatim in the source near {start}:{end}")
            start, end = loc.start, loc.end
    elif not (0 <= start < end <= len(source_text)) or not source_text[start:end].strip():
        raise VerificationError(f"span {start}:{end} is outside the source or blank")
    snapped = snap_to_words(source_text, start, end)
    if snapped is None:
        raise VerificationError(f"span {start}:{end} is blank")
    return snapped


def edit(project: Project, suggestion_id: int, code: str | int | None = None, start: int | None = None,
         end: int | None = None, text: str | None = None, analyst: str | None = None, note: str = "") -> Coding:
    """Accept with changes: another code and/or another (verbatim) span."""
    store, analyst = project.store, analyst or project.analyst
    with store.transaction():
        s = _pending(project, suggestion_id)
        ex = store.get_excerpt(s.excerpt_id)
        src = store.get_source(s.source_id)
        code_id = store.get_code(code).id if code is not None else _code_for(project, s, analyst)
        st = start if start is not None else ex.start
        en = end if end is not None else (st + len(text) if text is not None and start is not None else ex.end)
        st, en = snap_span(src.text, st, en, text)
        coding = _write_coding(project, s.source_id, ex, code_id, st, en, analyst, "suggestion", s.id)
        d = store.add_decision(Decision(suggestion_id=s.id, action="edit", analyst=analyst, code_id=code_id,
                                        source_id=s.source_id, start=st, end=en, note=note))
        store.set_suggestion_status(s.id, "edited")
        store.audit(analyst, "decision.edit", "suggestion", s.id, decision_id=d.id, coding_id=coding.id,
                    code_id=code_id, original_code_id=s.code_id, start=st, end=en, note=note, **_trace(s))
    return coding


def add_coding(project: Project, source: str | int, start: int, end: int, code: str | int,
               analyst: str | None = None, text: str | None = None, note: str = "") -> Coding:
    """Hand coding: the analyst applies a code to a span (snapped to be verbatim)."""
    store, analyst = project.store, analyst or project.analyst
    with store.transaction():
        src = store.get_source(source)
        code_id = store.get_code(code).id
        st, en = snap_span(src.text, start, end, text)
        ex = _excerpt_at(project, src.id, st, en)
        coding = _write_coding(project, src.id, ex, code_id, st, en, analyst, "manual", None)
        d = store.add_decision(Decision(action="add", analyst=analyst, code_id=code_id, source_id=src.id,
                                        start=st, end=en, note=note))
        store.audit(analyst, "decision.add", "coding", coding.id, decision_id=d.id, code_id=code_id,
                    source_id=src.id, start=st, end=en, note=note)
    return coding


def undo(project: Project, decision_id: int, analyst: str | None = None, note: str = "") -> Decision:
    """Revert a decision: audit entry, suggestion back to pending, its coding removed."""
    store, analyst = project.store, analyst or project.analyst
    matches = [d for d in store.list_decisions() if d.id == decision_id]
    if not matches:
        raise NotFound(f"no decision {decision_id}")
    d = matches[0]
    with store.transaction():  # checked inside the write lock: two tabs cannot both undo it
        if is_undone(project, d.id):
            raise ThematicError(f"decision {decision_id} was already undone")
        removed = []
        for c in store.list_codings(status="active", source_id=d.source_id):
            by_suggestion = d.suggestion_id is not None and c.suggestion_id == d.suggestion_id
            by_hand = d.action == "add" and c.origin == "manual" and (c.start, c.end, c.code_id) == (d.start, d.end, d.code_id)
            if c.coder == d.analyst and (by_suggestion or by_hand):
                store.set_coding_status(c.id, "removed")
                removed.append(c.id)
        if d.suggestion_id is not None:
            store.set_suggestion_status(d.suggestion_id, "pending")
        store.audit(analyst, UNDO_ACTION, "decision", d.id, decision_id=d.id, decided=d.action,
                    suggestion_id=d.suggestion_id, codings_removed=removed, note=note)
    return d


def is_undone(project: Project, decision_id: int) -> bool:
    """Whether a decision was undone: the one test, used by `undo`, `undoable` and every face."""
    return any(e.action == UNDO_ACTION for e in project.store.list_audit("decision", decision_id))


def undoable(project: Project, analyst: str | None = None) -> list[StoredDecision]:
    """The analyst's decisions not yet undone, newest first: what "Undo" walks back through, read
    from the store so it works after a reload, from another tab or from the command line."""
    who = analyst or project.analyst
    undone = {e.entity_id for e in project.store.list_audit("decision") if e.action == UNDO_ACTION}
    return [d for d in reversed(project.store.list_decisions()) if d.id not in undone and d.analyst == who]


def undo_last(project: Project, analyst: str | None = None, note: str = "") -> Decision | None:
    """Undo the analyst's most recent decision still standing; None when there is none."""
    todo = undoable(project, analyst)
    return undo(project, todo[0].id, analyst=analyst, note=note) if todo else None


def last_decision(project: Project, suggestion_id: int) -> Decision | None:
    ds = [d for d in project.store.list_decisions() if d.suggestion_id == suggestion_id]
    return ds[-1] if ds else None


def _excerpt_at(project: Project, source_id: int, start: int, end: int) -> Excerpt | None:
    for e in project.store.list_excerpts(source_id=source_id):
        if e.start <= start < e.end:
            return e
    return None


def _write_coding(project: Project, source_id: int, ex: Excerpt | None, code_id: int, start: int, end: int,
                  analyst: str, origin: str, suggestion_id: int | None) -> Coding:
    store = project.store
    src = store.get_source(source_id)
    store.ensure_coder(analyst, "analyst")
    return store.add_coding(Coding(source_id=source_id, excerpt_id=ex.id if ex else None, code_id=code_id,
                                   start=start, end=end, text=src.text[start:end], coder=analyst,
                                   origin=origin, suggestion_id=suggestion_id))  # type: ignore[arg-type]
