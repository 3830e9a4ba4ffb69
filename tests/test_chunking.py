"""Chunking: excerpt invariants on random input, transcript and document behaviour."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from index.chunking import ChunkSettings, chunk, chunk_document, chunk_transcript
from index.speakers import detect_turns
from index.text import canonicalise
from index.types import Document, Page, Turn

SMALL = ChunkSettings(target_chars=60, max_chars=140, min_chars=20)


def assert_invariants(text, spans, turns=()):
    prev_end = 0
    covered = bytearray(len(text))
    for s in spans:
        assert 0 <= s.start < s.end <= len(text)
        piece = text[s.start:s.end]
        assert piece and piece == piece.strip()
        assert s.start >= prev_end, "sorted, non-overlapping"
        prev_end = s.end
        covered[s.start:s.end] = b"\x01" * (s.end - s.start)
    for t in turns:
        covered[t.start:t.body_start] = b"\x01" * (t.body_start - t.start)
    lost = [i for i, ch in enumerate(text) if not ch.isspace() and not covered[i]]
    assert not lost, f"lost characters at {lost[:5]}: {text[lost[0]:lost[0] + 20]!r}"


_pieces = st.sampled_from([
    "Dan: ", "Participant: ", "P3: ", "[00:01:02] Ann: ", "Note: ", "\r\n", "\n", "\n\n", "\t", " ",
    "Hello there.", "Why? ", "e\u0301t\u00e9 ", "😀", "Dr. Who said so. ", "x" * 300, "word " * 40,
    "Table 2: ", "\u00a0", "\r", "ab", ".", "\u200b",
])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_pieces, max_size=60), st.sampled_from([SMALL, ChunkSettings()]))
def test_invariants_on_odd_input(parts, cfg):
    text = canonicalise("".join(parts))
    turns = detect_turns(text)
    spans = chunk(Document(name="x", text=text), settings=cfg)
    assert_invariants(text, spans, turns)
    assert_invariants(text, chunk_document(text, settings=cfg))
    if turns:
        assert_invariants(text, chunk_transcript(text, turns, cfg), turns)
    for s in spans:
        assert s.end - s.start <= cfg.max_chars


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=400), st.sampled_from([SMALL, ChunkSettings()]))
def test_invariants_on_any_text(raw, cfg):
    text = canonicalise(raw)
    assert_invariants(text, chunk(Document(name="x", text=text), settings=cfg), detect_turns(text))


def test_giant_line_without_spaces_is_cut_hard():
    text = "x" * 5000
    spans = chunk_document(text)
    assert_invariants(text, spans)
    assert all(s.end - s.start <= 1600 for s in spans)


TRANSCRIPT = (
    "Focus group 2\n\n"
    "Interviewer: What did you think of the service?\n"
    "P1: Yes.\n"
    "P1: It was good. The staff were kind.\n"
    "Interviewer: And the waiting times?\n"
    "P1: " + "They were long, far too long for anyone. " * 60 + "\n"
    "Interviewer: Thank you.\n"
    "P1: Bye.\n"
)


def test_transcript_excerpts():
    text = TRANSCRIPT
    spans = chunk(Document(name="t", text=text))
    turns = detect_turns(text)
    assert_invariants(text, spans, turns)
    assert text[spans[0].start:spans[0].end] == "Focus group 2" and spans[0].speaker is None
    by_text = {text[s.start:s.end]: s for s in spans}
    q = by_text["What did you think of the service?"]
    assert q.is_interviewer and q.speaker == "Interviewer"
    merged = by_text["Yes.\nP1: It was good. The staff were kind."]
    assert merged.speaker == "P1" and not merged.is_interviewer
    assert text[merged.context_start:merged.context_end] == "What did you think of the service?"
    long_parts = [s for s in spans if text[s.start:s.end].startswith("They were long")]
    assert len(long_parts) >= 2
    for s in long_parts:
        assert text[s.start:s.end].endswith("anyone.")
        assert s.end - s.start <= 1600
        assert text[s.context_start:s.context_end] == "And the waiting times?"
    for s in spans:
        assert not text[s.start:s.end].startswith(("Interviewer:", "P1:"))


def test_interviewer_never_merged_into_answers():
    text = "Int: Q1?\nAmy: a.\nInt: Q2?\nAmy: b.\nInt: Q3?\nAmy: c."
    spans = chunk(Document(name="t", text=text))
    assert [text[s.start:s.end] for s in spans] == ["Q1?", "a.", "Q2?", "b.", "Q3?", "c."]
    assert [s.is_interviewer for s in spans] == [True, False] * 3


def test_reader_turns_with_times_are_used():
    text = "[00:00:01] Ann: Why?\n[00:00:04] Bob: Because."
    turns = [Turn(0, 16, 20, "Ann", time="00:00:01"), Turn(21, 37, 45, "Bob", time="00:00:04")]
    spans = chunk(Document(name="v", text=text, turns=turns), interviewer=["ann"])
    assert [(text[s.start:s.end], s.time, s.is_interviewer) for s in spans] == [
        ("Why?", "00:00:01", True), ("Because.", "00:00:04", False)]


def test_document_paragraphs_pages_and_merging():
    p1 = "Short heading"
    p2 = "A paragraph that is of moderate length and talks about budgets."
    p3 = "Another one. " * 200
    text = f"{p1}\n\n{p2}\n\n{p3.strip()}\n\nTail."
    pages = [Page(1, 0, len(p1) + 2 + len(p2)), Page(2, len(p1) + len(p2) + 4, len(text))]
    spans = chunk_document(text, pages)
    assert_invariants(text, spans)
    # a heading stands alone (index.front_matter), so it is never packed into the paragraph after it
    assert text[spans[0].start:spans[0].end] == p1 and text[spans[1].start:spans[1].end] == p2
    assert spans[0].page == 1 and spans[1].page == 1 and spans[2].page == 2
    assert all(s.end - s.start <= 1600 for s in spans)


def test_lines_are_paragraphs_without_blank_lines():
    text = "\n".join(f"Line {i} " + "words " * 20 for i in range(10))
    spans = chunk_document(text, settings=ChunkSettings(target_chars=300, max_chars=600, min_chars=50))
    assert_invariants(text, spans)
    assert all(text[s.start:s.end].startswith("Line") for s in spans)
    assert len(spans) == 5
