"""Former home of the workspace test projects; they now live in `builders` (one place for every
test project). These names are kept so existing imports keep working."""

from __future__ import annotations

from builders import (
    CANARY_HOST,
    HOSTILE_COLOUR,
    FakeModelEngine,
    build_hostile_project,
    build_ui_project,
    hostile,
)
from builders import UI_FILES as FILES

__all__ = ["CANARY_HOST", "FILES", "HOSTILE_COLOUR", "FakeModelEngine", "build_hostile_project",
           "build_ui_project", "hostile"]
