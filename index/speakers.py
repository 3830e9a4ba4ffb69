"""Speaker turns in transcripts: who speaks where, and who is the interviewer.

Detection is line-anchored and conservative, because a false transcript is worse than a missed
one: a policy document cut into "turns" of "Note:" and "Table 2:" would be coded as speech. A
label only counts if its name recurs, and a text only counts as a transcript when at least two
distinct recurring speakers are found.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import replace

from index.types import Turn

__all__ = [
    "DEFAULT_INTERVIEWER_NAMES",
    "detect_turns",
    "mark_interviewers",
    "looks_like_transcript",
    "label_match",
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


def _candidates(text: str) -> list[tuple[int, int, int, str, str | None]]:
    """(label_start, label_end, line_end, name, time) for every line that starts with a label."""
    found = []
    for line in _LINE_RE.finditer(text):
        m = label_match(line.group(0))
        if m is None:
            continue
        lead = len(m.group(0)) - len(m.group(0).lstrip(" \t*_"))
        found.append((
            line.start() + lead, line.start() + m.end(), line.end(),
            m.group("name").strip(), m.groupdict().get("time"),
        ))
    return found


def detect_turns(text: str, interviewer: Iterable[str] | None = None) -> list[Turn]:
    """Speaker turns of a transcript, or [] if the text does not look like one.

    A label must recur (a name seen once is most likely "Summary:" style prose, unless it carries
    a timestamp), and at least two distinct recurring speakers are required. Lines without a
    label continue the current turn; text before the first label belongs to no turn. Interviewer
    flags are set by `mark_interviewers`.
    """
    cands = _candidates(text)
    counts = Counter(_norm(c[3]) for c in cands)
    recurring = {n for n, k in counts.items() if k >= 2}
    if len(recurring) < 2:
        return []
    kept = [c for c in cands if _norm(c[3]) in recurring or c[4] is not None]
    turns: list[Turn] = []
    for i, (start, label_end, _line_end, name, time) in enumerate(kept):
        limit = kept[i + 1][0] if i + 1 < len(kept) else len(text)
        end = limit
        while end > label_end and text[end - 1].isspace():
            end -= 1
        body = label_end
        while body < end and text[body].isspace():
            body += 1
        turns.append(Turn(start=start, body_start=body, end=end, speaker=name, time=time))
    return mark_interviewers(turns, text, interviewer)


def mark_interviewers(
    turns: Sequence[Turn], text: str, interviewer: Iterable[str] | None = None
) -> list[Turn]:
    """Set `is_interviewer` on each turn.

    First by name: a speaker whose name (case-insensitive, also with a trailing number dropped,
    so "Interviewer 2" matches "interviewer") is in `interviewer` (default
    DEFAULT_INTERVIEWER_NAMES). If no name matches and there are exactly two speakers, the
    question heuristic: the speaker with the clearly higher share of turns containing a "?"
    (at least 1.5x the other's share and at least 20% of their turns) asks the questions.
    With more speakers, or no clear difference, nobody is flagged: a wrong guess would hide a
    participant's words from coding, which is worse than treating the interviewer as speech.
    """
    names = {_norm(n) for n in (interviewer if interviewer is not None else DEFAULT_INTERVIEWER_NAMES)}
    speakers = {t.speaker for t in turns if t.speaker}

    def matches(speaker: str) -> bool:
        n = _norm(speaker)
        return n in names or re.sub(r"[ \t]*\d+$", "", n) in names

    flagged = {s for s in speakers if matches(s)}
    if not flagged and len(speakers) == 2:
        asker = _question_asker(turns, text)
        flagged = {asker} if asker else set()
    return [replace(t, is_interviewer=t.speaker in flagged) for t in turns]


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
