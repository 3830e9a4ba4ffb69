"""Code x attribute matrices: how often each code occurs by sector, by participant, by source
kind, by speaker or by any source attribute, counted as codings, distinct sources or distinct
participants. Every cell carries the ids of the codings behind it, so a face can open the cell's
segments (`segments.segments_for_codings`); the CSV export is the same table.

Which codings count is `segments.select_codings` (the code tree's rule), and filters have the
search filters' semantics (`segments.filter_codings`), so a matrix, the tree and a click on a
cell always agree. A coding whose source has no value for the attribute is counted under
`(none)` rather than dropped: the column says how much of the coding the attribute cannot place."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Literal

from assistant.coding.codebook import code_tree
from assistant.coding.segments import (
    CodingPlace,
    Filters,
    filter_codings,
    participant_of,
    place_codings,
    select_codings,
)
from assistant.corpus.view import source_matches
from assistant.errors import ThematicError
from assistant.models import MatrixCell, MatrixRow, MatrixTable, StoredCoding
from assistant.plain import csv_rows
from assistant.project import Project
from index.storage import write_text_atomic

NONE = "(none)"
CountBy = Literal["codings", "sources", "participants"]
# Attributes that are not source attributes: what the source is, who speaks in the turn.
BUILT_IN = ("kind", "source", "participant", "speaker")


def matrix(project: Project, attribute: str, *, codes: Sequence[int | str] | None = None,
           count: CountBy = "codings", filters: Filters | None = None, rollup: bool = False,
           coders: Collection[str] | None = None, include_ai: bool = False, viewer: str | None = None) -> MatrixTable:
    """Rows: codes in tree order (or `codes`, in that order), with their paths. Columns: the
    attribute's values (sorted, `(none)` last). With `rollup`, a code's row also counts its
    descendants' codings (sources and participants as distinct unions)."""
    if count not in ("codings", "sources", "participants"):
        raise ThematicError(f"count codings, sources or participants, not {count!r}")
    attribute = (attribute or "").strip()
    if not attribute:
        raise ThematicError("say which attribute to cross codes with (e.g. sector, kind, participant)")
    store = project.store
    all_codes = store.list_codes()
    tree = code_tree(all_codes)
    by_id = {c.id: c for c in all_codes}
    rows_ids = [store.get_code(c).id for c in codes] if codes else tree.parents_first()
    inactive = [by_id.get(i) is None for i in rows_ids]
    if any(inactive):
        raise ThematicError("a matrix row must be an active code")
    codings = select_codings(project, coders=coders, include_ai=include_ai, viewer=viewer)
    places = place_codings(project, codings)
    codings = filter_codings(codings, places, filters)
    key = _column_key(attribute, [p for p in places.values()])
    column_of = {c.id: key(places[c.id]) for c in codings}
    grid: dict[int, dict[str, list[StoredCoding]]] = {}
    for c in codings:
        grid.setdefault(c.code_id, {}).setdefault(column_of[c.id], []).append(c)
    names = {k: c.name for k, c in by_id.items()}
    values = set(column_of.values()) | _source_values(project, attribute, key, filters)
    columns = sorted(values - {NONE}, key=str.casefold) + ([NONE] if NONE in values else [])
    rows = []
    for cid in rows_ids:
        members = [cid, *tree.descendants(cid)] if rollup else [cid]
        per_col = {col: [c for m in members for c in grid.get(m, {}).get(col, [])] for col in columns}
        rows.append(MatrixRow(code_id=cid, code=names[cid], path=tree.path(cid, names), depth=tree.depth(cid),
                              cells={col: _cell(per_col[col], count, places) for col in columns},
                              total=_cell([c for col in columns for c in per_col[col]], count, places)))
    by_col: dict[str, list[StoredCoding]] = {}
    for c in codings:
        by_col.setdefault(column_of[c.id], []).append(c)
    totals = {col: _cell(by_col.get(col, []), count, places).count for col in columns}
    return MatrixTable(attribute=attribute, count=count, columns=columns, rows=rows, column_totals=totals,
                       rollup=rollup, filters=dict(filters or {}))


def _source_values(project: Project, attribute: str, key, filters: Filters | None) -> set[str]:
    """Every value the sources in scope have, so a participant or sector with no coding of any
    code still gets its (empty) column: who never speaks of a code is a finding too. Speakers
    belong to turns, not sources: their columns come from the codings alone."""
    if attribute.casefold() == "speaker":
        return set()
    return {key(CodingPlace(s, None, {})) for s in project.store.list_sources() if source_matches(s, filters)}


def _column_key(attribute: str, places: list[CodingPlace]):
    """Where a coding goes: a built-in (kind, source, participant, speaker) or a source attribute,
    matched case-insensitively when no source has the exact key."""
    low = attribute.casefold()
    if low in BUILT_IN:
        return {
            "kind": lambda p: p.source.kind or NONE,
            "source": lambda p: p.source.name,
            "participant": lambda p: participant_of(p.source) or NONE,
            "speaker": lambda p: (p.turn.speaker if p.turn and p.turn.speaker else NONE),
        }[low]
    keys = {k for p in places for k in p.source.attributes}
    if attribute not in keys:
        attribute = next((k for k in sorted(keys) if k.casefold() == low), attribute)

    def value(p: CodingPlace) -> str:
        v = (p.source.attributes.get(attribute) or "").strip()
        return v or NONE

    return value


def _cell(codings: list[StoredCoding], count: CountBy, places: dict[int, CodingPlace]) -> MatrixCell:
    ids = sorted(c.id for c in codings)
    if count == "codings":
        n = len(ids)
    elif count == "sources":
        n = len({c.source_id for c in codings})
    else:
        n = len({w for c in codings if (w := participant_of(places[c.id].source))})
    return MatrixCell(count=n, coding_ids=ids)


# --- export --------------------------------------------------------------------------------------


def matrix_csv(table: MatrixTable) -> str:
    """One row per code: id, path, a column per attribute value, total."""
    return csv_rows(["code_id", "code", *table.columns, "total"],
                    ([r.code_id, r.path, *(r.cells[c].count for c in table.columns), r.total.count] for r in table.rows))


def export_matrix(project: Project, table: MatrixTable, path: str | Path) -> Path:
    """Write the matrix as CSV atomically and audit the export."""
    path = write_text_atomic(Path(path), matrix_csv(table))
    project.store.audit(project.analyst, "export", "matrix", None, path=str(path), attribute=table.attribute,
                        count=table.count, rows=len(table.rows), columns=len(table.columns))
    return path
