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
