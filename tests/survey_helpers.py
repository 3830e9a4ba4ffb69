"""Former home of the survey test project; it now lives in `builders` (one place for every test
project). These names are kept so existing imports keep working."""

from __future__ import annotations

from builders import IMPROVE, WELL, Coder, build_survey

__all__ = ["IMPROVE", "WELL", "Coder", "build_survey"]
