"""canonicalise, sentence_spans, find_verbatim, decode_bytes: the offset contract's foundations."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from index.errors import ReadError
from index.text import canonicalise, decode_bytes, find_verbatim, sentence_spans


def test_canonicalise_rules():
    raw = "\ufeffa\r\nb\rc\x00d\x07e\tf\u0065\u0301\x7f"
    assert canonicalise(raw) == "a\nb\ncde\tf\u00e9"


@given(st.text())
def test_canonicalise_idempotent(raw):
    once = canonicalise(raw)
    assert canonicalise(once) == once
    assert "\r" not in once and "\x00" not in once


def _sentences(text):
    return [text[s:e] for s, e in sentence_spans(text)]


def test_sentences_abbreviations_decimals_quotes():
    text = ('Dr. Smith met Mr. Jones, e.g. at 3.5 p.m. on site etc. and left. '
            'The NHS. It said "No." Then (it ended.) Why? Yes! Well... maybe. J. Smith agreed.\nNew line')
    assert _sentences(text) == [
        "Dr. Smith met Mr. Jones, e.g. at 3.5 p.m. on site etc. and left.",
        "The NHS.", 'It said "No."', "Then (it ended.)", "Why?", "Yes!",
        "Well... maybe.", "J. Smith agreed.", "New line",
    ]


def test_sentences_range_and_empty():
    text = "  One. Two.  Three. "
    assert sentence_spans(text, 7) == [(7, 11), (13, 19)]
    assert sentence_spans("   \n\n ") == []


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab .?!\n\t\"')Dr,é😀3")), max_size=200))
def test_sentence_spans_partition_non_whitespace(raw):
    text = canonicalise(raw)
    spans = sentence_spans(text)
    covered = set()
    prev_end = 0
    for s, e in spans:
        assert prev_end <= s < e <= len(text)
        assert text[s:e] == text[s:e].strip()
        covered.update(range(s, e))
        prev_end = e
    assert all(i in covered for i, ch in enumerate(text) if not ch.isspace())


def test_find_verbatim_exact_and_tolerant():
    hay = "He said \u201cit\u2019s fine\u201d \u2014 then\n\nleft   early."
    assert find_verbatim(hay, "then") == (hay.index("then"), hay.index("then") + 4)
    s, e = find_verbatim(hay, '"it\'s fine" - then left early.')
    assert hay[s:e] == "\u201cit\u2019s fine\u201d \u2014 then\n\nleft   early."
    assert find_verbatim(hay, "not there") is None
    assert find_verbatim(hay, "   ") is None


def test_find_verbatim_prefers_hint_and_ignores_lost_spaces():
    hay = "abc yes abc yes"
    assert find_verbatim(hay, "abc", start_hint=4) == (8, 11)
    hay = "we looked at the one way table and the two-way table carefully"
    s, e = find_verbatim(hay, "looked at the oneway table and the two-way")
    assert hay[s:e] == "looked at the one way table and the two-way"


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(["alpha", "beta", "gamma", "d\u00e9j\u00e0", "\u201cq\u201d", "x\u2013y", "😀"]),
                min_size=3, max_size=30),
       st.lists(st.sampled_from([" ", "\n", "\t", "  ", "\n\n"]), min_size=30, max_size=30),
       st.data())
def test_find_verbatim_mangled_whitespace(words, seps, data):
    hay = "".join(w + s for w, s in zip(words, seps)).strip()
    i = data.draw(st.integers(0, len(words) - 1))
    j = data.draw(st.integers(i + 1, len(words)))
    needle = " ".join(words[i:j]).replace("\u201c", '"').replace("\u2013", "-")
    found = find_verbatim(hay, needle)
    assert found is not None
    s, e = found
    assert 0 <= s < e <= len(hay)
    assert " ".join(hay[s:e].split()).replace("\u201c", '"').replace("\u201d", '"').replace("\u2013", "-") \
        == " ".join(needle.split()).replace("\u201d", '"')


def test_decode_bytes_encodings():
    text = "Caf\u00e9 na\u00efve r\u00e9sum\u00e9, \u00e0 bient\u00f4t, cr\u00e8me br\u00fbl\u00e9e. " * 5
    assert decode_bytes(text.encode("utf-8"), "a.txt") == text
    assert decode_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"), "a.txt") == text
    assert decode_bytes(text.encode("utf-16"), "a.txt") == text
    assert decode_bytes(text.encode("cp1252"), "a.txt") == text


def test_decode_bytes_rejects_binary():
    with pytest.raises(ReadError) as err:
        decode_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "pic.txt")
    assert "pic.txt" in str(err.value) and "binary" in str(err.value)
    with pytest.raises(ReadError):
        decode_bytes(bytes(range(1, 9)) * 50, "ctl.txt")


def test_trim_span_is_shared_with_chunking():
    from index import chunking
    from index.text import trim_span

    assert trim_span("  ab c \n", 0, 8) == (2, 6)
    assert trim_span(" x ", 1, 2) == (1, 2)
    assert trim_span("   \n", 0, 4) is None and trim_span("abc", 2, 2) is None
    assert chunking.trim_span is trim_span and not hasattr(chunking, "_trim")
