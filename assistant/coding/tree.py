"""The code tree as the workspace shows it: every active code, parents first, with its own counts
and counts rolled up from its descendants (codings, sources, participants), its definition and
how many memos it has; and re-parenting a code.

The walk is `codebook.Hierarchy` (the one walk of the code tree: a damaged store's cycle is cut
the same way everywhere). Counts come from `segments.select_codings`, so a node's numbers are the
segments a click on it opens (`segments.code_segments`). Rolled-up sources and participants are
distinct unions over the subtree, never sums: a participant coded under two children is one."""

from __future__ import annotations

from collections.abc import Collection

from assistant.coding.codebook import code_tree as hierarchy
from assistant.coding.codebook import update_code
from assistant.coding.segments import (
    Filters,
    filter_codings,
    participant_of,
    place_codings,
    select_codings,
)
from assistant.errors import CodebookError
from assistant.models import CodeCounts, CodeNode, StoredCode
from assistant.project import Project


def code_tree(project: Project, *, filters: Filters | None = None, coders: Collection[str] | None = None,
              include_ai: bool = False, viewer: str | None = None) -> list[CodeNode]:
    """Active codes in tree order (depth-first, parents before children, siblings in codebook
    order), each with `own` and rolled-up `total` counts of the codings that pass `filters`."""
    store = project.store
    codes = store.list_codes()
    tree = hierarchy(codes)
    by_id = {c.id: c for c in codes}
    codings = select_codings(project, coders=coders, include_ai=include_ai, viewer=viewer)
    places = place_codings(project, codings)
    if filters:
        codings = filter_codings(codings, places, filters)
    own: dict[int, tuple[int, set[int], set[str]]] = {}
    for c in codings:
        n, srcs, people = own.setdefault(c.code_id, (0, set(), set()))
        who = participant_of(places[c.id].source)
        srcs.add(c.source_id)
        if who:
            people.add(who)
        own[c.code_id] = (n + 1, srcs, people)
    memos = store.memo_counts("code")
    walk = tree.walk()
    children: dict[int, list[int]] = {}
    for cid, parent, _ in walk:
        if parent is not None:
            children.setdefault(parent, []).append(cid)
    total: dict[int, tuple[int, set[int], set[str]]] = {}
    for cid, _, _ in reversed(walk):  # children before parents: each subtree summed once
        n, srcs, people = own.get(cid, (0, set(), set()))
        srcs, people = set(srcs), set(people)
        for child in children.get(cid, []):
            cn, cs, cp = total[child]
            n, srcs, people = n + cn, srcs | cs, people | cp
        total[cid] = (n, srcs, people)
    names = {k: c.name for k, c in by_id.items()}
    return [_node(by_id[cid], tree.path(cid, names), parent, depth, children.get(cid, []),
                  own.get(cid, (0, set(), set())), total[cid], memos.get(cid, 0))
            for cid, parent, depth in walk]


def _counts(n: int, sources: set[int], people: set[str]) -> CodeCounts:
    return CodeCounts(codings=n, sources=len(sources), participants=len(people))


def _node(code: StoredCode, path: str, parent: int | None, depth: int, children: list[int],
          own: tuple[int, set[int], set[str]], total: tuple[int, set[int], set[str]], memos: int) -> CodeNode:
    return CodeNode(id=code.id, name=code.name, path=path, parent_id=parent, depth=depth,
                    children=children, definition=code.definition, include=code.include, exclude=code.exclude,
                    colour=code.colour, own=_counts(*own), total=_counts(*total), memos=memos)


def reparent_code(project: Project, code: int | str, parent: int | str | None, *, actor: str | None = None) -> StoredCode:
    """Move a code under another (None: to the top level), through the codebook's own edit path
    (`codebook.update_code`: its cycle check and its one audit row). Nothing is written when the
    code is already there."""
    store = project.store
    old = store.get_code(code)
    if old.status != "active":
        raise CodebookError(f"code {old.name!r} is {old.status}; only active codes can be moved")
    new_parent = None
    if parent is not None:
        target = store.get_code(parent)
        if target.status != "active":
            raise CodebookError(f"code {target.name!r} is {target.status}; choose an active parent")
        new_parent = target.id
        if new_parent == old.id:
            raise CodebookError(f"code {old.name!r} cannot be its own parent")
    if old.parent_id == new_parent:
        return old
    return update_code(project, old.id, actor=actor, parent_id=new_parent)
