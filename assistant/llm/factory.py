"""The one place a chat model is made from a project's settings.

Code suggestions, pre-coding, theme summaries and ask (from the command line and the workspace
alike) all come here, so the rules live once: no model when none is configured, a remote model
refused until the project allows it (`providers.check_allowed`), and an in-process GGUF model
loaded once per process and shared, because loading costs seconds and memory and the model
serialises its own calls anyway (`providers.LlamaCppChat`)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel

from assistant.llm.providers import build_chat_model, check_allowed
from assistant.settings import LLMSettings

_IN_PROCESS: dict[tuple[Any, ...], BaseChatModel] = {}
_IN_PROCESS_GUARD = threading.Lock()


def llm_settings(target: Any) -> LLMSettings:
    """The LLM section of a project, a project's Settings, or an LLMSettings itself."""
    if isinstance(target, LLMSettings):
        return target
    settings = getattr(target, "settings", target)
    llm = getattr(settings, "llm", None)
    if not isinstance(llm, LLMSettings):
        raise TypeError(f"no LLM settings on {type(target).__name__}")
    return llm


def chat_model_for(target: Any, *, required: bool = False) -> BaseChatModel | None:
    """The configured chat model for a project (or its settings), or None when the provider is
    "none" and `required` is False (callers then fall back to their offline path). With
    `required`, a missing model is an `LLMError` naming the command that configures one."""
    settings = llm_settings(target)
    if settings.provider == "none":
        if required:
            check_allowed(settings)  # raises with the `thematic llm set` hint
        return None
    if settings.provider != "llamacpp":
        return build_chat_model(settings)
    key = (settings.model_path, settings.temperature, settings.max_output_tokens)
    with _IN_PROCESS_GUARD:
        model = _IN_PROCESS.get(key)
        if model is None:
            model = _IN_PROCESS[key] = build_chat_model(settings)
    return model


def settings_model_label(target: Any) -> str:
    """The model's name as the settings give it, for reports that must not build the model (a dry
    run of a remote model that is not switched on yet)."""
    s = llm_settings(target)
    name = s.model or (Path(s.model_path).name if s.model_path else "")
    return f"{s.provider}:{name}" if name else s.provider


def forget_in_process_models() -> None:
    """Drop the shared in-process models (tests, or after the GGUF file changed on disk)."""
    with _IN_PROCESS_GUARD:
        _IN_PROCESS.clear()


__all__ = ["chat_model_for", "forget_in_process_models", "llm_settings", "settings_model_label"]
