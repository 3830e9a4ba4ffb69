"""The role check every library write can call: lead (codebook, merges, settings, the remote-model
switch, the team), coder (codes and writes memos), viewer (reads). A project with no users is one
analyst's and everything is allowed, exactly as before teams existed."""

from __future__ import annotations

from typing import Any

from assistant.store.team import ROLES, role_allows

__all__ = ["ROLES", "can", "require_role", "role_allows", "role_of", "store_of"]


def store_of(target: Any) -> Any:
    """A project or its store: people sit beside `project`, so they take either."""
    return getattr(target, "store", target)


def require_role(target: Any, actor: str | None, role: str, doing: str = "do that") -> str | None:
    """Raise `PermissionDenied` (one sentence naming the person, their role and what they tried)
    unless `actor` may act with `role`; see `TeamStore.require_role` for who is checked."""
    return store_of(target).require_role(actor, role, doing)


def role_of(target: Any, actor: str | None) -> str | None:
    """The actor's role, or None when the project has no users or the actor is not one."""
    if not actor:
        return None
    row = store_of(target).user_row(actor)
    return None if row is None else str(row["role"])


def can(target: Any, actor: str | None, role: str) -> bool:
    """Whether `actor` may do what needs `role`, without raising (for disabling buttons)."""
    store = store_of(target)
    if store.count_users() == 0:
        return True
    mine = role_of(store, actor)
    if mine is None:
        return store.user_row(actor or "", include_removed=True) is None and bool(actor)
    return role_allows(mine, role)
