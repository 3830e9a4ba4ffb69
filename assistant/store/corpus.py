"""Sources and excerpts."""

from __future__ import annotations

from typing import Any

from assistant.errors import NotFound
from assistant.models import Excerpt, Source, SourceVersion, StoredExcerpt, StoredSource
from assistant.store.base import Row, StoreBase, dumps, loads, saved

_EXCERPT_COLS = (
    'id, source_id, ordinal, start, "end", text, speaker, is_interviewer, page, time, '
    "context_start, context_end"
)


def _source(row: Row, with_text: bool = True) -> StoredSource:
    return StoredSource(
        id=row["id"], name=row["name"], path=row["path"], kind=row["kind"],
        content_hash=row["content_hash"], text=row["text"] if with_text else "",
        attributes=loads(row["attributes"], {}), pages=[tuple(p) for p in loads(row["pages"], [])],
        reader=row["reader"], reader_version=row["reader_version"], format=row["format"],
        version=row["version"], added_at=row["added_at"],
    )


def _version(row: Row, with_text: bool = True) -> SourceVersion:
    return SourceVersion(
        source_id=row["source_id"], version=row["version"], text=row["text"] if with_text else "",
        content_hash=row["content_hash"], path=row["path"], pages=[tuple(p) for p in loads(row["pages"], [])],
        added_at=row["added_at"], replaced_at=row["replaced_at"],
    )


def _excerpt(row: Row) -> StoredExcerpt:
    return StoredExcerpt(
        id=row["id"], source_id=row["source_id"], ordinal=row["ordinal"], start=row["start"],
        end=row["end"], text=row["text"], speaker=row["speaker"],
        is_interviewer=bool(row["is_interviewer"]), page=row["page"], time=row["time"],
        context_start=row["context_start"], context_end=row["context_end"],
    )


class CorpusStore(StoreBase):
    def add_source(self, source: Source) -> StoredSource:
        with self.transaction():
            cur = self.conn.execute(
                "INSERT INTO sources (name, path, kind, content_hash, text, attributes, pages, "
                "reader, reader_version, format, version, added_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (
                    source.name, source.path, source.kind, source.content_hash, source.text,
                    dumps(source.attributes), dumps([list(p) for p in source.pages]), source.reader,
                    source.reader_version, source.format, source.version, source.added_at,
                ),
            )
            return saved(StoredSource, source, int(cur.fetchone()[0]))

    def get_source(self, ref: int | str) -> StoredSource:
        """By id, or by name (what analysts type on the command line)."""
        if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
            row = self._one("SELECT * FROM sources WHERE id = ?", (int(ref),))
            if row is None and isinstance(ref, str):
                row = self._one("SELECT * FROM sources WHERE name = ?", (ref,))
        else:
            row = self._one("SELECT * FROM sources WHERE name = ?", (ref,))
        if row is None:
            raise NotFound(f"no source {ref!r} in this project (see `thematic sources`)")
        return _source(row)

    def find_source(self, name: str) -> StoredSource | None:
        row = self._one("SELECT * FROM sources WHERE name = ?", (name,))
        return None if row is None else _source(row)

    def list_sources(self, with_text: bool = False) -> list[StoredSource]:
        cols = "*" if with_text else (
            "id, name, path, kind, content_hash, '' AS text, attributes, pages, reader, "
            "reader_version, format, version, added_at"
        )
        return [_source(r, with_text) for r in self._all(f"SELECT {cols} FROM sources ORDER BY name")]

    def source_texts(self) -> dict[int, str]:
        return {r[0]: r[1] for r in self._all("SELECT id, text FROM sources")}

    def update_source_attributes(self, source_id: int, attributes: dict[str, str], kind: str | None = None) -> None:
        with self.transaction():
            self.conn.execute(
                "UPDATE sources SET attributes = ?, kind = COALESCE(?, kind) WHERE id = ?",
                (dumps(attributes), kind, source_id),
            )

    def replace_source(self, source_id: int, source: Source) -> None:
        """A new version of a source's text and attributes under the same id."""
        with self.transaction():
            self.conn.execute(
                "UPDATE sources SET path=?, kind=?, content_hash=?, text=?, attributes=?, pages=?, reader=?, "
                "reader_version=?, format=?, version=? WHERE id=?",
                (
                    source.path, source.kind, source.content_hash, source.text, dumps(source.attributes),
                    dumps([list(p) for p in source.pages]), source.reader, source.reader_version,
                    source.format, source.version, source_id,
                ),
            )

    # -- earlier versions (kept by a re-ingest) -------------------------------------------------
    def add_source_version(self, source: StoredSource) -> SourceVersion:
        """Keep `source` (as it is now, before a re-ingest replaces it) as one of its versions."""
        record = SourceVersion(
            source_id=source.id, version=source.version, text=source.text,
            content_hash=source.content_hash, path=source.path, pages=source.pages, added_at=source.added_at,
        )
        with self.transaction():
            self.conn.execute(
                "INSERT INTO source_versions (source_id, version, text, content_hash, path, pages, added_at, "
                "replaced_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (record.source_id, record.version, record.text, record.content_hash, record.path,
                 dumps([list(p) for p in record.pages]), record.added_at, record.replaced_at),
            )
        return record

    def list_source_versions(self, source_id: int, with_text: bool = False) -> list[SourceVersion]:
        """Earlier versions, oldest first (the current text is the source itself)."""
        rows = self._all("SELECT * FROM source_versions WHERE source_id = ? ORDER BY version", (source_id,))
        return [_version(r, with_text) for r in rows]

    def get_source_version(self, source_id: int, version: int) -> SourceVersion:
        row = self._one("SELECT * FROM source_versions WHERE source_id = ? AND version = ?", (source_id, version))
        if row is None:
            raise NotFound(f"source {source_id} has no earlier version {version}")
        return _version(row)

    def delete_source(self, source_id: int) -> dict[str, int]:
        """Delete a source and everything that hangs off it; return what went, so the caller can
        report it rather than drop it silently."""
        with self.transaction():
            counts = self.source_dependents(source_id)
            self.conn.execute("DELETE FROM sources WHERE id = ?", (source_id,))
        return counts

    def source_dependents(self, source_id: int) -> dict[str, int]:
        q = lambda sql: int(self._one(sql, (source_id,))[0])  # noqa: E731
        return {
            "excerpts": q("SELECT COUNT(*) FROM excerpts WHERE source_id = ?"),
            # orphaned codings are the analyst's work too (awaiting a decision): they count
            "codings": q("SELECT COUNT(*) FROM codings WHERE source_id = ? AND status IN ('active', 'orphaned')"),
            "suggestions": q("SELECT COUNT(*) FROM suggestions WHERE source_id = ?"),
        }

    # -- excerpts -----------------------------------------------------------------------------
    def add_excerpts(self, excerpts: list[Excerpt]) -> list[StoredExcerpt]:
        out: list[StoredExcerpt] = []
        with self.transaction():
            for e in excerpts:
                cur = self.conn.execute(
                    'INSERT INTO excerpts (source_id, ordinal, start, "end", text, speaker, '
                    "is_interviewer, page, time, context_start, context_end) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                    (
                        e.source_id, e.ordinal, e.start, e.end, e.text, e.speaker,
                        int(e.is_interviewer), e.page, e.time, e.context_start, e.context_end,
                    ),
                )
                out.append(saved(StoredExcerpt, e, int(cur.fetchone()[0])))
            if out and self.conn.dialect == "sqlite":  # PostgreSQL's statement trigger does it (m008)
                self.conn.execute("UPDATE corpus_generation SET generation = generation + 1 WHERE id = 1")
        return out

    def delete_excerpts(self, source_id: int) -> None:
        with self.transaction():
            self.conn.execute("DELETE FROM excerpts WHERE source_id = ?", (source_id,))

    def get_excerpt(self, excerpt_id: int) -> StoredExcerpt:
        row = self._one(f"SELECT {_EXCERPT_COLS} FROM excerpts WHERE id = ?", (excerpt_id,))
        if row is None:
            raise NotFound(f"no excerpt {excerpt_id} in this project")
        return _excerpt(row)

    def list_excerpts(
        self,
        source_id: int | None = None,
        ids: list[int] | None = None,
        include_interviewer: bool = True,
    ) -> list[StoredExcerpt]:
        sql, params = f"SELECT {_EXCERPT_COLS} FROM excerpts WHERE 1=1", []
        if source_id is not None:
            sql += " AND source_id = ?"
            params.append(source_id)
        if not include_interviewer:
            sql += " AND is_interviewer = 0"
        if ids is not None:
            rows: list[Row] = []
            for i in range(0, len(ids), 900):
                chunk = ids[i : i + 900]
                marks = ",".join("?" * len(chunk))
                rows += self._all(sql + f" AND id IN ({marks})", (*params, *chunk))
            rows.sort(key=lambda r: (r["source_id"], r["ordinal"]))
            return [_excerpt(r) for r in rows]
        sql += " ORDER BY source_id, ordinal"
        return [_excerpt(r) for r in self._all(sql, tuple(params))]

    def neighbours(self, excerpt: Excerpt, before: int = 1, after: int = 1) -> list[StoredExcerpt]:
        """Surrounding turns, for context in prompts and the review screen."""
        rows = self._all(
            f"SELECT {_EXCERPT_COLS} FROM excerpts WHERE source_id = ? AND ordinal BETWEEN ? AND ? "
            "ORDER BY ordinal",
            (excerpt.source_id, excerpt.ordinal - before, excerpt.ordinal + after),
        )
        return [_excerpt(r) for r in rows if r["id"] != excerpt.id]

    def distinct_speakers(self) -> list[str]:
        """Speaker labels in use (for pseudonymisation of names before remote LLM calls)."""
        return [r[0] for r in self._all("SELECT DISTINCT speaker FROM excerpts WHERE speaker IS NOT NULL ORDER BY 1")]

    def corpus_generation(self) -> int:
        """A number every change to the corpus bumps in the same transaction (triggers on sources and
        excerpts, migration m008): what every app server's local search index compares with the
        one it was built at, with one single-row read, before serving a search."""
        return int(self._one("SELECT generation FROM corpus_generation WHERE id = 1")[0])

    def corpus_fingerprint(self) -> str:
        """Changes whenever an excerpt or a source changes (the things a search index holds): this
        store's identity and its corpus generation, so an index built from another database (or
        a copy that has since diverged under another identity) never looks current."""
        row = self._one(
            "SELECT g.generation, m.value FROM corpus_generation g LEFT JOIN meta m ON m.key = 'store_id' "
            "WHERE g.id = 1"
        )
        return f"{row[1]}:{row[0]}"

    def counts(self) -> dict[str, Any]:
        one = lambda sql: int(self._one(sql)[0])  # noqa: E731
        return {
            "sources": one("SELECT COUNT(*) FROM sources"),
            "excerpts": one("SELECT COUNT(*) FROM excerpts"),
            "words": one("SELECT COALESCE(SUM(LENGTH(text) - LENGTH(REPLACE(text, ' ', '')) + 1), 0) FROM sources"),
            "codes": one("SELECT COUNT(*) FROM codes WHERE status = 'active'"),
            "codings": one("SELECT COUNT(*) FROM codings WHERE status = 'active'"),
            "codings_orphaned": one("SELECT COUNT(*) FROM codings WHERE status = 'orphaned'"),
            "suggestions_pending": one("SELECT COUNT(*) FROM suggestions WHERE status = 'pending'"),
            "themes": one("SELECT COUNT(*) FROM themes"),
            "audit_events": one("SELECT COUNT(*) FROM audit_log"),
        }
