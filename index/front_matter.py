"""What an excerpt *is*: body text an analyst codes and quotes, or the furniture around it.

Transcription services open a transcript with a header block (Otter: title, date and duration,
"Keywords", "Speakers", a summary; Rev: "Transcript", file name, speaker list; Zoom and Teams:
meeting title, "started transcription", attendees) and documents open with front matter (a title
page, a table of contents) and are broken by headings. Cut into excerpts, these were proposed for
coding and offered as quotes like any answer. `excerpt_kinds` names each excerpt's kind:

- "header": a transcript's text before its first speaker turn, a turn whose "speaker" is a header
  field ("Participant: Dr A, consultant", "Date: 2 May") given once before the interview starts,
  and transcription boilerplate anywhere ("Transcribed by https://otter.ai", "[END OF RECORDING]");
- "front_matter": a document's title page (its first excerpt when every line of it is title-like)
  and tables of contents;
- "heading": a short title-like line or two on its own ("2. Background", "## Findings");
- "speaker_label": a turn with no words, only a label or timestamp ("Speaker 1  0:03");
- "body": everything else.

Conservative on purpose: a false "header" hides an answer from coding, so the rules need the
shape of a header (position and form), not just a keyword. Pure functions over excerpt texts and
their place in the source, so the chunker and the stored excerpts give the same answer."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

BODY, HEADER, FRONT_MATTER, HEADING, SPEAKER_LABEL = "body", "header", "front_matter", "heading", "speaker_label"
KINDS = (BODY, HEADER, FRONT_MATTER, HEADING, SPEAKER_LABEL)
NOT_CODABLE = frozenset({HEADER, FRONT_MATTER, HEADING, SPEAKER_LABEL})

_TIME = r"\[?\(?\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d{1,3})?\)?\]?"
_LABEL_ONLY_RE = re.compile(
    rf"^\s*(?:{_TIME}\s*)?(?:[A-Z][\w'\u2019.\-]*(?:[ \t][\w'\u2019.\-]+){{0,3}})?\s*(?:{_TIME})?\s*:?\s*$")
_TIME_RE = re.compile(_TIME)
# transcription services' boilerplate, wherever it stands
_BOILERPLATE_RE = re.compile(
    r"^\s*(?:transcribed by\s+\S*(?:otter|rev|trint|descript|temi|sonix)\S*|"
    r"\[?\(?(?:end of (?:recording|transcript|interview)|recording (?:ends?|stopped|started)[^\]\)]*|"
    r"transcription (?:ended|started)|\S.{0,60} started transcription|\S.{0,60} stopped transcription|"
    r"meeting ended[^\]\)]*)\]?\)?\.?)\s*$",
    re.IGNORECASE,
)
# "Field: value" lines of a header block
_HEADER_FIELDS = frozenset(["participant", "participants", "participant", "role", "interviewee", "interviewees", "respondent", "interviewer", "interviewers", "speakers", "speaker", "codes", "attendees", "attendee", "present", "date", "time", "duration", "location", "mode", "setting", "title", "meeting", "meeting", "title", "keywords", "summary", "transcript", "file", "recording", "recorded", "transcriber", "transcriber's", "note", "transcribers", "note", "notes", "project", "study", "id", "organisation", "organization", "role"]) | {"participant role", "speaker codes", "meeting title", "transcriber's note", "transcriber\u2019s note"}
# header fields that are never a speaker's name (a "Participant" or "Interviewer" who speaks once
# is still a speaker)
_NEVER_SPEAKERS = _HEADER_FIELDS - {"participant", "participants", "interviewee", "interviewees", "respondent",
                                    "interviewer", "interviewers", "speaker"}
_FIELD_LINE_RE = re.compile(r"^\s*([A-Za-z][A-Za-z'\u2019 ]{1,30}?)\s*:\s*\S")
_TOC_LINE_RE = re.compile(r"^\s*(?:\d+(?:\.\d+)*\.?\s+)?\S.{0,100}?(?:\s*\.{3,}\s*|\s{2,}|\t+)\d{1,4}\s*$")
_TOC_TITLE_RE = re.compile(r"^\s*(?:table of\s+)?contents\s*$", re.IGNORECASE)
_FRONT_RE = re.compile(r"(?:©|\(c\)\s*\d{4}|all rights reserved|\bisbn\b|\bdoi:)", re.IGNORECASE)
_BULLET_RE = re.compile(r"^\s*(?:[-*\u2022\u2013]|\(?[a-z0-9]\))\s")


def is_boilerplate(text: str) -> bool:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return bool(lines) and all(_BOILERPLATE_RE.match(ln) for ln in lines)


def is_label_only(text: str) -> bool:
    """No words but a label or a timestamp: "Speaker 1  0:03", "Interviewer:", "[00:01:02]"."""
    t = text.strip()
    if not t:
        return True
    if len(t) > 60 or "\n" in t:
        return False
    return bool(_LABEL_ONLY_RE.match(t)) and (bool(_TIME_RE.search(t)) or t.endswith(":"))


def is_title_line(line: str) -> bool:
    """A title or heading: short, no sentence-ending punctuation (a trailing colon counts as
    one: it introduces text), not a bullet; or a Markdown heading."""
    s = line.strip()
    if s.startswith("#"):
        return True
    if not s or len(s) > 90 or len(s.split()) > 12 or _BULLET_RE.match(s):
        return False
    return s[-1] not in ".?!;:,\u2026" and not s.endswith('."')


def _is_toc(lines: list[str]) -> bool:
    if lines and _TOC_TITLE_RE.match(lines[0]):
        return True
    hits = sum(bool(_TOC_LINE_RE.match(ln)) for ln in lines)
    return hits >= 3 and hits >= 0.6 * len(lines)


def _is_header_block(lines: list[str]) -> bool:
    """A transcript's opening lines that are header-shaped: field lines, title lines, a time."""
    return all(_header_line(ln) for ln in lines)


def _header_line(line: str) -> bool:
    m = _FIELD_LINE_RE.match(line)
    if m and m.group(1).strip().lower() in _HEADER_FIELDS:
        return True
    if line.count(",") >= 3 and line.strip()[-1:] not in ".?!":  # Otter's "SUMMARY KEYWORDS" line
        return True
    return is_title_line(line) or bool(_TIME_RE.search(line)) or is_boilerplate(line) or len(line.split()) <= 14


def excerpt_kinds(texts: Sequence[str], speakers: Sequence[str | None]) -> list[str]:
    """The kind of each excerpt of ONE source, given in source order (texts and speakers)."""
    n = len(texts)
    kinds = [BODY] * n
    transcript = sum(1 for s in speakers if s) >= 2 and len({s for s in speakers if s}) >= 2
    first_turn = next((i for i, s in enumerate(speakers) if s), n)
    counts = Counter(s for s in speakers if s)
    for i, (text, speaker) in enumerate(zip(texts, speakers)):
        lines = [ln for ln in text.splitlines() if ln.strip()]
        if is_boilerplate(text):
            kinds[i] = HEADER
        elif speaker and is_label_only(text):
            kinds[i] = SPEAKER_LABEL
        elif transcript and not speaker and i < first_turn:
            kinds[i] = HEADER if _is_header_block(lines) else BODY
        elif (transcript and speaker and counts[speaker] == 1 and speaker.strip().lower() in _NEVER_SPEAKERS
              and i <= first_turn + 1):
            kinds[i] = HEADER  # "Participant: Head of Service, ..." read as a turn
        elif not speaker and _is_toc(lines) or not transcript and not speaker and i == 0 and lines and all(is_title_line(ln) for ln in lines) or not speaker and not transcript and i < 3 and lines and _FRONT_RE.search(text) and len(text) < 400:
            kinds[i] = FRONT_MATTER
        elif not speaker and 0 < len(lines) <= 2 and all(is_title_line(ln) for ln in lines):
            kinds[i] = HEADING
    return kinds


def is_standalone_block(block: str) -> bool:
    """A paragraph block that must not be packed with the text after it: a table of contents, or
    one to three title-like lines (a heading, a title page's lines)."""
    lines = [ln for ln in block.splitlines() if ln.strip()]
    if not lines:
        return False
    if _is_toc(lines):
        return True
    return len(lines) <= 3 and all(is_title_line(ln) for ln in lines)


def split_trailing_boilerplate(text: str, start: int, end: int) -> tuple[int, int] | None:
    """(end of the words before, start of the trailer) when text[start:end] ends, after a blank
    line, in transcription boilerplate lines; None otherwise."""
    chunk = text[start:end]
    k = chunk.rfind("\n\n")
    while k > 0:
        tail = chunk[k:].strip()
        head = chunk[:k].rstrip()
        if tail and head and is_boilerplate(tail):
            return start + len(head), start + chunk.index(tail, k)
        k = chunk.rfind("\n\n", 0, k)
    return None
