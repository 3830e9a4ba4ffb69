"""Batch work in blocks (`assistant.batch`): which blocks of a run are written, so a killed run
resumes where it stopped and never writes a block twice; and the bulk reads a million-row corpus
needs (excerpts a page at a time by id, sources' hashes by name, without loading every text).

Writes here do not audit: `assistant.batch` writes a block's results, its audit rows and its
`batch_blocks` row in one transaction. The primary key (run_id, block) is what makes a second
write of a block impossible: the insert fails, and so does the transaction that carried it."""

from __future__ import annotations

from typing import Any

from assistant.models import utcnow
from assistant.store.base import StoreBase, loads


class BatchStore(StoreBase):
    # -- blocks of a run ---------------------------------------------------------------------------
    def mark_block_done(self, run_id: str, block: int, first_id: int, last_id: int, items: int,
                        worker: str = "", seconds: float | None = None) -> None:
        """Record a finished block (call inside the transaction that wrote its results)."""
        with self.transaction():
            self.conn.execute(
                "INSERT INTO batch_blocks (run_id, block, first_id, last_id, items, worker, seconds, finished_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (run_id, int(block), int(first_id), int(last_id), int(items), worker, seconds, utcnow()),
            )

    def finished_blocks(self, run_id: str) -> set[int]:
        return {int(r["block"]) for r in self._all("SELECT block FROM batch_blocks WHERE run_id = ?", (run_id,))}

    def list_blocks(self, run_id: str) -> list[dict[str, Any]]:
        return [dict(r) for r in self._all(
            "SELECT block, first_id, last_id, items, worker, seconds, finished_at FROM batch_blocks "
            "WHERE run_id = ? ORDER BY block", (run_id,))]

    # -- bulk reads --------------------------------------------------------------------------------
    def excerpt_ids(self, include_interviewer: bool = True) -> list[int]:
        """Every excerpt id, ascending (8 bytes each: a million is 8 MB, texts are not read)."""
        sql = "SELECT id FROM excerpts" + ("" if include_interviewer else " WHERE is_interviewer = 0")
        return [int(r[0]) for r in self._all(sql + " ORDER BY id")]

    def excerpt_texts(self, ids: list[int]) -> dict[int, str]:
        """id -> text for some excerpts (a block)."""
        out: dict[int, str] = {}
        for i in range(0, len(ids), 900):
            chunk = ids[i : i + 900]
            marks = ",".join("?" * len(chunk))
            out.update((int(r["id"]), r["text"]) for r in self._all(
                f"SELECT id, text FROM excerpts WHERE id IN ({marks})", tuple(chunk)))
        return out

    def source_digests(self, names: list[str]) -> dict[str, dict[str, Any]]:
        """name -> id, content_hash, kind, attributes of the sources among `names` (no texts), so a
        streamed re-ingest tells unchanged rows from changed ones a block at a time."""
        out: dict[str, dict[str, Any]] = {}
        for i in range(0, len(names), 900):
            chunk = names[i : i + 900]
            marks = ",".join("?" * len(chunk))
            for r in self._all(f"SELECT id, name, content_hash, kind, attributes FROM sources WHERE name IN ({marks})",
                               tuple(chunk)):
                out[r["name"]] = {"id": int(r["id"]), "content_hash": r["content_hash"], "kind": r["kind"],
                                  "attributes": loads(r["attributes"], {})}
        return out
