"""Asking the corpus: retrieval-augmented answers that cite excerpts as `[S3:120-245]`.

The model sees only numbered evidence (E1..En, each a verbatim excerpt) and must cite it; every
citation and quoted passage is verified (`writing.citations`) before the answer is shown, and a
sentence that no verified citation supports (uncited, citing nothing given, or quoting words the
evidence does not hold) is removed from the answer text. The answer keeps every sentence's support
(`sentences`), the removed ones (`unsupported`) and their count (`dropped_sentences`), so a face
can show them marked as unsupported but never under a caption saying the citations were checked.
Evidence that reads as an instruction to the model is named in the report. When
retrieval finds nothing similar enough, the answer is a fixed sentence and the model is not
called: the corpus's silence is a finding, and the model's own knowledge is never a substitute.
Without a configured model the ranked evidence is the answer.

Filter phrases: "only NHS interviewees", "just documents", "among voluntary sector participants"
become filters when the words after only/just/among/amongst/restricted to/limited to name values
of a source attribute (e.g. sector=NHS) or a kind ("interviewee(s)", "interview(s)",
"participant(s)" -> kind=interview; "document(s)", "policy document(s)", "report(s)" ->
kind=document). Explicit `filters` win over parsed ones. The phrase is dropped from the
retrieval query so it does not skew similarity."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel

from assistant.errors import LLMError
from assistant.llm.injection import looks_like_instruction
from assistant.models import Quote
from assistant.project import Project
from assistant.writing.citations import SentenceSupport, span_token, verify_text
from assistant.writing.quotes import QuoteContext, candidate_from_hit

NO_EVIDENCE_TEXT = "The corpus holds no evidence on this question."
SENTINEL = "NO_EVIDENCE_IN_CORPUS"
UNVERIFIED_TEXT = "The model's answer could not be verified against the evidence; see the evidence below."
MIN_SIMILARITY = 0.2  # cosine of the best excerpt below which the corpus is taken to be silent
PROMPT = "ask"

_KIND_WORDS = {
    "interview": ("interviewees", "interviewee", "interviews", "interview", "participants", "participant"),
    "document": ("policy documents", "policy document", "documents", "document", "reports", "report"),
}
_FILLERS = {"the", "from", "in", "at", "and", "or", "of", "what", "say", "said"}
_TRIGGER = re.compile(r"\b(only|just|amongst|among|restricted to|limited to)\s+", re.I)
_PRONOUNS = {"it", "they", "them", "this", "that", "these", "those", "he", "she", "their", "there",
             "its", "his", "her", "such", "same"}


@dataclass
class Answer:
    """`text` holds only supported sentences (or is None: no model, or nothing survived);
    `sentences` is every sentence of the model's reply with its support, in order."""

    question: str
    text: str | None
    citations: list[Quote] = field(default_factory=list)
    evidence: list[Quote] = field(default_factory=list)
    no_evidence: bool = False
    removed_citations: int = 0
    report: dict[str, Any] = field(default_factory=dict)
    sentences: list[SentenceSupport] = field(default_factory=list)
    dropped_sentences: int = 0

    @property
    def unsupported(self) -> list[SentenceSupport]:
        """Sentences removed from `text` because no verified citation supports them."""
        return [s for s in self.sentences if not s.supported]


def parse_filter_phrases(question: str, values: Mapping[str, set[str]]) -> tuple[dict[str, Any], str]:
    """Filters named in the question, and the question without the phrase that named them.
    `values` maps attribute key -> its known values (see `attribute_values`)."""
    lookup: list[tuple[str, str, str]] = [(v.lower(), key, v) for key, vs in values.items() for v in vs if v]
    lookup += [(w, "kind", kind) for kind, words in _KIND_WORDS.items() for w in words]
    lookup.sort(key=lambda t: -len(t[0]))
    found: dict[str, list[str]] = {}
    cut: tuple[int, int] | None = None
    for m in _TRIGGER.finditer(question):
        pos, last = m.end(), None
        while pos < len(question):
            rest = question[pos:].lower()
            hit = next((t for t in lookup if re.match(re.escape(t[0]) + r"\b", rest)), None)
            if hit:
                if hit[2] not in found.setdefault(hit[1], []):
                    found[hit[1]].append(hit[2])
                pos += len(hit[0])
                last = pos
            else:
                word = re.match(r"(\w+)", rest)
                if not word or word.group(1) not in _FILLERS:
                    break
                pos += len(word.group(1))
            pos += len(question[pos:]) - len(question[pos:].lstrip())
        if last is not None:
            cut = (m.start(), last)
            break
    if cut is None:
        return {}, question
    filters = {k: v[0] if len(v) == 1 else v for k, v in found.items()}
    cleaned = re.sub(r"\s{2,}", " ", question[: cut[0]] + question[cut[1]:]).strip()
    return filters, cleaned


def attribute_values(ctx: QuoteContext) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for s in ctx.sources.values():
        for k, v in s.attributes.items():
            if k not in ("participant",) and v and len(v) >= 2:
                out.setdefault(k, set()).add(v)
    return out


def retrieval_query(question: str, history: Sequence[Any] | None) -> str:
    """A short or pronoun-heavy follow-up is searched together with the previous question, so
    "and what about funding for them?" still knows who "them" are."""
    if not history:
        return question
    prev = history[-1]
    prev_q = prev[0] if isinstance(prev, (tuple, list)) else getattr(prev, "question", "")
    words = re.findall(r"\w+", question.lower())
    if len(words) <= 6 or sum(w in _PRONOUNS for w in words) / max(1, len(words)) >= 0.15:
        return f"{prev_q} {question}".strip()
    return question


def _history_text(history: Sequence[Any] | None) -> str:
    lines = []
    for turn in (history or [])[-3:]:
        q, a = (turn[0], turn[1]) if isinstance(turn, (tuple, list)) else (turn.question, turn.text)
        lines.append(f"Q: {q}\nA: {a or ''}")
    return "\n\n".join(lines) or "(none)"


def gather_evidence(project: Project, query: str, k: int, filters: Mapping[str, Any] | None,
                    min_similarity: float, ctx: QuoteContext) -> list[Quote]:
    """Excerpts similar enough to count as evidence, as verbatim quotes."""
    from assistant.corpus.search import search

    hits = search(project, query, k=k, filters=dict(filters) if filters else None,
                  exclude_interviewer=True, diversify=0.7)
    out = []
    for h in hits:
        # evidence = semantically close, or sharing the question's content words (BM25 drops
        # stopwords, so a match there is a real term in common)
        relevant = (h.dense_score or 0.0) >= min_similarity or (h.bm25_score or 0.0) > 0.0
        if not relevant:
            continue
        cand = candidate_from_hit(h, h.why, h.score)
        out.append(ctx.make(cand, cand.region, h.score, cand.why))
    return out


def generate(project: Project, llm: BaseChatModel, prompt_name: str, cache: bool = True,
             **variables: Any) -> tuple[str, str]:
    """Render a prompt and call the model through the project's LLM layer (response cache,
    retries, pseudonymisation for remote models); (reply text, prompt id)."""
    from assistant.llm import call_text, pseudonymiser_if_remote

    text, rec = call_text(llm, prompt_name, variables, cache_store=project.store if cache else None,
                          settings=project.settings.llm, pseudonymiser=pseudonymiser_if_remote(project))
    if text is None:
        raise LLMError(f"the model call for {prompt_name} failed: {rec.error}")
    return text, f"{rec.prompt}.{rec.prompt_version}"


def ask(
    project: Project,
    question: str,
    *,
    history: Sequence[Any] | None = None,
    filters: Mapping[str, Any] | None = None,
    llm: BaseChatModel | None = None,
    k: int = 8,
    min_similarity: float = MIN_SIMILARITY,
    cache: bool = True,
) -> Answer:
    ctx = QuoteContext(project)
    parsed, cleaned = parse_filter_phrases(question, attribute_values(ctx))
    used_filters = {**parsed, **dict(filters or {})}
    query = retrieval_query(cleaned, history)
    evidence = gather_evidence(project, query, k, used_filters, min_similarity, ctx)
    report: dict[str, Any] = {"query": query, "filters": used_filters, "parsed_filters": parsed}
    if not evidence:
        return Answer(question, NO_EVIDENCE_TEXT, evidence=[], no_evidence=True, report=report)
    if llm is None:
        report["mode"] = "evidence-only"
        return Answer(question, None, evidence=evidence, report=report)
    ids = {f"E{i}": q for i, q in enumerate(evidence, start=1)}
    listing = "\n\n".join(f"[{i}] {q.attribution} ({q.source_name}, line {q.line})\n{q.text}" for i, q in ids.items())
    reply, prompt_id = generate(project, llm, PROMPT, cache, evidence=listing, history=_history_text(history),
                                question=question, sentinel=SENTINEL)
    report.update(prompt=prompt_id, mode="llm")
    if SENTINEL in reply:
        report["model_declined"] = True
        return Answer(question, NO_EVIDENCE_TEXT, evidence=evidence, no_evidence=True, report=report)
    checked = verify_text(reply, ids, ctx.sources, bad_citation="drop_citation", uncited="drop", render_spans=True)
    report.update(checked.report())
    dropped = len(checked.unsupported)
    report["dropped_sentences"] = dropped
    steering = [i for i, q in ids.items() if looks_like_instruction(q.text)]
    if steering:
        report["instruction_like_evidence"] = steering
    text: str | None = checked.text or None
    if not checked.citations or text is None:
        report["unverified"] = True
        text = None
    project.store.audit(project.analyst, "ask", "corpus", None, question=question, filters=used_filters,
                        prompt=prompt_id, citations=[span_token(q) for q in checked.citations],
                        removed_citations=checked.removed_citations, dropped_sentences=dropped,
                        unsupported=[s.text for s in checked.unsupported])
    return Answer(question, text, checked.citations, evidence, False, checked.removed_citations, report,
                  checked.sentences, dropped)
