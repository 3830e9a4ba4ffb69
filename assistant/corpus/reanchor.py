"""Carry codings from one version of a source's text to the next, by their words.

A re-ingested file rarely changes much: a typo fixed, "short-term" written "short term", a line
break moved, a paragraph added. The analyst's codings must survive that, so a coding is found in the
new text by its *words* (case, punctuation, hyphens and whitespace ignored), not its bytes:

1. The two versions are aligned word by word (an LCS over casefolded word tokens, rapidfuzz's
   `Indel.opcodes`), which says where each old word went and so where a coding *should* be.
2. A coding whose words all survived in place is moved there: `moved` when the characters are the
   same, `moved-fuzzy` (with its ratio, 1.0 when only spacing, case or punctuation changed) when not.
3. Otherwise its exact text, then its exact word sequence, is searched anywhere (a moved
   paragraph), taking the occurrence nearest where the alignment expects it -- unless the new text
   holds fewer copies of those words than the old one did: then its own copy was deleted and the
   ones left are other utterances (another "Yes, exactly."), which it must not jump onto.
4. Otherwise a fuzzy match of its words is taken when similar enough (`min_ratio` on the words'
   characters and `min_word_ratio` on whole words): where the alignment puts it first, then where
   shared word trigrams ("seeds", as read-mappers use) say it may have moved.
5. What is left is `orphaned`: kept by the caller with its old text and offsets, never deleted.

Bounded: the alignment runs on the part of the texts that differs, and is skipped (search alone,
which stays cheap) when that part is too big to align in bounded time and memory.
Every new span is snapped to word boundaries of the new text and is its own characters (verbatim).
The functions here are pure, so a dry run predicts exactly what the real re-ingest then does."""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from rapidfuzz import fuzz
from rapidfuzz.distance import Indel

from assistant.models import Coding, StoredCoding

Outcome = Literal["moved", "moved-fuzzy", "orphaned"]
MIN_RATIO = 0.85
MIN_WORD_RATIO = 0.6
_WORD = re.compile(r"\w+")
_MAX_OCCURRENCES = 10_000  # enough to pick the nearest of many repeats, bounded for "yes" x 1e6
_SEED = 3  # word trigrams seed the search for a coding that moved and changed
_MAX_SEED_HITS = 50  # a trigram found more often than this says little about where a coding went
_SHORT_NEEDLE = 200  # a coding this short (in normalised characters) is cheap to align anywhere
# the LCS alignment costs time and memory in proportion to old x new words (of the part that
# differs): 4e8 is about 20k x 20k words, under a second and 100 MB. Beyond it codings are found
# by search alone (exact text, exact words, seeded fuzzy match), which stays cheap at any size.
_MAX_ALIGN_CELLS = 400_000_000


@dataclass(frozen=True)
class Words:
    """A text's word tokens: casefolded keys and their character spans in the text."""

    text: str
    keys: list[str]
    starts: list[int]
    ends: list[int]

    @classmethod
    def of(cls, text: str) -> Words:
        keys, starts, ends = [], [], []
        for m in _WORD.finditer(text):
            keys.append(m.group().casefold())
            starts.append(m.start())
            ends.append(m.end())
        return cls(text, keys, starts, ends)

    def __len__(self) -> int:
        return len(self.keys)

    def overlapping(self, start: int, end: int) -> tuple[int, int]:
        """Token range [i, j) of the words that overlap text[start:end]."""
        return bisect.bisect_right(self.ends, start), bisect.bisect_left(self.starts, end)

    def norm(self, i: int = 0, j: int | None = None) -> str:
        return " ".join(self.keys[i:j])


@dataclass(frozen=True)
class Anchor:
    """Where one coding goes in the new text. `start`/`end`/`text` are None when orphaned; `ratio`
    is the similarity of the words (1.0 for an exact or words-only move)."""

    coding_id: int
    outcome: Outcome
    start: int | None = None
    end: int | None = None
    text: str | None = None
    ratio: float = 0.0
    was_orphaned: bool = False


def norm(text: str) -> str:
    """The words of a text, casefolded, one space apart: what re-anchoring compares."""
    return " ".join(m.group().casefold() for m in _WORD.finditer(text))


def word_ratio(a: str, b: str) -> float:
    """Similarity (0..1) of two texts' words, ignoring case, punctuation, hyphens and spacing."""
    return fuzz.ratio(norm(a), norm(b)) / 100


class Aligner:
    """The word alignment of an old text with a new one, reused for every coding on the source."""

    def __init__(self, old_text: str, new_text: str):
        self.old, self.new = Words.of(old_text), Words.of(new_text)
        a, b = self.old.keys, self.new.keys
        # exact[i]: new index of old word i when it survived in place, else -1; near[i]: where it
        # would be (the start of the replacing block), for "nearest occurrence" choices.
        self.exact = [-1] * len(a)
        self.near = [len(b)] * len(a)
        # the words both versions start and end with are in place; only the middle is aligned
        head = 0
        while head < min(len(a), len(b)) and a[head] == b[head]:
            head += 1
        tail = 0
        while tail < min(len(a), len(b)) - head and a[-1 - tail] == b[-1 - tail]:
            tail += 1
        for i in range(head):
            self.exact[i] = self.near[i] = i
        for k in range(1, tail + 1):
            self.exact[len(a) - k] = self.near[len(a) - k] = len(b) - k
        mid_a, mid_b = a[head:len(a) - tail], b[head:len(b) - tail]
        if mid_a and mid_b and len(mid_a) * len(mid_b) <= _MAX_ALIGN_CELLS:
            ids: dict[str, int] = {}
            ia = [ids.setdefault(k, len(ids)) for k in mid_a]
            ib = [ids.setdefault(k, len(ids)) for k in mid_b]
            for op in Indel.opcodes(ia, ib):
                for i in range(op.src_start, op.src_end):
                    if op.tag == "equal":
                        self.exact[head + i] = self.near[head + i] = head + op.dest_start + (i - op.src_start)
                    else:
                        self.near[head + i] = head + op.dest_start
        self.aligned = not (mid_a and mid_b) or len(mid_a) * len(mid_b) <= _MAX_ALIGN_CELLS
        if mid_a and not self.aligned:  # too big to align in bounded time and memory: expect words pro rata
            for i in range(len(mid_a)):
                self.near[head + i] = head + (i * len(mid_b)) // len(mid_a)
        self._new_norm: tuple[str, list[int]] | None = None
        self._old_norm: str | None = None
        self._trigrams: dict[tuple[str, ...], list[int]] | None = None

    def expected(self, old_pos: int) -> int:
        """Where a character offset of the old text is expected in the new text."""
        i = bisect.bisect_right(self.old.ends, old_pos)
        if i >= len(self.old):
            return len(self.new.text)
        j = self.near[i]
        return len(self.new.text) if j >= len(self.new) else self.new.starts[j]

    def gone_here(self, words: Words) -> bool:
        """The alignment lost the coding's words *and* the new text holds fewer copies of them
        than the old did: its own copy was deleted, and the copies left are other utterances (an
        "I agree." said elsewhere), so it must not be moved onto one of them."""
        if not self.aligned:
            return False
        if self._old_norm is None:
            self._old_norm = " " + " ".join(self.old.keys) + " "
        needle = " " + words.norm() + " "
        return self.new_norm()[0].count(needle) < self._old_norm.count(needle)

    def new_norm(self) -> tuple[str, list[int]]:
        """" w1 w2 ... " and the offset of each word in it (for word-sequence search)."""
        if self._new_norm is None:
            offsets, pos = [], 1
            for k in self.new.keys:
                offsets.append(pos)
                pos += len(k) + 1
            self._new_norm = (" " + " ".join(self.new.keys) + " ", offsets)
        return self._new_norm


    def seeded_spans(self, words: Words, limit: int = 3) -> list[tuple[int, int]]:
        """New word ranges where `words` may have gone, found by shared word trigrams (seeds)
        voting for where the coding would start, as read-mappers do. A coding similar enough to be
        moved keeps most of its trigrams, so nothing that could pass the thresholds is missed, and
        the cost is a dictionary look-up per word rather than a fuzzy scan of the whole text."""
        n = len(words)
        if n < _SEED:
            return []
        if self._trigrams is None:
            self._trigrams = {}
            keys = self.new.keys
            for j in range(len(keys) - _SEED + 1):
                self._trigrams.setdefault(tuple(keys[j:j + _SEED]), []).append(j)
        seeds = sorted((j - i, i, j) for i in range(n - _SEED + 1)
                       for j in self._trigrams.get(tuple(words.keys[i:i + _SEED]), [])[:_MAX_SEED_HITS])
        width, need = max(4, n // 4), max(1, (n - _SEED + 1) // 4)
        clusters: list[tuple[int, int, int]] = []  # (votes, first seed, last seed) by diagonal
        lo = 0
        for hi in range(len(seeds)):
            while seeds[hi][0] - seeds[lo][0] > width:
                lo += 1
            clusters.append((hi - lo + 1, lo, hi))
        out: list[tuple[int, int]] = []
        for votes, lo, hi in sorted(clusters, key=lambda c: (-c[0], c[1])):
            if votes < need or len(out) >= limit:
                break
            group = seeds[lo:hi + 1]
            first = min(group, key=lambda t: t[2])
            last = max(group, key=lambda t: t[2])
            # extend the seeded stretch by the coding's words before the first and after the last seed
            a = max(0, first[2] - first[1])
            b = min(len(self.new), last[2] + _SEED + (n - last[1] - _SEED))
            if b > a and not any(x < b and a < y for x, y in out):
                out.append((a, b))
        return out


def reanchor(old_text: str, new_text: str, codings: Sequence[StoredCoding], min_ratio: float = MIN_RATIO,
             min_word_ratio: float = MIN_WORD_RATIO) -> list[Anchor]:
    """Where each coding goes in `new_text` (see the module docstring). Active codings are read
    against `old_text`; orphaned ones (offsets into an older version) are searched by their text."""
    aligner = Aligner(old_text, new_text)
    return [anchor_one(aligner, c, min_ratio, min_word_ratio) for c in codings]


def anchor_one(al: Aligner, c: StoredCoding, min_ratio: float = MIN_RATIO,
               min_word_ratio: float = MIN_WORD_RATIO) -> Anchor:
    new_text, orphan = al.new.text, c.status == "orphaned"
    in_old = not orphan and al.old.text[c.start:c.end] == c.text
    expected = al.expected(c.start) if in_old else min(c.start, len(new_text))
    cid = c.id

    def found(start: int, end: int) -> Anchor:
        text = new_text[start:end]
        exact = text == c.text
        return Anchor(cid, "moved" if exact else "moved-fuzzy", start, end, text,
                      1.0 if exact else round(word_ratio(c.text, text), 4), orphan)

    c_words = Words.of(c.text)
    if in_old:  # 1-2: the words survived in place
        i, j = al.old.overlapping(c.start, c.end)
        mapped = al.exact[i:j]
        if j > i and all(m >= 0 for m in mapped) and mapped == list(range(mapped[0], mapped[0] + len(mapped))):
            span = _map_in_place(al, c, i, j, mapped[0], mapped[-1] + 1)
            if span is not None and span[1] > span[0]:
                return found(*span)
    elsewhere = not (in_old and len(c_words) and al.gone_here(c_words))
    span = _nearest_exact(new_text, c.text, expected) if elsewhere else None  # 3: same characters elsewhere
    if span is not None:
        return found(*span)
    if len(c_words):
        span = _nearest_words(al, c_words, expected) if elsewhere else None  # 3: same words elsewhere
        if span is not None:
            return found(*_shape(al, c.text, c_words, *span))
        # 4: a fuzzy match of its words, where the alignment puts it, then where seeds do
        best = _best_fuzzy(al, c_words, _aligned_span(al, c) if in_old else None, elsewhere, min_ratio)
        if best is not None and best[2] >= min_ratio and best[3] >= min_word_ratio:
            return found(*_shape(al, c.text, c_words, best[0], best[1]))
    return Anchor(cid, "orphaned", ratio=0.0, was_orphaned=orphan)


def _map_in_place(al: Aligner, c: Coding, i: int, j: int, a: int, b: int) -> tuple[int, int] | None:
    """The new span of a coding whose old words [i, j) are new words [a, b): the partial first and
    last word keep their offsets when the word is spelled the same, and the punctuation before and
    after the words is carried over as far as the new text has it."""
    old, new = al.old, al.new
    start = new.starts[a]
    if c.start > old.starts[i] and old.text[old.starts[i]:old.ends[i]] == new.text[new.starts[a]:new.ends[a]]:
        start += c.start - old.starts[i]
    end = new.ends[b - 1]
    if c.end < old.ends[j - 1] and old.text[old.starts[j - 1]:old.ends[j - 1]] == new.text[new.starts[b - 1]:new.ends[b - 1]]:
        end -= old.ends[j - 1] - c.end
    lead = max(0, old.starts[i] - c.start)
    trail = max(0, c.end - old.ends[j - 1])
    return _extend(new.text, start, end, lead, trail)


def _shape(al: Aligner, old: str, old_words: Words, a: int, b: int) -> tuple[int, int]:
    """Char span of new words [a, b), with the old coding's leading/trailing punctuation carried."""
    lead = len(old[:old_words.starts[0]].strip())
    trail = len(old[old_words.ends[-1]:].strip())
    return _extend(al.new.text, al.new.starts[a], al.new.ends[b - 1], lead, trail)


def _extend(text: str, start: int, end: int, lead: int, trail: int) -> tuple[int, int]:
    """Widen [start, end) over up to `lead`/`trail` adjacent punctuation characters (not spaces,
    not words): a coding of `"Damp."` keeps its quote marks and full stop."""
    while lead > 0 and start > 0 and _punct(text[start - 1]):
        start, lead = start - 1, lead - 1
    while trail > 0 and end < len(text) and _punct(text[end]):
        end, trail = end + 1, trail - 1
    return start, end


def _punct(ch: str) -> bool:
    return not ch.isspace() and not _WORD.match(ch)


def _nearest(positions: list[int], expected: int) -> int:
    return min(positions, key=lambda p: (abs(p - expected), p))


def _nearest_exact(text: str, needle: str, expected: int) -> tuple[int, int] | None:
    if not needle.strip():
        return None
    hits, pos = [], text.find(needle)
    while pos >= 0 and len(hits) < _MAX_OCCURRENCES:
        hits.append(pos)
        pos = text.find(needle, pos + 1)
    if not hits:
        return None
    start = _nearest(hits, expected)
    return start, start + len(needle)


def _nearest_words(al: Aligner, words: Words, expected: int) -> tuple[int, int] | None:
    """New word range holding exactly `words` (as keys), nearest the expected position."""
    hay, offsets = al.new_norm()
    needle = " " + words.norm() + " "
    hits, pos = [], hay.find(needle)
    while pos >= 0 and len(hits) < _MAX_OCCURRENCES:
        hits.append(bisect.bisect_left(offsets, pos + 1))
        pos = hay.find(needle, pos + 1)
    if not hits:
        return None
    a = min(hits, key=lambda k: (abs(al.new.starts[k] - expected), k))
    return a, a + len(words)


def _aligned_span(al: Aligner, c: Coding) -> tuple[int, int] | None:
    """New word range between the first and last of the coding's old words that survived."""
    i, j = al.old.overlapping(c.start, c.end)
    kept = [m for m in al.exact[i:j] if m >= 0]
    return (min(kept), max(kept) + 1) if kept else None


def _best_fuzzy(al: Aligner, words: Words, aligned: tuple[int, int] | None, elsewhere: bool = True,
                good: float = MIN_RATIO) -> tuple[int, int, float, float] | None:
    """The best of the candidate spans, each refined: (a, b, ratio, word ratio). A `good` match
    where the alignment puts the coding is taken without looking elsewhere."""
    first = _refine(al, words, *aligned) if aligned else None
    if (first is not None and first[2] >= good) or not elsewhere:
        return first
    spans = al.seeded_spans(words)
    if not spans and len(words.norm()) <= _SHORT_NEEDLE:  # short: cheap to align anywhere
        spans = [s for s in [_partial(al, words)] if s]
    refined = [r for r in [first, *(_refine(al, words, a, b) for a, b in spans)] if r is not None]
    return max(refined, key=lambda r: r[2], default=None)


def _partial(al: Aligner, words: Words) -> tuple[int, int] | None:
    """Word range of the best partial alignment of `words` anywhere in the new text."""
    hay, offsets = al.new_norm()
    align = fuzz.partial_ratio_alignment(words.norm(), hay)
    if align is None or align.score <= 0:
        return None
    a = max(0, bisect.bisect_right(offsets, align.dest_start) - 1)
    b = max(a + 1, bisect.bisect_left(offsets, align.dest_end))
    return a, min(b, len(al.new))


def _refine(al: Aligner, words: Words, a: int, b: int) -> tuple[int, int, float, float]:
    """Let a candidate's ends move by up to two words each, keeping the most similar span."""
    needle, best = words.norm(), (a, b, -1.0)
    lo, hi = max(0, a - 2), min(len(al.new), b + 2)
    hay = al.new.norm(lo, hi)  # one join; the candidates are slices of it
    cut, pos = [], 0
    for k in al.new.keys[lo:hi]:
        cut.append(pos)
        pos += len(k) + 1
    cut.append(pos)
    for da in (-2, -1, 0, 1, 2):
        for db in (-2, -1, 0, 1, 2):
            s, e = a + da, b + db
            if lo <= s < e <= hi:
                r = fuzz.ratio(needle, hay[cut[s - lo]:cut[e - lo] - 1]) / 100
                if r > best[2]:
                    best = (s, e, r)
    s, e, r = best
    return s, e, max(r, 0.0), Indel.normalized_similarity(words.keys, al.new.keys[s:e])


def suggest_span(text: str, claimed: str, min_ratio: float = 0.6) -> tuple[int, int, float] | None:
    """The span of `text` whose words best match `claimed` (for offering an orphan a place to be
    re-attached): (start, end, ratio), or None below `min_ratio`. The analyst decides."""
    words = Words.of(claimed)
    if not len(words):
        return None
    al = Aligner("", text)
    exact = _nearest_exact(text, claimed, 0)
    if exact is not None:
        return exact[0], exact[1], 1.0
    best = _best_fuzzy(al, words, None)
    if best is None or best[2] < min_ratio:
        return None
    s, e = _shape(al, claimed, words, best[0], best[1])
    return s, e, round(best[2], 4)
