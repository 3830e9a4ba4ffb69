"""Language models through LangChain: building the configured model (`chat_model_for`, the one
factory every caller uses), structured calls with retries, caching and pseudonymisation, and the
check for model-directed instructions inside research text. Used by code suggestions, pre-coding,
theme summaries and ask."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from assistant.llm.injection import instruction_phrase, looks_like_instruction

# The factory, providers and structured calls import LangChain (seconds at start-up), so they are
# imported on first use of one of their names: `thematic search` and `--help` never pay for them.
_LAZY = {
    "chat_model_for": "factory", "settings_model_label": "factory",
    "LlamaCppChat": "providers", "build_chat_model": "providers", "check_allowed": "providers",
    "detect_ollama": "providers", "is_thread_safe": "providers", "llm_status": "providers",
    "model_id": "providers", "parallel_calls": "providers",
    "CallRecord": "structured", "call_structured": "structured", "call_text": "structured",
    "estimate_tokens": "structured", "extract_json": "structured", "render_messages": "structured",
}

if TYPE_CHECKING:
    from assistant.llm.factory import chat_model_for, settings_model_label
    from assistant.llm.providers import (
        LlamaCppChat,
        build_chat_model,
        check_allowed,
        detect_ollama,
        is_thread_safe,
        llm_status,
        model_id,
        parallel_calls,
    )
    from assistant.llm.structured import (
        CallRecord,
        call_structured,
        call_text,
        estimate_tokens,
        extract_json,
        render_messages,
    )


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"assistant.llm.{module}"), name)
    globals()[name] = value
    return value

def pseudonymiser_if_remote(project: Any) -> Any:
    """The project's pseudonymiser when its model is remote (and pseudonymisation is on), else None."""
    if project.settings.llm.is_remote and project.settings.privacy.pseudonymise_remote:
        from assistant.llm.pseudonymise import pseudonymiser_for

        return pseudonymiser_for(project)
    return None


__all__ = [
    "CallRecord", "LlamaCppChat", "build_chat_model", "call_structured", "call_text", "chat_model_for",
    "check_allowed", "detect_ollama", "estimate_tokens", "extract_json", "instruction_phrase", "is_thread_safe",
    "llm_status", "looks_like_instruction", "model_id", "parallel_calls", "pseudonymiser_if_remote",
    "render_messages", "settings_model_label",
]
