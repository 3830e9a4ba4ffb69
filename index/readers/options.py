"""Options for reading sources; kept apart so every reader module can import it."""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version


@dataclass
class ReadOptions:
    """How to read a source. The tabular fields name columns of a CSV/XLSX survey export;
    `sheet` picks an XLSX sheet (default: the active one)."""

    max_file_mb: float = 50
    id_column: str | None = None
    text_column: str | None = None
    attr_columns: list[str] = field(default_factory=list)
    question_column: str | None = None
    sheet: str | None = None


def library_version(distribution: str) -> str:
    """Recorded on every document so a changed extraction can be traced to a library upgrade."""
    try:
        return version(distribution)
    except PackageNotFoundError:
        return "unknown"
