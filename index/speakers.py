"""Speaker turns in transcripts: who speaks where, and who is the interviewer.

Detection is line-anchored and conservative about *whether* a text is a transcript, because a
false transcript is worse than a missed one: a policy document cut into "turns" of "Note:" and
"Table 2:" would be coded as speech. A text has turns only when at least two distinct speaker
names recur. Once it has, every line-start label of the same form as the recurring ones is a
turn, however often its name occurs: in a focus group the participant who speaks once is still a
speaker, and folding their words into the previous turn would file them under someone else
(or under the moderator, hiding them from coding). Lines that look like a turn but could not be
read as one are reported by `turn_notes`, so the analyst hears about them.
"""

from __future__ import annotations

import difflib
import re
from bisect import bisect_right
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import NamedTuple

from index.text import line_number
from index.types import Turn

__all__ = [
    "DEFAULT_INTERVIEWER_NAMES",
    "detect_turns",
    "label_match",
    "looks_like_transcript",
    "mark_interviewers",
    "turn_notes",
]

DEFAULT_INTERVIEWER_NAMES: tuple[str, ...] = (
    "interviewer", "int", "i", "q", "moderator", "facilitator", "researcher", "interviewer 1",
)

_TIME = r"\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d{1,3})?"
# 1-4 words; each word starts with a letter or digit. Capitalisation is checked in _valid_name.
_NAME = r"[^\W_][\w'\u2019.\-]*(?:[ \t][\w'\u2019.\-]+){0,3}"
_LEAD = r"^[ \t]*(?:[*_]{1,2})?"
_LABEL_PATTERNS: tuple[re.Pattern[str], ...] = (
    # [00:01:02] Name:  /  (00:01:02) Name:
    re.compile(_LEAD + rf"[\[(](?P<time>{_TIME})[\])][ \t]*(?P<name>{_NAME})[ \t]*(?:[*_]{{1,2}})?:(?=\s|$)"),
    # Name [00:01:02]:  /  Name (00:01:02)
    re.compile(_LEAD + rf"(?P<name>{_NAME})[ \t]*[\[(](?P<time>{_TIME})[\])][ \t]*(?:[*_]{{1,2}})?:?(?=\s|$)"),
    # Otter: "Name 02:57" or "Name  0:02" alone on a line, words on the following lines
    re.compile(_LEAD + rf"(?P<name>{_NAME})[ \t]+(?P<time>{_TIME})[ \t]*$"),
    # Name:  (colon then whitespace or end of line, so "http://x" and "10:30" never match)
    re.compile(_LEAD + rf"(?P<name>{_NAME})[ \t]*(?:[*_]{{1,2}})?:(?:[*_]{{1,2}})?(?=\s|$)"),
)
_LINE_RE = re.compile(r"[^\n]+")
# Words that open document labels ("Note:", "Table 2:", "Recommendation 3:"), never speakers.
_STOP_WORDS = frozenset(
    """note notes nb table figure fig chart box graph recommendation recommendations section
    chapter part appendix annex article clause paragraph page source sources example examples
    step steps stage phase priority priorities objective objectives aim aims goal goals purpose
    outcome outcomes result results finding findings conclusion conclusions summary abstract
    background introduction method methods methodology discussion limitations keywords key
    definition definitions action actions theme themes principle principles policy option
    options tip tips warning caution important update status date time location venue subject
    re from to cc bcc title author authors editor contact email tel phone fax website url
    address ref reference references version status total subtotal item items case cases
    criteria criterion evidence rationale scope context issue issues risk risks level
    the an this that these those it there here however therefore thus also so and but or
    if when where what why how which who whom we our they their you your he she his her
    yes no ok okay well""".split()
)
_QUESTION_RE = re.compile(r"\?")


def label_match(line: str) -> re.Match[str] | None:
    """The first label pattern matching at the start of `line` whose name looks like a speaker.

    Exposed so readers (the PDF reader rejoining wrapped lines) use the same idea of a label."""
    for pattern in _LABEL_PATTERNS:
        m = pattern.match(line)
        if m and _valid_name(m.group("name")):
            return m
    return None


def _valid_name(name: str) -> bool:
    """A speaker name: capitalised words or numbers ("Dr Smith", "Speaker 2", "P3", "INT").

    Why: sentence fragments before a colon ("The aim was clear:") contain lower-case words;
    document labels open with a stop-listed word."""
    words = name.split()
    if not words or len(name) > 40:
        return False
    first = words[0].strip(".").lower()
    if first in _STOP_WORDS:
        return False
    if not words[0][0].isupper():
        return False
    return all(w[0].isupper() or w[0].isdigit() for w in words[1:])


def _norm(name: str) -> str:
    return " ".join(name.split()).casefold()


class _Label(NamedTuple):
    """A line that starts with a speaker label. `form` is which label pattern matched and the
    markup around it ("**"), so "**Alice:**" and "[00:01] Alice:" are different forms."""

    start: int
    label_end: int
    name: str
    time: str | None
    form: tuple[int, str]


def _candidates(text: str) -> list[_Label]:
    """Every line of `text` that starts with a label."""
    found = []
    for line in _LINE_RE.finditer(text):
        m = label_match(line.group(0))
        if m is None:
            continue
        head = m.group(0)
        lead = len(head) - len(head.lstrip(" \t*_"))
        found.append(_Label(
            line.start() + lead, line.start() + m.end(), m.group("name").strip(),
            m.groupdict().get("time"), (_LABEL_PATTERNS.index(m.re), head[:lead].strip()),
        ))
    return found


def _turn_labels(text: str) -> list[_Label]:
    """The labels that start turns: [] unless two distinct names recur (the text has turns);
    then every label with a recurring name or a timestamp, and, once the turns have begun (at
    the first recurring name), every label of the form of a recurring one. Before that is the
    header block ("Duration: 47 min", "Mode: Teams"), whose labels are not speakers."""
    if text.count("\n") < 3:  # two recurring names need four lines: most survey answers end here
        return []
    cands = _candidates(text)
    counts = Counter(_norm(c.name) for c in cands)
    recurring = {n for n, k in counts.items() if k >= 2}
    if len(recurring) < 2:
        return []
    first = min(c.start for c in cands if _norm(c.name) in recurring)
    forms = {c.form for c in cands if _norm(c.name) in recurring}
    return [
        c for c in cands
        if _norm(c.name) in recurring or c.time is not None or (c.form in forms and c.start > first)
    ]


def detect_turns(text: str, interviewer: Iterable[str] | None = None) -> list[Turn]:
    """Speaker turns of a transcript, or [] if the text does not look like one.

    See the module docstring for which labels count. Lines without a label continue the
    current turn; text before the first label belongs to no turn. Interviewer flags are set by
    `mark_interviewers`.
    """
    kept = _turn_labels(text)
    turns: list[Turn] = []
    for i, label in enumerate(kept):
        limit = kept[i + 1].start if i + 1 < len(kept) else len(text)
        end = limit
        while end > label.label_end and text[end - 1].isspace():
            end -= 1
        body = label.label_end
        while body < end and text[body].isspace():
            body += 1
        turns.append(Turn(start=label.start, body_start=body, end=end, speaker=label.name, time=label.time))
    return mark_interviewers(turns, text, interviewer) if turns else []


def mark_interviewers(
    turns: Sequence[Turn], text: str, interviewer: Iterable[str] | None = None
) -> list[Turn]:
    """Set `is_interviewer` on each turn.

    First by name: a speaker whose name (case-insensitive, also with a trailing number dropped,
    so "Interviewer 2" matches "interviewer") is in `interviewer` (default
    DEFAULT_INTERVIEWER_NAMES). If no name matches and it is a two-person interview, the
    question heuristic: of the two, the speaker with the clearly higher share of turns
    containing a "?" (at least 1.5x the other's share and at least 20% of their turns) asks the
    questions. A two-person interview is two speakers, or two speakers holding all but a few
    (<= 5%) single turns (a misspelt label, a one-line interjection), which are never flagged.
    Otherwise (a focus group), or with no clear difference, nobody is flagged: a wrong guess
    would hide a participant's words from coding, worse than treating the interviewer as speech.
    """
    names = {_norm(n) for n in (interviewer if interviewer is not None else DEFAULT_INTERVIEWER_NAMES)}
    speakers = {t.speaker for t in turns if t.speaker}

    def matches(speaker: str) -> bool:
        n = _norm(speaker)
        return n in names or re.sub(r"[ \t]*\d+$", "", n) in names

    flagged = {s for s in speakers if matches(s)}
    if not flagged:
        pair = _interview_pair(turns)
        asker = _question_asker([t for t in turns if t.speaker in pair], text) if pair else None
        flagged = {asker} if asker else set()
    return [replace(t, is_interviewer=t.speaker in flagged) for t in turns]


def _interview_pair(turns: Sequence[Turn]) -> set[str] | None:
    """The two speakers of a two-person interview (see `mark_interviewers`), else None."""
    counts = Counter(t.speaker for t in turns if t.speaker)
    pair = {s for s, n in counts.items() if n >= 2} if len(counts) > 2 else set(counts)
    if len(pair) != 2:
        return None
    stray = sum(n for s, n in counts.items() if s not in pair)
    return pair if stray <= 0.05 * sum(counts.values()) else None


def _question_asker(turns: Sequence[Turn], text: str) -> str | None:
    asked: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for t in turns:
        if t.speaker is None:
            continue
        stats = asked[t.speaker]
        stats[1] += 1
        if _QUESTION_RE.search(text, t.body_start, t.end):
            stats[0] += 1
    shares = sorted(((q / n, s) for s, (q, n) in asked.items() if n), reverse=True)
    if len(shares) != 2:
        return None
    (top, who), (other, _) = shares
    if top >= 0.2 and top >= 1.5 * other:
        return who
    return None


def looks_like_transcript(turns: Sequence[Turn], text: str) -> bool:
    """Whether to treat the text as speech rather than as a document.

    Needs two or more speakers, at least three turns, and the turns must hold most (>= 60%) of
    the text's non-whitespace characters -- a report quoting a short exchange stays a document.
    """
    if len(turns) < 3 or len({t.speaker for t in turns if t.speaker}) < 2:
        return False
    total = len("".join(text.split()))
    inside = sum(len("".join(text[t.start:t.end].split())) for t in turns)
    return total > 0 and inside / total >= 0.6


# --- notes for the analyst -----------------------------------------------------------------------

_MAX_LINE_NOTES = 5
_MAX_ONCE_NAMES = 8
# A line opening like a label but not read as one: any case, or no space after the colon
# ("bob: yes", "Bob:yes", "Bob; yes"). Only reported when the name is one of the speakers.
_LOOSE_LABEL_RE = re.compile(
    _LEAD + rf"(?:[\[(]{_TIME}[\])][ \t]*)?(?P<name>{_NAME})[ \t]*(?:[*_]{{1,2}})?[ \t]*[:;\uff1a]"
)
_SENTENCE_END = ".!?\u2026\"'\u201d\u2019)\\]"


def _base(name: str) -> str:
    """A speaker name without case or a trailing number: "Participant 3" -> "participant"."""
    return re.sub(r"[ \t]*\d+$", "", _norm(name)) or _norm(name)


def _snippet(text: str, start: int) -> str:
    end = text.find("\n", start)
    line = text[start:end if end >= 0 else len(text)].strip()
    return line if len(line) <= 40 else line[:40].rstrip() + "\u2026"


def turn_notes(text: str) -> list[str]:
    """What the analyst should check about the speaker turns read from `text`: one plain
    sentence each, without the file name. [] when the text is not read as a transcript.

    Why: turn detection decides whose words are whose, and a line it could not read as a turn
    silently joins the turn before it, so someone's words are filed under another speaker (or
    the interviewer, and skipped by coding). Reported: speakers heard only once (read as
    speakers; a heading inside an answer would look the same), lines that open with a speaker's
    name but not in the form of a turn ("bob: yes", "Bob:yes", a label styled unlike the
    others), and a speaker's label in the middle of a line ("...that was it. Bob: I agree")."""
    turns = detect_turns(text)
    if not looks_like_transcript(turns, text):
        return []
    notes: list[str] = []
    counts = Counter(_norm(t.speaker or "") for t in turns)
    recurring = sorted({t.speaker for t in turns if t.speaker and counts[_norm(t.speaker)] >= 2})
    once = [t for t in turns if t.speaker and counts[_norm(t.speaker)] == 1]
    if once:
        parts = []
        for t in once[:_MAX_ONCE_NAMES]:
            close = _misspelt(t.speaker or "", recurring)
            hint = f", a misspelt '{close}'?" if close else ""
            parts.append(f"'{t.speaker}' (line {line_number(text, t.start)}{hint})")
        more = f" and {len(once) - _MAX_ONCE_NAMES} more" if len(once) > _MAX_ONCE_NAMES else ""
        who = "a speaker who speaks" if len(once) == 1 else "speakers who speak"
        notes.append(
            f"read as {who} only once: " + ", ".join(parts) + more
            + "; check that these lines are turns, not headings inside an answer"
        )
    suspects = _unparsed_lines(text, turns)
    for offset, why in suspects[:_MAX_LINE_NOTES]:
        owner = _owner(turns, offset)
        where = f"part of {owner}'s turn" if owner else "outside any turn"
        notes.append(
            f"line {line_number(text, offset)} ('{_snippet(text, offset)}') looks like a speaker turn "
            f"but was not read as one ({why}); its words are {where}"
        )
    if len(suspects) > _MAX_LINE_NOTES:
        notes.append(f"{len(suspects) - _MAX_LINE_NOTES} more lines look like unread speaker turns")
    return notes


def _misspelt(name: str, recurring: Sequence[str]) -> str | None:
    """The recurring speaker whose name `name` probably misspells ("Particpant"), if any.
    Names that differ only in their numbers ("P1 ...", "P6 ...") are different people."""
    digitless = re.sub(r"\d", "", name)
    others = [r for r in recurring if re.sub(r"\d", "", r) != digitless]
    close = difflib.get_close_matches(name, others, n=1, cutoff=0.8)
    return close[0] if close else None


def _owner(turns: Sequence[Turn], offset: int) -> str | None:
    i = bisect_right([t.start for t in turns], offset) - 1
    return turns[i].speaker if i >= 0 and offset < turns[i].end else None


def _unparsed_lines(text: str, turns: Sequence[Turn]) -> list[tuple[int, str]]:
    """(offset, reason) of each line that looks like an unread turn; see `turn_notes`."""
    starts = {t.start for t in turns}
    bases = {_base(t.speaker) for t in turns if t.speaker}
    names = sorted({t.speaker for t in turns if t.speaker}, key=len, reverse=True)
    mid_re = re.compile(
        rf"(?<=[{_SENTENCE_END}])[ \t]+(?P<name>{'|'.join(map(re.escape, names))}):(?=[ \t])"
    )
    found: list[tuple[int, str]] = []
    for line in _LINE_RE.finditer(text):
        lead = len(line.group(0)) - len(line.group(0).lstrip(" \t*_"))
        at = line.start() + lead
        strict = label_match(line.group(0))
        if at not in starts and at > turns[0].start:
            loose = _LOOSE_LABEL_RE.match(line.group(0))
            if strict is not None:
                found.append((line.start(), "its label is written unlike the other speakers' labels"))
                continue
            if loose is not None and _base(loose.group("name")) in bases:
                found.append((line.start(), "a speaker's name, but not in the form of a label"))
                continue
        mid = mid_re.search(text, line.start() + (strict.end() if strict else lead), line.end())
        if mid is not None:
            found.append((mid.start("name"), f"'{mid.group('name')}:' in the middle of a line"))
    return found
