"""The team of a project: add, list, remove and change the role of its users. Each change writes
one audit row, by the person who made it, in the same transaction; passwords are stored only as
argon2 hashes (see `auth`). The first user on a project becomes its lead, and a project always
keeps at least one lead, so nobody can lock the team out of its own codebook."""

from __future__ import annotations

import unicodedata
from typing import Any

from assistant.errors import NotFound, PermissionDenied, ThematicError
from assistant.models import is_ai_coder
from assistant.people.auth import hash_password
from assistant.people.models import User
from assistant.people.roles import ROLES, require_role, store_of

MAX_NAME = 80
RESERVED_NAMES = {"consensus"}  # the adjudicated coder's name (see coding.adjudication)


def _user(row: dict[str, Any]) -> User:
    return User(id=row["id"], name=row["name"], role=row["role"], active=bool(row["active"]),
                created_at=row["created_at"], updated_at=row["updated_at"])


def check_name(name: str) -> str:
    """The name as recorded on every audit row: blanks collapsed; refused when empty, over-long,
    holding control characters, an AI coder's ("ai:...") or a reserved coder name."""
    clean = " ".join((name or "").split())
    if not clean:
        raise ThematicError("a user needs a name: it is recorded on every decision in the audit log")
    if len(clean) > MAX_NAME:
        raise ThematicError(f"a name of at most {MAX_NAME} characters, please (this one has {len(clean)})")
    if any(unicodedata.category(ch)[0] == "C" for ch in clean):
        raise ThematicError("the name holds control or invisible characters; type it again")
    if is_ai_coder(clean):
        raise ThematicError(f"{clean!r} is how the AI coders are named (ai:...); choose another name")
    if clean.lower() in RESERVED_NAMES:
        raise ThematicError(f"{clean!r} is the adjudicated coder's name; choose another name")
    return clean


def _check_role(role: str) -> str:
    if role not in ROLES:
        raise ThematicError(f"role {role!r}: say lead, coder or viewer")
    return role


def add_user(target: Any, name: str, password: str, role: str = "coder", *, actor: str | None = None) -> User:
    """Add a user (lead only, once the project has users). The first user becomes the lead
    whatever role was asked for; a removed user's name comes back with the new password."""
    store = store_of(target)
    name = check_name(name)
    role = _check_role(role)
    hashed = hash_password(password)  # slow on purpose: outside the write lock
    with store.transaction():
        first = store.count_users() == 0
        if not first:
            require_role(store, actor, "lead", "add users")
        if store.user_row(name) is not None:
            raise ThematicError(f"{name} is already a user of this project (change their role with "
                                "`thematic users role`)")
        role = "lead" if first else role
        uid = store.add_user_row(name, role, hashed)
        store.ensure_coder(name, "analyst")
        store.audit(actor or name, "user.add", "user", uid, name=name, role=role, first_user=first)
        return _user(store.user_row(name))


def list_users(target: Any, include_removed: bool = False) -> list[User]:
    return [_user(r) for r in store_of(target).user_rows(include_removed)]


def get_user(target: Any, name: str) -> User:
    row = store_of(target).user_row(name)
    if row is None:
        raise NotFound(f"no user {name!r} on this project (see `thematic users list`)")
    return _user(row)


def _keep_a_lead(store: Any, user: User, new_role: str | None) -> None:
    if user.role == "lead" and new_role != "lead" and store.count_leads() <= 1:
        raise PermissionDenied(f"{user.name} is the project's only lead: make someone else lead first")


def set_role(target: Any, name: str, role: str, *, actor: str | None = None) -> User:
    """Change a user's role (lead only); the last lead cannot be demoted."""
    store = store_of(target)
    role = _check_role(role)
    with store.transaction():
        require_role(store, actor, "lead", "change roles")
        user = get_user(store, name)
        if user.role == role:
            return user
        _keep_a_lead(store, user, role)
        store.set_user_fields(user.id, role=role)
        store.audit(actor or name, "user.role", "user", user.id, name=user.name, before=user.role, after=role)
        return get_user(store, name)


def remove_user(target: Any, name: str, *, actor: str | None = None) -> User:
    """Remove a user from the team (lead only): they can no longer sign in and their sessions
    end; their codings and audit rows stay, under their name. The last lead cannot be removed."""
    store = store_of(target)
    with store.transaction():
        require_role(store, actor, "lead", "remove users")
        user = get_user(store, name)
        _keep_a_lead(store, user, None)
        store.set_user_fields(user.id, active=0)
        ended = store.close_sessions(user_id=user.id)
        store.audit(actor or name, "user.remove", "user", user.id, name=user.name, role=user.role,
                    sessions_ended=ended)
        return user.model_copy(update={"active": False})


def set_password(target: Any, name: str, password: str, *, actor: str | None = None) -> User:
    """A new password: by the user themself, or by a lead; their other sessions end."""
    store = store_of(target)
    hashed = hash_password(password)
    with store.transaction():
        if actor != name:
            require_role(store, actor, "lead", "change another user's password")
        user = get_user(store, name)
        store.set_user_fields(user.id, password_hash=hashed)
        ended = store.close_sessions(user_id=user.id)
        store.audit(actor or name, "user.password", "user", user.id, name=user.name, sessions_ended=ended)
        return user


def has_users(target: Any) -> bool:
    """Whether sign-in is configured: a project with users asks everyone to sign in."""
    return store_of(target).count_users() > 0
