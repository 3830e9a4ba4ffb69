"""Language models through LangChain: building the configured model, structured calls with
retries, caching and pseudonymisation. Used by code suggestions, theme summaries and ask."""

from __future__ import annotations

from typing import Any

from assistant.llm.providers import (
    LlamaCppChat,
    build_chat_model,
    check_allowed,
    detect_ollama,
    llm_status,
    model_id,
)
from assistant.llm.structured import (
    CallRecord,
    call_structured,
    call_text,
    estimate_tokens,
    extract_json,
    render_messages,
)


def pseudonymiser_if_remote(project: Any) -> Any:
    """The project's pseudonymiser when its model is remote (and pseudonymisation is on), else None."""
    if project.settings.llm.is_remote and project.settings.privacy.pseudonymise_remote:
        from assistant.llm.pseudonymise import pseudonymiser_for

        return pseudonymiser_for(project)
    return None


__all__ = [
    "CallRecord", "LlamaCppChat", "build_chat_model", "call_structured", "call_text", "check_allowed",
    "detect_ollama", "estimate_tokens", "extract_json", "llm_status", "model_id", "pseudonymiser_if_remote",
    "render_messages",
]
