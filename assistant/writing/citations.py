"""Citations in generated text, parsed and verified before anything is shown.

Forms: `[S3:120-245]` (source 3, characters 120-245 of its canonical text), `[E2]` (evidence item
2 of an answer), `[Q4]` (quote 4 of a theme draft). Several may share brackets: `[E1, E3]`,
`[Q1; Q2]`.

Rules, applied sentence by sentence (a unit never splits a quoted string):
1. An id citation is valid when the id was given to the model; a span citation when its span lies
   inside a span given to the model (so it is `source.text[start:end]` of given evidence).
2. An invalid citation is removed and counted; with `bad_citation="drop_sentence"` (theme drafts)
   the whole sentence goes, since its claim now rests on nothing the analyst can check.
3. Text in double quotes (an unpaired quote mark counts as unverifiable) must be found verbatim (whitespace and curly/straight quote differences
   aside, see `verbatim.locate`) inside evidence the same sentence validly cites; otherwise the
   sentence is removed and counted as a fabricated quote. A quote without a valid citation is
   treated the same way.
4. A sentence with no valid citation is unsupported: by default (`uncited="drop"`) it is removed
   and counted, because a claim nothing checkable holds up must never appear under a caption
   saying the citations were checked ("X of 12 Acacia Road committed fraud."). `uncited="keep"`
   keeps it (counted as uncited) for callers that mark it themselves.
Every sentence is also reported on its own (`VerifiedText.sentences`: its text, the verified
quotes it cites, supported or not and why), so a face can show what was removed as unsupported.
Valid id citations can be rendered as span citations (`[E2]` -> `[S3:120-245]`), narrowed to the
quoted words when the sentence quotes exactly one passage of that evidence."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from assistant.models import Quote, Source
from assistant.verbatim import locate, make_quote
from index.text import sentence_spans

_ITEM = r"(?:S\d+\s*:\s*\d+\s*[-\u2013]\s*\d+|[EQ]\d+)"
GROUP_RE = re.compile(rf"\[\s*({_ITEM}(?:\s*[,;]\s*{_ITEM})*)\s*\]")
ITEM_RE = re.compile(r"S(\d+)\s*:\s*(\d+)\s*[-\u2013]\s*(\d+)|([EQ]\d+)")
QUOTED_RE = re.compile(r"\u201c([^\u201d]{1,2000})\u201d|\"([^\"]{1,2000})\"")
QUOTE_MARKS = re.compile(r"[\"\u201c\u201d]")
_WORD = re.compile(r"\w")


@dataclass(frozen=True)
class Citation:
    raw: str
    ref: str | None = None  # "E2" / "Q4" for id citations
    source_id: int | None = None  # span citations
    start: int | None = None
    end: int | None = None


Reason = Literal["cited", "uncited", "bad_citation", "fabricated_quote", "unpaired_quote"]


@dataclass
class SentenceSupport:
    """One sentence of generated text and what holds it up. `supported` is True only for a
    sentence with at least one valid citation and every quoted word found in what it cites; then
    `text` shows its valid citations (invalid ones removed) and `citations` holds the verified,
    verbatim quotes. An unsupported sentence has no citation marks and no citations: nothing
    checkable holds it up, and a face shows it (if at all) marked as unsupported."""

    text: str
    citations: list[Quote] = field(default_factory=list)  # empty unless supported
    supported: bool = False
    reason: Reason = "uncited"
    kept: bool = False

    def to_dict(self) -> dict[str, object]:
        return {"text": self.text, "citations": [q.model_dump(mode="json") for q in self.citations],
                "supported": self.supported, "reason": self.reason, "kept": self.kept}


@dataclass
class VerifiedText:
    text: str
    citations: list[Quote] = field(default_factory=list)  # one per valid citation, verbatim
    cited_ids: list[str] = field(default_factory=list)
    removed_citations: int = 0
    removed_sentences: list[str] = field(default_factory=list)
    fabricated_quotes: int = 0
    uncited_sentences: int = 0  # sentences without a valid citation (kept or dropped)
    dropped_uncited: int = 0  # of those, removed because nothing supports them
    sentences: list[SentenceSupport] = field(default_factory=list)  # every sentence, in order

    @property
    def unsupported(self) -> list[SentenceSupport]:
        return [s for s in self.sentences if not s.supported]

    def report(self) -> dict[str, object]:
        return {
            "removed_citations": self.removed_citations,
            "removed_sentences": len(self.removed_sentences),
            "removed_sentence_texts": self.removed_sentences,
            "fabricated_quotes": self.fabricated_quotes,
            "uncited_sentences": self.uncited_sentences,
            "dropped_uncited": self.dropped_uncited,
            "sentences": len(self.sentences),
            "supported_sentences": sum(s.supported for s in self.sentences),
            "citations": len(self.citations),
        }


def parse_citations(text: str) -> list[Citation]:
    out: list[Citation] = []
    for group in GROUP_RE.finditer(text):
        for m in ITEM_RE.finditer(group.group(1)):
            if m.group(4):
                out.append(Citation(m.group(0), ref=m.group(4)))
            else:
                out.append(Citation(m.group(0), source_id=int(m.group(1)), start=int(m.group(2)),
                                    end=int(m.group(3))))
    return out


def span_token(q: Quote) -> str:
    return f"[S{q.source_id}:{q.start}-{q.end}]"


def _units(text: str) -> list[tuple[int, int]]:
    """Sentences, merged so a quoted string never straddles two units and a unit holding only
    citations joins the sentence before it ("... short-term. [E2]")."""
    spans = sentence_spans(text)
    quoted = [(m.start(), m.end()) for m in QUOTED_RE.finditer(text)]
    merged: list[list[int]] = []
    for s, e in spans:
        only_cites = not GROUP_RE.sub("", text[s:e]).strip(" .;,")
        inside_quote = any(qs < s < qe for qs, qe in quoted)
        if merged and (inside_quote or (only_cites and "\n" not in text[merged[-1][1]:s])):
            merged[-1][1] = e
        else:
            merged.append([s, e])
    return [(s, e) for s, e in merged]


def verify_text(
    text: str,
    evidence: Mapping[str, Quote],
    sources: Mapping[int, Source],
    *,
    bad_citation: Literal["drop_citation", "drop_sentence"] = "drop_citation",
    uncited: Literal["drop", "keep"] = "drop",
    render_spans: bool = False,
) -> VerifiedText:
    """Check every citation and quoted passage in `text` against `evidence` (id -> verbatim
    quote); return the cleaned text, what was removed, and the support of every sentence."""
    out = VerifiedText(text="")
    pieces: list[str] = []
    prev = 0
    for s, e in _units(text):
        gap = text[prev:s]
        prev = e
        checked, rendered = _verify_unit(text[s:e], evidence, sources, bad_citation, render_spans, out)
        support: SentenceSupport | None = checked
        if checked.reason == "uncited" and not _WORD.search(rendered):
            support = None  # nothing left but punctuation (a removed citation): not a sentence
        elif checked.reason == "uncited":
            out.uncited_sentences += 1
            if uncited == "drop":
                out.dropped_uncited += 1
                out.removed_sentences.append(text[s:e])
            else:
                checked.kept = True
        if support is not None:
            out.sentences.append(support)
        if support is None or not support.kept:
            if "\n" in gap:
                pieces.append("\n" * gap.count("\n"))
            continue
        out.citations += support.citations
        pieces.append(gap + rendered)
    cleaned = re.sub(r"[ \t]+([.,;:!?])", r"\1", re.sub(r"[ \t]{2,}", " ", "".join(pieces)))
    out.text = cleaned.strip()
    return out


def _resolve(c: Citation, evidence: Mapping[str, Quote], sources: Mapping[int, Source]) -> Quote | None:
    """The verbatim span a citation points at, or None when it points outside the evidence."""
    if c.ref is not None:
        return evidence.get(c.ref)
    for q in evidence.values():
        if q.source_id == c.source_id and q.start <= (c.start or 0) < (c.end or 0) <= q.end:
            src = sources.get(q.source_id)
            if src is not None:
                return make_quote(src, int(c.start), int(c.end), attribution=q.attribution,  # type: ignore[arg-type]
                                  excerpt_id=q.excerpt_id, origin=q.origin, attributes=q.attributes)
    return None


def _find_quoted(claimed: str, valid: list[tuple[Citation, Quote]],
                 sources: Mapping[int, Source]) -> tuple[Citation, Quote] | None:
    """The cited evidence item that holds `claimed` verbatim, as a quote of just those words."""
    for c, q in valid:
        src = sources.get(q.source_id)
        loc = locate(src.text, claimed, within=(q.start, q.end), min_ratio=1.0) if src else None
        if loc is not None:
            return c, make_quote(src, loc.start, loc.end, attribution=q.attribution,  # type: ignore[arg-type]
                                 excerpt_id=q.excerpt_id, origin=q.origin, attributes=q.attributes)
    return None


def _verify_unit(sentence: str, evidence: Mapping[str, Quote], sources: Mapping[int, Source],
                 bad_citation: str, render_spans: bool, out: VerifiedText) -> tuple[SentenceSupport, str]:
    """One sentence's support, and the sentence as it would be shown. Only a "cited" sentence is
    kept here; an "uncited" one is kept or dropped by `verify_text`; every other reason removes it
    (and is counted)."""
    valid: list[tuple[Citation, Quote]] = []
    bad = 0
    for c in parse_citations(sentence):
        q = _resolve(c, evidence, sources)
        if q is None:
            bad += 1
        else:
            valid.append((c, q))
    out.removed_citations += bad

    def result(narrowed: Mapping[str, Quote | None], cites: list[Quote], reason: Reason) -> tuple[SentenceSupport, str]:
        rendered = GROUP_RE.sub(lambda g: _render_group(g.group(1), evidence, sources, render_spans, narrowed), sentence)
        # an unsupported sentence is shown without citation marks: a link would lend it credit
        plain = rendered if reason == "cited" else GROUP_RE.sub("", sentence)
        shown = re.sub(r"[ \t]+([.,;:!?])", r"\1", " ".join(plain.split()))
        return SentenceSupport(shown, cites, reason == "cited", reason, kept=reason == "cited"), rendered

    if bad and bad_citation == "drop_sentence":
        out.removed_sentences.append(sentence)
        return result({}, [], "bad_citation")
    narrowed: dict[str, Quote | None] = {}
    bare = GROUP_RE.sub("", sentence)
    if QUOTE_MARKS.search(QUOTED_RE.sub("", bare)):  # an unpaired quote mark: cannot tell what is quoted
        out.fabricated_quotes += 1
        out.removed_sentences.append(sentence)
        return result({}, [], "unpaired_quote")
    hits = [_find_quoted(m.group(1) or m.group(2) or "", valid, sources) for m in QUOTED_RE.finditer(bare)]
    if None in hits:  # every invented quote is counted, not just the first in its sentence
        out.fabricated_quotes += hits.count(None)
        out.removed_sentences.append(sentence)
        return result({}, [], "fabricated_quote")
    for hit in hits:
        assert hit is not None
        raw = hit[0].raw
        # two passages quoted from one evidence item: cite the item whole rather than guess
        same = raw in narrowed and narrowed[raw] is not None and (narrowed[raw].start, narrowed[raw].end) == (hit[1].start, hit[1].end)  # type: ignore[union-attr]
        narrowed[raw] = hit[1] if raw not in narrowed or same else None
    if not valid:
        return result(narrowed, [], "uncited")
    cites: list[Quote] = []
    for c, q in valid:
        cites.append(narrowed.get(c.raw) or q)
        if c.ref:
            out.cited_ids.append(c.ref)
    return result(narrowed, cites, "cited")


def _render_group(inner: str, evidence: Mapping[str, Quote], sources: Mapping[int, Source],
                  render_spans: bool, narrowed: Mapping[str, Quote | None]) -> str:
    kept: list[str] = []
    for m in ITEM_RE.finditer(inner):
        c = (Citation(m.group(0), ref=m.group(4)) if m.group(4) else
             Citation(m.group(0), source_id=int(m.group(1)), start=int(m.group(2)), end=int(m.group(3))))
        q = _resolve(c, evidence, sources)
        if q is None:
            continue
        if render_spans:
            n = narrowed.get(c.raw)
            kept.append(span_token(n if n is not None else q)[1:-1])
        else:
            kept.append(c.ref if c.ref else f"S{c.source_id}:{c.start}-{c.end}")
    return f"[{', '.join(dict.fromkeys(kept))}]" if kept else ""
