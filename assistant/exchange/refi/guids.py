"""GUIDs for REFI-QDA exchange. Entities keep one GUID for life (stored in their `guid` column, or
derived deterministically), so exporting a project twice gives the same identifiers and another tool
can recognise what it has seen before."""

from __future__ import annotations

import uuid

from assistant.guids import is_guid, new_guid, norm_guid
from assistant.store import ProjectStore

__all__ = ["derived_guid", "is_guid", "new_guid", "norm_guid", "project_guid", "source_guid"]

_PROJECT_KEY = "refi_project_guid"


def project_guid(store: ProjectStore) -> str:
    """One GUID per project, created on first export and kept in the store's meta table."""
    guid = store.get_meta(_PROJECT_KEY)
    if not guid:
        guid = new_guid()
        store.set_meta(_PROJECT_KEY, guid)
    return guid


def derived_guid(base: str, *parts: str) -> str:
    """A stable uuid5 for entities without a guid column (sources, variables, selections):
    the same project and name always give the same GUID."""
    return str(uuid.uuid5(uuid.UUID(norm_guid(base)), "\x1f".join(parts)))


def source_guid(store: ProjectStore, source_name: str) -> str:
    return derived_guid(project_guid(store), "source", source_name)
