"""REFI-QDA (QDA-XML 1.0) exchange with NVivo, ATLAS.ti, MAXQDA and QualCoder: `.qdpx` projects and
`.qdc` codebooks."""

from __future__ import annotations

from .export import (
    ExportReport,
    build_project_xml,
    codes_element,
    export_qdc,
    export_qdpx,
    validate_qde,
)
from .importer import ImportReport, import_qdc, import_qdpx, parse_qdpx
from .offsets import OFFSET_MODES, OffsetMode

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
