"""Blind coding: a coder double-coding a set of sources sees no AI suggestions and no other coder's
codings on them, and an agreement comparison says whether it was independent.

The store keeps blind *periods* (coder, source, started, ended) rather than a flag, because
independence is a question about the past: was alice blind on P01 when she made each of her
codings there, and had bob already coded it? The faces call `visible_suggestions` and
`visible_codings` (or filter with `visibility`) instead of reading the store, so no screen can
forget the rule.

`comparison_independence(project, a, b)` is conservative: a comparison is independent only when
nothing suggests either coder's codings of a shared source could have been shaped by the other's.
It is not independent when (per shared source):
- a coder's codings are accepted suggestions of the AI they are compared with (they are that AI's
  codes, reviewed, not a second judgement);
- a coder coded without blind mode while the other AI's suggestions for the source were shown;
- a coder coded without blind mode while the other coder's codings of the source existed;
- the AI proposed codes for a source after the analyst it is compared with had coded it (both
  engines learn from the analysts' codings, so it may have learned from those very passages).
Codings imported from another tool (origin "import") are not judged: what their coders saw there
is unknown here. Timestamps are compared to the second; a tie counts as "could have seen"."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from assistant.errors import NotFound, ThematicError
from assistant.models import (
    BlindPeriod,
    Coding,
    Independence,
    IndependenceIssue,
    StoredSuggestion,
    ai_coder_name,
    is_ai_coder,
    utcnow,
)
from assistant.project import Project

ACTION_START, ACTION_END = "blind.start", "blind.end"


# --- the blind flag ------------------------------------------------------------------------------


def set_blind(project: Project, coder: str, sources: Iterable[int | str], on: bool = True, *,
              actor: str | None = None) -> list[int]:
    """Start (or end, `on=False`) blind coding of `sources` for `coder`: one audit row naming the
    sources whose state changed, none when nothing changes. Returns those source ids."""
    store, actor = project.store, actor or project.analyst
    coder = (coder or "").strip()
    if not coder:
        raise ThematicError("say which coder codes blind")
    if is_ai_coder(coder):
        raise ThematicError(f"{coder} is the AI: blind mode is for human coders")
    with store.transaction():
        ids = list(dict.fromkeys(store.get_source(s).id for s in sources))
        held = sorted(set(ids) & store.assigned_blind_sources(coder)) if not on else []
        if held:  # double coding the lead assigned: blind until every coder is done
            from assistant.people.roles import require_role

            require_role(project, actor, "lead", f"end {coder}'s blind coding of an assigned source before every "
                                                 "coder is done")
        now = utcnow()
        change = store.open_blind_period if on else store.close_blind_period
        changed = [sid for sid in ids if change(coder, sid, now)]
        if changed:
            store.audit(actor, ACTION_START if on else ACTION_END, "blind", None, coder=coder, source_ids=changed)
    return changed


def blind_sources(project: Project, coder: str) -> set[int]:
    """The sources `coder` codes blind now."""
    return {p.source_id for p in project.store.blind_periods(coder=coder, open_only=True)}


def is_blind(project: Project, coder: str, source: int | str) -> bool:
    sid = project.store.get_source(source).id
    return bool(project.store.blind_periods(coder=coder, source_id=sid, open_only=True))


def blind_periods(project: Project, coder: str | None = None, source: int | str | None = None) -> list[BlindPeriod]:
    """Every blind period (open ones have no `ended_at`), by coder and source name."""
    sid = project.store.get_source(source).id if source is not None else None
    return project.store.blind_periods(coder=coder, source_id=sid)


# --- what a coder may see ------------------------------------------------------------------------


def visibility(project: Project, viewer: str | None) -> Callable[[Coding], bool]:
    """A test "may `viewer` see this coding?": on a source they code blind, only their own."""
    if not viewer:
        return lambda c: True
    blind = blind_sources(project, viewer)
    return lambda c: c.source_id not in blind or c.coder == viewer


def visible_codings(project: Project, coder: str, source: int | str, status: str | None = "active") -> list[Coding]:
    """The codings of a source that `coder` may see: all of them, or only their own while blind."""
    sid = project.store.get_source(source).id
    seen = visibility(project, coder)
    return [c for c in project.store.list_codings(source_id=sid, status=status) if seen(c)]


def visible_suggestions(project: Project, coder: str, source: int | str, status: str | None = "pending") -> list:
    """The AI's suggestions for a source as `coder` may see them (`SuggestionView`s): none while
    they code it blind."""
    from assistant.coding.suggest import list_suggestions

    if is_blind(project, coder, source) and not _ai_shown(project, coder, source):
        return []
    return list_suggestions(project, status, source=source)


def _ai_shown(project: Project, coder: str, source: int | str) -> bool:
    """A lead may assign double coding blind to the other coders only, AI suggestions shown
    (`coding.assignments`, `hide_ai=False`); any other blind period hides them."""
    sid = project.store.get_source(source).id
    return sid in project.store.ai_shown_sources(coder)


# --- was a comparison independent? -----------------------------------------------------------------


@dataclass(frozen=True)
class _Item:
    """One coding or suggestion, as independence needs it."""

    source_id: int
    at: datetime | None
    origin: str = ""
    suggestion_id: int | None = None


def _when(text: str | None) -> datetime | None:
    try:
        at = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except (TypeError, ValueError):
        return None
    return at if at.tzinfo else at.replace(tzinfo=datetime.now().astimezone().tzinfo)


def _ai_parts(coder: str) -> tuple[str, str] | None:
    """"ai:<engine>:<model>" -> (engine, model) (the model may hold colons)."""
    parts = coder.split(":", 2)
    return (parts[1], parts[2]) if len(parts) == 3 and is_ai_coder(coder) else None


class _Coder:
    """A coder's work by source: stored codings (any status: a removed coding was visible while it
    stood), and for an AI coder its suggestions (superseded ones too: they were shown)."""

    def __init__(self, project: Project, name: str, suggestions: list[StoredSuggestion]):
        self.name, self.parts = name, _ai_parts(name)
        self.items: dict[int, list[_Item]] = {}
        for c in project.store.list_codings(coder=name, status=None):
            self._add(_Item(c.source_id, _when(c.created_at), c.origin, c.suggestion_id))
        self.compared: set[int] = {c.source_id for c in project.store.list_codings(coder=name)}
        if self.parts:
            for s in suggestions:
                if (s.engine, s.model) == self.parts:
                    self._add(_Item(s.source_id, _when(s.created_at), "ai", s.id))
                    if s.status != "superseded" and s.code_id is not None:
                        self.compared.add(s.source_id)
        periods = project.store.blind_periods(coder=name)
        self.blind: dict[int, list[tuple[datetime | None, datetime | None]]] = {}
        for p in periods:
            self.blind.setdefault(p.source_id, []).append((_when(p.started_at), _when(p.ended_at)))

    def _add(self, item: _Item) -> None:
        self.items.setdefault(item.source_id, []).append(item)

    @property
    def is_ai(self) -> bool:
        return self.parts is not None

    def was_blind(self, source_id: int, at: datetime | None) -> bool:
        if at is None:
            return False
        return any(s is not None and s <= at and (e is None or at < e) for s, e in self.blind.get(source_id, []))

    def existed_by(self, source_id: int, at: datetime | None) -> bool:
        """Whether any of this coder's work on the source existed at `at` (unknown times: yes)."""
        return any(at is None or i.at is None or i.at <= at for i in self.items.get(source_id, []))


def comparison_independence(project: Project, coder_a: str, coder_b: str) -> Independence:
    """Whether comparing `coder_a` with `coder_b` is a comparison of independent judgements, over
    the sources both coded; when not, one sentence per reason and the sources concerned."""
    suggestions = project.store.list_suggestions(status=None)
    by_id = {s.id: s for s in suggestions}
    known = ({c["name"] for c in project.store.list_coders()} | {c.coder for c in project.store.list_codings(status=None)}
             | {ai_coder_name(s.engine, s.model) for s in suggestions})
    for name in (coder_a, coder_b):
        if name not in known:
            raise NotFound(f"no coder {name!r} in this project (see `thematic coders`)")
    a, b = _Coder(project, coder_a, suggestions), _Coder(project, coder_b, suggestions)
    shared = sorted(a.compared & b.compared)
    names = {s.id: s.name for s in project.store.list_sources()}
    issues: list[IndependenceIssue] = []
    for x, y in ((a, b), (b, a)):
        for sid in shared:
            issues += _issues(x, y, sid, names.get(sid, str(sid)), by_id)
    reasons = _reasons(issues)
    return Independence(coder_a=coder_a, coder_b=coder_b, independent=not issues, reasons=reasons, issues=issues,
                        sources_compared=shared, dependent_sources=sorted({i.source_id for i in issues}))


def _issues(x: _Coder, y: _Coder, sid: int, source: str, suggestions: dict[int, StoredSuggestion]) -> list[IndependenceIssue]:
    items = [i for i in x.items.get(sid, []) if i.origin != "import"]
    out: list[IndependenceIssue] = []

    def issue(reason: str, n: int, detail: str) -> None:
        if n:
            out.append(IndependenceIssue(coder=x.name, other=y.name, source_id=sid, source=source, reason=reason,  # type: ignore[arg-type]
                                         codings=n, detail=detail))

    if x.is_ai:
        if not y.is_ai:
            learned = [i for i in items if y.existed_by(sid, i.at)]
            issue("ai_learned_from_coder", len(learned),
                  f"{x.name} proposed codes for {source} after {y.name} had coded it, and the engines learn from "
                  "the analysts' codings")
        return out
    if y.is_ai:
        taken = [i for i in items if i.origin == "suggestion" and i.suggestion_id in suggestions
                 and (suggestions[i.suggestion_id].engine, suggestions[i.suggestion_id].model) == y.parts]
        issue("accepted_ai_suggestions", len(taken),
              f"{x.name} accepted {y.name}'s suggestions on {source}: those codings are the AI's")
        rest = [i for i in items if i not in taken and not x.was_blind(sid, i.at) and y.existed_by(sid, i.at)]
        issue("saw_ai_suggestions", len(rest),
              f"{x.name} coded {source} without blind mode while {y.name}'s suggestions for it were shown")
        return out
    seen = [i for i in items if not x.was_blind(sid, i.at) and y.existed_by(sid, i.at)]
    issue("saw_other_codings", len(seen),
          f"{x.name} coded {source} without blind mode while {y.name}'s codings of it were there to see")
    return out


_REASON_WORDS = {
    "accepted_ai_suggestions": "are accepted suggestions of {other}, not an independent judgement",
    "saw_ai_suggestions": "were made without blind mode while {other}'s suggestions were shown",
    "saw_other_codings": "were made without blind mode while {other}'s codings were there to see",
    "ai_learned_from_coder": "were proposed after {other} had coded the same sources, and the engines learn from the "
                             "analysts' codings",
}


def _reasons(issues: list[IndependenceIssue]) -> list[str]:
    """One sentence per (coder, reason): "alice's codings on 2 sources (P01, P02) were made ..."."""
    groups: dict[tuple[str, str, str], list[IndependenceIssue]] = {}
    for i in issues:
        groups.setdefault((i.coder, i.other, i.reason), []).append(i)
    out = []
    for (coder, other, reason), rows in groups.items():
        n = sum(r.codings for r in rows)
        names = ", ".join(r.source for r in rows)
        what = "suggestions" if is_ai_coder(coder) else "codings"
        out.append(f"{n} of {coder}'s {what} on {len(rows)} source(s) ({names}) "
                   + _REASON_WORDS[reason].format(other=other) + ".")
    return out
