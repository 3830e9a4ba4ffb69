"""Options for reading sources; kept apart so every reader module can import it."""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version

from index.archive import ZipLimits


@dataclass
class ReadOptions:
    """How to read a source. The tabular fields name columns of a CSV/XLSX survey export;
    `sheet` picks an XLSX sheet (default: the active one). `max_member_mb`, `max_unpacked_mb` and
    `max_unpack_ratio` bound what a zip-based file (.docx, .xlsx) may unpack to (`index.archive`)."""

    max_file_mb: float = 50
    max_member_mb: float = 200
    max_unpacked_mb: float = 500
    max_unpack_ratio: float = 100
    id_column: str | None = None
    text_column: str | None = None
    attr_columns: list[str] = field(default_factory=list)
    question_column: str | None = None
    sheet: str | None = None
    # CSV: RFC 4180 (comma, quotes doubled inside quoted fields) unless the user names a
    # delimiter (one character, or "tab") or a dialect of Python's csv module ("excel",
    # "excel-tab", "unix"). Without either, ';', tab and '|' are used only when unambiguous.
    csv_delimiter: str | None = None
    csv_dialect: str | None = None
    # Streamed survey tables (`index.readers.stream`): memory is bounded by the block, not the
    # file, so the size limit is that of a reasonable export rather than of what fits in memory.
    max_stream_mb: float = 8192

    def zip_limits(self) -> ZipLimits:
        return ZipLimits(member_mb=self.max_member_mb, total_mb=self.max_unpacked_mb,
                         max_ratio=self.max_unpack_ratio)


def library_version(distribution: str) -> str:
    """Recorded on every document so a changed extraction can be traced to a library upgrade."""
    try:
        return version(distribution)
    except PackageNotFoundError:
        return "unknown"
