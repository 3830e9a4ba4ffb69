"""The validation gate's tables: samples the analyst codes blind and the reports of the engine
against the analyst on them (see `assistant.coding.validation`).

Writes here do not audit; `assistant.coding.validation` is the one library function for each
change and writes its audit row in the same transaction."""

from __future__ import annotations

from typing import Any

from assistant.errors import NotFound
from assistant.models import utcnow
from assistant.store.base import StoreBase, dumps, loads


def _validation(row: Any) -> dict[str, Any]:
    out = dict(row)
    out["bar"] = loads(out.get("bar"), {})
    out["report"] = loads(out.get("report"), {})
    return out


class ValidationStore(StoreBase):
    def add_validation_row(self, coder: str, size: int, seed: int, created_by: str,
                           items: list[tuple[int, int, str]]) -> int:
        """A new sample: items are (excerpt_id, source_id, stratum)."""
        with self.transaction():
            vid = int(self.conn.execute(
                "INSERT INTO validations (coder, size, seed, status, created_by, created_at) "
                "VALUES (?, ?, ?, 'sampled', ?, ?) RETURNING id",
                (coder, size, seed, created_by, utcnow()),
            ).fetchone()[0])
            for excerpt_id, source_id, stratum in items:
                self.conn.execute(
                    "INSERT INTO validation_items (validation_id, excerpt_id, source_id, stratum, no_code) "
                    "VALUES (?, ?, ?, ?, 0)", (vid, excerpt_id, source_id, stratum))
        return vid

    def get_validation(self, validation_id: int) -> dict[str, Any]:
        row = self._one("SELECT * FROM validations WHERE id = ?", (int(validation_id),))
        if row is None:
            raise NotFound(f"no validation {validation_id} (see `thematic validate list`)")
        return _validation(row)

    def list_validations(self, status: str | None = None) -> list[dict[str, Any]]:
        sql, params = "SELECT * FROM validations", ()
        if status is not None:
            sql, params = sql + " WHERE status = ?", (status,)
        return [_validation(r) for r in self._all(sql + " ORDER BY id", params)]

    def validation_items(self, validation_id: int) -> list[dict[str, Any]]:
        return [dict(r) for r in self._all(
            "SELECT excerpt_id, source_id, stratum, no_code FROM validation_items WHERE validation_id = ? "
            "ORDER BY source_id, excerpt_id", (int(validation_id),))]

    def set_validation_no_code(self, validation_id: int, excerpt_id: int, no_code: bool) -> bool:
        """Whether the item exists (and so was set)."""
        with self.transaction():
            cur = self.conn.execute(
                "UPDATE validation_items SET no_code = ? WHERE validation_id = ? AND excerpt_id = ?",
                (int(bool(no_code)), int(validation_id), int(excerpt_id)))
            return bool(cur.rowcount)

    def save_validation_report(self, validation_id: int, engine: str, model: str, bar: dict[str, Any],
                               report: dict[str, Any]) -> None:
        with self.transaction():
            self.conn.execute(
                "UPDATE validations SET status = 'run', engine = ?, model = ?, bar = ?, report = ?, run_at = ?, "
                "accepted_at = NULL WHERE id = ?",
                (engine, model, dumps(bar), dumps(report), utcnow(), int(validation_id)))

    def set_validation_status(self, validation_id: int, status: str) -> None:
        with self.transaction():
            self.conn.execute(
                "UPDATE validations SET status = ?, accepted_at = ? WHERE id = ?",
                (status, utcnow() if status == "accepted" else None, int(validation_id)))
