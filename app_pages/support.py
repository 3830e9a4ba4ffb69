"""Presentation helpers for the Streamlit workspace (`streamlit_app.py`, `app_pages/`).

Pure functions, no Streamlit import: they turn store records into safely escaped HTML, resolve which
project the app opens, and say in plain words what leaves the machine. Analysis stays in the library;
the only writes here are the ones a UI edit needs that the library does not offer as one call
(`update_attributes`, which pairs the store update with its audit row)."""

from __future__ import annotations

import html
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

from assistant.models import Code, Coding, Excerpt, Source
from assistant.settings import LLMSettings

FAKE_EMBEDDER_ENV = "THEMATIC_FAKE_EMBEDDER"
PROJECT_ENV = "THEMATIC_PROJECT"
DEFAULT_DEMO = "demo-project"


# -- which project --------------------------------------------------------------------------------
def project_dir_from(argv: Sequence[str], env: Mapping[str, str]) -> tuple[Path, bool]:
    """The project folder the app opens and whether it is the default demo. Precedence: the
    `--project DIR` script argument (what `thematic app` passes), then $THEMATIC_PROJECT, then
    `./demo-project`, which the app builds from the bundled demo corpus on first use."""
    args = list(argv)
    for i, arg in enumerate(args):
        if arg == "--project" and i + 1 < len(args):
            return Path(args[i + 1]).expanduser(), False
        if arg.startswith("--project="):
            return Path(arg.split("=", 1)[1]).expanduser(), False
    if env.get(PROJECT_ENV):
        return Path(env[PROJECT_ENV]).expanduser(), False
    return Path(DEFAULT_DEMO), True


def fake_embedder_dim(env: Mapping[str, str] | None = None) -> int | None:
    """TESTS ONLY: `THEMATIC_FAKE_EMBEDDER=1` makes the app use `HashingEmbedder(64)` (or the given
    dimension, if the value is a number above 1) instead of loading the embedding model, so browser
    tests start in seconds. The project must have been indexed with the same fake embedder."""
    value = (env if env is not None else os.environ).get(FAKE_EMBEDDER_ENV, "").strip()
    if not value or value.lower() in ("0", "false", "no"):
        return None
    return int(value) if value.isdigit() and int(value) > 1 else 64


# -- privacy notice ------------------------------------------------------------------------------
def remote_notice(llm: LLMSettings) -> tuple[str, str] | None:
    """(level, message) for the banner every page shows when a remote model is configured;
    None when everything stays on this machine."""
    if not llm.is_remote:
        return None
    host = llm.base_url or {"openai": "api.openai.com", "anthropic": "api.anthropic.com"}.get(llm.provider, "?")
    who = f"{llm.provider} ({host}), model {llm.model or 'default'}"
    if not llm.allow_remote:
        text = (f"A remote model is configured ({who}) but not allowed for this project, "
                "so nothing is sent: AI features use the offline engine.")
        return "info", text
    text = (f"Remote model ON: when you run AI suggestions, theme drafts or Ask, excerpt text "
            f"(pseudonymised: known names and identifiers replaced) and the codebook are sent to {who}. "
            "Switch it off in Settings to keep everything on this machine.")
    return "warning", text


# -- colours -------------------------------------------------------------------------------------
def rgba(colour: str, alpha: float = 0.35) -> str:
    """A codebook colour as a translucent highlight, so text stays readable on any code colour."""
    c = (colour or "#888888").lstrip("#")
    if len(c) == 3:
        c = "".join(ch * 2 for ch in c)
    try:
        r, g, b = (int(c[i:i + 2], 16) for i in (0, 2, 4))
    except ValueError:
        r, g, b = 136, 136, 136
    return f"rgba({r},{g},{b},{alpha})"


def code_chip(name: str, colour: str) -> str:
    return (f'<span style="display:inline-block;padding:1px 8px;margin:2px 4px 2px 0;border-radius:10px;'
            f'background:{rgba(colour, 0.25)};border:1px solid {html.escape(colour)};font-size:0.85em">'
            f"{html.escape(name)}</span>")


# -- highlighted text ----------------------------------------------------------------------------
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
        piece = html.escape(text[a:b])
        if on:
            style = f"background:{rgba(on[0].colour)};border-radius:2px"
            if len(on) > 1:
                style += f";box-shadow:inset 0 -3px 0 {on[1].colour}"
            title = html.escape("; ".join(dict.fromkeys(m.label for m in on)), quote=True)
            piece = f'<mark style="{style}" title="{title}">{piece}</mark>'
        if is_cited:
            ident = ""
            if anchor and not anchored:
                ident, anchored = f' id="{anchor}"', True
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
            parts.append(f'<div class="th-gap">{html.escape(gap.strip())}</div>')
        body = highlight_html(text, e.start, e.end, marks, cited)
        if e.speaker or e.is_interviewer:
            cls = "th-turn th-int" if e.is_interviewer else "th-turn"
            parts.append(f'<div class="{cls}"><div class="th-spk">{html.escape(e.speaker or "Interviewer")}</div>'
                         f'<div class="th-body">{body}</div></div>')
        else:
            page = f'<span style="color:#8a8f98;font-size:0.8em">p.{e.page} · </span>' if e.page else ""
            parts.append(f'<div class="th-doc">{page}{body}</div>')
        prev = max(prev, e.end)
    tail = text[prev:]
    if tail.strip():
        parts.append(f'<div class="th-gap">{html.escape(tail.strip())}</div>')
    parts.append("</div>")
    return "".join(parts)


def excerpt_html(text: str, start: int, end: int, evidence: tuple[int, int] | None, colour: str) -> str:
    """The review card's excerpt: the evidence span in the suggested code's colour."""
    marks = [Mark(evidence[0], evidence[1], "evidence", colour)] if evidence else []
    body = highlight_html(text, start, end, marks, None)
    return f'<div style="white-space:pre-wrap;line-height:1.6;font-size:1rem">{body}</div>'


# -- citations in answers ------------------------------------------------------------------------
def split_citations(text: str) -> list[str | tuple[int, int, int]]:
    """Answer text cut into plain pieces and (source_id, start, end) citations, in order, so the
    UI can turn each citation into a link to the cited words."""
    out: list[str | tuple[int, int, int]] = []
    prev = 0
    from assistant.writing.citations import GROUP_RE, parse_citations

    for m in GROUP_RE.finditer(text):
        cites = parse_citations(m.group(0))
        if not cites or any(c.source_id is None for c in cites):
            continue  # a group citing evidence ids ([E2], [S3:1-5, Q1]) stays as text
        if m.start() > prev:
            out.append(text[prev:m.start()])
        out.extend((int(c.source_id), int(c.start), int(c.end)) for c in cites)  # type: ignore[arg-type]
        prev = m.end()
    if prev < len(text):
        out.append(text[prev:])
    return out


# -- the one write the library does not offer as a single call -------------------------------------
def update_attributes(project: Any, source_id: int, attributes: Mapping[str, Any], kind: str | None = None) -> bool:
    """Save edited source attributes with an audit row (before/after); False when nothing changed.
    Empty values are dropped, since an empty attribute means "unknown" everywhere else."""
    store = project.store
    old = store.get_source(source_id)
    new = {str(k).strip(): str(v).strip() for k, v in attributes.items()
           if str(k).strip() and v is not None and str(v).strip() and str(v) != "nan"}
    if new == old.attributes and (kind is None or kind == old.kind):
        return False
    with store.transaction():
        store.update_source_attributes(source_id, new, kind)
        store.audit(project.analyst, "source.attributes", "source", source_id,
                    before={"attributes": old.attributes, "kind": old.kind},
                    after={"attributes": new, "kind": kind or old.kind})
    return True


# -- review helpers --------------------------------------------------------------------------------
def undoable_decisions(project: Any, analyst: str | None = None) -> list[Any]:
    """The analyst's decisions not yet undone, newest first: what the Undo button walks back
    through, read from the store so it works after a reload or from another tab."""
    store = project.store
    undone = {e.entity_id for e in store.list_audit("decision") if e.action == "decision.undo"}
    who = analyst or project.analyst
    return [d for d in reversed(store.list_decisions()) if d.id not in undone and d.analyst == who]


# -- the Ask conversation, kept in the store so a reload or another tab keeps it ---------------------
CHAT_KEY = "ui.ask_history.{analyst}"
CHAT_MAX_TURNS = 50


def load_chat(project: Any) -> list[dict[str, Any]]:
    import json

    raw = project.store.get_meta(CHAT_KEY.format(analyst=project.analyst))
    return json.loads(raw) if raw else []


def save_chat(project: Any, turns: Sequence[Mapping[str, Any]]) -> None:
    import json

    project.store.set_meta(CHAT_KEY.format(analyst=project.analyst),
                           json.dumps(list(turns)[-CHAT_MAX_TURNS:], ensure_ascii=False))


def answer_turn(answer: Any) -> dict[str, Any]:
    """An `ask.Answer` as a plain dict for the stored conversation."""
    return {"question": answer.question, "text": answer.text, "no_evidence": answer.no_evidence,
            "citations": [q.model_dump() for q in answer.citations],
            "evidence": [q.model_dump() for q in answer.evidence],
            "mode": answer.report.get("mode", ""), "removed_citations": answer.removed_citations}


def quote_html(text: str, muted: bool = False) -> str:
    """A verbatim quote as an escaped block quote: source text is shown as written, never read as
    Markdown (a transcript line starting with "-" or "#" must not turn into a list or a heading)."""
    colour = "#5b6670" if muted else "#1f2a33"
    return (f'<blockquote style="margin:4px 0 6px 0;padding:2px 0 2px 14px;border-left:3px solid #c9d3da;'
            f'color:{colour};white-space:pre-wrap;line-height:1.55">{html.escape(text)}</blockquote>')
