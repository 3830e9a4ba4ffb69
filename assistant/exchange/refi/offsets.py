"""Positions in exchanged text: characters vs UTF-16 code units, and raw vs canonical text.

Two traps make codings land on the wrong words when projects move between tools:

1. *Units.* REFI-QDA counts Unicode code points ("characters"); NVivo appears to count UTF-16 code
   units, so every astral character (emoji, some CJK) counts twice. `OffsetMode` chooses which one
   we write and read; conversion happens at the edge, our store always holds code points.
2. *Line endings and normalisation.* Another tool's source file may hold CRLF, a BOM, decomposed
   accents or stray control characters, while our canonical text (`index.text.canonicalise`) has
   LF, NFC and none of those. `CanonicalMap` maps every boundary of the raw text to a boundary of
   the canonical text, so a selection made on the raw text lands on the same words.

Positions are *boundaries* (0..len): a selection is [start, end) with end exclusive, which is what
REFI-QDA tools write in practice (endPosition = startPosition + length).
"""

from __future__ import annotations

import sys
import unicodedata
from bisect import bisect_right
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from index.text import canonicalise

OffsetMode = Literal["chars", "utf16"]
OFFSET_MODES: tuple[str, ...] = ("chars", "utf16")


# --- UTF-16 code units <-> characters --------------------------------------------------------------


@dataclass(frozen=True)
class UnitMap:
    """Cumulative UTF-16 lengths of a text; `None` when the text has no astral characters, in
    which case the two counts are the same and conversion is the identity (the common case)."""

    units: tuple[int, ...] | None
    length: int

    @classmethod
    def of(cls, text: str) -> UnitMap:
        if all(ord(c) < 0x10000 for c in text):
            return cls(None, len(text))
        acc, total = [0], 0
        for c in text:
            total += 2 if ord(c) >= 0x10000 else 1
            acc.append(total)
        return cls(tuple(acc), len(text))

    def to_units(self, char_pos: int) -> int:
        return char_pos if self.units is None else self.units[char_pos]

    def to_chars(self, unit_pos: int, round_up: bool = False) -> int:
        """A unit position inside a surrogate pair rounds down (start) or up (end) to a whole
        character, so a selection never splits an emoji."""
        if self.units is None:
            return unit_pos
        i = bisect_right(self.units, unit_pos) - 1
        if self.units[i] != unit_pos and round_up:
            i += 1
        return i

    @property
    def total_units(self) -> int:
        return self.length if self.units is None else self.units[-1]


def to_mode(text: str, start: int, end: int, mode: OffsetMode, umap: UnitMap | None = None) -> tuple[int, int]:
    """Character offsets of our canonical text -> the offsets written for `mode`."""
    if mode == "chars":
        return start, end
    umap = umap or UnitMap.of(text)
    return umap.to_units(start), umap.to_units(end)


def from_mode(text: str, start: int, end: int, mode: OffsetMode, umap: UnitMap | None = None) -> tuple[int, int]:
    if mode == "chars":
        return start, end
    umap = umap or UnitMap.of(text)
    return umap.to_chars(start), umap.to_chars(end, round_up=True)


def mode_length(text: str, mode: OffsetMode, umap: UnitMap | None = None) -> int:
    if mode == "chars":
        return len(text)
    return (umap or UnitMap.of(text)).total_units


# --- raw text -> canonical text ------------------------------------------------------------------


@lru_cache(maxsize=1)
def _composition_seconds() -> frozenset[int]:
    """Code points that can be the *second* half of a canonical composition, i.e. that NFC may
    merge into the character before them. Before any other starter, NFC cannot reach across."""
    out = set()
    for cp in range(0x300, sys.maxunicode + 1):
        d = unicodedata.decomposition(chr(cp))
        if d and not d.startswith("<"):
            parts = d.split()
            if len(parts) == 2:
                out.add(int(parts[1], 16))
    out.update(range(0x1161, 0x1176))  # Hangul vowel jamo (algorithmic composition)
    out.update(range(0x11A8, 0x11C3))  # Hangul trailing consonant jamo
    return frozenset(out)


def _safe_break(ch: str) -> bool:
    cp = ord(ch)
    if cp < 0x300:
        return True
    return unicodedata.combining(ch) == 0 and cp not in _composition_seconds()


@dataclass(frozen=True)
class CanonicalMap:
    """`canonical == canonicalise(raw)`; `lo[b]`/`hi[b]` give the canonical boundary for raw
    boundary b when it starts / ends a selection. They differ only inside a character sequence
    NFC merged (e + combining accent): a selection touching it widens to the whole character."""

    raw: str
    canonical: str
    lo: tuple[int, ...]
    hi: tuple[int, ...]

    def span(self, start: int, end: int) -> tuple[int, int]:
        return self.lo[start], self.hi[end]


def canonical_map(raw: str) -> CanonicalMap:
    """Build the raw -> canonical boundary map by replaying `canonicalise` step by step on
    segments NFC cannot cross, then check the result is exactly `canonicalise(raw)`."""
    canonical = canonicalise(raw)
    if raw == canonical:
        ident = tuple(range(len(raw) + 1))
        return CanonicalMap(raw, canonical, ident, ident)
    out, lo, hi = _replay(raw)
    if out != canonical:  # not expected; keeps the map exact if canonicalise ever gains a rule
        lo, hi = _aligned(raw, canonical)
    return CanonicalMap(raw, canonical, tuple(lo), tuple(hi))


_DROP = {chr(c) for c in range(0x20) if c not in (9, 10)} | {"\x7f"}


def _replay(raw: str) -> tuple[str, list[int], list[int]]:
    # steps 1-3: BOM, line endings and control characters, keeping each kept char's raw index
    kept: list[tuple[int, str]] = []
    i, n = 0, len(raw)
    if raw.startswith("\ufeff"):
        i = 1
    while i < n:
        ch = raw[i]
        if ch == "\r":
            if i + 1 < n and raw[i + 1] == "\n":
                i += 1
                continue  # the \n that follows is kept; the \r vanishes
            kept.append((i, "\n"))
        elif ch not in _DROP:
            kept.append((i, ch))
        i += 1
    out: list[str] = []
    lo = [-1] * (n + 1)
    hi = [-1] * (n + 1)
    k = 0
    while k < len(kept):
        j = k + 1
        while j < len(kept) and not _safe_break(kept[j][1]):
            j += 1
        seg = "".join(c for _, c in kept[k:j])
        norm = unicodedata.normalize("NFC", seg) if not seg.isascii() else seg
        if norm == seg:
            for raw_i, ch in kept[k:j]:
                lo[raw_i] = hi[raw_i] = len(out)
                out.append(ch)
        else:  # step 4: NFC merged this segment
            first = kept[k][0]
            a = len(out)
            out.extend(norm)
            lo[first] = hi[first] = a
            for raw_i, _ in kept[k + 1 : j]:
                lo[raw_i], hi[raw_i] = a, len(out)
        k = j
    lo[n] = hi[n] = len(out)
    # boundaries before dropped raw chars (BOM, the \r of CRLF, controls) take the next defined one
    for b in range(n - 1, -1, -1):
        if lo[b] < 0:
            lo[b], hi[b] = lo[b + 1], hi[b + 1]
    return "".join(out), lo, hi


def _aligned(raw: str, canonical: str) -> tuple[list[int], list[int]]:
    """Fallback should the step-by-step replay ever disagree with `canonicalise`:
    align the two strings and map boundaries through the alignment."""
    from rapidfuzz.distance import Indel

    lo = [0] * (len(raw) + 1)
    for op in Indel.opcodes(raw, canonical):
        for b in range(op.src_start, op.src_end + 1):
            if op.tag == "equal":
                lo[b] = op.dest_start + (b - op.src_start)
            else:
                lo[b] = op.dest_start if b < op.src_end else op.dest_end
    lo[len(raw)] = len(canonical)
    return lo, list(lo)
