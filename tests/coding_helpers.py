"""Former home of the coding test project; it now lives in `builders` (one place for every test
project). These names are kept so existing imports keep working."""

from __future__ import annotations

from builders import CODES, excerpt_with
from builders import CODING_TURNS as TURNS
from builders import build_coding_project as make_project

__all__ = ["CODES", "TURNS", "excerpt_with", "make_project"]
