"""Quotes for a write-up: the analyst's accepted codings first, then what hybrid search finds,
each cut to the whole sentences that carry the point, ranked and spread across participants,
source kinds and sectors.

Why these choices:
- Accepted codings are the analyst's own judgement, so they lead; AI codings (coder "ai:...")
  are proposals, not evidence, and are never treated as accepted.
- Accepted codings also become extra search queries (query by example, fused with reciprocal
  rank fusion) and pull the trimming target towards their centroid: a code's name and definition
  describe it abstractly, its coded excerpts show how participants actually talk about it.
- Trimming picks the contiguous run of sentences (from `index.text.sentence_spans`) whose
  length-weighted mean sentence embedding is closest to the target; it never cuts inside a
  sentence, so a sentence longer than `max_chars` is kept whole rather than clipped.
- Balancing is a greedy diversity re-ranking (MMR-style): redundancy with chosen quotes and
  repeated participants, sectors and kinds are penalised, with a hard cap per participant.
- Every quote is built by `verbatim.make_quote`, so `source.text[start:end] == quote.text`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from assistant.corpus.view import (
    CorpusView,
    Filters,
    Span,
    accepted_codings,
    embed_texts,
    participant_key,
    unit,
)
from assistant.errors import ThematicError
from assistant.models import Coding, Quote
from assistant.project import Project
from assistant.verbatim import make_quote
from assistant.writing.attribution import Attributor
from index.fusion import rrf
from index.text import line_number, sentence_spans
from index.types import ExcerptHit

MAX_EXAMPLE_QUERIES = 6
CODING_BOOST = 1.0  # accepted codings rank above search results


@dataclass
class QuoteResult:
    quotes: list[Quote]
    spread_text: str
    stats: dict[str, Any] = field(default_factory=dict)


@dataclass
class Candidate:
    """A region of a source that may hold a quote, before trimming."""

    source_id: int
    region: Span  # sentences may be taken from here
    core: Span | None  # an accepted coding's span: the quote must overlap it
    origin: str  # "coding" | "search"
    rel: float  # retrieval relevance in [0, 1]
    why: str
    excerpt_id: int | None = None
    speaker: str | None = None
    page: int | None = None


def candidate_from_hit(hit: ExcerptHit, why: str, rel: float) -> Candidate:
    """A search hit as a quote candidate: the whole excerpt may be quoted, nothing is forced in.
    The one place a hit becomes a candidate (the quote finder and ask both go through it)."""
    return Candidate(hit.source_id, hit.span, None, "search", rel, why, hit.id, hit.speaker, hit.page)


# --- pure parts ------------------------------------------------------------------------------------


def quote_sentences(text: str, start: int, end: int) -> list[Span]:
    """Sentences that can be quoted: Markdown headings and table rows are structure, not anyone's
    words, so they never open, close or sit inside a quote."""
    return [(s, e) for s, e in sentence_spans(text, start, end)
            if not text.startswith(("#", "|"), text.rfind("\n", 0, s) + 1)]


def choose_window(
    sentences: Sequence[Span],
    vecs: np.ndarray,
    target: np.ndarray,
    min_chars: int,
    max_chars: int,
    core: Span | None = None,
    joinable: Sequence[bool] | None = None,
) -> tuple[Span, float]:
    """Best contiguous run of sentences: within [min_chars, max_chars] (a single longer sentence
    is allowed whole), overlapping `core` when given, maximising cosine of the length-weighted
    mean sentence vector to `target`. A core long enough on its own confines the window to it.
    `joinable[j]` is False where a paragraph break separates sentence j from j-1: a quote never
    runs across paragraphs (or a heading into the text under it)."""
    n = len(sentences)
    lo, hi = 0, n - 1
    if core is not None:
        inside = [i for i, (s, e) in enumerate(sentences) if s < core[1] and e > core[0]]
        if inside:
            a, b = inside[0], inside[-1]
            if sentences[b][1] - sentences[a][0] >= min_chars:
                lo, hi = a, b
            must = set(inside)
        else:
            must = set(range(n))
    else:
        must = set(range(n))
    weights = np.array([e - s for s, e in sentences], dtype=np.float64)
    weighted = vecs.astype(np.float64) * weights[:, None]
    best: tuple[float, Span] | None = None
    fallback: Span = (sentences[lo][0], sentences[hi][1])
    for i in range(lo, hi + 1):
        acc = np.zeros(vecs.shape[1])
        for j in range(i, hi + 1):
            if j > i and joinable is not None and not joinable[j]:
                break
            acc = acc + weighted[j]
            length = sentences[j][1] - sentences[i][0]
            if length > max_chars and j > i:
                break
            if length < min_chars:
                continue
            if not any(x in must for x in range(i, j + 1)):
                continue
            norm = np.linalg.norm(acc)
            sim = float(acc @ target / norm) if norm > 0 else 0.0
            span = (sentences[i][0], sentences[j][1])
            if core is not None:  # prefer the analyst's own span
                inside_chars = max(0, min(span[1], core[1]) - max(span[0], core[0]))
                sim += 0.15 * inside_chars / (span[1] - span[0])
            if best is None or sim > best[0]:
                best = (sim, span)
    if best is None:  # the allowed range is shorter than min_chars: take all of it
        idx = list(range(lo, hi + 1))
        acc = weighted[idx].sum(axis=0)
        norm = np.linalg.norm(acc)
        return fallback, float(acc @ target / norm) if norm > 0 else 0.0
    return best[1], best[0]


def balance(
    scores: Sequence[float],
    groups: Sequence[dict[str, Any]],
    vecs: np.ndarray,
    k: int,
    per_participant: int | None,
    spans: Sequence[tuple[int, int, int]],
) -> list[int]:
    """Greedy diversity re-ranking. Each step picks the candidate maximising
    score - 0.25*max cosine to chosen - 0.15*same participant - 0.08*same sector - 0.05*same kind,
    never exceeding `per_participant` and never overlapping a chosen span of the same source."""
    chosen: list[int] = []
    counts: dict[str, Counter] = {"participant": Counter(), "sector": Counter(), "kind": Counter()}
    weights = {"participant": 0.15, "sector": 0.08, "kind": 0.05}
    available = set(range(len(scores)))
    max_sim = np.zeros(len(scores))
    while len(chosen) < k and available:
        best, best_val = None, -np.inf
        for i in available:
            g = groups[i]
            if per_participant and counts["participant"][g["participant"]] >= per_participant:
                continue
            sid, s, e = spans[i]
            if any(spans[c][0] == sid and spans[c][1] < e and s < spans[c][2] for c in chosen):
                continue
            val = scores[i] - 0.25 * max_sim[i]
            val -= sum(w * counts[key][g.get(key)] for key, w in weights.items() if g.get(key))
            if val > best_val:
                best, best_val = i, val
        if best is None:
            break
        chosen.append(best)
        available.discard(best)
        max_sim = np.maximum(max_sim, vecs @ vecs[best]) if len(vecs) else max_sim
        for key, counter in counts.items():
            if groups[best].get(key):
                counter[groups[best][key]] += 1
    return chosen


def spread(quotes: Sequence[Quote], participants_total: int) -> tuple[str, dict[str, Any]]:
    """The spread as a sentence for the analyst, and as figures for the UI."""
    by_participant = Counter(q.attributes.get("_participant", q.source_name) for q in quotes
                             if q.attributes.get("kind") == "interview")
    by_kind = Counter(q.attributes.get("kind", "") for q in quotes)
    by_sector = Counter(q.attributes["sector"] for q in quotes if q.attributes.get("sector"))
    by_org = Counter(q.attributes["organisation"] for q in quotes if q.attributes.get("organisation"))
    stats = {
        "quotes": len(quotes), "participants": len(by_participant),
        "participants_total": participants_total, "by_kind": dict(by_kind),
        "by_sector": dict(by_sector), "by_organisation": dict(by_org),
        "by_origin": dict(Counter(q.origin for q in quotes)),
    }
    if not quotes:
        return "No quotes found.", stats
    parts = [(f"{len(quotes)} quote{'s' if len(quotes) != 1 else ''} from {len(by_participant)} of "
              f"{participants_total} participants")]
    for kind, n in sorted(by_kind.items()):
        if kind and kind != "interview":
            parts.append(f"{n} from {kind}s")
    if by_sector:
        parts.append("sectors: " + ", ".join(f"{k} {v}" for k, v in by_sector.most_common()))
    return "; ".join(parts), stats


# --- quotes from the corpus view ------------------------------------------------------------------


class QuoteContext(CorpusView):
    """The corpus view (`assistant.corpus.view.CorpusView`) plus the attributor that turns a
    chosen span into an attributed, verbatim quote."""

    def __init__(self, project: Project):
        super().__init__(project)
        self.attributor = Attributor(self.sources.values(), project.settings)

    def make(self, cand: Candidate, span: Span, score: float, why: str, group: str | None = None) -> Quote:
        src = self.sources[cand.source_id]
        line = line_number(src.text, span[0])
        attrs = {k: str(v) for k, v in src.attributes.items()}
        attrs["kind"] = src.kind
        attrs["_participant"] = self.attributor.participant(src)
        if group:
            attrs["_group"] = group
        return make_quote(
            src, span[0], span[1], attribution=self.attributor.format(src.id, cand.speaker, cand.page, line),
            excerpt_id=cand.excerpt_id, score=round(float(score), 4), origin=cand.origin, why=why,
            attributes=attrs,
        )


# --- retrieval -------------------------------------------------------------------------------------


def _target(project: Project, code: str | None, theme: str | None, query: str | None) -> tuple[str, list[int], str]:
    store = project.store
    if sum(x is not None for x in (code, theme, query)) != 1:
        raise ThematicError("give exactly one of a code, a theme or a query")
    if code is not None:
        from assistant.coding.codebook import code_tree

        c = store.get_code(code)
        # the code and all its descendants (Housing > Damp > Mould), each once
        ids = [c.id, *code_tree(store.list_codes()).descendants(c.id)]
        text = " ".join(x for x in (c.name, c.definition, c.include) if x)
        return text, ids, f"Code: {c.name}"
    if theme is not None:
        t = store.get_theme(theme)
        names = [store.get_code(i).name for i in t.code_ids]
        return " ".join([t.name, t.summary[:500], *names]), list(t.code_ids), f"Theme: {t.name}"
    assert query is not None
    # a free-text search's quotes are grouped under the question that found them, so a write-up
    # says what each group answers rather than a bare "Quotes"
    return query, [], f"Search: \u201c{' '.join(query.split())[:120]}\u201d"


def coding_candidates(ctx: QuoteContext, codings: Sequence[Coding], filters: Filters | None,
                      include_interviewer: bool) -> list[Candidate]:
    out = []
    for c in codings:
        if c.source_id not in ctx.sources:
            continue
        for piece, exc in ctx.pieces(c.source_id, (c.start, c.end), include_interviewer):
            if not ctx.excerpt_matches(c.source_id, exc, filters):
                continue
            out.append(Candidate(
                c.source_id, (exc.start, exc.end) if exc else piece, piece, "coding", 1.0,
                f"accepted coding by {c.coder}", exc.id if exc else c.excerpt_id,
                exc.speaker if exc else None, exc.page if exc else None,
            ))
    return out


def search_candidates(project: Project, queries: Sequence[str], n: int, filters: Filters | None,
                      include_interviewer: bool) -> list[Candidate]:
    """Hybrid search for the main query and the example queries, fused with RRF; `why` keeps the
    main query's ranks so the analyst sees where a quote came from."""
    from assistant.corpus.search import search

    runs = [search(project, q, k=n, filters=dict(filters) if filters else None,
                   exclude_interviewer=not include_interviewer) for q in queries if q.strip()]
    if not runs:
        return []
    hits = {h.id: h for run in reversed(runs) for h in run}
    weights = [1.0] + [1.0 / max(1, len(runs) - 1) ** 0.5] * (len(runs) - 1)
    fused = rrf([[h.id for h in run] for run in runs], weights)
    top = fused[0][1] if fused else 1.0
    main = {h.id: h for h in runs[0]}
    out = []
    for rank, (hid, score) in enumerate(fused[:n], start=1):
        h = hits[hid]
        mh = main.get(hid)
        why = [mh.why] if mh is not None and mh.why else []
        examples = sum(1 for run in runs[1:] if any(x.id == hid for x in run))
        if examples:
            why.append(f"like {examples} coded example{'s' if examples > 1 else ''}")
        out.append(candidate_from_hit(h, ", ".join(why) or f"search #{rank}", score / top))
    return out


def _codable(project: Project, cands: list[Candidate]) -> list[Candidate]:
    """Search hits without header blocks, front matter, headings and label-only turns
    (`corpus.codable`): a transcript's title line is never offered as a quote."""
    from assistant.corpus.codable import excerpt_kinds_for, is_codable

    if not cands:
        return cands
    kinds = excerpt_kinds_for(project, {c.source_id for c in cands})
    return [c for c in cands if c.excerpt_id is None or is_codable(kinds.get(c.excerpt_id, "body"))]


def find_quotes(
    project: Project,
    *,
    code: str | None = None,
    theme: str | None = None,
    query: str | None = None,
    k: int = 10,
    per_participant: int | None = None,
    filters: Filters | None = None,
    include_interviewer: bool = False,
    min_chars: int | None = None,
    max_chars: int | None = None,
    include_coded: bool = True,
    ctx: QuoteContext | None = None,
) -> QuoteResult:
    """Quotes for a code, a theme or a free question. `include_coded=False` keeps accepted
    codings as examples only and returns new evidence (the "find more like these" view)."""
    qs = project.settings.quotes
    min_chars = qs.min_chars if min_chars is None else min_chars
    max_chars = qs.max_chars if max_chars is None else max_chars
    per_participant = qs.per_participant if per_participant is None else per_participant
    ctx = ctx or QuoteContext(project)
    text, code_ids, group = _target(project, code, theme, query)
    codings = accepted_codings(project, code_ids)
    target = unit(embed_texts(project, [text])[0].astype(np.float64))
    examples: list[str] = []
    if codings:
        cvecs = embed_texts(project, [c.text for c in codings]).astype(np.float64)
        centroid = unit(cvecs.mean(axis=0))
        order = np.argsort(-(cvecs @ centroid))
        examples = list(dict.fromkeys(codings[i].text for i in order))[:MAX_EXAMPLE_QUERIES]
        target = unit(target + centroid)
    cands = coding_candidates(ctx, codings, filters, include_interviewer) if include_coded else []
    cands += _codable(project, search_candidates(project, [text, *examples], max(3 * k, 30), filters,
                                                 include_interviewer))
    coded = [(c.source_id, c.start, c.end) for c in codings]
    return _trim_rank_balance(ctx, cands, target, k, per_participant, min_chars, max_chars,
                              coded if not include_coded else [], group or None, filters)


def _trim_rank_balance(ctx: QuoteContext, cands: list[Candidate], target: np.ndarray, k: int,
                       per_participant: int | None, min_chars: int, max_chars: int,
                       avoid: Sequence[tuple[int, int, int]], group: str | None,
                       filters: Filters | None) -> QuoteResult:
    texts = {sid: src.text for sid, src in ctx.sources.items()}
    sents = [quote_sentences(texts[c.source_id], *c.region) for c in cands]
    flat = list(dict.fromkeys(texts[c.source_id][s:e] for c, ss in zip(cands, sents) for s, e in ss))
    vec_of = dict(zip(flat, embed_texts(ctx.project, flat)))
    rows: list[tuple[Candidate, Span, float, np.ndarray]] = []
    for c, ss in zip(cands, sents):
        if not ss:
            continue
        vecs = np.stack([vec_of[texts[c.source_id][s:e]] for s, e in ss])
        joinable = [i == 0 or "\n\n" not in texts[c.source_id][ss[i - 1][1]:ss[i][0]] for i in range(len(ss))]
        span, sim = choose_window(ss, vecs, target, min_chars, max_chars, c.core, joinable)
        if any(sid == c.source_id and s < span[1] and span[0] < e for sid, s, e in avoid):
            continue
        inside = [i for i, (s, e) in enumerate(ss) if s >= span[0] and e <= span[1]]
        wv = unit(np.average(vecs[inside], axis=0, weights=[ss[i][1] - ss[i][0] for i in inside]))
        score = 0.5 * c.rel + 0.5 * sim + (CODING_BOOST if c.origin == "coding" else 0.0)
        rows.append((c, span, score, wv))
    groups = []
    for c, *_ in rows:
        src = ctx.sources[c.source_id]
        groups.append({"participant": participant_key(src), "kind": src.kind,
                       "sector": src.attributes.get("sector") or src.attributes.get("organisation")})
    vecs = np.stack([r[3] for r in rows]) if rows else np.zeros((0, 1))
    picked = balance([r[2] for r in rows], groups, vecs, k, per_participant,
                     [(r[0].source_id, *r[1]) for r in rows])
    quotes = [ctx.make(rows[i][0], rows[i][1], rows[i][2], rows[i][0].why, group) for i in picked]
    text, stats = spread(quotes, ctx.participants_total(filters))
    stats["candidates"] = len(cands)
    return QuoteResult(quotes, text, stats)


def quotes_for_spans(project: Project, spans: Sequence[tuple[int, int, int]], target: np.ndarray | str,
                     k: int, per_participant: int | None = 1, ctx: QuoteContext | None = None,
                     group: str | None = None) -> QuoteResult:
    """Quotes drawn only from given (source_id, start, end) spans -- e.g. a theme's codings --
    trimmed towards `target_text` and balanced; used by theme drafts."""
    ctx = ctx or QuoteContext(project)
    qs = project.settings.quotes
    cands = []
    for sid, s, e in spans:
        for piece, exc in ctx.pieces(sid, (s, e), False):
            cands.append(Candidate(sid, (exc.start, exc.end) if exc else piece, piece, "coding", 1.0,
                                   "accepted coding", exc.id if exc else None,
                                   exc.speaker if exc else None, exc.page if exc else None))
    if isinstance(target, str):
        target = embed_texts(project, [target])[0]
    target = unit(np.asarray(target, dtype=np.float64))
    return _trim_rank_balance(ctx, cands, target, k, per_participant, qs.min_chars, qs.max_chars,
                              [], group, None)
