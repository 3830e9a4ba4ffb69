"""How a quote is attributed in a write-up: the analyst's template filled from the source's
attributes, with participants optionally pseudonymised.

Pseudonyms are stable by participant, not by call: "Participant 3" is the third distinct
participant in source-id order, so the same person keeps the same label across every quote,
export and session (ordering by id, not by name, means adding a source never renumbers anyone).
Template fields with no value are dropped together with the separator before them, so
"{participant}, {organisation}, {kind}" on a document without an organisation reads
"Report X, document" rather than "Report X, , document"."""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Mapping
from typing import Any

from assistant.corpus.view import participant_key
from assistant.models import Source
from assistant.settings import Settings

_FIELD_GAP = "\x00"  # marks an empty field while the template is filled


class Attributor:
    """Formats attributions for one project's sources with one settings snapshot."""

    def __init__(self, sources: Iterable[Source], settings: Settings):
        self.sources = {s.id: s for s in sources}
        self.template = settings.quotes.attribution or "{participant}"
        self.pseudonymise = settings.privacy.pseudonymise_attributions
        self._pseudonyms = self._number_participants()

    def _number_participants(self) -> dict[str, str]:
        labels: dict[str, str] = {}
        for sid in sorted(k for k in self.sources if k is not None):
            src = self.sources[sid]
            key = participant_key(src)
            if key not in labels:
                noun = "Participant" if src.kind in ("interview", "survey", "field_notes") else "Source"
                labels[key] = f"{noun} {sum(1 for v in labels.values() if v.startswith(noun)) + 1}"
        return labels

    def participant(self, source: Source) -> str:
        key = participant_key(source)
        return self._pseudonyms.get(key, key) if self.pseudonymise else key

    def fields(self, source: Source, speaker: str | None = None, page: int | None = None,
               line: int | None = None) -> dict[str, Any]:
        values: dict[str, Any] = {k: v for k, v in source.attributes.items() if not k.startswith("_")}
        who = self.participant(source)
        values.update(
            participant=who,
            source=who if self.pseudonymise else source.name,
            kind=source.kind,
            speaker=who if self.pseudonymise else (speaker or ""),
            page=f"p. {page}" if page else "",
            line=f"line {line}" if line else "",
        )
        return values

    def format(self, source_id: int, speaker: str | None = None, page: int | None = None,
               line: int | None = None) -> str:
        source = self.sources.get(source_id)
        if source is None:
            return ""
        return fill_template(self.template, self.fields(source, speaker, page, line))


def fill_template(template: str, values: Mapping[str, Any]) -> str:
    """Fill `{field}` placeholders; unknown or empty fields vanish with their leading separator."""
    out: list[str] = []
    for literal, name, spec, conv in string.Formatter().parse(template):
        out.append(literal)
        if name is None:
            continue
        value = values.get(name)
        text = "" if value in (None, "") else format(value, spec or "")
        out.append(text if text else _FIELD_GAP)
    filled = "".join(out)
    # a gap swallows the separator before it (", " / " - " / "; "), or after it at the start
    filled = re.sub(r"\s*[,;|\u2013\u2014-]?\s*\x00", "", filled)
    filled = re.sub(r"^\s*[,;|\u2013\u2014-]\s*", "", filled)
    filled = re.sub(r"\(\s*\)", "", filled)
    return re.sub(r"\s{2,}", " ", filled).strip(" ,;")


class DisplayNames:
    """Pseudonymised display: the real names a project knows (participant and other person
    attributes, speaker labels that are names) mapped to the pseudonyms its attributions use
    ("Participant 3"), for the labels a screen shows: speaker labels, attributions, source names,
    attribute values. Quoted and source text is NOT rewritten: a quote on screen stays the exact
    characters of its source (and the offsets a selection sends back stay true), so a name spoken
    inside a turn is still visible; the workspace says so where the switch is.

    A speaker whose label is a source's participant gets that participant's pseudonym; other
    named speakers get "Speaker N", numbered in sorted order so the same person keeps the same
    label across pages and sessions. A first or last name alone ("Sarah", "Jones") is masked too,
    matched whole-word in any case, as the remote-model pseudonymiser does."""

    def __init__(self, sources: Iterable[Source], speakers: Iterable[str], settings: Settings, on: bool | None = None):
        from assistant.llm.pseudonymise import PERSON_KEYS, looks_like_person

        self.on = settings.privacy.pseudonymise_display if on is None else bool(on)
        sources = list(sources)
        numbered = Attributor(sources, settings)._pseudonyms
        full: dict[str, str] = {}  # casefolded real name -> pseudonym
        for src in sources:
            key = participant_key(src)
            alias = numbered.get(key, key)
            if looks_like_person(key, require_capitals=not src.attributes.get("participant")):  # "P01" is one already
                full.setdefault(key.casefold(), alias)
            for k, v in src.attributes.items():
                value = str(v or "").strip()
                if value and any(p in k.lower() for p in PERSON_KEYS) and looks_like_person(value, require_capitals=False):
                    full.setdefault(value.casefold(), alias)
        others = sorted({s.strip() for s in speakers if s and looks_like_person(s.strip())
                         and s.strip().casefold() not in full}, key=str.casefold)
        for n, name in enumerate(others, 1):
            full.setdefault(name.casefold(), f"Speaker {n}")
        self.names = dict(full)
        parts: dict[str, str] = {}
        for name, alias in sorted(full.items()):
            for word in name.split():
                w = word.rstrip(".")
                if len(w) >= 3 and w not in ("dr", "mr", "mrs", "ms", "prof") and w not in full:
                    parts.setdefault(w, alias)
        self._lookup = {**parts, **full}
        alts = "|".join(re.escape(t) for t in sorted(self._lookup, key=len, reverse=True))
        # "_" counts as a boundary: a file named interview_sarah_jones.txt names her too
        self._regex = re.compile(rf"(?<![^\W_])(?:{alts})(?![^\W_])", re.IGNORECASE) if alts else None

    def mask(self, value: object) -> str:
        """`value` with every known real name replaced by its pseudonym (unchanged when off)."""
        text = "" if value is None else str(value)
        if not self.on or self._regex is None or not text:
            return text
        return self._regex.sub(lambda m: self._lookup.get(m.group(0).casefold(), m.group(0)), text)

    def speaker(self, label: str | None) -> str:
        """A speaker label as the screen shows it: a generic one ("Interviewer", "P3") as written."""
        return self.mask(label or "")


def display_names(project: Any, on: bool | None = None) -> DisplayNames:
    """The project's display names from its sources and speaker labels."""
    store = project.store
    return DisplayNames(store.list_sources(), store.distinct_speakers(), project.settings, on=on)
