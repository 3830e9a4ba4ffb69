"""Coded segments as the workspace retrieves them: every coding of a code (and, by default, of its
descendants) with its source, speaker, line and verbatim text, filtered by attributes with the
search filters' own semantics, and exported to CSV or Markdown.

Which codings count (shared by the code tree and matrices, so their numbers always agree with the
segments a click opens): active codings of active codes; the AI's codings are proposals, not
evidence, so coders named "ai:..." are left out unless `include_ai`; `coders` keeps only those
coders; `viewer` hides what blind mode hides from that coder (`blind.visibility`).

Filters: a coding is judged by the turn it falls in (the excerpt it was made on, else the one it
overlaps most), exactly as the search index judges that excerpt (`index.records.excerpt_meta`),
so `speaker=...`, `sector=NHS` or `kind=interview` mean the same here as in search; a coding
outside every turn is judged by its source alone."""

from __future__ import annotations

import bisect
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from assistant.coding.blind import visibility
from assistant.coding.codebook import code_paths, code_tree
from assistant.corpus.view import participant_key, source_meta
from assistant.errors import ThematicError
from assistant.models import Segment, Source, StoredCode, StoredCoding, is_ai_coder
from assistant.plain import csv_text, md_escape, md_quote
from assistant.project import Project
from assistant.store.workspace import ExcerptSpan
from index.records import excerpt_meta, meta_matches
from index.storage import write_text_atomic

Filters = Mapping[str, Any]
SegmentFormat = Literal["csv", "md"]
SEGMENT_COLUMNS = ["coding_id", "code", "code_path", "source", "kind", "line", "speaker", "participant", "start",
                   "end", "text", "coder", "origin", "excerpt_id", "created_at", "changed"]


def select_codings(project: Project, *, coders: Collection[str] | None = None, include_ai: bool = False,
                   viewer: str | None = None, code_ids: Collection[int] | None = None) -> list[StoredCoding]:
    """The active codings of active codes that the tree, segments and matrices count."""
    active = {c.id for c in project.store.list_codes()}
    wanted = active if code_ids is None else active & {int(i) for i in code_ids}
    seen = visibility(project, viewer)
    return [c for c in project.store.list_codings()
            if c.code_id in wanted and (include_ai or not is_ai_coder(c.coder))
            and (coders is None or c.coder in coders) and seen(c)]


@dataclass
class CodingPlace:
    """Where a coding sits: its source (without text), the turn it falls in and the metadata a
    filter sees."""

    source: Source
    turn: ExcerptSpan | None
    meta: dict[str, Any]


def _turn(spans: Sequence[ExcerptSpan], starts: list[int], c: StoredCoding) -> ExcerptSpan | None:
    """The excerpt the coding was made on, else the one it overlaps most."""
    if c.excerpt_id is not None:
        for e in spans:
            if e.id == c.excerpt_id:
                return e
    i = bisect.bisect_right(starts, c.start) - 1
    best, overlap = None, 0
    for e in spans[max(0, i - 1): i + 64]:
        if e.start >= c.end:
            break
        o = min(c.end, e.end) - max(c.start, e.start)
        if o > overlap:
            best, overlap = e, o
    return best


def place_codings(project: Project, codings: Sequence[StoredCoding]) -> dict[int, CodingPlace]:
    """Coding id -> where it sits; read once for all codings (no source texts)."""
    sources = {s.id: s for s in project.store.list_sources()}
    spans = project.store.excerpt_spans({c.source_id for c in codings})
    starts = {sid: [e.start for e in es] for sid, es in spans.items()}
    out: dict[int, CodingPlace] = {}
    for c in codings:
        src = sources.get(c.source_id)
        if src is None:
            continue
        turn = _turn(spans.get(c.source_id, []), starts.get(c.source_id, []), c)
        if turn is None:
            meta = source_meta(src)
        else:
            meta = excerpt_meta(source_id=src.id, source=src.name, kind=src.kind, start=turn.start,
                                end=turn.end, speaker=turn.speaker, is_interviewer=turn.is_interviewer,
                                page=turn.page, ordinal=turn.ordinal, attributes=src.attributes)
        out[c.id] = CodingPlace(src, turn, meta)
    return out


def filter_codings(codings: Iterable[StoredCoding], places: Mapping[int, CodingPlace], filters: Filters | None) -> list[StoredCoding]:
    return [c for c in codings if c.id in places and meta_matches(places[c.id].meta, filters)]


def is_participant(source: Source) -> bool:
    """Who counts as a participant: an interview's speaker, or any source with a `participant`
    attribute (a survey respondent); a document without one is nobody's words."""
    return source.kind == "interview" or bool((source.attributes.get("participant") or "").strip())


def participant_of(source: Source) -> str | None:
    return participant_key(source) if is_participant(source) else None


# --- segments ------------------------------------------------------------------------------------


def code_segments(project: Project, code: int | str, *, include_children: bool = True, filters: Filters | None = None,
                  coders: Collection[str] | None = None, include_ai: bool = False,
                  viewer: str | None = None) -> list[Segment]:
    """Every coded segment of a code (and its descendants unless `include_children=False`), in
    source-name and text order."""
    codes = project.store.list_codes()
    target = project.store.get_code(code)
    if target.status != "active":
        raise ThematicError(f"code {target.name!r} is {target.status}; its codings moved with it")
    ids = {target.id}
    if include_children:
        ids |= set(code_tree(codes).descendants(target.id))
    codings = select_codings(project, coders=coders, include_ai=include_ai, viewer=viewer, code_ids=ids)
    return build_segments(project, codings, filters, codes)


def segments_for_codings(project: Project, coding_ids: Iterable[int]) -> list[Segment]:
    """The segments behind a matrix cell (or any list of coding ids), in source and text order."""
    wanted = {int(i) for i in coding_ids}
    return build_segments(project, [c for c in project.store.list_codings() if c.id in wanted])


def build_segments(project: Project, codings: Sequence[StoredCoding], filters: Filters | None = None,
                   codes: list[StoredCode] | None = None) -> list[Segment]:
    codes = codes if codes is not None else project.store.list_codes(include_inactive=True)
    paths = code_paths(codes)
    names = {c.id: c.name for c in codes}
    places = place_codings(project, codings)
    kept = filter_codings(codings, places, filters)
    texts = project.store.texts_of({c.source_id for c in kept})
    lines = {sid: _line_starts(t) for sid, t in texts.items()}
    out = []
    for c in kept:
        place, text = places[c.id], texts[c.source_id]
        if not (0 <= c.start < c.end <= len(text)):
            continue  # the source text no longer reaches that span (orphans are listed elsewhere)
        src, turn = place.source, place.turn
        verbatim = text[c.start:c.end]
        out.append(Segment(
            coding_id=c.id, code_id=c.code_id, code=names.get(c.code_id, str(c.code_id)),
            code_path=paths.get(c.code_id, names.get(c.code_id, "")), source_id=c.source_id, source=src.name,
            kind=src.kind, start=c.start, end=c.end, text=verbatim,
            line=bisect.bisect_right(lines[c.source_id], c.start), speaker=turn.speaker if turn else None,
            excerpt_id=turn.id if turn else None, is_interviewer=bool(turn and turn.is_interviewer),
            participant=participant_of(src) or "", coder=c.coder, origin=c.origin, attributes=dict(src.attributes),
            created_at=c.created_at, changed=verbatim != c.text,
        ))
    out.sort(key=lambda s: (s.source.casefold(), s.source_id, s.start, s.end, s.coding_id))
    return out


def _line_starts(text: str) -> list[int]:
    """Offsets where each line begins (bisect_right(starts, offset) is the 1-based line)."""
    starts, i = [0], text.find("\n")
    while i >= 0:
        starts.append(i + 1)
        i = text.find("\n", i + 1)
    return starts


# --- export --------------------------------------------------------------------------------------


def segments_csv(segments: Sequence[Segment]) -> str:
    keys = sorted({k for s in segments for k in s.attributes})
    cols = SEGMENT_COLUMNS[:5] + [f"attr:{k}" for k in keys] + SEGMENT_COLUMNS[5:]
    rows = [{**s.model_dump(), **{f"attr:{k}": s.attributes.get(k, "") for k in keys}} for s in segments]
    return csv_text(rows, cols)


def segments_markdown(segments: Sequence[Segment], title: str = "Coded segments") -> str:
    """Grouped by code path; each segment a block quote with where it comes from. Escaped so it
    renders as exactly the source's characters."""
    out = [f"# {md_escape(title)}", ""]
    by_code: dict[str, list[Segment]] = {}
    for s in segments:
        by_code.setdefault(s.code_path, []).append(s)
    for path, group in by_code.items():
        out += [f"## {md_escape(path)} ({len(group)})", ""]
        for s in group:
            where = f"{s.source}, line {s.line}" + (f", {s.speaker}" if s.speaker else "")
            out += [*md_quote(s.text), "", f"— {md_escape(where)} (coded by {md_escape(s.coder)})", ""]
    return "\n".join(out).rstrip() + "\n"


def export_segments(project: Project, segments: Sequence[Segment], path: str | Path,
                    fmt: SegmentFormat | None = None, title: str = "Coded segments") -> Path:
    """Write segments to `path` (CSV or Markdown, from `fmt` or the file's suffix) atomically, and
    audit the export."""
    path = Path(path)
    fmt = fmt or ("md" if path.suffix.lower() in (".md", ".markdown") else "csv" if path.suffix.lower() == ".csv" else None)
    if fmt not in ("csv", "md"):
        raise ThematicError(f"{path.name}: export segments as .csv or .md")
    write_text_atomic(path, segments_csv(segments) if fmt == "csv" else segments_markdown(segments, title))
    project.store.audit(project.analyst, "export", "segments", None, format=fmt, path=str(path),
                        segments=len(segments), title=title)
    return path
