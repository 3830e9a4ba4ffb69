"""Blind double coding, as a lead runs it: assign sources (named, filtered, or a seeded stratified
sample) to two or more coders; each codes them blind (none of the others' codings; no AI
suggestions unless the lead says so) and marks the assignment done; when every coder is done the
blind periods end, and the lead sees agreement per code and adjudicates the disagreements
(`coding.adjudication`).

Why a sample is stratified and seeded: a double-coded share must cover every kind of source the
study has (each sector, interviews and documents), or agreement says nothing about the strata it
missed; and the lead must be able to say exactly how it was drawn, so the same seed draws the same
sources again."""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, Field

from assistant.coding.agreement import (
    AgreementReport,
    agreement_report,
    assigned_source_ids,
)
from assistant.corpus.view import source_meta
from assistant.errors import ThematicError
from assistant.models import is_ai_coder, utcnow
from assistant.people.roles import require_role, role_of
from assistant.project import Project

CONSENSUS = "consensus"  # the adjudicated coder (see coding.adjudication)


class Assignment(BaseModel):
    id: int
    name: str
    coders: dict[str, str | None] = Field(default_factory=dict)  # coder -> done at (None: still coding)
    source_ids: list[int] = Field(default_factory=list)
    sources: list[str] = Field(default_factory=list)
    hide_ai: bool = True
    sample: dict[str, Any] = Field(default_factory=dict)
    status: str = "open"
    created_by: str = ""
    created_at: str = ""

    @property
    def all_done(self) -> bool:
        return bool(self.coders) and all(v is not None for v in self.coders.values())

    @property
    def waiting_for(self) -> list[str]:
        return [c for c, done in self.coders.items() if done is None]


def stratified_sample(sources: list[tuple[int, str]], size: float, seed: int = 0) -> list[int]:
    """`size` sources (an int) or that share of them (a float in (0, 1)) from (id, stratum) pairs,
    allocated to strata in proportion to their size (largest remainder; every stratum gets at
    least one when there are at least as many picks as strata), drawn with `random.Random(seed)`
    from each stratum's ids in order. Pure: the same input and seed give the same ids."""
    if not sources:
        return []
    total = len(sources)
    if isinstance(size, float) and not isinstance(size, bool):
        if not 0 < size <= 1:
            raise ThematicError("a sample share must be between 0 and 1 (e.g. 0.2 for a fifth)")
        n = max(1, round(size * total))
    else:
        n = int(size)
        if n < 1:
            raise ThematicError("a sample needs at least one source")
    n = min(n, total)
    strata: dict[str, list[int]] = {}
    for sid, key in sorted(sources):
        strata.setdefault(key, []).append(sid)
    keys = sorted(strata)
    alloc = {k: 0 for k in keys}
    if n >= len(keys):
        for k in keys:
            alloc[k] = 1
    left = n - sum(alloc.values())
    if left > 0:
        quotas = {k: left * len(strata[k]) / total for k in keys}
        for k in keys:
            alloc[k] += min(int(quotas[k]), len(strata[k]) - alloc[k])
        rest = n - sum(alloc.values())
        order = sorted(keys, key=lambda k: (-(quotas[k] - int(quotas[k])), k))
        while rest > 0:
            progressed = False
            for k in order:
                if rest and alloc[k] < len(strata[k]):
                    alloc[k] += 1
                    rest -= 1
                    progressed = True
            if not progressed:
                break
    elif left < 0:  # fewer picks than strata: the largest strata, ties by name
        alloc = {k: 0 for k in keys}
        for k in sorted(keys, key=lambda k: (-len(strata[k]), k))[:n]:
            alloc[k] = 1
    rng = random.Random(seed)
    picked: list[int] = []
    for k in keys:
        picked += rng.sample(strata[k], alloc[k])
    return sorted(picked)


def _stratum(meta: Mapping[str, Any], by: str | None) -> str:
    if not by:
        return ""
    value = meta.get(by)
    return "(none)" if value in (None, "") else str(value)


def _check_coders(project: Project, coders: Iterable[str]) -> list[str]:
    names = list(dict.fromkeys(" ".join((c or "").split()) for c in coders))
    if len(names) < 2 or any(not c for c in names):
        raise ThematicError("double coding needs at least two different coders")
    has_users = project.store.count_users() > 0
    for c in names:
        if is_ai_coder(c):
            raise ThematicError(f"{c} is an AI coder: assign people; compare with the AI in Agreement")
        if c.lower() == CONSENSUS:
            raise ThematicError(f"{c!r} is the adjudicated coder; choose the people who code")
        if has_users:
            role = role_of(project, c)
            if role is None:
                raise ThematicError(f"{c} is not a user of this project (add them with `thematic users add`)")
            if role == "viewer":
                raise ThematicError(f"{c} is a viewer and cannot code; make them a coder first")
    return names


def _view(project: Project, row: dict[str, Any]) -> Assignment:
    names = {s["id"]: s["name"] for s in project.store.source_keys()}
    return Assignment(id=row["id"], name=row["name"], coders=row["coders"], source_ids=row["source_ids"],
                      sources=[names.get(i, str(i)) for i in row["source_ids"]], hide_ai=row["hide_ai"],
                      sample=row["sample"], status=row["status"], created_by=row["created_by"],
                      created_at=row["created_at"])


def assign(project: Project, coders: Iterable[str], sources: Iterable[int | str] | None = None, *,
           filters: Mapping[str, Any] | None = None, sample: float | None = None, by: str | None = None,
           seed: int = 0, hide_ai: bool = True, name: str = "", actor: str | None = None) -> Assignment:
    """Give sources to coders to double-code blind (lead only). The pool is the sources named
    plus those matching `filters` (every source when neither is given); `sample` draws that
    many (or that share) from it, stratified by the attribute `by` (e.g. "sector" or "kind"),
    with `seed`. Blind periods start for every coder on every source, in the same transaction."""
    store, actor = project.store, actor or project.analyst
    require_role(project, actor, "lead", "assign double coding")
    names = _check_coders(project, coders)
    if sources is None and filters is None:
        pool = {s["id"] for s in store.source_keys()}
    else:
        pool = assigned_source_ids(project, list(sources or []), filters)
    if not pool:
        raise ThematicError("no sources to assign: name some, or a filter that matches some")
    spec: dict[str, Any] = {"pool": len(pool)}
    if filters:
        spec["filters"] = dict(filters)
    chosen = sorted(pool)
    if sample is not None:
        metas = {s.id: source_meta(s) for s in store.list_sources() if s.id in pool}
        chosen = stratified_sample([(sid, _stratum(metas[sid], by)) for sid in chosen], sample, seed)
        spec.update(size=sample, by=by, seed=seed)
    label = (name or "").strip() or f"double coding {utcnow()[:10]}"
    with store.transaction():
        for coder in names:
            store.ensure_coder(coder, "analyst")
        aid = store.add_assignment_row(label, hide_ai, spec, actor, names, chosen)
        now = utcnow()
        blind = {coder: [sid for sid in chosen if store.open_blind_period(coder, sid, now)] for coder in names}
        store.audit(actor, "assignment.create", "assignment", aid, name=label, coders=names, source_ids=chosen,
                    hide_ai=hide_ai, sample=spec, blind_started=blind)
    return get_assignment(project, aid)


def get_assignment(project: Project, assignment_id: int) -> Assignment:
    return _view(project, project.store.assignment_row(int(assignment_id)))


def list_assignments(project: Project, coder: str | None = None, status: str | None = None) -> list[Assignment]:
    return [get_assignment(project, i) for i in project.store.assignment_ids(coder=coder, status=status)]


def mark_done(project: Project, assignment_id: int, coder: str | None = None, done: bool = True, *,
              actor: str | None = None) -> Assignment:
    """A coder says they have finished (`done=False` takes it back while others still code). A
    coder marks their own; a lead may mark anyone's. When the last coder is done, every blind
    period of the assignment ends (audited), and the comparison is ready."""
    store, actor = project.store, actor or project.analyst
    coder = coder or actor
    if coder != actor:
        require_role(project, actor, "lead", f"mark {coder}'s assignment done")
    with store.transaction():
        a = get_assignment(project, assignment_id)
        if coder not in a.coders:
            raise ThematicError(f"{coder} is not a coder of assignment {a.id} ({', '.join(a.coders)})")
        if a.status != "open":
            raise ThematicError(f"assignment {a.id} is closed")
        if not done and a.all_done:
            raise ThematicError(f"every coder of assignment {a.id} is done and blind coding has ended")
        if (a.coders[coder] is not None) == done:
            return a
        now = utcnow()
        store.set_assignment_done(a.id, coder, now if done else None)
        a = get_assignment(project, a.id)
        ended = _end_blind(project, a, now) if a.all_done else {}
        store.audit(actor, "assignment.done" if done else "assignment.reopen", "assignment", a.id, coder=coder,
                    all_done=a.all_done, blind_ended=ended)
    return a


def _end_blind(project: Project, a: Assignment, at: str) -> dict[str, list[int]]:
    """End the assignment's blind periods (each coder, each source); the caller audits."""
    store = project.store
    return {c: [sid for sid in a.source_ids if store.close_blind_period(c, sid, at)] for c in a.coders}


def close_assignment(project: Project, assignment_id: int, *, actor: str | None = None) -> Assignment:
    """The lead closes an adjudicated assignment; open blind periods on it end."""
    store, actor = project.store, actor or project.analyst
    require_role(project, actor, "lead", "close an assignment")
    with store.transaction():
        a = get_assignment(project, assignment_id)
        if a.status == "closed":
            return a
        store.set_assignment_status(a.id, "closed")
        ended = _end_blind(project, a, utcnow())
        store.audit(actor, "assignment.close", "assignment", a.id, waiting_for=a.waiting_for, blind_ended=ended)
    return get_assignment(project, a.id)


def assignment_agreement(project: Project, assignment_id: int, overlap: float = 0.5,
                         early: bool = False) -> list[AgreementReport]:
    """Agreement per code (kappa, alpha, AC1, ...) for every pair of the assignment's coders over
    its sources (uncoded excerpts count as "absent"). Only once every coder is done, unless a
    lead asks `early` (seeing it early would not unblind anyone, but it is not final)."""
    a = get_assignment(project, assignment_id)
    if not a.all_done and not early:
        raise ThematicError(f"assignment {a.id} is still being coded by {', '.join(a.waiting_for)}")
    coders = list(a.coders)
    out = []
    for i, x in enumerate(coders):
        for y in coders[i + 1:]:
            out.append(agreement_report(project, x, y, overlap, assigned_sources=a.source_ids))
    return out
