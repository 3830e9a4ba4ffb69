"""Codes, suggestions, decisions, codings, batch runs and the LLM response cache."""

from __future__ import annotations

from typing import Any

from assistant.errors import NotFound
from assistant.models import (
    Code,
    Coding,
    Decision,
    StoredCode,
    StoredCoding,
    StoredDecision,
    StoredSuggestion,
    Suggestion,
    utcnow,
)
from assistant.store.base import Row, StoreBase, dumps, loads, saved


def _code(r: Row) -> StoredCode:
    return StoredCode(
        id=r["id"], name=r["name"], parent_id=r["parent_id"], definition=r["definition"],
        include=r["include"], exclude=r["exclude"], examples=loads(r["examples"], []),
        colour=r["colour"], scope=loads(r["scope"]), status=r["status"],
        merged_into=r["merged_into"], created_at=r["created_at"],
    )


def _suggestion(r: Row) -> StoredSuggestion:
    return StoredSuggestion(
        id=r["id"], excerpt_id=r["excerpt_id"], source_id=r["source_id"], code_id=r["code_id"],
        proposed_name=r["proposed_name"], proposed_definition=r["proposed_definition"],
        score=r["score"], rationale=r["rationale"], evidence_start=r["evidence_start"],
        evidence_end=r["evidence_end"], evidence_text=r["evidence_text"], engine=r["engine"],
        model=r["model"], prompt_version=r["prompt_version"], params=loads(r["params"], {}),
        run_id=r["run_id"], status=r["status"], created_at=r["created_at"],
    )


def _coding(r: Row) -> StoredCoding:
    return StoredCoding(
        id=r["id"], source_id=r["source_id"], excerpt_id=r["excerpt_id"], code_id=r["code_id"],
        start=r["start"], end=r["end"], text=r["text"], coder=r["coder"], origin=r["origin"],
        suggestion_id=r["suggestion_id"], status=r["status"], source_version=r["source_version"],
        created_at=r["created_at"],
    )


class CodingStore(StoreBase):
    # -- codes --------------------------------------------------------------------------------
    def add_code(self, code: Code) -> StoredCode:
        with self.transaction():
            cur = self.conn.execute(
                "INSERT INTO codes (name, parent_id, definition, include, exclude, examples, colour, "
                "scope, status, merged_into, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (
                    code.name, code.parent_id, code.definition, code.include, code.exclude,
                    dumps(code.examples), code.colour,
                    None if code.scope is None else dumps(code.scope), code.status,
                    code.merged_into, code.created_at,
                ),
            )
            return saved(StoredCode, code, int(cur.fetchone()[0]))

    def update_code(self, code: StoredCode) -> None:
        with self.transaction():
            self.conn.execute(
                "UPDATE codes SET name=?, parent_id=?, definition=?, include=?, exclude=?, examples=?, "
                "colour=?, scope=?, status=?, merged_into=? WHERE id=?",
                (
                    code.name, code.parent_id, code.definition, code.include, code.exclude,
                    dumps(code.examples), code.colour,
                    None if code.scope is None else dumps(code.scope), code.status,
                    code.merged_into, code.id,
                ),
            )

    def get_code(self, ref: int | str) -> StoredCode:
        """By id or by active name (case-insensitive, since analysts type names)."""
        row = None
        if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
            row = self._one("SELECT * FROM codes WHERE id = ?", (int(ref),))
        if row is None and isinstance(ref, str):
            row = self._one(
                "SELECT * FROM codes WHERE status = 'active' AND lower(name) = lower(?)", (ref,)
            )
        if row is None:
            raise NotFound(f"no code {ref!r} in the codebook (see `thematic codebook list`)")
        return _code(row)

    def list_codes(self, include_inactive: bool = False) -> list[StoredCode]:
        sql = "SELECT * FROM codes" + ("" if include_inactive else " WHERE status = 'active'")
        return [_code(r) for r in self._all(sql + " ORDER BY id")]

    # -- suggestions ----------------------------------------------------------------------------
    def add_suggestions(self, suggestions: list[Suggestion]) -> list[StoredSuggestion]:
        out: list[StoredSuggestion] = []
        with self.transaction():
            for s in suggestions:
                cur = self.conn.execute(
                    "INSERT INTO suggestions (excerpt_id, source_id, code_id, proposed_name, "
                    "proposed_definition, score, rationale, evidence_start, evidence_end, "
                    "evidence_text, engine, model, prompt_version, params, run_id, status, created_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                    (
                        s.excerpt_id, s.source_id, s.code_id, s.proposed_name, s.proposed_definition,
                        s.score, s.rationale, s.evidence_start, s.evidence_end, s.evidence_text,
                        s.engine, s.model, s.prompt_version, dumps(s.params), s.run_id, s.status,
                        s.created_at,
                    ),
                )
                out.append(saved(StoredSuggestion, s, int(cur.fetchone()[0])))
        return out

    def get_suggestion(self, suggestion_id: int) -> StoredSuggestion:
        row = self._one("SELECT * FROM suggestions WHERE id = ?", (suggestion_id,))
        if row is None:
            raise NotFound(f"no suggestion {suggestion_id} (see `thematic suggestions`)")
        return _suggestion(row)

    def list_suggestions(
        self,
        status: str | None = "pending",
        code_id: int | None = None,
        source_id: int | None = None,
        engine: str | None = None,
        excerpt_id: int | None = None,
        min_score: float | None = None,
    ) -> list[StoredSuggestion]:
        sql, params = "SELECT * FROM suggestions WHERE 1=1", []
        for col, val in (
            ("status", status), ("code_id", code_id), ("source_id", source_id),
            ("engine", engine), ("excerpt_id", excerpt_id),
        ):
            if val is not None:
                sql += f" AND {col} = ?"
                params.append(val)
        if min_score is not None:
            sql += " AND score >= ?"
            params.append(min_score)
        sql += " ORDER BY source_id, excerpt_id, score DESC"
        return [_suggestion(r) for r in self._all(sql, tuple(params))]

    def set_suggestion_status(self, suggestion_id: int, status: str) -> None:
        with self.transaction():
            self.conn.execute("UPDATE suggestions SET status = ? WHERE id = ?", (status, suggestion_id))

    def supersede_pending(self, excerpt_id: int, engine: str) -> int:
        """A fresh run replaces the previous engine's pending proposals for an excerpt; decided
        ones stay, since they are the analyst's history."""
        with self.transaction():
            cur = self.conn.execute(
                "UPDATE suggestions SET status = 'superseded' "
                "WHERE excerpt_id = ? AND engine = ? AND status = 'pending'",
                (excerpt_id, engine),
            )
            return cur.rowcount

    # -- decisions ------------------------------------------------------------------------------
    def add_decision(self, d: Decision) -> StoredDecision:
        with self.transaction():
            cur = self.conn.execute(
                'INSERT INTO decisions (suggestion_id, action, analyst, code_id, source_id, start, "end", '
                "note, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (d.suggestion_id, d.action, d.analyst, d.code_id, d.source_id, d.start, d.end, d.note, d.created_at),
            )
            return saved(StoredDecision, d, int(cur.fetchone()[0]))

    def list_decisions(self, code_id: int | None = None) -> list[StoredDecision]:
        sql, params = "SELECT * FROM decisions", ()
        if code_id is not None:
            sql, params = sql + " WHERE code_id = ?", (code_id,)
        return [
            StoredDecision(
                id=r["id"], suggestion_id=r["suggestion_id"], action=r["action"], analyst=r["analyst"],
                code_id=r["code_id"], source_id=r["source_id"], start=r["start"], end=r["end"],
                note=r["note"], created_at=r["created_at"],
            )
            for r in self._all(sql + " ORDER BY id", params)
        ]

    # -- codings --------------------------------------------------------------------------------
    def add_coding(self, c: Coding) -> StoredCoding:
        with self.transaction():
            cur = self.conn.execute(
                'INSERT INTO codings (source_id, excerpt_id, code_id, start, "end", text, coder, origin, '
                "suggestion_id, status, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (
                    c.source_id, c.excerpt_id, c.code_id, c.start, c.end, c.text, c.coder, c.origin,
                    c.suggestion_id, c.status, c.created_at,
                ),
            )
            return saved(StoredCoding, c, int(cur.fetchone()[0]))

    def get_coding(self, coding_id: int) -> StoredCoding:
        row = self._one("SELECT * FROM codings WHERE id = ?", (coding_id,))
        if row is None:
            raise NotFound(f"no coding {coding_id}")
        return _coding(row)

    def list_codings(
        self,
        coder: str | None = None,
        code_id: int | None = None,
        source_id: int | None = None,
        status: str | None = "active",
    ) -> list[StoredCoding]:
        sql, params = "SELECT * FROM codings WHERE 1=1", []
        for col, val in (("coder", coder), ("code_id", code_id), ("source_id", source_id), ("status", status)):
            if val is not None:
                sql += f" AND {col} = ?"
                params.append(val)
        return [_coding(r) for r in self._all(sql + " ORDER BY source_id, start", tuple(params))]

    def set_coding_status(self, coding_id: int, status: str) -> None:
        with self.transaction():
            self.conn.execute("UPDATE codings SET status = ? WHERE id = ?", (status, coding_id))

    def move_coding(self, coding_id: int, start: int, end: int, text: str, excerpt_id: int | None) -> None:
        """Re-anchor a coding (after a source changed, or an analyst's edit)."""
        with self.transaction():
            self.conn.execute(
                'UPDATE codings SET start = ?, "end" = ?, text = ?, excerpt_id = ? WHERE id = ?',
                (start, end, text, excerpt_id, coding_id),
            )

    def anchor_coding(self, coding_id: int, start: int, end: int, text: str, excerpt_id: int | None) -> None:
        """Anchor a coding in its source's current text: re-anchored by a re-ingest, or an orphan
        re-attached by the analyst. It is active again and no longer refers to an old version."""
        with self.transaction():
            self.conn.execute(
                'UPDATE codings SET start = ?, "end" = ?, text = ?, excerpt_id = ?, status = \'active\', '
                "source_version = NULL WHERE id = ?",
                (start, end, text, excerpt_id, coding_id),
            )

    def orphan_coding(self, coding_id: int, source_version: int) -> None:
        """The coding's words are not in the new text: keep it, with its text and offsets, pointing
        at the version they belong to (an orphan already pointing at an older one keeps that)."""
        with self.transaction():
            self.conn.execute(
                "UPDATE codings SET status = 'orphaned', excerpt_id = NULL, "
                "source_version = COALESCE(source_version, ?) WHERE id = ?",
                (source_version, coding_id),
            )

    def recode(self, old_code_id: int, new_code_id: int) -> int:
        """Point codings and pending suggestions at another code (merge)."""
        with self.transaction():
            n = self.conn.execute(
                "UPDATE codings SET code_id = ? WHERE code_id = ?", (new_code_id, old_code_id)
            ).rowcount
            self.conn.execute(
                "UPDATE suggestions SET code_id = ? WHERE code_id = ? AND status = 'pending'",
                (new_code_id, old_code_id),
            )
            return n

    def code_counts(self) -> dict[int, dict[str, int]]:
        """Per code: active codings by source kind, for codebook exports and the UI."""
        rows = self._all(
            "SELECT c.code_id, s.kind, COUNT(*) FROM codings c JOIN sources s ON s.id = c.source_id "
            "WHERE c.status = 'active' GROUP BY c.code_id, s.kind"
        )
        out: dict[int, dict[str, int]] = {}
        for code_id, kind, n in rows:
            out.setdefault(code_id, {})[kind] = n
        return out

    # -- batch runs (resumable) -----------------------------------------------------------------
    def start_run(self, run_id: str, kind: str, engine: str, params: dict[str, Any]) -> None:
        with self.transaction():
            self.conn.execute(
                "INSERT INTO runs (id, kind, engine, params, status, started_at) VALUES (?, ?, ?, ?, 'running', ?) "
                "ON CONFLICT(id) DO UPDATE SET status = 'running'",
                (run_id, kind, engine, dumps(params), utcnow()),
            )

    def finish_run(self, run_id: str, status: str, stats: dict[str, Any]) -> None:
        with self.transaction():
            self.conn.execute(
                "UPDATE runs SET status = ?, stats = ?, finished_at = ? WHERE id = ?",
                (status, dumps(stats), utcnow(), run_id),
            )

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        row = self._one("SELECT * FROM runs WHERE id = ?", (run_id,))
        if row is None:
            return None
        d = dict(row)
        d["params"], d["stats"] = loads(d["params"], {}), loads(d["stats"], {})
        return d

    def list_runs(self, kind: str | None = None) -> list[dict[str, Any]]:
        rows = self._all("SELECT id FROM runs" + (" WHERE kind = ?" if kind else "") + " ORDER BY started_at", (kind,) if kind else ())
        return [self.get_run(r[0]) for r in rows]  # type: ignore[misc]

    def mark_run_item(self, run_id: str, excerpt_id: int, status: str, error: str | None = None) -> None:
        with self.transaction():
            self.conn.execute(
                "INSERT INTO run_items (run_id, excerpt_id, status, error) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(run_id, excerpt_id) DO UPDATE SET status = excluded.status, error = excluded.error",
                (run_id, excerpt_id, status, error),
            )

    def processed_excerpts(self, engine: str) -> set[int]:
        """Excerpts a batch run of this engine finished, whether or not it proposed a code: an
        AI coder that looked at an excerpt and applied nothing has still coded it."""
        return {r[0] for r in self._all(
            "SELECT DISTINCT i.excerpt_id FROM run_items i JOIN runs r ON r.id = i.run_id "
            "WHERE r.engine = ? AND i.status = 'done'", (engine,))}

    def run_items(self, run_id: str) -> dict[int, str]:
        return {r[0]: r[1] for r in self._all("SELECT excerpt_id, status FROM run_items WHERE run_id = ?", (run_id,))}

    # -- LLM response cache -----------------------------------------------------------------------
    def cache_get(self, key: str) -> str | None:
        row = self._one("SELECT response FROM llm_cache WHERE key = ?", (key,))
        return None if row is None else row[0]

    def cache_put(self, key: str, model: str, prompt_version: str, response: str) -> None:
        with self.transaction():
            self.conn.execute(
                "INSERT INTO llm_cache (key, model, prompt_version, response, created_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (key) DO UPDATE SET model = excluded.model, prompt_version = excluded.prompt_version, "
                "response = excluded.response, created_at = excluded.created_at",
                (key, model, prompt_version, response, utcnow()),
            )
