"""The reading pane: a source's canonical text with line numbers, coding stripes in the margin,
find-in-document, and the analyst's selection sent back as character offsets.

Streamlit has no text-selection event, so the pane is a bidirectional custom component
(`selection/`): Python sends the text and the codings; the browser sends back what the analyst
did, one of
- `{"kind": "selection", "start": s, "end": e, "seq": n}`: a selection of `text[s:e]` (offsets
  into the canonical text, worked out from the DOM: every text node carries its start offset);
- `{"kind": "coding", "id": i, "seq": n}`: the analyst clicked a coding's stripe or label;
- `{"kind": "clear", "seq": n}`: the selection was dropped.
`seq` grows with every event, so two identical selections in a row are still two events.

Data never becomes markup: the page inserts every string with `textContent`, colours must be
`#RRGGBB` (checked here and again in the browser) and the component loads nothing from outside
its own folder. Offsets are exactly what the page got: snapping to words, checking and storing
are the library's job (`assistant.coding.decisions`)."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import streamlit.components.v1 as components

FOLDER = Path(__file__).resolve().parent / "selection"
_HEX = re.compile(r"^#[0-9a-fA-F]{6}$")
# a line's speaker label, as main.js finds it ("Interviewer:", "P03:", "Dr Patel:")
SPEAKER_LABEL = re.compile(r"^([A-Z][A-Za-z0-9 .'\u2019()-]{0,38}):(?=\s)", re.MULTILINE)
_component = components.declare_component("thematic_reading_pane", path=str(FOLDER))


@dataclass(frozen=True)
class Stripe:
    """One coding as the pane draws it: a stripe beside `text[start:end]` named `label`."""

    id: int
    start: int
    end: int
    label: str
    colour: str
    coder: str = ""


def _colour(value: str) -> str:
    return value if isinstance(value, str) and _HEX.match(value) else "#888888"


def speaker_labels(text: str) -> set[str]:
    """The speaker labels the pane will find at the start of the text's lines (without the colon)."""
    return {m.group(1) for m in SPEAKER_LABEL.finditer(text)}


def reading_pane(text: str, stripes: list[Stripe], *, key: str, height: int = 640, selected: int | None = None,
                 focus: tuple[int, int] | None = None, doc_key: str = "",
                 speakers: dict[str, str] | None = None) -> dict[str, Any] | None:
    """Draw the pane; return the analyst's last event (see the module docstring) or None.

    `selected`: a coding id to outline; `focus`: a span to scroll to and mark; `doc_key` changes
    when the text changes (a new source or version), so the pane knows to reset its scroll;
    `speakers`: speaker labels to draw as another name (pseudonymised display), label -> shown.
    Only the label is drawn differently: the text and every offset stay the source's own."""
    rows = [{**asdict(s), "colour": _colour(s.colour)} for s in stripes if 0 <= s.start < s.end <= len(text)]
    shown = {str(k): str(v) for k, v in (speakers or {}).items() if str(k) != str(v)}
    value = _component(text=text, codings=rows, height=int(height), selected=selected,
                       focus=list(focus) if focus else None, doc_key=doc_key, key=key, default=None, speakers=shown)
    return value if isinstance(value, dict) else None
