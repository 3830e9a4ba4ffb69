"""Offsets across tools: UTF-16 code units vs characters, raw (CRLF, BOM, decomposed) vs canonical."""

from __future__ import annotations

import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from assistant.exchange.refi.offsets import UnitMap, canonical_map, from_mode, to_mode
from index.text import canonicalise


def test_utf16_counts_astral_characters_twice():
    text = "a😀b"
    assert to_mode(text, 2, 3, "utf16") == (3, 4)
    assert from_mode(text, 3, 4, "utf16") == (2, 3)
    assert UnitMap.of(text).total_units == 4
    assert to_mode(text, 0, 3, "chars") == (0, 3)


def test_unit_inside_surrogate_pair_widens_to_whole_character():
    umap = UnitMap.of("x😀y")
    assert umap.to_chars(2) == 1 and umap.to_chars(2, round_up=True) == 2


def test_crlf_bom_and_decomposed_accents_map_onto_canonical_words():
    raw = "\ufeffLine one\r\nCafe\u0301 au lait\r\nend"
    cmap = canonical_map(raw)
    assert cmap.canonical == canonicalise(raw)
    start = raw.index("Cafe")
    end = raw.index(" au lait")
    s, e = cmap.span(start, end)
    assert cmap.canonical[s:e] == "Café"
    s, e = cmap.span(raw.index("end"), len(raw))
    assert cmap.canonical[s:e] == "end"


def test_selection_ending_inside_a_merged_character_widens():
    raw = "e\u0301t\u00e9"
    cmap = canonical_map(raw)
    assert cmap.canonical == "été"
    assert cmap.span(0, 1) == (0, 1)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["a", "b", " ", "\r\n", "\r", "\n", "e\u0301", "é", "😀", "\x01", "\t",
                                 "\u0301", "\u1100\u1161", "ñ"]), max_size=30))
def test_map_is_monotone_and_keeps_plain_words(parts):
    raw = "".join(parts)
    cmap = canonical_map(raw)
    assert cmap.canonical == canonicalise(raw)
    assert list(cmap.lo) == sorted(cmap.lo) and list(cmap.hi) == sorted(cmap.hi)
    assert cmap.lo[0] == 0 and cmap.hi[len(raw)] == len(cmap.canonical)
    for i, ch in enumerate(raw):  # a letter maps onto itself, or onto the character it composed into
        if ch in "ab":
            s, e = cmap.span(i, i + 1)
            assert unicodedata.normalize("NFD", cmap.canonical[s:e])[0] == ch
