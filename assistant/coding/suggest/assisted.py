"""The LLM engine as a small local model can carry it: the offline engine proposes, the model judges.

Why this shape. Measured on survey answers and on PDPilot, a 1.5B model choosing freely from a
20-50 code codebook agreed with the analyst far less than the offline engine did (kappa 0.21 vs
0.54), spent most of its time writing, and over-applied codes. So the model is given the job a
small model does well, a yes/no judgement on a handful of candidates, and its judgement is
combined with the offline scores by a rule chosen on a held-out split
(`benchmarks/precode_llm_pdpilot.py`):

- candidates: the offline engine's top `candidates` codes for the excerpt (after learning from the
  analyst's decisions), so a 50-code prompt becomes a 5-code question;
- per candidate the reply gives a short `reason` before `applies` (the grammar fixes the order,
  so the model reasons before it labels), in a slot numbered as the candidate list is: the model
  writes no names, so a reply can only speak of what was asked, and it writes about half the
  tokens of a reply that names each candidate (prompt v2, kept as `reply="named"`). Once the
  prefix is cached, output tokens are most of a small model's time. A model under a billion
  weights loses track of the numbers, so `reply="auto"` (the default) names them for it
  (`resolve_reply`);
- the prompt is laid out for the model's cache: instructions, the whole codebook (with
  include/exclude criteria) and the analyst's accepted examples form a system message that is
  byte-identical for every excerpt of a run, and only the user message (context, excerpt,
  candidate list) changes. llama.cpp reuses the longest common prefix of consecutive prompts, and
  Ollama and vLLM do likewise, so each excerpt costs its own tokens only. This is also why the
  codebook order in the prefix is fixed; position bias is measured, and can be averaged out, on
  the candidate list (`order`: rank, reversed, shuffled per excerpt);
- `runs=2` asks twice (the second time with the candidates in reverse order, or a second model)
  and a code counts as a yes only when both agree: small models over-apply codes, and agreement
  cuts false positives;
- `combine` turns votes into proposals: "confirm" keeps the offline picks the model agrees with,
  "rerank" adds `weight` to a yes and subtracts it from a no before the offline top-k and
  thresholds (the default, with weight 0.5: measured on two real models it never did worse than
  the offline engine, where "confirm" did with the smaller one), "llm" proposes the candidates
  the model says yes to, "offline" ignores the votes. Whatever the rule, an excerpt whose model call fails or returns no usable decision gets the
  offline engine's proposals (counted as `llm_fallback`), so the engine is never worse than the
  offline engine through a failure.

Evidence is the offline engine's best-matching sentence for the code: verbatim by construction,
and the model is not asked to copy text (copying is where small models invent). A proposal whose
evidence or the excerpt's instructions name the code is flagged exactly as in `suggest.llm`."""

from __future__ import annotations

import random
import threading
import zlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
from pydantic import Field, field_validator, model_validator

from assistant.coding.suggest import (
    EngineResult,
    Proposal,
    SuggestContext,
    SuggestionEngine,
    accepted_examples,
)
from assistant.coding.suggest.llm import (
    _distrust,
    escape_data,
    neighbour_text,
    project_model,
    usable_codes,
)
from assistant.coding.suggest.schema import _Out
from assistant.llm.prompts import PromptTemplate, load_prompt
from assistant.llm.providers import model_id, parallel_calls
from assistant.llm.pseudonymise import Pseudonymiser
from assistant.llm.structured import CallRecord, call_structured, render_messages
from assistant.models import StoredCode, StoredExcerpt

PROMPT = "suggest_codes"
PROMPT_VERSION = 3
# How a reply names the candidates. "numbered" (prompt v3): by their number in the list, with a
# reason of at most 60 characters; "named" (v2): by their full name, with a 100-character
# rationale. Output tokens are most of a small model's time once the prefix is cached, and a
# number is one token where a name is several, so v3 is the default; v2 stays to measure it.
REPLY_PROMPTS = {"numbered": 3, "named": 2}
REASON_CHARS = {"numbered": 60, "named": 100}
Reply = Literal["auto", "numbered", "named"]
SMALL_MODEL_PARAMS = 1_000_000_000  # below this, "auto" answers by name (see resolve_reply)
Combine = Literal["offline", "confirm", "rerank", "llm"]
Order = Literal["rank", "reversed", "shuffled"]


# -- output -------------------------------------------------------------------------------------
class CandidateDecision(_Out):
    code: str = ""
    rationale: str = ""
    applies: bool = False

    @model_validator(mode="before")
    @classmethod
    def _numbered(cls, v: object) -> object:
        """A numbered reply (prompt v3) says `n` and `reason`; it means the same as `code` (the
        candidate's number, which `parse_judgement` maps back) and `rationale`."""
        if isinstance(v, dict):
            v = dict(v)
            if "n" in v and "code" not in v:
                v["code"] = str(v.pop("n"))
            if "reason" in v and "rationale" not in v:
                v["rationale"] = v.pop("reason")
            if isinstance(v.get("code"), int):
                v["code"] = str(v["code"])
        return v

    @field_validator("applies", mode="before")
    @classmethod
    def _yes(cls, v: object) -> bool:
        """Models write "yes", "Yes.", 1 or true; all mean the same."""
        if isinstance(v, str):
            return v.strip().strip(".").lower() in ("yes", "true", "y", "1", "applies")
        return bool(v)


class DecisionsOut(_Out):
    decisions: list[CandidateDecision] = Field(default_factory=list)


def decision_schema(labels: Sequence[str], rationale_first: bool = True, rationale_chars: int | None = None,
                    reply: str = "numbered") -> dict[str, Any]:
    """The grammar for one call: exactly one decision per candidate, the rationale (bounded)
    before the label unless `rationale_first` is off (to measure it).

    "numbered": decision i is a tuple slot whose `n` is fixed to i, so the model cannot skip,
    repeat or reorder a candidate and never spends tokens on a name. "named": each decision
    names its candidate from an enum of this call's labels."""
    n = len(labels)
    chars = rationale_chars or REASON_CHARS.get(reply, 60)
    if reply == "numbered":
        def slot(i: int) -> dict[str, Any]:
            props = {"n": {"type": "integer", "const": i}, "reason": {"type": "string", "maxLength": chars},
                     "applies": {"type": "boolean"}}
            order = ["n", "reason", "applies"] if rationale_first else ["n", "applies", "reason"]
            return {"type": "object", "properties": {k: props[k] for k in order}, "required": order}
        arr: dict[str, Any] = {"type": "array", "prefixItems": [slot(i) for i in range(1, n + 1)],
                               "minItems": n, "maxItems": n}
    else:
        props = {"code": {"type": "string", "enum": list(labels)},
                 "rationale": {"type": "string", "maxLength": chars},
                 "applies": {"type": "boolean"}}
        order = ["code", "rationale", "applies"] if rationale_first else ["code", "applies", "rationale"]
        item = {"type": "object", "properties": {k: props[k] for k in order}, "required": order}
        arr = {"type": "array", "items": item, "minItems": n, "maxItems": n}
    return {"type": "object", "required": ["decisions"], "properties": {"decisions": arr}}


def resolve_reply(reply: str, chat_model: Any) -> str:
    """The reply layout for this model. "auto" is numbered unless the model says it is small.

    Measured on PDPilot (benchmarks/precode_llm_pdpilot.py): numbered, Qwen2.5-1.5B tied or beat
    the offline engine under every rule and ran 1.9x faster than named; SmolLM2-135M lost track of
    the numbers (yes to 8% of first candidates and 98% of second ones), and the default rule fell
    from the offline engine's 0.416 to 0.287, where named it tied it. So a model that knows its
    size (in-process GGUF) and is under a billion weights answers by name; one that cannot say
    (Ollama, a remote API) is assumed to be larger."""
    if reply != "auto":
        return reply
    count = getattr(chat_model, "parameter_count", None)
    n = count() if callable(count) else None  # None when unreadable: the first call then says why
    return "named" if n is not None and n < SMALL_MODEL_PARAMS else "numbered"


# -- the fixed prefix ---------------------------------------------------------------------------
def code_labels(codes: Sequence[StoredCode]) -> dict[int, str]:
    """The name each code goes by in prompts: its name, or "Parent > Name" where two codes share
    a name, so every label is unique and a reply maps back to one code."""
    by_id = {c.id: c for c in codes}
    clash = Counter(" ".join(c.name.split()).casefold() for c in codes)
    out = {}
    for c in codes:
        key = " ".join(c.name.split()).casefold()
        parent = by_id.get(c.parent_id) if c.parent_id is not None else None
        out[c.id] = f"{parent.name} > {c.name}" if clash[key] > 1 and parent is not None else c.name
    return out


def codebook_text(codes: Sequence[StoredCode]) -> str:
    """Every code with its definition and include/exclude criteria, in codebook order (fixed:
    the prefix must not change between excerpts)."""
    labels = code_labels(codes)
    names = {c.id: c.name for c in codes}
    lines = []
    for c in codes:
        parts = [f"- {labels[c.id]}" + (f" (under {names[c.parent_id]})" if c.parent_id in names
                                        and " > " not in labels[c.id] else "")]
        for label, val in (("Definition", c.definition), ("Include", c.include), ("Exclude", c.exclude)):
            if val:
                parts.append(f"  {label}: {' '.join(val.split())}")
        lines.append("\n".join(parts))
    return "\n".join(lines) or "(empty)"


def _clip(text: str, n: int) -> str:
    text = " ".join(text.split())
    if len(text) <= n:
        return text
    cut = text[:n].rsplit(" ", 1)[0]
    return (cut or text[:n]) + " …"


def examples_text(codes: Sequence[StoredCode], examples: dict[int, list[str]], per_code: int = 2,
                  chars: int = 200, budget: int = 6000) -> str:
    """The analyst's accepted examples as few-shot, the same for every excerpt: round-robin over
    the codes (each code's first example, then each code's second, ...) so every code is shown
    before any code is shown twice, each clipped to `chars`, until `budget` characters."""
    labels = code_labels(codes)
    picked: list[str] = []
    used = 0
    for round_ in range(max(0, per_code)):
        for c in codes:
            texts = [t for t in examples.get(c.id, []) if t.strip()]
            if round_ >= len(texts):
                continue
            block = f'<example code="{labels[c.id]}">\n{escape_data(_clip(texts[round_], chars))}\n</example>'
            if used + len(block) > budget:
                return "\n".join(picked) or "(none yet)"
            picked.append(block)
            used += len(block) + 1
    return "\n".join(picked) or "(none yet)"


# -- asking about candidates ---------------------------------------------------------------------
@dataclass
class Judgement:
    """One model call's verdict on the candidates: key -> (applies, rationale)."""

    votes: dict[int, bool] = field(default_factory=dict)
    rationales: dict[int, str] = field(default_factory=dict)
    order: list[int] = field(default_factory=list)  # candidate keys in the order asked
    error: str | None = None
    record: CallRecord | None = None
    counts: Counter = field(default_factory=Counter)


def ordered(keys: Sequence[int], order: str, salt: str = "") -> list[int]:
    """The candidates in the order the prompt lists them. "shuffled" is seeded by the excerpt, so
    a rerun sends the same prompt (and hits the response cache)."""
    keys = list(keys)
    if order == "reversed":
        return keys[::-1]
    if order == "shuffled":
        random.Random(zlib.crc32(salt.encode("utf-8"))).shuffle(keys)
    return keys


def parse_judgement(out: DecisionsOut, asked: Sequence[int], labels: dict[int, str]) -> Judgement:
    """Map a reply back to the candidates asked about: by label (case and spacing ignored), or by
    the number the list gave it. Names not asked about are dropped and counted; a candidate the
    reply skipped is a no, counted as `decisions_missing`."""
    want = {" ".join(labels[k].split()).casefold(): k for k in asked}
    j = Judgement(order=list(asked))
    for d in out.decisions:
        name = " ".join(d.code.split()).casefold().lstrip("0123456789. )").strip() or d.code.strip()
        key = want.get(name)
        if key is None and d.code.strip().rstrip(".").isdigit():
            i = int(d.code.strip().rstrip(".")) - 1
            key = asked[i] if 0 <= i < len(asked) else None
        if key is None:
            j.counts["codes_dropped"] += 1
            continue
        if key in j.votes:
            continue
        j.votes[key] = bool(d.applies)
        j.rationales[key] = d.rationale.strip()[:300]
    missing = [k for k in asked if k not in j.votes]
    j.counts["decisions_missing"] += len(missing)
    for k in missing:
        j.votes[k] = False
    if len(missing) == len(asked):
        j.error = "the reply decided none of the candidates"
    return j


class CandidateJudge:
    """Asks a chat model about an excerpt's candidates, with the fixed prefix. No store access
    beyond the optional response cache, so the benchmark drives it exactly as the engine does."""

    def __init__(self, chat_model: Any, codes: Sequence[StoredCode], examples: dict[int, list[str]] | None = None,
                 *, examples_per_code: int = 2, example_chars: int = 200, example_budget: int = 6000,
                 rationale_first: bool = True, cache_store: Any = None, settings: Any = None,
                 pseudonymiser: Pseudonymiser | None = None, template: PromptTemplate | None = None,
                 reply: str = "numbered"):
        if reply not in REPLY_PROMPTS:
            raise ValueError(f"unknown reply {reply!r} (numbered or named)")
        self.chat_model = chat_model
        self.codes = list(codes)
        self.labels = code_labels(self.codes)
        self.rationale_first = rationale_first
        self.reply = reply
        self.cache_store, self.settings, self.pseudonymiser = cache_store, settings, pseudonymiser
        self.template = template or load_prompt(PROMPT, REPLY_PROMPTS[reply])
        self.prefix = {"codebook": codebook_text(self.codes),
                       "examples": examples_text(self.codes, examples or {}, examples_per_code, example_chars,
                                                 example_budget)}

    def variables(self, excerpt_text: str, context: str, asked: Sequence[int]) -> dict[str, Any]:
        cands = "\n".join(f"{i}. {self.labels[k]}" for i, k in enumerate(asked, start=1))
        return {**self.prefix, "context": context or "(none)", "excerpt": escape_data(excerpt_text),
                "candidates": cands}

    def messages(self, excerpt_text: str, context: str, asked: Sequence[int], session: Any = None) -> list[Any]:
        return render_messages(self.template, self.variables(excerpt_text, context, asked), session)[1]

    def judge(self, excerpt_text: str, context: str, candidates: Sequence[int], order: str = "rank",
              salt: str = "", chat_model: Any = None) -> Judgement:
        asked = ordered(candidates, order, salt)
        if not asked:
            return Judgement()
        schema = decision_schema([self.labels[k] for k in asked], self.rationale_first, reply=self.reply)
        try:
            out, rec = call_structured(chat_model or self.chat_model, self.template,
                                       self.variables(excerpt_text, context, asked), DecisionsOut,
                                       cache_store=self.cache_store, settings=self.settings,
                                       pseudonymiser=self.pseudonymiser, json_schema=schema)
        except Exception as exc:  # noqa: BLE001 - one excerpt failing must not stop the batch
            return Judgement(order=list(asked), error=f"{type(exc).__name__}: {exc}")
        if out is None:
            return Judgement(order=list(asked), error=rec.error, record=rec)
        j = parse_judgement(out, asked, self.labels)
        j.record = rec
        return j


def agree(judgements: Sequence[Judgement]) -> dict[int, bool]:
    """A candidate is a yes only when every run says yes (the ensemble rule for small models)."""
    keys = set().union(*(j.votes for j in judgements)) if judgements else set()
    return {k: all(j.votes.get(k, False) for j in judgements) for k in keys}


# -- combining votes with the offline scores ----------------------------------------------------
def combine(scores: np.ndarray, thresholds: np.ndarray, candidates: Sequence[int], votes: dict[int, bool] | None,
            mode: str, top_k: int, weight: float = 1.0) -> list[tuple[int, float]]:
    """The (column, score) picks for one excerpt. `scores` and `thresholds` are the offline
    engine's (z-scores, per code); `candidates` are columns in offline rank order; `votes` maps a
    column to the model's yes/no, or is None when the model gave no usable verdict (then the
    offline picks, whatever the mode)."""
    order = [int(j) for j in np.argsort(-scores)]
    offline = [(j, float(scores[j])) for j in order[:top_k] if scores[j] >= thresholds[j] and np.isfinite(scores[j])]
    if votes is None or mode == "offline":
        return offline
    cands = [j for j in candidates if np.isfinite(scores[j])]
    if mode == "confirm":
        return [(j, s) for j, s in offline if votes.get(j, True)]
    if mode == "llm":
        yes = [j for j in cands if votes.get(j)]
        return [(j, float(scores[j])) for j in sorted(yes, key=lambda j: -scores[j])[:top_k]]
    if mode == "rerank":
        adj = {j: float(scores[j]) + (weight if votes.get(j) else -weight if j in votes else 0.0) for j in cands}
        ranked = sorted(adj, key=lambda j: -adj[j])[:top_k]
        return [(j, adj[j]) for j in ranked if adj[j] >= thresholds[j]]
    raise ValueError(f"unknown combine mode {mode!r} (offline, confirm, rerank or llm)")


# -- the engine ---------------------------------------------------------------------------------
@dataclass
class AssistParams:
    candidates: int = 5
    combine: str = "rerank"  # the default of settings.SuggestSettings.llm_combine (why: there)
    weight: float = 0.5
    runs: int = 1
    order: str = "rank"
    rationale_first: bool = True
    reply: str = "auto"
    examples_per_code: int = 2
    example_chars: int = 200
    example_budget: int = 6000
    context_turns: int = 1


class AssistedEngine(SuggestionEngine):
    """Engine "llm" in its default (assisted) mode; see the module docstring."""

    name = "llm"

    def __init__(self, chat_model: Any, offline: Any, settings: Any = None, cache_store: Any = None,
                 pseudonymiser: Pseudonymiser | None = None, params: AssistParams | None = None,
                 top_k: int = 3, model: str | None = None, second_model: Any = None):
        self.chat_model = chat_model
        self.second_model = second_model
        self.offline = offline
        self.settings = settings
        self.cache_store = cache_store
        self.pseudonymiser = pseudonymiser
        self.p = params or AssistParams()
        self.top_k = top_k
        self.model = model or model_id(chat_model)
        self._use_reply(self.p.reply if self.p.reply in REPLY_PROMPTS else "numbered")
        self._judges: dict[tuple[int, ...], CandidateJudge] = {}
        self._examples: dict[int, list[str]] | None = None
        self._lock = threading.Lock()  # the offline scorer keeps per-call state

    def _use_reply(self, reply: str) -> None:
        self.reply = reply
        self.template = load_prompt(PROMPT, REPLY_PROMPTS[reply])
        self.prompt_version = self.template.version

    @property
    def params(self) -> dict[str, Any]:
        llm = getattr(self.settings, "llm", None)
        out = {"mode": "assisted", **asdict(self.p), "reply_used": self.reply, "top_k": self.top_k,
               "prompt_sha256": self.template.sha256,
               "temperature": getattr(llm, "temperature", None), "pseudonymised": self.pseudonymiser is not None,
               "offline_model": self.offline.model}
        if self.second_model is not None:
            out["second_model"] = model_id(self.second_model)
        return out

    @classmethod
    def from_project(cls, project: Any, chat_model: Any = None, pseudonymise: bool | None = None, *,
                     dry_run: bool = False) -> AssistedEngine:
        """As the project configures it (settings.suggest.llm_*), the one constructor used by
        suggestions, pre-coding and dry runs."""
        from assistant.coding.suggest.offline import OfflineEngine

        settings = project.settings
        model, label, pseud = project_model(project, chat_model, pseudonymise, dry_run)
        s = settings.suggest
        params = AssistParams(candidates=getattr(s, "llm_candidates", 5), combine=getattr(s, "llm_combine", "rerank"),
                              weight=getattr(s, "llm_weight", 0.5), runs=getattr(s, "llm_runs", 1),
                              order=getattr(s, "llm_order", "rank"), reply=getattr(s, "llm_reply", "auto"),
                              examples_per_code=s.examples_per_code)
        return cls(model, OfflineEngine.from_project(project), settings, None if dry_run else project.store, pseud,
                   params, top_k=s.top_k, model=label)

    def parallel_calls(self, requested: int | None) -> int:
        n = parallel_calls(self.chat_model, requested)
        return min(n, parallel_calls(self.second_model, requested)) if self.second_model is not None else n

    def prepare(self, codes: list[StoredCode], context: SuggestContext) -> None:
        self._use_reply(resolve_reply(self.p.reply, self.chat_model))  # "auto" may load the model to ask its size
        self.offline.prepare(codes, context)
        holdout = getattr(context, "holdout", frozenset())  # a blind validation sample is never few-shot
        self._examples = {k: [t for _, t in v] for k, v in accepted_examples(context.project, holdout).items()}
        self._judges = {}

    def judge_for(self, usable: Sequence[StoredCode]) -> CandidateJudge:
        """The judge (and so the fixed prefix) for the codes that apply to a source: one per
        distinct set, so sources of one kind share a prefix and a code scoped to documents never
        appears in an interview's prompt."""
        key = tuple(c.id for c in usable)
        with self._lock:
            judge = self._judges.get(key)
            if judge is None:
                judge = self._judges[key] = CandidateJudge(
                    self.chat_model, usable, self._examples or {}, examples_per_code=self.p.examples_per_code,
                    example_chars=self.p.example_chars, example_budget=self.p.example_budget,
                    rationale_first=self.p.rationale_first, cache_store=self.cache_store, settings=self.settings,
                    pseudonymiser=self.pseudonymiser, template=self.template, reply=self.reply)
        return judge

    def usable_codes(self, excerpt: StoredExcerpt, codes: list[StoredCode], context: SuggestContext) -> list[StoredCode]:
        return usable_codes(excerpt, codes, context)

    # -- per excerpt -----------------------------------------------------------------------------
    def offline_rows(self, excerpts: Sequence[StoredExcerpt], codes: list[StoredCode], context: SuggestContext
                     ) -> tuple[np.ndarray, np.ndarray, list]:
        """Offline scores (scoped codes at -inf where they do not apply), best sentences, spans."""
        from assistant.coding.codebook import code_applies
        from assistant.corpus.view import excerpt_question

        with self._lock:
            if self.offline._prepared_for is None:
                self.offline.prepare(codes, context)
            scores, best, spans = self.offline.scorer.score([e.text for e in excerpts], [e.id for e in excerpts])
            spans = list(spans)
        for i, e in enumerate(excerpts):
            src = context.sources.get(e.source_id)
            question = excerpt_question(e, src) if src is not None else None
            for j, c in enumerate(codes):
                if c.scope and src is not None and not code_applies(c, src, question):
                    scores[i, j] = -np.inf
        return scores, best, spans

    def context_text(self, excerpt: StoredExcerpt, context: SuggestContext) -> str:
        n = self.p.context_turns
        if n <= 0:
            return "(none)"
        return neighbour_text(context.project.store, excerpt, n)

    def candidates_for(self, row: np.ndarray) -> list[int]:
        return [int(j) for j in np.argsort(-row)[: self.p.candidates] if np.isfinite(row[j])]

    def prompt_for(self, excerpt: StoredExcerpt, codes: list[StoredCode], context: SuggestContext
                   ) -> tuple[list[StoredCode], dict[str, Any]]:
        """(candidate codes, prompt variables) exactly as a real call renders them; for dry runs
        and cost estimates."""
        if self._examples is None:
            self.prepare(codes, context)
        scores, _, _ = self.offline_rows([excerpt], codes, context)
        cands = self.candidates_for(scores[0])
        asked = ordered([codes[j].id for j in cands], self.p.order, str(excerpt.id))
        judge = self.judge_for(self.usable_codes(excerpt, codes, context))
        return [codes[j] for j in cands], judge.variables(excerpt.text, self.context_text(excerpt, context), asked)

    def suggest(self, excerpts: Sequence[StoredExcerpt], codes: list[StoredCode], context: SuggestContext) -> list[EngineResult]:
        if self._examples is None:
            self.prepare(codes, context)
        return [self.suggest_one(e, codes, context) for e in excerpts]

    def suggest_one(self, excerpt: StoredExcerpt, codes: list[StoredCode], context: SuggestContext) -> EngineResult:
        if self._examples is None:
            self.prepare(codes, context)
        res = EngineResult(excerpt_id=excerpt.id)
        try:
            scores, best, spans = self.offline_rows([excerpt], codes, context)
        except Exception as exc:  # noqa: BLE001
            res.error = f"{type(exc).__name__}: {exc}"
            return res
        row = scores[0]
        cols = self.candidates_for(row)
        ids = [codes[j].id for j in cols]
        col_of = {codes[j].id: j for j in cols}
        ctx_text = self.context_text(excerpt, context)
        judge = self.judge_for(self.usable_codes(excerpt, codes, context))
        runs: list[Judgement] = []
        for r in range(max(1, self.p.runs)):
            model = self.second_model if (r == 1 and self.second_model is not None) else None
            order = self.p.order if r == 0 or self.second_model is not None else \
                ("rank" if self.p.order == "reversed" else "reversed")
            runs.append(judge.judge(excerpt.text, ctx_text, ids, order, str(excerpt.id), model))
        calls = [j.record for j in runs if j.record is not None]
        if calls:
            res.call = _merge_calls(calls)
            res.cost_usd = sum(c.cost_usd for c in calls)
        for j in runs:
            res.counts.update(j.counts)
        failed = [j.error for j in runs if j.error]
        votes: dict[int, bool] | None = None
        if failed:
            res.counts["llm_fallback"] += 1
        else:
            votes = {col_of[k]: v for k, v in agree(runs).items() if k in col_of}
            res.counts["llm_yes"] += sum(votes.values())
            res.counts["llm_no"] += len(votes) - sum(votes.values())
        thresholds = self.offline.scorer.thresholds
        picks = combine(row, thresholds, cols, votes, self.p.combine, self.top_k, self.p.weight)
        s0, why0 = runs[0].rationales, failed[0] if failed else None
        for j, sc in picks:
            c = codes[j]
            s, t = spans[best[0, j]]
            model_says = s0.get(c.id, "")
            if votes is None:
                rationale = f"offline engine only (the model gave no usable verdict: {str(why0)[:120]})"
            else:
                verdict = "agrees" if votes.get(j) else "does not agree"
                rationale = f"{model_says} (model {verdict}; offline z={float(row[j]):.2f})".strip()
            p = Proposal(code_id=c.id, score=sc, rationale=rationale[:500], evidence_start=excerpt.start + s,
                         evidence_end=excerpt.start + t, evidence_text=excerpt.text[s:t])
            res.proposals.append(_distrust(p, p.evidence_text or "", excerpt, c.name, res.counts))
        return res


def _merge_calls(calls: Sequence[CallRecord]) -> dict[str, Any]:
    """One call summary for the run item, summing what several runs cost."""
    first = calls[0].to_dict()
    for c in calls[1:]:
        for k in ("model_calls", "input_tokens", "output_tokens", "cost_usd", "seconds"):
            first[k] = (first.get(k) or 0) + getattr(c, k)
        first["cached"] = bool(first.get("cached")) and c.cached
    first["runs"] = len(calls)
    return first


def llm_engine_for(project: Any, chat_model: Any = None, pseudonymise: bool | None = None, *,
                   dry_run: bool = False) -> SuggestionEngine:
    """The LLM engine the project's settings choose: assisted (default) or the free-choice engine
    of `suggest.llm` (`settings.suggest.llm_mode = "free"`, which may also propose new codes)."""
    if getattr(project.settings.suggest, "llm_mode", "assisted") == "free":
        from assistant.coding.suggest.llm import LLMEngine

        return LLMEngine.from_project(project, chat_model, pseudonymise, dry_run=dry_run)
    return AssistedEngine.from_project(project, chat_model, pseudonymise, dry_run=dry_run)


__all__ = ["AssistParams", "AssistedEngine", "CandidateDecision", "CandidateJudge", "DecisionsOut", "Judgement",
           "agree", "code_labels", "codebook_text", "combine", "decision_schema", "examples_text",
           "llm_engine_for", "ordered", "parse_judgement"]
