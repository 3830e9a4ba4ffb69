"""Themes, memos, source sets and the write-up basket."""

from __future__ import annotations


from assistant.errors import NotFound
from assistant.models import (
    BasketItem,
    Memo,
    Quote,
    StoredBasketItem,
    StoredMemo,
    StoredTheme,
    Theme,
)
from assistant.store.base import Row, StoreBase, dumps, loads, saved


def _theme(r: Row) -> StoredTheme:
    return StoredTheme(
        id=r["id"], name=r["name"], summary=r["summary"], summary_kind=r["summary_kind"],
        status=r["status"], engine=r["engine"], model=r["model"], prompt_version=r["prompt_version"],
        code_ids=loads(r["code_ids"], []), quotes=[Quote(**q) for q in loads(r["quotes"], [])],
        created_at=r["created_at"],
    )


class AnalysisStore(StoreBase):
    # -- themes ---------------------------------------------------------------------------------
    def add_theme(self, t: Theme) -> StoredTheme:
        with self.transaction():
            cur = self.conn.execute(
                "INSERT INTO themes (name, summary, summary_kind, status, engine, model, prompt_version, "
                "code_ids, quotes, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (
                    t.name, t.summary, t.summary_kind, t.status, t.engine, t.model, t.prompt_version,
                    dumps(t.code_ids), dumps([q.model_dump() for q in t.quotes]), t.created_at,
                ),
            )
            return saved(StoredTheme, t, int(cur.fetchone()[0]))

    def update_theme(self, t: StoredTheme) -> None:
        with self.transaction():
            self.conn.execute(
                "UPDATE themes SET name=?, summary=?, summary_kind=?, status=?, code_ids=?, quotes=? WHERE id=?",
                (t.name, t.summary, t.summary_kind, t.status, dumps(t.code_ids),
                 dumps([q.model_dump() for q in t.quotes]), t.id),
            )

    def get_theme(self, ref: int | str) -> StoredTheme:
        row = None
        if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
            row = self._one("SELECT * FROM themes WHERE id = ?", (int(ref),))
        if row is None and isinstance(ref, str):
            row = self._one("SELECT * FROM themes WHERE lower(name) = lower(?) ORDER BY id DESC", (ref,))
        if row is None:
            raise NotFound(f"no theme {ref!r} (see `thematic themes list`)")
        return _theme(row)

    def list_themes(self, status: str | None = None) -> list[StoredTheme]:
        if status:
            return [_theme(r) for r in self._all("SELECT * FROM themes WHERE status = ? ORDER BY id", (status,))]
        return [_theme(r) for r in self._all("SELECT * FROM themes ORDER BY id")]

    def delete_theme(self, theme_id: int) -> None:
        with self.transaction():
            self.conn.execute("DELETE FROM themes WHERE id = ?", (theme_id,))

    # -- memos ----------------------------------------------------------------------------------
    def add_memo(self, m: Memo) -> StoredMemo:
        with self.transaction():
            cur = self.conn.execute(
                "INSERT INTO memos (target_type, target_id, text, author, created_at) VALUES (?, ?, ?, ?, ?) RETURNING id",
                (m.target_type, m.target_id, m.text, m.author, m.created_at),
            )
            return saved(StoredMemo, m, int(cur.fetchone()[0]))

    def list_memos(self, target_type: str | None = None, target_id: int | None = None) -> list[StoredMemo]:
        sql, params = "SELECT * FROM memos WHERE 1=1", []
        if target_type:
            sql += " AND target_type = ?"
            params.append(target_type)
        if target_id is not None:
            sql += " AND target_id = ?"
            params.append(target_id)
        return [
            StoredMemo(id=r["id"], target_type=r["target_type"], target_id=r["target_id"], text=r["text"],
                 author=r["author"], created_at=r["created_at"], updated_at=r["updated_at"])
            for r in self._all(sql + " ORDER BY id", tuple(params))
        ]

    # -- source sets ----------------------------------------------------------------------------
    def add_source_set(self, name: str, source_ids: list[int], description: str = "") -> int:
        with self.transaction():
            cur = self.conn.execute(
                "INSERT INTO source_sets (name, description) VALUES (?, ?) "
                "ON CONFLICT(name) DO UPDATE SET description = excluded.description RETURNING id",
                (name, description),
            )
            set_id = cur.fetchone()[0]
            for sid in source_ids:
                self.conn.execute(
                    "INSERT INTO source_set_members (set_id, source_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
                    (set_id, sid),
                )
            return int(set_id)

    def list_source_sets(self) -> list[dict]:
        out = []
        for r in self._all("SELECT * FROM source_sets ORDER BY name"):
            members = [m[0] for m in self._all("SELECT source_id FROM source_set_members WHERE set_id = ?", (r["id"],))]
            out.append({"id": r["id"], "name": r["name"], "description": r["description"], "source_ids": members})
        return out

    # -- write-up basket ------------------------------------------------------------------------
    def add_to_basket(self, quote: Quote, note: str = "") -> StoredBasketItem:
        with self.transaction():
            pos = self._one("SELECT COALESCE(MAX(position), -1) + 1 FROM basket")[0]
            item = BasketItem(position=pos, quote=quote, note=note)
            cur = self.conn.execute(
                "INSERT INTO basket (position, quote, note, created_at) VALUES (?, ?, ?, ?) RETURNING id",
                (pos, dumps(quote.model_dump()), note, item.created_at),
            )
            return saved(StoredBasketItem, item, int(cur.fetchone()[0]))

    def list_basket(self) -> list[StoredBasketItem]:
        return [
            StoredBasketItem(id=r["id"], position=r["position"], quote=Quote(**loads(r["quote"])), note=r["note"],
                       created_at=r["created_at"])
            for r in self._all("SELECT * FROM basket ORDER BY position, id")
        ]

    def update_basket_item(self, item_id: int, note: str | None = None, position: int | None = None) -> None:
        with self.transaction():
            if self._one("SELECT 1 FROM basket WHERE id = ?", (item_id,)) is None:
                raise NotFound(f"no basket item {item_id}")
            if note is not None:
                self.conn.execute("UPDATE basket SET note = ? WHERE id = ?", (note, item_id))
            if position is not None:
                self.conn.execute("UPDATE basket SET position = ? WHERE id = ?", (position, item_id))

    def reorder_basket(self, item_ids: list[int]) -> None:
        with self.transaction():
            for pos, item_id in enumerate(item_ids):
                self.conn.execute("UPDATE basket SET position = ? WHERE id = ?", (pos, item_id))

    def remove_from_basket(self, item_id: int) -> None:
        with self.transaction():
            self.conn.execute("DELETE FROM basket WHERE id = ?", (item_id,))
