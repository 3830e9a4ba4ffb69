"""The analyst's decisions on suggestions: accept, reject, edit, add by hand, and undo.

Each decision is a `Decision` row plus an audit entry carrying the suggestion's engine, model, prompt
version and parameters, so any coding can be traced back to what proposed it and who approved it.
Undo never deletes: it writes its own audit entry, returns the suggestion to pending and marks the
coding it created as removed. Removing and resizing a coding are undone the same way
(`undo_change`): a new `coding.undo` audit row, the coding made active again or moved back to its
old span; `undoable_changes` lists an analyst's decisions and coding changes together, newest first.

An accepted suggestion codes the whole excerpt by default (the unit the engine judged); pass
`span="evidence"` to code just the evidence."""

from __future__ import annotations

import re
from typing import Literal

from assistant.errors import NotFound, ThematicError, VerificationError
from assistant.models import (
    Coding,
    Decision,
    Excerpt,
    StoredAuditEvent,
    StoredDecision,
    StoredSuggestion,
    Suggestion,
    UndoStep,
)
from assistant.project import Project
from assistant.verbatim import is_verbatim, locate, snap_to_words
from index.text import find_verbatim, sentence_spans

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
           span: SpanChoice = "excerpt") -> Coding:
    """The suggestion becomes a coding by the analyst (origin="suggestion"). A proposed new code is
    added to the codebook first. `span` is what gets coded: the whole excerpt (the turn), the
    evidence, or the sentence(s) holding the evidence (`accept_span`)."""
    store, analyst = project.store, analyst or project.analyst
    with store.transaction():
        s = _pending(project, suggestion_id)
        ex = store.get_excerpt(s.excerpt_id)
        code_id = _code_for(project, s, analyst)
        start, end = accept_span(store.get_source(s.source_id).text, ex, s, span)
        coding = _write_coding(project, s.source_id, ex, code_id, start, end, analyst, "suggestion", s.id)
        d = store.add_decision(Decision(suggestion_id=s.id, action="accept", analyst=analyst, code_id=code_id,
                                        source_id=s.source_id, start=start, end=end, note=note))
        store.set_suggestion_status(s.id, "accepted")
        store.audit(analyst, "decision.accept", "suggestion", s.id, decision_id=d.id, coding_id=coding.id,
                    code_id=code_id, note=note, **_trace(s))
    return coding


SpanChoice = Literal["excerpt", "evidence", "sentence"]


def accept_span(source_text: str, ex: Excerpt, s: Suggestion, span: SpanChoice) -> tuple[int, int]:
    """The offsets an accept with `span` codes. "evidence": the engine's evidence span; "sentence":
    the sentence(s) of the excerpt the evidence falls in, so an accept never codes half a
    sentence; "excerpt" (or no evidence): the whole turn."""
    ev = (s.evidence_start, s.evidence_end)
    if span == "excerpt" or ev[0] is None or ev[1] is None:
        return ex.start, ex.end
    es, ee = int(ev[0]), int(ev[1])
    if span == "evidence":
        return es, ee
    hit = [(a, b) for a, b in sentence_spans(source_text, ex.start, ex.end) if a < ee and b > es]
    return (hit[0][0], hit[-1][1]) if hit else (es, ee)


def evidence_is_sentence(source_text: str, ex: Excerpt, s: Suggestion) -> bool:
    """Whether the evidence is whole sentences: then it is the natural default span to accept."""
    if s.evidence_start is None or s.evidence_end is None:
        return False
    return accept_span(source_text, ex, s, "sentence") == (s.evidence_start, s.evidence_end)


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
    """A coded span must be verbatim and whole words. With `text` (words the analyst typed or
    trimmed), the span is where those words are, whole: exactly at `start:end`, else their
    occurrence nearest `start` anywhere in the source (spacing, curly quotes and dashes aside),
    else a close repair near `start:end` that begins and ends on the same words as the claim; words
    found nowhere are refused, never replaced by a fragment. Without `text`, the offsets must lie
    inside the source and not be blank. Either way the span is then trimmed of surrounding
    whitespace and widened to whole words (`verbatim.snap_to_words`): a selection that cuts
    "mould" to "ould" codes "mould", the same in every face."""
    if text is not None:
        if not text.strip():
            raise VerificationError("the edited span is empty: keep at least one word of the source")
        if not is_verbatim(source_text, start, end, text):
            found = locate_words(source_text, text, start, end)
            if found is None:
                raise VerificationError(
                    f"the edited words {_preview(text)!r} are not in the source (not even allowing for spacing, "
                    "quote marks and dashes): trim the text to words that appear in it")
            start, end = found
    elif not (0 <= start < end <= len(source_text)) or not source_text[start:end].strip():
        raise VerificationError(f"span {start}:{end} is outside the source or blank")
    snapped = snap_to_words(source_text, start, end)
    if snapped is None:
        raise VerificationError(f"span {start}:{end} is blank")
    return snapped


def _preview(text: str, limit: int = 60) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:28] + " … " + flat[-28:]


_WORDS = re.compile(r"\w+(?:['\u2019]\w+)*")


def locate_words(source_text: str, claimed: str, start: int = 0, end: int | None = None) -> tuple[int, int] | None:
    """Where the analyst's words `claimed` are in the source, whole, or None.

    Why so strict: an edit used to be looked for only near the excerpt's start and a 90% fuzzy
    match at the window's edge was taken, saving "...we just don't c" for a longer passage. Now
    (1) every exact occurrence (whitespace runs, curly quotes and dashes equal, as everywhere in
    the product) anywhere in the source counts, the one nearest `start` wins; (2) failing that, a
    repair of a slip inside the words ("thes" for "these") is accepted only near `start:end`, only
    when the match begins and ends on the claim's own first and last words, and only when it does
    not run into the edge of the searched window; (3) otherwise None."""
    claim = claimed.strip()
    if not claim:
        return None
    end = len(source_text) if end is None else end
    best: tuple[int, int] | None = None
    pos = 0
    while pos <= len(source_text):
        hit = find_verbatim(source_text[pos:], claim)
        if hit is None:
            break
        s, e = pos + hit[0], pos + hit[1]
        if best is None or abs(s - start) < abs(best[0] - start):
            best = (s, e)
        if s >= start:  # occurrences further on are further from start
            break
        pos = s + 1
    if best is not None:
        return best
    pad = max(400, 2 * len(claim))
    lo, hi = max(0, start - pad), min(len(source_text), max(end, start + len(claim)) + pad)
    loc = locate(source_text, claim, within=(lo, hi), min_ratio=0.9)
    if loc is None or (loc.start == lo and lo > 0) or (loc.end == hi and hi < len(source_text)):
        return None
    want, got = _WORDS.findall(claim.lower()), _WORDS.findall(loc.text.lower())
    if not want or not got or want[0] != got[0] or want[-1] != got[-1]:
        return None
    return loc.start, loc.end


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
        if text is not None:  # the words are found where they are; start/end only say where to look first
            en = end if end is not None else max(ex.end, st + len(text))
        else:
            en = end if end is not None else ex.end
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


def remove_coding(project: Project, coding_id: int, analyst: str | None = None, note: str = "") -> Coding:
    """Take a coding off its span (the analyst's "uncode"). Nothing is deleted: the coding is
    marked removed and the audit row keeps its code, span and words, so it can be read back."""
    store, analyst = project.store, analyst or project.analyst
    with store.transaction():
        c = store.get_coding(coding_id)
        if c.status != "active":
            raise ThematicError(f"coding {coding_id} is {c.status}, not active: nothing to remove")
        store.set_coding_status(c.id, "removed")
        store.audit(analyst, "coding.remove", "coding", c.id, code_id=c.code_id, source_id=c.source_id,
                    start=c.start, end=c.end, text=c.text, coder=c.coder, note=note)
    return store.get_coding(coding_id)


def resize_coding(project: Project, coding_id: int, start: int, end: int, analyst: str | None = None,
                  note: str = "") -> Coding:
    """Move a coding's span to `start:end` of its source (snapped to whole words like every coded
    span). The audit row keeps the old span and words beside the new ones."""
    store, analyst = project.store, analyst or project.analyst
    with store.transaction():
        c = store.get_coding(coding_id)
        if c.status != "active":
            raise ThematicError(f"coding {coding_id} is {c.status}, not active: re-attach it first")
        src = store.get_source(c.source_id)
        st, en = snap_span(src.text, start, end)
        if (st, en) == (c.start, c.end):
            return c
        ex = _excerpt_at(project, src.id, st, en)
        store.move_coding(c.id, st, en, src.text[st:en], ex.id if ex else None)
        store.audit(analyst, "coding.resize", "coding", c.id, code_id=c.code_id, source_id=c.source_id,
                    old_start=c.start, old_end=c.end, old_text=c.text, start=st, end=en, note=note)
    return store.get_coding(coding_id)


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
        # the hand coding the decision made, by id: found even after it was resized
        made = {e.entity_id for e in store.list_audit("coding") if e.action == "decision.add"
                and e.details.get("decision_id") == d.id} if d.action == "add" else set()
        for c in store.list_codings(status="active", source_id=d.source_id):
            by_suggestion = d.suggestion_id is not None and c.suggestion_id == d.suggestion_id
            by_hand = d.action == "add" and c.origin == "manual" and (
                c.id in made if made else (c.start, c.end, c.code_id) == (d.start, d.end, d.code_id))
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


# -- undo across every hand-coding change: decisions, and codings removed or resized ------------------
CODING_UNDO_ACTION = "coding.undo"  # the audit row of taking back a remove or a resize
_CODING_CHANGES = {"coding.remove": "remove", "coding.resize": "resize"}


def undoable_changes(project: Project, analyst: str | None = None) -> list[UndoStep]:
    """The analyst's changes still standing, newest first: their decisions not undone (as
    `undoable`) and their removes and resizes of codings not taken back. What the reading pane's
    Undo walks back through, read from the audit log, so it works after a reload or from another
    tab. Order is the order of the audit rows (one per change, written in the change's transaction)."""
    store, who = project.store, analyst or project.analyst
    coding_rows = store.list_audit("coding")
    taken_back = {e.details.get("undid_audit_id") for e in coding_rows if e.action == CODING_UNDO_ACTION}
    decided: dict[int, StoredAuditEvent] = {}  # decision id -> the audit row that recorded it
    for e in [*store.list_audit("suggestion"), *coding_rows]:
        if e.action.startswith("decision.") and e.details.get("decision_id") is not None:
            decided.setdefault(int(e.details["decision_id"]), e)
    steps = []
    for d in undoable(project, who):
        row = decided.get(int(d.id))
        made = None if row is None else row.details.get("coding_id") or (row.entity_id if row.entity_type == "coding" else None)
        steps.append(UndoStep(kind="decision", action=d.action, audit_id=row.id if row else 0, decision_id=d.id,
                              coding_id=made, time=row.time if row else d.created_at))
    for e in coding_rows:
        if e.action in _CODING_CHANGES and e.actor == who and e.id not in taken_back:
            steps.append(UndoStep(kind=_CODING_CHANGES[e.action], action=_CODING_CHANGES[e.action],  # type: ignore[arg-type]
                                  audit_id=e.id, coding_id=e.entity_id, time=e.time))
    return sorted(steps, key=lambda s: s.audit_id, reverse=True)


def undo_change(project: Project, step: UndoStep, analyst: str | None = None, note: str = "") -> UndoStep:
    """Take back one change: a decision through `undo`; a removed coding made active again; a
    resized coding moved back to its old span. Each is a new audited write (`decision.undo`, or
    `coding.undo` naming the audit row it takes back), never a deletion. Refused, with the reason,
    when the coding has changed since in a way the undo would overwrite (a later resize, a
    re-ingest that changed the words) or the change was already taken back."""
    if step.kind == "decision":
        undo(project, int(step.decision_id), analyst=analyst, note=note)  # type: ignore[arg-type]
        return step
    store, analyst = project.store, analyst or project.analyst
    with store.transaction():  # checked inside the write lock: two tabs cannot both take it back
        rows = store.list_audit("coding", step.coding_id)
        row = next((e for e in rows if e.id == step.audit_id and e.action in _CODING_CHANGES), None)
        if row is None:
            raise NotFound(f"no remove or resize recorded as audit row {step.audit_id} of coding {step.coding_id}")
        if any(e.action == CODING_UNDO_ACTION and e.details.get("undid_audit_id") == row.id for e in rows):
            raise ThematicError(f"that {_CODING_CHANGES[row.action]} of coding {row.entity_id} was already undone")
        c = store.get_coding(int(row.entity_id))  # type: ignore[arg-type]
        src = store.get_source(c.source_id)
        if row.action == "coding.remove":
            if c.status != "removed":
                raise ThematicError(f"coding {c.id} is {c.status} now, not removed: nothing to restore")
            if src.text[c.start:c.end] != c.text:
                raise ThematicError(f"coding {c.id} cannot be restored: its words are no longer at {c.start}:{c.end} "
                                    "of the source (it changed since); code the passage again")
            store.set_coding_status(c.id, "active")
            store.audit(analyst, CODING_UNDO_ACTION, "coding", c.id, undid="coding.remove", undid_audit_id=row.id,
                        code_id=c.code_id, source_id=c.source_id, start=c.start, end=c.end, text=c.text, note=note)
        else:
            d = row.details
            if c.status != "active" or (c.start, c.end) != (d.get("start"), d.get("end")):
                raise ThematicError(f"coding {c.id} changed after that resize (now {c.status}, {c.start}:{c.end}): "
                                    "undo the later change first")
            old_start, old_end, old_text = int(d["old_start"]), int(d["old_end"]), str(d.get("old_text", ""))
            if src.text[old_start:old_end] != old_text:
                raise ThematicError(f"coding {c.id} cannot go back to {old_start}:{old_end}: the source's words there "
                                    "changed since")
            ex = _excerpt_at(project, src.id, old_start, old_end)
            store.move_coding(c.id, old_start, old_end, old_text, ex.id if ex else None)
            store.audit(analyst, CODING_UNDO_ACTION, "coding", c.id, undid="coding.resize", undid_audit_id=row.id,
                        code_id=c.code_id, source_id=c.source_id, old_start=c.start, old_end=c.end, old_text=c.text,
                        start=old_start, end=old_end, note=note)
    return step


def undo_last_change(project: Project, analyst: str | None = None, note: str = "") -> UndoStep | None:
    """Take back the analyst's most recent change still standing (a decision, a remove or a
    resize); None when there is none."""
    todo = undoable_changes(project, analyst)
    return undo_change(project, todo[0], analyst=analyst, note=note) if todo else None


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
