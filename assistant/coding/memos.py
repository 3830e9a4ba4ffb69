"""Memos: the analyst's notes on the project, a source, a code, a coding or a theme. Write, edit,
link to more targets, list by target, search.

A memo is written on one target (its home, `Memo.target_type/target_id`, which is what REFI-QDA
exports reference) and can be linked to more (a memo about how two codes relate belongs to
both). Every change is one function here that writes the change and exactly one audit row in the
same transaction; an edit keeps the previous text in its audit row, so a memo's history is the
audit log (`memo_history`). Memo text is data: stored and returned exactly as written, never
interpreted (the faces print it as text; `memos_markdown` escapes it).

Lives in the coding layer (not writing) so the code tree and the coding screens below the writing
layer can show a code's or a coding's memos; a theme target is checked through the store alone."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from assistant.coding.codebook import code_paths
from assistant.errors import NotFound, ThematicError
from assistant.models import (
    MEMO_TARGET_TYPES,
    AuditEvent,
    Memo,
    MemoTarget,
    MemoView,
    StoredMemo,
    utcnow,
)
from assistant.plain import md_escape, md_quote
from assistant.project import Project

MAX_MEMO_CHARS = 200_000  # a memo is a note, not a document: bounds what one form can store
Target = tuple[str, "int | str | None"]  # ("code", "Housing"), ("source", 3), ("project", None)


# --- targets -------------------------------------------------------------------------------------


def resolve_target(project: Project, target_type: str, ref: int | str | None = None) -> tuple[str, int | None]:
    """(type, id) of an existing target named by id or name, or a NotFound/ThematicError naming
    what is wrong. Sources and codes may be named as analysts type them; a coding is its id."""
    store = project.store
    kind = (target_type or "").strip().lower()
    if kind not in MEMO_TARGET_TYPES:
        raise ThematicError(f"a memo target is one of {', '.join(MEMO_TARGET_TYPES)}, not {target_type!r}")
    if kind == "project":
        if ref not in (None, "", 0, "0"):
            raise ThematicError("a project memo has no target id")
        return "project", None
    if ref is None or (isinstance(ref, str) and not ref.strip()):
        raise ThematicError(f"say which {kind} the memo is about")
    if kind == "source":
        return kind, store.get_source(ref).id
    if kind == "code":
        return kind, store.get_code(ref).id
    if kind == "theme":
        return kind, store.get_theme(ref).id
    if not (isinstance(ref, int) or str(ref).strip().isdigit()):
        raise ThematicError(f"a coding is named by its id, not {ref!r}")
    return kind, store.get_coding(int(ref)).id


def parse_target(text: str) -> Target:
    """"code:Housing", "source:P01", "coding:12", "theme:3", "project" -> (type, ref): the form
    the command line and the workspace's pickers share."""
    kind, sep, ref = (text or "").partition(":")
    return kind.strip().lower(), (ref.strip() if sep else None)


class _Labels:
    """Reader-facing names of targets, looked up once per call."""

    def __init__(self, project: Project):
        store = project.store
        self.codes = code_paths(store.list_codes(include_inactive=True))
        self.sources: dict[int | None, str] = {s.id: s.name for s in store.list_sources()}
        self.themes: dict[int | None, str] = {t.id: t.name for t in store.list_themes()}
        self.store = store

    def target(self, kind: str, tid: int | None) -> MemoTarget:
        if kind == "project":
            return MemoTarget(type="project", id=None, label="project")
        if kind == "source":
            return self._named(kind, tid, self.sources.get(tid))
        if kind == "code":
            return self._named(kind, tid, self.codes.get(tid))  # type: ignore[arg-type]
        if kind == "theme":
            return self._named(kind, tid, self.themes.get(tid))
        try:
            c = self.store.get_coding(int(tid))  # type: ignore[arg-type]
        except (NotFound, TypeError):
            return MemoTarget(type="coding", id=tid, label=f"coding #{tid} (deleted)", exists=False)
        code = self.codes.get(c.code_id, f"code {c.code_id}")
        src = self.sources.get(c.source_id, f"source {c.source_id}")
        return MemoTarget(type="coding", id=tid, label=f"coding #{tid}: {code} on {src} [{c.start}:{c.end}]")

    @staticmethod
    def _named(kind: str, tid: int | None, name: str | None) -> MemoTarget:
        if name is None:
            return MemoTarget(type=kind, id=tid, label=f"{kind} {tid} (deleted)", exists=False)  # type: ignore[arg-type]
        return MemoTarget(type=kind, id=tid, label=f"{kind} {name}")  # type: ignore[arg-type]


def _views(project: Project, memos: Sequence[StoredMemo]) -> list[MemoView]:
    labels = _Labels(project)
    links = project.store.memo_links([m.id for m in memos])
    return [
        MemoView(memo=m, targets=[labels.target(m.target_type, m.target_id)]
                 + [labels.target(k, t) for k, t in links.get(m.id, [])])
        for m in memos
    ]


def _checked_text(text: str) -> str:
    if not isinstance(text, str) or not text.strip():
        raise ThematicError("a memo needs some text")
    if len(text) > MAX_MEMO_CHARS:
        raise ThematicError(f"the memo is {len(text):,} characters; the limit is {MAX_MEMO_CHARS:,}")
    return text


# --- writes (each: the change and one audit row, in one transaction) -----------------------------


def add_memo(project: Project, text: str, target_type: str = "project", target: int | str | None = None, *,
             links: Iterable[Target] = (), author: str | None = None) -> MemoView:
    """Write a memo on a target (and link it to `links` too). The text is kept exactly as given."""
    store, author = project.store, author or project.analyst
    text = _checked_text(text)
    with store.transaction():
        kind, tid = resolve_target(project, target_type, target)
        extra = _new_links(project, [resolve_target(project, k, r) for k, r in links], {(kind, tid)})
        memo = store.add_memo(Memo(target_type=kind, target_id=tid, text=text, author=author))  # type: ignore[arg-type]
        for k, t in extra:
            store.add_memo_link(memo.id, k, t, memo.created_at)
        store.audit(author, "memo.add", "memo", memo.id, target_type=kind, target_id=tid,
                    links=[list(x) for x in extra], text=text)
    return get_memo(project, memo.id)


def edit_memo(project: Project, memo_id: int, text: str, *, actor: str | None = None) -> MemoView:
    """Replace a memo's text; the audit row keeps the text it replaced. Nothing is written when
    the text is unchanged."""
    store, actor = project.store, actor or project.analyst
    text = _checked_text(text)
    with store.transaction():
        old = store.get_memo(memo_id)
        if old.text == text:
            return get_memo(project, memo_id)
        store.update_memo_text(memo_id, text, utcnow())
        store.audit(actor, "memo.edit", "memo", memo_id, before=old.text, after=text)
    return get_memo(project, memo_id)


def link_memo(project: Project, memo_id: int, targets: Iterable[Target], *, actor: str | None = None) -> MemoView:
    """Link a memo to more targets (one audit row for all of them); targets it already has are
    skipped, and nothing is written when none is new."""
    store, actor = project.store, actor or project.analyst
    with store.transaction():
        memo = store.get_memo(memo_id)
        wanted = [resolve_target(project, k, r) for k, r in targets]
        have = {(memo.target_type, memo.target_id), *store.memo_links([memo_id]).get(memo_id, [])}
        new = _new_links(project, wanted, have)
        if new:
            now = utcnow()
            for k, t in new:
                store.add_memo_link(memo_id, k, t, now)
            store.audit(actor, "memo.link", "memo", memo_id, targets=[list(x) for x in new])
    return get_memo(project, memo_id)


def unlink_memo(project: Project, memo_id: int, target_type: str, target: int | str | None = None, *,
                actor: str | None = None) -> MemoView:
    """Remove one linked target. A memo keeps the target it was written on (its home)."""
    store, actor = project.store, actor or project.analyst
    with store.transaction():
        memo = store.get_memo(memo_id)
        kind, tid = _target_ref(project, target_type, target)
        if (kind, tid) == (memo.target_type, memo.target_id):
            raise ThematicError(f"memo {memo_id} was written on that {kind}; it stays there (link it elsewhere instead)")
        if not store.remove_memo_link(memo_id, kind, tid):
            raise NotFound(f"memo {memo_id} is not linked to that {kind}")
        store.audit(actor, "memo.unlink", "memo", memo_id, target_type=kind, target_id=tid)
    return get_memo(project, memo_id)


def _target_ref(project: Project, target_type: str, target: int | str | None) -> tuple[str, int | None]:
    """Like `resolve_target`, but a link to something since deleted can still be removed by id."""
    try:
        return resolve_target(project, target_type, target)
    except NotFound:
        if isinstance(target, int) or str(target).strip().isdigit():
            return target_type.strip().lower(), int(target)  # type: ignore[arg-type]
        raise


def _new_links(project: Project, wanted: list[tuple[str, int | None]],
               have: set[tuple[str, int | None]]) -> list[tuple[str, int | None]]:
    return [t for t in dict.fromkeys(wanted) if t not in have]


# --- reads ---------------------------------------------------------------------------------------


def get_memo(project: Project, memo_id: int) -> MemoView:
    return _views(project, [project.store.get_memo(memo_id)])[0]


def list_memos(project: Project, target_type: str | None = None, target: int | str | None = None) -> list[MemoView]:
    """Memos written on or linked to a target (`target_type` alone: any target of that type;
    neither: every memo), oldest first."""
    store = project.store
    kind = (target_type or "").strip().lower()
    if target_type is None:
        memos = list(store.memos_by_id().values())
    elif kind not in MEMO_TARGET_TYPES:
        raise ThematicError(f"a memo target is one of {', '.join(MEMO_TARGET_TYPES)}, not {target_type!r}")
    elif target is None and kind != "project":
        linked = {mid for mid, ts in store.memo_links().items() if any(k == kind for k, _ in ts)}
        memos = [m for m in store.memos_by_id().values() if m.target_type == kind or m.id in linked]
    else:
        kind, tid = _target_ref(project, target_type, target)
        memos = list(store.memos_by_id(store.memo_ids_for_target(kind, tid)).values())
    return _views(project, memos)


def search_memos(project: Project, query: str, target_type: str | None = None) -> list[MemoView]:
    """Memos whose text holds every word and "quoted phrase" of `query` (case-insensitive, any
    run of whitespace matching any other)."""
    terms = [" ".join(t.split()).casefold() for t in _query_terms(query)]
    if not terms:
        raise ThematicError("say what to search the memos for")
    views = list_memos(project, target_type)
    return [v for v in views if all(t in " ".join(v.memo.text.split()).casefold() for t in terms)]


def _query_terms(query: str) -> list[str]:
    return [a or b for a, b in re.findall(r'"([^"]+)"|(\S+)', query or "") if (a or b).strip()]


def memo_history(project: Project, memo_id: int) -> list[AuditEvent]:
    """Every change to a memo, oldest first: its text as written, each edit with the text before
    and after, each link and unlink."""
    project.store.get_memo(memo_id)
    return [e for e in project.store.list_audit("memo", memo_id) if e.action.startswith("memo.")]


def memos_markdown(views: Sequence[MemoView], title: str = "Memos") -> str:
    """Memos for a write-up: each under what it is about, its text as a block quote, escaped so it
    renders as exactly its characters."""
    out = [f"# {md_escape(title)}", ""]
    for v in views:
        about = "; ".join(t.label for t in v.targets)
        when = v.memo.updated_at or v.memo.created_at
        out += [f"## Memo {v.memo.id}: {md_escape(about)}", "", *md_quote(v.memo.text), "",
                f"— {md_escape(v.memo.author)}, {md_escape(when)}", ""]
    return "\n".join(out).rstrip() + "\n"
