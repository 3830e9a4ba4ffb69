"""The assisted LLM engine with fake chat models: offline pre-ranked candidates, per-candidate
yes/no, two-run agreement, the fixed prompt prefix, and the combination that is never worse than
the offline engine when the model fails."""

from __future__ import annotations

import json
import os
import re
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from builders import add_coding, build_coding_project, excerpt_with
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import Field

from assistant.coding.suggest import SuggestContext
from assistant.coding.suggest.assisted import (
    AssistedEngine,
    DecisionsOut,
    agree,
    combine,
    decision_schema,
    llm_engine_for,
    ordered,
    parse_judgement,
)
from assistant.coding.suggest.llm import escape_data
from assistant.coding.suggest.offline import OfflineEngine
from assistant.models import Code

_CAND = re.compile(r"^\d+\. (.+)$", re.MULTILINE)


class Judge(BaseChatModel):
    """Answers the candidate question: yes for the names `says_yes(name, call_no)` accepts.
    Remembers every prompt. `broken` replies with prose that never parses."""

    says_yes: Any = None
    broken: bool = False
    model_name: str = "judge"  # part of the response cache key
    prompts: list = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "judge-fake"

    def _generate(self, messages: Any, stop: Any = None, run_manager: Any = None, **kwargs: Any) -> ChatResult:
        self.prompts.append([str(m.content) for m in messages])
        if self.broken:
            text = "I think the first one, probably."
        else:
            asked = _CAND.findall(str(messages[-1].content).split("Candidate codes", 1)[1])
            call = len(self.prompts)
            # the numbered reply of prompt v3: candidate i by its number, never by name
            text = json.dumps({"decisions": [{"n": i, "reason": "because", "applies": bool(self.says_yes(n, call))}
                                             for i, n in enumerate(asked, start=1)]})
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])


def judge(says_yes: Any = lambda n, c: True, broken: bool = False, name: str = "judge") -> Judge:
    return Judge(says_yes=says_yes, broken=broken, prompts=[], model_name=name)


def setup(tmp_path: Path, model: Judge, **suggest: Any) -> tuple[Any, AssistedEngine, SuggestContext, list]:
    project = build_coding_project(tmp_path)
    for k, v in suggest.items():
        setattr(project.settings.suggest, k, v)
    eng = llm_engine_for(project, chat_model=model, pseudonymise=False)
    assert isinstance(eng, AssistedEngine)
    ctx = SuggestContext.for_project(project)
    codes = project.store.list_codes()
    eng.prepare(codes, ctx)
    return project, eng, ctx, codes


def test_candidates_are_the_offline_top_ranked_codes(tmp_path: Path) -> None:
    model = judge()
    project, eng, ctx, codes = setup(tmp_path, model, llm_candidates=2)
    ex = excerpt_with(project, "damp")
    scores, _, _ = eng.offline_rows([ex], codes, ctx)
    top2 = [codes[j].name for j in np.argsort(-scores[0])[:2]]
    eng.suggest_one(ex, codes, ctx)
    user = model.prompts[0][-1]
    assert _CAND.findall(user.split("Candidate codes", 1)[1]) == top2  # in offline rank order
    assert len(codes) == 5  # a 5-code codebook became a 2-code question


def test_numbered_schema_fixes_one_slot_per_candidate_with_the_reason_first() -> None:
    arr = decision_schema(["A", "B c", "D"])["properties"]["decisions"]
    slots = arr["prefixItems"]
    assert [s["properties"]["n"]["const"] for s in slots] == [1, 2, 3]  # no skipping, repeating or reordering
    assert all(list(s["properties"]) == ["n", "reason", "applies"] for s in slots)
    assert slots[0]["properties"]["reason"]["maxLength"] == 60
    assert "A" not in json.dumps(arr)  # the model never spends tokens on names
    late = decision_schema(["A"], rationale_first=False)["properties"]["decisions"]["prefixItems"][0]
    assert list(late["properties"]) == ["n", "applies", "reason"]


def test_numbered_replies_map_back_to_the_candidates_in_the_order_asked() -> None:
    out = DecisionsOut.model_validate({"decisions": [
        {"n": 1, "reason": "talks about damp", "applies": True}, {"n": 2, "reason": "no money", "applies": "no"},
        {"n": 9, "reason": "not asked", "applies": True}]})
    j = parse_judgement(out, [30, 10], {10: "Funding", 30: "Housing"})
    assert j.votes == {30: True, 10: False} and j.rationales[30] == "talks about damp"
    assert j.counts["codes_dropped"] == 1


def test_named_schema_puts_rationale_before_label_and_names_only_candidates() -> None:
    s = decision_schema(["A", "B c"], reply="named")
    arr = s["properties"]["decisions"]
    assert arr["minItems"] == arr["maxItems"] == 2
    assert list(arr["items"]["properties"]) == ["code", "rationale", "applies"]
    assert arr["items"]["properties"]["code"]["enum"] == ["A", "B c"]
    assert list(decision_schema(["A"], rationale_first=False, reply="named")["properties"]["decisions"]["items"]
                ["properties"]) == ["code", "applies", "rationale"]


def test_parse_judgement_maps_names_numbers_and_missing() -> None:
    labels = {1: "Housing", 2: "Funding", 3: "Staff"}
    out = DecisionsOut.model_validate({"decisions": [
        {"code": "housing ", "applies": "Yes."}, {"code": "2", "applies": False}, {"code": "Made up", "applies": True}]})
    j = parse_judgement(out, [1, 2, 3], labels)
    assert j.votes == {1: True, 2: False, 3: False} and j.error is None
    assert j.counts["codes_dropped"] == 1 and j.counts["decisions_missing"] == 1
    assert parse_judgement(DecisionsOut(), [1, 2], labels).error  # nothing decided: no verdict


def test_two_run_agreement_proposes_only_what_both_runs_accept(tmp_path: Path) -> None:
    # run 1 accepts housing and funding, run 2 only housing: only housing may be proposed
    def yes(name: str, call: int) -> bool:
        return name == "Housing and living conditions" or (call == 1 and name == "Short-term funding")

    model = judge(yes)
    project, eng, ctx, codes = setup(tmp_path, model, llm_runs=2, llm_combine="llm", llm_candidates=3)
    ex = excerpt_with(project, "damp")
    res = eng.suggest_one(ex, codes, ctx)
    first, second = (_CAND.findall(p[-1].split("Candidate codes", 1)[1]) for p in model.prompts)
    assert second == first[::-1]  # the second run hears the candidates in reverse order
    names = {c.id: c.name for c in codes}
    asked = set(first)
    want = {"Housing and living conditions"} & asked
    assert {names[p.code_id] for p in res.proposals} == want
    assert res.call["runs"] == 2 and res.call["model_calls"] == 2
    assert agree([parse_judgement(DecisionsOut.model_validate({"decisions": [{"code": "A", "applies": True}]}),
                                  [1], {1: "A"})] * 2) == {1: True}


def test_fixed_prefix_is_byte_identical_and_the_excerpt_comes_last(tmp_path: Path) -> None:
    model = judge()
    project, _, _, _ = setup(tmp_path, model)
    # an accepted example: the few-shot block is in the prefix, and stays fixed
    add_coding(project, "P01", "The damp and black mould in these flats is terrible.", "Housing and living conditions", "alice")
    eng = llm_engine_for(project, chat_model=model, pseudonymise=False)
    ctx = SuggestContext.for_project(project)
    codes = project.store.list_codes()
    eng.prepare(codes, ctx)
    exs = [e for e in project.store.list_excerpts() if not e.is_interviewer]
    for e in exs:
        eng.suggest_one(e, codes, ctx)
    systems = {p[0] for p in model.prompts}
    assert len(model.prompts) == len(exs) >= 3 and len(systems) == 1  # one fixed prefix for the whole run
    [system] = systems
    assert "black mould in these flats" in system  # the accepted example is few-shot in the prefix
    for e, p in zip(exs, model.prompts):
        assert escape_data(e.text) not in system and escape_data(e.text) in p[-1]  # only in the last message
    if find_spec("llama_cpp") is not None:  # the ChatML template the small models use keeps it first
        from llama_cpp.llama_chat_format import format_chatml

        a, b = (format_chatml([{"role": "system", "content": p[0]}, {"role": "user", "content": p[1]}]).prompt
                for p in model.prompts[:2])
        assert len(os.path.commonprefix([a, b])) >= a.index(system) + len(system)


def test_scoped_code_stays_out_of_the_prefix(tmp_path: Path) -> None:
    model = judge()
    project = build_coding_project(tmp_path)
    project.store.add_code(Code(name="Board governance", definition="Board papers only.",
                                scope={"filters": {"kind": "document"}}))
    eng = llm_engine_for(project, chat_model=model, pseudonymise=False)
    ctx = SuggestContext.for_project(project)
    codes = project.store.list_codes()
    eng.prepare(codes, ctx)
    eng.suggest_one(excerpt_with(project, "damp"), codes, ctx)
    assert "Board governance" not in "".join(model.prompts[0])


def _offline_picks(project: Any, codes: list, ctx: SuggestContext) -> dict[int, list[int]]:
    off = OfflineEngine.from_project(project)
    off.prepare(codes, ctx)
    # one excerpt at a time, as the LLM engine scores them (the offline scorer's BM25 statistics
    # move slightly when a batch holds texts outside its background, such as interviewer turns)
    return {e.id: [p.code_id for p in off.suggest([e], codes, ctx)[0].proposals] for e in project.store.list_excerpts()}


@pytest.mark.parametrize("mode", ["confirm", "rerank", "llm"])
def test_a_failing_model_gives_exactly_the_offline_proposals(tmp_path: Path, mode: str) -> None:
    model = judge(broken=True)
    project, eng, ctx, codes = setup(tmp_path, model, llm_combine=mode)
    want = _offline_picks(project, codes, ctx)
    assert any(want.values())  # the comparison is not vacuous
    texts = project.store.source_texts()
    for e in project.store.list_excerpts():
        res = eng.suggest_one(e, codes, ctx)
        assert res.error is None and res.counts["llm_fallback"] == 1
        assert [p.code_id for p in res.proposals] == want[e.id]
        for p in res.proposals:
            assert texts[e.source_id][p.evidence_start:p.evidence_end] == p.evidence_text
            assert "offline engine only" in p.rationale


def test_confirm_keeps_agreed_offline_picks_and_vetoes_the_rest(tmp_path: Path) -> None:
    project = build_coding_project(tmp_path)
    codes = project.store.list_codes()
    ctx = SuggestContext.for_project(project)
    want = _offline_picks(project, codes, ctx)
    ex_id, picks = next((k, v) for k, v in want.items() if v)
    names = {c.id: c.name for c in codes}
    vetoed = names[picks[0]]
    model = judge(lambda n, c: n != vetoed)
    project.settings.suggest.llm_combine = "confirm"
    eng = llm_engine_for(project, chat_model=model, pseudonymise=False)
    eng.prepare(codes, ctx)
    res = eng.suggest_one(project.store.get_excerpt(ex_id), codes, ctx)
    assert [p.code_id for p in res.proposals] == [c for c in picks if names[c] != vetoed]
    # an always-yes model changes nothing under confirm
    yes = llm_engine_for(project, chat_model=judge(name="always-yes"), pseudonymise=False)
    yes.prepare(codes, ctx)
    assert [p.code_id for p in yes.suggest_one(project.store.get_excerpt(ex_id), codes, ctx).proposals] == picks


def test_combine_rules() -> None:
    scores = np.array([2.0, 1.5, 0.2, -1.0])
    thr = np.array([1.0, 1.0, 1.0, 1.0])
    cands = [0, 1, 2]
    assert combine(scores, thr, cands, None, "llm", 2) == [(0, 2.0), (1, 1.5)]  # no verdict: offline
    assert combine(scores, thr, cands, {0: True, 1: True, 2: True}, "offline", 2) == [(0, 2.0), (1, 1.5)]
    assert combine(scores, thr, cands, {0: False, 1: True, 2: True}, "confirm", 2) == [(1, 1.5)]
    assert combine(scores, thr, cands, {0: False, 1: False, 2: True}, "llm", 2) == [(2, 0.2)]
    # rerank: a yes lifts a candidate over the threshold, a no pushes one under it
    assert combine(scores, thr, cands, {0: False, 1: False, 2: True}, "rerank", 2, 1.0) == [(2, 1.2), (0, 1.0)]
    with pytest.raises(ValueError):
        combine(scores, thr, cands, {}, "vote", 1)


def test_shuffled_order_is_seeded_by_the_excerpt() -> None:
    keys = list(range(8))
    assert ordered(keys, "shuffled", "41") == ordered(keys, "shuffled", "41") != keys
    assert ordered(keys, "reversed") == keys[::-1] and ordered(keys, "rank") == keys


def test_precode_with_the_assisted_engine_records_every_excerpt(tmp_path: Path) -> None:
    from assistant.coding.precode import precode

    model = judge(lambda n, c: "Housing" in n)
    project = build_coding_project(tmp_path)
    rep = precode(project, "llm", chat_model=model, concurrency=2)
    assert rep.status == "done" and rep.failed == 0 and rep.done == rep.total == 4
    rows = project.store.list_suggestions(status=None, engine="llm")
    assert all(r.params.get("mode") == "assisted" and r.params.get("prompt_sha256") for r in rows)
    assert all(r.prompt_version == "v3" for r in rows)


class _Sized(Judge):
    """The fake judge that can say its size, as an in-process GGUF model does."""

    weights: int | None = None

    def parameter_count(self) -> int | None:
        return self.weights


def test_auto_reply_names_candidates_for_a_small_model_and_numbers_them_otherwise(tmp_path: Path) -> None:
    from assistant.coding.suggest.assisted import resolve_reply

    assert resolve_reply("named", _Sized(weights=10**10)) == "named"  # an explicit choice stands
    assert resolve_reply("auto", judge()) == "numbered"  # cannot say its size: assumed larger
    for weights, reply, version in ((134_515_008, "named", "v2"), (1_543_714_304, "numbered", "v3")):
        model = _Sized(says_yes=lambda n, c: True, prompts=[], model_name=f"sized-{weights}", weights=weights)
        project, eng, ctx, codes = setup(tmp_path / str(weights), model)
        assert eng.p.reply == "auto"  # the project's default
        eng.prepare(codes, ctx)
        assert (eng.reply, eng.prompt_version, eng.params["reply_used"]) == (reply, version, reply)
        assert eng.judge_for(codes).template.version == version
        project.close()
