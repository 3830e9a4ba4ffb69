"""Batch pre-coding: resumable after a crash, dry runs call nothing and show the pseudonymised
prompt, budgets stop the run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from builders import build_coding_project as make_project
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from assistant.coding.precode import dry_run, precode
from assistant.coding.suggest import make_engine


class Crashing:
    """Wraps an engine and raises on the N-th excerpt, like a crash mid-run."""

    def __init__(self, inner: Any, crash_on: int | None):
        self.inner, self.crash_on, self.seen = inner, crash_on, []
        self.name, self.model, self.prompt_version = inner.name, inner.model, inner.prompt_version

    params = property(lambda self: self.inner.params)

    def audit_info(self) -> dict:
        return self.inner.audit_info()

    def prepare(self, codes, ctx):  # noqa: ANN001, ANN201
        self.inner.prepare(codes, ctx)

    def suggest(self, excerpts, codes, ctx):  # noqa: ANN001, ANN201
        self.seen += [e.id for e in excerpts]
        if self.crash_on is not None and len(self.seen) > self.crash_on:
            raise RuntimeError("simulated crash")
        return self.inner.suggest(excerpts, codes, ctx)


def test_resume_after_crash(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    eng = Crashing(make_engine(project, "offline"), crash_on=2)
    with pytest.raises(RuntimeError, match="simulated crash"):
        precode(project, eng, batch_size=1)
    run = project.store.list_runs("precode")[-1]
    assert run["status"] == "interrupted"
    finished = set(project.store.run_items(run["id"]))
    assert len(finished) == 2
    again = Crashing(make_engine(project, "offline"), crash_on=None)
    rep = precode(project, again, batch_size=1)
    assert rep.resumed and rep.run_id == run["id"] and rep.status == "done"
    assert not finished & set(again.seen) and len(again.seen) == 2
    assert rep.skipped_finished == 2 and rep.skipped_interviewer == 3
    # a finished run is not resumed: the next rerun starts fresh
    assert not precode(project, "offline").resumed


def test_progress_and_summary(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    calls: list = []
    rep = precode(project, "offline", progress=lambda d, t: calls.append((d, t)))
    assert calls[-1] == (4, 4) and rep.done == 4 and rep.suggestions == sum(rep.per_code.values())


def _remote(project: Any) -> None:
    llm = project.settings.llm
    llm.provider, llm.model, llm.base_url = "openai", "gpt-test", "https://api.example.com/v1"
    llm.usd_per_1k_input, llm.usd_per_1k_output = 0.5, 1.5


def test_dry_run_calls_nothing_and_is_pseudonymised(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    _remote(project)
    rep = dry_run(project, n=4)
    assert rep.remote and rep.pseudonymised and rep.excerpts == 4 and len(rep.prompts) == 4
    text = json.dumps(rep.prompts)
    assert "Sarah" not in text and "07700" not in text and "[PHONE_1]" in text
    assert rep.input_tokens > 0 and rep.cost_usd > 0 and rep.token_method in ("chars/4", "tiktoken:cl100k_base")


def test_llm_precode_budget_and_cache(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    project.settings.llm.usd_per_1k_input = 1.0
    reply = AIMessage(content=json.dumps({"codes": []}))
    model = GenericFakeChatModel(messages=iter([reply] * 10))
    rep = precode(project, "llm", chat_model=model, budget_usd=0.0001, concurrency=2)
    assert rep.status == "budget" and rep.not_started == 4 and rep.done == 0
    rep = precode(project, "llm", chat_model=model, concurrency=2)
    assert rep.status == "done" and rep.done == 4 and rep.model_calls == 4
    again = precode(project, "llm", chat_model=model, concurrency=2, run_id="rerun")  # a fresh run
    assert again.done == 4 and again.model_calls == 0 and again.cached_calls == 4  # all from the cache


def test_dry_run_shows_the_prompt_the_model_receives(tmp_path) -> None:
    """The dry run must render exactly what a real call sends (same examples, same scoped codes)."""
    from assistant.coding.suggest import SuggestContext
    from assistant.coding.suggest.assisted import llm_engine_for

    class Recorder(GenericFakeChatModel):
        received: list = []

        def _generate(self, messages, stop=None, run_manager=None, **kwargs):
            self.received.append([str(m.content) for m in messages])
            return super()._generate(messages, stop=stop, run_manager=run_manager, **kwargs)

    from assistant.models import Code

    project = make_project(tmp_path)
    # a code scoped to documents must not appear in prompts for these interviews, in either path
    project.store.add_code(Code(name="Board governance", definition="Board papers only.",
                                scope={"filters": {"kind": "document"}}))
    report = dry_run(project, n=1)
    [shown] = report.prompts
    ex = project.store.get_excerpt(shown["excerpt_id"])
    model = Recorder(messages=iter([AIMessage(content=json.dumps({"codes": []}))]), received=[])
    eng = llm_engine_for(project, chat_model=model, pseudonymise=False)  # the engine a run uses
    ctx = SuggestContext.for_project(project)
    codes = project.store.list_codes()
    eng.prepare(codes, ctx)
    eng.suggest_one(ex, codes, ctx)
    assert model.received[0] == [shown["system"], shown["user"]]
    assert "Board governance" not in shown["system"] + shown["user"]
