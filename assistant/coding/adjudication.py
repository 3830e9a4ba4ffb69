"""Adjudication: the lead walks through every disagreement of a double-coded assignment and
decides it; each decision becomes codings of the consensus coder (`consensus`), so the agreed
version of the data is an ordinary coder that quotes, themes and exports can use, while both
coders' own codings stay as they were (agreement stays measurable).

An item is one (excerpt, code) of the assignment's sources that some but not all coders applied
(the same units and overlap rule as `coding.agreement`). Decisions:
- `keep_a` / `keep_b` (or `keep` with a coder's name, for three or more coders): that coder's
  codings of the code on the excerpt, with their spans, are the consensus;
- `both`: every coder's codings of it (their spans merged);
- `neither`: no consensus coding;
- `edit`: the lead's own span (snapped to whole words, verbatim) and code, which may be a new code
  (`new_code`) or a revised one: the codebook change is made in the same transaction.
Deciding an item again replaces its consensus codings (the earlier ones are marked removed; the
audit log keeps both decisions). Every decision records the codebook version it was made under:
the codebook is snapshotted whenever it differs from the last version (`codebook_version`), so a
later reader can see which definitions the adjudication applied."""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import BaseModel, Field

from assistant.coding.agreement import _merge, compare
from assistant.coding.assignments import CONSENSUS, Assignment, get_assignment
from assistant.coding.codebook import add_code
from assistant.errors import NotFound, ThematicError
from assistant.models import Coding
from assistant.people.roles import require_role
from assistant.project import Project

DecisionKind = Literal["keep_a", "keep_b", "keep", "both", "neither", "edit"]


class Span(BaseModel):
    coder: str
    coding_id: int
    start: int
    end: int
    text: str


class Item(BaseModel):
    """One disagreement, with what each coder did, and the decision when there is one."""

    key: str
    excerpt_id: int
    source_id: int
    source: str
    start: int
    end: int
    preview: str
    code_id: int
    code: str
    applied_by: list[str]
    not_applied_by: list[str]
    spans: list[Span] = Field(default_factory=list)
    decision: str | None = None
    decided_by: str | None = None
    codebook_version: int | None = None
    consensus_coding_ids: list[int] = Field(default_factory=list)


# --- codebook versions -----------------------------------------------------------------------------


def _snapshot(project: Project) -> list[dict[str, Any]]:
    return [{"id": c.id, "name": c.name, "parent_id": c.parent_id, "definition": c.definition,
             "include": c.include, "exclude": c.exclude, "status": c.status, "merged_into": c.merged_into}
            for c in project.store.list_codes(include_inactive=True)]


def codebook_version(project: Project, actor: str | None = None, reason: str = "") -> tuple[int, bool]:
    """The codebook's current version number, and whether it is new: the last snapshot's, or a
    new one (1, 2, ...) when the codebook differs from it. Called inside the transaction of the
    decision that records it, whose audit row names the version (and says when it is new)."""
    store = project.store
    snap = _snapshot(project)
    digest = hashlib.sha256(json.dumps(snap, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
    with store.transaction():
        latest = store.latest_codebook_version()
        if latest and latest["digest"] == digest:
            return int(latest["version"]), False
        return store.add_codebook_version(digest, snap, actor or project.analyst, reason), True


def codebook_at(project: Project, version: int) -> list[dict[str, Any]]:
    return project.store.codebook_snapshot(version)


# --- the queue -------------------------------------------------------------------------------------


def _items(project: Project, a: Assignment, overlap: float) -> list[Item]:
    coders = list(a.coders)
    applied: dict[str, dict[int, set[int]]] = {}
    codings: dict[str, list[Coding]] = {}
    units: dict[int, set[int]] = {}
    comp = None
    for other in coders[1:]:
        comp = compare(project, coders[0], other, overlap, assigned_sources=a.source_ids)
        applied[coders[0]], codings[coders[0]] = comp.applied_a, comp.codings_a
        applied[other], codings[other] = comp.applied_b, comp.codings_b
        for cu in comp.per_code:
            units.setdefault(cu.code_id, set()).update(cu.units)
    if comp is None:
        return []
    names = {c.id: c.name for c in project.store.list_codes(include_inactive=True)}
    sources = {s["id"]: s["name"] for s in project.store.source_keys()}
    out: list[Item] = []
    for e in comp.excerpts:
        eid = e.id
        every = set().union(*(applied[c].get(eid, set()) for c in coders))
        for code_id in sorted(every):
            if eid not in units.get(code_id, ()):
                continue
            by = [c for c in coders if code_id in applied[c].get(eid, set())]
            if len(by) == len(coders):
                continue
            spans = [Span(coder=c, coding_id=x.id, start=max(x.start, e.start), end=min(x.end, e.end),  # type: ignore[arg-type]
                          text=x.text[max(x.start, e.start) - x.start:min(x.end, e.end) - x.start])
                     for c in coders for x in codings[c]
                     if x.code_id == code_id and x.source_id == e.source_id and x.start < e.end and x.end > e.start]
            out.append(Item(key=f"e{eid}:c{code_id}", excerpt_id=eid, source_id=e.source_id,
                            source=sources.get(e.source_id, str(e.source_id)), start=e.start, end=e.end,
                            preview=" ".join(e.text.split())[:200], code_id=code_id,
                            code=names.get(code_id, str(code_id)), applied_by=by,
                            not_applied_by=[c for c in coders if c not in by], spans=spans))
    return out


def queue(project: Project, assignment_id: int, overlap: float = 0.5, undecided_only: bool = False,
          early: bool = False) -> list[Item]:
    """The disagreements of an assignment, in source order, each with its decision if made.
    Only once every coder is done (a lead may look `early`)."""
    a = get_assignment(project, assignment_id)
    if not a.all_done and not early:
        raise ThematicError(f"assignment {a.id} is still being coded by {', '.join(a.waiting_for)}")
    decided = project.store.adjudication_rows(a.id)
    out = []
    for item in _items(project, a, overlap):
        row = decided.get(item.key)
        if row is not None:
            item.decision, item.decided_by = row["decision"], row["decided_by"]
            item.codebook_version, item.consensus_coding_ids = row["codebook_version"], row["coding_ids"]
        if not (undecided_only and item.decision):
            out.append(item)
    return out


# --- deciding ----------------------------------------------------------------------------------------


def _write_consensus(project: Project, source_id: int, code_id: int, spans: list[tuple[int, int]]) -> list[int]:
    from assistant.coding.decisions import _excerpt_at

    store = project.store
    text = store.get_source(source_id).text
    store.ensure_coder(CONSENSUS, "analyst")
    ids = []
    for st, en in _merge(sorted(spans)):
        ex = _excerpt_at(project, source_id, st, en)
        c = store.add_coding(Coding(source_id=source_id, excerpt_id=ex.id if ex else None, code_id=code_id,
                                    start=st, end=en, text=text[st:en], coder=CONSENSUS, origin="manual"))
        ids.append(c.id)
    return ids


def decide(project: Project, assignment_id: int, key: str, decision: DecisionKind, *, coder: str | None = None,
           start: int | None = None, end: int | None = None, text: str | None = None,
           code: str | int | None = None, new_code: str | None = None, definition: str = "",
           note: str = "", overlap: float = 0.5, actor: str | None = None) -> Item:
    """Decide one disagreement (lead only); see the module docstring for the decisions. Returns
    the item with its consensus codings' ids and the codebook version recorded."""
    from assistant.coding.decisions import snap_span

    store, actor = project.store, actor or project.analyst
    require_role(project, actor, "lead", "adjudicate")
    a = get_assignment(project, assignment_id)
    coders = list(a.coders)
    kind = decision
    if decision == "keep_a":
        coder, kind = coders[0], "keep"
    elif decision == "keep_b":
        coder, kind = coders[1], "keep"
    if kind not in ("keep", "both", "neither", "edit"):
        raise ThematicError(f"decision {decision!r}: say keep_a, keep_b, keep (with a coder), both, neither or edit")
    with store.transaction():
        items = {i.key: i for i in queue(project, a.id, overlap)}
        if key not in items:
            raise NotFound(f"no disagreement {key!r} in assignment {a.id} (see `thematic adjudicate list {a.id}`)")
        item = items[key]
        code_id = item.code_id
        if kind == "keep":
            if coder not in coders:
                raise ThematicError(f"keep whose codings? {coder!r} is not a coder of assignment {a.id}")
            spans = [(s.start, s.end) for s in item.spans if s.coder == coder]
        elif kind == "both":
            spans = [(s.start, s.end) for s in item.spans]
        elif kind == "neither":
            spans = []
        else:
            if new_code:
                code_id = add_code(project, new_code, definition=definition, actor=actor).id
            elif code is not None:
                code_id = store.get_code(code).id
            src_text = store.get_source(item.source_id).text
            st = item.start if start is None else start
            en = item.end if end is None else end
            st, en = snap_span(src_text, st, en, text)
            spans = [(st, en)]
        version, new_version = codebook_version(project, actor, reason=f"adjudication of assignment {a.id}")
        old = store.adjudication_rows(a.id).get(key)
        removed = []
        for cid in (old or {}).get("coding_ids", []):
            if store.get_coding(cid).status == "active":
                store.set_coding_status(cid, "removed")
                removed.append(cid)
        ids = _write_consensus(project, item.source_id, code_id, spans)
        recorded = decision if decision in ("keep_a", "keep_b") else (
            ("keep_a" if coder == coders[0] else "keep_b" if coder == coders[1] else "keep_a")
            if kind == "keep" else kind)
        adj_id = store.set_adjudication(a.id, key, item.source_id, item.excerpt_id, code_id, recorded,
                                           CONSENSUS, ids, version, actor, note)
        store.audit(actor, "adjudication.decide", "adjudication", adj_id, assignment_id=a.id, item=key,
                    decision=recorded, kept_coder=coder if kind == "keep" else None, code_id=code_id,
                    original_code_id=item.code_id, coding_ids=ids, removed_coding_ids=removed,
                    codebook_version=version, new_codebook_version=new_version, spans=[list(s) for s in spans],
                    note=note)
    item.decision, item.decided_by, item.codebook_version, item.consensus_coding_ids = recorded, actor, version, ids
    return item


def adopt_agreements(project: Project, assignment_id: int, overlap: float = 0.5, *,
                     actor: str | None = None) -> list[int]:
    """Where every coder applied the same code to an excerpt there is nothing to adjudicate: copy
    those codings (spans merged) to the consensus coder, once (audited). Returns the new ids."""
    store, actor = project.store, actor or project.analyst
    require_role(project, actor, "lead", "adjudicate")
    a = get_assignment(project, assignment_id)
    if not a.all_done:
        raise ThematicError(f"assignment {a.id} is still being coded by {', '.join(a.waiting_for)}")
    coders = list(a.coders)
    with store.transaction():
        done = store.adjudication_rows(a.id)
        ids: list[int] = []
        agreed: list[str] = []
        comps = [compare(project, coders[0], o, overlap, assigned_sources=a.source_ids) for o in coders[1:]]
        first = comps[0]
        every_coding = first.codings_a + [c for comp in comps for c in comp.codings_b]
        for e in first.excerpts:
            common = set(first.applied_a.get(e.id, set()))
            for comp in comps:
                common &= comp.applied_b.get(e.id, set())
            for code_id in sorted(common):
                key = f"agreed:e{e.id}:c{code_id}"
                if key in done:
                    continue
                spans = [(max(c.start, e.start), min(c.end, e.end)) for c in every_coding
                         if c.code_id == code_id and c.source_id == e.source_id and c.start < e.end and c.end > e.start]
                new = _write_consensus(project, e.source_id, code_id, spans)
                version, _ = codebook_version(project, actor, reason=f"adjudication of assignment {a.id}")
                store.set_adjudication(a.id, key, e.source_id, e.id, code_id, "both", CONSENSUS, new, version,
                                          actor, "agreed by every coder")
                ids += new
                agreed.append(key)
        if agreed:
            store.audit(actor, "adjudication.adopt_agreed", "assignment", a.id, items=agreed, coding_ids=ids)
    return ids
