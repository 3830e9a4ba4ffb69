"""Text search over the canonical source texts (not the search index): every occurrence of a word,
a "quoted phrase" or a wildcard, as keyword-in-context hits that open in the source and can be
coded from the hit list.

The query (documented for analysts):
- `damp` finds the word damp (not dampness); case-insensitive unless asked otherwise.
- `"black mould"` finds the phrase; any run of whitespace (a line break too) matches a space.
- `damp*` finds damp, damper, dampness: `*` is up to 40 letters (an apostrophe inside a word, as
  in don't, counts as a letter); `m?uld` finds mould: `?` is exactly one letter. A term must
  start with a letter or digit (`*ould` is refused: it would scan every word of the corpus).
- Several terms find any of them: `damp mould` finds both words wherever each occurs.
Words are whole words: a hit never starts or ends inside a word, so `mould` does not match in
`moulding`, `don` not in `don't` and `t` not at the end of `don't`; a possessive or contracted
's does not hide a word (`mould` finds the mould in `mould's`).

Filters have the search filters' semantics (`corpus.view`): source attributes, `kind` and
`source` narrow the sources searched; turn-level keys (`speaker`, `is_interviewer`, `page`)
judge each hit by the turn it falls in, and a hit outside every turn (a speaker label, a title)
is kept only when no turn-level key is asked for.

Bounded: the query (length, terms, wildcards), the hits returned (`limit`) and the hits counted
(`total_cap`). Each term is a regular expression that starts with a literal, so Python's regex
engine scans for that literal at C speed; the case-insensitive search runs over a lower-cased
copy of the text when lower-casing keeps every offset (almost always), so offsets are exact.
About 10 ms per million characters per term on one core (see `benchmarks/find_speed.py`)."""

from __future__ import annotations

import bisect
import re
import time
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from assistant.corpus.view import source_matches
from assistant.errors import ThematicError
from assistant.models import FindResult, KwicHit, StoredSource
from assistant.project import Project
from assistant.store.workspace import ExcerptSpan
from index.records import EXCERPT_ONLY_FIELDS, excerpt_meta, meta_matches

MAX_QUERY_CHARS = 500
MAX_TERMS = 20
MAX_WILDCARDS = 4
STAR_LETTERS = 40
MAX_LIMIT = 10_000
TOTAL_CAP = 100_000

_MARKS = "\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"
_LETTER = rf"[\w{_MARKS}]"
_APOSTROPHES = "'\u2019"
_IN_WORD = rf"(?:{_LETTER}|[{_APOSTROPHES}](?={_LETTER}))"  # a letter, or an apostrophe inside a word
# a hit ends a word: no letter follows, nor an apostrophe and a letter (don't), except a
# possessive or contracted 's ("mould's" is a hit for mould)
_END = rf"(?!{_LETTER})(?![{_APOSTROPHES}](?!s(?!{_LETTER})){_LETTER})"


@dataclass(frozen=True)
class Term:
    """One parsed query term: what the analyst typed, and its pattern."""

    text: str
    pattern: str


def parse_query(query: str) -> list[Term]:
    """The query's terms, or one ThematicError sentence saying what is wrong with it."""
    query = (query or "").strip()
    if not query:
        raise ThematicError("say what to find (a word, a \"quoted phrase\", or a wildcard such as damp*)")
    if len(query) > MAX_QUERY_CHARS:
        raise ThematicError(f"the query is {len(query)} characters; the limit is {MAX_QUERY_CHARS}")
    if query.count('"') % 2:
        raise ThematicError("the query has an unclosed quote")
    raw = [a or b for a, b in re.findall(r'"([^"]*)"|(\S+)', query)]
    raw = [" ".join(t.split()) for t in raw if t.strip()]
    if not raw:
        raise ThematicError("the query has only empty quotes")
    if len(raw) > MAX_TERMS:
        raise ThematicError(f"the query has {len(raw)} terms; the limit is {MAX_TERMS}")
    return [_term(t) for t in dict.fromkeys(raw)]


def _term(text: str) -> Term:
    """The term as a pattern that begins with its first literal characters (so the regex engine
    scans for them at C speed) followed by a look-behind saying they start a word, and ends with
    a look-ahead saying the match ends one."""
    if text[0] in "*?":
        raise ThematicError(f"{text!r}: a term must start with a letter or digit, not a wildcard")
    if sum(text.count(w) for w in "*?") > MAX_WILDCARDS:
        raise ThematicError(f"{text!r}: at most {MAX_WILDCARDS} wildcards in a term")
    if not any(_is_letter(ch) for ch in text):
        raise ThematicError(f"{text!r}: a term needs at least one letter or digit")
    words = text.split(" ")
    if any(w[0] in "*?" for w in words):
        raise ThematicError(f"{text!r}: each word of a phrase must start with a letter or digit")
    first = words[0]
    run = re.match(r"[^*?]+", first).group()  # type: ignore[union-attr]
    head = re.escape(run)
    if _is_letter(text[0]):
        head += rf"(?<!{_LETTER}{head})(?<!{_LETTER}[{_APOSTROPHES}]{head})"
    parts = [head + _word_pattern(first[len(run):])] + [_word_pattern(w) for w in words[1:]]
    pattern = r"\s+".join(parts)
    if text[-1] in "*?" or _is_letter(text[-1]):
        pattern += _END
    return Term(text, pattern)


def _word_pattern(word: str) -> str:
    return "".join(_IN_WORD + f"{{0,{STAR_LETTERS}}}" if ch == "*" else _LETTER if ch == "?" else re.escape(ch)
                   for ch in word)


def _is_letter(ch: str) -> bool:
    return ch.isalnum() or ch == "_" or unicodedata.category(ch).startswith("M")


def _spans(term_rx: re.Pattern[str], hay: str, budget: int) -> list[tuple[int, int]]:
    """Whole-word matches, left to right, not overlapping, at most `budget`."""
    out: list[tuple[int, int]] = []
    for m in term_rx.finditer(hay):
        out.append(m.span())
        if len(out) >= budget:
            break
    return out


# --- the search ----------------------------------------------------------------------------------


def find(project: Project, query: str, *, filters: Mapping[str, Any] | None = None, limit: int = 200,
         context: int = 60, case_sensitive: bool = False, exclude_interviewer: bool = False,
         total_cap: int = TOTAL_CAP) -> FindResult:
    """Keyword-in-context hits for `query`, in source-name and text order, at most `limit` of them
    (every hit passing the filters is counted in `total`, up to `total_cap`)."""
    t0 = time.perf_counter()
    terms = parse_query(query)
    limit = max(1, min(int(limit), MAX_LIMIT))
    context = max(0, min(int(context), 1000))
    filters = dict(filters or {})
    turn_keys = any(k in EXCERPT_ONLY_FIELDS for k in filters) or exclude_interviewer
    sources = [s for s in project.store.list_sources() if source_matches(s, filters)]
    flags = 0 if case_sensitive else re.IGNORECASE
    compiled = [(t, re.compile(t.pattern, flags), re.compile(t.pattern if case_sensitive else _term(t.text.lower()).pattern))
                for t in terms]
    texts = project.store.texts_of(s.id for s in sources)
    hits: list[KwicHit] = []
    total, capped = 0, False
    spans_cache: dict[int, list[ExcerptSpan]] = {}
    for i, src in enumerate(sources):
        sid = src.id
        text = texts.get(sid, "")
        found = _find_in(text, compiled, case_sensitive, total_cap - total)
        if not found:
            continue
        turns: list[ExcerptSpan] | None = None
        if turn_keys:  # every hit is judged by its turn: read the turns of the next sources at once
            turns = _turns(project, sources, i, spans_cache)
            starts = [e.start for e in turns]
            found = [h for h in found if _turn_matches(src, _turn_at(turns, starts, h[0]), filters, exclude_interviewer)]
        total += len(found)
        room = limit - len(hits)
        if room > 0 and found:
            if turns is None:  # only the turns of the hits returned are needed
                turns = project.store.excerpt_spans([sid]).get(sid, [])
            starts = [e.start for e in turns]
            line, last = 1, 0
            for s, e, term in found[:room]:
                turn = _turn_at(turns, starts, s)
                line += text.count("\n", last, s)
                last = s
                cs, ce = max(0, s - context), min(len(text), e + context)
                hits.append(KwicHit(
                    source_id=sid, source=src.name, kind=src.kind, start=s, end=e, text=text[s:e],
                    left=text[cs:s], right=text[e:ce], context_start=cs, context_end=ce, line=line, term=term,
                    speaker=turn.speaker if turn else None, excerpt_id=turn.id if turn else None,
                    is_interviewer=bool(turn and turn.is_interviewer), page=turn.page if turn else None,
                ))
        if total >= total_cap:
            capped = True
            break
    return FindResult(query=query, terms=[t.text for t in terms], hits=hits, total=total, total_capped=capped,
                      truncated=total > len(hits), sources_searched=len(sources),
                      seconds=round(time.perf_counter() - t0, 4))


def _find_in(text: str, compiled: list[tuple[Term, re.Pattern[str], re.Pattern[str]]], case_sensitive: bool,
             budget: int) -> list[tuple[int, int, str]]:
    """(start, end, term) of every whole-word hit of any term in one text, in text order, with
    hits of two terms on the very same span kept once."""
    if not text or budget <= 0:
        return []
    hay, use_lower = text, False
    if not case_sensitive:
        low = text.lower()
        if len(low) == len(text):  # every character lower-cased to one: offsets are the text's
            hay, use_lower = low, True
    found: dict[tuple[int, int], str] = {}
    for term, rx_any_case, rx_lower in compiled:
        rx = rx_lower if use_lower else rx_any_case
        for span in _spans(rx, hay, budget):
            found.setdefault(span, term.text)
    return sorted(((s, e, t) for (s, e), t in found.items()))[:budget]


def _turns(project: Project, sources: list[StoredSource], i: int, cache: dict[int, list[ExcerptSpan]]) -> list[ExcerptSpan]:
    """Source i's turns, read with those of the next few hundred sources, so a survey of thousands
    of one-answer sources costs a few queries, not one per source."""
    sid = sources[i].id
    if sid not in cache:
        batch = [s.id for s in sources[i : i + 500] if s.id not in cache]
        got = project.store.excerpt_spans(batch)
        for b in batch:
            cache[b] = got.get(b, [])
    return cache[sid]


def _turn_at(turns: list[ExcerptSpan], starts: list[int], offset: int) -> ExcerptSpan | None:
    """The turn holding `offset` (turns are in text order; a few back in case two overlap)."""
    i = bisect.bisect_right(starts, offset) - 1
    for j in range(i, max(-1, i - 4), -1):
        if turns[j].start <= offset < turns[j].end:
            return turns[j]
    return None


def _turn_matches(src: StoredSource, turn: ExcerptSpan | None, filters: Mapping[str, Any], exclude_interviewer: bool) -> bool:
    if turn is None:  # outside every turn: nothing is known of speakers here, every key must match the source
        own = {k: v for k, v in filters.items() if k not in EXCERPT_ONLY_FIELDS}
        return len(own) == len(filters) and source_matches(src, filters)
    if exclude_interviewer and turn.is_interviewer and "is_interviewer" not in filters:
        return False
    meta = excerpt_meta(source_id=src.id, source=src.name, kind=src.kind, start=turn.start, end=turn.end,
                        speaker=turn.speaker, is_interviewer=turn.is_interviewer, page=turn.page,
                        ordinal=turn.ordinal, attributes=src.attributes)
    return meta_matches(meta, filters)
