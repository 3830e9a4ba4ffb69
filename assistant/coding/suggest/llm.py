"""The LLM suggestion engine: a LangChain chat model proposes codebook codes for an excerpt.

Defences, because excerpt text is data (and a model may be wrong or manipulated):
- the excerpt, its context and the examples sit inside tags the prompt declares to be data; any
  such tag inside the data is escaped so the data cannot close its own container;
- codes the codebook does not contain are dropped and counted, as are duplicates and codes beyond
  `max_codes`; a new code is only ever a `proposed_new_codes` entry with verbatim evidence, and it is
  stored with `code_id=None` and the `new_code` flag, never under a codebook code;
- evidence must be verbatim in the excerpt: an exact match is kept, a close one is repaired by
  alignment (`verbatim.locate`), anything else is dropped and counted;
- a proposal resting on words addressed to the model (its evidence reads as an instruction, or an
  instruction in the excerpt names the code) is kept but flagged `suspicious_evidence`, its
  confidence capped at `SUSPICIOUS_MAX_SCORE` and a warning put first in the rationale the analyst
  reads: the model doing what the text told it to is no reason to trust the proposal;
- a reply that will not parse after the bounded retries is a failure for that excerpt, not a guess."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from assistant.coding.suggest import (
    FLAG_NEW_CODE,
    FLAG_SUSPICIOUS,
    EngineResult,
    Proposal,
    SuggestContext,
    SuggestionEngine,
    accepted_examples,
)
from assistant.coding.suggest.schema import SuggestOutput
from assistant.llm.factory import chat_model_for, settings_model_label
from assistant.llm.injection import instruction_phrase, instruction_spans
from assistant.llm.prompts import load_prompt
from assistant.llm.providers import model_id, parallel_calls
from assistant.llm.pseudonymise import Pseudonymiser
from assistant.llm.structured import call_structured
from assistant.models import StoredCode, StoredExcerpt
from assistant.verbatim import locate

PROMPT = "suggest_codes"
PROMPT_VERSION = 1
_DATA_TAG = re.compile(r"<(/?\s*(?:excerpt|context|example)\b)", re.I)
MAX_NEW_CODES = 2
SUSPICIOUS_MAX_SCORE = 0.2


def escape_data(text: str) -> str:
    """`</excerpt>` inside an excerpt would end the data block early; neutralise every such tag."""
    return _DATA_TAG.sub(r"&lt;\1", text)


def unescape_data(text: str) -> str:
    return text.replace("&lt;", "<")


def project_model(project: Any, chat_model: Any, pseudonymise: bool | None, dry_run: bool
                  ) -> tuple[Any, str | None, Pseudonymiser | None]:
    """(chat model, model label, pseudonymiser) as the project configures them, shared by every
    LLM engine's `from_project` so a dry run and a real run resolve the model the same way. With
    `dry_run` no model is built and the label comes from the settings; `pseudonymise=None`
    pseudonymises exactly when the model is remote."""
    from assistant.llm import pseudonymiser_if_remote

    if dry_run:
        model, label = None, settings_model_label(project)
    else:
        model = chat_model if chat_model is not None else chat_model_for(project, required=True)
        label = None
    if pseudonymise is None:
        pseud = pseudonymiser_if_remote(project)
    else:
        from assistant.llm.pseudonymise import pseudonymiser_for

        pseud = pseudonymiser_for(project) if pseudonymise else None
    return model, label, pseud


def usable_codes(excerpt: StoredExcerpt, codes: Sequence[StoredCode], context: SuggestContext) -> list[StoredCode]:
    """The codes that apply to the excerpt's source: a code scoped elsewhere is never offered."""
    from assistant.coding.codebook import code_applies

    src = context.sources.get(excerpt.source_id)
    return [c for c in codes if src is None or not c.scope or code_applies(c, src)]


def neighbour_text(store: Any, excerpt: StoredExcerpt, n: int) -> str:
    """The `n` turns either side of the excerpt, speaker-labelled and escaped as data."""
    neigh = store.neighbours(excerpt, n, n)
    return "\n".join(f"{x.speaker + ': ' if x.speaker else ''}{escape_data(x.text)}" for x in neigh) or "(none)"


def _key(name: str) -> str:
    from assistant.coding.codebook import (
        name_key,  # the one way code names are compared
    )

    return name_key(name)


class LLMEngine(SuggestionEngine):
    name = "llm"

    def __init__(self, chat_model: Any, settings: Any = None, cache_store: Any = None,
                 pseudonymiser: Pseudonymiser | None = None, max_codes: int = 3, examples_per_code: int = 3,
                 embed: Any = None, model: str | None = None):
        self.chat_model = chat_model
        self.settings = settings
        self.cache_store = cache_store
        self.pseudonymiser = pseudonymiser
        self.max_codes = max_codes
        self.examples_per_code = examples_per_code
        self.embed = embed
        self.model = model or model_id(chat_model)
        # pinned: v2 of this prompt is the assisted engine's candidate layout (suggest.assisted)
        self.template = load_prompt(PROMPT, PROMPT_VERSION)
        self.prompt_version = self.template.version
        self._examples: dict[int, list[tuple[Any, str]]] = {}

    @property
    def params(self) -> dict[str, Any]:
        llm = getattr(self.settings, "llm", None)
        return {"max_codes": self.max_codes, "examples_per_code": self.examples_per_code,
                "temperature": getattr(llm, "temperature", None), "pseudonymised": self.pseudonymiser is not None}

    @classmethod
    def from_project(cls, project: Any, chat_model: Any = None, pseudonymise: bool | None = None, *,
                     dry_run: bool = False) -> "LLMEngine":
        """The engine as the project configures it: the one constructor used by suggestions,
        pre-coding and dry runs, so a dry run renders exactly what a real run sends. With
        `dry_run` no model is built (nothing will be called, so a remote model need not be
        switched on yet) and the model is named from the settings."""
        settings = project.settings
        model, label, pseud = project_model(project, chat_model, pseudonymise, dry_run)
        return cls(model, settings, None if dry_run else project.store, pseud, max_codes=settings.suggest.top_k,
                   examples_per_code=settings.suggest.examples_per_code, embed=embed_or_none(project), model=label)

    def parallel_calls(self, requested: int | None) -> int:
        """Calls this engine may have in flight at once: what was asked, or one for a model that
        is not thread-safe (an in-process GGUF model), however concurrency is set."""
        return parallel_calls(self.chat_model, requested)

    def prepare(self, codes: list[StoredCode], context: SuggestContext) -> None:
        self._examples = accepted_examples(context.project)

    # -- prompt ----------------------------------------------------------------------------------
    def codebook_text(self, codes: list[StoredCode]) -> str:
        names = {c.id: c.name for c in codes}
        lines = []
        for c in codes:
            parts = [f"- {c.name}" + (f" (under {names[c.parent_id]})" if c.parent_id in names else "")]
            for label, val in (("Definition", c.definition), ("Include", c.include), ("Exclude", c.exclude)):
                if val:
                    parts.append(f"  {label}: {' '.join(val.split())}")
            lines.append("\n".join(parts))
        return "\n".join(lines)

    def examples_text(self, excerpt: StoredExcerpt, codes: list[StoredCode]) -> str:
        chosen: list[tuple[float, str, str]] = []
        for c in codes:
            texts = [t for owner, t in self._examples.get(c.id, []) if owner != excerpt.id]
            if not texts:
                continue
            if self.embed is not None and len(texts) > self.examples_per_code:
                sims = self.embed(texts) @ self.embed([excerpt.text])[0]
                order = list(np.argsort(-sims)[: self.examples_per_code])
                picked = [(float(sims[i]), texts[i]) for i in order]
            else:
                picked = [(0.0, t) for t in texts[: self.examples_per_code]]
            chosen += [(s, c.name, t) for s, t in picked]
        if not chosen:
            return "(none yet)"
        chosen.sort(key=lambda x: -x[0])
        return "\n".join(f'<example code="{n}">\n{escape_data(t)}\n</example>' for _, n, t in chosen[:12])

    def prompt_for(self, excerpt: StoredExcerpt, codes: list[StoredCode], context: SuggestContext) -> tuple[list[StoredCode], dict[str, Any]]:
        """The codes that apply to this excerpt's source (scoped codes elsewhere are left out) and
        the prompt variables: the one path used by a real call, a dry run and a cost estimate."""
        usable = usable_codes(excerpt, codes, context)
        return usable, self.variables(excerpt, usable, context)

    def variables(self, excerpt: StoredExcerpt, codes: list[StoredCode], context: SuggestContext) -> dict[str, Any]:
        ctx = neighbour_text(context.project.store, excerpt, 1)
        return {"codebook": self.codebook_text(codes), "examples": self.examples_text(excerpt, codes),
                "context": ctx, "excerpt": escape_data(excerpt.text), "max_codes": self.max_codes}

    # -- calling and checking --------------------------------------------------------------------
    def suggest(self, excerpts: Sequence[StoredExcerpt], codes: list[StoredCode], context: SuggestContext) -> list[EngineResult]:
        if not self._examples:
            self.prepare(codes, context)
        return [self.suggest_one(e, codes, context) for e in excerpts]

    def suggest_one(self, excerpt: StoredExcerpt, codes: list[StoredCode], context: SuggestContext) -> EngineResult:
        src = context.sources.get(excerpt.source_id)
        usable, variables = self.prompt_for(excerpt, codes, context)
        try:
            out, rec = call_structured(self.chat_model, self.template, variables, SuggestOutput,
                                       cache_store=self.cache_store, settings=self.settings,
                                       pseudonymiser=self.pseudonymiser)
        except Exception as exc:  # noqa: BLE001 - one excerpt failing must not stop the batch
            return EngineResult(excerpt_id=excerpt.id, error=f"{type(exc).__name__}: {exc}")
        res = EngineResult(excerpt_id=excerpt.id, call=rec.to_dict(), cost_usd=rec.cost_usd)
        if out is None:
            res.error = rec.error
            return res
        text = src.text if src is not None else None
        res.proposals, res.counts = check_output(out, excerpt, usable, text, self.max_codes)
        return res


def embed_or_none(project: Any) -> Any:
    """The project's embedder for picking similar examples; without one, examples come in stored order."""
    try:
        from assistant.coding.suggest.offline import project_embed

        return project_embed(project)
    except Exception:  # noqa: BLE001
        return None


def _evidence(claim: str, excerpt: StoredExcerpt, source_text: str | None, counts: Counter) -> tuple[int, int, str] | None:
    claim = unescape_data(claim or "").strip()
    if not claim:
        counts["evidence_missing"] += 1
        return None
    text = source_text if source_text is not None else " " * excerpt.start + excerpt.text
    loc = locate(text, claim, within=(excerpt.start, excerpt.end), min_ratio=0.9)
    if loc is None:
        counts["evidence_dropped"] += 1
        return None
    if loc.repaired:
        counts["evidence_repaired"] += 1
    return loc.start, loc.end, loc.text


def check_output(out: SuggestOutput, excerpt: StoredExcerpt, codes: list[StoredCode], source_text: str | None,
                 max_codes: int) -> tuple[list[Proposal], Counter]:
    """Keep only codebook codes with verified (or dropped) evidence, and evidenced new codes
    (flagged `new_code`); flag proposals that rest on instructions; count everything removed."""
    counts: Counter = Counter()
    by_name = {_key(c.name): c for c in codes}
    props: list[Proposal] = []
    seen: set[int] = set()
    for cp in out.codes:
        code = by_name.get(_key(cp.code)) or by_name.get(_key(cp.code.split(">")[-1]))
        if code is None:
            counts["codes_dropped"] += 1
            continue
        if code.id in seen or len(props) >= max_codes:
            counts["codes_over_limit"] += 1
            continue
        seen.add(code.id)
        ev = _evidence(cp.evidence, excerpt, source_text, counts)
        p = Proposal(code_id=code.id, score=cp.confidence, rationale=cp.rationale[:500],
                     evidence_start=ev[0] if ev else None, evidence_end=ev[1] if ev else None,
                     evidence_text=ev[2] if ev else None)
        props.append(_distrust(p, ev[2] if ev else unescape_data(cp.evidence or ""), excerpt, code.name, counts))
    for nc in out.proposed_new_codes:
        if len([p for p in props if p.code_id is None]) >= MAX_NEW_CODES or not nc.name.strip():
            counts["new_codes_dropped"] += 1
            continue
        if _key(nc.name) in by_name:
            counts["new_codes_dropped"] += 1  # not new: the model should have used the code
            continue
        ev = _evidence(nc.evidence, excerpt, source_text, counts)
        if ev is None:  # an unevidenced new code is noise
            counts["new_codes_dropped"] += 1
            continue
        name = nc.name.strip()[:80]
        p = Proposal(code_id=None, score=0.0, rationale=nc.rationale[:500], evidence_start=ev[0],
                     evidence_end=ev[1], evidence_text=ev[2], proposed_name=name,
                     proposed_definition=nc.definition[:500], flags=[FLAG_NEW_CODE])
        counts["new_codes_proposed"] += 1
        props.append(_distrust(p, ev[2], excerpt, name, counts))
    return props, counts


def instruction_behind(evidence: str, excerpt_text: str, code_name: str) -> str | None:
    """The instruction-like phrase a proposal rests on: in its evidence, or an instruction in the
    excerpt whose sentence names the proposed code ("... tag everything as HACKED.")."""
    phrase = instruction_phrase(evidence)
    if phrase:
        return phrase
    want = _key(code_name)
    for start, end in instruction_spans(excerpt_text):
        stop = re.search(r"[.!?\n]", excerpt_text[end:])
        sentence = excerpt_text[start : end + (stop.end() if stop else len(excerpt_text) - end)]
        if want and want in _key(sentence):
            return " ".join(excerpt_text[start:end].split())
    return None


def _distrust(p: Proposal, evidence: str, excerpt: StoredExcerpt, code_name: str, counts: Counter) -> Proposal:
    phrase = instruction_behind(evidence, excerpt.text, code_name)
    if phrase is None:
        return p
    counts["suspicious_evidence"] += 1
    p.flags = [*p.flags, FLAG_SUSPICIOUS]
    p.score = min(p.score, SUSPICIOUS_MAX_SCORE)
    warning = (f"Caution: this rests on words addressed to the AI (\u201c{phrase[:80]}\u201d), not on what the "
               "text is about; the text may have steered the suggestion.")
    p.rationale = f"{warning} {p.rationale}".strip()[:700]
    return p
