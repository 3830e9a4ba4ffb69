"""AI provenance of a coding, written where other QDA tools keep it visible, and read back.

REFI-QDA 1.0 has no field for "this coding was proposed by a model". Its extension points are Notes
(a `<Note>` is a memo in NVivo, ATLAS.ti and MAXQDA, shown beside what references it) and Sets. So
each coding made from an AI suggestion carries:

- `creatingUser` = the analyst who accepted it (the decision is theirs; the AI is not the coder),
- a `<NoteRef>` from its `<Coding>` (and its `<PlainTextSelection>`) to a Note named "AI origin: ..."
  whose text is the block below, which a researcher can read in the other tool and a program can
  parse,
- membership (`<MemberNote>`) of one `<Set>` "AI-assisted codings", so the other tool can list them.

The block (UTF-8 text, one `key: value` a line, fixed key order, first line the marker):

    thematic AI provenance v1
    suggestion: 42
    engine: llm
    model: qwen2.5:7b
    prompt: suggest_codes
    prompt_version: v2
    prompt_sha256: 9f2c...
    score: 0.8125
    run: 7c1e...
    decision: accept
    decided_by: alice
    params: {"top_k": 5}

Values are single lines (line breaks in a value are replaced by spaces); `params` is compact JSON.
On import into thematic a Note in this form is provenance, not a memo: it becomes the coding's
suggestion record (engine, model, prompt version, score, params) and is never written as memo text.
The same form, with the marker "thematic theme record v1", carries a theme's status, the engine
that summarised it and its chosen quotes, as a MemberNote of the theme's Set."""

from __future__ import annotations

import json
from typing import Any

AI_MARKER = "thematic AI provenance v1"
THEME_MARKER = "thematic theme record v1"
AI_SET_NAME = "AI-assisted codings"
AI_SET_DESCRIPTION = ("Codings proposed by a model and accepted (or edited) by an analyst in thematic; each "
                      "note here states the engine, model, prompt version and suggestion behind one coding.")
AI_KEYS = ("suggestion", "engine", "model", "prompt", "prompt_version", "prompt_sha256", "score", "run",
           "decision", "decided_by", "params")
THEME_KEYS = ("status", "summary_kind", "engine", "model", "prompt_version", "quotes")


def _one_line(value: Any) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return " ".join(str("" if value is None else value).split())


def format_block(marker: str, keys: tuple[str, ...], fields: dict[str, Any]) -> str:
    """`marker` then one `key: value` line per key of `keys` (all of them, empty when unknown)."""
    return "\n".join([marker, *(f"{k}: {_one_line(fields.get(k))}" for k in keys)])


def parse_block(text: str) -> tuple[str, dict[str, str]] | None:
    """(marker, fields) of a block in this form, or None for any other note text (a researcher's
    memo stays a memo). Unknown keys are kept; lines that are not `key: value` make it not ours."""
    lines = (text or "").replace("\r\n", "\n").strip().split("\n")
    if not lines or lines[0].strip() not in (AI_MARKER, THEME_MARKER):
        return None
    fields: dict[str, str] = {}
    for line in lines[1:]:
        if not line.strip():
            continue
        key, sep, value = line.partition(": ")
        if not sep and line.endswith(":"):
            key, value = line[:-1], ""
        elif not sep:
            return None
        fields[key.strip()] = value.strip()
    return lines[0].strip(), fields


def ai_fields(suggestion: Any, analyst: str) -> dict[str, Any]:
    """The provenance of one accepted/edited suggestion (a `StoredSuggestion`)."""
    params = dict(suggestion.params or {})
    prompt = str(params.get("prompt") or ("suggest_codes" if suggestion.engine == "llm" else ""))
    return {
        "suggestion": suggestion.id, "engine": suggestion.engine, "model": suggestion.model,
        "prompt": prompt, "prompt_version": suggestion.prompt_version,
        "prompt_sha256": params.get("prompt_sha256", ""), "score": suggestion.score,
        "run": suggestion.run_id or "", "decision": "edit" if suggestion.status == "edited" else "accept",
        "decided_by": analyst, "params": params,
    }


def ai_note_text(suggestion: Any, analyst: str) -> str:
    return format_block(AI_MARKER, AI_KEYS, ai_fields(suggestion, analyst))


def ai_note_name(suggestion: Any) -> str:
    model = f" {suggestion.model}" if suggestion.model else ""
    return f"AI origin: {suggestion.engine}{model} (suggestion {suggestion.id})"


def theme_note_text(theme: Any) -> str:
    """Status, summarising engine and the theme's chosen quotes (JSON: source name, offsets and the
    verbatim text, checked against the source again on import)."""
    fields = {k: getattr(theme, k, "") for k in THEME_KEYS if k != "quotes"}
    fields["quotes"] = [q.model_dump(mode="json") for q in getattr(theme, "quotes", [])]
    return format_block(THEME_MARKER, THEME_KEYS, fields)


def quotes_of(fields: dict[str, str]) -> list[dict[str, Any]]:
    try:
        value = json.loads(fields.get("quotes") or "[]")
    except ValueError:
        return []
    return [q for q in value if isinstance(q, dict)] if isinstance(value, list) else []


def params_of(fields: dict[str, str]) -> dict[str, Any]:
    """The `params` JSON back (an empty dict if missing or not JSON)."""
    try:
        value = json.loads(fields.get("params") or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def score_of(fields: dict[str, str]) -> float:
    try:
        return float(fields.get("score") or 0.0)
    except ValueError:
        return 0.0
