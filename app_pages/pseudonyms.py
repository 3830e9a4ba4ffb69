"""Display copies of records and tables with every name a reader sees as its pseudonym, when
pseudonymised display (`privacy.pseudonymise_display`) is on.

`render.name` is the one mapping (real name -> pseudonym, built from the project's sources and
speaker labels by `assistant.writing.attribution.DisplayNames`); this module applies it to the
metadata fields of the records the pages show and offer for download: source names, speaker
labels, participant and other attribute values, attributions, memo target labels, a matrix's
column values. The words of a source (a segment's or a quote's `text`) are never touched: they
are verbatim data, and a name spoken inside a turn stays as it was said.

With the setting off every function returns its input unchanged, so a page can call them always.
The stored records are never changed: these are copies for the screen and for the page's own
downloads (the audited exports of the library, `thematic export ...`, are untouched)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

from app_pages import render
from assistant.models import MatrixTable, MemoView, Quote, Segment

T = TypeVar("T")


def on() -> bool:
    return render.pseudonymised()


def name(value: Any) -> Any:
    """A name as shown (strings only: None and numbers pass through)."""
    return render.name(value) if isinstance(value, str) and value else value


def attributes(attrs: dict[str, Any]) -> dict[str, Any]:
    return {k: name(v) for k, v in attrs.items()}


def segments(segs: Sequence[Segment]) -> list[Segment]:
    """Segments with source, speaker, participant and attribute values shown as pseudonyms."""
    if not on():
        return list(segs)
    return [s.model_copy(update={"source": name(s.source), "speaker": name(s.speaker),
                                 "participant": name(s.participant), "attributes": attributes(s.attributes)})
            for s in segs]


def quote(q: Quote) -> Quote:
    """A quote with its attribution, source name and attributes as pseudonyms; its words as written."""
    if not on():
        return q
    return q.model_copy(update={"attribution": name(q.attribution), "source_name": name(q.source_name),
                                "attributes": attributes(q.attributes)})


def basket_items(items: Iterable[T]) -> list[T]:
    """Basket items (or anything with a `.quote`) with their quotes' metadata as pseudonyms."""
    items = list(items)
    if not on():
        return items
    return [i.model_copy(update={"quote": quote(i.quote)}) for i in items]  # type: ignore[attr-defined]


def memo_views(views: Sequence[MemoView]) -> list[MemoView]:
    """Memos with the labels of what they are about (a source's name) as pseudonyms. The memo's
    own text is the analyst's writing and is left as written."""
    if not on():
        return list(views)
    return [v.model_copy(update={"targets": [t.model_copy(update={"label": name(t.label)}) for t in v.targets]})
            for v in views]


def matrix(table: MatrixTable) -> MatrixTable:
    """The matrix with its column values (participants, speakers, sources, any attribute) shown
    as pseudonyms. Each cell keeps its coding ids, so a click on a shown cell opens the same
    segments. Two values that would show the same (two spellings of one person) stay two
    columns, the second numbered."""
    if not on():
        return table
    shown: dict[str, str] = {}
    used: set[str] = set()
    for col in table.columns:
        label = name(col) or col
        base, n = label, 2
        while label in used:
            label, n = f"{base} ({n})", n + 1
        used.add(label)
        shown[col] = label
    rows = [r.model_copy(update={"cells": {shown.get(c, c): cell for c, cell in r.cells.items()}}) for r in table.rows]
    return table.model_copy(update={
        "columns": [shown[c] for c in table.columns], "rows": rows,
        "column_totals": {shown.get(c, c): n for c, n in table.column_totals.items()},
        "filters": {k: [name(x) for x in v] if isinstance(v, list) else name(v) for k, v in table.filters.items()}})


_PART_LABEL = re.compile(r"^[A-Za-z0-9 .'\u2019()-]{1,38}:(?=\s)")  # the end of a label cut by a context's edge


def speaker_labels(text: str, cut_at_start: bool = False) -> str:
    """A piece of source text (a search hit's context) with the speaker labels at its lines'
    starts ("Sarah Jones:") shown as pseudonyms, as the Corpus page and the reading pane show
    them; every other character as written. `cut_at_start`: the piece starts inside a line, so
    what looks like the end of a label there ("rah Jones: ") is left out rather than shown half."""
    if not on() or not text:
        return text
    from app_pages.components.reading_pane import SPEAKER_LABEL

    if cut_at_start and not SPEAKER_LABEL.match(text) and (m := _PART_LABEL.match(text)):
        text = text[m.end():]
    return SPEAKER_LABEL.sub(lambda m: render.name(m.group(1)) + ":", text)


def rows(records: Iterable[dict[str, Any]], columns: Iterable[str]) -> list[dict[str, Any]]:
    """Table rows (dicts) with the named columns' values as pseudonyms (e.g. a file or source name)."""
    records = list(records)
    if not on():
        return records
    cols = set(columns)
    return [{k: name(v) if k in cols else v for k, v in r.items()} for r in records]
