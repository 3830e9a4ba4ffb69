"""The one write the MCP server adds of its own: a suggestion an assistant proposes, waiting in the
review queue like any engine's. Hand codings and memos go through the library's own audited
functions (`coding.decisions.add_coding`, `coding.memos.add_memo`) with the client as the actor.

A proposal is recorded as engine "mcp" with the client's name as its model, so the review queue,
agreement and the methods report can tell an assistant's proposals from the offline engine's and
the project's own LLM's. Its evidence is snapped to the source's own words
(`decisions.snap_span`): a claim that is not in the source is refused, never stored."""

from __future__ import annotations

from assistant.coding.decisions import snap_span
from assistant.coding.suggest import FLAG_NEW_CODE, FLAG_SUSPICIOUS, suggestion_flags
from assistant.errors import NotFound, VerificationError
from assistant.llm.injection import looks_like_instruction
from assistant.models import StoredSuggestion, Suggestion
from assistant.project import Project

MCP_ENGINE = "mcp"
MAX_RATIONALE = 2000
MAX_NAME = 200


def propose_suggestion(project: Project, actor: str, client: str, source_id: int, start: int, end: int, *,
                       code: str, text: str | None = None, rationale: str = "", definition: str = "",
                       confidence: float = 0.5) -> StoredSuggestion:
    """Record one pending suggestion of `code` (a codebook code, or a new code's name with its
    `definition`) on the span `start:end` of a source, with one audit row, in one transaction."""
    store = project.store
    name = " ".join((code or "").split())[:MAX_NAME]
    if not name:
        raise VerificationError("say which code to propose")
    rationale = (rationale or "").strip()[:MAX_RATIONALE]
    confidence = min(max(float(confidence), 0.0), 1.0)
    with store.transaction():
        src = store.get_source(source_id)
        st, en = snap_span(src.text, start, end, text)
        excerpt = next((e for e in store.list_excerpts(source_id=src.id) if e.start <= st < e.end), None)
        if excerpt is None:
            raise VerificationError(f"span {st}:{en} is not inside any excerpt of {src.name!r} "
                                    "(a speaker label or heading); choose the words said")
        try:
            code_id: int | None = int(store.get_code(name).id)  # type: ignore[arg-type]
        except NotFound:
            code_id = None
        flags = [FLAG_NEW_CODE] if code_id is None else []
        if looks_like_instruction(src.text[st:en]):
            flags.append(FLAG_SUSPICIOUS)
        (saved,) = store.add_suggestions([Suggestion(
            excerpt_id=excerpt.id, source_id=src.id, code_id=code_id,
            proposed_name=None if code_id is not None else name,
            proposed_definition=None if code_id is not None else (definition or "").strip()[:MAX_RATIONALE] or None,
            score=round(confidence, 4), rationale=rationale, evidence_start=st, evidence_end=en,
            evidence_text=src.text[st:en], engine=MCP_ENGINE, model=client, prompt_version="",
            params={"flags": flags, "client": client} if flags else {"client": client})])
        store.audit(actor, "suggestion.create", "suggestion", saved.id, excerpt_id=excerpt.id, code_id=code_id,
                    proposed_name=saved.proposed_name, score=saved.score, evidence=[st, en],
                    flags=suggestion_flags(saved), engine=MCP_ENGINE, model=client, prompt_version="", params={})
    return saved
