"""Former home of the writing test project; it now lives in `builders` (one place for every test
project). These names are kept so existing imports keep working."""

from __future__ import annotations

from builders import DOCUMENT, INTERVIEWS, add_coding
from builders import build_writing_project as build_project

__all__ = ["DOCUMENT", "INTERVIEWS", "add_coding", "build_project"]
