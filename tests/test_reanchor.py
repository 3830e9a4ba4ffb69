"""Re-anchoring codings by their words: the pure functions behind a re-ingest and its dry run."""

from __future__ import annotations

from assistant.corpus.reanchor import reanchor, suggest_span, word_ratio
from assistant.models import Coding
from assistant.verbatim import snap_to_words


def _coding(text: str, quote: str, cid: int = 1, occurrence: int = 0, **kw) -> Coding:
    start = -1
    for _ in range(occurrence + 1):
        start = text.index(quote, start + 1)
    return Coding(id=cid, source_id=1, code_id=1, start=start, end=start + len(quote), text=quote, coder="a", **kw)


def test_a_repeated_phrase_keeps_its_own_occurrence():
    old = "P1: Yes. The rent went up.\nP1: Yes. The damp got worse.\nP1: Yes. We moved.\n"
    new = "P1: Hello.\n" + old.replace("The damp got worse", "The damp got much worse")
    second = _coding(old, "Yes.", occurrence=1)
    [a] = reanchor(old, new, [second])
    assert a.outcome == "moved" and a.start == new.index("Yes. The damp")


def test_a_selection_that_cuts_a_word_keeps_its_cut_when_the_word_is_unchanged():
    old = "The short-term funding cuts hurt us badly."
    new = "Intro.\n" + old
    c = Coding(id=1, source_id=1, code_id=1, start=5, end=20, text=old[5:20], coder="a")
    [a] = reanchor(old, new, [c])
    assert a.outcome == "moved" and a.text == old[5:20]


def test_words_not_bytes_but_a_rewrite_is_orphaned():
    old = "Interviewer: And work?\nP1: Our short-term contract ends in March, so nobody can plan.\n"
    quote = "Our short-term contract ends in March, so nobody can plan."
    light = old.replace("short-term", "Short Term").replace(", so", " so")
    [a] = reanchor(old, light, [_coding(old, quote)])
    assert a.outcome == "moved-fuzzy" and a.ratio == 1.0 and light[a.start:a.end] == a.text
    assert a.text == "Our Short Term contract ends in March so nobody can plan."
    rewrite = "Interviewer: And work?\nP1: Honestly I would rather talk about the garden.\n"
    [b] = reanchor(old, rewrite, [_coding(old, quote)])
    assert b.outcome == "orphaned" and b.start is None


def test_an_orphan_is_searched_by_its_text_not_its_stale_offsets():
    orphan = Coding(id=7, source_id=1, code_id=1, start=500, end=520, text="damp in the bedroom", coder="a",
                    status="orphaned", source_version=1)
    [a] = reanchor("short text", "The flat had damp in the bedroom again.", [orphan])
    assert a.outcome == "moved" and a.was_orphaned and a.text == "damp in the bedroom"


def test_snap_and_suggest():
    text = "P1: The landlord never answers the phone."
    s, e = snap_to_words(text, text.index("andlord"), text.index("answers") + 3)
    assert text[s:e] == "landlord never answers"
    assert snap_to_words(text, 100, 200) is None  # outside: nothing to code, the caller refuses
    found = suggest_span(text, "the landlord never answered")
    assert found is not None and text[found[0]:found[1]] == "The landlord never answers" and found[2] > 0.8
    assert suggest_span(text, "completely different words here") is None
    assert word_ratio("short-term", "Short term") == 1.0


def test_a_text_too_big_to_align_is_still_re_anchored_by_search(monkeypatch):
    import assistant.corpus.reanchor as reanchor_module

    monkeypatch.setattr(reanchor_module, "_MAX_ALIGN_CELLS", 0)  # as for a source of 100k+ words
    old = "Header.\n" + "P1: The short-term contract ends in March, so nobody can plan ahead.\n" * 3 + "Footer.\n"
    new = "New header.\n" + old[8:-8].replace("short-term", "short term") + "New footer.\n"
    quote = "The short-term contract ends in March, so nobody can plan ahead."
    third = _coding(old, quote, occurrence=2)
    footer = _coding(old, "Footer.", cid=2)
    moved, kept = reanchor(old, new, [third, footer])
    assert moved.outcome == "moved-fuzzy" and new[moved.start:moved.end] == moved.text
    assert moved.start == [i for i in range(len(new)) if new.startswith("The short term", i)][2]
    assert kept.outcome == "moved-fuzzy" and kept.text == "footer."  # its word is still there


def test_a_deleted_short_reply_does_not_jump_onto_another_one():
    old = "Q: Rent?\nP1: Yes, exactly.\nQ: Damp?\nP1: Yes, exactly.\nQ: Noise?\nP1: Yes, exactly.\n"
    new = old.replace("Q: Damp?\nP1: Yes, exactly.\n", "")
    second = _coding(old, "Yes, exactly.", occurrence=1)
    third = _coding(old, "Yes, exactly.", cid=2, occurrence=2)
    gone, kept = reanchor(old, new, [second, third])
    assert gone.outcome == "orphaned"
    assert kept.outcome == "moved" and kept.start == new.rindex("Yes, exactly.")
