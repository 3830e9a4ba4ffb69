"""A one-excerpt trial of a language model before a project is pointed at it (`thematic llm setup`
and the Settings page): one real structured suggestion call through the LLM engine, on one of the
project's own excerpts against its own codebook, timed.

The trial is what pre-coding would do for that excerpt (same prompt, same schema, same checks of
evidence and codes), but nothing is recorded: no suggestion, no cache entry (so the timing is the
model's, not the cache's). The model's own rules apply: a remote model is refused unless the
project allows remote models, and text sent to one is pseudonymised as in a real run."""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from assistant.errors import ThematicError
from assistant.models import StoredExcerpt
from assistant.project import Project
from assistant.settings import LLMSettings

TRIAL_MIN_CHARS = 150
TRIAL_DEADLINE_S = 180.0


@dataclass
class TrialResult:
    ok: bool
    model: str
    seconds: float
    excerpt_id: int | None = None
    source: str = ""
    codes: list[str] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)  # verbatim, checked by the engine
    counts: dict[str, int] = field(default_factory=dict)  # evidence repaired/dropped, codes dropped...
    input_tokens: int = 0
    output_tokens: int = 0
    model_calls: int = 0
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def trial_excerpt(project: Project, excerpt_id: int | None = None) -> StoredExcerpt:
    """The excerpt to try: the one asked for, else the first participant turn long enough to
    carry a code."""
    store = project.store
    if excerpt_id is not None:
        return store.get_excerpt(int(excerpt_id))
    excerpts = store.list_excerpts(include_interviewer=False)
    if not excerpts:
        raise ThematicError("the project has no excerpts to try a model on: ingest a source first")
    return next((e for e in excerpts if len(e.text) >= TRIAL_MIN_CHARS), max(excerpts, key=lambda e: len(e.text)))


def run_trial(project: Project, llm: LLMSettings, *, excerpt_id: int | None = None,
              chat_model: Any = None, deadline_s: float = TRIAL_DEADLINE_S) -> TrialResult:
    """Ask the model (`llm`, or the given `chat_model`) for codes for one excerpt, and time it;
    a model with no answer within `deadline_s` is reported as too slow."""
    from assistant.coding.suggest import SuggestContext
    from assistant.coding.suggest.llm import LLMEngine
    from assistant.llm import pseudonymiser_if_remote
    from assistant.llm.providers import build_chat_model, model_id

    codes = project.store.list_codes()
    if not codes:
        raise ThematicError("the project has no codebook to try a model against: import one first")
    ex = trial_excerpt(project, excerpt_id)
    settings = project.settings.model_copy(update={"llm": llm})
    t0 = time.perf_counter()
    try:
        model = chat_model if chat_model is not None else build_chat_model(llm)
    except ThematicError as exc:
        return TrialResult(ok=False, model=f"{llm.provider}:{llm.model or llm.model_path or ''}",
                           seconds=round(time.perf_counter() - t0, 3), excerpt_id=ex.id, error=str(exc))
    engine = LLMEngine(model, settings, cache_store=None, pseudonymiser=pseudonymiser_if_remote(_Remote(project, settings)),
                       max_codes=settings.suggest.top_k, examples_per_code=settings.suggest.examples_per_code,
                       embed=None)
    ctx = SuggestContext.for_project(project)
    engine.prepare(codes, ctx)
    done: list[Any] = []
    # a daemon thread, so a model that never answers (a large GGUF on two busy cores) costs the
    # caller `deadline_s`, not its session; the call itself cannot be interrupted and is left to end
    worker = threading.Thread(target=lambda: done.append(engine.suggest_one(ex, codes, ctx)), daemon=True,
                              name="thematic-llm-trial")
    worker.start()
    worker.join(deadline_s)
    seconds = round(time.perf_counter() - t0, 3)
    if not done:
        src = ctx.sources.get(ex.source_id)
        return TrialResult(ok=False, model=model_id(model), seconds=seconds, excerpt_id=ex.id,
                           source=src.name if src is not None else "", error=f"no answer within {deadline_s:g} s: too slow on this machine for pre-coding "
                                 "(try a smaller model, or a server with a GPU)")
    res = done[0]
    names = {c.id: c.name for c in codes}
    call = res.call or {}
    src = ctx.sources.get(ex.source_id)
    return TrialResult(
        ok=res.error is None, model=model_id(model), seconds=seconds, excerpt_id=ex.id,
        source=src.name if src is not None else "",
        codes=[names.get(p.code_id, f"new code: {p.proposed_name}") if p.code_id else f"new code: {p.proposed_name}"
               for p in res.proposals],
        evidence=[p.evidence_text for p in res.proposals if p.evidence_text],
        counts=dict(res.counts), input_tokens=int(call.get("input_tokens") or 0),
        output_tokens=int(call.get("output_tokens") or 0), model_calls=int(call.get("model_calls") or 0),
        error=res.error)


class _Remote:
    """The project as `pseudonymiser_if_remote` reads it, with the candidate model's settings."""

    def __init__(self, project: Project, settings: Any):
        self.store, self.settings = project.store, settings
