"""Pseudonymisation of text bound for a remote model. Known identifiers (participant and
organisation attributes, speaker labels that are person names, the project's extra terms) and
common patterns (emails, UK phone numbers, NHS numbers, UK postcodes) become stable tokens such as
`[PERSON_1]`; the same object maps tokens in the model's reply back to the original characters, so
evidence can be verified against the real source text.

Stability: tokens for known terms are numbered from the sorted term list, so the same project sends
the same prompt for the same excerpt (the response cache depends on it); pattern matches are
numbered in order of appearance within one `session()`."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

PATTERNS: dict[str, re.Pattern[str]] = {
    "EMAIL": re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b"),
    "NHS": re.compile(r"\b\d{3}[ -]?\d{3}[ -]?\d{4}\b"),
    "PHONE": re.compile(r"(?<![\w+])(?:\+44\s?\(?0?\)?\s?|\(?0)\d{2,4}\)?[\s-]?\d{3,4}[\s-]?\d{3,4}\b"),
    "POSTCODE": re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]?\s?\d[A-Z]{2}\b"),
}
PERSON_KEYS = ("participant", "name", "interviewee", "respondent", "person", "author")
ORG_KEYS = ("organisation", "organization", "org", "employer", "practice", "trust", "site")
GENERIC_LABELS = {"participant", "interviewer", "interviewee", "respondent", "moderator", "facilitator",
                  "researcher", "speaker", "unknown", "int", "q", "a", "i", "r"}
_TOKEN = re.compile(r"\[(PERSON|ORG|TERM|EMAIL|NHS|PHONE|POSTCODE)_(\d+)\]")


def looks_like_person(label: str, require_capitals: bool = True) -> bool:
    """Speaker labels like "Sarah Jones" or "Dr Patel", not "Participant", "P3" or "Interviewer".
    Attribute values that name a participant are taken as names whatever their case
    (`require_capitals=False`): "sarah jones" typed in a spreadsheet is still a name."""
    words = label.strip().split()
    if not words or label.strip().lower() in GENERIC_LABELS:
        return False
    if any(ch.isdigit() for ch in label):
        return False
    return all((w[:1].isupper() or not require_capitals)
               and w.replace(".", "").replace("-", "").replace("'", "").isalpha() for w in words)


# Two-letter words that are also first names or initials would pseudonymise ordinary speech.
_SHORT_WORDS = {"of", "to", "in", "on", "at", "an", "as", "be", "by", "do", "go", "he", "if", "is", "it",
                "me", "my", "no", "or", "so", "up", "us", "we", "am", "hi", "ok", "oh"}
_TITLES = ("dr", "mr", "mrs", "ms", "prof")


@dataclass
class Pseudonymiser:
    terms: dict[str, str] = field(default_factory=dict)  # surface form -> category
    use_patterns: bool = True
    _fwd: dict[str, str] = field(default_factory=dict, init=False)
    _back: dict[str, str] = field(default_factory=dict, init=False)
    _counts: dict[str, int] = field(default_factory=dict, init=False)
    _regex: re.Pattern[str] | None = field(default=None, init=False)
    _folded: dict[str, str] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        expanded: dict[str, str] = {}
        for term, cat in self.terms.items():
            term = term.strip()
            if len(term) < 2:
                continue
            expanded.setdefault(term, cat)
            if cat == "PERSON":  # people are referred to by first or last name alone ("Jo")
                for part in term.split():
                    word = part.rstrip(".").lower()
                    if len(word) >= 2 and word not in _TITLES and word not in _SHORT_WORDS:
                        expanded.setdefault(part, cat)
        self.terms = expanded
        for term in sorted(expanded, key=lambda t: (expanded[t], t)):
            self._assign(term, expanded[term])
        # names are matched whatever their case: transcripts write "SARAH:" and "sarah" too
        self._folded = {t.casefold(): self._fwd[t] for t in expanded}
        if expanded:
            alts = "|".join(re.escape(t) for t in sorted(expanded, key=len, reverse=True))
            self._regex = re.compile(rf"(?<!\w)(?:{alts})(?!\w)", re.IGNORECASE)

    def _assign(self, surface: str, cat: str) -> str:
        if surface not in self._fwd:
            self._counts[cat] = self._counts.get(cat, 0) + 1
            token = f"[{cat}_{self._counts[cat]}]"
            self._fwd[surface], self._back[token] = token, surface
        return self._fwd[surface]

    def session(self) -> "Pseudonymiser":
        """A copy with the same term tokens and fresh pattern numbering (one per prompt)."""
        clone = Pseudonymiser.__new__(Pseudonymiser)
        clone.terms, clone.use_patterns, clone._regex = self.terms, self.use_patterns, self._regex
        clone._folded = self._folded
        clone._fwd, clone._back, clone._counts = dict(self._fwd), dict(self._back), dict(self._counts)
        return clone

    def encode(self, text: str) -> str:
        # patterns first: a name inside an email address must not break the address apart
        if self.use_patterns:
            for cat, pattern in PATTERNS.items():
                text = pattern.sub(lambda m, c=cat: self._assign(m.group(0), c), text)
        if self._regex is not None:  # tokens end in "_N", so (?!\w) keeps terms out of them
            text = self._regex.sub(self._term_token, text)
        return text

    def _term_token(self, m: re.Match[str]) -> str:
        """Token for a known term in any case; decoding gives back the spelling this session saw,
        so returned evidence matches the source's own characters."""
        token = self._folded[m.group(0).casefold()]
        self._back[token] = m.group(0)
        return token

    def decode(self, text: str) -> str:
        return _TOKEN.sub(lambda m: self._back.get(m.group(0), m.group(0)), text)

    @property
    def mapping(self) -> dict[str, str]:
        """token -> original (kept in memory only; never written to the store or a log)."""
        return dict(self._back)


def project_terms(project: object) -> dict[str, str]:
    """Identifiers the project knows: person-ish and organisation attributes of sources, speaker
    labels that are names, and `settings.privacy.terms`."""
    terms: dict[str, str] = {}
    store, settings = project.store, project.settings  # type: ignore[attr-defined]
    for src in store.list_sources():
        for key, value in (src.attributes or {}).items():
            k = key.lower()
            if not value:
                continue
            if any(p in k for p in PERSON_KEYS) and looks_like_person(str(value), require_capitals=False):
                terms[str(value)] = "PERSON"
            elif any(p in k for p in ORG_KEYS):
                terms[str(value)] = "ORG"
    for speaker in store.distinct_speakers():
        if looks_like_person(speaker):
            terms.setdefault(speaker, "PERSON")
    for t in settings.privacy.terms:
        terms.setdefault(t, "TERM")
    return terms


def pseudonymiser_for(project: object) -> Pseudonymiser:
    return Pseudonymiser(project_terms(project))
