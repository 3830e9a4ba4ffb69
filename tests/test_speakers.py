"""Speaker turn detection: common transcript forms in, document prose not mistaken for speech."""

from __future__ import annotations

import pytest

from index.speakers import (
    detect_turns,
    looks_like_transcript,
    mark_interviewers,
    turn_notes,
)


def _labels(text, **kw):
    return [(t.speaker, t.time, text[t.body_start:t.end]) for t in detect_turns(text, **kw)]


@pytest.mark.parametrize("text, expected", [
    ("Interviewer: How was it?\nP3: Fine, mostly.\nInterviewer: Why?\nP3: Staff.",
     [("Interviewer", None, "How was it?"), ("P3", None, "Fine, mostly."), ("Interviewer", None, "Why?"),
      ("P3", None, "Staff.")]),
    ("[00:01:02] Dr Smith: Hello?\n[00:01:05] Speaker 2: Hi.\n[00:01:09] Dr Smith: Ok?\n[00:01:10] Speaker 2: Yes.",
     [("Dr Smith", "00:01:02", "Hello?"), ("Speaker 2", "00:01:05", "Hi."), ("Dr Smith", "00:01:09", "Ok?"),
      ("Speaker 2", "00:01:10", "Yes.")]),
    ("(00:00:01) INT: Go on?\n(00:00:04) Participant: Well...\n(00:00:09) INT: And?\n(00:00:10) Participant: Done.",
     [("INT", "00:00:01", "Go on?"), ("Participant", "00:00:04", "Well..."), ("INT", "00:00:09", "And?"),
      ("Participant", "00:00:10", "Done.")]),
    ("Ann [00:00:01]: Start?\nBob [00:00:03]: Ok.\nAnn [00:00:05]: Next?\nBob [00:00:07]: Fine.",
     [("Ann", "00:00:01", "Start?"), ("Bob", "00:00:03", "Ok."), ("Ann", "00:00:05", "Next?"),
      ("Bob", "00:00:07", "Fine.")]),
    ("Ann Lee  0:02\nSo what do you think?\n\nBob 02:57\nI think\nit works.\n\nAnn Lee  3:10\nWhy?\n\nBob 03:15\nCost.",
     [("Ann Lee", "0:02", "So what do you think?"), ("Bob", "02:57", "I think\nit works."),
      ("Ann Lee", "3:10", "Why?"), ("Bob", "03:15", "Cost.")]),
    ("Q: Your role?\nA: Nurse.\nQ: Years?\nA: Ten.",
     [("Q", None, "Your role?"), ("A", None, "Nurse."), ("Q", None, "Years?"), ("A", None, "Ten.")]),
])
def test_forms(text, expected):
    assert _labels(text) == expected


def test_offsets_continuations_and_preamble():
    text = ("Interview 4\n\nDan: First question?\n  \nParticipant: An answer\nthat continues.\n\n"
            "Dan: Thanks.\nParticipant: Bye.\n")
    turns = detect_turns(text)
    assert [t.speaker for t in turns] == ["Dan", "Participant", "Dan", "Participant"]
    p = turns[1]
    assert text[p.start:p.body_start] == "Participant: "
    assert text[p.body_start:p.end] == "An answer\nthat continues."
    assert turns[0].end == text.index("?") + 1
    assert turns[-1].end == len(text) - 1


def test_policy_document_is_not_a_transcript():
    text = (
        "Recommendation 3: Councils should pool budgets.\n"
        "Note: figures are provisional.\n"
        "The aim was clear: reduce admissions.\n"
        "Table 2: Admissions by ward.\n"
        "Note: see annex.\n"
        "Recommendation 4: Share data.\n"
        "Source: NHS Digital.\nSource: ONS.\n"
    )
    turns = detect_turns(text)
    assert turns == []
    assert not looks_like_transcript(turns, text)


def test_single_label_is_not_a_transcript():
    assert detect_turns("Summary: one.\nSummary: two.\nBackground: x") == []
    assert detect_turns("Dan: hi\nDan: again\nAnn: once") == []


def test_short_quoted_exchange_in_report_stays_a_document():
    body = "This report describes the programme in detail. " * 40
    text = body + "\nAnn: Hi?\nBob: Yes.\nAnn: Ok?\nBob: No.\n" + body
    turns = detect_turns(text)
    assert len(turns) == 4
    assert not looks_like_transcript(turns, text)


def test_interviewer_by_name_default_and_custom():
    text = "Researcher: How?\nP1: Like this.\nResearcher: Why?\nP1: Because."
    assert {t.speaker for t in detect_turns(text) if t.is_interviewer} == {"Researcher"}
    text = "Dan: So it was ok.\nParticipant: Yes it was ok.\nDan: Good.\nParticipant: Sure."
    assert {t.speaker for t in detect_turns(text, interviewer=["dan"]) if t.is_interviewer} == {"Dan"}
    text2 = "Interviewer 2: Hm.\nAmy: Yes.\nInterviewer 2: Hm.\nAmy: Yes."
    assert {t.speaker for t in detect_turns(text2) if t.is_interviewer} == {"Interviewer 2"}


def test_interviewer_by_question_heuristic():
    text = ("Dan: What do you use?\nSam: Mostly plots.\nDan: Why those?\nSam: They are quick.\n"
            "Dan: Okay. And the others?\nSam: Rarely, maybe once a week?\n")
    turns = detect_turns(text)
    assert {t.speaker for t in turns if t.is_interviewer} == {"Dan"}
    assert looks_like_transcript(turns, text)


def test_no_interviewer_when_unclear():
    text = "Ann: Yes.\nBob: No.\nAnn: Maybe.\nBob: Fine."
    assert not any(t.is_interviewer for t in detect_turns(text))
    three = "Ann: Why?\nBob: No.\nCat: Hm.\nAnn: How?\nBob: So.\nCat: Ok."
    assert not any(t.is_interviewer for t in mark_interviewers(detect_turns(three), three))


FOCUS = ("Study 3, group 2\nDuration: 47 min\nMode: Teams\n\n"
         "Moderator: What do you think?\nAlice: I liked it.\nBob: Too far.\nCarol: Never heard of it.\n"
         "Moderator: Why?\nBob: No leaflets.\n")


def test_speaker_heard_once_is_a_turn_but_header_labels_are_not():
    turns = detect_turns(FOCUS)
    assert [t.speaker for t in turns] == ["Moderator", "Alice", "Bob", "Carol", "Moderator", "Bob"]
    assert {t.speaker for t in turns if t.is_interviewer} == {"Moderator"}
    assert FOCUS[turns[1].body_start:turns[1].end] == "I liked it."


def test_label_in_another_form_is_not_a_turn_and_is_reported():
    text = FOCUS + "**Dave:** Me too.\n"
    assert "Dave" not in {t.speaker for t in detect_turns(text)}
    line = [n for n in turn_notes(text) if n.startswith("line 11")]
    assert line == [("line 11 ('**Dave:** Me too.') looks like a speaker turn but was not read as one "
                     "(its label is written unlike the other speakers' labels); its words are part of Bob's turn")]


def test_turn_notes():
    assert turn_notes("A report.\n\nNote: nothing here.\n") == []
    notes = turn_notes(FOCUS + "alice: Me again.\nBob: Yes. Carol: And me.\n")
    assert notes[0].startswith("read as speakers who speak only once: 'Alice' (line 6), 'Carol' (line 8);")
    assert notes[1] == ("line 11 ('alice: Me again.') looks like a speaker turn but was not read as one "
                        "(a speaker's name, but not in the form of a label); its words are part of Bob's turn")
    assert notes[2] == ("line 12 ('Carol: And me.') looks like a speaker turn but was not read as one "
                        "('Carol:' in the middle of a line); its words are part of Bob's turn")
    typo = "Dan: Hi?\nParticipant: Hi.\nDan: Ok?\nParticpant: Yes.\nDan: So?\nParticipant: No.\n"
    assert turn_notes(typo) == [("read as a speaker who speaks only once: 'Particpant' (line 4, a misspelt "
                                 "'Participant'?); check that these lines are turns, not headings inside an answer")]


def test_question_heuristic_ignores_a_stray_single_turn_but_not_a_focus_group():
    pairs = "".join(f"Dan: Question {i}?\nSam: Answer {i}.\n" for i in range(12))
    text = pairs + "Sma: A typo.\n" + pairs
    turns = detect_turns(text)
    assert {t.speaker for t in turns if t.is_interviewer} == {"Dan"}
    group = "Dan: Why?\nAnn: Cost.\nBob: Time.\nCat: Both.\nDan: And?\nAnn: Nothing.\n"
    assert not any(t.is_interviewer for t in detect_turns(group))
