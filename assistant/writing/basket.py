"""The write-up basket: the quotes an analyst has chosen for the report, in order, with notes.

Every change is one call here, used by the command line and the workspace alike, and writes the
change and its audit row in one transaction: the basket is part of the analysis record (which
quotes were chosen, dropped or annotated, and by whom), not scratch space. Quotes are re-checked
against their source before they go in, so an outdated quote cannot enter the basket."""

from __future__ import annotations

from collections.abc import Sequence

from assistant.errors import NotFound
from assistant.models import Quote, StoredBasketItem
from assistant.project import Project
from assistant.verbatim import check_quote


def _item(project: Project, item_id: int) -> StoredBasketItem:
    for item in project.store.list_basket():
        if item.id == item_id:
            return item
    raise NotFound(f"no basket item {item_id} (see `thematic basket list`)")


def add(project: Project, quotes: Sequence[Quote], note: str = "", actor: str | None = None) -> list[StoredBasketItem]:
    """Put quotes at the end of the basket; one audit row per item added."""
    store, actor = project.store, actor or project.analyst
    texts = store.source_texts()
    out = []
    with store.transaction():
        for q in quotes:
            check_quote(texts.get(q.source_id, ""), q)
            item = store.add_to_basket(q, note)
            store.audit(actor, "basket.add", "basket", item.id, source=q.source_name, start=q.start, end=q.end,
                        note=note)
            out.append(item)
    return out


def set_note(project: Project, item_id: int, note: str, actor: str | None = None) -> bool:
    """The analyst's note on an item; False (and nothing written) when the note is unchanged."""
    store, actor = project.store, actor or project.analyst
    with store.transaction():
        old = _item(project, item_id)
        if old.note == note:
            return False
        store.update_basket_item(item_id, note=note)
        store.audit(actor, "basket.note", "basket", item_id, before=old.note, after=note)
    return True


def move(project: Project, item_id: int, position: int, actor: str | None = None) -> list[int]:
    """Move an item to `position` (1 = first; clamped to the basket). Returns the new order of
    item ids. Moving an item to where it already is writes nothing."""
    store, actor = project.store, actor or project.analyst
    with store.transaction():
        ids = [i.id for i in store.list_basket()]
        if item_id not in ids:
            raise NotFound(f"no basket item {item_id} (see `thematic basket list`)")
        before = ids.index(item_id) + 1
        ids.remove(item_id)
        ids.insert(max(0, min(position - 1, len(ids))), item_id)
        after = ids.index(item_id) + 1
        if after != before:
            store.reorder_basket(ids)
            store.audit(actor, "basket.move", "basket", item_id, before=before, after=after)
    return ids


def remove(project: Project, item_id: int, actor: str | None = None) -> StoredBasketItem:
    """Take an item out of the basket; the audit row keeps what it was."""
    store, actor = project.store, actor or project.analyst
    with store.transaction():
        old = _item(project, item_id)
        store.remove_from_basket(item_id)
        store.audit(actor, "basket.remove", "basket", item_id, source=old.quote.source_name,
                    start=old.quote.start, end=old.quote.end, note=old.note)
    return old
