"""The Ask conversation, kept in the project store so a reload, another tab or another session of
the same analyst sees it. Each analyst has their own; the last `MAX_TURNS` turns are kept.

Writes go through here (never straight to the store from a face) and are audited like any other
change an analyst makes: clearing a conversation is a decision about the record."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from assistant.project import Project

KEY = "ui.ask_history.{analyst}"
MAX_TURNS = 50


def load(project: Project, analyst: str | None = None) -> list[dict[str, Any]]:
    raw = project.store.get_meta(KEY.format(analyst=analyst or project.analyst))
    try:
        turns = json.loads(raw) if raw else []
    except ValueError:  # a damaged entry is an empty conversation, not a broken page
        return []
    return [t for t in turns if isinstance(t, dict)] if isinstance(turns, list) else []


def append(project: Project, turn: Mapping[str, Any], analyst: str | None = None) -> list[dict[str, Any]]:
    """Add one question-and-answer turn; returns the conversation as stored."""
    who = analyst or project.analyst
    store = project.store
    with store.transaction():
        turns = [*load(project, who), dict(turn)][-MAX_TURNS:]
        store.set_meta(KEY.format(analyst=who), json.dumps(turns, ensure_ascii=False))
        store.audit(who, "conversation.append", "conversation", None, question=str(turn.get("question", "")),
                    turns=len(turns))
    return turns


def clear(project: Project, analyst: str | None = None) -> int:
    """Forget the analyst's conversation; returns how many turns it had (0: nothing written)."""
    who = analyst or project.analyst
    store = project.store
    with store.transaction():
        n = len(load(project, who))
        if not n:
            return 0
        store.set_meta(KEY.format(analyst=who), "[]")
        store.audit(who, "conversation.clear", "conversation", None, turns=n)
    return n
