"""Passwords and sessions. Passwords are hashed with argon2id (argon2-cffi's `PasswordHasher`,
its current recommended parameters); a hash made with older parameters is upgraded at the next
sign-in (`check_needs_rehash`). A session is a random token the browser keeps; the store holds
only its SHA-256, so a copy of the database does not let anyone in. Sessions expire after
`ttl` (default 12 hours): after that every call with the token raises `SessionExpired`, and the
workspace asks to sign in again without dropping what was being typed."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from assistant.errors import PermissionDenied, SessionExpired, ThematicError
from assistant.people.models import Session
from assistant.people.roles import store_of

MIN_PASSWORD = 8
MAX_PASSWORD = 1024
DEFAULT_TTL = timedelta(hours=12)
_HASHER = PasswordHasher()
_DUMMY: str | None = None  # a hash to verify against for unknown names, so they take as long


def _dummy() -> str:
    global _DUMMY
    if _DUMMY is None:
        _DUMMY = _HASHER.hash("not a password anyone has")
    return _DUMMY


def hash_password(password: str, hasher: PasswordHasher | None = None) -> str:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise ThematicError(f"a password of at least {MIN_PASSWORD} characters, please")
    if len(password) > MAX_PASSWORD:
        raise ThematicError(f"a password of at most {MAX_PASSWORD} characters, please")
    return (hasher or _HASHER).hash(password)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(at: datetime) -> str:
    return at.isoformat(timespec="seconds")


def authenticate(target: Any, name: str, password: str, *, hasher: PasswordHasher | None = None) -> dict:
    """The user's row when `password` is theirs; `PermissionDenied("wrong name or password")`
    otherwise (the same words, and about the same time, for an unknown name). An outdated hash
    is replaced, audited as `user.rehash`."""
    store, hasher = store_of(target), hasher or _HASHER
    clean = " ".join((name or "").split())
    row = store.user_row(clean) if clean else None
    try:
        hasher.verify(row["password_hash"] if row else _dummy(), password or "")
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        row = None
    if row is None:
        raise PermissionDenied("wrong name or password")
    if hasher.check_needs_rehash(row["password_hash"]):
        new = hasher.hash(password)
        with store.transaction():
            store.set_user_fields(row["id"], password_hash=new)
            store.audit(row["name"], "user.rehash", "user", row["id"], name=row["name"])
        row = {**row, "password_hash": new}
    return row


def sign_in(target: Any, name: str, password: str, ttl: timedelta = DEFAULT_TTL) -> Session:
    """Check the password and open a session (audited as `user.sign_in`)."""
    store = store_of(target)
    row = authenticate(store, name, password)
    token = secrets.token_urlsafe(32)
    expires = _iso(_now() + ttl)
    with store.transaction():
        store.add_session_row(_token_hash(token), row["id"], expires)
        store.audit(row["name"], "user.sign_in", "user", row["id"], name=row["name"], expires_at=expires)
    return Session(token=token, user=row["name"], role=row["role"], expires_at=expires)


def sign_in_trusted(target: Any, name: str, via: str, ttl: timedelta = DEFAULT_TTL) -> Session:
    """Open a session for a user an identity provider has already vouched for (Streamlit's
    OpenID Connect login): no password, but the person must be an active user of the project
    (`PermissionDenied` otherwise). Audited as `user.sign_in` with `via`."""
    store = store_of(target)
    row = store.user_row(" ".join((name or "").split()))
    if row is None:
        raise PermissionDenied(f"{name} is not a user of this project")
    token = secrets.token_urlsafe(32)
    expires = _iso(_now() + ttl)
    with store.transaction():
        store.add_session_row(_token_hash(token), row["id"], expires)
        store.audit(row["name"], "user.sign_in", "user", row["id"], name=row["name"], expires_at=expires, via=via)
    return Session(token=token, user=row["name"], role=row["role"], expires_at=expires)


def check_session(target: Any, token: str | None) -> Session:
    """The session's person and current role (a role changed since sign-in counts at once);
    `SessionExpired` when the token is unknown, signed out, past its expiry or its user removed."""
    if not token:
        raise SessionExpired("not signed in: sign in to go on")
    row = store_of(target).session_row(_token_hash(token))
    if row is None:
        raise SessionExpired("session expired or unknown: sign in again")
    if row["ended_at"]:
        raise SessionExpired("session ended (signed out, or the password changed): sign in again")
    if not row["active"]:
        raise SessionExpired(f"{row['name']} is no longer on this project's team")
    if datetime.fromisoformat(row["expires_at"]) <= _now():
        raise SessionExpired(f"session expired at {row['expires_at']}: sign in again (what you typed is kept)")
    return Session(token=token, user=row["name"], role=row["role"], expires_at=row["expires_at"])


def sign_out(target: Any, token: str) -> bool:
    store = store_of(target)
    row = store.session_row(_token_hash(token))
    if row is None or row["ended_at"]:
        return False
    with store.transaction():
        store.close_sessions(token_hash=_token_hash(token))
        store.audit(row["name"], "user.sign_out", "user", row["user_id"], name=row["name"])
    return True


def expire_session(target: Any, token: str, at: datetime | None = None) -> None:
    """Move a session's expiry (tests and the load benchmark make one expire mid-edit)."""
    store_of(target).set_session_expiry(_token_hash(token), _iso(at or _now()))
