"""The provider layer's rules for models that run inside this process, and the one factory every
caller builds its chat model with."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from builders import build_coding_project as make_project
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from assistant.errors import LLMError
from assistant.llm import (
    LlamaCppChat,
    chat_model_for,
    is_thread_safe,
    parallel_calls,
    settings_model_label,
)
from assistant.llm.factory import forget_in_process_models
from assistant.settings import LLMSettings


class FakeLlama:
    """Stands in for `llama_cpp.Llama`: records how many completions run at once."""

    def __init__(self) -> None:
        self.lock, self.in_flight, self.max, self.calls = threading.Lock(), 0, 0, 0

    def create_chat_completion(self, **kwargs: Any) -> dict:
        with self.lock:
            self.in_flight += 1
            self.max = max(self.max, self.in_flight)
        time.sleep(0.03)
        with self.lock:
            self.in_flight -= 1
            self.calls += 1
        return {"choices": [{"message": {"content": "{}"}}], "usage": {}}


def test_in_process_model_serialises_its_own_calls() -> None:
    """Even a caller that ignores `parallel_calls` (two browser tabs sharing one cached model)
    never has two completions inside llama.cpp at once."""
    model = LlamaCppChat(model_path="unused.gguf")
    fake = FakeLlama()
    model._llm = fake
    threads = [threading.Thread(target=model.invoke, args=("hello",)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert fake.calls == 4 and fake.max == 1


def test_thread_safety_is_declared_by_the_provider() -> None:
    gguf = LlamaCppChat(model_path="unused.gguf")
    assert not is_thread_safe(gguf) and parallel_calls(gguf, 4) == 1 and parallel_calls(gguf, None) == 1
    assert not is_thread_safe(gguf.bind(json_schema={"type": "object"}))  # bindings are looked through
    http = FakeListChatModel(responses=["x"])
    assert is_thread_safe(http) and parallel_calls(http, 4) == 4 and parallel_calls(None, 3) == 3


def test_factory_none_local_and_remote(tmp_path: Path) -> None:
    assert chat_model_for(LLMSettings()) is None
    with pytest.raises(LLMError, match="thematic llm set"):
        chat_model_for(LLMSettings(), required=True)
    with pytest.raises(LLMError, match="remote models are off"):
        chat_model_for(LLMSettings(provider="anthropic", model="claude-x"))
    with pytest.raises(LLMError, match="model_path"):
        chat_model_for(LLMSettings(provider="llamacpp", model_path=str(tmp_path / "missing.gguf")))


def test_factory_shares_one_in_process_model(tmp_path: Path) -> None:
    gguf = tmp_path / "tiny.gguf"
    gguf.write_bytes(b"GGUF")  # never loaded: the model loads lazily on its first call
    project = make_project(tmp_path)
    llm = project.settings.llm
    llm.provider, llm.model_path = "llamacpp", str(gguf)
    forget_in_process_models()
    try:
        a, b = chat_model_for(project), chat_model_for(project.settings)
        assert a is b and isinstance(a, LlamaCppChat) and not is_thread_safe(a)
        assert settings_model_label(project) == "llamacpp:tiny.gguf"
        # the engine is built by the same factory, and inherits the one-at-a-time rule
        from assistant.coding.suggest.llm import LLMEngine

        eng = LLMEngine.from_project(project, pseudonymise=False)
        assert eng.chat_model is a and eng.parallel_calls(llm.concurrency) == 1
    finally:
        forget_in_process_models()


def test_engine_needs_a_configured_model(tmp_path: Path) -> None:
    from assistant.coding.suggest.llm import LLMEngine

    project = make_project(tmp_path)
    with pytest.raises(LLMError, match="no language model is configured"):
        LLMEngine.from_project(project)
    dry = LLMEngine.from_project(project, dry_run=True)  # a dry run builds no model at all
    assert dry.chat_model is None and dry.model == "none"
