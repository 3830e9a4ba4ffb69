"""Typed records of the people on a team project."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

Role = Literal["lead", "coder", "viewer"]


class User(BaseModel):
    """A person who signs in. The password hash never leaves the store layer's rows."""

    id: int
    name: str
    role: Role
    active: bool = True
    created_at: str = ""
    updated_at: str = ""


class Session(BaseModel):
    """A signed-in person. `token` is what the browser holds; the store keeps only its hash."""

    token: str
    user: str
    role: Role
    expires_at: str

    @property
    def can_write(self) -> bool:
        return self.role != "viewer"

    @property
    def is_lead(self) -> bool:
        return self.role == "lead"
