"""Source attributes (participant, sector, organisation, date, any key) and the source's kind: the
one write path for them, used by ingest (metadata rows), the command line and the workspace.

One action name, `source.attributes`, with the values before and after, whoever made the change
(`origin` says whether an analyst edited them or an ingest brought new metadata), so the audit log
answers "who changed this participant's sector, and from what" in one query."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from assistant.errors import ThematicError
from assistant.models import SOURCE_KINDS
from assistant.project import Project

ACTION = "source.attributes"
_MISSING = {"nan", "<na>"}  # how a table editor's empty cell reads once turned into text


def clean_attributes(attributes: Mapping[Any, Any]) -> dict[str, str]:
    """Keys and values as stripped strings; blank keys and blank values dropped, since an empty
    attribute means "unknown" everywhere else (filters, attributions, cross-tabs). A table
    editor's missing cell (None, NaN) is blank too."""
    out: dict[str, str] = {}
    for key, value in attributes.items():
        k, v = _text(key), _text(value)
        if k and v:
            out[k] = v
    return out


def _text(x: Any) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return ""
    s = str(x).strip()
    return "" if s.lower() in _MISSING else s


def set_attributes(project: Project, source_id: int, attributes: Mapping[Any, Any], kind: str | None = None,
                   *, actor: str | None = None, origin: str = "analyst") -> bool:
    """Replace a source's attributes (and its kind, when given) with an audit row in the same
    transaction. False, with nothing written, when nothing changes."""
    store, actor = project.store, actor or project.analyst
    if kind is not None and kind not in SOURCE_KINDS:
        raise ThematicError(f"unknown source kind {kind!r}; choose one of {', '.join(SOURCE_KINDS)}")
    new = clean_attributes(attributes)
    with store.transaction():
        old = store.get_source(source_id)
        new_kind = kind or old.kind
        if new == old.attributes and new_kind == old.kind:
            return False
        store.update_source_attributes(source_id, new, new_kind)
        store.audit(actor, ACTION, "source", source_id, origin=origin, name=old.name,
                    before={"attributes": old.attributes, "kind": old.kind},
                    after={"attributes": new, "kind": new_kind})
    return True
