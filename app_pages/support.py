"""Presentation helpers for the Streamlit workspace (`app_pages/`).

Pure functions, no Streamlit import: which project the app opens, what leaves the machine in plain
words, citations cut out of an answer. Analysis and every write stay in the library; how data is
drawn on the page is `app_pages.render`."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

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


# -- the Ask conversation (kept in the store by assistant.writing.conversation) -----------------
def answer_turn(answer: Any) -> dict[str, Any]:
    """An `ask.Answer` as a plain dict for the stored conversation, with every sentence of the
    model's reply and its support (`sentences`), so the page can show the unsupported ones
    apart, marked, after a reload too."""
    sentences = getattr(answer, "sentences", None)
    return {"question": answer.question, "text": answer.text, "no_evidence": answer.no_evidence,
            "citations": [q.model_dump(mode="json") for q in answer.citations],
            "evidence": [q.model_dump(mode="json") for q in answer.evidence],
            "mode": answer.report.get("mode", ""), "removed_citations": answer.removed_citations,
            "sentences": [s.to_dict() for s in sentences] if sentences is not None else None,
            "dropped_sentences": getattr(answer, "dropped_sentences", 0)}



# -- re-ingest: what the analyst is asked before a source with codings is replaced -----------------
OUTCOME_WORDS = {"moved": "moves exactly", "moved-fuzzy": "moves by its words (not exactly)",
                 "orphaned": "becomes orphaned (kept, for you to re-attach or dismiss)"}


def plan_rows(plan: Any) -> list[dict[str, Any]]:
    """One row per source an ingest would replace that carries codings (`IngestPlan.at_risk`):
    how many codings move exactly, move by their words, or become orphaned."""
    rows = []
    for sp in plan.at_risk:
        out = sp.outcomes()
        rows.append({"source": sp.name, "new version": sp.version, "codings": len(sp.codings),
                     "move exactly": out["moved"], "move by their words": out["moved-fuzzy"],
                     "become orphaned": out["orphaned"]})
    return rows


def plan_coding_rows(plan: Any) -> list[dict[str, Any]]:
    """Every coding of the at-risk sources with where it would go, for the analyst to read
    before confirming: its code, coder, its words now, and its words in the new version."""
    return [{"source": sp.name, "code": ch.code, "coder": ch.coder, "outcome": OUTCOME_WORDS.get(ch.outcome, ch.outcome),
             "words now": ch.old_text, "words in the new version": ch.text if ch.text is not None else "(no place found)"}
            for sp in plan.at_risk for ch in sp.codings]


def plan_signature(plan: Any) -> tuple:
    """What the analyst agreed to, to compare with a fresh plan when they confirm: if the files
    or the project changed in between, the new plan is shown instead of being run unasked."""
    return tuple((sp.name, sp.version, tuple((ch.coding_id, ch.outcome, ch.start, ch.end) for ch in sp.codings))
                 for sp in plan.at_risk)


def files_digest(items: Iterable[tuple[str, bytes]]) -> str:
    """A fingerprint of uploaded files (name and content), so a confirmation applies only to the
    very files it was asked about."""
    h = hashlib.sha256()
    for name, data in items:
        h.update(name.encode("utf-8", "surrogatepass") + b"\0" + hashlib.sha256(data).digest())
    return h.hexdigest()


def ingest_messages(report: Any) -> list[str]:
    """The notes of an ingest the analyst should read (speaker turns that may be misread, pages
    with no text layer, codings re-anchored or orphaned), one line each, file by file."""
    out: list[str] = []
    for r in report.results:
        out += [n for n in r.notes if n]
    return out


def around(text: str, start: int, end: int, width: int = 120) -> tuple[int, int]:
    """A window of `text` around `start:end` (at most `width` characters either side, cut at a
    blank where there is one), to show a span in its context."""
    lo, hi = max(0, start - width), min(len(text), end + width)
    if lo > 0:
        blank = text.find(" ", lo, start)
        lo = blank + 1 if blank != -1 else lo
    if hi < len(text):
        blank = text.rfind(" ", end, hi)
        hi = blank if blank != -1 else hi
    return lo, hi


# -- the Code page: which suggestions are worth a reviewer's time, and in what order -------------
STRUCTURE_FLAGS = frozenset({"heading", "title", "front_matter", "speaker_label", "structure", "not_content",
                             "header", "structural"})
_LABEL_ONLY = re.compile(r"^[\w .'\u2019()\-]{1,40}:$")
_FRONT_MATTER = re.compile(r"(?i)^(interview|transcript|focus group|date|time|duration|location|venue|interviewer|"
                           r"participant(?: id)?|respondent|recorded|transcribed(?: by)?|file|page \d+)\b[^.?!]{0,80}$")


def is_structural(text: str, flags: Iterable[str] = ()) -> bool:
    """Whether a suggestion's excerpt is a heading, a title, front matter or a speaker label
    rather than something anyone said: never worth a suggestion. The engine marks these itself
    (`flags`); this second look at the words keeps the review queue clean for older suggestions
    and for engines that do not mark them. Deliberately narrow: a short answer that is a sentence
    ("Yes, every winter.") is content."""
    if STRUCTURE_FLAGS & {str(f).lower() for f in flags}:
        return True
    s = " ".join(text.split())
    if not s:
        return True
    if s.startswith("#") or _LABEL_ONLY.match(s):
        return True
    words = s.split()
    if len(words) <= 12 and _FRONT_MATTER.match(s):
        return True
    if len(words) <= 10 and not re.search(r"[.?!…\"\u201d]$", s):
        letters = [w for w in words if w[:1].isalpha()]
        capitalised = sum(1 for w in letters if w[:1].isupper())
        if s.isupper() or (letters and capitalised / len(letters) >= 0.6):
            return True
    return False


REVIEW_ORDERS = {"score": "By score", "code": "By code", "source": "By source"}


def order_suggestions(views: Sequence[Any], by: str) -> list[Any]:
    """The review queue in the analyst's chosen order: by score (the default: the engine's most
    confident proposals first), grouped by code, or source by source in document order."""
    def score(v: Any) -> float:
        return -(v.suggestion.score or 0.0)
    if by == "code":
        return sorted(views, key=lambda v: ((v.label or "").casefold(), score(v), v.excerpt_start))
    if by == "source":
        return sorted(views, key=lambda v: (v.source.casefold(), v.excerpt_start, score(v)))
    return sorted(views, key=lambda v: (score(v), v.source.casefold(), v.excerpt_start))


def preview(text: str, head: int = 420, tail: int = 160) -> str:
    """A long selection shown whole when short, else its start and end around an ellipsis (the
    stored coding is always the whole span)."""
    return text if len(text) <= head + tail + 40 else text[:head].rstrip() + " … " + text[-tail:].lstrip()
