"""REFI-QDA (QDA-XML 1.0) exchange with NVivo, ATLAS.ti, MAXQDA and QualCoder: `.qdpx` projects and
`.qdc` codebooks."""

from __future__ import annotations

from assistant.exchange.refi.export import (
    ExportReport,
    build_project_xml,
    codes_element,
    export_qdc,
    export_qdpx,
    validate_qde,
)
from assistant.exchange.refi.importer import ImportReport, parse_qdpx
from assistant.exchange.refi.offsets import OFFSET_MODES, OffsetMode
from assistant.exchange.refi.writer import import_qdc, import_qdpx

__all__ = [
    "OFFSET_MODES",
    "ExportReport",
    "ImportReport",
    "OffsetMode",
    "build_project_xml",
    "codes_element",
    "export_qdc",
    "export_qdpx",
    "import_qdc",
    "import_qdpx",
    "parse_qdpx",
    "validate_qde",
]
