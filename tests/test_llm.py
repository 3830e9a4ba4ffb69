from __future__ import annotations

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from pydantic import BaseModel

from assistant.llm import call_structured, call_text, extract_json, llm_status
from assistant.llm.prompts import PromptError, load_prompt, parse_template
from assistant.settings import LLMSettings


class Out(BaseModel):
    answer: int


class Cache(dict):
    def cache_get(self, key: str) -> str | None:
        return self.get(key)

    def cache_put(self, key: str, model: str, prompt_version: str, response: str) -> None:
        self[key] = response


def test_extract_json_tolerant() -> None:
    assert extract_json('```json\n{"a": 1}\n```') == {"a": 1}
    assert extract_json('Here you go: {"a": 2} hope it helps') == {"a": 2}
    with pytest.raises(ValueError):
        extract_json("nothing here")


def test_prompt_template_versions_and_missing_vars() -> None:
    tpl = load_prompt("suggest_codes", 1)
    assert tpl.version == "v1" and tpl.name == "suggest_codes"
    newest = load_prompt("suggest_codes")  # v3: the assisted engine's numbered candidate layout
    assert newest.version == "v3" and "candidates" in newest.variables
    assert load_prompt("suggest_codes", 2).sha256 not in (tpl.sha256, newest.sha256)
    assert len(tpl.sha256) == 64 and tpl.sha256 != newest.sha256  # the wording is recorded with the version
    with pytest.raises(PromptError, match="needs variable"):
        tpl.render(codebook="x")
    t = parse_template("---\nname: t\nversion: 2\nvariables: [q]\n---\nSys {{q}}\n=== user ===\nU {{q}}")
    assert t.render(q="{{q}}") == ("Sys {{q}}", "U {{q}}")  # values are not re-expanded


def test_call_structured_and_text_cache() -> None:
    V1 = load_prompt("suggest_codes", 1)
    cache = Cache()
    model = FakeListChatModel(responses=['{"answer": 42}'])
    out, rec = call_structured(model, V1, dict(codebook="c", examples="e", context="x", excerpt="y",
                                                            max_codes=1), Out, cache_store=cache)
    assert out.answer == 42 and rec.model_calls == 1 and not rec.cached
    out2, rec2 = call_structured(FakeListChatModel(responses=["never"]), V1,
                                 dict(codebook="c", examples="e", context="x", excerpt="y", max_codes=1), Out,
                                 cache_store=cache)
    assert out2.answer == 42 and rec2.cached and rec2.model_calls == 0
    text, rec3 = call_text(FakeListChatModel(responses=["hello"]), V1,
                           dict(codebook="c", examples="e", context="x", excerpt="y", max_codes=1, schema="s"),
                           cache_store=cache)
    assert text == "hello" and rec3.model_calls == 1


def test_status_never_prints_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_KEY", "sk-secret-value")
    st = llm_status(LLMSettings(provider="openai", model="m", api_key_env="MY_KEY"), probe_ollama=False)
    assert st["api_key_set"] and "sk-secret-value" not in repr(st) and st["local"] is False
    assert llm_status(LLMSettings(provider="ollama", model="llama3"), probe_ollama=False)["local"] is True


def test_bounded_schema_caps_every_string_and_list():
    """A grammar-constrained small model must not ramble past its token budget inside a string."""
    from assistant.coding.suggest.schema import SuggestOutput
    from assistant.llm.providers import bounded_schema

    schema = bounded_schema(SuggestOutput.model_json_schema(), 768, max_items=3)

    def nodes(n):
        if isinstance(n, dict):
            yield n
            for v in n.values():
                yield from nodes(v)
        elif isinstance(n, list):
            for v in n:
                yield from nodes(v)

    strings = [n for n in nodes(schema) if n.get("type") == "string"]
    arrays = [n for n in nodes(schema) if n.get("type") == "array"]
    assert strings and all(n["maxLength"] == 76 for n in strings)
    # as many codes as the engine may propose (settings.suggest.top_k defaults to 3)
    assert arrays and all(n["maxItems"] == 3 for n in arrays)
