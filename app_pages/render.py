"""The one rendering layer for untrusted text in the workspace.

Everything the workspace shows that came from outside the code (source text and names, attributes,
codebooks, code colours, analyst notes, model output, settings, error messages quoting any of
those) is data: it must appear as the characters it is, never as live markup. Streamlit renders
Markdown in far more places than `st.markdown` (captions, alerts, toasts, button, expander, tab,
radio and page-link labels, metric labels), and its Markdown shows images, links, colour
directives, icons and LaTeX; `st.html` shows whatever HTML it is given. So pages never put data
into either directly; they go through this module:

- `label(x)` / `md(x)`: escaped Markdown (every ASCII punctuation character backslash-escaped, and
  the URL/e-mail shapes GFM would turn into links broken with an invisible word joiner), for
  labels, captions, alerts and toasts; `label` is one line, `md` keeps line breaks.
- `text(x)` / `caption(x)` / `html_text(x)`: a block of data as escaped HTML, white space kept.
- `safe_colour(x)`: a code colour is used in a style attribute only when it is `#RRGGBB`.
- `chip_html`, `highlight_html`, `source_html`, `excerpt_html`, `quote_html`: the HTML the pages
  build around data, each escaping every character of it.

Pseudonymised display (`privacy.pseudonymise_display`): `name(x)` is the one place a real name
becomes its pseudonym. `label`, `caption`, speaker labels in `source_html` / `context_html` pass
through it, so attributions, speaker, participant and source names are masked on every page that
uses them; quoted and source text (`quote_html`, `highlight_html`, `text`, `md`) stays verbatim.
`use_display_names` sets the masking for the current script run (each run sets it afresh).

Plain-text widgets (selectbox and multiselect options, text inputs, data frames, `st.code`,
`st.json`) show their values as text and need nothing from here."""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from itertools import pairwise

import streamlit as st

from assistant.models import Code, Coding, Excerpt, Source
from assistant.writing.attribution import DisplayNames

HEX_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
NEUTRAL = "#888888"
WORD_JOINER = "\u2060"  # zero-width, not shown, not a space: breaks a link shape without changing what is read

_MD_PUNCT = re.compile(r"([!-/:-@\[-`{-~])")  # every ASCII punctuation character (CommonMark escapes them all)
# GFM turns these shapes into links even when escaped (it finds them in the text after parsing)
_LINK_SHAPES = re.compile(r"(?i)(?<=:)(?=//)|(?<=\bwww)(?=\.)|(?<=@)(?=[\w-])")


_DISPLAY: ContextVar[DisplayNames | None] = ContextVar("thematic_display_names", default=None)


# -- pseudonymised display --------------------------------------------------------------------------
def use_display_names(names: DisplayNames | None) -> None:
    """The project's display names for this script run (None: names as written)."""
    _DISPLAY.set(names)


def pseudonymised() -> bool:
    names = _DISPLAY.get()
    return bool(names is not None and names.on)


def name(value: object) -> str:
    """A speaker, participant, attribution or source name as the screen shows it: its pseudonym
    when pseudonymised display is on, else as written. Plain text: escape it as usual."""
    names = _DISPLAY.get()
    text = "" if value is None else str(value)
    return names.mask(text) if names is not None else text


# -- Markdown, for the places Streamlit reads Markdown ----------------------------------------------
def md(value: object) -> str:
    """`value` as Markdown that shows exactly its characters: no emphasis, links, images, HTML,
    headings, lists, icons, colour directives or maths. Line breaks are kept as line breaks."""
    s = "" if value is None else str(value)
    s = _LINK_SHAPES.sub(WORD_JOINER, s.replace("\r\n", "\n").replace("\r", "\n"))
    s = _MD_PUNCT.sub(r"\\\1", s)
    # leading spaces would make an indented code block; a non-breaking space keeps the indent as text
    s = "\n".join(re.sub(r"^ +", lambda m: "\u00a0" * len(m.group(0)), line) for line in s.split("\n"))
    return s.replace("\n", "  \n")


def label(value: object, limit: int | None = None) -> str:
    """`value` as escaped Markdown on one line, for widget labels, radio options, captions, alerts
    and toasts. `limit` cuts long values (with an ellipsis) before escaping."""
    s = " ".join(name(value).split())
    if limit is not None and len(s) > limit:
        s = s[: limit - 1].rstrip() + "…"
    return md(s)


def caption(value: object) -> None:
    """A caption made only of data (names in it shown as pseudonyms when display is pseudonymised)."""
    st.caption(md(name(value)))


# -- HTML, for the blocks the pages draw themselves -------------------------------------------------
def html_text(value: object) -> str:
    """Every character of `value` escaped for HTML text or a quoted attribute."""
    return html.escape("" if value is None else str(value), quote=True)


def text(value: object, *, muted: bool = False, small: bool = False) -> None:
    """A block of data (a definition, a rationale, a summary, a model's answer) shown as written:
    white space and line breaks kept, nothing interpreted."""
    colour = "color:#5b6670;" if muted else ""
    size = "font-size:0.875rem;" if small else ""
    st.html(f'<div style="white-space:pre-wrap;line-height:1.55;margin:0 0 0.5rem 0;{colour}{size}">'
            f"{html_text(value)}</div>")


def safe_colour(value: object) -> str:
    """A code colour fit for a style attribute: `#RRGGBB` as given, anything else the neutral grey.
    Colours are checked when a codebook is imported, and again here, since an older project or
    another tool may have stored anything."""
    s = value.strip() if isinstance(value, str) else ""
    return s if HEX_COLOUR.match(s) else NEUTRAL


def rgba(colour: object, alpha: float = 0.35) -> str:
    """A code colour as a translucent highlight, so text stays readable on any code colour."""
    c = safe_colour(colour)
    r, g, b = (int(c[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{float(alpha):g})"


def chip_html(name: object, colour: object, new: bool = False) -> str:
    """A code name in a pill of its colour. `new`: a code the AI proposed that is not in the
    codebook yet, drawn dashed and labelled NEW so it never passes for a real code."""
    c = safe_colour(colour)
    border = f"1px dashed {c}" if new else f"1px solid {c}"
    badge = ('<b style="font-size:0.75em;letter-spacing:0.04em;color:#8a4b00;margin-right:5px">NEW CODE</b>'
             if new else "")
    return (f'<span style="display:inline-block;padding:1px 8px;margin:2px 4px 2px 0;border-radius:10px;'
            f'background:{rgba(c, 0.25)};border:{border};font-size:0.85em">{badge}{html_text(name)}</span>')


def chips(items: Iterable[tuple[object, object]]) -> None:
    """Code chips in a row: (name, colour) pairs."""
    body = "".join(chip_html(name, colour) for name, colour in items)
    if body:
        st.html(body)


# -- highlighted text --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Mark:
    start: int
    end: int
    label: str
    colour: str


def _segments(start: int, end: int, marks: Sequence[Mark], cited: tuple[int, int] | None):
    cuts = {start, end}
    for m in marks:
        cuts.update(x for x in (m.start, m.end) if start < x < end)
    if cited:
        cuts.update(x for x in cited if start < x < end)
    points = sorted(cuts)
    for a, b in pairwise(points):
        on = [m for m in marks if m.start < b and m.end > a]
        yield a, b, on, bool(cited and cited[0] < b and cited[1] > a)


def highlight_html(text: str, start: int, end: int, marks: Sequence[Mark],
                   cited: tuple[int, int] | None = None, anchor: str | None = "cited") -> str:
    """`text[start:end]` (offsets into the whole source text) as escaped HTML with each mark in its
    code's colour; the cited span gets an outline and, once, the id `anchor` to scroll to."""
    out: list[str] = []
    anchored = False
    for a, b, on, is_cited in _segments(start, end, marks, cited):
        piece = html_text(text[a:b])
        if on:
            style = f"background:{rgba(on[0].colour)};border-radius:2px"
            if len(on) > 1:
                style += f";box-shadow:inset 0 -3px 0 {safe_colour(on[1].colour)}"
            title = html_text("; ".join(dict.fromkeys(m.label for m in on)))
            piece = f'<mark style="{style}" title="{title}">{piece}</mark>'
        if is_cited:
            ident = ""
            if anchor and not anchored:
                ident, anchored = f' id="{html_text(anchor)}"', True
            piece = (f'<span{ident} class="cited" style="outline:2px solid #e8a33d;outline-offset:1px;'
                     f'background:rgba(255,214,102,0.45)">{piece}</span>')
        out.append(piece)
    return "".join(out)


def coding_marks(codings: Iterable[Coding], codes: Mapping[int, Code]) -> list[Mark]:
    marks = []
    for c in codings:
        code = codes.get(c.code_id)
        if code is not None:
            marks.append(Mark(c.start, c.end, f"{code.name} ({c.coder})", code.colour))
    return marks


_TURN_CSS = (
    "<style>.th-src{font-size:0.95rem;line-height:1.55;white-space:pre-wrap}"
    ".th-turn{display:flex;gap:12px;margin:0 0 10px 0}"
    ".th-spk{flex:0 0 120px;font-weight:600;color:#2f4858;text-align:right;overflow:hidden;text-overflow:ellipsis}"
    ".th-body{flex:1 1 auto}"
    ".th-int .th-spk,.th-int .th-body{color:#8a8f98}"
    ".th-gap{color:#8a8f98;font-size:0.85rem;margin:0 0 8px 132px}"
    ".th-doc{margin:0 0 12px 0}</style>"
)


def _is_label(gap: str, speaker: str | None) -> bool:
    g = gap.strip()
    return not g or (len(g) <= 60 and (g.endswith(":") or (speaker is not None and speaker in g)))


def source_html(source: Source, excerpts: Sequence[Excerpt], marks: Sequence[Mark],
                cited: tuple[int, int] | None = None) -> str:
    """A source as speaker turns (interviewer turns greyed) with codings highlighted. Text between
    excerpts that is not just a speaker label (headers, stage notes) is kept, greyed, so nothing
    of the source is hidden."""
    text, parts, prev = source.text, [_TURN_CSS, '<div class="th-src">'], 0
    for e in sorted(excerpts, key=lambda x: x.start):
        gap = text[prev:e.start]
        if not _is_label(gap, e.speaker):
            parts.append(f'<div class="th-gap">{html_text(gap.strip())}</div>')
        body = highlight_html(text, e.start, e.end, marks, cited)
        if e.speaker or e.is_interviewer:
            cls = "th-turn th-int" if e.is_interviewer else "th-turn"
            parts.append(f'<div class="{cls}"><div class="th-spk">{html_text(name(e.speaker) or "Interviewer")}</div>'
                         f'<div class="th-body">{body}</div></div>')
        else:
            page = f'<span style="color:#8a8f98;font-size:0.8em">p.{int(e.page)} · </span>' if e.page else ""
            parts.append(f'<div class="th-doc">{page}{body}</div>')
        prev = max(prev, e.end)
    tail = text[prev:]
    if tail.strip():
        parts.append(f'<div class="th-gap">{html_text(tail.strip())}</div>')
    parts.append("</div>")
    return "".join(parts)


def excerpt_html(text: str, start: int, end: int, evidence: tuple[int, int] | None, colour: str) -> str:
    """The review card's excerpt: the evidence span in the suggested code's colour."""
    marks = [Mark(evidence[0], evidence[1], "evidence", colour)] if evidence else []
    body = highlight_html(text, start, end, marks, None)
    return f'<div style="white-space:pre-wrap;line-height:1.6;font-size:1rem">{body}</div>'


def context_html(speaker: str | None, text: str) -> str:
    """A neighbouring turn, greyed, with its speaker in bold."""
    who = f"<b>{html_text(name(speaker))}</b> " if speaker else ""
    return (f'<div style="color:#8a8f98;font-size:0.88rem;white-space:pre-wrap;margin:2px 0">'
            f"{who}{html_text(text)}</div>")


def quote_html(text: str, muted: bool = False, prefix: str = "") -> str:
    """A verbatim quote as an escaped block quote: source text is shown as written, never read as
    Markdown (a transcript line starting with "-" or "#" must not turn into a list or a heading).
    `prefix` is plain text too (e.g. the quote's number in the basket)."""
    colour = "#5b6670" if muted else "#1f2a33"
    lead = f"<b>{html_text(prefix)}</b>" if prefix else ""
    return (f'{lead}<blockquote style="margin:4px 0 6px 0;padding:2px 0 2px 14px;border-left:3px solid #c9d3da;'
            f'color:{colour};white-space:pre-wrap;line-height:1.55">{html_text(text)}</blockquote>')


def quote(text: str, muted: bool = False, prefix: str = "") -> None:
    st.html(quote_html(text, muted, prefix))



def table_html(headers: Sequence[object], rows: Iterable[Sequence[object]], numeric: Sequence[int] = ()) -> str:
    """A small table of data as escaped HTML: light for the browser (no data grid), wraps long
    values, prints as it shows. `numeric`: column positions aligned right."""
    right = set(numeric)

    def cell(tag: str, i: int, value: object) -> str:
        align = "text-align:right;font-variant-numeric:tabular-nums;" if i in right else "text-align:left;"
        return (f'<{tag} style="{align}padding:3px 10px;border-bottom:1px solid #e3e8ec;vertical-align:top">'
                f"{html_text(value)}</{tag}>")

    head = "".join(cell("th", i, h) for i, h in enumerate(headers))
    body = "".join("<tr>" + "".join(cell("td", i, v) for i, v in enumerate(r)) + "</tr>" for r in rows)
    return (f'<table style="border-collapse:collapse;font-size:0.88rem;margin:2px 0 8px 0">'
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
