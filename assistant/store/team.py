"""A team on one project: users and their sessions, assignments for blind double coding, the
lead's adjudication decisions, codebook versions, and merge records.

Writes here do not audit; the one library function for each change (`assistant.people`,
`assistant.coding.assignments`, `assistant.coding.adjudication`, `assistant.exchange.merge`) writes
the change and its audit row in one transaction. The role check lives here too
(`require_role`), beside the table it reads, so every layer above the store (the project's
settings included) can ask it."""

from __future__ import annotations

from typing import Any

from assistant.errors import NotFound, PermissionDenied
from assistant.models import utcnow
from assistant.store.base import StoreBase, dumps, loads

ROLES = ("viewer", "coder", "lead")  # in rising order of what they may do
_RANK = {r: i for i, r in enumerate(ROLES)}
# what anyone signed in may write about themself, a viewer included
_ANYONE = {"user.sign_in", "user.sign_out", "user.rehash", "user.password"}


def role_allows(role: str, needed: str) -> bool:
    """Whether `role` may do what needs `needed` (a lead may do what a coder may, and so on)."""
    return _RANK.get(role, -1) >= _RANK[needed]


class TeamStore(StoreBase):
    # -- users ------------------------------------------------------------------------------------
    def count_users(self) -> int:
        return int(self._one("SELECT COUNT(*) FROM users WHERE active = 1")[0])

    def add_user_row(self, name: str, role: str, password_hash: str) -> int:
        """A new user, or a removed one (same name) back with a new password and role."""
        now = utcnow()
        with self.transaction():
            row = self._one("SELECT id, active FROM users WHERE name = ?", (name,))
            if row is not None:
                self.conn.execute(
                    "UPDATE users SET role = ?, password_hash = ?, active = 1, updated_at = ? WHERE id = ?",
                    (role, password_hash, now, row["id"]),
                )
                return int(row["id"])
            return int(self.conn.execute(
                "INSERT INTO users (name, role, password_hash, active, created_at, updated_at) "
                "VALUES (?, ?, ?, 1, ?, ?) RETURNING id",
                (name, role, password_hash, now, now),
            ).fetchone()[0])

    def user_row(self, name: str, include_removed: bool = False) -> dict[str, Any] | None:
        sql = "SELECT * FROM users WHERE name = ?" + ("" if include_removed else " AND active = 1")
        row = self._one(sql, (name,))
        return None if row is None else dict(row)

    def user_rows(self, include_removed: bool = False) -> list[dict[str, Any]]:
        sql = "SELECT * FROM users" + ("" if include_removed else " WHERE active = 1") + " ORDER BY name"
        return [dict(r) for r in self._all(sql)]

    def set_user_fields(self, user_id: int, **fields: Any) -> None:
        allowed = {"role", "password_hash", "active"}
        if not fields or set(fields) - allowed:
            raise ValueError(f"cannot set user fields {sorted(set(fields) - allowed)}")
        cols = ", ".join(f"{k} = ?" for k in fields)
        with self.transaction():
            self.conn.execute(f"UPDATE users SET {cols}, updated_at = ? WHERE id = ?",
                              (*fields.values(), utcnow(), user_id))

    def count_leads(self) -> int:
        return int(self._one("SELECT COUNT(*) FROM users WHERE active = 1 AND role = 'lead'")[0])

    def require_role(self, actor: str | None, needed: str, doing: str = "do that") -> str | None:
        """Refuse `doing` unless `actor` may: a project with no users is one analyst's and
        allows everything, as before; an actor who is not a registered user is the project's
        owner at the terminal (whoever can open the database can do anything with it); a
        registered user needs a role of at least `needed`. Returns the actor's role (None when
        unchecked)."""
        if needed not in _RANK:
            raise ValueError(f"unknown role {needed!r}")
        if not actor or self.count_users() == 0:
            return None
        row = self.user_row(actor, include_removed=True)
        if row is None:
            return None
        if not row["active"]:
            raise PermissionDenied(f"{actor} was removed from this project's team and cannot {doing}")
        if not role_allows(row["role"], needed):
            raise PermissionDenied(f"{actor} is a {row['role']} on this project: only a "
                                   f"{needed}{'' if needed == 'lead' else ' or above'} may {doing}")
        return str(row["role"])

    def audit(self, actor: str, action: str, entity_type: str, entity_id: int | None = None,
              **details: Any) -> int:
        """Every write writes its audit row in its own transaction, so refusing the row refuses
        the write: a viewer (or a removed user) can change nothing but their own sign-in."""
        if action not in _ANYONE:
            self.require_role(actor, "coder", f"make changes ({action})")
        return super().audit(actor, action, entity_type, entity_id, **details)

    # -- sessions ----------------------------------------------------------------------------------
    def add_session_row(self, token_hash: str, user_id: int, expires_at: str) -> None:
        with self.transaction():
            self.conn.execute(
                "INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
                (token_hash, user_id, utcnow(), expires_at),
            )

    def session_row(self, token_hash: str) -> dict[str, Any] | None:
        row = self._one(
            "SELECT s.token_hash, s.user_id, s.created_at, s.expires_at, s.ended_at, u.name, u.role, u.active "
            "FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = ?",
            (token_hash,),
        )
        return None if row is None else dict(row)

    def close_sessions(self, token_hash: str | None = None, user_id: int | None = None) -> int:
        if token_hash is None and user_id is None:
            raise ValueError("say which sessions to end")
        sql, params = "UPDATE sessions SET ended_at = ? WHERE ended_at IS NULL", [utcnow()]
        if token_hash is not None:
            sql += " AND token_hash = ?"
            params.append(token_hash)
        if user_id is not None:
            sql += " AND user_id = ?"
            params.append(user_id)
        with self.transaction():
            return self.conn.execute(sql, tuple(params)).rowcount

    def set_session_expiry(self, token_hash: str, expires_at: str) -> None:
        with self.transaction():
            self.conn.execute("UPDATE sessions SET expires_at = ? WHERE token_hash = ?", (expires_at, token_hash))

    # -- assignments ---------------------------------------------------------------------------------
    def add_assignment_row(self, name: str, hide_ai: bool, sample: dict, created_by: str,
                           coders: list[str], source_ids: list[int]) -> int:
        with self.transaction():
            aid = int(self.conn.execute(
                "INSERT INTO assignments (name, hide_ai, sample, status, created_by, created_at) "
                "VALUES (?, ?, ?, 'open', ?, ?) RETURNING id",
                (name, 1 if hide_ai else 0, dumps(sample), created_by, utcnow()),
            ).fetchone()[0])
            for sid in source_ids:
                self.conn.execute("INSERT INTO assignment_sources (assignment_id, source_id) VALUES (?, ?)",
                                  (aid, sid))
            for coder in coders:
                self.conn.execute("INSERT INTO assignment_coders (assignment_id, coder) VALUES (?, ?)",
                                  (aid, coder))
            return aid

    def assignment_row(self, assignment_id: int) -> dict[str, Any]:
        row = self._one("SELECT * FROM assignments WHERE id = ?", (assignment_id,))
        if row is None:
            raise NotFound(f"no assignment {assignment_id} (see `thematic assign list`)")
        out = dict(row)
        out["sample"] = loads(out["sample"], {})
        out["hide_ai"] = bool(out["hide_ai"])
        out["source_ids"] = [int(r[0]) for r in self._all(
            "SELECT source_id FROM assignment_sources WHERE assignment_id = ? ORDER BY source_id", (assignment_id,))]
        out["coders"] = {r["coder"]: r["done_at"] for r in self._all(
            "SELECT coder, done_at FROM assignment_coders WHERE assignment_id = ? ORDER BY coder", (assignment_id,))}
        return out

    def assignment_ids(self, coder: str | None = None, status: str | None = None) -> list[int]:
        sql, params = "SELECT a.id FROM assignments a WHERE 1=1", []
        if coder is not None:
            sql += " AND EXISTS (SELECT 1 FROM assignment_coders c WHERE c.assignment_id = a.id AND c.coder = ?)"
            params.append(coder)
        if status is not None:
            sql += " AND a.status = ?"
            params.append(status)
        return [int(r[0]) for r in self._all(sql + " ORDER BY a.id", tuple(params))]

    def set_assignment_done(self, assignment_id: int, coder: str, done_at: str | None) -> bool:
        with self.transaction():
            cur = self.conn.execute(
                "UPDATE assignment_coders SET done_at = ? WHERE assignment_id = ? AND coder = ?",
                (done_at, assignment_id, coder),
            )
            return cur.rowcount > 0

    def set_assignment_status(self, assignment_id: int, status: str) -> None:
        with self.transaction():
            self.conn.execute("UPDATE assignments SET status = ? WHERE id = ?", (status, assignment_id))

    def assigned_blind_sources(self, coder: str) -> set[int]:
        """Sources of `coder`'s open assignments in which some coder is not done yet."""
        return {int(r[0]) for r in self._all(
            "SELECT DISTINCT s.source_id FROM assignment_sources s JOIN assignments a ON a.id = s.assignment_id "
            "JOIN assignment_coders c ON c.assignment_id = a.id WHERE c.coder = ? AND a.status = 'open' "
            "AND EXISTS (SELECT 1 FROM assignment_coders o WHERE o.assignment_id = a.id AND o.done_at IS NULL)",
            (coder,),
        )}

    def ai_shown_sources(self, coder: str) -> set[int]:
        """Sources `coder` double-codes blind with AI suggestions shown: in an open assignment of
        theirs that does not hide them, not yet marked done, and in none that hides them."""
        rows = self._all(
            "SELECT s.source_id, a.hide_ai FROM assignment_sources s JOIN assignments a ON a.id = s.assignment_id "
            "JOIN assignment_coders c ON c.assignment_id = a.id "
            "WHERE c.coder = ? AND a.status = 'open' AND c.done_at IS NULL",
            (coder,),
        )
        hidden = {int(r[0]) for r in rows if r[1]}
        return {int(r[0]) for r in rows if not r[1]} - hidden

    # -- codebook versions ---------------------------------------------------------------------------
    def latest_codebook_version(self) -> dict[str, Any] | None:
        row = self._one("SELECT version, digest, actor, reason, created_at FROM codebook_versions "
                        "ORDER BY version DESC LIMIT 1")
        return None if row is None else dict(row)

    def codebook_version_by_digest(self, digest: str) -> int | None:
        row = self._one("SELECT version FROM codebook_versions WHERE digest = ?", (digest,))
        return None if row is None else int(row[0])

    def add_codebook_version(self, digest: str, snapshot: list[dict], actor: str, reason: str) -> int:
        with self.transaction():
            latest = self.latest_codebook_version()
            version = (latest["version"] if latest else 0) + 1
            self.conn.execute(
                "INSERT INTO codebook_versions (version, digest, snapshot, actor, reason, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (version, digest, dumps(snapshot), actor, reason, utcnow()),
            )
            return version

    def codebook_snapshot(self, version: int) -> list[dict]:
        row = self._one("SELECT snapshot FROM codebook_versions WHERE version = ?", (version,))
        if row is None:
            raise NotFound(f"no codebook version {version}")
        return loads(row[0], [])

    # -- adjudications -------------------------------------------------------------------------------
    def set_adjudication(self, assignment_id: int, item_key: str, source_id: int, excerpt_id: int | None,
                            code_id: int | None, decision: str, consensus_coder: str, coding_ids: list[int],
                            codebook_version: int, decided_by: str, note: str) -> int:
        with self.transaction():
            return int(self.conn.execute(
                "INSERT INTO adjudications (assignment_id, item_key, source_id, excerpt_id, code_id, decision, "
                "consensus_coder, coding_ids, codebook_version, decided_by, decided_at, note) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (assignment_id, item_key) DO UPDATE SET decision = excluded.decision, "
                "code_id = excluded.code_id, coding_ids = excluded.coding_ids, "
                "codebook_version = excluded.codebook_version, decided_by = excluded.decided_by, "
                "decided_at = excluded.decided_at, note = excluded.note RETURNING id",
                (assignment_id, item_key, source_id, excerpt_id, code_id, decision, consensus_coder,
                 dumps(coding_ids), codebook_version, decided_by, utcnow(), note),
            ).fetchone()[0])

    def adjudication_rows(self, assignment_id: int) -> dict[str, dict[str, Any]]:
        out = {}
        for r in self._all("SELECT * FROM adjudications WHERE assignment_id = ? ORDER BY id", (assignment_id,)):
            d = dict(r)
            d["coding_ids"] = loads(d["coding_ids"], [])
            out[d["item_key"]] = d
        return out

    # -- merges ---------------------------------------------------------------------------------------
    def add_merge(self, merge_id: str, origin: str, actor: str, summary: dict) -> bool:
        """Record a merge by its id; False when that merge was applied already (or is being
        applied by someone else right now: the second insert waits for the first and then
        conflicts)."""
        with self.transaction():
            row = self.conn.execute(
                "INSERT INTO merges (id, origin, started_by, started_at, summary) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (id) DO NOTHING RETURNING id",
                (merge_id, origin, actor, utcnow(), dumps(summary)),
            ).fetchone()
            return row is not None

    def merge_row(self, merge_id: str) -> dict[str, Any] | None:
        row = self._one("SELECT * FROM merges WHERE id = ?", (merge_id,))
        if row is None:
            return None
        d = dict(row)
        d["summary"] = loads(d["summary"], {})
        return d

    def merge_rows(self) -> list[dict[str, Any]]:
        return [self.merge_row(r[0]) for r in self._all("SELECT id FROM merges ORDER BY started_at")]  # type: ignore[misc]

    # -- light reads for merges ------------------------------------------------------------------------
    def source_keys(self) -> list[dict[str, Any]]:
        """Each source's id, name and content hash, without its text."""
        return [dict(r) for r in self._all("SELECT id, name, content_hash FROM sources ORDER BY id")]

    def code_guid_rows(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self._all("SELECT id, name, guid, status FROM codes ORDER BY id")]

    def set_coding_guid(self, coding_id: int, guid: str) -> None:
        with self.transaction():
            self.conn.execute("UPDATE codings SET guid = ? WHERE id = ?", (guid, coding_id))

    def coding_guids(self) -> set[str]:
        return {str(r[0]).strip("{}").lower() for r in self._all("SELECT guid FROM codings WHERE guid IS NOT NULL")}
