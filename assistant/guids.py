"""GUIDs in one form. REFI-QDA tools differ in case and braces; every comparison goes through
`norm_guid`, and a fresh GUID is a random uuid4."""

from __future__ import annotations

import re
import uuid

GUID_RE = re.compile(
    r"^(?:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    r"|\{[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\})$"
)


def new_guid() -> str:
    return str(uuid.uuid4())


def is_guid(value: str | None) -> bool:
    return bool(value) and GUID_RE.match(value or "") is not None


def norm_guid(value: str | None) -> str:
    """Tools differ in case and braces ({...}); compare GUIDs in one form."""
    return (value or "").strip().strip("{}").lower()
