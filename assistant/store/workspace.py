"""The analyst's workspace: memo texts and links, blind-coding periods, and the light reads the code
tree, text search and matrices need (excerpt spans without building records, texts by id).

Writes here do not audit; the one library function for each change (`assistant.coding.memos`,
`assistant.coding.blind`) writes the change and its audit row in one transaction."""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from assistant.errors import NotFound
from assistant.models import BlindPeriod, StoredMemo
from assistant.store.base import Row, StoreBase

_CHUNK = 900  # SQLite's default limit on bound parameters is 999 (PostgreSQL's is 65535)


class ExcerptSpan(NamedTuple):
    """What a hit or a coding needs of the turn it falls in, read without building `Excerpt`s (a
    survey of 100k answers would spend longer building records than searching)."""

    id: int
    source_id: int
    start: int
    end: int
    speaker: str | None
    is_interviewer: bool
    page: int | None
    ordinal: int


def _memo(r: Row) -> StoredMemo:
    return StoredMemo(id=r["id"], target_type=r["target_type"], target_id=r["target_id"], text=r["text"],
                author=r["author"], created_at=r["created_at"], updated_at=r["updated_at"])


def _chunks(ids: Iterable[int]) -> Iterable[list[int]]:
    ids = list(ids)
    for i in range(0, len(ids), _CHUNK):
        yield ids[i : i + _CHUNK]


class WorkspaceStore(StoreBase):
    # -- memos ----------------------------------------------------------------------------------
    def get_memo(self, memo_id: int) -> StoredMemo:
        row = self._one("SELECT * FROM memos WHERE id = ?", (memo_id,))
        if row is None:
            raise NotFound(f"no memo {memo_id} (see `thematic memo list`)")
        return _memo(row)

    def memos_by_id(self, ids: Iterable[int] | None = None) -> dict[int, StoredMemo]:
        if ids is None:
            return {int(r["id"]): _memo(r) for r in self._all("SELECT * FROM memos ORDER BY id")}
        out: dict[int, StoredMemo] = {}
        for chunk in _chunks(ids):
            marks = ",".join("?" * len(chunk))
            out.update({int(r["id"]): _memo(r) for r in self._all(f"SELECT * FROM memos WHERE id IN ({marks})", tuple(chunk))})
        return dict(sorted(out.items()))

    def update_memo_text(self, memo_id: int, text: str, updated_at: str) -> None:
        with self.transaction():
            self.conn.execute("UPDATE memos SET text = ?, updated_at = ? WHERE id = ?", (text, updated_at, memo_id))

    def add_memo_link(self, memo_id: int, target_type: str, target_id: int | None, created_at: str) -> bool:
        """False when the memo is already linked there."""
        with self.transaction():
            cur = self.conn.execute(
                "INSERT INTO memo_links (memo_id, target_type, target_id, created_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT DO NOTHING",
                (memo_id, target_type, target_id, created_at),
            )
            return cur.rowcount > 0

    def remove_memo_link(self, memo_id: int, target_type: str, target_id: int | None) -> bool:
        with self.transaction():
            cur = self.conn.execute(
                "DELETE FROM memo_links WHERE memo_id = ? AND target_type = ? AND COALESCE(target_id, -1) = COALESCE(?, -1)",
                (memo_id, target_type, target_id),
            )
            return cur.rowcount > 0

    def memo_links(self, memo_ids: Iterable[int] | None = None) -> dict[int, list[tuple[str, int | None]]]:
        """Memo id -> its linked targets (besides its home), in the order they were linked."""
        sql = "SELECT memo_id, target_type, target_id FROM memo_links"
        rows: list[Row] = []
        if memo_ids is None:
            rows = self._all(sql + " ORDER BY id")
        else:
            for chunk in _chunks(memo_ids):
                rows += self._all(sql + f" WHERE memo_id IN ({','.join('?' * len(chunk))}) ORDER BY id", tuple(chunk))
        out: dict[int, list[tuple[str, int | None]]] = {}
        for r in rows:
            out.setdefault(int(r[0]), []).append((r[1], r[2]))
        return out

    def memo_ids_for_target(self, target_type: str, target_id: int | None) -> list[int]:
        """Memos written on the target or linked to it."""
        rows = self._all(
            "SELECT id FROM memos WHERE target_type = ? AND COALESCE(target_id, -1) = COALESCE(?, -1) "
            "UNION SELECT memo_id FROM memo_links WHERE target_type = ? AND COALESCE(target_id, -1) = COALESCE(?, -1) "
            "ORDER BY 1",
            (target_type, target_id, target_type, target_id),
        )
        return [int(r[0]) for r in rows]

    def memo_counts(self, target_type: str) -> dict[int | None, int]:
        """Target id -> how many memos are written on or linked to it."""
        rows = self._all(
            "SELECT target_id, COUNT(DISTINCT mid) FROM ("
            " SELECT target_id, id AS mid FROM memos WHERE target_type = ?"
            " UNION ALL SELECT target_id, memo_id AS mid FROM memo_links WHERE target_type = ?"
            ") AS m GROUP BY target_id",
            (target_type, target_type),
        )
        return {r[0]: int(r[1]) for r in rows}

    # -- blind coding ---------------------------------------------------------------------------
    def open_blind_period(self, coder: str, source_id: int, at: str) -> bool:
        """False when the coder is already blind on that source."""
        with self.transaction():
            cur = self.conn.execute(
                "INSERT INTO blind_periods (coder, source_id, started_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                (coder, source_id, at),
            )
            return cur.rowcount > 0

    def close_blind_period(self, coder: str, source_id: int, at: str) -> bool:
        """False when the coder was not blind on that source."""
        with self.transaction():
            cur = self.conn.execute(
                "UPDATE blind_periods SET ended_at = ? WHERE coder = ? AND source_id = ? AND ended_at IS NULL",
                (at, coder, source_id),
            )
            return cur.rowcount > 0

    def blind_periods(self, coder: str | None = None, source_id: int | None = None,
                      open_only: bool = False) -> list[BlindPeriod]:
        sql = ("SELECT b.coder, b.source_id, s.name, b.started_at, b.ended_at FROM blind_periods b "
               "JOIN sources s ON s.id = b.source_id WHERE 1=1")
        params: list = []
        if coder is not None:
            sql += " AND b.coder = ?"
            params.append(coder)
        if source_id is not None:
            sql += " AND b.source_id = ?"
            params.append(source_id)
        if open_only:
            sql += " AND b.ended_at IS NULL"
        return [BlindPeriod(coder=r[0], source_id=r[1], source=r[2], started_at=r[3], ended_at=r[4])
                for r in self._all(sql + " ORDER BY b.coder, s.name, b.id", tuple(params))]

    # -- light reads --------------------------------------------------------------------------------
    def excerpt_spans(self, source_ids: Iterable[int]) -> dict[int, list[ExcerptSpan]]:
        """Source id -> its excerpts' spans, in text order."""
        out: dict[int, list[ExcerptSpan]] = {}
        for chunk in _chunks(sorted(set(source_ids))):
            rows = self.conn.execute(
                'SELECT id, source_id, start, "end", speaker, is_interviewer, page, ordinal FROM excerpts '
                f"WHERE source_id IN ({','.join('?' * len(chunk))}) ORDER BY source_id, start, ordinal",
                tuple(chunk),
            ).fetchall()
            for r in rows:
                out.setdefault(r[1], []).append(ExcerptSpan(r[0], r[1], r[2], r[3], r[4], bool(r[5]), r[6], r[7]))
        return out

    def texts_of(self, source_ids: Iterable[int]) -> dict[int, str]:
        out: dict[int, str] = {}
        for chunk in _chunks(sorted(set(source_ids))):
            rows = self._all(f"SELECT id, text FROM sources WHERE id IN ({','.join('?' * len(chunk))})", tuple(chunk))
            out.update({int(r[0]): r[1] for r in rows})
        return out
